//! A broken base configuration (issue 12, item 6): `clobbercheck check` says so and stops (exit
//! status 2) for every pull request but the one that fixes the file, which is judged with its own
//! configuration and says so — so a required check cannot deadlock the repository.

mod common;

use common::*;

const BROKEN: &str = "clusterz: \"env/{cluster}/**\"\n";
const FIXED: &str = "default_namespace: web\n";

fn config_map(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: '{value}'\n")
}

fn check(repo: &GitRepo) -> std::process::Output {
    run(
        repo.path(),
        &[
            "check", "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
        ],
    )
}

fn broken_base() -> GitRepo {
    let repo = GitRepo::new();
    repo.commit_files(
        "base",
        &[
            (".clobbercheck.yml", Some(BROKEN)),
            ("a.yaml", Some(&config_map("settings", "1"))),
        ],
    );
    repo
}

#[test]
fn a_pr_that_does_not_fix_the_base_configuration_cannot_be_judged_and_is_told_why() {
    let repo = broken_base();
    repo.commit_files("head", &[("b.yaml", Some(&config_map("other", "1")))]);
    let out = check(&repo);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("the base revision's configuration is invalid"),
        "{err}"
    );
    assert!(err.contains(".clobbercheck.yml"), "{err}");
    assert!(err.contains("clusterz"), "{err}");
    // Another invalid configuration in head does not unlock it either.
    repo.commit_files("head2", &[(".clobbercheck.yml", Some("rulez: {}\n"))]);
    let out = check(&repo);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    assert!(stderr(&out).contains("clusterz"), "{}", stderr(&out));
}

#[test]
fn a_pr_that_fixes_the_base_configuration_is_judged_with_its_own_and_says_so() {
    let repo = broken_base();
    repo.commit_files(
        "head",
        &[
            (".clobbercheck.yml", Some(FIXED)),
            // Still judged: an overwrite in the fixing PR fails it.
            ("b.yaml", Some(&config_map("settings", "2"))),
        ],
    );
    let out = check(&repo);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    let notice = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "invalid-config")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(notice["severity"], "notice");
    assert_eq!(notice["path"], ".clobbercheck.yml");
    let message = notice["message"].as_str().unwrap();
    assert!(message.contains("clusterz"), "{message}");
    assert!(
        message.contains("judged with the head's configuration"),
        "{message}"
    );
    // Head's configuration is the one used: its default namespace names the objects.
    assert!(
        report["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["id"]["namespace"] == "web"),
        "{report}"
    );
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "overwrite-disguised-as-addition" && f["severity"] == "error"),
        "{report}"
    );
}

#[test]
fn removing_the_broken_file_is_a_fix_judged_with_the_defaults() {
    let repo = broken_base();
    repo.commit_files("head", &[(".clobbercheck.yml", None)]);
    let out = check(&repo);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "invalid-config" && f["severity"] == "notice"),
        "{report}"
    );
}
