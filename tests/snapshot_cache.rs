//! The server's per-repository cache: pull requests on one base commit share its snapshot, and
//! a reused snapshot judges exactly as a fresh one.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use clobbercheck::report::json;
use clobbercheck::{GitRevision, ParseCache, analyze};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

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
