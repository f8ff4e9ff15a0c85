//! The fast YAML reader against the full one on real files: every YAML file of the fixtures and
//! of the kube-prometheus corpus (`../shared/corpus`, its tip and every 100th commit), where
//! the fast path answers, must answer exactly what granit-parser's events give. Each test prints
//! how many files took the fast path.

mod common;

use std::path::Path;
use std::process::Command;

use clobbercheck::manifest::yaml::{fast, parse_stream_full};

/// Files read, and how many (and how many bytes) the fast path took.
#[derive(Default)]
struct Tally {
    files: usize,
    bytes: usize,
    fast_files: usize,
    fast_bytes: usize,
    fell_back: Vec<String>,
}

impl Tally {
    fn compare(&mut self, name: &str, text: &str) {
        self.files += 1;
        self.bytes += text.len();
        match fast::parse(text) {
            Some(docs) => {
                self.fast_files += 1;
                self.fast_bytes += text.len();
                assert_eq!(
                    Ok(&docs),
                    parse_stream_full(text).as_ref(),
                    "{name}: the fast YAML reader differs from the full one"
                );
            }
            None => self.fell_back.push(name.to_string()),
        }
    }

    /// Straight to standard error, so the count shows even under the harness's capture.
    fn print(&self, what: &str) {
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "{what}: the fast path took {} of {} YAML files ({:.1} of {:.1} MB); fell back on {}",
            self.fast_files,
            self.files,
            self.fast_bytes as f64 / 1e6,
            self.bytes as f64 / 1e6,
            self.fell_back.len()
        );
        for name in self.fell_back.iter().take(5) {
            let _ = writeln!(err, "  fell back: {name}");
        }
    }
}

fn is_yaml(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

fn walk(dir: &Path, tally: &mut Tally) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, tally);
        } else if is_yaml(&path.to_string_lossy()) {
            // Fixtures that are not UTF-8 are refused before any YAML reader sees them.
            if let Ok(text) = std::fs::read_to_string(&path) {
                tally.compare(&path.display().to_string(), &text);
            }
        }
    }
}

#[test]
fn fixture_files_read_the_same_either_way() {
    let mut tally = Tally::default();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
        &mut tally,
    );
    tally.print("tests/fixtures");
    assert!(tally.files > 100, "only {} fixture files", tally.files);
    assert!(
        tally.fast_files * 2 > tally.files,
        "the fast path took only {} of {} fixture files",
        tally.fast_files,
        tally.files
    );
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(repo)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn corpus_files_read_the_same_either_way() {
    let test = "corpus_files_read_the_same_either_way";
    let Some(shared) = common::shared_dir() else {
        common::skip(
            test,
            "../shared/corpus is absent (it exists only beside this project's own checkouts)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("kp");
    let bundle = shared.join("corpus/kube-prometheus-manifests.bundle");
    let status = Command::new("git")
        .args(["clone", "-q", "-b", "manifests-history"])
        .arg(&bundle)
        .arg(&repo)
        .status()
        .expect("git runs");
    assert!(status.success(), "cloning {} failed", bundle.display());
    let commits = git(&repo, &["rev-list", "--first-parent", "HEAD"]);
    let mut seen = std::collections::HashSet::new();
    let mut tally = Tally::default();
    for commit in commits.lines().step_by(100) {
        for entry in git(&repo, &["ls-tree", "-r", commit]).lines() {
            let (meta, path) = entry.split_once('\t').unwrap();
            let blob = meta.rsplit(' ').next().unwrap().to_string();
            if !is_yaml(path) || !seen.insert(blob.clone()) {
                continue;
            }
            let text = git(&repo, &["cat-file", "blob", &blob]);
            tally.compare(&format!("{commit:.10}:{path}"), &text);
        }
    }
    tally.print("kube-prometheus corpus");
    assert!(tally.files > 400, "only {} corpus files", tally.files);
    assert!(
        tally.fast_files * 10 >= tally.files * 9,
        "the fast path took only {} of {} corpus files",
        tally.fast_files,
        tally.files
    );
}
