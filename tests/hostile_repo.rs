//! Hostile repository shapes (issue 6), each through the real binary on a real git repository
//! and, where a file system can hold it, a directory: symlinks leading out or in loops,
//! submodules, tree entries named `..`, non-UTF-8 file names and 100,000 files. The 1 GB blob is
//! in tests/hostile_blob.rs, alone in its test binary so that its peak-RSS proof is not muddied.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use git2::{FileMode, ObjectType, Oid, Repository, Signature};

fn configmap(name: &str) -> String {
    object("v1", "ConfigMap", Some("app"), name, "data:\n  a: '1'\n")
}

/// Commits `tree` on top of HEAD (or as the first commit) and returns the commit id.
fn commit_tree(repo: &Repository, tree: Oid, message: &str) -> String {
    let tree = repo.find_tree(tree).unwrap();
    let sig = Signature::now("Test", "test@example.com").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .unwrap()
        .to_string()
}

/// HEAD's tree with `entries` (raw name, mode, object id) added at its root.
fn head_tree_plus(repo: &Repository, entries: &[(&[u8], FileMode, Oid)]) -> Oid {
    let base = repo.head().unwrap().peel_to_tree().unwrap();
    let mut builder = repo.treebuilder(Some(&base)).unwrap();
    for (name, mode, id) in entries {
        builder
            .insert(std::ffi::OsStr::from_bytes(name), *id, (*mode).into())
            .unwrap();
    }
    builder.write().unwrap()
}

/// A tree object written byte by byte, as no well-behaved git tool would: lets a test hold the
/// names libgit2's tree builder refuses (`..`, `/` inside a name).
fn raw_tree(repo: &Repository, entries: &[(&str, &[u8], Oid)]) -> Oid {
    let mut bytes = Vec::new();
    for (mode, name, id) in entries {
        bytes.extend_from_slice(mode.as_bytes());
        bytes.push(b' ');
        bytes.extend_from_slice(name);
        bytes.push(0);
        bytes.extend_from_slice(id.as_bytes());
    }
    repo.odb().unwrap().write(ObjectType::Tree, &bytes).unwrap()
}

fn check(repo: &Path, base: &str, head: &str) -> (i32, serde_json::Value) {
    let out = run(
        repo,
        &["check", "--base", base, "--head", head, "--format", "json"],
    );
    assert!(
        matches!(code(&out), 0 | 1),
        "exit {}: {}",
        code(&out),
        stderr(&out)
    );
    (code(&out), json(&out))
}

