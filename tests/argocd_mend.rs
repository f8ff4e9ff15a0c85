//! Mend the kind, not the instance (issue 10 §5), through the binary: moves among existing
//! duplicates, one definition deployed to two namespaces, renders that fail, and the words of
//! two findings.

mod common;

use common::*;

fn check_fixture(name: &str) -> (i32, serde_json::Value) {
    check_fixture_json("argocd", name, &[])
}

fn messages(report: &serde_json::Value, rule: &str) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .map(|f| format!("{} {}: {}", f["severity"], f["path"], f["message"]))
        .collect()
}

fn objects<'a>(report: &'a serde_json::Value, name: &str) -> Vec<&'a serde_json::Value> {
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["id"]["name"] == name)
        .collect()
}

#[test]
fn moving_one_of_two_existing_duplicates_is_a_move_not_an_overwrite() {
    let (status, report) = check_fixture("mend-moved-duplicate");
    assert!(
        messages(&report, "overwrite-disguised-as-addition").is_empty(),
        "{report:#}"
    );
    // The duplicate is old debt: a notice, so the PR passes.
    assert_eq!(status, 0, "{report:#}");
}

#[test]
fn one_definition_through_two_namespaces_is_two_objects_never_a_duplicate_of_itself() {
    let (_, report) = check_fixture("mend-two-namespaces");
    let duplicates = messages(&report, "duplicate-identity");
    assert!(
        !duplicates
            .iter()
            .any(|m| m.contains("ConfigMap platform/fixed")),
        "{duplicates:?}"
    );
    let fixed = objects(&report, "fixed");
    assert_eq!(fixed.len(), 1, "{fixed:?}");
    assert_eq!(fixed[0]["head"].as_array().unwrap().len(), 1, "{fixed:?}");
    let mut own: Vec<&str> = objects(&report, "own")
        .iter()
        .map(|o| o["id"]["namespace"].as_str().unwrap())
        .collect();
    own.sort();
    assert_eq!(own, ["a", "b"]);
    // token.yaml still defines the Secret: a second definition is not a move away from it.
    let token = objects(&report, "token");
    assert_eq!(token.len(), 1);
    assert_eq!(token[0]["moved"], false, "{:#}", token[0]);
}

#[test]
fn a_render_that_fails_never_turns_objects_into_deletions() {
    let test = "a_render_that_fails_never_turns_objects_into_deletions";
    if !(installed("kustomize") || installed("kubectl")) {
        skip(test, "neither kustomize nor kubectl is installed");
        return;
    }
    let (status, report) = check_fixture("mend-render-fails");
    let render = messages(&report, "render-error");
    assert!(
        render.iter().any(|m| m.contains("overlays/shop")
            && m.contains("unknown in head")
            && m.contains("PersistentVolumeClaim shop/data")),
        "{render:?}"
    );
    assert!(
        messages(&report, "stateful-deletion").is_empty(),
        "{report:#}"
    );
    assert_eq!(report["summary"]["deleted"], 0, "{report:#}");
    assert!(objects(&report, "web").is_empty(), "{report:#}");
    assert_eq!(status, 1, "the render-error itself fails the check");
}

#[test]
fn findings_say_key_for_keys_and_delete_false_for_the_resources_finalizer() {
    let (_, report) = check_fixture("mend-words");
    let yaml = messages(&report, "yaml-1.1-scalar");
    assert!(
        yaml.iter().any(|m| m.contains("unquoted key `on`")),
        "{yaml:?}"
    );
    let deletion = messages(&report, "stateful-deletion");
    let legacy: Vec<&String> = deletion.iter().filter(|m| m.contains("legacy")).collect();
    assert!(!legacy.is_empty(), "{deletion:?}");
    for m in legacy {
        assert!(m.contains("Delete=false"), "{m}");
        assert!(!m.contains("Prune=false"), "{m}");
    }
}
