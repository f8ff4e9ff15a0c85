//! The server's per-repository cache: pull requests on one base commit share its snapshot, and
//! a reused snapshot judges exactly as a fresh one.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use clobbercheck::report::json;
use clobbercheck::{GitRevision, ParseCache, analyze};
use common::git;

const APP: &str = "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: app01
  namespace: argocd
spec:
  destination: {server: https://kubernetes.default.svc, namespace: app01}
  source: {repoURL: https://example.com/repo.git, path: app01}
";

/// A repository with one base commit and two pull request heads on it: one adds a ConfigMap,
/// the other copies the Application (an overwrite disguised as an addition).
fn repository(dir: &Path) -> (String, String, String) {
    git(dir, &["init", "-q"]);
    git(dir, &["config", "user.email", "t@example.com"]);
    git(dir, &["config", "user.name", "t"]);
    std::fs::create_dir_all(dir.join("app01")).unwrap();
    std::fs::write(dir.join("apps.yaml"), APP).unwrap();
    std::fs::write(
        dir.join("app01/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata: {a: '1'}\n",
    )
    .unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "base"]);
    let base = git(dir, &["rev-parse", "HEAD"]);
    let mut heads = Vec::new();
    for (file, content) in [
        (
            "app01/new.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: added\n",
        ),
        ("copied.yaml", APP),
    ] {
        git(dir, &["checkout", "-q", "--detach", &base]);
        std::fs::write(dir.join(file), content).unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", file]);
        heads.push(git(dir, &["rev-parse", "HEAD"]));
    }
    (base, heads[0].clone(), heads[1].clone())
}

fn report(dir: &Path, base: &str, head: &str, cache: &ParseCache) -> clobbercheck::Analysis {
    let base = GitRevision::open(dir, base).unwrap();
    let head = GitRevision::open(dir, head).unwrap();
    analyze(&base, &head, None, cache).unwrap()
}

#[test]
fn pull_requests_on_one_base_share_its_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, first, second) = repository(tmp.path());
    let cache = ParseCache::default();
    let a = report(tmp.path(), &base, &first, &cache);
    let b = report(tmp.path(), &base, &second, &cache);
    assert!(
        Arc::ptr_eq(&a.base, &b.base),
        "the second pull request reuses base's snapshot"
    );
    assert!(!Arc::ptr_eq(&a.head, &b.head));
    assert_eq!(cache.snapshots(), 3, "base and two heads are kept");
}

#[test]
fn a_reused_snapshot_judges_as_a_fresh_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, first, second) = repository(tmp.path());
    let warm = ParseCache::default();
    report(tmp.path(), &base, &first, &warm);
    let reused = report(tmp.path(), &base, &second, &warm);
    let fresh = report(tmp.path(), &base, &second, &ParseCache::default());
    assert_eq!(
        json::render(&reused.report),
        json::render(&fresh.report),
        "same report with a reused base snapshot"
    );
    assert!(
        reused
            .report
            .findings
            .iter()
            .any(|f| f.rule == "overwrite-disguised-as-addition"),
        "the copied Application is an overwrite disguised as an addition: {:?}",
        reused.report.findings
    );
}

