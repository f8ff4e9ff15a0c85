//! One fixture per rule under `tests/fixtures/rules/<rule-id>/` (`base/`, `head/`, optional
//! `config.yml`), checked through the binary as users run it: a snapshot of the text report with
//! only that rule enabled, and for each rule the exact objects it flags (true positives) — every
//! other object of the fixture is a true negative.

mod common;

use std::path::Path;

use common::*;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `check` on a rule's fixture with every other rule off; returns (status, stdout).
fn check_only(rule: &str, format: &str, extra: &[&str]) -> (i32, String) {
    let fixture = root().join("tests/fixtures/rules").join(rule);
    assert!(fixture.is_dir(), "no fixture for rule {rule}");
    let mut config = std::fs::read_to_string(fixture.join("config.yml")).unwrap_or_default();
    config.push_str("rules:\n");
    for id in clobbercheck::rules::known_ids() {
        if id != rule {
            config.push_str(&format!("  {id}: off\n"));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, config).unwrap();
    let base = format!("tests/fixtures/rules/{rule}/base");
    let head = format!("tests/fixtures/rules/{rule}/head");
    let mut args = vec![
        "check",
        "--base",
        &base,
        "--head",
        &head,
        "--config",
        config_path.to_str().unwrap(),
        "--format",
        format,
    ];
    args.extend_from_slice(extra);
    let out = run(root(), &args);
    assert!(
        matches!(code(&out), 0 | 1),
        "{rule}: exit {}: {}",
        code(&out),
        stderr(&out)
    );
    // The configuration's temporary path appears in findings about it.
    let text = stdout(&out).replace(config_path.to_str().unwrap(), "<config>");
    (code(&out), text)
}

/// `(severity, object name or path)` of each finding of a rule's fixture.
fn flagged(rule: &str, extra: &[&str]) -> Vec<(String, String)> {
    let (_, out) = check_only(rule, "json", extra);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut got: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["rule"], rule, "only {rule} is enabled: {f}");
            let what = f["id"]["name"]
                .as_str()
                .or(f["path"].as_str())
                .unwrap_or_default();
            (
                f["severity"].as_str().unwrap().to_string(),
                what.to_string(),
            )
        })
        .collect();
    got.sort();
    got
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = expected
        .iter()
        .map(|(s, n)| (s.to_string(), n.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn every_rule_has_a_fixture_and_a_snapshot() {
    for rule in clobbercheck::rules::known_ids() {
        let (status, text) = check_only(rule, "text", &[]);
        insta::assert_snapshot!(rule, format!("exit {status}\n{text}"));
    }
}

#[test]
fn stateful_deletion_positives_and_negatives() {
    // Not flagged: the Deployment `api` (kept), the ConfigMap `settings` and the Application
    // `plain` (no finalizer) although deleted.
    assert_eq!(
        flagged("stateful-deletion", &[]),
        pairs(&[
            ("error", "payments"),
            ("error", "db"),
            ("error", "widgets.example.com"),
            ("error", "cascading"),
            ("error", "shop"),
            ("error", "cache-old"),
            ("notice", "logs"),
        ])
    );
    let (_, text) = check_only("stateful-deletion", "json", &[]);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let message = |name: &str| -> String {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"]["name"] == name)
            .unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        message("payments").contains("6 object(s)"),
        "{}",
        message("payments")
    );
    assert!(message("widgets.example.com").contains("Widget/blue"));
    assert!(message("cascading").contains("Deployment shop/shop, Service shop/shop"));
    assert!(message("cache-old").contains("renamed to"));
    assert!(message("logs").contains("Prune=false"));
}

#[test]
fn owner_change_positives_and_negatives() {
    // Not flagged: the Deployments `web` and `api`, which keep their Application.
    assert_eq!(
        flagged("owner-change", &[]),
        pairs(&[("warning", "settings"), ("error", "uploads")])
    );
}

#[test]
fn missing_prune_false_positives_and_negatives() {
    // Not flagged: Namespace `protected` (Prune=false,Delete=false), StatefulSet `db`
    // (Prune=false after another option and a space), Deployment `web` (not stateful),
    // Namespace `unmanaged` (no Argo CD Application deploys it), PVC `old` (unchanged debt),
    // PVC `vault-data` (its Application's default Prune=false). Flagged: `scratch`, whose own
    // Prune=true overrides that default.
    assert_eq!(
        flagged("missing-prune-false", &[]),
        pairs(&[
            ("warning", "prune-last"),
            ("warning", "data"),
            ("warning", "scratch")
        ])
    );
    assert_eq!(
        flagged("missing-prune-false", &["--all"]),
        pairs(&[
            ("warning", "prune-last"),
            ("warning", "data"),
            ("warning", "scratch"),
            ("warning", "old")
        ])
    );
}

#[test]
fn missing_fail_on_shared_resource_positives_and_negatives() {
    assert_eq!(
        flagged("missing-fail-on-shared-resource", &[]),
        pairs(&[("warning", "unsafe"), ("warning", "no-policy")])
    );
    assert_eq!(
        flagged("missing-fail-on-shared-resource", &["--all"]),
        pairs(&[
            ("warning", "unsafe"),
            ("warning", "no-policy"),
            ("warning", "legacy")
        ])
    );
}

#[test]
fn reclaim_policy_delete_positives_and_negatives() {
    // Not flagged: `retained`, `pv-retain`, `pv-default` (a static volume defaults to Retain),
    // and the unchanged class `legacy` unless --all.
    assert_eq!(
        flagged("reclaim-policy-delete", &[]),
        pairs(&[
            ("warning", "fast"),
            ("warning", "explicit-delete"),
            ("warning", "pv-delete")
        ])
    );
    assert!(
        flagged("reclaim-policy-delete", &["--all"]).contains(&("warning".into(), "legacy".into()))
    );
}

#[test]
fn name_path_mismatch_positives_and_negatives() {
    // Not flagged: app03-cluster01 (matches), AppProject app02-cluster01 (matches), the ConfigMap
    // (kind not governed), app01-cluster01 in app01/ (matches, and unchanged).
    assert_eq!(
        flagged("name-path-mismatch", &[]),
        pairs(&[("error", "app01-cluster01"), ("error", "app04-cluster01")])
    );
}

#[test]
fn name_path_mismatch_is_inactive_without_naming() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yml");
    std::fs::write(&config, "").unwrap();
    let out = run(
        root(),
        &[
            "check",
            "--base",
            "tests/fixtures/rules/name-path-mismatch/base",
            "--head",
            "tests/fixtures/rules/name-path-mismatch/head",
            "--config",
            config.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let rules: Vec<String> = findings(&json(&out)).into_iter().map(|f| f.0).collect();
    assert!(
        !rules.iter().any(|r| r == "name-path-mismatch"),
        "{rules:?}"
    );
}

#[test]
fn shared_resource_positives_and_negatives() {
    // Flagged: the Deployment both team-a and team-b deploy to in-cluster/web. Not flagged: the
    // Service (team-a only), the same Deployment on the staging cluster (one Application).
    assert_eq!(flagged("shared-resource", &[]), pairs(&[("error", "web")]));
}

#[test]
fn invalid_acknowledgement_positives_and_negatives() {
    // Flagged: the unknown word `overwite`, and the `allow:` entry whose namespace is misspelt.
    // Not flagged: `overwrite, missing-prune-false`, the entry naming ConfigMap default/fine.
    assert_eq!(
        flagged("invalid-acknowledgement", &[]),
        pairs(&[("warning", "typo"), ("warning", "<config>")])
    );
}

#[test]
fn markdown_gives_fix_hints_and_link_free_explanations() {
    let (_, md) = check_only("stateful-deletion", "markdown", &[]);
    assert!(
        md.contains("- **Fix:** keep Namespace payments, or acknowledge its deletion"),
        "{md}"
    );
    assert!(
        md.contains("<summary>What the rules mean (1)</summary>"),
        "{md}"
    );
    assert!(
        md.contains("(https://github.com/clobbercheck/clobbercheck/blob/main/docs/rules.md#stateful-deletion): the PR deletes an object whose deletion destroys data"),
        "{md}"
    );
    for rule in clobbercheck::rules::RULES {
        let text = format!("{} {}", rule.explanation(), rule.info().help);
        assert!(
            !text.contains("http") && !text.contains("]("),
            "{}: explanations are link-free",
            rule.info().id
        );
    }
}

#[test]
fn duplicate_key_positives_and_negatives() {
    // Not flagged: `untouched` (the PR does not touch it, whatever its debt). The Deployment `web`
    // is modified but its duplicate `replicas` was already in base: a notice.
    assert_eq!(
        flagged("duplicate-key", &[]),
        pairs(&[
            ("warning", "web-config"),
            ("warning", "worker"),
            ("notice", "web"),
        ])
    );
}

#[test]
fn yaml11_scalar_positives_and_negatives() {
    // Not flagged: `legacy` (untouched), the quoted "NO" and '0644'. `settings` is modified: its
    // new `0755` warns, its old `on` is a notice.
    let (_, text) = check_only("yaml-1.1-scalar", "json", &[]);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut got: Vec<(String, String, u64)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["severity"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    got.sort();
    let expected: Vec<(String, String, u64)> = [
        ("notice", "settings.yaml", 7),
        ("warning", "job.yaml", 7),
        ("warning", "job.yaml", 16),
        ("warning", "job.yaml", 18),
        ("warning", "settings.yaml", 8),
    ]
    .iter()
    .map(|(s, p, l)| (s.to_string(), p.to_string(), *l))
    .collect();
    assert_eq!(got, expected);
    let with_all = flagged("yaml-1.1-scalar", &["--all"]);
    assert!(
        with_all.contains(&("notice".to_string(), "legacy".to_string())),
        "--all judges untouched objects too, their old debt as a notice: {with_all:?}"
    );
}
