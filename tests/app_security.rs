//! Webhooks under attack and secrets kept to least privilege (issue 6): the real
//! `clobbercheck serve` binary against the fake GitHub of `app_common`, plus a second loopback
//! server ("elsewhere") standing for every host the App must not trust.

mod app_common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app_common::*;
use axum::http::{HeaderMap, Method, Uri};
use base64::Engine;
use serde_json::{Value, json};

/// One request as "elsewhere" saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    authorization: Option<String>,
}

/// A loopback HTTP server for a host the App must never trust: records every request with its
/// Authorization header and answers 404.
struct Elsewhere {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Elsewhere {
    async fn start() -> Elsewhere {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app =
            axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
                let record = Arc::clone(&record);
                async move {
                    record.lock().unwrap().push(Seen {
                        method: method.to_string(),
                        uri: uri.to_string(),
                        authorization: headers
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(String::from),
                    });
                    (axum::http::StatusCode::NOT_FOUND, "elsewhere")
                }
            });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Elsewhere { url, seen }
    }

    /// Every request so far, as `METHOD URI Authorization`.
    fn seen(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| format!("{} {} {:?}", s.method, s.uri, s.authorization))
            .collect()
    }
}

/// Points every https URL in a payload (API, web, clone, pulls, hooks…) at `to`.
fn retarget(value: &mut Value, to: &str) {
    match value {
        Value::String(s) if s.starts_with("https://") => {
            let rest = &s["https://".len()..];
            let path = rest.find('/').map_or("", |i| &rest[i..]);
            *s = format!("{to}{path}");
        }
        Value::Array(items) => items.iter_mut().for_each(|v| retarget(v, to)),
        Value::Object(map) => map.values_mut().for_each(|v| retarget(v, to)),
        _ => {}
    }
}

/// The server's peak resident set size in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The sum of the samples of `name` carrying every one of `labels` (0 when absent).
fn metric(metrics: &str, name: &str, labels: &[&str]) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// Waits until the server log contains `needle`.
async fn wait_log(server: &Server, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !server.log().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "no '{needle}' in the log: {}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn truncated_or_malformed_bodies_are_refused_and_nothing_is_stored() {
    let w = World::new().await;
    let (base, head) = w.clean();
    let server = w.server(&[]).await;
    let payload = pr_payload("opened", &w.spec(1, &base, &head, "add-app02"));
    let body = serde_json::to_vec(&payload).unwrap();
    let cut = body[..body.len() / 2].to_vec();
    // The signature of the whole body does not cover a truncated one.
    let (status, _) = server
        .deliver_signed("pull_request", "d-1", cut.clone(), &sign(SECRET, &body))
        .await;
    assert_eq!(status, 401);
    // Signed as sent, the truncated body is authentic but not JSON: 400 saying where it ends.
    let (status, text) = server
        .deliver_signed("pull_request", "d-1", cut.clone(), &sign(SECRET, &cut))
        .await;
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("pull_request payload") && text.contains("EOF while parsing"),
        "{text}"
    );
    assert!(
        text.contains(&format!("column {}", cut.len())),
        "position named: {text}"
    );
    let malformed = br#"{"action": "opened", "number": 1,, "x": 2}"#.to_vec();
    let (status, text) = server
        .deliver_signed(
            "pull_request",
            "d-1",
            malformed.clone(),
            &sign(SECRET, &malformed),
        )
        .await;
    assert_eq!(status, 400);
    assert!(text.contains("line 1 column 34"), "{text}");
    let mut wrong = payload.clone();
    wrong["pull_request"]["base"]["sha"] = json!(["not", "a", "sha"]);
    let (status, text) = server.deliver("pull_request", "d-1", &wrong).await;
    assert_eq!(status, 400);
    assert!(text.contains("pull_request.base.sha"), "{text}");
    // A repository name that is not owner/name would end up in API paths: refused.
    let mut escape = payload.clone();
    escape["repository"]["full_name"] = json!("acme/gitops/../../../app");
    let (status, text) = server.deliver("pull_request", "d-1", &escape).await;
    assert_eq!(status, 400);
    assert!(text.contains("repository.full_name"), "{text}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        w.fake.inner().log.is_empty(),
        "a refused delivery reached GitHub"
    );
    let metrics = server.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "clobbercheck_deliveries_total",
            &["event=\"pull_request\"", "outcome=\"rejected\""]
        ),
        4,
        "signed but unreadable: {metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "clobbercheck_webhook_rejected_total",
            &["reason=\"bad_signature\""]
        ),
        1,
        "{metrics}"
    );
    // Nothing was stored: the same delivery id, whole and correctly signed, is new.
    assert_eq!(
        server.deliver("pull_request", "d-1", &payload).await,
        (202, "queued\n".into())
    );
    assert_eq!(
        w.fake.completed(&head).await.conclusion.as_deref(),
        Some("success")
    );
}