/// A chart whose head adds a template: helm reads every file of the chart, so base's render
/// must not be reused for head although every file base's render read is unchanged (reused, the
/// new template would be read as a plain file, template text and all). A stand-in `helm` on
/// `PATH` prints the chart's templates with the release name filled in (no helm binary is
/// needed).
#[test]
fn a_template_added_to_a_chart_is_rendered_not_taken_from_the_cache() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let tools = tmp.path().join("bin");
    std::fs::create_dir_all(&tools).unwrap();
    let helm = tools.join("helm");
    // `helm template <release> <chart> [flags]`: the chart is the third argument.
    std::fs::write(
        &helm,
        "#!/bin/sh\nfor f in \"$3\"/templates/*.yaml; do echo '---'; \
         sed \"s/{{ .Release.Name }}/$2/g\" \"$f\"; done\n",
    )
    .unwrap();
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("repo");
    std::fs::create_dir_all(dir.join("charts/web/templates")).unwrap();
    git(&dir, &["init", "-q"]);
    git(&dir, &["config", "user.email", "t@example.com"]);
    git(&dir, &["config", "user.name", "t"]);
    std::fs::write(
        dir.join(".clobbercheck.yml"),
        "sources:\n  - helm: 'charts/*'\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("charts/web/Chart.yaml"),
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    )
    .unwrap();
    let configmap = |name: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: '{{{{ .Release.Name }}}}-{name}'\n  namespace: web\n"
        )
    };
    std::fs::write(dir.join("charts/web/templates/a.yaml"), configmap("a")).unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "base"]);
    std::fs::write(dir.join("charts/web/templates/b.yaml"), configmap("b")).unwrap();
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "head"]);
    let path = format!(
        "{}:{}",
        tools.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_clobbercheck"))
        .args([
            "check", "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
        ])
        .current_dir(&dir)
        .env("PATH", path)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    let change = |name: &str| {
        report["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"]["name"] == name)
            .map(|o| o["change"].as_str().unwrap().to_string())
    };
    assert_eq!(change("web-a").as_deref(), Some("unchanged"), "{report:#}");
    assert_eq!(change("web-b").as_deref(), Some("added"), "{report:#}");
    assert_eq!(report["summary"]["errors"], 0, "{report:#}");
}

/// The server runs each analysis with `install` on one rayon pool, and a rayon thread waiting in
/// a join runs other jobs meanwhile. Pull requests arriving together on a cold cache share
/// base's snapshot and its classification against itself: if one analysis held a lock while
/// computing it in parallel, another analysis run on the same thread inside that join would
/// wait on the lock it holds itself, for good (seen as a `serve` replica whose two workers
/// heartbeat forever). Every round here must finish.
#[test]
fn analyses_sharing_a_cold_cache_on_one_pool_all_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, first, second) = repository(tmp.path());
    // A base large enough that classifying it is a parallel join worth stealing into.
    for file in 0..20 {
        let objects: String = (0..200)
            .map(|i| {
                format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{file}-{i}\n")
            })
            .collect();
        std::fs::write(tmp.path().join(format!("app01/many-{file}.yaml")), objects).unwrap();
    }
    git(tmp.path(), &["checkout", "-q", "--detach", &base]);
    git(tmp.path(), &["add", "-A"]);
    git(tmp.path(), &["commit", "-q", "-m", "many"]);
    let base = git(tmp.path(), &["rev-parse", "HEAD"]);
    let mut heads = Vec::new();
    for head in [&first, &second] {
        git(tmp.path(), &["checkout", "-q", "--detach", &base]);
        git(tmp.path(), &["cherry-pick", head]);
        heads.push(git(tmp.path(), &["rev-parse", "HEAD"]));
    }
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap(),
    );
    let dir = Arc::new(tmp.path().to_path_buf());
    for round in 0..30 {
        let cache = Arc::new(ParseCache::default());
        let (done, finished) = std::sync::mpsc::channel();
        for n in 0..6 {
            let (pool, cache, dir, done) = (
                Arc::clone(&pool),
                Arc::clone(&cache),
                Arc::clone(&dir),
                done.clone(),
            );
            let (base, head) = (base.clone(), heads[n % 2].clone());
            std::thread::spawn(move || {
                let analysis = pool.install(|| report(&dir, &base, &head, &cache));
                done.send(analysis.report.summary.errors).unwrap();
            });
        }
        for _ in 0..6 {
            finished
                .recv_timeout(std::time::Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("round {round}: an analysis never finished"));
        }
    }
}

