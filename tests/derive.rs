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
        let notable = |a: &Analysis| {
            a.report
                .objects
                .notable()
                .map(|o| o.id.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            notable(&fast),
            notable(&whole),
            "{name}: the notable objects (carried over from base's when derived)"
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

/// What a PR does, the files it writes (empty content: removes), whether head is derived.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, bool);

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

/// Generates one Application per `targets/*.json`, named and placed by the file.
const FILES_SET: &str = "apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: targets
  namespace: argocd
spec:
  generators:
    - git:
        repoURL: https://example.com/repo.git
        revision: HEAD
        files:
          - path: targets/*.json
  template:
    metadata:
      name: 'target-{{name}}'
    spec:
      project: default
      source:
        repoURL: https://example.com/repo.git
        targetRevision: HEAD
        path: '{{folder}}'
      destination:
        name: staging
        namespace: '{{name}}'
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

/// A ConfigMap named `name` (leaked: each test writes a handful).
fn cm(name: &str) -> &'static str {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: v\n").leak()
}

#[test]
fn argo_cd_repository_heads_derive_exactly_when_only_plain_files_change() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
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
            ("apps/db/nested/cm.yaml", cm("nested")),
            ("services/a/cm.yaml", cm("svc-a")),
            ("argocd/files-set.yaml", FILES_SET),
            (
                "targets/one.json",
                "{\"name\": \"one\", \"folder\": \"services/a\"}\n",
            ),
            (
                "plain/ns.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n",
            ),
            (
                "broken/bad.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n",
            ),
            ("README.md", "docs\n"),
            ("kust/kustomization.yaml", "resources: [cm.yaml]\n"),
            ("kust/cm.yaml", cm("kustomized")),
        ],
    );
    let web = APPS.split("---\n").next().unwrap();
    let deploy_changed = DEPLOY
        .replace("replicas: 2", "replicas: 3")
        .replace("name: web\nspec:\n  ports", "name: web2\nspec:\n  ports");
    let more = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n---\n\
                apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: ignored\n";
    let duplicate_keys =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: d\ndata:\n  k: 1\n  k: 2\n  on: yes\n";
    let template = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: '{{ .Release.Name }}-x'\n";
    let copies = APPS
        .replace("name: web", "name: web-copy")
        .replace("name: db", "name: db-copy");
    let elsewhere = APPS.replace("namespace: web}", "namespace: web2}");
    let moved = APPS.replace("path: apps/web", "path: plain");
    let over_kustomization = web
        .replace("name: web", "name: kust")
        .replace("path: apps/web", "path: kust");
    let set_changed = SET.replace("namespace: '{{path.basename}}'", "namespace: fixed");
    let set_relabelled = SET.replace(
        "  namespace: argocd\n",
        "  namespace: argocd\n  labels: {team: a}\n",
    );
    // A list generator naming its Application `web`: the hand-written one's name (the incident).
    let listed = |name: &str, path: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: {name}\n  \
             namespace: argocd\nspec:\n  generators:\n    - list:\n        elements:\n          \
             - {{app: web, path: {path}}}\n          - {{app: {name}-extra, path: services/a}}\n  \
             template:\n    metadata:\n      name: '{{{{app}}}}'\n    spec:\n      project: default\n      \
             source:\n        repoURL: https://example.com/repo.git\n        path: '{{{{path}}}}'\n      \
             destination:\n        name: prod\n        namespace: '{{{{app}}}}'\n"
        )
    };
    let set_over_web = listed("listed", "apps/web");
    let set_over_kustomization = listed("kustomized", "kust");
    let set_and_app = format!(
        "{}---\n{}",
        listed("both", "apps/db"),
        copies.split("---\n").nth(1).unwrap()
    );
    let set_broken = SET
        .replace(
            "spec:\n  generators",
            "spec:\n  goTemplate: true\n  generators",
        )
        .replace(
            "'{{path.basename}}'\n    spec",
            "'{{ .path.basename'\n    spec",
        );
    let crd_changed = CRD.replace("Cluster", "Namespaced");
    let cases: Vec<Case> = vec![
        (
            "add a ConfigMap an Application deploys",
            vec![("apps/web/extra.yaml", cm("extra"))],
            true,
        ),
        (
            "modify and rename",
            vec![("apps/web/deploy.yaml", &deploy_changed)],
            true,
        ),
        (
            "delete a PVC a pruning Application deploys",
            vec![("apps/db/pvc.yaml", "")],
            true,
        ),
        (
            "an overwrite disguised as an addition",
            vec![("apps/web/zz-copy.yaml", DEPLOY)],
            true,
        ),
        (
            "a second definition in a plain file",
            vec![("plain/more.yaml", more)],
            true,
        ),
        (
            "fix a parse error",
            vec![("broken/bad.yaml", cm("fixed"))],
            true,
        ),
        (
            "bring a parse error and warnings",
            vec![
                ("apps/web/bad.yaml", "a: [\n"),
                ("apps/web/dup.yaml", duplicate_keys),
            ],
            true,
        ),
        (
            "a template name",
            vec![("apps/web/tpl.yaml", template)],
            true,
        ),
        (
            "an excluded file",
            vec![("apps/db/skip.txt.yaml", cm("skipped"))],
            true,
        ),
        (
            "only documentation",
            vec![("README.md", "more docs\n")],
            true,
        ),
        (
            "modify a file an ApplicationSet deploys",
            vec![("services/a/cm.yaml", cm("svc-a2"))],
            true,
        ),
        (
            "an Application copied over an existing one",
            vec![("argocd/zz-copy.yaml", web)],
            true,
        ),
        (
            "two more Applications over the same folders",
            vec![("argocd/more.yaml", &copies)],
            true,
        ),
        (
            "an Application deploying elsewhere",
            vec![("argocd/apps.yaml", &elsewhere)],
            true,
        ),
        (
            "an Application moving to another folder",
            vec![("argocd/apps.yaml", &moved)],
            true,
        ),
        ("Applications removed", vec![("argocd/apps.yaml", "")], true),
        (
            "an Application and an object it deploys",
            vec![
                ("argocd/zz-copy.yaml", &elsewhere),
                ("apps/web/extra.yaml", cm("extra")),
            ],
            true,
        ),
        (
            "an AppProject",
            vec![(
                "argocd/project.yaml",
                "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata:\n  name: p\n  \
                 namespace: argocd\nspec: {}\n",
            )],
            true,
        ),
        (
            "a folder the ApplicationSet turns into an Application",
            vec![("services/b/cm.yaml", cm("svc-b"))],
            true,
        ),
        (
            "a JSON file a git files generator reads",
            vec![(
                "targets/one.json",
                "{\"name\": \"uno\", \"folder\": \"services/a\"}\n",
            )],
            true,
        ),
        (
            "the folder of a generated Application removed",
            vec![("services/a/cm.yaml", "")],
            true,
        ),
        (
            "an ApplicationSet relabelled: the same Applications",
            vec![("argocd/set.yaml", &set_relabelled)],
            true,
        ),
        (
            "an ApplicationSet generating an existing Application's name",
            vec![("argocd/zz-set.yaml", &set_over_web)],
            true,
        ),
        (
            "an ApplicationSet and an Application in one new file",
            vec![("argocd/both.yaml", &set_and_app)],
            true,
        ),
        (
            "an ApplicationSet removed",
            vec![("argocd/set.yaml", "")],
            true,
        ),
        (
            "an ApplicationSet whose template fails",
            vec![("argocd/set.yaml", &set_broken)],
            false,
        ),
        (
            "an ApplicationSet generating an Application over a kustomization",
            vec![("argocd/zz-set.yaml", &set_over_kustomization)],
            false,
        ),
        (
            "an Application over a kustomization",
            vec![("argocd/kust.yaml", &over_kustomization)],
            false,
        ),
        (
            "an ApplicationSet changed",
            vec![("argocd/set.yaml", &set_changed)],
            true,
        ),
        (
            "a changed CRD",
            vec![("crds/widget.yaml", &crd_changed)],
            false,
        ),
        (
            "a kustomization",
            vec![("apps/web/kustomization.yaml", "resources: [deploy.yaml]\n")],
            false,
        ),
        (
            "the configuration",
            vec![(".clobbercheck.yml", "rules: {}\n")],
            false,
        ),
    ];
    let heads: Vec<(&str, String)> = cases
        .iter()
        .map(|(name, files, _)| (*name, commit(dir, &base, files)))
        .collect();
    let derived = compare(dir, &base, &heads);
    for ((name, was), (_, _, want)) in derived.iter().zip(&cases) {
        assert_eq!(was, want, "{name}: derived");
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
    substituteFrom: [{kind: ConfigMap, name: settings}]
";
    // `size` comes only from the ConfigMap: a change to it changes `sized`'s content.
    let settings = |size: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: \
             flux-system\ndata:\n  replicas: '2'\n  size: {size}\n"
        )
    };
    let sized =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sized\ndata:\n  size: ${size}\n";
    // A Kustomization without a namespace (the default one) substituting from a Secret without
    // one: the Secret is read under the default namespace.
    let more = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  \
                name: more\nspec:\n  path: ./flux-more\n  prune: true\n  sourceRef: {kind: \
                GitRepository, name: flux-system}\n  postBuild:\n    substituteFrom: [{kind: \
                Secret, name: creds}]\n";
    let creds = |user: &str| {
        format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ndata:\n  user: {user}\n")
    };
    // A Kustomization that rewrites nothing: a name written as template text under it is no
    // object's name (a problem), until a change makes it rewrite its documents.
    let verbatim = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  \
                    name: verbatim\n  namespace: flux-system\nspec:\n  path: ./flux-verbatim\n  \
                    sourceRef: {kind: GitRepository, name: flux-system}\n";
    let base = init(
        dir,
        &[
            ("clusters/prod/verbatim.yaml", verbatim),
            (
                "flux-verbatim/templated.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${prefix}-cm\n",
            ),
            ("clusters/prod/apps.yaml", kustomization),
            ("clusters/prod/settings.yaml", &settings("small")),
            ("clusters/prod/more.yaml", more),
            ("clusters/prod/creds.yaml", &creds("YWxpY2U=")),
            ("flux-apps/deploy.yaml", DEPLOY),
            ("flux-apps/sized.yaml", sized),
            (
                "flux-more/user.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: user\ndata:\n  user: ${user}\n",
            ),
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
            "the ConfigMap the Kustomization substitutes from",
            commit(
                dir,
                &base,
                &[("clusters/prod/settings.yaml", &settings("large"))],
            ),
        ),
        (
            "the Secret a Kustomization without a namespace substitutes from",
            commit(dir, &base, &[("clusters/prod/creds.yaml", &creds("Ym9i"))]),
        ),
        (
            "a ConfigMap of that name in another namespace",
            commit(dir, &base, &[("flux-apps/cm.yaml", cm("settings"))]),
        ),
        (
            "a ConfigMap no Flux object reads",
            commit(dir, &base, &[("flux-apps/cm.yaml", cm("other"))]),
        ),
        (
            "a Kustomization's substituted variable",
            commit(
                dir,
                &base,
                &[(
                    "clusters/prod/apps.yaml",
                    &kustomization.replace("'3'", "'4'"),
                )],
            ),
        ),
        (
            "a Kustomization's interval",
            commit(
                dir,
                &base,
                &[(
                    "clusters/prod/apps.yaml",
                    &kustomization.replace("  prune: true\n", "  prune: true\n  interval: 5m\n"),
                )],
            ),
        ),
        (
            "a Kustomization's target namespace and pruning",
            commit(
                dir,
                &base,
                &[(
                    "clusters/prod/apps.yaml",
                    &kustomization
                        .replace("targetNamespace: team", "targetNamespace: other")
                        .replace("prune: true", "prune: false"),
                )],
            ),
        ),
        (
            "a Kustomization pointed at another folder, a file added there",
            commit(
                dir,
                &base,
                &[
                    (
                        "clusters/prod/apps.yaml",
                        &kustomization.replace("./flux-apps", "./flux-next"),
                    ),
                    ("flux-next/cm.yaml", cm("next")),
                ],
            ),
        ),
        (
            "a Kustomization added beside the others",
            commit(
                dir,
                &base,
                &[(
                    "clusters/prod/extra.yaml",
                    &kustomization
                        .replace("name: apps", "name: extra")
                        .replace("./flux-apps", "./flux-more")
                        .replace(
                            "    substituteFrom: [{kind: ConfigMap, name: settings}]\n",
                            "",
                        ),
                )],
            ),
        ),
        (
            "a Kustomization substituting from other data",
            commit(
                dir,
                &base,
                &[(
                    "clusters/prod/apps.yaml",
                    &kustomization.replace("name: settings", "name: other"),
                )],
            ),
        ),
        (
            "a Kustomization removed (its data no longer read)",
            commit(dir, &base, &[("clusters/prod/more.yaml", "")]),
        ),
        (
            "a Kustomization given patches (built with kustomize)",
            commit(
                dir,
                &base,
                &[(
                    "clusters/prod/apps.yaml",
                    &format!(
                        "{kustomization}  patches:\n    - patch: '[{{\"op\": \"replace\", \
                         \"path\": \"/spec/replicas\", \"value\": 5}}]'\n      target: \
                         {{kind: Deployment}}\n"
                    ),
                )],
            ),
        ),
        (
            "a Kustomization that starts rewriting its documents",
            commit(
                dir,
                &base,
                &[(
                    "clusters/prod/verbatim.yaml",
                    &format!(
                        "{verbatim}  targetNamespace: team\n  postBuild:\n    substitute: {{prefix: app}}\n"
                    ),
                )],
            ),
        ),
    ];
    let derived = compare(dir, &base, &heads);
    let expected = [
        true, false, false, true, true, true, true, true, true, true, false, false, false, true,
    ];
    for ((name, was), want) in derived.iter().zip(expected) {
        assert_eq!(*was, want, "{name}: derived");
    }
}

#[test]
fn an_application_moved_in_apply_order_places_a_shared_folder_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let app = |name: &str| {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  \
             namespace: argocd\nspec:\n  destination: {{name: prod, namespace: {name}}}\n  \
             source: {{repoURL: https://example.com/repo.git, path: shared}}\n"
        )
    };
    let (first, second) = (app("first"), app("second"));
    let base = init(
        dir,
        &[
            ("argocd/a.yaml", &first),
            ("argocd/b.yaml", &second),
            ("shared/cm.yaml", cm("shared")),
        ],
    );
    // The copy makes `first` the last Application applied: the objects of `shared/`, one per
    // Application, come in the other order.
    let heads = vec![(
        "first applied last",
        commit(dir, &base, &[("argocd/c.yaml", &first)]),
    )];
    let derived = compare(dir, &base, &heads);
    assert!(derived[0].1, "derived");
}

/// A definition of an Application that a later one replaces is kept by a derived head: removing
/// the later one brings it back, and changing it does nothing while it stays replaced.
#[test]
fn a_replaced_application_definition_comes_back_when_its_replacement_goes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let web = APPS.split("---\n").next().unwrap();
    let again = web.replace("namespace: web}", "namespace: web2}");
    let moved = APPS.replace("path: apps/web", "path: plain");
    let third = web.replace("path: apps/web", "path: apps/db");
    let twice = format!("{again}---\n{third}");
    let base = init(
        dir,
        &[
            ("argocd/apps.yaml", APPS),
            ("argocd/zz-again.yaml", &again),
            ("apps/web/deploy.yaml", DEPLOY),
            ("apps/db/cm.yaml", cm("db")),
            ("plain/cm.yaml", cm("plain")),
        ],
    );
    let heads: Vec<(&str, String)> = vec![
        (
            "the replacement removed",
            commit(dir, &base, &[("argocd/zz-again.yaml", "")]),
        ),
        (
            "the replaced definition moved",
            commit(dir, &base, &[("argocd/apps.yaml", &moved)]),
        ),
        (
            "a definition applied before both",
            commit(dir, &base, &[("argocd/aa.yaml", &third)]),
        ),
        (
            "a definition applied after both",
            commit(dir, &base, &[("argocd/zzz.yaml", &third)]),
        ),
        (
            "two definitions in one changed file",
            commit(dir, &base, &[("argocd/zz-again.yaml", &twice)]),
        ),
    ];
    for (name, was) in compare(dir, &base, &heads) {
        assert!(was, "{name}: derived");
    }
}

/// The changed paths of a head as `changes_since` tells them (walking only the subtrees that
/// differ) are the ones `git diff-tree -r` lists, each with head's entry; a file turned into a
/// folder is not told this way (`None`: the head is listed whole).
#[test]
fn changes_since_lists_what_git_diff_tree_lists() {
    use clobbercheck::Revision;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let base = init(
        dir,
        &[
            ("apps/web/deploy.yaml", DEPLOY),
            ("apps/web/cm.yaml", cm("web")),
            ("apps/db/deep/cm.yaml", cm("db")),
            ("apps/gone/a.yaml", cm("a")),
            ("apps/gone/sub/b.yaml", cm("b")),
            ("clusters/prod/cm.yaml", cm("prod")),
            ("run.sh", "echo\n"),
            ("file-then-folder", "x\n"),
        ],
    );
    commit(
        dir,
        &base,
        &[
            ("apps/web/cm.yaml", cm("web2")),
            ("apps/gone/a.yaml", ""),
            ("apps/gone/sub/b.yaml", ""),
            ("apps/new/deeper/still/cm.yaml", cm("new")),
            ("top.yaml", cm("top")),
        ],
    );
    git(dir, &["update-index", "--chmod=+x", "run.sh"]);
    git(dir, &["commit", "-q", "-m", "chmod"]);
    let head = git(dir, &["rev-parse", "HEAD"]);
    let tree = |rev: &str| {
        git2::Oid::from_str(&git(dir, &["rev-parse", &format!("{rev}^{{tree}}")])).unwrap()
    };
    let revision = GitRevision::open(dir, &head).unwrap();
    let changes = revision
        .changes_since(tree(&base))
        .unwrap()
        .expect("plain changes are told");
    let listed: Vec<&str> = changes.iter().map(|(path, _)| path.as_str()).collect();
    let expected = git(dir, &["diff-tree", "-r", "--name-only", &base, &head]);
    assert_eq!(listed, expected.lines().collect::<Vec<_>>());
    let files = revision.files().unwrap();
    for (path, entry) in &changes {
        let listed = files.iter().find(|f| &f.path == path);
        assert_eq!(
            entry.as_ref().map(|e| (&e.path, e.oid, e.size, e.kind)),
            listed.map(|e| (&e.path, e.oid, e.size, e.kind)),
            "{path}: the entry head lists"
        );
    }
    assert!(
        revision
            .changes_since(tree(&head))
            .unwrap()
            .unwrap()
            .is_empty(),
        "a tree against itself: nothing"
    );
    let swapped = commit(
        dir,
        &head,
        &[
            ("file-then-folder", ""),
            ("file-then-folder/cm.yaml", cm("f")),
        ],
    );
    let revision = GitRevision::open(dir, &swapped).unwrap();
    assert!(revision.changes_since(tree(&head)).unwrap().is_none());
}
