//! A warm server derives a pull request's head snapshot from its base's when the PR changes
//! only plain manifests nothing else reads (`src/snapshot/derive.rs`). Differential test: for
//! every kind of change, the report (and the head's problems and warnings) of the derived path
//! equals the one of a whole load in a fresh cache, and derivation happens exactly when the
//! change allows it.

mod common;

use std::path::Path;

use clobbercheck::report::json;
use clobbercheck::{Analysis, GitRevision, ParseCache, analyze};
use common::git;

/// Writes `files` (path, content; empty content removes the file) over `base` and commits.
fn commit(dir: &Path, base: &str, files: &[(&str, &str)]) -> String {
    git(dir, &["checkout", "-q", "--detach", base]);
    for (path, content) in files {
        let path = dir.join(path);
        if content.is_empty() {
            std::fs::remove_file(&path).unwrap();
        } else {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, content).unwrap();
        }
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", "change"]);
    git(dir, &["rev-parse", "HEAD"])
}

fn init(dir: &Path, files: &[(&str, &str)]) -> String {
    git(dir, &["init", "-q"]);
    git(dir, &["config", "user.email", "t@example.com"]);
    git(dir, &["config", "user.name", "t"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", "root"]);
    let root = git(dir, &["rev-parse", "HEAD"]);
    commit(dir, &root, files)
}

fn analysis(dir: &Path, base: &str, head: &str, cache: &ParseCache) -> Analysis {
    let base = GitRevision::open(dir, base).unwrap();
    let head = GitRevision::open(dir, head).unwrap();
    analyze(&base, &head, None, cache).unwrap()
}

/// Analyses every head on `base` with one warm cache and with a fresh one each, and checks
/// both agree; returns, per head, whether the warm head was derived.
fn compare(dir: &Path, base: &str, heads: &[(&str, String)]) -> Vec<(String, bool)> {
    let warm = ParseCache::default();
    // Base is loaded (and kept) by a first analysis, as the server's first pull request does.
    analysis(dir, base, base, &warm);
    let mut derived = Vec::new();
    for (name, head) in heads {
        let fast = analysis(dir, base, head, &warm);
        let whole = analysis(dir, base, head, &ParseCache::loading_whole());
        assert!(
            whole.head.changed_since(&whole.base).is_none(),
            "{name}: a fresh cache loads head whole"
        );
        assert_eq!(
            json::render(&fast.report),
            json::render(&whole.report),
            "{name}: the derived head judges as the whole one"
        );
        assert_eq!(fast.head.problems, whole.head.problems, "{name}: problems");
        assert_eq!(fast.head.warnings, whole.head.warnings, "{name}: warnings");
        assert_eq!(
            format!("{:?}", fast.head.objects),
            format!("{:?}", whole.head.objects),
            "{name}: objects, in apply order, with origins and owners"
        );
        derived.push((
            name.to_string(),
            fast.head.changed_since(&fast.base).is_some(),
        ));
    }
    derived
}

const APPS: &str = "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
  namespace: argocd
  finalizers: [resources-finalizer.argocd.argoproj.io]
spec:
  destination: {name: prod, namespace: web}
  source: {repoURL: https://example.com/repo.git, path: apps/web}
  syncPolicy: {automated: {prune: true}}
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: db
  namespace: argocd
spec:
  destination: {name: prod, namespace: db}
  source:
    repoURL: https://example.com/repo.git
    path: apps/db
    directory: {recurse: true, exclude: '*.txt.yaml'}
";

const SET: &str = "apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: services
  namespace: argocd
spec:
  generators:
    - git:
        repoURL: https://example.com/repo.git
        revision: HEAD
        directories:
          - path: services/*
  template:
    metadata:
      name: '{{path.basename}}'
    spec:
      project: default
      source:
        repoURL: https://example.com/repo.git
        targetRevision: HEAD
        path: '{{path}}'
      destination:
        name: prod
        namespace: '{{path.basename}}'
";

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Cluster
  names: {kind: Widget, plural: widgets}
";

const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports: [{port: 80}]
";

fn cm(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n")
}

#[test]
fn argo_cd_repository_heads_derive_exactly_when_only_plain_files_change() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let services_cm = cm("svc-a");
    let base = init(
        dir,
        &[
            ("argocd/apps.yaml", APPS),
            ("argocd/set.yaml", SET),
            ("crds/widget.yaml", CRD),
            ("apps/web/deploy.yaml", DEPLOY),
            (
                "apps/db/pvc.yaml",
                "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec: {}\n",
            ),
            ("apps/db/nested/cm.yaml", &cm("nested")),
            ("services/a/cm.yaml", &services_cm),
            (
                "plain/ns.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n",
            ),
            (
                "broken/bad.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n",
            ),
            ("README.md", "docs\n"),
        ],
    );
    let heads: Vec<(&str, String)> = vec![
        (
            "add a ConfigMap an Application deploys",
            commit(dir, &base, &[("apps/web/extra.yaml", &cm("extra"))]),
        ),
        (
            "modify and rename",
            commit(
                dir,
                &base,
                &[(
                    "apps/web/deploy.yaml",
                    &DEPLOY
                        .replace("replicas: 2", "replicas: 3")
                        .replace("name: web\nspec:\n  ports", "name: web2\nspec:\n  ports"),
                )],
            ),
        ),
        (
            "delete a PVC a pruning Application deploys",
            commit(dir, &base, &[("apps/db/pvc.yaml", "")]),
        ),
        (
            "an overwrite disguised as an addition",
            commit(dir, &base, &[("apps/web/zz-copy.yaml", DEPLOY)]),
        ),
        (
            "a second definition in a plain file",
            commit(
                dir,
                &base,
                &[(
                    "plain/more.yaml",
                    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: ignored\n",
                )],
            ),
        ),
        (
            "fix a parse error",
            commit(dir, &base, &[("broken/bad.yaml", &cm("fixed"))]),
        ),
        (
            "bring a parse error and warnings",
            commit(
                dir,
                &base,
                &[
                    ("apps/web/bad.yaml", "a: [\n"),
                    (
                        "apps/web/dup.yaml",
                        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\ndata:\n  k: 1\n  k: 2\n  on: yes\n",
                    ),
                ],
            ),
        ),
        (
            "a template name",
            commit(
                dir,
                &base,
                &[(
                    "apps/web/tpl.yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: '{{ .Release.Name }}-x'\n",
                )],
            ),
        ),
        (
            "an excluded file",
            commit(dir, &base, &[("apps/db/skip.txt.yaml", &cm("skipped"))]),
        ),
        (
            "only documentation",
            commit(dir, &base, &[("README.md", "more docs\n")]),
        ),
        (
            "modify a file an ApplicationSet deploys",
            commit(dir, &base, &[("services/a/cm.yaml", &cm("svc-a2"))]),
        ),
        (
            "a folder the ApplicationSet turns into an Application",
            commit(dir, &base, &[("services/b/cm.yaml", &cm("svc-b"))]),
        ),
        (
            "a new Application",
            commit(
                dir,
                &base,
                &[(
                    "argocd/more.yaml",
                    &APPS.replace("name: web", "name: web-copy"),
                )],
            ),
        ),
        (
            "a changed CRD",
            commit(
                dir,
                &base,
                &[("crds/widget.yaml", &CRD.replace("Cluster", "Namespaced"))],
            ),
        ),
        (
            "a kustomization",
            commit(
                dir,
                &base,
                &[("apps/web/kustomization.yaml", "resources: [deploy.yaml]\n")],
            ),
        ),
        (
            "the configuration",
            commit(dir, &base, &[(".clobbercheck.yml", "rules: {}\n")]),
        ),
    ];
    let derived = compare(dir, &base, &heads);
    let expected = [
        true, true, true, true, true, true, true, true, true, true, true, false, false, false,
        false, false,
    ];
    for ((name, was), want) in derived.iter().zip(expected) {
        assert_eq!(*was, want, "{name}: derived");
    }
}

#[test]
fn flux_repository_heads_derive_unless_flux_may_read_the_change() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let kustomization = "apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  path: ./flux-apps
  prune: true
  targetNamespace: team
  sourceRef: {kind: GitRepository, name: flux-system}
  postBuild:
    substitute: {replicas: '3'}
";
    let base = init(
        dir,
        &[
            ("clusters/prod/apps.yaml", kustomization),
            ("flux-apps/deploy.yaml", DEPLOY),
        ],
    );
    let heads: Vec<(&str, String)> = vec![
        (
            "a substituted Deployment",
            commit(
                dir,
                &base,
                &[(
                    "flux-apps/more.yaml",
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: more\nspec:\n  replicas: ${replicas}\n",
                )],
            ),
        ),
        (
            "a ConfigMap Flux may read",
            commit(dir, &base, &[("flux-apps/cm.yaml", &cm("settings"))]),
        ),
        (
            "a changed Kustomization",
            commit(
                dir,
                &base,
                &[(
                    "clusters/prod/apps.yaml",
                    &kustomization.replace("'3'", "'4'"),
                )],
            ),
        ),
    ];
    let derived = compare(dir, &base, &heads);
    let expected = [true, false, false];
    for ((name, was), want) in derived.iter().zip(expected) {
        assert_eq!(*was, want, "{name}: derived");
    }
}
