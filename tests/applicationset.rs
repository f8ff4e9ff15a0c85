//! ApplicationSets expanded at PR time, through the binary, on the fixtures of
//! `tests/fixtures/applicationset/<scenario>/{base,head}`: generated Applications are objects
//! like any other, a PR that only adds a folder can be an overwrite, duplicates name every
//! producer, every generator and both template syntaxes expand, outside systems give a notice,
//! and a template error is a `render-error` at the set.

mod common;

use std::path::Path;

use common::*;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `check --format json` of one scenario (with its `config.yml` when it has one).
fn check(scenario: &str) -> (i32, serde_json::Value) {
    let dir = format!("tests/fixtures/applicationset/{scenario}");
    let base = format!("{dir}/base");
    let head = format!("{dir}/head");
    let config = format!("{dir}/config.yml");
    let mut args = vec![
        "check", "--base", &base, "--head", &head, "--format", "json",
    ];
    if root().join(&config).is_file() {
        args.extend(["--config", &config]);
    }
    let out = run(root(), &args);
    (code(&out), json(&out))
}

fn messages<'a>(report: &'a serde_json::Value, rule: &str, name: &str) -> Vec<&'a str> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule && (name.is_empty() || f["id"]["name"] == name))
        .map(|f| f["message"].as_str().unwrap())
        .collect()
}

