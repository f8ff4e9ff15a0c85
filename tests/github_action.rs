//! `clobbercheck github-action` as a workflow runs it: the real binary in a simulated Actions
//! environment (event file, `GITHUB_*` variables, step summary and output files, a shallow
//! checkout as `actions/checkout` leaves it) against the fake GitHub and its real
//! `git http-backend`, publishing through the App's code with a workflow token.

mod app_common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use app_common::*;
use serde_json::{Value, json};

const WRITE_TOKEN: &str = "ghs_workflow_write";
const READ_TOKEN: &str = "ghs_workflow_read_only";

/// One workflow run's files and what the step left.
struct Step {
    output: Output,
    summary: String,
    outputs: String,
}

impl Step {
    fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    /// The `key=value` lines appended to `$GITHUB_OUTPUT`.
    fn out(&self, key: &str) -> String {
        self.outputs
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no output {key} in {:?}", self.outputs))
            .to_string()
    }
}

/// A shallow checkout of `main`, as `actions/checkout` makes one: the PR head is not in it.
fn shallow_checkout(w: &World, name: &str) -> PathBuf {
    let dir = w.tmp.path().join(name);
    let out = Command::new("git")
        .args(["clone", "-q", "--depth", "1", "--branch", "main"])
        .arg(format!("file://{}", w.repo.bare.display()))
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn pr_event(w: &World, number: u64, base: &str, head: &str, head_ref: &str) -> Value {
    w.fake.register_pr(REPO, number, base, head);
    w.repo.pull_ref(number, head);
    json!({
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "base": {"sha": base, "ref": "main"},
            "head": {"sha": head, "ref": head_ref},
            // What GITHUB_SHA names on pull_request: a merge commit, never to be analysed.
            "merge_commit_sha": "0123456789abcdef0123456789abcdef01234567",
        },
        "repository": {"full_name": REPO, "clone_url": w.fake.clone_url(REPO)},
    })
}

/// Runs the subcommand as a workflow step would, with only the runner's variables.
fn run_step(w: &World, name: &str, event: &str, payload: &Value, token: &str) -> Step {
    let dir = w.tmp.path().join(format!("runner-{name}"));
    let temp = dir.join("temp");
    std::fs::create_dir_all(&temp).unwrap();
    let event_path = dir.join("event.json");
    std::fs::write(&event_path, serde_json::to_vec(payload).unwrap()).unwrap();
    let summary = dir.join("step_summary.md");
    let outputs = dir.join("output.txt");
    let workspace = shallow_checkout(w, &format!("workspace-{name}"));
    let output = Command::new(env!("CARGO_BIN_EXE_clobbercheck"))
        .arg("github-action")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &dir)
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", event)
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_REPOSITORY", REPO)
        .env("GITHUB_API_URL", &w.fake.url)
        .env("GITHUB_SERVER_URL", &w.fake.url)
        .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
        .env("GITHUB_WORKSPACE", &workspace)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_RUN_ID", "4242")
        .env("CLOBBERCHECK_REVIEW_ARTIFACT", "clobbercheck-review")
        .env("GITHUB_OUTPUT", &outputs)
        .env("RUNNER_TEMP", &temp)
        .env("INPUT_TOKEN", token)
        .env("INPUT_FAIL_ON", "error")
        .current_dir(&workspace)
        .output()
        .unwrap();
    Step {
        output,
        summary: std::fs::read_to_string(&summary).unwrap_or_default(),
        outputs: std::fs::read_to_string(&outputs).unwrap_or_default(),
    }
}

/// [`run_step`] from a test's runtime, which keeps serving the fake GitHub meanwhile.
fn run_in_runtime(w: &World, name: &str, event: &str, payload: &Value, token: &str) -> Step {
    tokio::task::block_in_place(|| run_step(w, name, event, payload, token))
}

fn tokens(w: &World) {
    let mut inner = w.fake.inner();
    inner.tokens.insert(WRITE_TOKEN.into());
    inner.tokens.insert(READ_TOKEN.into());
    inner.read_only.insert(READ_TOKEN.into());
}

