local k = import 'k.libsonnet';

{
  argocd: k.argocdApp('app01-cluster01', 'app01', 'cluster01'),
  workload: k.deployment('app01', 'app01', 'example/app01:1.4.2', replicas=3),
}
