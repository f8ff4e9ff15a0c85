//! Acknowledging findings on purpose (annotation on the head object — counted only when base
//! had it or base's configuration lets annotations a PR adds count —, `allow:` in the base
//! configuration), judging only what a PR touches versus `check --all`, and the outage caught by
//! the naming rule alone.

mod common;

use std::path::Path;

use common::*;

fn config_map(name: &str, value: &str, annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: web\n{annotations}data:\n  value: '{value}'\n"
    )
}

fn pvc(name: &str, annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n  namespace: db\n{annotations}spec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 20Gi\n"
    )
}

fn check(repo: &GitRepo, format: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "check", "--base", "HEAD~1", "--head", "HEAD", "--format", format,
    ];
    args.extend_from_slice(extra);
    run(repo.path(), &args)
}

/// The base configuration that lets annotations a PR adds count (off by default).
const ADDED_ANNOTATIONS_COUNT: &str = "allow_annotations_added_in_pr: true\n";

#[test]
fn annotation_silences_the_overwrite_and_the_report_lists_it() {
    let repo = GitRepo::new();
    repo.commit_files(
        "base",
        &[
            ("settings.yaml", Some(&config_map("settings", "1", ""))),
            (".clobbercheck.yml", Some(ADDED_ANNOTATIONS_COUNT)),
        ],
    );
    let allow = "  annotations:\n    clobbercheck.dev/allow: overwrite\n    clobbercheck.dev/reason: replaces the legacy settings on purpose\n";
    repo.commit_files(
        "head",
        &[("more.yaml", Some(&config_map("settings", "2", allow)))],
    );
    let out = check(&repo, "json", &[]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let report = json(&out);
    assert!(findings(&report).is_empty(), "{report}");
    let silenced = report["silenced"].as_array().unwrap();
    let rules: Vec<&str> = silenced
        .iter()
        .map(|s| s["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        vec!["duplicate-identity", "overwrite-disguised-as-addition"]
    );
    for s in silenced {
        assert_eq!(s["severity"], "error");
        assert_eq!(s["by"], "annotation");
        assert_eq!(s["path"], "more.yaml");
        assert_eq!(s["id"]["name"], "settings");
        assert_eq!(
            s["reason"],
            "annotation clobbercheck.dev/allow: overwrite at more.yaml:1: replaces the legacy settings on purpose"
        );
    }
    assert_eq!(report["summary"]["silenced"], 2);
    assert_eq!(report["summary"]["errors"], 0);

    let text = stdout(&check(&repo, "text", &[]));
    assert!(text.contains("Silenced (2)"), "{text}");
    assert!(
        text.contains("acknowledged by annotation clobbercheck.dev/allow"),
        "{text}"
    );
    let md = stdout(&check(&repo, "markdown", &[]));
    assert!(md.contains("<summary>Silenced on purpose (2)"), "{md}");
    assert!(md.contains("acknowledged by annotation"), "{md}");
}

#[test]
fn annotation_for_another_finding_does_not_silence() {
    let repo = GitRepo::new();
    repo.commit_files(
        "base",
        &[("settings.yaml", Some(&config_map("settings", "1", "")))],
    );
    let allow = "  annotations:\n    clobbercheck.dev/allow: delete\n";
    repo.commit_files(
        "head",
        &[("more.yaml", Some(&config_map("settings", "2", allow)))],
    );
    let out = check(&repo, "json", &[]);
    assert_eq!(code(&out), 1);
    let report = json(&out);
    assert_eq!(findings(&report).len(), 2, "{report}");
    assert!(report["silenced"].as_array().unwrap().is_empty());
}

#[test]
fn an_annotation_the_pr_adds_does_not_silence_its_own_finding() {
    let repo = GitRepo::new();
    repo.commit_files(
        "base",
        &[("settings.yaml", Some(&config_map("settings", "1", "")))],
    );
    let allow = "  annotations:\n    clobbercheck.dev/allow: overwrite\n";
    repo.commit_files(
        "head",
        &[("more.yaml", Some(&config_map("settings", "2", allow)))],
    );
    let out = check(&repo, "json", &[]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let report = json(&out);
    assert!(
        report["silenced"].as_array().unwrap().is_empty(),
        "{report}"
    );
    let errors: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 2, "{report}");
    for f in errors {
        let message = f["message"].as_str().unwrap();
        assert!(
            message.contains(
                "The annotation clobbercheck.dev/allow at more.yaml:1 was added in this pull request"
            ),
            "{message}"
        );
        assert!(message.contains("Acknowledge button"), "{message}");
        assert!(
            message.contains("allow_annotations_added_in_pr: true"),
            "{message}"
        );
    }
    // The same rule from the head's configuration does not count: configuration is read from
    // base, so a PR cannot grant itself the key.
    repo.commit_files(
        "head2",
        &[(".clobbercheck.yml", Some(ADDED_ANNOTATIONS_COUNT))],
    );
    let out = run(
        repo.path(),
        &[
            "check", "--base", "HEAD~2", "--head", "HEAD", "--format", "json",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stdout(&out));
}

#[test]
fn an_annotation_base_already_had_silences() {
    let repo = GitRepo::new();
    let allow = "  annotations:\n    clobbercheck.dev/allow: overwrite\n";
    repo.commit_files(
        "base",
        &[("settings.yaml", Some(&config_map("settings", "1", allow)))],
    );
    repo.commit_files(
        "head",
        &[("more.yaml", Some(&config_map("settings", "2", allow)))],
    );
    let out = check(&repo, "json", &[]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let report = json(&out);
    assert_eq!(report["silenced"].as_array().unwrap().len(), 2, "{report}");
}

#[test]
fn rename_acknowledged_on_the_new_object() {
    let repo = GitRepo::new();
    repo.commit_files(
        "base",
        &[
            ("db/pvc.yaml", Some(&pvc("data-v1", ""))),
            (".clobbercheck.yml", Some(ADDED_ANNOTATIONS_COUNT)),
        ],
    );
    let allow = "  annotations:\n    clobbercheck.dev/allow: delete\n";
    repo.commit_files("head", &[("db/pvc.yaml", Some(&pvc("data-v2", allow)))]);
    let out = check(&repo, "json", &[]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let report = json(&out);
    assert_eq!(report["silenced"][0]["rule"], "stateful-deletion");
    assert_eq!(report["silenced"][0]["id"]["name"], "data-v1");
    assert!(
        report["silenced"][0]["message"]
            .as_str()
            .unwrap()
            .contains("renamed to data-v2")
    );
}

#[test]
fn base_configuration_entry_silences_one_deletion_for_one_identity() {
    let repo = GitRepo::new();
    let config = "allow:\n- rule: delete\n  kind: PersistentVolumeClaim\n  namespace: db\n  name: old-data\n  reason: data migrated to new-data (OPS-123)\n\
                  - rule: delete\n  kind: PersistentVolumeClaim\n  name: old-data\n  reason: forgot the namespace\n";
    repo.commit_files(
        "base",
        &[
            (".clobbercheck.yml", Some(config)),
            ("db/old.yaml", Some(&pvc("old-data", ""))),
            ("db/other.yaml", Some(&pvc("other-data", ""))),
        ],
    );
    repo.commit_files("head", &[("db/old.yaml", None), ("db/other.yaml", None)]);
    let out = check(&repo, "json", &[]);
    let report = json(&out);
    // Only the acknowledged identity is silenced; the other deletion still fails the check.
    assert_eq!(code(&out), 1, "{report}");
    assert_eq!(
        findings(&report),
        vec![
            (
                "stateful-deletion".into(),
                "error".into(),
                "db/other.yaml".into(),
                1
            ),
            // The second entry lacks the namespace: it names no object, and says so.
            (
                "invalid-acknowledgement".into(),
                "warning".into(),
                ".clobbercheck.yml".into(),
                0
            ),
        ]
    );
    assert_eq!(report["silenced"].as_array().unwrap().len(), 1);
    assert_eq!(report["silenced"][0]["id"]["name"], "old-data");
    assert_eq!(report["silenced"][0]["by"], "configuration");
    assert_eq!(
        report["silenced"][0]["reason"],
        ".clobbercheck.yml allow[0]: data migrated to new-data (OPS-123)"
    );
}

#[test]
fn old_debt_passes_a_pr_and_check_all_reports_it() {
    let repo = GitRepo::new();
    let app = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: db\n  namespace: argocd\nspec:\n  source: {path: db}\n  destination: {name: in-cluster, namespace: db}\n  syncPolicy: {syncOptions: [FailOnSharedResource=true]}\n";
    repo.commit_files(
        "base",
        &[
            ("apps/db.yaml", Some(app)),
            ("db/pvc.yaml", Some(&pvc("data", ""))),
            ("a.yaml", Some(&config_map("twice", "1", ""))),
            ("b.yaml", Some(&config_map("twice", "2", ""))),
            ("c.yaml", Some(&config_map("unrelated", "1", ""))),
        ],
    );
    repo.commit_files(
        "head",
        &[("c.yaml", Some(&config_map("unrelated", "2", "")))],
    );
    let out = check(&repo, "json", &[]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let report = json(&out);
    assert_eq!(
        findings(&report),
        vec![(
            "duplicate-identity".into(),
            "notice".into(),
            "b.yaml".into(),
            1
        )]
    );
    let out = check(&repo, "json", &["--all"]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let mut got = findings(&json(&out));
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "duplicate-identity".into(),
                "error".into(),
                "b.yaml".into(),
                1
            ),
            (
                "missing-prune-false".into(),
                "warning".into(),
                "db/pvc.yaml".into(),
                1
            ),
        ]
    );
}

#[test]
fn the_outage_is_caught_by_the_naming_rule_alone() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("naming.yml");
    let mut text = String::from(
        "naming:\n- path: \"env/{cluster}/{app}/**\"\n  kinds: [argoproj.io/Application, argoproj.io/AppProject]\n  name: \"{app}-{cluster}\"\nrules:\n",
    );
    for id in clobbercheck::rules::known_ids() {
        if id != "name-path-mismatch" {
            text.push_str(&format!("  {id}: off\n"));
        }
    }
    std::fs::write(&config, text).unwrap();
    let out = run(
        root,
        &[
            "check",
            "--base",
            "examples/incident/base",
            "--head",
            "examples/incident/head",
            "--config",
            config.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let report = json(&out);
    assert_eq!(
        findings(&report),
        vec![(
            "name-path-mismatch".into(),
            "error".into(),
            "rendered/cluster01/argocd-apps.yaml".into(),
            56
        )]
    );
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("deploys env/cluster01/app02"), "{message}");
    assert!(
        message.contains("expects the name 'app02-cluster01'"),
        "{message}"
    );
}

#[test]
fn a_pvc_hidden_by_a_parse_error_is_not_called_deleted() {
    let repo = GitRepo::new();
    repo.commit_files("base", &[("db/pvc.yaml", Some(&pvc("data", "")))]);
    let broken = pvc("data", "").replace(
        "accessModes: [ReadWriteOnce]",
        "accessModes: [ReadWriteOnce",
    );
    repo.commit_files("head", &[("db/pvc.yaml", Some(&broken))]);
    let out = check(&repo, "json", &[]);
    let report = json(&out);
    let mut got: Vec<(String, String)> = findings(&report)
        .into_iter()
        .map(|(rule, severity, _, _)| (rule, severity))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("parse-error".into(), "error".into()),
            ("stateful-deletion".into(), "notice".into())
        ]
    );
    let notice = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "stateful-deletion")
        .unwrap();
    assert!(
        notice["message"]
            .as_str()
            .unwrap()
            .contains("db/pvc.yaml cannot be read in head (see parse-error)"),
        "{notice}"
    );
}

#[test]
fn the_jsonnet_outage_is_caught_by_the_naming_rule_at_the_render_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("naming.yml");
    let mut text =
        std::fs::read_to_string(root.join("examples/jsonnet-incident/base/.clobbercheck.yml"))
            .unwrap();
    text.push_str(
        "naming:\n- path: \"env/{cluster}/{app}/**\"\n  kinds: [argoproj.io/Application, argoproj.io/AppProject]\n  name: \"{app}-{cluster}\"\n",
    );
    std::fs::write(&config, text).unwrap();
    let out = run(
        root,
        &[
            "check",
            "--base",
            "examples/jsonnet-incident/base",
            "--head",
            "examples/jsonnet-incident/head",
            "--config",
            config.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let report = json(&out);
    let naming: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "name-path-mismatch")
        .collect();
    let kinds: Vec<&str> = naming
        .iter()
        .map(|f| f["id"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["AppProject", "Application"], "{report}");
    for f in naming {
        assert_eq!(f["path"], "env/cluster01/app02/main.jsonnet");
        assert!(
            f["message"]
                .as_str()
                .unwrap()
                .contains("expects the name 'app02-cluster01'")
        );
    }
}
