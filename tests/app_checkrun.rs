//! The required check never lies, never stalls and never repeats itself (issue 12): re-runs,
//! delivery order, merge queues, closed PRs and interrupted uploads, each through the real
//! `clobbercheck serve` against the fake GitHub, which refuses to move a completed check run back
//! to `in_progress` and answers `GET /pulls/{n}` with what the pull request is now.

mod app_common;

use std::time::Duration;

use app_common::*;
use serde_json::{Value, json};

/// The annotations a run should carry for `findings` (`clobbercheck check --format json`), as a
/// sorted list: a finding sent twice shows as a repeated entry, not as the same set.
fn expected_annotations(findings: &[Value]) -> Vec<(String, u64, String)> {
    let mut keys: Vec<_> = findings
        .iter()
        .filter(|f| f["line"].is_u64())
        .map(|f| {
            let level = match f["severity"].as_str().unwrap() {
                "error" => "failure",
                other => other,
            };
            (
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                level.to_string(),
            )
        })
        .collect();
    keys.sort();
    keys
}

fn annotations(run: &CheckRun) -> Vec<(String, u64, String)> {
    let mut keys: Vec<_> = run
        .annotations
        .iter()
        .map(|a| {
            (
                a["path"].as_str().unwrap().to_string(),
                a["start_line"].as_u64().unwrap(),
                a["annotation_level"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    keys.sort();
    keys
}

/// The `pull_requests[]` entry GitHub puts in check_run and check_suite payloads.
fn pr_ref(number: u64, base: &str, head: &str, head_ref: &str) -> Value {
    json!({
        "number": number,
        "head": {"ref": head_ref, "sha": head, "repo": {"id": 1}},
        "base": {"ref": "main", "sha": base, "repo": {"id": 1}},
    })
}

/// A `pull_request` delivery with the fields GitHub sends and the App reads (the webhook schema's
/// `pull_request` event), built here so these tests need nothing outside the repository.
fn pr_event(action: &str, spec: &PrSpec<'_>) -> Value {
    let side = |sha: &str, name: &str, repo: &str| json!({"sha": sha, "ref": name, "repo": {"full_name": repo, "id": 1}});
    json!({
        "action": action,
        "number": spec.number,
        "pull_request": {
            "number": spec.number,
            "state": "open",
            "head": side(spec.head_sha, spec.head_ref, spec.fork.unwrap_or(spec.repo)),
            "base": side(spec.base_sha, spec.base_ref, spec.repo),
        },
        "repository": {"full_name": spec.repo, "clone_url": spec.clone_url},
        "installation": {"id": INSTALLATION},
    })
}

fn with_repository(mut p: Value, w: &World) -> Value {
    p["repository"]["full_name"] = json!(REPO);
    p["repository"]["clone_url"] = json!(w.fake.clone_url(REPO));
    p["installation"] = json!({"id": INSTALLATION});
    p
}

/// The Re-run button on check run `run`, as GitHub sends it.
fn rerun_payload(w: &World, run: &CheckRun, pull_requests: Value) -> Value {
    let p = json!({
        "action": "rerequested",
        "check_run": {"id": run.id, "name": "clobbercheck", "head_sha": run.head_sha,
                      "external_id": run.external_id, "pull_requests": pull_requests},
        "sender": {"login": "writer"},
        "repository": {},
    });
    with_repository(p, w)
}

fn check_suite_payload(w: &World, action: &str, head: &str, pull_requests: Value) -> Value {
    let p = json!({
        "action": action,
        "check_suite": {"head_sha": head, "pull_requests": pull_requests},
        "repository": {},
    });
    with_repository(p, w)
}

/// A `merge_group` delivery: the shape of GitHub's webhook schema (octokit/webhooks
/// `merge-group-checks-requested`, `merge-group-destroyed`), refs in full.
fn merge_group_payload(w: &World, action: &str, base: &str, head: &str, head_ref: &str) -> Value {
    with_repository(
        json!({
            "action": action,
            "merge_group": {
                "head_sha": head,
                "head_ref": head_ref,
                "base_sha": base,
                "base_ref": "refs/heads/main",
                "head_commit": {"id": head, "tree_id": head, "message": "merge group",
                                "timestamp": "2026-01-01T00:00:00Z",
                                "author": {"name": "a", "email": "a@example.com"},
                                "committer": {"name": "a", "email": "a@example.com"}},
            },
            "repository": {},
            "sender": {"login": "github-merge-queue[bot]"},
        }),
        w,
    )
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
        &check_suite_payload(&w, "requested", &head, same.clone()),
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
        &check_suite_payload(&w, "requested", &head, same.clone()),
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
            check_suite_payload(&w, "rerequested", &head, same.clone()),
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
    let requested = merge_group_payload(&w, "checks_requested", &base, &head, "refs/heads/app02");
    deliver(&server, "merge_group", "d-mg-1", &requested).await;
    let dequeued = merge_group_payload(&w, "checks_requested", &base, &clean, "refs/heads/queued");
    deliver(&server, "merge_group", "d-mg-2", &dequeued).await;
    let destroyed = merge_group_payload(&w, "destroyed", &base, &clean, "refs/heads/queued");
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
