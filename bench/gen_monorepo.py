#!/usr/bin/env python3
"""Generates a synthetic GitOps monorepo for benchmarks and commits base and head.

Layout: env/<cluster>/<app>/{workload,config,rbac,argocd}.yaml, multi-document files with
realistic Deployments, Services, ConfigMaps, StatefulSets, PVCs, RBAC and Argo CD objects.
Default: 20 clusters x 20 apps x 50 objects = 20,000 objects (about 11 MB of YAML).
The head commit changes one file and adds one app.

usage: gen_monorepo.py DIR [--clusters N] [--apps N] [--appset-stages N] [--flux-kustomizations N]
"""
import argparse
import os
import subprocess

def deployment(app, i, cluster, image_tag):
    env = "".join(
        f"            - name: SETTING_{k}\n              value: \"{app}-{cluster}-{k}-value\"\n"
        for k in range(3)
    )
    return f"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {app}-worker-{i}
  namespace: {app}
  labels:
    app.kubernetes.io/name: {app}
    app.kubernetes.io/component: worker-{i}
    app.kubernetes.io/part-of: {app}
  annotations:
    argocd.argoproj.io/sync-wave: "{i % 3}"
spec:
  replicas: {1 + i % 3}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: {app}
      app.kubernetes.io/component: worker-{i}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {app}
        app.kubernetes.io/component: worker-{i}
    spec:
      serviceAccountName: {app}
      securityContext: {{runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001}}
      containers:
        - name: worker
          image: registry.example.com/{app}/worker:{image_tag}
          imagePullPolicy: IfNotPresent
          args: ["--listen=:8080", "--metrics=:9090", "--log-level=info"]
          ports:
            - {{name: http, containerPort: 8080}}
            - {{name: metrics, containerPort: 9090}}
          env:
{env}          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{cpu: "1", memory: 512Mi}}
          readinessProbe:
            httpGet: {{path: /ready, port: http}}
            periodSeconds: 10
"""

def service(app, i):
    return f"""apiVersion: v1
kind: Service
metadata:
  name: {app}-worker-{i}
  namespace: {app}
  labels: {{app.kubernetes.io/name: {app}}}
spec:
  selector:
    app.kubernetes.io/name: {app}
    app.kubernetes.io/component: worker-{i}
  ports:
    - {{name: http, port: 80, targetPort: http}}
    - {{name: metrics, port: 9090, targetPort: metrics}}
"""

def configmap(app, i, cluster):
    data = "".join(f"  key-{k}: \"{app}.{cluster}.{i}.{k}\"\n" for k in range(4))
    return f"""apiVersion: v1
kind: ConfigMap
metadata:
  name: {app}-config-{i}
  namespace: {app}
data:
{data}  settings.yaml: |
    ---
    cluster: {cluster}
    feature_flags: [a, b, c]
"""

def statefulset(app, i):
    return f"""apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {app}-db-{i}
  namespace: {app}
  annotations:
    argocd.argoproj.io/sync-options: Prune=false
spec:
  serviceName: {app}-db-{i}
  replicas: 3
  selector:
    matchLabels: {{app: {app}-db-{i}}}
  template:
    metadata:
      labels: {{app: {app}-db-{i}}}
    spec:
      containers:
        - name: db
          image: postgres:16
          volumeMounts: [{{name: data, mountPath: /var/lib/postgresql/data}}]
  volumeClaimTemplates:
    - metadata: {{name: data}}
      spec:
        accessModes: [ReadWriteOnce]
        resources: {{requests: {{storage: 10Gi}}}}
"""

def pvc(app, i):
    return f"""apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {app}-cache-{i}
  namespace: {app}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 5Gi}}}}
"""

def rbac(app):
    return f"""apiVersion: v1
kind: ServiceAccount
metadata:
  name: {app}
  namespace: {app}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {app}
  namespace: {app}
rules:
  - apiGroups: [""]
    resources: [configmaps, secrets]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {app}
  namespace: {app}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {app}}}
subjects: [{{kind: ServiceAccount, name: {app}, namespace: {app}}}]
"""

def argocd(app, cluster):
    return f"""apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: {app}-{cluster}
  namespace: argocd
