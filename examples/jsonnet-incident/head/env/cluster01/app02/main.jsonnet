local k = import 'k.libsonnet';

// Copied from app01/main.jsonnet; the Argo CD name below was not updated.
{
  argocd: k.argocdApp('app01-cluster01', 'app02', 'cluster01'),
  workload: k.deployment('app02', 'app02', 'example/app02:0.1.0'),
}
