// A small Kubernetes and Argo CD library, in the style of the repository of the outage.
{
  repo:: 'https://github.com/example/gitops.git',

  deployment(name, namespace, image, replicas=1):: {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: name, namespace: namespace },
    spec: {
      replicas: replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: name, image: image }] },
      },
    },
  },

  // The Argo CD AppProject and Application of one app on one cluster. `name` is normally
  // '<app>-<cluster>'; it is a parameter because some apps were renamed by hand.
  argocdApp(name, app, cluster):: {
    project: {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'AppProject',
      metadata: { name: name, namespace: 'argocd' },
      spec: {
        description: '%s on %s' % [app, cluster],
        sourceRepos: [$.repo],
        destinations: [{ server: 'https://%s.example.com' % cluster, namespace: app }],
        clusterResourceWhitelist: [{ group: '*', kind: '*' }],
      },
    },
    application: {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: {
        name: name,
        namespace: 'argocd',
        finalizers: ['resources-finalizer.argocd.argoproj.io'],
      },
      spec: {
        project: name,
        source: { repoURL: $.repo, targetRevision: 'main', path: 'env/%s/%s' % [cluster, app] },
        destination: { server: 'https://%s.example.com' % cluster, namespace: app },
        syncPolicy: { automated: { prune: true, selfHeal: true } },
      },
    },
  },
}
