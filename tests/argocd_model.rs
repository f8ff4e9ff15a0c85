//! Argo CD's model of a repository, through the binary as a new user runs it (no
//! `.clobbercheck.yml`): tool detection per folder, Application parameters, this repository's
//! URL and revision (issue 10).

mod common;

use std::path::Path;

use common::*;

fn fixture(name: &str) -> (String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/argocd");
    let side = |s: &str| root.join(name).join(s).to_string_lossy().into_owned();
    (side("base"), side("head"))
}

/// `check --format json` of a fixture's base and head, with extra arguments.
fn check_fixture(name: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let (base, head) = fixture(name);
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "check", "--base", &base, "--head", &head, "--format", "json",
    ];
    args.extend_from_slice(extra);
    let out = run(dir.path(), &args);
    (code(&out), json(&out))
}

fn errors(report: &serde_json::Value) -> Vec<(String, String, String, u64)> {
    findings(report)
        .into_iter()
        .filter(|f| f.1 == "error")
        .collect()
}

fn object<'a>(
    report: &'a serde_json::Value,
    namespace: &str,
    name: &str,
) -> Option<&'a serde_json::Value> {
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"]["namespace"] == namespace && o["id"]["name"] == name)
}

fn kustomize_available(test: &str) -> bool {
    let found = installed("kustomize") || installed("kubectl");
    if !found {
        skip(test, "neither kustomize nor kubectl is installed");
    }
    found
}

#[test]
fn a_copied_chart_is_not_analysed_and_its_templates_are_never_objects() {
    let (status, report) = check_fixture("chart-copied", &[]);
    assert_eq!(status, 0, "{report:#}");
    assert!(errors(&report).is_empty(), "{report:#}");
    let text = report.to_string();
    assert!(
        !text.contains("{{"),
        "template text became an object: {report:#}"
    );
    assert!(
        report["objects"].as_array().unwrap().is_empty(),
        "chart files were read as objects: {report:#}"
    );
    let notices: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "notice")
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        notices
            .iter()
            .any(|m| m.contains("Helm chart charts/invoicing is not analysed")),
        "{notices:?}"
    );
    // The untouched chart is old news: no notice about it in a PR that does not touch it.
    assert!(
        !notices.iter().any(|m| m.contains("charts/billing")),
        "{notices:?}"
    );
}

#[test]
fn an_added_overlay_deploys_its_own_objects_and_patches_are_never_objects() {
    if !kustomize_available(
        "an_added_overlay_deploys_its_own_objects_and_patches_are_never_objects",
    ) {
        return;
    }
    let (status, report) = check_fixture("overlay-added", &[]);
    assert_eq!(status, 0, "{report:#}");
    assert!(errors(&report).is_empty(), "{report:#}");
    let canary = object(&report, "staging", "canary-worker").expect("canary-worker rendered");
    assert_eq!(canary["change"], "added", "{canary:#}");
    assert_eq!(
        canary["head"][0]["path"],
        "overlays/canary/kustomization.yaml"
    );
    let worker = object(&report, "staging", "worker").expect("worker rendered");
    assert_eq!(worker["change"], "unchanged", "{worker:#}");
    // Patch files and the base's own files are inputs, never objects of their own.
    assert!(object(&report, "default", "worker").is_none(), "{report:#}");
    for o in report["objects"].as_array().unwrap() {
        for side in ["base", "head"] {
            for def in o[side].as_array().unwrap() {
                let path = def["path"].as_str().unwrap();
                assert!(
                    !path.ends_with("replicas.yaml"),
                    "a patch became an object: {o:#}"
                );
            }
        }
    }
}
