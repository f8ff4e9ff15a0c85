//! The JSON report's text (DESIGN.md §4.2) is exactly serde_json's pretty printing of the
//! report and a newline, however `report::json` writes it: the objects of more than one
//! parallel window, an empty report, unusual strings, and the CLI's `--format json`.

mod common;

use std::path::Path;

use clobbercheck::report::json;
use clobbercheck::{DirRevision, ParseCache, analyze};

fn write(dir: &Path, path: &str, content: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// `count` ConfigMaps in one file, the first few with names and data that need escaping.
fn config_maps(count: usize, suffix: &str) -> String {
    (0..count)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}{suffix}\n  \
                 namespace: \"ns-\\u00e9\\t{}\"\ndata:\n  k: \"line\\nbreak \\\"quoted\\\"\"\n---\n",
                i % 3
            )
        })
        .collect()
}

fn assert_serde_text(base: &Path, head: &Path) -> String {
    let cache = ParseCache::default();
    let analysis = analyze(
        &DirRevision::new(base, "base"),
        &DirRevision::new(head, "head"),
        None,
        &cache,
    )
    .unwrap();
    let ours = json::render(&analysis.report);
    let reference = serde_json::to_string_pretty(&analysis.report).unwrap() + "\n";
    assert!(
        ours == reference,
        "the report's text differs from serde_json's"
    );
    ours
}

#[test]
fn many_objects_read_as_serde_json_writes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, head) = (tmp.path().join("base"), tmp.path().join("head"));
    // More objects than one parallel window holds (4,096), on both sides, with a change, an
    // addition, a deletion and a duplicate (a finding with a hint).
    write(&base, "a.yaml", &config_maps(5000, ""));
    write(&base, "gone.yaml", &config_maps(3, "-gone"));
    write(
        &head,
        "a.yaml",
        &config_maps(5000, "").replacen("break", "changed", 1),
    );
    write(&head, "new.yaml", &config_maps(4, "-new"));
    write(&head, "copy.yaml", &config_maps(1, ""));
    let text = assert_serde_text(&base, &head);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["objects"].as_array().unwrap().len(), 5000 + 3 + 4);
    assert!(!report["findings"].as_array().unwrap().is_empty());
}

#[test]
fn an_empty_report_reads_as_serde_json_writes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, head) = (tmp.path().join("base"), tmp.path().join("head"));
    std::fs::create_dir_all(&base).unwrap();
    std::fs::create_dir_all(&head).unwrap();
    let text = assert_serde_text(&base, &head);
    assert!(text.contains("\n  \"objects\": [],\n"), "{text}");
}

#[test]
fn the_cli_writes_the_same_text() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, head) = (tmp.path().join("base"), tmp.path().join("head"));
    write(&base, "a.yaml", &config_maps(300, ""));
    write(&head, "a.yaml", &config_maps(301, ""));
    let output = common::run(
        tmp.path(),
        &[
            "check", "--base", "base", "--head", "head", "--format", "json",
        ],
    );
    let cache = ParseCache::default();
    let analysis = analyze(
        &DirRevision::new(&base, "base"),
        &DirRevision::new(&head, "head"),
        None,
        &cache,
    )
    .unwrap();
    assert_eq!(
        common::stdout(&output),
        serde_json::to_string_pretty(&analysis.report).unwrap() + "\n"
    );
}
