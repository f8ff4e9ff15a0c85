//! A 1 GB blob in git and a 1 GB file in a directory (issue 6): skipped with a finding, never
//! loaded. The proof is the child's peak RSS from its own rusage (wait4). Linux carries the peak
//! of the process that spawned it across exec, so this test lives alone in its binary: a busy
//! test process beside it would be counted as the child's.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use git2::{FileMode, Oid, Signature};

fn configmap(name: &str) -> String {
    object("v1", "ConfigMap", Some("app"), name, "data:\n  a: '1'\n")
}

/// Runs the binary and returns its exit status, stdout and peak resident set size in bytes, read
/// from the child's own rusage (wait4), so other processes of the test run never count.
#[expect(
    clippy::zombie_processes,
    reason = "reaped by libc::wait4, which also gives its rusage"
)]
fn run_measured(cwd: &Path, args: &[&str]) -> (i32, String, u64) {
    let child = Command::new(env!("CARGO_BIN_EXE_clobbercheck"))
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
        text
    });
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for the child we spawned and have not reaped.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid);
    let text = reader.join().unwrap();
    let exit = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (exit, text, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn a_one_gigabyte_blob_and_file_are_skipped_without_being_loaded() {
    const GIB: u64 = 1 << 30;
    let repo = GitRepo::new();
    repo.commit_files("base", &[("ok.yaml", Some(&configmap("ok")))]);
    // A sparse file: instant, and 1 GiB long for every reader.
    std::fs::File::create(repo.path().join("huge.yaml"))
        .unwrap()
        .set_len(GIB)
        .unwrap();
    // `git hash-object -w` streams a file above core.bigFileThreshold straight into a pack;
    // compression level 1 keeps it to seconds.
    let hashed = Command::new("git")
        .args([
            "-c",
            "core.compression=1",
            "-c",
            "pack.compression=1",
            "hash-object",
            "-w",
            "huge.yaml",
        ])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert!(hashed.status.success());
    let blob = Oid::from_str(String::from_utf8_lossy(&hashed.stdout).trim()).unwrap();
    // Tracked, so the working tree as a side (only what git tracks or has staged) holds it too;
    // `--cacheinfo` records the blob already written, without hashing the file again.
    let tracked = Command::new("git")
        .args(["update-index", "--add", "--cacheinfo"])
        .arg(format!("100644,{blob},huge.yaml"))
        .current_dir(repo.path())
        .status()
        .unwrap();
    assert!(tracked.success());
    let base = repo.repo.head().unwrap().peel_to_tree().unwrap();
    let mut builder = repo.repo.treebuilder(Some(&base)).unwrap();
    builder
        .insert(
            std::ffi::OsStr::from_bytes(b"huge.yaml"),
            blob,
            FileMode::Blob.into(),
        )
        .unwrap();
    let tree = repo.repo.find_tree(builder.write().unwrap()).unwrap();
    let sig = Signature::now("Test", "test@example.com").unwrap();
    let parent = repo.repo.head().unwrap().peel_to_commit().unwrap();
    repo.repo
        .commit(
            Some("HEAD"),
            &sig,
            &sig,
            "head adds a 1 GiB blob",
            &tree,
            &[&parent],
        )
        .unwrap();
    let dir_side = repo.path().to_str().unwrap().to_string();
    for head in ["HEAD", dir_side.as_str()] {
        let (status, text, peak) = run_measured(
            repo.path(),
            &[
                "check", "--base", "HEAD~1", "--head", head, "--format", "json",
            ],
        );
        assert_eq!(status, 1, "{head}: {text}");
        let report: serde_json::Value = serde_json::from_str(&text).unwrap();
        let found = report["findings"].as_array().unwrap();
        assert_eq!(found.len(), 1, "{head}: {found:?}");
        assert_eq!(found[0]["path"], "huge.yaml");
        assert_eq!(found[0]["rule"], "parse-error");
        assert!(
            found[0]["message"]
                .as_str()
                .unwrap()
                .contains("file is 1073741824 bytes, above max_file_size"),
            "{found:?}"
        );
        assert!(
            peak < 200 << 20,
            "{head}: peak RSS {} MiB: the blob was loaded",
            peak >> 20
        );
    }
}
