//! `--format sarif`: validated against the SARIF 2.1.0 JSON schema (the copy shipped in the
//! `serde-sarif` crate, tests/fixtures/sarif-schema-2.1.0.json) with Python's `jsonschema`, and
//! checked field by field for what GitHub code scanning reads.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn incident_sarif() -> serde_json::Value {
    let out = run(
        root(),
        &[
            "check",
            "--base",
            "examples/incident/base",
            "--head",
            "examples/incident/head",
            "--format",
            "sarif",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    json(&out)
}

/// Whether Python's `jsonschema` can be imported; otherwise `test` is reported as a visible skip
/// (a failure in CI, whose `.ci/run` installs the package).
fn jsonschema_available(test: &str) -> bool {
    let importable = Command::new("python3")
        .args(["-c", "import jsonschema"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !importable {
        skip(
            test,
            "python3 with the `jsonschema` package is not installed (pip install jsonschema)",
        );
    }
    importable
}

/// Validates a document against the schema with Python's jsonschema (Draft 7, as the schema
/// declares); panics with the validator's message on failure.
fn validate(document: &serde_json::Value) {
    let schema = root().join("tests/fixtures/sarif-schema-2.1.0.json");
    let script = "import json, sys, jsonschema\n\
                  schema = json.load(open(sys.argv[1]))\n\
                  jsonschema.Draft7Validator(schema).validate(json.load(sys.stdin))\n";
    let mut child = Command::new("python3")
        .args(["-c", script, schema.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (CI installs it with the jsonschema package)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(document.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "SARIF does not validate:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn incident_sarif_validates_against_the_schema() {
    if !jsonschema_available("incident_sarif_validates_against_the_schema") {
        return;
    }
    validate(&incident_sarif());
}

#[test]
fn the_validator_rejects_invalid_sarif() {
    if !jsonschema_available("the_validator_rejects_invalid_sarif") {
        return;
    }
    let mut broken = incident_sarif();
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    let result = std::panic::catch_unwind(|| validate(&broken));
    assert!(result.is_err(), "an invalid level must not validate");
}

#[test]
fn rules_have_ids_help_and_default_levels_and_results_have_locations() {
    let sarif = incident_sarif();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "clobbercheck");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, clobbercheck::rules::known_ids());
    for rule in rules {
        assert!(!rule["help"]["text"].as_str().unwrap().is_empty(), "{rule}");
        let full = rule["fullDescription"]["text"].as_str().unwrap();
        assert!(!full.is_empty());
        assert_ne!(full, rule["shortDescription"]["text"], "{rule}");
        assert_eq!(
            rule["helpUri"],
            format!(
                "https://github.com/clobbercheck/clobbercheck/blob/main/docs/rules.md#{}",
                rule["id"].as_str().unwrap()
            )
        );
        let level = rule["defaultConfiguration"]["level"].as_str().unwrap();
        assert!(["error", "warning", "note"].contains(&level), "{rule}");
    }
    let level_of = |id: &str| {
        rules.iter().find(|r| r["id"] == id).unwrap()["defaultConfiguration"]["level"].clone()
    };
    assert_eq!(level_of("stateful-deletion"), "error");
    assert_eq!(level_of("missing-prune-false"), "warning");
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        assert!(!result["message"]["text"].as_str().unwrap().is_empty());
        let physical = &result["locations"][0]["physicalLocation"];
        // The sides are directories inside this repository: URIs are relative to its root.
        assert_eq!(
            physical["artifactLocation"]["uri"],
            "examples/incident/head/rendered/cluster01/argocd-apps.yaml"
        );
        assert_eq!(physical["artifactLocation"]["uriBaseId"], "SRCROOT");
        assert!(physical["region"]["startLine"].as_u64().unwrap() >= 1);
        assert!(
            result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
                .as_str()
                .unwrap()
                .contains("app01-cluster01")
        );
    }
}

#[test]
fn silenced_findings_are_suppressed_results() {
    let repo = GitRepo::new();
    let cm = |annotations: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n{annotations}data:\n  v: '{value}'\n"
        )
    };
    // Base already carries the annotation: a PR cannot silence its own finding (issue 12).
    let allow = "  annotations:\n    clobbercheck.dev/allow: overwrite\n";
    repo.commit_files("base", &[("a.yaml", Some(&cm(allow, "1")))]);
    repo.commit_files(
        "head",
        &[(
            "b.yaml",
            Some(&cm(
                "  annotations:\n    clobbercheck.dev/allow: overwrite\n",
                "2",
            )),
        )],
    );
    let out = run(
        repo.path(),
        &[
            "check", "--base", "HEAD~1", "--head", "HEAD", "--format", "sarif",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let sarif = json(&out);
    if jsonschema_available("silenced_findings_are_suppressed_results") {
        validate(&sarif);
    }
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for result in results {
        assert_eq!(result["suppressions"][0]["kind"], "inSource");
        assert!(
            result["suppressions"][0]["justification"]
                .as_str()
                .unwrap()
                .contains("clobbercheck.dev/allow: overwrite at a.yaml:1")
        );
    }
}

#[test]
fn full_descriptions_are_distinct() {
    let sarif = incident_sarif();
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let mut full: Vec<&str> = rules
        .iter()
        .map(|r| r["fullDescription"]["text"].as_str().unwrap())
        .collect();
    full.sort();
    full.dedup();
    assert_eq!(full.len(), rules.len());
}

/// A deletion points at its base definition, under the base's root: head's file of that name is
/// shorter (the bug: `svc.yaml:10` named on a head file of 5 lines).
#[test]
fn a_deletion_points_at_the_base_file_and_line() {
    let repo = GitRepo::new();
    let svc = |name: &str| format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n");
    repo.write(&[(
        "svc.yaml",
        Some(&format!("{}---\n# kept\n{}", svc("keep"), svc("payments"))),
    )]);
    repo.commit("base");
    repo.write(&[("svc.yaml", Some(&svc("keep")))]);
    repo.commit("head");
    let out = run(
        repo.path(),
        &[
            "check", "--base", "HEAD~1", "--head", "HEAD", "--format", "sarif",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let sarif: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    validate(&sarif);
    let run = &sarif["runs"][0];
    assert!(run["originalUriBaseIds"]["BASEROOT"].is_object(), "{run}");
    let deletion = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "stateful-deletion")
        .expect("the Namespace deletion is reported");
    let physical = &deletion["locations"][0]["physicalLocation"];
    assert_eq!(physical["artifactLocation"]["uri"], "svc.yaml");
    assert_eq!(physical["artifactLocation"]["uriBaseId"], "BASEROOT");
    assert_eq!(physical["region"]["startLine"], 7);
}