spec:
  sourceRepos: [https://github.com/example/gitops.git]
  destinations: [{{server: "https://{cluster}.example.com", namespace: {app}}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {app}-{cluster}
  namespace: argocd
  finalizers: [resources-finalizer.argocd.argoproj.io]
spec:
  project: {app}-{cluster}
  source:
    repoURL: https://github.com/example/gitops.git
    targetRevision: main
    path: env/{cluster}/{app}
  destination: {{server: "https://{cluster}.example.com", namespace: {app}}}
  syncPolicy:
    automated: {{prune: true, selfHeal: true}}
    syncOptions: [FailOnSharedResource=true, CreateNamespace=true]
---
apiVersion: v1
kind: Namespace
metadata:
  name: {app}
  annotations:
    argocd.argoproj.io/sync-options: Prune=false
"""

def app_files(app, cluster, tag="1.0.0"):
    """50 objects: 12 Deployments + 12 Services + 12 ConfigMaps + 4 StatefulSets + 3 PVCs
    + 3 RBAC + 3 Argo CD/Namespace + 1 extra ConfigMap."""
    workload = "---\n".join(deployment(app, i, cluster, tag) + "---\n" + service(app, i) for i in range(12))
    config = "---\n".join(configmap(app, i, cluster) for i in range(13))
    state = "---\n".join([statefulset(app, i) for i in range(4)] + [pvc(app, i) for i in range(3)])
    return {
        f"env/{cluster}/{app}/workload.yaml": workload,
        f"env/{cluster}/{app}/config.yaml": config,
        f"env/{cluster}/{app}/state.yaml": state,
        f"env/{cluster}/{app}/rbac.yaml": rbac(app),
        f"env/{cluster}/{app}/argocd.yaml": argocd(app, cluster),
    }

def appsets(clusters, apps, stages):
    """Two ApplicationSets over the app folders: a fasttemplate matrix (git directories
    `env/*/*` x a list of `stages` stages) and a goTemplate list with one element per folder.
    A folder the PR adds generates stages Applications more."""
    elements = "\n".join(f"                - {{stage: s{s}}}" for s in range(stages))
    folders = "\n".join(f"          - {{cluster: cluster{c:02d}, app: app{a:03d}}}"
                         for c in range(clusters) for a in range(apps))
    matrix = f"""apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: stages
  namespace: argocd
spec:
  generators:
    - matrix:
        generators:
          - git:
              repoURL: https://github.com/example/gitops.git
              revision: main
              directories:
                - path: env/*/*
          - list:
              elements:
{elements}
  template:
    metadata:
      name: '{{{{path[1]}}}}-{{{{path.basename}}}}-{{{{stage}}}}'
    spec:
      project: default
      source:
        repoURL: https://github.com/example/gitops.git
        targetRevision: main
        path: '{{{{path}}}}'
      destination:
        server: 'https://{{{{path[1]}}}}.example.com'
        namespace: '{{{{path.basename}}}}'
"""
    listed = f"""apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: folders
  namespace: argocd
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
    - list:
        elements:
{folders}
  template:
    metadata:
      name: '{{{{ .cluster }}}}-{{{{ .app | normalize }}}}-mirror'
    spec:
      project: default
      source:
        repoURL: https://github.com/example/gitops.git
        targetRevision: main
        path: 'env/{{{{ .cluster }}}}/{{{{ .app }}}}'
      destination:
        server: 'https://{{{{ .cluster }}}}.example.com'
        namespace: '{{{{ .app }}}}'
"""
    return {"appsets/stages.yaml": matrix, "appsets/folders.yaml": listed}

def flux(clusters, apps, count):
    """A Flux layout over the monorepo (bench/flux.py): one GitRepository of this repository and
    `count` Kustomizations, one per app folder (clusters x apps, in order), each with
    targetNamespace and a post-build substitution, one file of Kustomizations per cluster."""
    files = {"flux/source.yaml": """apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: gitops
  namespace: flux-system
spec:
  interval: 1m
  url: https://github.com/example/gitops.git
  ref:
    branch: main
"""}
    made = 0
    for a in range(apps):
        for c in range(clusters):
            if made == count:
                break
            cluster, app = f"cluster{c:02d}", f"app{a:03d}"
            path = f"flux/{cluster}.yaml"
            files[path] = files.get(path, "") + f"""---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {app}
  namespace: flux-system
spec:
  interval: 10m
  path: ./env/{cluster}/{app}
  prune: true
  targetNamespace: {app}
  sourceRef:
    kind: GitRepository
    name: gitops
  postBuild:
    substitute:
      cluster: {cluster}
"""
            made += 1
    return files

def write(root, files):
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)

def git(root, *args):
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args],
                   cwd=root, check=True, stdout=subprocess.DEVNULL)

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--appset-stages", type=int, default=0,
                        help="add ApplicationSets generating (stages + 1) Applications per app "
                             "folder: a matrix of git directories x a list of stages, and a "
                             "goTemplate list set (bench/appset.py)")
    parser.add_argument("--flux-kustomizations", type=int, default=0,
                        help="add a Flux GitRepository and this many Kustomizations, one per "
                             "app folder (bench/flux.py)")
    args = parser.parse_args()
    root = args.dir
    os.makedirs(root, exist_ok=True)
    git(root, "init", "-q")
    with open(os.path.join(root, ".clobbercheck.yml"), "w") as f:
        f.write('clusters: "env/{cluster}/**"\n')
    for c in range(args.clusters):
        for a in range(args.apps):
            write(root, app_files(f"app{a:03d}", f"cluster{c:02d}"))
    if args.appset_stages:
        write(root, appsets(args.clusters, args.apps, args.appset_stages))
    if args.flux_kustomizations:
        write(root, flux(args.clusters, args.apps, args.flux_kustomizations))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    # Head: a new image tag in one file, and one new app.
    write(root, {k: v for k, v in app_files("app000", "cluster00", tag="1.0.1").items() if k.endswith("workload.yaml")})
    write(root, app_files("newapp", "cluster00"))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "head")

if __name__ == "__main__":
    main()