fn finding_keys(findings: &[Value]) -> BTreeSet<(String, u64)> {
    findings
        .iter()
        .filter(|f| f["line"].is_u64() && f["severity"] == "error")
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn incident_pr_fails_with_the_apps_check_run_review_and_comment_then_a_fix_passes() {
    let w = World::new().await;
    tokens(&w);
    let (base, head) = w.incident();
    let payload = pr_event(&w, 5, &base, &head, "app02");
    let step = run_in_runtime(&w, "incident", "pull_request", &payload, WRITE_TOKEN);
    assert_eq!(
        step.code(),
        1,
        "stdout:\n{}\nstderr:\n{}",
        step.stdout(),
        step.stderr()
    );

    // The same findings `check` reports for the PR's own base and head (not GITHUB_SHA).
    let cli = w.cli_findings(&base, &head);
    let report_path = step.out("report");
    let report: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert_eq!(report["findings"], Value::Array(cli.clone()));
    let errors: usize = step.out("errors").parse().unwrap();
    assert!(errors > 0);
    assert_eq!(
        errors,
        report["summary"]["errors"].as_u64().unwrap() as usize
    );
    step.out("warnings");

    // Published as the App publishes: a failed `clobbercheck` run with the annotations, a
    // review with inline comments, one summary comment.
    let runs = w.fake.check_runs_for(&head);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run.name, "clobbercheck");
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert!(
        run.actions.is_empty(),
        "no Acknowledge button without an App to receive it"
    );
    // The review as one page, uploaded by action.yml and linked from the run's summary.
    let page = std::fs::read_to_string(step.out("html")).unwrap();
    assert!(
        page.starts_with("<!DOCTYPE html>") || page.starts_with("<!doctype html>"),
        "{}",
        &page[..page.len().min(200)]
    );
    assert!(
        page.contains("replaces 2 existing objects"),
        "the page leads with the headline"
    );
    let link = format!("({}/{REPO}/actions/runs/4242)", w.fake.url);
    assert!(
        run.summary.starts_with("[The whole review as one page]") && run.summary.contains(&link),
        "{}",
        &run.summary[..run.summary.len().min(300)]
    );
    let annotated: BTreeSet<(String, u64)> = run
        .annotations
        .iter()
        .filter(|a| a["annotation_level"] == "failure")
        .map(|a| {
            (
                a["path"].as_str().unwrap().to_string(),
                a["start_line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(annotated, finding_keys(&cli));
    let (reviews, comments, violations) = {
        let inner = w.fake.inner();
        (
            inner.reviews.clone(),
            inner.comments.clone(),
            inner.violations.clone(),
        )
    };
    assert!(violations.is_empty(), "{violations:?}");
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].commit_id, head);
    assert!(!reviews[0].comments.is_empty(), "{:?}", reviews[0]);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.contains("<!-- clobbercheck:summary -->"));
    assert!(step.summary.contains("app01-cluster01"), "{}", step.summary);
    assert!(
        !step.stdout().contains("::error"),
        "published, so no workflow commands"
    );

    // The author fixes the name: the same PR passes and its one comment is edited in place.
    let fixed = w.clean_head(&base, "app02", "fixed");
    let payload = pr_event(&w, 5, &base, &fixed, "app02");
    let step = run_in_runtime(&w, "fixed", "pull_request", &payload, WRITE_TOKEN);
    assert_eq!(
        step.code(),
        0,
        "stdout:\n{}\nstderr:\n{}",
        step.stdout(),
        step.stderr()
    );
    assert_eq!(step.out("errors"), "0");
    let run = &w.fake.check_runs_for(&fixed)[0];
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    let inner = w.fake.inner();
    assert_eq!(inner.comments.len(), 1, "edited, not a second comment");
    assert!(inner.comment_edits >= 1);
    assert_eq!(inner.reviews.len(), 1, "no overwrite, no new review");
    assert!(inner.violations.is_empty(), "{:?}", inner.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_only_token_falls_back_to_workflow_commands_and_keeps_the_exit_status() {
    let w = World::new().await;
    tokens(&w);
    let (base, head) = w.incident();
    let payload = pr_event(&w, 6, &base, &head, "app02");
    let step = run_in_runtime(&w, "fork", "pull_request", &payload, READ_TOKEN);
    assert_eq!(
        step.code(),
        1,
        "stdout:\n{}\nstderr:\n{}",
        step.stdout(),
        step.stderr()
    );
    let stdout = step.stdout();
    let notices: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("::notice title=clobbercheck::"))
        .collect();
    assert_eq!(notices.len(), 1, "{stdout}");
    assert!(notices[0].contains("cannot write"), "{stdout}");
    let commanded: BTreeSet<(String, u64)> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("::error file="))
        .map(|rest| {
            let (path, rest) = rest.split_once(",line=").unwrap();
            let line = rest.split(',').next().unwrap().parse().unwrap();
            (path.to_string(), line)
        })
        .collect();
    assert_eq!(commanded, finding_keys(&w.cli_findings(&base, &head)));
    assert!(step.summary.contains("cannot write"), "{}", step.summary);
    assert!(step.summary.contains("app01-cluster01"), "{}", step.summary);
    let inner = w.fake.inner();
    assert!(inner.check_runs.is_empty() && inner.reviews.is_empty() && inner.comments.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_honest_pr_succeeds_and_a_push_is_checked_without_a_pull_request() {
    let w = World::new().await;
    tokens(&w);
    let (base, head) = w.clean();
    let payload = pr_event(&w, 7, &base, &head, "add-app02");
    let push = json!({"before": base, "after": head, "ref": "refs/heads/add-app02",
                      "repository": {"full_name": REPO, "clone_url": w.fake.clone_url(REPO)}});
    let pr_step = run_in_runtime(&w, "honest", "pull_request", &payload, WRITE_TOKEN);
    let push_step = run_in_runtime(&w, "push", "push", &push, WRITE_TOKEN);
    for step in [&pr_step, &push_step] {
        assert_eq!(
            step.code(),
            0,
            "stdout:\n{}\nstderr:\n{}",
            step.stdout(),
            step.stderr()
        );
        assert_eq!(step.out("errors"), "0");
        assert!(Path::new(&step.out("report")).is_file());
    }
    let runs = w.fake.check_runs_for(&head);
    assert_eq!(runs.len(), 2, "one run per event: {runs:?}");
    assert!(
        runs.iter()
            .all(|r| r.conclusion.as_deref() == Some("success"))
    );
    let inner = w.fake.inner();
    assert_eq!(
        inner.comments.len(),
        1,
        "the push has no pull request to comment on"
    );
    assert!(inner.violations.is_empty(), "{:?}", inner.violations);
}
