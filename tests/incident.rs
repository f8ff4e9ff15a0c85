//! The outage of DESIGN.md §1, reproduced by `examples/incident/`, end to end through the binary.

mod common;

use common::*;
use std::path::Path;

fn example() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn incident_fails_with_both_findings_for_both_objects() {
    let out = run(
        example(),
        &[
            "check",
            "--base",
            "examples/incident/base",
            "--head",
            "examples/incident/head",
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["schema"], 1);
    assert_eq!(report["base"], "examples/incident/base");
    let path = "rendered/cluster01/argocd-apps.yaml";
    let mut got = findings(&report);
    got.sort();
    let expected: Vec<(String, String, String, u64)> = [
        ("duplicate-identity", "error", 40),
        ("duplicate-identity", "error", 56),
        ("missing-fail-on-shared-resource", "warning", 56),
        ("overwrite-disguised-as-addition", "error", 40),
        ("overwrite-disguised-as-addition", "error", 56),
    ]
    .into_iter()
    .map(|(rule, severity, line)| (rule.into(), severity.into(), path.into(), line))
    .collect();
    assert_eq!(got, expected);
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["id"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "Application").count(), 2);
    assert_eq!(kinds.iter().filter(|k| **k == "AppProject").count(), 2);
    // Every object of either side appears once, with all its definitions.
    let objects = report["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 2);
    for object in objects {
        assert_eq!(object["change"], "modified");
        assert_eq!(object["moved"], false);
        assert_eq!(object["id"]["cluster"], serde_json::Value::Null);
        assert_eq!(object["id"]["group"], "argoproj.io");
        assert_eq!(object["id"]["namespace"], "argocd");
        assert_eq!(object["id"]["name"], "app01-cluster01");
        assert_eq!(object["base"].as_array().unwrap().len(), 1);
        assert_eq!(object["head"].as_array().unwrap().len(), 2);
        assert_eq!(object["head"][0]["api_version"], "argoproj.io/v1alpha1");
    }
    assert_eq!(
        report["summary"],
        serde_json::json!({"added": 0, "modified": 2, "deleted": 0, "unchanged": 0,
                           "errors": 4, "warnings": 1, "notices": 0, "silenced": 0})
    );
}

#[test]
fn incident_text_report_puts_findings_first() {
    let out = run(
        example(),
        &[
            "check",
            "--base",
            "examples/incident/base",
            "--head",
            "examples/incident/head",
        ],
    );
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    // Headline first, then the verdict, then one block per object, then the lists.
    assert!(
        text.starts_with(
            "This PR replaces 2 existing objects while appearing to add them.\nFAIL: 4 errors, 1 warning"
        ),
        "{text}"
    );
    let blocks_at = text.find("Affected objects (2)").unwrap();
    let modified_at = text.find("Modified (2)").unwrap();
    assert!(blocks_at < modified_at, "{text}");
    assert!(
        text.contains(
            "Application argocd/app01-cluster01 (argoproj.io)  rendered/cluster01/argocd-apps.yaml:56"
        ),
        "{text}"
    );
    assert!(!text.contains("\x1b["), "no colour when not on a terminal");
}

#[test]
fn correctly_named_app02_passes() {
    let dir = tempfile::tempdir().unwrap();
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/incident/base");
    let file = "rendered/cluster01/argocd-apps.yaml";
    let head_text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/incident/head")
            .join(file),
    )
    .unwrap();
    // The PR as intended: the appended objects carry app02's name.
    let base_text = std::fs::read_to_string(base.join(file)).unwrap();
    let (kept, appended) = head_text.split_at(base_text.len());
    assert_eq!(kept, base_text, "head appends to base");
    let fixed = format!(
        "{kept}{}",
        appended.replace("app01-cluster01", "app02-cluster01")
    );
    std::fs::create_dir_all(dir.path().join("rendered/cluster01")).unwrap();
    std::fs::write(dir.path().join(file), fixed).unwrap();
    let out = run(
        dir.path(),
        &[
            "check",
            "--base",
            base.to_str().unwrap(),
            "--head",
            ".",
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let report = json(&out);
    // The new Application only lacks the FailOnSharedResource safety setting (a warning).
    assert_eq!(
        findings(&report),
        vec![(
            "missing-fail-on-shared-resource".into(),
            "warning".into(),
            file.into(),
            56
        )],
        "{report}"
    );
    assert_eq!(report["summary"]["added"], 2);
    assert_eq!(report["summary"]["unchanged"], 2);
}

#[test]
fn markdown_report_names_the_findings() {
    let out = run(
        example(),
        &[
            "check",
            "--base",
            "examples/incident/base",
            "--head",
            "examples/incident/head",
            "--format",
            "markdown",
        ],
    );
    assert_eq!(code(&out), 1);
    let md = stdout(&out);
    assert!(md.contains("❌ **clobbercheck fails**: 4 errors"), "{md}");
    assert!(
        md.contains("#### ❌ Application argocd/app01-cluster01 (argoproj.io)"),
        "{md}"
    );
    assert!(
        md.contains("at `rendered/cluster01/argocd-apps.yaml:56`</sub>"),
        "{md}"
    );
}