/// Three clusters' folders holding the same manifest are one blob: parsed once, and still each
/// folder's object, at its own path (a git revision and a directory alike).
#[test]
fn files_with_the_same_content_are_parsed_once() {
    let repo = common::GitRepo::new();
    let dir = repo.path();
    let shared = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: app\n";
    repo.commit_files(
        "base",
        &[
            ("a/cm.yaml", Some(shared)),
            ("b/cm.yaml", Some(shared)),
            ("c/cm.yaml", Some(shared)),
            (
                "a/other.yaml",
                Some(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  namespace: app\n",
                ),
            ),
        ],
    );
    let git_side = GitRevision::open(dir, "HEAD").unwrap();
    let dir_side = clobbercheck::DirRevision::new(dir, "folder");
    for side in [
        &git_side as &dyn clobbercheck::Revision,
        &dir_side as &dyn clobbercheck::Revision,
    ] {
        let cache = ParseCache::default();
        let snapshot = cache
            .snapshot(side, &clobbercheck::Config::default())
            .unwrap();
        assert_eq!(
            cache.parses(),
            2,
            "{}: one parse per distinct blob",
            side.label()
        );
        assert_eq!(cache.len(), 2);
        let mut paths: Vec<&str> = snapshot
            .objects
            .iter()
            .filter(|o| o.identity.as_ref().is_some_and(|i| i.name == "settings"))
            .map(|o| o.origin.path.as_str())
            .collect();
        paths.sort();
        assert_eq!(
            paths,
            ["a/cm.yaml", "b/cm.yaml", "c/cm.yaml"],
            "{}",
            side.label()
        );
    }
}

/// Base's blobs keep most documents in outline (apiVersion, kind, metadata); a check reads
/// again, whole, only the base side of the files whose objects the PR changes or deletes, and
/// judges exactly as with every value held whole: the same report, the same notable objects.
#[test]
fn a_check_reads_again_only_the_files_the_pr_changes() {
    let workload = |replicas: u32| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: app01\n\
             spec:\n  replicas: {replicas}\n  template:\n    spec:\n      containers:\n      \
             - {{name: web, image: 'nginx:1'}}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  \
             name: web\n  namespace: app01\nspec:\n  ports: [{{port: 80}}]\n"
        )
    };
    let claim = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  \
                 namespace: app01\nspec:\n  resources: {requests: {storage: 1Gi}}\n";
    let repo = common::GitRepo::new();
    let dir = repo.path();
    let base = repo.commit_files(
        "base",
        &[
            ("apps.yaml", Some(APP)),
            ("app01/web.yaml", Some(&workload(2))),
            ("app01/data.yaml", Some(claim)),
            (
                "app01/cm.yaml",
                Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata: {a: '1'}\n"),
            ),
        ],
    );
    let edited = repo.commit_files("edit", &[("app01/web.yaml", Some(&workload(3)))]);
    // Deleting the Application deletes what it deploys: stateful-deletion reads the deleted
    // claim whole (its file); of the Deployment and Service it reads only their outlines.
    git(dir, &["checkout", "-q", "--detach", &base]);
    let unapplied = repo.commit_files("delete the Application", &[("apps.yaml", None)]);
    for (name, head, read_again) in [
        ("no change", base.as_str(), 0),
        ("one file edited", edited.as_str(), 1),
        ("Application deleted", unapplied.as_str(), 1),
    ] {
        let cache = ParseCache::default();
        let ours = report(dir, &base, head, &cache);
        let whole = report(dir, &base, head, &ParseCache::loading_whole());
        assert_eq!(cache.read_again(), read_again, "{name}: files read again");
        assert_eq!(
            json::render(&ours.report),
            json::render(&whole.report),
            "{name}: the same report as with every value whole"
        );
        let notable = |a: &clobbercheck::Analysis| {
            a.report
                .objects
                .notable()
                .map(|o| o.id.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(notable(&ours), notable(&whole), "{name}: notable objects");
    }
}
