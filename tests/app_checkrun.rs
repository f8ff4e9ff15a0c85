//! The required check never lies, never stalls and never repeats itself (issue 12): re-runs,
//! delivery order, merge queues, closed PRs and interrupted uploads, each through the real
//! `clobbercheck serve` against the fake GitHub, which refuses to move a completed check run back
//! to `in_progress` and answers `GET /pulls/{n}` with what the pull request is now.

mod app_common;

use std::time::Duration;

use app_common::*;
use serde_json::{Value, json};

/// The Re-run button on check run `run`, as GitHub sends it.
fn rerun_payload(w: &World, run: &CheckRun, pull_requests: Value) -> Value {
    let p = json!({
        "action": "rerequested",
        "check_run": {"id": run.id, "name": "clobbercheck", "head_sha": run.head_sha,
                      "external_id": run.external_id, "pull_requests": pull_requests},
        "sender": {"login": "writer"},
        "repository": {},
    });
    with_repository(p, &w.fake.clone_url(REPO))
}

/// The one worker stays busy for `busy` on its first installation token, so deliveries sent
/// meanwhile wait in the queue together.
fn slow_first_token(w: &World, busy: Duration) {
    let mut slow = Fault::status("POST", "/access_tokens", 0);
    slow.delay = Some(busy);
    w.fake.fault(slow);
}

