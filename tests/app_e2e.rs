//! End to end: the real `clobbercheck serve` binary against a fake GitHub that enforces the
//! platform rules and a real `git http-backend` that requires the installation token.

mod app_common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use app_common::*;
use serde_json::{Value, json};

fn annotation_keys(run: &CheckRun) -> BTreeSet<(String, u64, String)> {
    run.annotations
        .iter()
        .map(|a| {
            (
                a["path"].as_str().unwrap().to_string(),
                a["start_line"].as_u64().unwrap(),
                a["annotation_level"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn finding_keys(findings: &[Value]) -> BTreeSet<(String, u64, String)> {
    expected_annotations(findings).into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn incident_pr_fails_with_annotations_and_inline_comments_on_the_right_lines() {
    let w = World::new().await;
    let (base, head) = w.incident();
    let server = w.server(&[]).await;
    let payload = pr_payload("opened", &w.spec(1, &base, &head, "app02"));
    assert_eq!(
        server
            .deliver("pull_request", "d-incident", &payload)
            .await
            .0,
        202
    );
    let run = w.fake.completed(&head).await;
    assert_eq!(run.name, "clobbercheck");
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        server.log()
    );
    assert_eq!(run.actions.len(), 1);
    assert_eq!(run.actions[0]["identifier"], "acknowledge");
    let findings = w.cli_findings(&base, &head);
    assert!(!findings.is_empty());
    assert_eq!(annotation_keys(&run), finding_keys(&findings));
    assert!(run.title.contains("overwrite"), "{}", run.title);
    assert!(run.text.contains("```diff"), "{}", run.text);

    w.fake
        .wait_for("review and summary comment", |i| {
            !i.reviews.is_empty() && !i.comments.is_empty()
        })
        .await;
    let inner = w.fake.inner();
    assert!(inner.violations.is_empty(), "{:?}", inner.violations);
    let review = &inner.reviews[0];
    assert_eq!(review.commit_id, head);
    let inline: BTreeSet<(String, u64)> = review
        .comments
        .iter()
        .map(|c| {
            (
                c["path"].as_str().unwrap().to_string(),
                c["line"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, u64)> = findings
        .iter()
        .filter(|f| {
            ["overwrite-disguised-as-addition", "duplicate-identity"]
                .contains(&f["rule"].as_str().unwrap())
        })
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(inline, expected);
    assert_eq!(review.comments.len(), 4);
    assert!(
        inner.comments[0]
            .body
            .contains("<!-- clobbercheck:summary -->")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn old_debt_outside_the_diff_gets_no_review_and_no_422() {
    let w = World::new().await;
    // Base already holds the incident's duplicates; the PR only adds an unrelated object, so
    // the duplicates are old debt (notices) on lines the PR does not touch: no review is posted
    // on every push for them (issue 12), and nothing is commented outside the diff.
    let mut files = files_of(&root().join("examples/incident/head"));
    let base = w.repo.commit(None, "main", &files);
    files.push(("rendered/cluster01/app02.yaml".into(), APP02.into()));
    let head = w.repo.commit(Some(&base), "copy", &files);
    let server = w.server(&[]).await;
    let payload = pr_payload("opened", &w.spec(3, &base, &head, "copy"));
    assert_eq!(
        server
            .deliver("pull_request", "d-outside", &payload)
            .await
            .0,
        202
    );
    let run = w.fake.completed(&head).await;
    let duplicates: Vec<_> = run
        .annotations
        .iter()
        .filter(|a| {
            a["title"]
                .as_str()
                .unwrap()
                .starts_with("duplicate-identity")
        })
        .collect();
    assert_eq!(duplicates.len(), 2, "{:?}", run.annotations);
    assert!(duplicates.iter().all(|a| a["annotation_level"] == "notice"));
    w.fake
        .wait_for("summary comment", |i| !i.comments.is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let inner = w.fake.inner();
    assert!(inner.violations.is_empty(), "{:?}", inner.violations);
    assert!(inner.reviews.is_empty(), "notices only: no review");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clean_pr_succeeds_and_the_summary_comment_is_edited_in_place_on_push() {
    let w = World::new().await;
    let (base, head) = w.clean();
    let server = w.server(&[]).await;
    let spec = w.spec(2, &base, &head, "add-app02");
    assert_eq!(
        server
            .deliver("pull_request", "d-clean-1", &pr_payload("opened", &spec))
            .await
            .0,
        202
    );
    let run = w.fake.completed(&head).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{}",
        server.log()
    );
    assert!(run.actions.is_empty());
    w.fake
        .wait_for("summary comment", |i| i.comments.len() == 1)
        .await;

    let mut files = files_of(&root().join("examples/incident/base"));
    files.push(("rendered/cluster01/app02.yaml".into(), APP02.into()));
    files.push((
        "rendered/cluster01/app03.yaml".into(),
        APP02.replace("app02", "app03"),
    ));
    let head2 = w.repo.commit(Some(&head), "add-app02", &files);
    let spec2 = w.spec(2, &base, &head2, "add-app02");
    assert_eq!(
        server
            .deliver(
                "pull_request",
                "d-clean-2",
                &pr_payload("synchronize", &spec2)
            )
            .await
            .0,
        202
    );
    assert_eq!(
        w.fake.completed(&head2).await.conclusion.as_deref(),
        Some("success")
    );
    w.fake
        .wait_for("comment edited", |i| i.comment_edits == 1)
        .await;
    let inner = w.fake.inner();
    assert_eq!(
        inner.comments.len(),
        1,
        "one summary comment, edited in place"
    );
    assert!(inner.reviews.is_empty(), "no findings to review");
    assert!(inner.violations.is_empty(), "{:?}", inner.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn synchronize_supersedes_a_queued_job() {
    let w = World::new().await;
    let (base, head_a) = w.clean();
    let files = files_of(&root().join("examples/incident/head"));
    let head_b = w.repo.commit(Some(&base), "add-app02", &files);
    // The branch moved on; GitHub keeps each PR's head as refs/pull/<n>/head.
    w.repo.pull_ref(4, &head_a);
    w.repo.pull_ref(5, &head_b);
    // One worker, kept busy by a slow token request while both deliveries for PR 5 arrive.
    let mut slow = Fault::status("POST", "/access_tokens", 0);
    slow.delay = Some(Duration::from_secs(2));
    w.fake.fault(slow);
    let server = w.server(&[("CLOBBERCHECK_WORKERS", "1")]).await;
    let other = w.spec(4, &base, &head_a, "add-app02");
    assert_eq!(
        server
            .deliver("pull_request", "d-busy", &pr_payload("opened", &other))
            .await
            .0,
        202
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first = w.spec(5, &base, &head_a, "add-app02");
    assert_eq!(
        server
            .deliver("pull_request", "d-a", &pr_payload("opened", &first))
            .await
            .0,
        202
    );
    let second = w.spec(5, &base, &head_b, "add-app02");
    assert_eq!(
        server
            .deliver("pull_request", "d-b", &pr_payload("synchronize", &second))
            .await
            .0,
        202
    );
    let run_b = w.fake.completed(&head_b).await;
    assert_eq!(run_b.conclusion.as_deref(), Some("failure"));
    w.fake
        .wait_for("PR 5 comment", |i| i.comments.iter().any(|c| c.number == 5))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let runs_a: Vec<_> = w.fake.check_runs_for(&head_a);
    assert_eq!(runs_a.len(), 1, "only PR 4's run on head A: {runs_a:?}");
    assert!(
        runs_a[0]
            .external_id
            .as_deref()
            .is_some_and(|id| id.starts_with("pr-4:")),
        "{runs_a:?}"
    );
    assert!(
        !server.metrics().await.contains("outcome=\"failed\""),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivery_is_processed_once() {
    let w = World::new().await;
    let (base, head) = w.clean();
    let server = w.server(&[]).await;
    let payload = pr_payload("opened", &w.spec(6, &base, &head, "add-app02"));
    assert_eq!(
        server.deliver("pull_request", "d-same", &payload).await,
        (202, "queued\n".into())
    );
    w.fake.completed(&head).await;
    w.fake.wait_for("comment", |i| i.comments.len() == 1).await;
    let calls = w.fake.inner().log.len();
    assert_eq!(
        server.deliver("pull_request", "d-same", &payload).await,
        (202, "duplicate delivery\n".into())
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        w.fake.inner().log.len(),
        calls,
        "a redelivery made GitHub calls"
    );
    assert!(server.metrics().await.contains("outcome=\"duplicate\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_signature_is_refused_and_nothing_is_stored() {
    let w = World::new().await;
    let (base, head) = w.clean();
    let server = w.server(&[]).await;
    let payload = pr_payload("opened", &w.spec(7, &base, &head, "add-app02"));
    let body = serde_json::to_vec(&payload).unwrap();
    let forged = sign("not the secret", &body);
    assert_eq!(
        server
            .deliver_signed("pull_request", "d-sig", body.clone(), &forged)
            .await
            .0,
        401
    );
    assert_eq!(
        server
            .deliver_signed("pull_request", "d-sig", body.clone(), "")
            .await
            .0,
        401
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        w.fake.inner().log.is_empty(),
        "a forged delivery reached GitHub"
    );
    // Nothing was stored: the same delivery id, correctly signed, is new.
    assert_eq!(
        server.deliver("pull_request", "d-sig", &payload).await,
        (202, "queued\n".into())
    );
    w.fake.completed(&head).await;
    assert!(
        server
            .metrics()
            .await
            .contains("clobbercheck_webhook_rejected_total{reason=\"bad_signature\"}")
    );
    // Oversized bodies are refused before anything else.
    let huge = vec![b' '; 25 * 1024 * 1024 + 1];
    let signature = sign(SECRET, &huge);
    assert_eq!(
        server
            .deliver_signed("pull_request", "d-huge", huge, &signature)
            .await
            .0,
        413
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn github_answering_500_then_201_creates_one_check_run() {
    let w = World::new().await;
    let (base, head) = w.incident();
    w.fake.fault(Fault::status("POST", "/check-runs", 500));
    let server = w.server(&[]).await;
    let payload = pr_payload("opened", &w.spec(8, &base, &head, "app02"));
    assert_eq!(
        server.deliver("pull_request", "d-500", &payload).await.0,
        202
    );
    let run = w.fake.completed(&head).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(w.fake.check_runs_for(&head).len(), 1);
    assert_eq!(w.fake.count("POST", "/check-runs"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_create_whose_answer_was_lost_is_not_sent_again() {
    let w = World::new().await;
    let (base, head) = w.incident();
    let mut lost = Fault::status("POST", "/reviews", 502);
    lost.apply_first = true;
    w.fake.fault(lost);
    let server = w.server(&[]).await;
    let payload = pr_payload("opened", &w.spec(9, &base, &head, "app02"));
    assert_eq!(
        server.deliver("pull_request", "d-lost", &payload).await.0,
        202
    );
    w.fake.completed(&head).await;
    w.fake
        .wait_for("summary comment", |i| !i.comments.is_empty())
        .await;
    assert_eq!(w.fake.inner().reviews.len(), 1);
    assert_eq!(w.fake.count("POST", "/reviews"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limited_403_with_retry_after_is_waited_out() {
    let w = World::new().await;
    let (base, head) = w.incident();
    let mut limited = Fault::status("POST", "/reviews", 403);
    limited.headers = vec![("retry-after", "1".into())];
    limited.message = "You have exceeded a secondary rate limit".into();
    w.fake.fault(limited);
    let server = w.server(&[]).await;
    let payload = pr_payload("opened", &w.spec(10, &base, &head, "app02"));
    assert_eq!(
        server.deliver("pull_request", "d-403", &payload).await.0,
        202
    );
    w.fake.wait_for("review", |i| !i.reviews.is_empty()).await;
    let inner = w.fake.inner();
    let posts: Vec<_> = inner
        .log
        .iter()
        .filter(|l| l.method == "POST" && l.path.ends_with("/reviews"))
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].status, 403);
    assert!(posts[1].at.duration_since(posts[0].at) >= Duration::from_millis(950));
    assert_eq!(inner.reviews.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_mid_job_and_a_restart_completes_the_check() {
    let w = World::new().await;
    let (base, head) = w.incident();
    let mut hang = Fault::status("PATCH", "/check-runs/1", 0);
    hang.hang = true;
    w.fake.fault(hang);
    let mut server = w.server(&[]).await;
    let payload = pr_payload("opened", &w.spec(11, &base, &head, "app02"));
    assert_eq!(
        server.deliver("pull_request", "d-kill", &payload).await.0,
        202
    );
    w.fake
        .wait_for("the hanging PATCH", |i| {
            i.log.iter().any(|l| l.method == "PATCH" && l.status == 0)
        })
        .await;
    server.kill9();
    server.restart().await;
    let run = w.fake.completed(&head).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        server.log()
    );
    assert_eq!(
        w.fake.check_runs_for(&head).len(),
        1,
        "the restart reused the check run"
    );
    w.fake.wait_for("review", |i| i.reviews.len() == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fork_pr_is_fetched_from_the_pull_ref() {
    let w = World::new().await;
    let (base, head) = w.incident();
    w.repo.delete_branch("app02");
    w.repo.pull_ref(12, &head);
    let server = w.server(&[]).await;
    let mut spec = w.spec(12, &base, &head, "app02");
    spec.fork = Some("contributor/gitops");
    assert_eq!(
        server
            .deliver("pull_request", "d-fork", &pr_payload("opened", &spec))
            .await
            .0,
        202
    );
    let run = w.fake.completed(&head).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("failure"),
        "{}",
        server.log()
    );
    assert!(!run.annotations.is_empty());
    // The token never lands in the cache repository's configuration.
    let config = std::fs::read_to_string(w.data_dir.join("repos/acme+gitops.git/config")).unwrap();
    assert!(
        !config.contains("ghs_") && !config.contains("x-access-token"),
        "{config}"
    );
    assert!(!server.log().contains("ghs_test"), "a token was logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledge_by_a_writer_passes_the_check_and_by_a_reader_changes_nothing() {
    let w = World::new().await;
    let (base, head) = w.incident();
    {
        let mut inner = w.fake.inner();
        inner.permissions.insert("reader".into(), "read".into());
        inner.permissions.insert("writer".into(), "write".into());
    }
    let server = w.server(&[]).await;
    let payload = pr_payload("opened", &w.spec(13, &base, &head, "app02"));
    assert_eq!(
        server.deliver("pull_request", "d-ack", &payload).await.0,
        202
    );
    let run = w.fake.completed(&head).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    let clone_url = w.fake.clone_url(REPO);

    let by_reader = acknowledge_payload(REPO, &clone_url, &run, "reader");
    assert_eq!(
        server
            .deliver("check_run", "d-ack-reader", &by_reader)
            .await
            .0,
        202
    );
    w.fake
        .wait_for("reader permission asked", |i| {
            i.log.iter().any(|l| l.path.ends_with("/reader/permission"))
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_reader = w.fake.check_runs_for(&head).remove(0);
    assert_eq!(after_reader.conclusion.as_deref(), Some("failure"));

    let by_writer = acknowledge_payload(REPO, &clone_url, &run, "writer");
    assert_eq!(
        server
            .deliver("check_run", "d-ack-writer", &by_writer)
            .await
            .0,
        202
    );
    w.fake
        .wait_for("acknowledged", |i| {
            i.check_runs
                .iter()
                .any(|c| c.conclusion.as_deref() == Some("success"))
        })
        .await;
    let acked = w.fake.check_runs_for(&head).remove(0);
    assert!(
        acked.summary.contains("acknowledged by @writer"),
        "{}",
        acked.summary
    );
    assert!(acked.actions.is_empty());
    assert!(w.fake.inner().violations.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn setup_page_registers_the_app_through_the_manifest_flow() {
    let w = World::new().await;
    let server = Server::start_with(&w.data_dir, Server::base_env(&w.fake)).await;
    let code = std::fs::read_to_string(w.data_dir.join("setup-code")).unwrap();
    let page = server
        .client
        .post(format!("{}/", server.url))
        .form(&[("setup_code", code.trim())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(page.contains("settings/apps/new?state="), "{page}");
    assert!(page.contains("name=\"manifest\""));
    assert!(page.contains("/webhook"));
    let state = page
        .split("state=")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let (unsigned, _) = server.deliver("ping", "d-early", &json!({})).await;
    assert_eq!(unsigned, 503, "no App yet");
    let bad = server
        .client
        .get(format!("{}/setup?code=abc&state=forged", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let done = server
        .client
        .get(format!("{}/setup?code=abc123&state={state}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status().as_u16(), 200);
    assert!(done.text().await.unwrap().contains("installations/new"));
    let file = w.data_dir.join("app-credentials.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        server
            .deliver(
                "ping",
                "d-ping",
                &webhook_payload("ping.with-app_id.payload.json")
            )
            .await
            .0,
        202
    );
    let (base, head) = w.clean();
    let payload = pr_payload("opened", &w.spec(14, &base, &head, "add-app02"));
    assert_eq!(
        server
            .deliver("pull_request", "d-after-setup", &payload)
            .await
            .0,
        202
    );
    assert_eq!(
        w.fake.completed(&head).await.conclusion.as_deref(),
        Some("success")
    );
    let _ = Path::new(&file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_that_keeps_failing_gives_up_with_a_visible_check_run_failure() {
    let w = World::new().await;
    let (base, head) = w.clean();
    let mut down = Fault::status("GET", "/info/refs", 503);
    down.times = 100;
    w.fake.fault(down);
    let server = w.server(&[("CLOBBERCHECK_MAX_ATTEMPTS", "3")]).await;
    let payload = pr_payload("opened", &w.spec(15, &base, &head, "add-app02"));
    assert_eq!(
        server.deliver("pull_request", "d-down", &payload).await.0,
        202
    );
    let run = w.fake.completed(&head).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(run.title, "clobbercheck could not run");
    assert_eq!(
        w.fake.count("GET", "/info/refs"),
        3,
        "one fetch per attempt"
    );
    assert_eq!(w.fake.check_runs_for(&head).len(), 1);
    let metrics = server.metrics().await;
    assert!(metrics.contains("outcome=\"retried\"} 2"), "{metrics}");
    assert!(metrics.contains("outcome=\"failed\"} 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn re_running_the_check_for_the_same_commit_makes_a_new_run_and_no_second_review() {
    let w = World::new().await;
    let (base, head) = w.incident();
    let server = w.server(&[]).await;
    let payload = pr_payload("opened", &w.spec(16, &base, &head, "app02"));
    assert_eq!(
        server
            .deliver("pull_request", "d-rerun-1", &payload)
            .await
            .0,
        202
    );
    let run = w.fake.completed(&head).await;
    w.fake
        .wait_for("review and comment", |i| {
            i.reviews.len() == 1 && i.comments.len() == 1
        })
        .await;
    let patches = w.fake.count("PATCH", &format!("/check-runs/{}", run.id));

    let mut rerun = webhook_payload("check_run.rerequested.payload.json");
    rerun["check_run"]["id"] = json!(run.id);
    rerun["check_run"]["name"] = json!("clobbercheck");
    rerun["check_run"]["head_sha"] = json!(head);
    rerun["check_run"]["pull_requests"] = json!([{
        "number": 16,
        "head": {"ref": "app02", "sha": head, "repo": {"id": 1}},
        "base": {"ref": "main", "sha": base, "repo": {"id": 1}},
    }]);
    rerun["repository"]["full_name"] = json!(REPO);
    rerun["repository"]["clone_url"] = json!(w.fake.clone_url(REPO));
    rerun["installation"] = json!({"id": INSTALLATION});
    assert_eq!(
        server.deliver("check_run", "d-rerun-2", &rerun).await.0,
        202
    );
    w.fake
        .wait_for("the re-run's own check run to complete", |i| {
            i.check_runs.len() == 2 && i.check_runs.iter().all(|c| c.status == "completed")
        })
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        w.fake.count("PATCH", &format!("/check-runs/{}", run.id)),
        patches,
        "the completed run is left as it was"
    );
    let inner = w.fake.inner();
    assert_eq!(
        inner.reviews.len(),
        1,
        "no second review for the same commit"
    );
    assert_eq!(inner.comments.len(), 1);
    assert!(inner.violations.is_empty(), "{:?}", inner.violations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secret_values_never_reach_github() {
    let w = World::new().await;
    let secret = |password: &str, token: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\ndata:\n  password: {password}\n  user: YWRtaW4=\nstringData:\n  token: {token}\n"
        )
    };
    let base = w.repo.commit(
        None,
        "main",
        &[(
            "prod/db.yaml".into(),
            secret("aHVudGVyMg==", "plain-old-token"),
        )],
    );
    let head = w.repo.commit(
        Some(&base),
        "rotate",
        &[(
            "prod/db.yaml".into(),
            secret("c3dvcmRmaXNo", "plain-new-token"),
        )],
    );
    let server = w.server(&[]).await;
    let payload = pr_payload("opened", &w.spec(17, &base, &head, "rotate"));
    assert_eq!(
        server.deliver("pull_request", "d-secret", &payload).await.0,
        202
    );
    let run = w.fake.completed(&head).await;
    w.fake
        .wait_for("summary comment", |i| !i.comments.is_empty())
        .await;
    assert!(
        run.text.contains("Secret") && run.text.contains("password"),
        "{}",
        run.text
    );
    assert!(run.text.contains("(value hidden: new)"), "{}", run.text);
    let inner = w.fake.inner();
    let published = format!(
        "{} {} {} {:?} {:?} {:?}",
        run.title, run.summary, run.text, run.annotations, inner.reviews, inner.comments
    );
    for value in [
        "aHVudGVyMg==",
        "c3dvcmRmaXNo",
        "YWRtaW4=",
        "plain-old-token",
        "plain-new-token",
    ] {
        assert!(!published.contains(value), "{value} was published");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_delivery_is_answered_within_github_s_10_s_while_the_database_stays_locked() {
    // More deliveries wait at once than one batch stores, and a merge group's `destroyed`
    // (delivered again 3.5 s later) waits for the lock meanwhile: no delivery may add those
    // waits to its own.
    const DELIVERIES: usize = 40;
    let w = World::new().await;
    let (base, head) = w.clean();
    let server = std::sync::Arc::new(w.server(&[]).await);
    let db = server.data_dir.join("queue.sqlite");
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let lock = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(14));
        conn.execute_batch("ROLLBACK").unwrap();
    });
    locked_rx.recv().unwrap();
    let payload = pr_payload("opened", &w.spec(31, &base, &head, "add-app02"));
    let destroyed = merge_group_payload(
        &w.fake.clone_url(REPO),
        "destroyed",
        &base,
        &head,
        "refs/heads/add-app02",
    );
    let send = |event: &'static str, id: String, payload: Value, after: Duration| {
        let server = std::sync::Arc::clone(&server);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let sent = std::time::Instant::now();
            let (status, _) = server.deliver(event, &id, &payload).await;
            (id, status, sent.elapsed())
        })
    };
    let mut sends = vec![
        send(
            "merge_group",
            "d-gone-0".into(),
            destroyed.clone(),
            Duration::ZERO,
        ),
        send(
            "merge_group",
            "d-gone-1".into(),
            destroyed.clone(),
            Duration::from_millis(3500),
        ),
    ];
    sends.extend((0..DELIVERIES).map(|i| {
        send(
            "pull_request",
            format!("d-locked-{i}"),
            payload.clone(),
            Duration::from_millis(100),
        )
    }));
    let mut answers = Vec::new();
    for send in sends {
        answers.push(send.await.unwrap());
    }
    let slowest = answers.iter().map(|(_, _, took)| *took).max().unwrap();
    assert!(
        slowest < Duration::from_secs(6),
        "slowest answer {slowest:?}: {answers:?}"
    );
    assert!(
        answers.iter().all(|(_, status, _)| *status == 503),
        "{answers:?}"
    );
    lock.join().unwrap();
    // GitHub delivers each again; now each is stored, once.
    for i in 0..DELIVERIES {
        let (status, body) = server
            .deliver("pull_request", &format!("d-locked-{i}"), &payload)
            .await;
        assert_eq!(status, 202, "{body}");
    }
    w.fake.completed(&head).await;
}
