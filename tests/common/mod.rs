//! Helpers shared by the integration tests: real git repositories and the real binary.
#![allow(dead_code)]

pub mod postgres;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use git2::{Repository, Signature};

/// Path of the shared folder of real third-party data: `$CLOBBERCHECK_SHARED` when set (a
/// checkout elsewhere, such as a worktree), else `../shared` beside the checkout; `None` when
/// absent, as on a user's fresh clone.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("CLOBBERCHECK_SHARED")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    dir.is_dir().then_some(dir)
}

/// Runs the built `clobbercheck` binary with `args` in `cwd`.
pub fn run(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clobbercheck"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

/// The `base` and `head` folders of fixture `tests/fixtures/<set>/<name>`, as paths.
pub fn fixture_sides(set: &str, name: &str) -> (String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(set)
        .join(name);
    let side = |s: &str| root.join(s).to_string_lossy().into_owned();
    (side("base"), side("head"))
}

/// Exit status and parsed report of `check --format json` on fixture `tests/fixtures/<set>/<name>`
/// (its `base` and `head` folders), with extra arguments, run from an empty folder.
pub fn check_fixture_json(set: &str, name: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let (base, head) = fixture_sides(set, name);
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "check", "--base", &base, "--head", &head, "--format", "json",
    ];
    args.extend_from_slice(extra);
    let out = run(dir.path(), &args);
    (code(&out), json(&out))
}

/// Exit status of a finished process (`-1` when killed by a signal).
pub fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

/// Standard output as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parses `check --format json` output.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(output),
            stderr(output)
        )
    })
}

/// A git repository in a temporary directory, committed to with git2.
pub struct GitRepo {
    pub dir: tempfile::TempDir,
    pub repo: Repository,
}

impl GitRepo {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        Self { dir, repo }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes files (path → content) into the working tree; `None` deletes.
    pub fn write(&self, files: &[(&str, Option<&str>)]) {
        for (path, content) in files {
            let full = self.path().join(path);
            match content {
                Some(text) => {
                    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                    std::fs::write(&full, text).unwrap();
                }
                None => {
                    let _ = std::fs::remove_file(&full);
                }
            }
        }
    }

    /// Stages everything in the working tree and commits it; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        let mut index = self.repo.index().unwrap();
        index
            .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.update_all(["*"].iter(), None).unwrap();
        index.write().unwrap();
        let tree_id = index.write_tree().unwrap();
        let tree = self.repo.find_tree(tree_id).unwrap();
        let sig = Signature::now("Test", "test@example.com").unwrap();
        let parents: Vec<git2::Commit> = self
            .repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
        self.repo
            .commit(Some("HEAD"), &sig, &sig, message, &tree, &parent_refs)
            .unwrap()
            .to_string()
    }

    /// Writes and commits in one step.
    pub fn commit_files(&self, message: &str, files: &[(&str, Option<&str>)]) -> String {
        self.write(files);
        self.commit(message)
    }
}

/// A small Kubernetes object as YAML.
pub fn object(
    api_version: &str,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    extra: &str,
) -> String {
    let ns = namespace
        .map(|n| format!("  namespace: {n}\n"))
        .unwrap_or_default();
    format!("apiVersion: {api_version}\nkind: {kind}\nmetadata:\n  name: {name}\n{ns}{extra}")
}

/// The findings of a JSON report as (rule, severity, path, line).
pub fn findings(report: &serde_json::Value) -> Vec<(String, String, String, u64)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap_or_default().to_string(),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Reports a test that could not run for want of something outside the repository (`../shared`,
/// a tool): one `SKIPPED test: why` line on the real standard error, which the test harness does
/// not capture, so it shows in every run. With `CLOBBERCHECK_REQUIRE_ALL` set (`.ci/run` sets
/// it) a skip is a failure instead: CI always runs every test, except those named in the
/// comma-separated `CLOBBERCHECK_ALLOW_SKIP` (`.ci/run` names the helm tests there, and only when
/// no helm binary can be installed).
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let allowed = std::env::var("CLOBBERCHECK_ALLOW_SKIP")
        .is_ok_and(|list| list.split(',').any(|name| name.trim() == test));
    if !allowed && std::env::var_os("CLOBBERCHECK_REQUIRE_ALL").is_some_and(|v| !v.is_empty()) {
        panic!("{test} cannot run: {why} (CLOBBERCHECK_REQUIRE_ALL is set, so this is a failure)");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Whether an executable named `tool` is on `PATH`.
pub fn installed(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

/// Copies the folder `from` into `to` (created), recursively: fixtures placed in a test's own
/// temporary folder or repository.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs `git -C dir args…` and returns its trimmed standard output; panics with git's error
/// when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
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