fn applications(report: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["id"]["kind"] == "Application" && !o["head"].as_array().unwrap().is_empty())
        .map(|o| o["id"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn a_pr_adding_only_a_folder_generates_an_application_that_replaces_an_existing_one() {
    let (status, report) = check("folder-only");
    assert_eq!(status, 1, "{report:#}");
    let overwrite = messages(&report, "overwrite-disguised-as-addition", "payments");
    assert_eq!(overwrite.len(), 1, "{report:#}");
    assert!(
        overwrite[0].contains("ApplicationSet services, from directory services/payments")
            && overwrite[0].contains("apps/payments.yaml:1"),
        "{}",
        overwrite[0]
    );
    let duplicate = messages(&report, "duplicate-identity", "payments");
    assert!(
        duplicate[0].contains("apps/payments.yaml:1")
            && duplicate[0].contains(
                "sets/services.yaml:1 (ApplicationSet services, from directory services/payments)"
            ),
        "{}",
        duplicate[0]
    );
    // Only the Application of the new folder is new: `core` is unchanged, the excluded
    // `services/experimental` generates nothing.
    assert_eq!(
        applications(&report),
        vec!["core".to_string(), "payments".to_string()]
    );
    let core = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"]["name"] == "core" && o["id"]["kind"] == "Application")
        .unwrap();
    assert_eq!(core["change"], "unchanged");
    assert_eq!(
        core["head"][0]["generator"],
        "ApplicationSet services, from directory services/core"
    );
    // Generated Applications place their folder like hand-written ones.
    assert!(report["objects"].as_array().unwrap().iter().any(|o| o["id"]
        == serde_json::json!({"cluster": "prod", "group": "apps", "kind": "Deployment",
                               "namespace": "payments", "name": "payments-v2"})));
}

#[test]
fn duplicate_names_in_one_set_across_sets_and_against_a_hand_written_application() {
    let (status, report) = check("duplicates");
    assert_eq!(status, 1, "{report:#}");
    let within = messages(&report, "duplicate-identity", "web");
    assert!(
        within[0].contains("ApplicationSet team-a, from element 1 of list generator")
            && within[0].contains("ApplicationSet team-a, from element 3 of list generator"),
        "{}",
        within[0]
    );
    let across = messages(&report, "duplicate-identity", "api");
    assert!(
        across[0].contains("ApplicationSet team-a, from element 2 of list generator")
            && across[0].contains("ApplicationSet team-c, from element 1 of list generator"),
        "{}",
        across[0]
    );
    let hand_written = messages(&report, "duplicate-identity", "billing");
    assert!(
        hand_written[0].contains("apps/billing.yaml:1")
            && hand_written[0].contains("ApplicationSet team-c, from element 2 of list generator"),
        "{}",
        hand_written[0]
    );
    assert_eq!(
        messages(&report, "overwrite-disguised-as-addition", "billing").len(),
        1
    );
}

#[test]
fn every_generator_and_both_template_syntaxes_expand() {
    let (status, report) = check("generators");
    assert_eq!(status, 0, "{report:#}");
    assert_eq!(
        applications(&report),
        vec![
            // git files + goTemplate (Sprig upper/lower, normalize, missingkey=error)
            "acme-gold-acme",
            "globex-silver-globex",
            // elementsYaml
            "monitoring-extra-yaml",
            // merge of clusters (with values, plus in-cluster) and a list
            "monitoring-in-cluster-standard",
            "monitoring-prod-standard",
            "monitoring-staging-cheap",
            // matrix of clusters (selector on Secret labels) and git directories
            "prod-logging",
            "prod-metrics",
        ]
    );
    let producer = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"]["name"] == "prod-metrics")
        .unwrap()["head"][0]["generator"]
        .clone();
    assert_eq!(
        producer,
        "ApplicationSet addons, from cluster prod and directory addons/metrics"
    );
}

#[test]
fn clusters_come_from_the_configuration_without_cluster_secrets() {
    let (status, report) = check("config-clusters");
    assert_eq!(status, 0, "{report:#}");
    assert_eq!(applications(&report), vec!["guestbook-eu-1".to_string()]);
}

#[test]
fn generators_needing_outside_systems_give_one_notice_naming_the_set() {
    let out = run(
        root(),
        &[
            "check",
            "--base",
            "tests/fixtures/rules/applicationset-not-expanded/base",
            "--head",
            "tests/fixtures/rules/applicationset-not-expanded/head",
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&out), 0);
    let report = json(&out);
    let notices = messages(&report, "applicationset-not-expanded", "");
    assert_eq!(notices.len(), 1, "{report:#}");
    assert!(
        notices[0].contains("ApplicationSet previews")
            && notices[0].contains("pullRequest")
            && notices[0].contains("plugin"),
        "{}",
        notices[0]
    );
    // The set's expandable neighbour still generates its Application.
    assert_eq!(applications(&report), vec!["docs".to_string()]);
}

#[test]
fn a_template_error_is_a_render_error_at_the_set() {
    let (status, report) = check("template-error");
    assert_eq!(status, 1, "{report:#}");
    let found = findings(&report);
    assert_eq!(
        found,
        vec![(
            "render-error".to_string(),
            "error".to_string(),
            "sets/broken.yaml".to_string(),
            1
        )]
    );
    let message = messages(&report, "render-error", "");
    assert!(
        message[0].contains("ApplicationSet broken")
            && message[0].contains("map has no entry for key \"app\""),
        "{}",
        message[0]
    );
}

/// Regression: run inside a clone whose `origin` is another repository, two folders are not
/// that repository — its URL must not decide which generators read "this" repository (the
/// scenario passed in a checkout without a remote and failed in a fresh clone with one).
#[test]
fn folders_inside_a_clone_with_a_remote_are_not_that_repository() {
    let repo = GitRepo::new();
    for side in ["base", "head"] {
        copy_dir(
            &root()
                .join("tests/fixtures/applicationset/folder-only")
                .join(side),
            &repo.path().join(side),
        );
    }
    repo.commit("fixtures");
    let status = std::process::Command::new("git")
        .args([
            "remote",
            "add",
            "origin",
            "https://example.com/someone/else.git",
        ])
        .current_dir(repo.path())
        .status()
        .unwrap();
    assert!(status.success());
    let out = run(
        repo.path(),
        &[
            "check", "--base", "base", "--head", "head", "--format", "json",
        ],
    );
    let report = json(&out);
    assert_eq!(code(&out), 1, "{report:#}");
    assert_eq!(
        messages(&report, "overwrite-disguised-as-addition", "payments").len(),
        1,
        "{report:#}"
    );
}