/// `(rule, severity, path, message)` of every finding.
fn messages(report: &serde_json::Value) -> Vec<(String, String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap_or_default().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn names(report: &serde_json::Value) -> Vec<String> {
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn symlinks_out_of_the_repository_and_in_loops_are_notices_never_followed() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.yaml"), configmap("outside")).unwrap();
    let repo = GitRepo::new();
    repo.commit_files("base", &[("ok.yaml", Some(&configmap("ok")))]);
    let link = |target: &Path, at: &str| {
        std::os::unix::fs::symlink(target, repo.path().join(at)).unwrap();
    };
    link(&outside.path().join("secret.yaml"), "out.yaml");
    link(Path::new("/etc/passwd"), "passwd.yaml");
    link(Path::new("loop.yaml"), "loop.yaml");
    link(Path::new("ping.yaml"), "pong.yaml");
    link(Path::new("pong.yaml"), "ping.yaml");
    std::fs::create_dir(repo.path().join("d")).unwrap();
    link(Path::new(".."), "d/up");
    link(Path::new("."), "d/self");
    repo.commit("head: symlinks out and in loops");
    for head in ["HEAD", "."] {
        let (status, report) = check(repo.path(), "HEAD~1", head);
        assert_eq!(status, 0, "{head}: {report}");
        assert_eq!(
            names(&report),
            vec!["ok"],
            "{head}: nothing read through a link"
        );
        let found = messages(&report);
        let symlinks: Vec<&str> = found
            .iter()
            .filter(|(rule, severity, _, m)| {
                rule == "parse-error" && severity == "notice" && m.contains("symlink")
            })
            .map(|(_, _, path, _)| path.as_str())
            .collect();
        assert_eq!(
            symlinks,
            vec![
                "loop.yaml",
                "out.yaml",
                "passwd.yaml",
                "ping.yaml",
                "pong.yaml"
            ],
            "{head}: {found:?}"
        );
        let passwd = found.iter().find(|f| f.2 == "passwd.yaml").unwrap();
        assert!(
            passwd.3.contains("symlink to /etc/passwd: not followed"),
            "{passwd:?}"
        );
        assert!(!found.iter().any(|f| f.3.contains("root:")), "{found:?}");
    }
}

#[test]
fn submodules_are_a_notice_naming_the_path() {
    let repo = GitRepo::new();
    repo.commit_files("base", &[("ok.yaml", Some(&configmap("ok")))]);
    // A gitlink: the commit of another repository, which this one does not hold.
    let foreign = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
    let tree = head_tree_plus(&repo.repo, &[(b"vendor-charts", FileMode::Commit, foreign)]);
    commit_tree(&repo.repo, tree, "head adds a submodule");
    let (status, report) = check(repo.path(), "HEAD~1", "HEAD");
    assert_eq!(status, 0, "{report}");
    let found = messages(&report);
    assert_eq!(found.len(), 1, "{found:?}");
    let (rule, severity, path, message) = &found[0];
    assert_eq!(
        (rule.as_str(), severity.as_str(), path.as_str()),
        ("parse-error", "notice", "vendor-charts")
    );
    assert!(message.contains("git submodule"), "{message}");
}

#[test]
fn tree_entries_named_dot_dot_or_holding_a_slash_are_reported_not_read() {
    let repo = GitRepo::new();
    repo.commit_files("base", &[("ok.yaml", Some(&configmap("ok")))]);
    let odb = repo.repo.odb().unwrap();
    let evil = odb
        .write(ObjectType::Blob, configmap("evil").as_bytes())
        .unwrap();
    let inner = raw_tree(&repo.repo, &[("100644", b"x.yaml", evil)]);
    // libgit2's tree builder refuses these names, so the tree is written byte by byte.
    let mut builder = repo.repo.treebuilder(None).unwrap();
    let refused = builder.insert("..", inner, FileMode::Tree.into()).is_err();
    assert!(refused, "the tree builder refuses `..`");
    let base_tree = repo.repo.head().unwrap().peel_to_tree().unwrap();
    let ok = base_tree.get_name("ok.yaml").unwrap().id();
    let tree = raw_tree(
        &repo.repo,
        &[
            ("40000", b"..", inner),
            ("100644", b"a/../../b.yaml", evil),
            ("100644", b"ok.yaml", ok),
        ],
    );
    commit_tree(&repo.repo, tree, "head holds `..` and a name with slashes");
    let (status, report) = check(repo.path(), "HEAD~1", "HEAD");
    assert_eq!(status, 1, "{report}");
    assert_eq!(names(&report), vec!["ok"], "nothing under `..` is read");
    let found = messages(&report);
    let invalid: Vec<&str> = found
        .iter()
        .filter(|f| f.1 == "error" && f.3.contains("no checkout can write"))
        .map(|f| f.2.as_str())
        .collect();
    assert_eq!(invalid, vec!["..", "a/../../b.yaml"], "{found:?}");
}

#[test]
fn non_utf8_file_names_are_findings_named_lossily() {
    let repo = GitRepo::new();
    repo.commit_files("base", &[("ok.yaml", Some(&configmap("ok")))]);
    let blob = repo.repo.blob(configmap("cafe").as_bytes()).unwrap();
    let tree = head_tree_plus(
        &repo.repo,
        &[
            (b"caf\xe9.yaml", FileMode::Blob, blob),
            (b"notes-\xff.txt", FileMode::Blob, blob),
        ],
    );
    commit_tree(&repo.repo, tree, "head adds a Latin-1 name");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.yaml"), configmap("ok")).unwrap();
    std::fs::write(
        dir.path()
            .join(std::ffi::OsStr::from_bytes(b"caf\xe9.yaml")),
        configmap("cafe"),
    )
    .unwrap();
    let dir_side = dir.path().to_str().unwrap().to_string();
    for head in ["HEAD", dir_side.as_str()] {
        let (status, report) = check(repo.path(), "HEAD~1", head);
        assert_eq!(status, 1, "{head}: {report}");
        let found = messages(&report);
        assert_eq!(found.len(), 1, "{head}: only the selected name: {found:?}");
        let (rule, severity, path, message) = &found[0];
        assert_eq!(
            (rule.as_str(), severity.as_str(), path.as_str()),
            ("parse-error", "error", "caf\u{FFFD}.yaml"),
            "{head}"
        );
        assert!(message.contains("not valid UTF-8"), "{message}");
        assert_eq!(names(&report), vec!["ok"], "{head}");
    }
}

#[test]
fn a_hundred_thousand_files_are_all_read() {
    // One fast-import stream: 100,000 distinct blobs in one pack, as a real big repository has.
    let repo = GitRepo::new();
    let mut stream = String::from("commit refs/heads/big\ncommitter T <t@e> 0 +0000\ndata 0\n");
    for i in 0..100_000 {
        let text = configmap(&format!("cm-{i}"));
        stream.push_str(&format!(
            "M 100644 inline apps/{}/cm-{i}.yaml\ndata {}\n{text}\n",
            i % 100,
            text.len()
        ));
    }
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(repo.path())
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let empty = repo.repo.treebuilder(None).unwrap().write().unwrap();
    let empty_commit = {
        let sig = Signature::now("T", "t@e").unwrap();
        let tree = repo.repo.find_tree(empty).unwrap();
        repo.repo
            .commit(None, &sig, &sig, "empty", &tree, &[])
            .unwrap()
            .to_string()
    };
    let (status, report) = check(repo.path(), &empty_commit, "big");
    assert_eq!(status, 0);
    assert_eq!(report["summary"]["added"], 100_000);
}
