//! YAML reader benchmark (figures, not a timed test): the fast path (`manifest::yaml::fast`)
//! against granit-parser's events (`parse_stream_full`) on the core benchmark's files.
//!
//! It generates the core benchmark's 20,000-object monorepo (`bench/gen_monorepo.py`), or reads
//! the `.yaml` files under `--dir`, checks both readers agree on every file, and prints how many
//! files took the fast path and each reader's time per byte (best of `--runs`).
//!
//! `--only fast` or `--only full` reads the files once with that reader alone, for counting its
//! instructions without the other's:
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
//!   --toggle-collect='clobbercheck::manifest::yaml::*' target/release/deps/yaml-* --only fast
//! ```
//!
//! usage: cargo bench --bench yaml [-- --dir DIR --runs 5 --only fast|full]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clobbercheck::manifest::yaml::{fast, parse_stream_full};

#[global_allocator]
static GLOBAL: clobbercheck::alloc::Allocator = clobbercheck::alloc::Allocator::new();

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable folder") {
        let path = entry.expect("a readable entry").path();
        if path.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

fn time(texts: &[String], runs: usize, read: impl Fn(&str)) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            for text in texts {
                read(text);
            }
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let generated = tempfile::tempdir().expect("a temporary folder");
    let dir = match arg("--dir") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let repo = generated.path().join("repo");
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/gen_monorepo.py");
            let status = Command::new("python3")
                .arg(script)
                .arg(&repo)
                .args(["--clusters", "20", "--apps", "20"])
                .stdout(std::process::Stdio::null())
                .status()
                .expect("python3 runs");
            assert!(status.success(), "gen_monorepo.py failed");
            repo
        }
    };
    let runs: usize = arg("--runs").map_or(5, |r| r.parse().expect("--runs N"));
    let mut paths = Vec::new();
    yaml_files(&dir, &mut paths);
    paths.sort();
    let texts: Vec<String> = paths
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("a UTF-8 file"))
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    match arg("--only").as_deref() {
        Some("fast") => {
            let taken = texts.iter().filter(|t| fast::parse(t).is_some()).count();
            println!("fast reader: {taken} of {} files", texts.len());
            return;
        }
        Some("full") => {
            let read = texts
                .iter()
                .filter(|t| parse_stream_full(t).is_ok())
                .count();
            println!("full reader: {read} of {} files", texts.len());
            return;
        }
        Some(other) => panic!("--only fast|full, not {other}"),
        None => {}
    }
    let mut taken = 0;
    for (path, text) in paths.iter().zip(&texts) {
        if let Some(docs) = fast::parse(text) {
            taken += 1;
            assert_eq!(
                Ok(&docs),
                parse_stream_full(text).as_ref(),
                "{}: the readers differ",
                path.display()
            );
        }
    }
    let full = time(&texts, runs, |t| {
        std::hint::black_box(parse_stream_full(t)).expect("a valid file");
    });
    let fast_time = time(&texts, runs, |t| {
        std::hint::black_box(fast::parse(t));
    });
    let per_byte = |d: Duration| d.as_secs_f64() * 1e9 / bytes as f64;
    println!(
        "{} YAML files, {:.1} MB, under {}; best of {runs} runs",
        texts.len(),
        bytes as f64 / 1e6,
        dir.display()
    );
    println!("fast path taken for {taken} of {} files", texts.len());
    println!("| reader | time | ns per byte | MB/s |");
    println!("|---|---:|---:|---:|");
    for (name, d) in [("granit-parser events", full), ("fast path", fast_time)] {
        println!(
            "| {name} | {:.3} s | {:.2} | {:.0} |",
            d.as_secs_f64(),
            per_byte(d),
            bytes as f64 / 1e6 / d.as_secs_f64()
        );
    }
    println!(
        "speed-up: {:.1}×",
        full.as_secs_f64() / fast_time.as_secs_f64()
    );
}
