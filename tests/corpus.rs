//! The real corpus: ten years of kube-prometheus's generated manifests
//! (`../shared/corpus/kube-prometheus-manifests.bundle`, see its README).
//!
//! Every consecutive pair of its 607 commits is checked without a parse error, and the known
//! apiVersion migrations classify as modifications, never as delete + add.

mod common;

use std::path::Path;
use std::process::Command;

use clobbercheck::revision::GitRevision;
use clobbercheck::{ParseCache, analyze};

/// Clones the bundle into a temporary directory, or `None` after a visible skip of `test` when
/// `../shared` is absent (a fresh clone has no corpus).
fn corpus(test: &str) -> Option<tempfile::TempDir> {
    let Some(shared) = common::shared_dir() else {
        common::skip(
            test,
            "../shared/corpus is absent (it exists only beside this project's own checkouts)",
        );
        return None;
    };
    let bundle = shared.join("corpus/kube-prometheus-manifests.bundle");
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("git")
        .args(["clone", "-q", "-b", "manifests-history"])
        .arg(&bundle)
        .arg(dir.path().join("kp"))
        .status()
        .expect("git runs");
    assert!(status.success(), "cloning {} failed", bundle.display());
    Some(dir)
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(repo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The commit that removes the last occurrence of `needle` (a migration away from it).
fn migration_commit(repo: &Path, needle: &str) -> String {
    let candidates = git(repo, &["log", "--format=%H", &format!("-S{needle}")]);
    candidates
        .lines()
        .find(|commit| {
            let grep = Command::new("git")
                .args(["grep", "-q", "-F", needle, commit])
                .current_dir(repo)
                .status()
                .unwrap();
            !grep.success()
        })
        .unwrap_or_else(|| panic!("no commit removes the last {needle}"))
        .to_string()
}

fn check_commit(repo: &Path, commit: &str, cache: &ParseCache) -> clobbercheck::Analysis {
    let base = GitRevision::open(repo, &format!("{commit}~1")).unwrap();
    let head = GitRevision::open(repo, commit).unwrap();
    analyze(&base, &head, None, cache).unwrap()
}

#[test]
fn every_consecutive_pair_checks_without_parse_error() {
    let Some(dir) = corpus("every_consecutive_pair_checks_without_parse_error") else {
        return;
    };
    let repo = dir.path().join("kp");
    let commits: Vec<String> = git(&repo, &["rev-list", "--reverse", "--first-parent", "HEAD"])
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(commits.len(), 607);
    let cache = ParseCache::default();
    let mut objects_seen = 0;
    for pair in commits.windows(2) {
        let base = GitRevision::open(&repo, &pair[0]).unwrap();
        let head = GitRevision::open(&repo, &pair[1]).unwrap();
        let analysis = analyze(&base, &head, None, &cache).unwrap();
        let parse_errors: Vec<_> = analysis
            .report
            .findings
            .iter()
            .filter(|f| f.rule == "parse-error")
            .collect();
        assert!(
            parse_errors.is_empty(),
            "{} → {}: {parse_errors:?}",
            pair[0],
            pair[1]
        );
        objects_seen += analysis.report.objects.objects().len();
    }
    assert!(
        objects_seen > 607 * 50,
        "objects were found: {objects_seen}"
    );
}

#[test]
fn crd_migration_to_apiextensions_v1_is_twelve_modifications() {
    let Some(dir) = corpus("crd_migration_to_apiextensions_v1_is_twelve_modifications") else {
        return;
    };
    let repo = dir.path().join("kp");
    let commit = migration_commit(&repo, "apiextensions.k8s.io/v1beta1");
    let analysis = check_commit(&repo, &commit, &ParseCache::default());
    let s = analysis.report.summary;
    assert_eq!((s.added, s.modified, s.deleted), (0, 12, 0), "{commit}");
    let crds = analysis
        .report
        .objects
        .objects()
        .iter()
        .filter(|o| {
            o.id.kind == "CustomResourceDefinition"
                && o.change == clobbercheck::classify::Change::Modified
        })
        .count();
    assert!(crds >= 1, "the CRDs are among the modifications");
    assert!(
        analysis.report.findings.is_empty(),
        "{:?}",
        analysis.report.findings
    );
}

#[test]
fn pdb_migration_to_policy_v1_is_modifications_only() {
    let Some(dir) = corpus("pdb_migration_to_policy_v1_is_modifications_only") else {
        return;
    };
    let repo = dir.path().join("kp");
    let commit = migration_commit(&repo, "policy/v1beta1");
    let analysis = check_commit(&repo, &commit, &ParseCache::default());
    let s = analysis.report.summary;
    assert_eq!((s.added, s.deleted), (0, 0), "{commit}");
    let pdbs: Vec<_> = analysis
        .report
        .objects
        .objects()
        .iter()
        .filter(|o| o.id.kind == "PodDisruptionBudget")
        .collect();
    assert!(!pdbs.is_empty());
    for pdb in pdbs {
        assert_eq!(
            pdb.change,
            clobbercheck::classify::Change::Modified,
            "{}",
            pdb.id
        );
        assert_eq!(pdb.id.group, "policy");
        assert_eq!(pdb.base[0].api_version, "policy/v1beta1");
        assert_eq!(pdb.head[0].api_version, "policy/v1");
    }
}

#[test]
fn identical_blobs_are_parsed_once_across_sides() {
    let Some(dir) = corpus("identical_blobs_are_parsed_once_across_sides") else {
        return;
    };
    let repo = dir.path().join("kp");
    let commit = migration_commit(&repo, "apiextensions.k8s.io/v1beta1");
    let cache = ParseCache::default();
    let analysis = check_commit(&repo, &commit, &cache);
    let head_files = analysis
        .head
        .files
        .values()
        .filter(|f| f.entry.path.ends_with(".yaml"))
        .count();
    // Head's files plus only the 12 base blobs that differ.
    assert_eq!(
        cache.len(),
        head_files + 12,
        "each distinct blob parsed once"
    );
}