async fn deliver(server: &Server, event: &str, delivery: &str, payload: &Value) {
    let (status, body) = server.deliver(event, delivery, payload).await;
    assert_eq!(status, 202, "{delivery}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_re_analysis_gets_a_new_run_and_each_run_its_annotations_once() {
    let w = World::new().await;
    let (base, head) = w.incident();
    let expected = expected_annotations(&w.cli_findings(&base, &head));
    assert!(!expected.is_empty());
    let server = w.server(&[]).await;
    let spec = w.spec(31, &base, &head, "app02");
    // A push sends `synchronize` and the check suite's `requested`: one analysis, one run.
    deliver(
        &server,
        "pull_request",
        "d-sync",
        &pr_event("synchronize", &spec),
    )
    .await;
    let same = json!([pr_ref(31, &base, &head, "app02")]);
    deliver(
        &server,
        "check_suite",
        "d-suite",
        &check_suite_payload(&w.fake.clone_url(REPO), "requested", &head, same.clone()),
    )
    .await;
    let first = w.fake.newest_completed(&head).await;
    w.fake
        .wait_for("review and comment", |i| {
            i.reviews.len() == 1 && i.comments.len() == 1
        })
        .await;
    // The suite's delivery may come after the job ended: still the same analysis.
    deliver(
        &server,
        "check_suite",
        "d-suite-late",
        &check_suite_payload(&w.fake.clone_url(REPO), "requested", &head, same.clone()),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(w.fake.check_runs_for(&head).len(), 1);

    // Re-run twice, then `ready_for_review`: each a new run, none touching the completed ones.
    let mut newest = first;
    for (n, (event, payload)) in [
        ("check_run", rerun_payload(&w, &newest, same.clone())),
        (
            "check_suite",
            check_suite_payload(&w.fake.clone_url(REPO), "rerequested", &head, same.clone()),
        ),
        ("pull_request", pr_event("ready_for_review", &spec)),
    ]
    .into_iter()
    .enumerate()
    {
        deliver(&server, event, &format!("d-again-{n}"), &payload).await;
        w.fake
            .wait_for(&format!("run {}", n + 2), |i| {
                let runs: Vec<_> = i.check_runs.iter().filter(|c| c.head_sha == head).collect();
                runs.len() == n + 2 && runs.iter().all(|c| c.status == "completed")
            })
            .await;
        newest = w.fake.newest_completed(&head).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let runs = w.fake.check_runs_for(&head);
    assert_eq!(runs.len(), 4, "{}", server.log());
    for run in &runs {
        assert_eq!(run.status, "completed");
        assert_eq!(run.conclusion.as_deref(), Some("failure"));
        assert_eq!(annotations(run), expected, "run {}", run.id);
        assert_eq!(w.fake.inner().completions.get(&run.id), Some(&1));
    }
    assert_eq!(newest.id, runs.last().unwrap().id);
    let inner = w.fake.inner();
    assert_eq!(inner.reviews.len(), 1, "one review per head");
    assert_eq!(inner.comments.len(), 1);
    assert!(inner.violations.is_empty(), "{:?}", inner.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_delivery_of_an_older_head_never_takes_the_real_heads_check() {
    let w = World::new().await;
    let (base, head_old) = w.clean();
    let files = files_of(&root().join("examples/incident/head"));
    let head_new = w.repo.commit(Some(&base), "add-app02", &files);
    w.repo.pull_ref(32, &head_new);
    slow_first_token(&w, Duration::from_secs(2));
    let server = w.server(&[("CLOBBERCHECK_WORKERS", "1")]).await;
    let old = pr_event("synchronize", &w.spec(32, &base, &head_old, "add-app02"));
    let new = pr_event("synchronize", &w.spec(32, &base, &head_new, "add-app02"));
    // GitHub's PR now has the new head; its delivery comes first, the old one late.
    deliver(&server, "pull_request", "d-new", &new).await;
    deliver(&server, "pull_request", "d-old-late", &old).await;
    let run = w.fake.newest_completed(&head_new).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        server.log()
    );
    w.fake
        .wait_for("PR 32 comment", |i| {
            i.comments.iter().any(|c| c.number == 32)
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        w.fake.check_runs_for(&head_old).is_empty(),
        "the old head's analysis was not wanted"
    );
    let metrics = server.metrics().await;
    assert!(!metrics.contains("outcome=\"failed\""), "{metrics}");
    assert!(w.fake.inner().violations.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_base_change_of_a_queued_head_is_a_new_analysis_against_the_new_base() {
    let w = World::new().await;
    let (base, head) = w.incident();
    // `release` holds the head's objects already: against it, the PR adds nothing new.
    let mut files = files_of(&root().join("examples/incident/head"));
    files.push(("NOTES.txt".into(), "release\n".into()));
    let release = w.repo.commit(Some(&head), "release", &files);
    slow_first_token(&w, Duration::from_secs(2));
    let server = w.server(&[("CLOBBERCHECK_WORKERS", "1")]).await;
    let spec = w.spec(33, &base, &head, "app02");
    deliver(
        &server,
        "pull_request",
        "d-opened",
        &pr_event("opened", &spec),
    )
    .await;
    let mut edited = pr_event(
        "edited",
        &PrSpec {
            base_sha: &release,
            base_ref: "release",
            ..w.spec(33, &base, &head, "app02")
        },
    );
    edited["changes"] = json!({"base": {"ref": {"from": "main"}, "sha": {"from": base}}});
    w.fake.update_pr(REPO, 33, |pr| {
        pr.base_sha = release.clone();
        pr.base_ref = "release".into();
    });
    deliver(&server, "pull_request", "d-edited", &edited).await;
    let run = w.fake.newest_completed(&head).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "judged against the new base: {}",
        server.log()
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        w.fake.check_runs_for(&head).len(),
        1,
        "the old base's job ended quietly"
    );
}

/// `n` ConfigMaps in base, redefined by a file the PR adds: `n` overwrites (and as many
/// duplicates), several batches of annotations.
fn many_overwrites(w: &World, n: usize) -> (String, String) {
    let objects: String = (0..n)
        .map(|i| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: apps\ndata:\n  k: v\n"))
        .collect();
    let mut files = files_of(&root().join("examples/incident/base"));
    files.push(("rendered/cluster01/config.yaml".into(), objects.clone()));
    let base = w.repo.commit(None, "main", &files);
    files.push((
        "rendered/cluster01/copied.yaml".into(),
        objects.replace("k: v", "k: w"),
    ));
    let head = w.repo.commit(Some(&base), "copy", &files);
    (base, head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_in_the_middle_of_the_upload_resumes_after_the_last_batch_without_repeats() {
    let w = World::new().await;
    let (base, head) = many_overwrites(&w, 80);
    let expected = expected_annotations(&w.cli_findings(&base, &head));
    assert!(expected.len() > 100, "{}", expected.len());
    // The second batch is taken by GitHub, and its answer never comes: the server dies waiting.
    let mut lost = Fault::status("PATCH", "/check-runs/1", 0);
    lost.after = 1;
    lost.apply_first = true;
    lost.hang = true;
    w.fake.fault(lost);
    let mut server = w.server(&[]).await;
    let payload = pr_event("opened", &w.spec(34, &base, &head, "copy"));
    deliver(&server, "pull_request", "d-upload", &payload).await;
    w.fake
        .wait_for("the lost answer", |i| {
            i.log.iter().any(|l| l.method == "PATCH" && l.status == 0)
        })
        .await;
    server.kill9();
    server.restart().await;
    let run = w.fake.newest_completed(&head).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        server.log()
    );
    assert_eq!(
        w.fake.check_runs_for(&head).len(),
        1,
        "the restart resumed the run"
    );
    assert_eq!(annotations(&run), expected, "every annotation exactly once");
    let violations = w.fake.inner().violations.clone();
    assert!(violations.is_empty(), "{violations:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_merge_group_gets_its_check_run_and_a_destroyed_one_is_not_analysed() {
    let w = World::new().await;
    let (base, head) = w.incident();
    let clean = w.clean_head(&base, "queued", "queued");
    slow_first_token(&w, Duration::from_secs(2));
    let server = w.server(&[("CLOBBERCHECK_WORKERS", "1")]).await;
    let requested = merge_group_payload(
        &w.fake.clone_url(REPO),
        "checks_requested",
        &base,
        &head,
        "refs/heads/app02",
    );
    deliver(&server, "merge_group", "d-mg-1", &requested).await;
    let dequeued = merge_group_payload(
        &w.fake.clone_url(REPO),
        "checks_requested",
        &base,
        &clean,
        "refs/heads/queued",
    );
    deliver(&server, "merge_group", "d-mg-2", &dequeued).await;
    let destroyed = merge_group_payload(
        &w.fake.clone_url(REPO),
        "destroyed",
        &base,
        &clean,
        "refs/heads/queued",
    );
    let (status, body) = server.deliver("merge_group", "d-mg-3", &destroyed).await;
    assert_eq!((status, body.as_str()), (202, "cancelled\n"));
    let run = w.fake.newest_completed(&head).await;
    assert_eq!(run.name, "clobbercheck");
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        server.log()
    );
    assert_eq!(
        annotations(&run),
        expected_annotations(&w.cli_findings(&base, &head))
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(w.fake.check_runs_for(&clean).is_empty());
    let inner = w.fake.inner();
    assert!(
        inner.reviews.is_empty() && inner.comments.is_empty(),
        "a merge group is not a pull request"
    );
    assert!(inner.violations.is_empty(), "{:?}", inner.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_request_closed_while_queued_ends_quietly() {
    let w = World::new().await;
    let (base, head) = w.incident();
    slow_first_token(&w, Duration::from_secs(2));
    let server = w.server(&[("CLOBBERCHECK_WORKERS", "1")]).await;
    let payload = pr_event("opened", &w.spec(35, &base, &head, "app02"));
    deliver(&server, "pull_request", "d-closing", &payload).await;
    w.fake.update_pr(REPO, 35, |pr| pr.state = "closed".into());
    w.fake
        .wait_for("the PR looked up", |i| {
            i.log.iter().any(|l| l.path.ends_with("/pulls/35"))
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("kind=\"analyze\",outcome=\"superseded\""),
        "{metrics}"
    );
    let inner = w.fake.inner();
    assert!(inner.check_runs.is_empty() && inner.comments.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn output_is_bounded_and_what_does_not_fit_is_summarised_not_dropped() {
    let w = World::new().await;
    let (base, head) = many_overwrites(&w, 300);
    let findings = w.cli_findings(&base, &head);
    let located = expected_annotations(&findings);
    assert!(located.len() > 500, "{}", located.len());
    let server = w.server(&[]).await;
    let payload = pr_event("opened", &w.spec(36, &base, &head, "copy"));
    deliver(&server, "pull_request", "d-bounded", &payload).await;
    let run = w.fake.newest_completed(&head).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        server.log()
    );
    assert_eq!(run.annotations.len(), 500, "the documented cap");
    let left = located.len() - 500;
    assert!(
        run.summary
            .contains(&format!("**{left} more finding(s) are not annotated**")),
        "{}",
        &run.summary[..run.summary.len().min(2000)]
    );
    // Every finding left out is named by rule and object, with counts adding up.
    let counted: usize = run
        .summary
        .lines()
        .filter(|l| l.starts_with("- `") && l.contains("`: "))
        .filter_map(|l| l.rsplit(": ").next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(counted, left);
    let patches = w.fake.count("PATCH", &format!("/check-runs/{}", run.id));
    assert_eq!(patches, 10, "500 annotations in batches of 50");
    w.fake.wait_for("review", |i| i.reviews.len() == 1).await;
    let inner = w.fake.inner();
    assert!(inner.reviews[0].comments.len() <= MAX_REVIEW_COMMENTS);
    assert!(
        inner.reviews[0].body.contains("beyond the 50 comments"),
        "{}",
        &inner.reviews[0].body[..500]
    );
    assert!(inner.violations.is_empty(), "{:?}", inner.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strangers_cannot_add_series_to_metrics_or_break_the_page() {
    let w = World::new().await;
    let server = w.server(&[]).await;
    for i in 0..300 {
        let event = format!("pull_request\",outcome=\"queued{i}\"}} 1 # {{");
        let (status, _) = server
            .deliver_signed(
                &event,
                &format!("d-forged-{i}"),
                b"{}".to_vec(),
                "sha256=00",
            )
            .await;
        assert_eq!(status, 401);
    }
    // Signed deliveries of events the App does not know count as one `other` series.
    for i in 0..20 {
        let (status, _) = server
            .deliver(
                &format!("new_event_{i}\""),
                &format!("d-other-{i}"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 202);
    }
    let page = server.metrics().await;
    for line in page
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(
            matches!(
                prometheus_parse::LineInfo::parse(line),
                prometheus_parse::LineInfo::Sample { .. }
            ),
            "not a sample: {line}"
        );
    }
    let scrape = prometheus_parse::Scrape::parse(page.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |metric: &str, label: &str, wanted: &str| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == metric && s.labels.get(label) == Some(wanted))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    assert_eq!(
        value(
            "clobbercheck_webhook_rejected_total",
            "reason",
            "bad_signature"
        ),
        300.0,
        "{page}"
    );
    assert_eq!(
        value("clobbercheck_deliveries_total", "event", "other"),
        20.0
    );
    let series = scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric.starts_with("clobbercheck_deliveries")
                || s.metric.starts_with("clobbercheck_webhook")
        })
        .count();
    assert!(series <= 2, "{page}");
    assert!(
        !page.contains("queued0") && !page.contains("new_event"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fork_pr_is_re_run_from_what_its_check_run_recorded() {
    let w = World::new().await;
    let (base, head) = w.incident();
    w.repo.delete_branch("app02");
    w.repo.pull_ref(37, &head);
    let server = w.server(&[]).await;
    let mut spec = w.spec(37, &base, &head, "app02");
    spec.fork = Some("contributor/gitops");
    w.fake
        .update_pr(REPO, 37, |pr| pr.head_repo = "contributor/gitops".into());
    deliver(
        &server,
        "pull_request",
        "d-fork",
        &pr_event("opened", &spec),
    )
    .await;
    let first = w.fake.newest_completed(&head).await;
    assert_eq!(
        first.conclusion.as_deref(),
        Some("failure"),
        "{}",
        server.log()
    );
    // GitHub lists no pull request in a fork's check_run payload.
    let rerun = rerun_payload(&w, &first, json!([]));
    deliver(&server, "check_run", "d-fork-rerun", &rerun).await;
    w.fake
        .wait_for("the re-run's run", |i| {
            let runs: Vec<_> = i.check_runs.iter().filter(|c| c.head_sha == head).collect();
            runs.len() == 2 && runs.iter().all(|c| c.status == "completed")
        })
        .await;
    let newest = w.fake.newest_completed(&head).await;
    assert_ne!(newest.id, first.id);
    assert_eq!(
        newest.conclusion.as_deref(),
        Some("failure"),
        "{}",
        server.log()
    );
    assert_eq!(annotations(&newest), annotations(&first));
    let inner = w.fake.inner();
    assert_eq!(inner.reviews.len(), 1);
    assert!(inner.violations.is_empty(), "{:?}", inner.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_the_running_job_takes_no_new_one_and_the_next_start_resumes() {
    let w = World::new().await;
    let (base, head) = w.incident();
    let other = w.clean_head(&base, "other", "other");
    slow_first_token(&w, Duration::from_secs(2));
    let mut server = w
        .server(&[
            ("CLOBBERCHECK_WORKERS", "1"),
            ("CLOBBERCHECK_SHUTDOWN_GRACE_MS", "20000"),
        ])
        .await;
    deliver(
        &server,
        "pull_request",
        "d-running",
        &pr_event("opened", &w.spec(38, &base, &head, "app02")),
    )
    .await;
    deliver(
        &server,
        "pull_request",
        "d-waiting",
        &pr_event("opened", &w.spec(39, &base, &other, "other")),
    )
    .await;
    w.fake
        .wait_for("the first job holding the worker", |i| {
            i.log.iter().any(|l| l.path.ends_with("/access_tokens"))
                || i.faults.iter().all(|f| f.times == 0)
        })
        .await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = server.exited() {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "{exit:?}: {}", server.log());
    let run = w.fake.newest_completed(&head).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "the running job finished"
    );
    assert!(
        w.fake.check_runs_for(&other).is_empty(),
        "no new job after SIGTERM"
    );
    server.restart().await;
    let resumed = w.fake.newest_completed(&other).await;
    assert_eq!(
        resumed.conclusion.as_deref(),
        Some("success"),
        "{}",
        server.log()
    );
    assert_eq!(w.fake.check_runs_for(&head).len(), 1);
    assert!(w.fake.inner().violations.is_empty());
}

/// The error findings' `(rule, object)` of `clobbercheck check` on the two commits.
fn errors(findings: &[Value]) -> Vec<(String, String)> {
    let mut errors: Vec<_> = findings
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| (f["rule"].to_string(), f["id"].to_string()))
        .collect();
    errors.sort();
    errors.dedup();
    errors
}

/// The incident's head on `branch` plus `extra` files.
fn incident_head_with(w: &World, from: &str, branch: &str, extra: &[(&str, &str)]) -> String {
    let mut files = files_of(&root().join("examples/incident/head"));
    files.extend(extra.iter().map(|(p, c)| (p.to_string(), c.to_string())));
    w.repo.commit(Some(from), branch, &files)
}

const DUPLICATED: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: twice
  namespace: app02
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: twice
  namespace: app02
";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_acknowledgement_holds_for_later_heads_and_merge_groups_until_a_new_error() {
    let w = World::new().await;
    let (base, head) = w.incident();
    w.fake
        .inner()
        .permissions
        .insert("writer".into(), "write".into());
    let server = w.server(&[]).await;
    let spec = w.spec(41, &base, &head, "app02");
    deliver(
        &server,
        "pull_request",
        "d-draft",
        &pr_event("opened", &spec),
    )
    .await;
    let draft_run = w.fake.newest_completed(&head).await;
    assert_eq!(draft_run.conclusion.as_deref(), Some("failure"));
    let click = acknowledge_payload(REPO, &w.fake.clone_url(REPO), &draft_run, "writer");
    deliver(&server, "check_run", "d-click", &click).await;
    w.fake
        .wait_for("the clicked run acknowledged", |i| {
            i.check_runs
                .iter()
                .any(|c| c.id == draft_run.id && c.conclusion.as_deref() == Some("success"))
        })
        .await;

    // Ready for review, no code change: a new run, and the acknowledgement holds.
    deliver(
        &server,
        "pull_request",
        "d-ready",
        &pr_event("ready_for_review", &spec),
    )
    .await;
    w.fake
        .wait_for("the ready_for_review run", |i| {
            let runs: Vec<_> = i.check_runs.iter().filter(|c| c.head_sha == head).collect();
            runs.len() == 2 && runs.iter().all(|c| c.status == "completed")
        })
        .await;
    let ready = w.fake.newest_completed(&head).await;
    assert_ne!(ready.id, draft_run.id);
    assert_eq!(
        ready.conclusion.as_deref(),
        Some("success"),
        "{}",
        server.log()
    );
    assert_eq!(ready.title, "Acknowledged by @writer");
    assert!(
        ready.summary.starts_with("acknowledged by @writer"),
        "{}",
        ready.summary
    );
    assert!(ready.actions.is_empty());
    // The findings are still shown: acknowledging hides nothing.
    assert_eq!(
        annotations(&ready),
        expected_annotations(&w.cli_findings(&base, &head))
    );

    // A new push with the same error findings (elsewhere in the tree): still acknowledged.
    let same = incident_head_with(&w, &head, "app02", &[("notes.md", "a note\n")]);
    assert_eq!(
        errors(&w.cli_findings(&base, &same)),
        errors(&w.cli_findings(&base, &head))
    );
    let spec_same = w.spec(41, &base, &same, "app02");
    deliver(
        &server,
        "pull_request",
        "d-push-same",
        &pr_event("synchronize", &spec_same),
    )
    .await;
    let same_run = w.fake.newest_completed(&same).await;
    assert_eq!(same_run.conclusion.as_deref(), Some("success"));
    assert_eq!(same_run.title, "Acknowledged by @writer");

    // A merge group holding the PR (named by its temporary branch) passes on the same grounds.
    let branch = format!("gh-readonly-queue/main/pr-41-{same}");
    let group = incident_head_with(&w, &same, &branch, &[("notes.md", "a note\n")]);
    let requested = merge_group_payload(
        &w.fake.clone_url(REPO),
        "checks_requested",
        &base,
        &group,
        &format!("refs/heads/{branch}"),
    );
    deliver(&server, "merge_group", "d-group", &requested).await;
    let group_run = w.fake.newest_completed(&group).await;
    assert_eq!(
        group_run.conclusion.as_deref(),
        Some("success"),
        "{}",
        server.log()
    );
    assert_eq!(group_run.title, "Acknowledged by @writer");
    // A merge group of another pull request with the same findings is not acknowledged by it.
    let branch = "gh-readonly-queue/main/pr-99-0123abc";
    let other = incident_head_with(&w, &head, branch, &[]);
    let requested = merge_group_payload(
        &w.fake.clone_url(REPO),
        "checks_requested",
        &base,
        &other,
        &format!("refs/heads/{branch}"),
    );
    deliver(&server, "merge_group", "d-group-other", &requested).await;
    let other_run = w.fake.newest_completed(&other).await;
    assert_eq!(other_run.conclusion.as_deref(), Some("failure"));

    // A new push with a new error finding: a new acknowledgement is needed.
    let worse = incident_head_with(
        &w,
        &same,
        "app02",
        &[("rendered/cluster01/twice.yaml", DUPLICATED)],
    );
    let worse_errors = errors(&w.cli_findings(&base, &worse));
    assert!(worse_errors.len() > errors(&w.cli_findings(&base, &head)).len());
    let spec_worse = w.spec(41, &base, &worse, "app02");
    deliver(
        &server,
        "pull_request",
        "d-push-worse",
        &pr_event("synchronize", &spec_worse),
    )
    .await;
    let worse_run = w.fake.newest_completed(&worse).await;
    assert_eq!(
        worse_run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        server.log()
    );
    assert_eq!(worse_run.actions.len(), 1, "the button asks again");
    let inner = w.fake.inner();
    assert!(inner.violations.is_empty(), "{:?}", inner.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broken_base_configuration_fails_every_pr_but_the_one_fixing_it() {
    let w = World::new().await;
    let mut files = files_of(&root().join("examples/incident/base"));
    files.push((".clobbercheck.yml".into(), "clusterz: x\n".into()));
    let base = w.repo.commit(None, "main", &files);
    let mut other = files_of(&root().join("examples/incident/head"));
    other.push((".clobbercheck.yml".into(), "clusterz: x\n".into()));
    let other = w.repo.commit(Some(&base), "other", &other);
    let mut fixing = files_of(&root().join("examples/incident/head"));
    fixing.push((
        ".clobbercheck.yml".into(),
        "default_namespace: argocd\n".into(),
    ));
    let fixing = w.repo.commit(Some(&base), "fix-config", &fixing);
    let server = w.server(&[]).await;
    deliver(
        &server,
        "pull_request",
        "d-other",
        &pr_event("opened", &w.spec(51, &base, &other, "other")),
    )
    .await;
    deliver(
        &server,
        "pull_request",
        "d-fixing",
        &pr_event("opened", &w.spec(52, &base, &fixing, "fix-config")),
    )
    .await;
    let stuck = w.fake.newest_completed(&other).await;
    assert_eq!(stuck.conclusion.as_deref(), Some("failure"));
    assert!(
        stuck
            .title
            .contains("Invalid configuration .clobbercheck.yml"),
        "{}",
        stuck.title
    );
    assert!(stuck.summary.contains("clusterz"), "{}", stuck.summary);
    let fixed = w.fake.newest_completed(&fixing).await;
    // Judged, with the fixing PR's configuration: the incident's overwrite still fails it.
    assert!(
        !fixed.title.contains("could not run"),
        "{}: {}",
        fixed.title,
        server.log()
    );
    assert_eq!(fixed.conclusion.as_deref(), Some("failure"));
    assert!(
        fixed
            .summary
            .contains("judged with the head's configuration"),
        "{}",
        fixed.summary
    );
    assert_eq!(
        annotations(&fixed),
        expected_annotations(&w.cli_findings(&base, &fixing))
    );
    let inner = w.fake.inner();
    assert!(inner.violations.is_empty(), "{:?}", inner.violations);
}