/// Posts a 200 MiB body to the webhook over a raw connection, with its length declared or
/// chunked, and returns the answer's head and how many body bytes had been sent when it came.
fn post_oversized(addr: &str, chunked: bool) -> (String, u64) {
    const TOTAL: u64 = 200 * 1024 * 1024;
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let length = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {TOTAL}")
    };
    write!(
        stream,
        "POST /webhook HTTP/1.1\r\nHost: {addr}\r\nX-GitHub-Event: pull_request\r\n\
         X-GitHub-Delivery: d-huge\r\nX-Hub-Signature-256: sha256=00\r\n\
         Content-Type: application/json\r\n{length}\r\n\r\n"
    )
    .unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&sent);
    let mut writer = stream.try_clone().unwrap();
    let writing = std::thread::spawn(move || {
        let data = vec![b' '; 1 << 20];
        let mut chunk = Vec::new();
        if chunked {
            chunk.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        }
        chunk.extend_from_slice(&data);
        if chunked {
            chunk.extend_from_slice(b"\r\n");
        }
        while counter.load(Ordering::SeqCst) < TOTAL {
            if writer.write_all(&chunk).is_err() {
                break;
            }
            counter.fetch_add(data.len() as u64, Ordering::SeqCst);
        }
    });
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no answer: {e}"),
        }
    }
    let sent_at_answer = sent.load(Ordering::SeqCst);
    let _ = stream.shutdown(Shutdown::Both);
    writing.join().unwrap();
    (String::from_utf8_lossy(&head).into_owned(), sent_at_answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oversized_body_is_answered_413_before_it_is_all_sent() {
    let w = World::new().await;
    let server = w.server(&[]).await;
    let addr = server.url.trim_start_matches("http://").to_string();
    for chunked in [false, true] {
        let to = addr.clone();
        let (head, sent) = tokio::task::spawn_blocking(move || post_oversized(&to, chunked))
            .await
            .unwrap();
        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
        let rss = peak_rss_kib(server.pid());
        println!(
            "oversized body ({}): 413 after {} MiB of 200 MiB were sent; server peak RSS {} MiB",
            if chunked {
                "chunked"
            } else {
                "declared length"
            },
            sent >> 20,
            rss >> 10
        );
        // A declared length over the limit is refused before the body is read (what was sent
        // sits in socket buffers); a chunked one as soon as it passes 25 MiB.
        let bound = if chunked { 100 << 20 } else { 25 << 20 };
        assert!(sent < bound, "answered only after {sent} bytes");
        assert!(rss < 150 * 1024, "peak RSS {rss} KiB");
    }
    assert!(w.fake.inner().log.is_empty());
    assert_eq!(
        server
            .client
            .get(format!("{}/healthz", server.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_installation_or_repository_fail_once_and_the_server_goes_on() {
    let w = World::new().await;
    let (base, head) = w.clean();
    let server = w.server(&[("CLOBBERCHECK_MAX_ATTEMPTS", "3")]).await;
    // An installation the App does not have: GitHub refuses its token with 404.
    let mut stranger = pr_payload("opened", &w.spec(2, &base, &head, "add-app02"));
    stranger["installation"] = json!({"id": 999});
    assert_eq!(
        server
            .deliver("pull_request", "d-stranger", &stranger)
            .await
            .0,
        202
    );
    // A repository the installation cannot see: 404 on the API, and git has no such repository.
    let unknown = "acme/unknown";
    for (method, suffix) in [
        ("GET", format!("/repos/{unknown}/commits/{head}/check-runs")),
        ("POST", format!("/repos/{unknown}/check-runs")),
    ] {
        let mut fault = Fault::status(method, &suffix, 404);
        fault.times = 100;
        w.fake.fault(fault);
    }
    let spec = PrSpec {
        repo: unknown,
        clone_url: w.fake.clone_url(unknown),
        ..w.spec(3, &base, &head, "add-app02")
    };
    assert_eq!(
        server
            .deliver("pull_request", "d-unknown", &pr_payload("opened", &spec))
            .await
            .0,
        202
    );
    // A repository the API knows but git does not have.
    let missing = PrSpec {
        repo: "acme/missing",
        clone_url: w.fake.clone_url("acme/missing"),
        ..w.spec(5, &base, &head, "add-app02")
    };
    assert_eq!(
        server
            .deliver("pull_request", "d-missing", &pr_payload("opened", &missing))
            .await
            .0,
        202
    );
    wait_log(&server, "installations/999/access_tokens: 404").await;
    wait_log(&server, "repos/acme/unknown").await;
    wait_log(&server, "no repository at").await;
    let missing_run = w.fake.completed(&head).await;
    assert_eq!(missing_run.repo, "acme/missing");
    assert_eq!(missing_run.conclusion.as_deref(), Some("failure"));
    assert!(
        missing_run.summary.contains("no repository at")
            && missing_run.summary.contains("acme/missing.git"),
        "{}",
        missing_run.summary
    );
    // The server goes on with other deliveries.
    let good = pr_payload("opened", &w.spec(4, &base, &head, "add-app02"));
    assert_eq!(server.deliver("pull_request", "d-good", &good).await.0, 202);
    w.fake
        .wait_for("the good PR's check run", |i| {
            i.check_runs
                .iter()
                .any(|c| c.repo == REPO && c.status == "completed")
        })
        .await;
    let good_run = w
        .fake
        .check_runs_for(&head)
        .into_iter()
        .find(|c| c.repo == REPO)
        .unwrap();
    assert_eq!(good_run.conclusion.as_deref(), Some("success"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let metrics = server.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "clobbercheck_jobs_total",
            &["kind=\"analyze\"", "outcome=\"failed\""]
        ),
        3,
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "clobbercheck_jobs_total",
            &["kind=\"analyze\"", "outcome=\"retried\""]
        ),
        0,
        "a permanent refusal is not retried: {metrics}"
    );
    assert!(
        w.fake.count("POST", "/app/installations/999/access_tokens") <= 2,
        "no endless token requests"
    );
    let log = server.log();
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("job failed")).collect();
    assert_eq!(failed.len(), 3, "{log}");
    assert!(
        failed.iter().any(|l| l.contains("installations/999")),
        "{log}"
    );
    assert!(failed.iter().any(|l| l.contains("acme/unknown")), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_deliveries_in_a_second_are_all_answered_and_coalesce() {
    const PRS: u64 = 4;
    const PER_PR: usize = 250;
    let w = World::new().await;
    let base = w.base();
    // Each PR is pushed twice: deliveries for the first head, then for the second.
    let heads: Vec<(String, String)> = (0..PRS)
        .map(|pr| {
            let branch = format!("pr{pr}");
            let first = w.clean_head(&base, &branch, &format!("pr {pr} first"));
            let second = w.clean_head(&first, &branch, &format!("pr {pr} second"));
            (first, second)
        })
        .collect();
    // The first fetches are slow, as real ones are, so the burst arrives while jobs run: the
    // deliveries of a running or queued head join its job, a newer head supersedes it.
    let mut slow = Fault::status("GET", "/info/refs", 200);
    slow.delay = Some(Duration::from_secs(5));
    slow.times = 2;
    w.fake.fault(slow);
    let server = w.server(&[]).await;
    let mut waves: Vec<Vec<(String, Vec<u8>)>> = vec![Vec::new(), Vec::new()];
    for (pr, (first, second)) in heads.iter().enumerate() {
        let number = 100 + pr as u64;
        let branch = format!("pr{pr}");
        for k in 0..PER_PR {
            let (wave, action, head) = if k < PER_PR / 2 {
                (0, "opened", first)
            } else {
                (1, "synchronize", second)
            };
            let payload = pr_payload(action, &w.spec(number, &base, head, &branch));
            waves[wave].push((
                format!("d-burst-{pr}-{k}"),
                serde_json::to_vec(&payload).unwrap(),
            ));
        }
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1000)
        .build()
        .unwrap();
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for wave in waves {
        let sends = wave.into_iter().map(|(delivery, body)| {
            let client = client.clone();
            let url = format!("{}/webhook", server.url);
            tokio::spawn(async move {
                let signature = sign(SECRET, &body);
                let sent = Instant::now();
                let status = client
                    .post(url)
                    .header("X-GitHub-Event", "pull_request")
                    .header("X-GitHub-Delivery", delivery)
                    .header("X-Hub-Signature-256", signature)
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                (status, sent.elapsed())
            })
        });
        for send in futures_join(sends.collect()).await {
            *statuses.entry(send.0).or_default() += 1;
            latencies.push(send.1);
        }
    }
    let sent_in = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "1000 deliveries sent in {:.0} ms: statuses {statuses:?}; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sent_in.as_secs_f64() * 1000.0,
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0
    );
    assert_eq!(statuses.get(&202), Some(&1000), "every delivery accepted");
    for (_, second) in &heads {
        assert_eq!(
            w.fake.completed(second).await.conclusion.as_deref(),
            Some("success")
        );
    }
    w.fake
        .wait_for("one summary comment per PR", |i| {
            i.comments.len() == PRS as usize
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let metrics = server.metrics().await;
    let done = metric(
        &metrics,
        "clobbercheck_jobs_total",
        &["kind=\"analyze\"", "outcome=\"done\""],
    );
    let superseded = metric(
        &metrics,
        "clobbercheck_jobs_total",
        &["kind=\"analyze\"", "outcome=\"superseded\""],
    );
    let queued = metric(
        &metrics,
        "clobbercheck_deliveries_total",
        &["event=\"pull_request\"", "outcome=\"queued\""],
    );
    println!(
        "coalesced: {queued} deliveries queued, {done} analyses run, {superseded} superseded; server peak RSS {} MiB",
        peak_rss_kib(server.pid()) >> 10
    );
    assert_eq!(queued, 1000, "{metrics}");
    assert!(
        sent_in < Duration::from_secs(5),
        "the burst outlasted the slow fetches"
    );
    // Analyses coalesce: at most one per head. A delivery of a head the PR has left becomes a job
    // that asks GitHub for the PR and ends `superseded` without fetching or analysing (issue 12:
    // the worker, not delivery order, decides what is current), so how many of those there are
    // depends on timing; they are reported, not bounded.
    assert!(done <= 2 * PRS, "{metrics}");
    assert!(done >= PRS, "{metrics}");
    let inner = w.fake.inner();
    for (_, second) in &heads {
        let runs: Vec<_> = inner
            .check_runs
            .iter()
            .filter(|c| &c.head_sha == second)
            .collect();
        assert_eq!(runs.len(), 1, "one check run per head");
    }
    for (first, _) in &heads {
        let runs = inner.check_runs.iter().filter(|c| &c.head_sha == first);
        assert!(runs.count() <= 1, "at most one check run per head");
    }
    assert!(inner.violations.is_empty(), "{:?}", inner.violations);
    assert!(inner.check_runs.iter().all(|c| c.status == "completed"));
}

/// Awaits every task, in order.
async fn futures_join<T: Send + 'static>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payload_pointing_elsewhere_gets_no_token_and_the_check_says_why() {
    let w = World::new().await;
    let elsewhere = Elsewhere::start().await;
    let (base, head) = w.clean();
    let server = w.server(&[]).await;
    let mut payload = pr_payload("opened", &w.spec(5, &base, &head, "add-app02"));
    retarget(&mut payload, &elsewhere.url);
    payload["repository"]["clone_url"] = json!(format!("{}/git/{REPO}.git", elsewhere.url));
    assert_eq!(
        server
            .deliver("pull_request", "d-elsewhere", &payload)
            .await
            .0,
        202
    );
    let run = w.fake.completed(&head).await;
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(run.title, "clobbercheck could not run");
    let host = elsewhere.url.trim_start_matches("http://");
    assert!(
        run.summary.contains(host) && run.summary.contains("refusing to fetch"),
        "{}",
        run.summary
    );
    assert!(
        elsewhere.seen().is_empty(),
        "elsewhere was contacted: {:?}",
        elsewhere.seen()
    );
    // Every API call of the job went to the configured API: the fake saw them all.
    assert!(w.fake.count("POST", "/repos/acme/gitops/check-runs") >= 1);
    assert_eq!(w.fake.count("GET", "/info/refs"), 0, "no fetch at all");
    // The same host on another port is another host.
    let port_moved = w
        .fake
        .url
        .rsplit_once(':')
        .map(|(h, _)| format!("{h}:{}", elsewhere.url.rsplit(':').next().unwrap()))
        .unwrap();
    let head2 = w.clean_head(&base, "other", "other port");
    let mut spec = w.spec(6, &base, &head2, "other");
    spec.clone_url = format!("{port_moved}/git/{REPO}.git");
    assert_eq!(
        server
            .deliver("pull_request", "d-port", &pr_payload("opened", &spec))
            .await
            .0,
        202
    );
    let run = w.fake.completed(&head2).await;
    assert!(run.summary.contains("refusing to fetch"), "{}", run.summary);
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
    // The trusted git server itself redirects. To another host name: not followed. To another
    // port of the same host: libgit2 follows it, but the credentials callback, which checks the
    // URL again, gives it no token.
    let redirects_seen = |i: &Inner| {
        i.log
            .iter()
            .filter(|l| l.path.ends_with("/info/refs") && l.status == 302)
            .count()
    };
    let other_host = elsewhere.url.replace("127.0.0.1", "localhost");
    for (number, target) in [(7, other_host.as_str()), (8, elsewhere.url.as_str())] {
        let before = redirects_seen(&w.fake.inner());
        w.fake.fault(Fault {
            headers: vec![(
                "location",
                format!("{target}/git/{REPO}.git/info/refs?service=git-upload-pack"),
            )],
            ..Fault::status("GET", "/info/refs", 302)
        });
        let branch = format!("redirected-{number}");
        let head = w.clean_head(&base, &branch, &branch);
        let payload = pr_payload("opened", &w.spec(number, &base, &head, &branch));
        let delivery = format!("d-redirect-{number}");
        assert_eq!(
            server.deliver("pull_request", &delivery, &payload).await.0,
            202
        );
        w.fake
            .wait_for("a fetch answered by the redirect", |i| {
                redirects_seen(i) > before
            })
            .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let seen = elsewhere.seen();
        if target == other_host {
            assert!(seen.is_empty(), "{seen:?}");
        } else {
            assert!(seen.iter().all(|r| r.ends_with(" None")), "{seen:?}");
        }
    }
    assert!(w.fake.inner().violations.is_empty());
}

/// Every file under `dir`, as bytes, with its path.
fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.push((e.path(), std::fs::read(e.path()).unwrap_or_default()));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn secret_manifest(password_b64: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\ndata:\n  password: {password_b64}\nstringData:\n  token: {token}\n"
    )
}

/// The App's key written to a file in the test folder (mode as the umask leaves it), and the
/// server environment that names it by path, as a deployment mounting a key file does.
fn key_file_env(w: &World) -> (PathBuf, Vec<(String, String)>) {
    let key = w.tmp.path().join("app.pem");
    std::fs::write(&key, &w.keys.private_pem).unwrap();
    let mut env = Server::base_env(&w.fake);
    env.extend([
        ("CLOBBERCHECK_APP_ID".to_string(), APP_ID.to_string()),
        (
            "CLOBBERCHECK_PRIVATE_KEY_PATH".to_string(),
            key.display().to_string(),
        ),
        (
            "CLOBBERCHECK_WEBHOOK_SECRET".to_string(),
            SECRET.to_string(),
        ),
    ]);
    (key, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_token_key_secret_or_jwt_in_the_trace_log_or_the_data_directory() {
    let w = World::new().await;
    let elsewhere = Elsewhere::start().await;
    let (key_path, mut env) = key_file_env(&w);
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    env.extend([
        ("CLOBBERCHECK_LOG".to_string(), "trace".to_string()),
        ("CLOBBERCHECK_MAX_ATTEMPTS".to_string(), "3".to_string()),
    ]);
    // An incident PR with findings, review and comment, whose first fetch fails and is retried.
    let (base, incident) = w.incident();
    w.fake.fault(Fault::status("GET", "/info/refs", 503));
    let server = Server::start_with(&w.data_dir, env).await;
    let payload = pr_payload("opened", &w.spec(20, &base, &incident, "app02"));
    assert_eq!(
        server
            .deliver("pull_request", "d-incident", &payload)
            .await
            .0,
        202
    );
    w.fake.completed(&incident).await;
    w.fake
        .wait_for("review and comment", |i| {
            !i.reviews.is_empty() && !i.comments.is_empty()
        })
        .await;
    // A Secret whose values change.
    let secret_base = w.repo.commit(
        Some(&base),
        "secrets",
        &[(
            "prod/db.yaml".into(),
            secret_manifest("aHVudGVyMi1vbGQ=", "plain-old-token"),
        )],
    );
    let secret_head = w.repo.commit(
        Some(&secret_base),
        "rotate",
        &[(
            "prod/db.yaml".into(),
            secret_manifest("c3dvcmRmaXNoLW5ldw==", "plain-new-token"),
        )],
    );
    let mut spec = w.spec(21, &secret_base, &secret_head, "rotate");
    spec.base_ref = "secrets";
    w.fake
        .update_pr(REPO, 21, |pr| pr.base_ref = "secrets".into());
    assert_eq!(
        server
            .deliver("pull_request", "d-secret", &pr_payload("opened", &spec))
            .await
            .0,
        202
    );
    w.fake.completed(&secret_head).await;
    // Error paths: a clone URL elsewhere, an unknown installation, a forged signature.
    let other = w.clean_head(&base, "other", "leak");
    let mut spec = w.spec(22, &base, &other, "other");
    spec.clone_url = format!("{}/git/{REPO}.git", elsewhere.url);
    assert_eq!(
        server
            .deliver("pull_request", "d-elsewhere", &pr_payload("opened", &spec))
            .await
            .0,
        202
    );
    w.fake.completed(&other).await;
    let mut stranger = pr_payload("opened", &w.spec(23, &base, &other, "other"));
    stranger["installation"] = json!({"id": 999});
    assert_eq!(
        server
            .deliver("pull_request", "d-stranger", &stranger)
            .await
            .0,
        202
    );
    wait_log(&server, "installations/999/access_tokens: 404").await;
    let body = serde_json::to_vec(&stranger).unwrap();
    let forged = sign("guess", &body);
    assert_eq!(
        server
            .deliver_signed("pull_request", "d-forged", body, &forged)
            .await
            .0,
        401
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());

    let log = server.log();
    assert!(log.contains("TRACE"), "the log is at trace level");
    assert!(
        log.contains("job will be retried"),
        "the fetch failure was retried"
    );
    let tokens: Vec<String> = w.fake.inner().tokens.iter().cloned().collect();
    assert!(!tokens.is_empty());
    let mut needles: Vec<(String, String)> = Vec::new();
    for token in &tokens {
        needles.push(("installation token".into(), token.clone()));
        needles.push((
            "token in a Basic header".into(),
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}")),
        ));
    }
    needles.push(("webhook secret".into(), SECRET.into()));
    for line in w.keys.private_pem.lines().filter(|l| l.len() >= 40) {
        needles.push(("private key line".into(), line.to_string()));
        needles.push(("private key fragment".into(), line[10..30].to_string()));
    }
    // Every RS256 JWT starts with this header, and its claims with `{"iat":`.
    let jwt_header =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#);
    needles.push(("JWT header".into(), jwt_header));
    needles.push(("JWT claims".into(), "eyJpYXQiOj".into()));
    for value in [
        "aHVudGVyMi1vbGQ=",
        "c3dvcmRmaXNoLW5ldw==",
        "hunter2-old",
        "swordfish-new",
        "plain-old-token",
        "plain-new-token",
    ] {
        needles.push(("Secret value".into(), value.into()));
    }
    let mut files = all_files(&w.data_dir);
    let names: Vec<String> = files
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n == "queue.sqlite"), "{names:?}");
    assert!(names.iter().any(|n| n == "server.log"), "{names:?}");
    files.push((PathBuf::from("server log"), log.clone().into_bytes()));
    for (path, bytes) in &files {
        for (what, needle) in &needles {
            // The repository cache holds the user's own manifests, Secrets included, by design.
            let cache = path.components().any(|c| c.as_os_str() == "repos");
            if cache && what == "Secret value" {
                continue;
            }
            assert!(
                !contains(bytes, needle.as_bytes()),
                "{what} found in {}",
                path.display()
            );
        }
    }
    println!(
        "leak grep: {} needles over {} files ({} KiB of trace log): none found",
        needles.len(),
        files.len(),
        log.len() >> 10
    );
}

fn serve_command(data_dir: &Path, env: &[(String, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clobbercheck"));
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CLOBBERCHECK_LISTEN", "127.0.0.1:0")
        .env("CLOBBERCHECK_DATA_DIR", data_dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs `serve`, which must exit by itself within 20 s; returns its status code and stderr.
fn serve_must_exit(command: &mut Command) -> (Option<i32>, String) {
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status.code(), stderr);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("serve started although it should have refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_private_key_readable_by_group_or_others_is_refused_like_ssh_does() {
    let w = World::new().await;
    let (key, env) = key_file_env(&w);
    for mode in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        let (code, stderr) = serve_must_exit(&mut serve_command(&w.data_dir, &env));
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            stderr.contains(&key.display().to_string())
                && stderr.contains(&format!("mode {mode:04o}"))
                && stderr.contains("chmod 600"),
            "{stderr}"
        );
        assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    }
    // The manifest flow's credentials file is held to the same rule.
    let other = w.tmp.path().join("setup-data");
    std::fs::create_dir_all(&other).unwrap();
    let credentials = other.join("app-credentials.json");
    std::fs::write(
        &credentials,
        serde_json::to_vec(
            &json!({"app_id": APP_ID, "private_key": w.keys.private_pem, "webhook_secret": SECRET}),
        )
        .unwrap(),
    )
    .unwrap();
    std::fs::set_permissions(&credentials, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, stderr) = serve_must_exit(&mut serve_command(&other, &Server::base_env(&w.fake)));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("app-credentials.json") && stderr.contains("mode 0644"),
        "{stderr}"
    );
    // 0600: the server starts and uses the key it read once at startup, even after the file
    // is gone.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = Server::start_with(&w.data_dir, env).await;
    std::fs::remove_file(&key).unwrap();
    let (base, head) = w.clean();
    let payload = pr_payload("opened", &w.spec(30, &base, &head, "add-app02"));
    assert_eq!(
        server.deliver("pull_request", "d-key", &payload).await.0,
        202
    );
    assert_eq!(
        w.fake.completed(&head).await.conclusion.as_deref(),
        Some("success")
    );
}

/// A running process's environment, working directory and parent, from /proc.
struct ProcView {
    environ: Vec<String>,
    cwd: PathBuf,
    cwd_entries: usize,
    cwd_mode: u32,
}

fn jsonnet_child_of(parent: u32) -> Option<ProcView> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if !contains(&cmdline, b"__render-jsonnet") {
            continue;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let ppid = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|v| v.trim().parse::<u32>().ok());
        if ppid != Some(parent) {
            continue;
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
        let cwd_entries = std::fs::read_dir(&cwd).ok()?.count();
        let cwd_mode = std::fs::metadata(&cwd).ok()?.permissions().mode() & 0o777;
        return Some(ProcView {
            environ: environ
                .split(|b| *b == 0)
                .filter(|v| !v.is_empty())
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect(),
            cwd,
            cwd_entries,
            cwd_mode,
        });
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn renderers_see_none_of_the_servers_environment_and_only_their_own_folder() {
    let w = World::new().await;
    // A `kustomize` that reports what it sees to a file, then prints one object.
    let bin = w.tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let probe = w.tmp.path().join("kustomize-probe.txt");
    let script = bin.join("kustomize");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{{ echo \"cwd=$(pwd)\"; echo \"mode=$(stat -c %a ..)\"; ls -A; echo '--env--'; env; }} > '{}'\n\
             printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: probe\\n  namespace: prod\\n'\n",
            probe.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let base_files = vec![(
        ".clobbercheck.yml".to_string(),
        "sources:\n  - kustomize: 'overlays/*'\n  - jsonnet: 'jsonnet/*/main.jsonnet'\nrender_limits: {timeout_seconds: 4}\n".to_string(),
    )];
    let base = w.repo.commit(None, "main", &base_files);
    let mut head_files = base_files.clone();
    head_files.push((
        "overlays/prod/kustomization.yaml".into(),
        "resources: [cm.yaml]\n".into(),
    ));
    head_files.push((
        "overlays/prod/cm.yaml".into(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n".into(),
    ));
    head_files.push((
        "jsonnet/slow/main.jsonnet".into(),
        "std.foldl(function(a, i) a + std.foldl(function(b, j) b + j, std.range(1, 100000), 0), std.range(1, 100000), 0)".into(),
    ));
    let head = w.repo.commit(Some(&base), "render", &head_files);
    let parent_token = "ghs_parent_environment_token_1234";
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let server = w
        .server(&[("GITHUB_TOKEN", parent_token), ("PATH", &path)])
        .await;
    let payload = pr_payload("opened", &w.spec(40, &base, &head, "render"));
    assert_eq!(
        server.deliver("pull_request", "d-render", &payload).await.0,
        202
    );
    let pid = server.pid();
    let deadline = Instant::now() + Duration::from_secs(60);
    let jsonnet = loop {
        if let Some(view) = jsonnet_child_of(pid) {
            break view;
        }
        assert!(Instant::now() < deadline, "no jsonnet child seen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let run = w.fake.completed(&head).await;
    let said = format!("{} {} {:?}", run.summary, run.text, run.annotations);
    assert!(said.contains("timed out after 4 s"), "{said}");

    let mut forbidden: Vec<String> = vec![
        "CLOBBERCHECK_WEBHOOK_SECRET".into(),
        "CLOBBERCHECK_PRIVATE_KEY".into(),
        "CLOBBERCHECK_APP_ID".into(),
        "CLOBBERCHECK_DATA_DIR".into(),
        "GITHUB_TOKEN".into(),
        parent_token.into(),
        SECRET.into(),
    ];
    forbidden.extend(
        w.keys
            .private_pem
            .lines()
            .filter(|l| l.len() >= 40)
            .map(String::from),
    );
    forbidden.extend(w.fake.inner().tokens.iter().cloned());

    // jsonnet: only the allocator switch, in an empty folder only the server's user may enter.
    assert_eq!(
        jsonnet.environ,
        vec!["CLOBBERCHECK_SYSTEM_ALLOCATOR=1".to_string()]
    );
    assert!(
        jsonnet
            .cwd
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("clobbercheck-jsonnet-"),
        "{}",
        jsonnet.cwd.display()
    );
    assert_eq!(jsonnet.cwd_entries, 0);
    assert_eq!(jsonnet.cwd_mode, 0o700);
    assert!(!jsonnet.cwd.exists(), "the folder is removed afterwards");

    // kustomize: in the exported revision, with none of the server's variables.
    let seen = std::fs::read_to_string(&probe).unwrap();
    let (listing, env) = seen.split_once("--env--").unwrap();
    let cwd = listing.lines().next().unwrap().trim_start_matches("cwd=");
    assert!(
        cwd.contains("clobbercheck-render-") && cwd.ends_with("/tree"),
        "{seen}"
    );
    assert!(listing.lines().any(|l| l == "mode=700"), "{seen}");
    assert!(listing.lines().any(|l| l == "overlays"), "{seen}");
    assert!(
        !listing.lines().any(|l| l == "jsonnet"),
        "only the target's inputs: {seen}"
    );
    assert!(!Path::new(cwd).exists(), "the export is removed afterwards");
    for value in &forbidden {
        assert!(
            !env.contains(value.as_str()),
            "{value} reached kustomize: {env}"
        );
    }
    assert!(
        env.lines().all(|l| !l.starts_with("CLOBBERCHECK_")),
        "{env}"
    );
}
