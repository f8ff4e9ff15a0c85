//! Hostile YAML through the real binary (issue 6): each bad file is one parse-error finding at its
//! file:line that says what is wrong, and every other file is still checked; big inputs finish.
//! Time and memory figures come from `python3 bench/hostile.py`, not from these tests.

mod common;

use std::path::Path;

use common::*;

fn configmap(name: &str) -> String {
    object("v1", "ConfigMap", Some("app"), name, "data:\n  a: '1'\n")
}

fn write(root: &Path, path: &str, bytes: &[u8]) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, bytes).unwrap();
}

fn check_dirs(base: &Path, head: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec![
        "check",
        "--base",
        base.to_str().unwrap(),
        "--head",
        head.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = run(head, &args);
    assert!(
        matches!(code(&out), 0 | 1),
        "exit {}: {}",
        code(&out),
        stderr(&out)
    );
    (code(&out), json(&out))
}

/// `path → (line, message)` of every parse-error finding.
fn parse_errors(report: &serde_json::Value) -> Vec<(String, u64, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "parse-error")
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn alias_bomb() -> String {
    let mut text = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\n");
    text.push_str("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let (prev, name) = (pair[0], pair[1]);
        let refs = vec![format!("*{prev}"); 10].join(",");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    text
}

#[test]
fn each_hostile_file_is_one_precise_finding_and_the_rest_is_checked() {
    let base = tempfile::tempdir().unwrap();
    let head = tempfile::tempdir().unwrap();
    write(head.path(), "good.yaml", configmap("good").as_bytes());
    write(head.path(), "bomb.yaml", alias_bomb().as_bytes());
    let deep = format!("{}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    write(head.path(), "deep-flow.yaml", deep.as_bytes());
    // Block nesting without quadratic indentation: `- - - … a` is 10,000 sequences deep.
    let deep_block = format!("{}a\n", "- ".repeat(10_000));
    write(head.path(), "deep-block.yaml", deep_block.as_bytes());
    write(
        head.path(),
        "tabs.yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: t\ndata:\n\ta: '1'\n",
    );
    write(
        head.path(),
        "nul.yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: n\0x\n",
    );
    write(
        head.path(),
        "latin1.yaml",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: caf\xe9\n",
    );
    write(
        head.path(),
        "binary.yaml",
        &[0x89, b'P', b'N', b'G', 0, 0, 0x1a],
    );
    let (status, report) = check_dirs(base.path(), head.path(), &[]);
    assert_eq!(status, 1);
    let names: Vec<&str> = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["good"], "{report}");
    let mut got = parse_errors(&report);
    got.sort();
    let expect = |path: &str, line: u64, words: &str| {
        let found = got
            .iter()
            .find(|(p, _, _)| p == path)
            .unwrap_or_else(|| panic!("no finding for {path}: {got:?}"));
        assert_eq!(found.1, line, "{found:?}");
        assert!(
            found.2.contains(words),
            "{path}: {:?} lacks {words:?}",
            found.2
        );
    };
    expect("bomb.yaml", 9, "alias bomb");
    expect("deep-flow.yaml", 1, "recursion limit");
    expect("deep-block.yaml", 1, "recursion limit");
    expect("tabs.yaml", 6, "a tab is used for indentation");
    expect("nul.yaml", 4, "a NUL byte is not allowed in YAML");
    expect(
        "latin1.yaml",
        4,
        "not valid UTF-8: byte 0xe9 at line 4, column 12",
    );
    expect("binary.yaml", 1, "not valid UTF-8: byte 0x89");
    assert_eq!(got.len(), 7, "{got:?}");
}

#[test]
fn a_hundred_thousand_tiny_documents_in_one_file() {
    let base = tempfile::tempdir().unwrap();
    let head = tempfile::tempdir().unwrap();
    let text: String = (0..100_000)
        .map(|i| format!("---\n{}", configmap(&format!("cm-{i}"))))
        .collect();
    write(head.path(), "many.yaml", text.as_bytes());
    let (status, report) = check_dirs(base.path(), head.path(), &[]);
    assert_eq!(status, 0);
    assert_eq!(report["summary"]["added"], 100_000);
    let last = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"]["name"] == "cm-99999")
        .unwrap();
    assert_eq!(last["head"][0]["line"], 99_999 * 8 + 2);
}

#[test]
fn a_file_above_max_file_size_is_a_finding_and_a_raised_limit_reads_it() {
    let base = tempfile::tempdir().unwrap();
    let head = tempfile::tempdir().unwrap();
    // 40 MB of one ConfigMap's data: above the 32 MiB default.
    let mut text = configmap("big");
    let line = format!("  k: '{}'\n", "x".repeat(1000));
    for i in 0..40_000 {
        text.push_str(&line.replacen("k:", &format!("k{i}:"), 1));
    }
    write(head.path(), "big.yaml", text.as_bytes());
    let (status, report) = check_dirs(base.path(), head.path(), &[]);
    assert_eq!(status, 1);
    let got = parse_errors(&report);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].2.contains("above max_file_size (33554432 bytes)"),
        "{got:?}"
    );
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "max_file_size: 104857600\n").unwrap();
    let (status, report) = check_dirs(
        base.path(),
        head.path(),
        &["--config", config.path().to_str().unwrap()],
    );
    assert_eq!(status, 0, "{}", report["findings"]);
    assert_eq!(report["summary"]["added"], 1);
}
