//! Faults end to end (issues 6 and 12): the real `clobbercheck serve` binary receives a stream
//! of pull request deliveries — with late deliveries of older heads, re-runs, the `check_suite`
//! of the same push, duplicate deliveries and merge groups (some destroyed at once) — while
//! everything that goes wrong in production goes wrong at once: GitHub answering 5xx on 30 % of
//! calls (half of them after acting), 429 and secondary rate limit 403 with `retry-after`,
//! connections cut mid-answer, the git server down for 30 s, the data directory's disk full, the
//! queue database locked by another process, `kill -9` at random points with a restart after
//! each, and SIGTERMs (drain, exit 0, restart).
//!
//! Required, per head sha: every check run ends `completed`, and is completed once (the fake
//! counts the completing PATCHes it applied); the newest run carries the conclusion the head
//! deserves; each run's annotations are exactly its findings (below the cap), never repeated;
//! no head gets a second review (a merge group none); a PR's current head and every merge group
//! not destroyed get a run; no more runs than analyses asked for. Per pull request: one summary
//! comment, a review only for an incident. The server never exits on its own. Scale with
//! `CLOBBERCHECK_SOAK_DELIVERIES` (pull requests, default 80), replay with
//! `CLOBBERCHECK_SOAK_SEED`. The data directory is a small tmpfs, mounted here (root) or inside
//! `unshare -Urm` (anyone else).

mod app_common;
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use app_common::*;
use tokio::sync::Mutex;

const SOAK: &str = "soak_every_check_completes_once_under_every_fault";
/// Set in the re-executed test when it runs in its own user and mount namespace.
const IN_NAMESPACE: &str = "CLOBBERCHECK_SOAK_IN_NAMESPACE";
/// Room of the data directory's filesystem.
const TMPFS_SIZE: &str = "64m";
/// Between two deliveries.
const DELIVERY_GAP: Duration = Duration::from_millis(500);
const SHORT_LOCK: Duration = Duration::from_secs(3);
/// Longer than the server's wait for a locked database: webhooks must get 503, not hang.
const LONG_LOCK: Duration = Duration::from_secs(13);
const DISK_FULL: Duration = Duration::from_secs(6);
/// GitHub gives up on a delivery not answered within this.
const GITHUB_TIMEOUT: Duration = Duration::from_secs(10);
/// A SIGTERM'd server drains for `CLOBBERCHECK_SHUTDOWN_GRACE_MS` (3 s here), then exits.
const TERM_WITHIN: Duration = Duration::from_secs(10);

/// What the storage is going through, to tag the webhook answers seen meanwhile.
const NORMAL: u8 = 0;
const DISK_IS_FULL: u8 = 1;
const DATABASE_LOCKED: u8 = 2;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_SIZE}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the filesystem of `dir` to the last byte; returns the file holding it and its size.
fn fill(dir: &Path) -> (PathBuf, u64) {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let mut written = 0u64;
    for chunk in [1 << 20, 4096, 512, 1] {
        let block = vec![0u8; chunk];
        while file.write_all(&block).is_ok() {
            written += chunk as u64;
        }
    }
    let _ = file.sync_all();
    (path, written)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_every_check_completes_once_under_every_fault() {
    if !is_root() && std::env::var_os(IN_NAMESPACE).is_none() {
        // Mounting a tmpfs needs root: run this test again as root of its own namespaces.
        let probe = Command::new("unshare").args(["-Urm", "true"]).output();
        match probe {
            Ok(o) if o.status.success() => {}
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                    Err(e) => e.to_string(),
                };
                common::skip(
                    SOAK,
                    &format!(
                        "not root, and `unshare -Urm` is not allowed here ({why}); the soak needs a tmpfs it can fill"
                    ),
                );
                return;
            }
        }
        let status = Command::new("unshare")
            .args(["-Urm", "--"])
            .arg(std::env::current_exe().unwrap())
            .args([SOAK, "--exact", "--nocapture"])
            .env(IN_NAMESPACE, "1")
            .status()
            .unwrap();
        assert!(status.success(), "the soak failed inside unshare -Urm");
        return;
    }
    soak().await;
}

/// A pull request whose right conclusion is known, and what GitHub sends about it.
struct Pr {
    number: u64,
    /// The PR's current head: the commit that must get a check run with the verdict.
    head: String,
    incident: bool,
    deliveries: Vec<Delivery>,
}

/// One delivery, sent `after` the PR's turn.
struct Delivery {
    event: &'static str,
    id: String,
    payload: serde_json::Value,
    after: Duration,
}

/// What one head sha must show when everything settled.
struct Expect {
    incident: bool,
    /// It must have a check run (a PR's current head, a merge group not destroyed); an older
    /// head delivered late, or a destroyed group, may have none.
    required: bool,
    /// Runs it may have: one per analysis asked for (a re-run is a new one).
    max_runs: usize,
    /// The pull request whose head it is, or that the merge group holds.
    pr: u64,
    merge_group: bool,
}

/// Webhook answers seen by the deliverer ("GitHub"), by storage condition and answer.
#[derive(Default)]
struct Answers {
    by: BTreeMap<(&'static str, String), usize>,
    slowest: Duration,
    /// What the slowest answer was, and while what.
    slowest_was: String,
    /// The pull request of the slowest answer, for its log lines.
    slowest_pr: u64,
    /// The first error of each kind, when no answer came.
    errors: BTreeMap<&'static str, String>,
}

async fn soak() {
    let started = Instant::now();
    // Pull requests; each brings one to four deliveries.
    let deliveries: usize = env_or("CLOBBERCHECK_SOAK_DELIVERIES", 80);
    let seed: u64 = env_or(
        "CLOBBERCHECK_SOAK_SEED",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    let git_outage = Duration::from_secs(env_or("CLOBBERCHECK_SOAK_GIT_OUTAGE_SECS", 30));
    println!(
        "fault soak: seed {seed} (CLOBBERCHECK_SOAK_SEED={seed} replays it), {deliveries} deliveries"
    );
    let mut rng = Rng::new(seed);

    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let _tmpfs = Tmpfs::mount(&data_dir).unwrap_or_else(|why| {
        panic!(
            "cannot mount a tmpfs on {} to fill the data directory: {why} (run as root, or where `unshare -Urm` is allowed)",
            data_dir.display()
        )
    });
    let git_root = tmp.path().join("git");
    std::fs::create_dir_all(&git_root).unwrap();
    let keys = keypair();
    let fake = Fake::start(&keys, &git_root).await;
    fake.inner().chaos = Some(Chaos::new(rng.next_u64(), 0.30, 0.02));
    let api = Cutter::start(&fake.url, 0.25, rng.next_u64()).await;
    let git = Cutter::start(&fake.url, 0.05, rng.next_u64()).await;
    let clone_url = format!("{}/git/{REPO}.git", git.url);

    // The pull requests: every third one copies an existing app (an overwrite disguised as an
    // addition: failure, with a review), the others add a new app (success, no review). Besides
    // `opened`, GitHub sends what real repositories see every day: a late delivery of an older
    // head after the push that replaced it, a re-run (`ready_for_review`), the `check_suite` of
    // the same push (one analysis, one run), and merge groups (`checks_requested`, sometimes
    // `destroyed` at once). Heads of one kind differ only by a file no rule reads, so one
    // `clobbercheck check` per kind gives the annotations every run of that kind must carry.
    let repo = Repo::new(tmp.path(), &git_root, REPO);
    let base_files = files_of(&root().join("examples/incident/base"));
    let incident_files = files_of(&root().join("examples/incident/head"));
    let mut clean_files = base_files.clone();
    clean_files.push(("rendered/cluster01/app02.yaml".into(), APP02.into()));
    let base = repo.commit(None, "main", &base_files);
    let with_note = |files: &[(String, String)], note: &str| {
        let mut files = files.to_vec();
        files.push((format!("notes/{note}.md"), format!("{note}\n")));
        files
    };
    let mut expect: BTreeMap<String, Expect> = BTreeMap::new();
    let mut shapes = BTreeMap::<&str, usize>::new();
    let prs: Vec<Pr> = (0..deliveries as u64)
        .map(|i| {
            let number = 1000 + i;
            let incident = i % 3 == 0;
            let branch = format!("pr-{number}");
            let files = if incident {
                &incident_files
            } else {
                &clean_files
            };
            // A `pull_request` delivery for `head`: from GitHub's own payload fixture, or built
            // from the schema's fields (`pr_event`).
            let pr_delivery = |action: &str, head: &str, fixture: bool| {
                let spec = PrSpec {
                    repo: REPO,
                    clone_url: clone_url.clone(),
                    number,
                    base_sha: &base,
                    base_ref: "main",
                    head_sha: head,
                    head_ref: &branch,
                    fork: None,
                };
                if fixture {
                    pr_payload(action, &spec)
                } else {
                    pr_event(action, &spec)
                }
            };
            let mut deliveries = Vec::new();
            let mut send = |event: &'static str, payload: serde_json::Value, after_ms: u64| {
                deliveries.push(Delivery {
                    event,
                    id: format!("soak-{number}-{}", deliveries.len()),
                    payload,
                    after: Duration::from_millis(after_ms),
                });
            };
            let out_of_order = i % 5 == 1;
            let head = if out_of_order {
                // The push of `head` replaced `older`; the older commit's delivery comes last.
                *shapes.entry("late delivery of an older head").or_default() += 1;
                let older = repo.commit(
                    Some(&base),
                    &branch,
                    &with_note(files, &format!("{number}-old")),
                );
                let head = repo.commit(
                    Some(&older),
                    &branch,
                    &with_note(files, &format!("{number}")),
                );
                send("pull_request", pr_delivery("synchronize", &head, false), 0);
                send("pull_request", pr_delivery("opened", &older, true), 150);
                expect.insert(
                    older,
                    Expect {
                        incident,
                        required: false,
                        max_runs: 1,
                        pr: number,
                        merge_group: false,
                    },
                );
                head
            } else {
                let head = repo.commit(
                    Some(&base),
                    &branch,
                    &with_note(files, &format!("{number}")),
                );
                send("pull_request", pr_delivery("opened", &head, true), 0);
                head
            };
            let mut max_runs = 1;
            if i % 4 == 2 {
                *shapes.entry("re-run (ready_for_review)").or_default() += 1;
                send(
                    "pull_request",
                    pr_delivery("ready_for_review", &head, true),
                    2500,
                );
                max_runs += 1;
            }
            if i % 6 == 3 {
                *shapes.entry("check_suite of the same push").or_default() += 1;
                let same = serde_json::json!([pr_ref(number, &base, &head, &branch)]);
                send(
                    "check_suite",
                    check_suite_payload(&clone_url, "requested", &head, same),
                    100,
                );
            }
            if i % 8 == 4 {
                let group_branch = format!("gh-readonly-queue/main/pr-{number}-{head}");
                let group = repo.commit(
                    Some(&head),
                    &group_branch,
                    &with_note(files, &format!("{number}")),
                );
                let head_ref = format!("refs/heads/{group_branch}");
                send(
                    "merge_group",
                    merge_group_payload(&clone_url, "checks_requested", &base, &group, &head_ref),
                    1000,
                );
                let destroyed = i % 16 == 12;
                if destroyed {
                    *shapes.entry("merge group, destroyed at once").or_default() += 1;
                    send(
                        "merge_group",
                        merge_group_payload(&clone_url, "destroyed", &base, &group, &head_ref),
                        1050,
                    );
                } else {
                    *shapes.entry("merge group").or_default() += 1;
                }
                expect.insert(
                    group,
                    Expect {
                        incident,
                        required: !destroyed,
                        max_runs: 1,
                        pr: number,
                        merge_group: true,
                    },
                );
            }
            fake.register_pr(REPO, number, &base, &head);
            fake.update_pr(REPO, number, |pr| pr.head_ref = branch.clone());
            expect.insert(
                head.clone(),
                Expect {
                    incident,
                    required: true,
                    max_runs,
                    pr: number,
                    merge_group: false,
                },
            );
            Pr {
                number,
                head,
                incident,
                deliveries,
            }
        })
        .collect();
    // Every head of a kind has the same findings, so each run of that kind the same annotations.
    let sample = |incident: bool| {
        let pr = prs.iter().find(|pr| pr.incident == incident).unwrap();
        expected_annotations(&cli_findings_in(&repo.work, &base, &pr.head))
    };
    let expected_annotations_of = [sample(false), sample(true)];
    assert!(!expected_annotations_of[1].is_empty());
    let prepared = started.elapsed();

    let server = Server::start(
        &fake,
        &keys,
        &data_dir,
        &[
            ("CLOBBERCHECK_GITHUB_API_URL", api.url.as_str()),
            // Git goes through its own cutting proxy: that is the host trusted with the token.
            ("CLOBBERCHECK_GIT_URL", git.url.as_str()),
            ("CLOBBERCHECK_LOG", "clobbercheck=info"),
            ("NO_COLOR", "1"),
            // A job may spend 6 attempts on the git outage (1+2+4+8+16 s), a few more on
            // kills that land while it runs and on GitHub failing every try of a call.
            ("CLOBBERCHECK_RETRY_MS", "1000"),
            ("CLOBBERCHECK_MAX_ATTEMPTS", "16"),
            // SIGTERM drains for at most this long, so a terminated server is back soon.
            ("CLOBBERCHECK_SHUTDOWN_GRACE_MS", "3000"),
        ],
    )
    .await;
    let server = Arc::new(Mutex::new(server));
    let condition = Arc::new(AtomicU8::new(NORMAL));
    let answers = Arc::new(std::sync::Mutex::new(Answers::default()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(40))
        .build()
        .unwrap();

    // The schedule: deliveries one every DELIVERY_GAP; the git outage, the two database locks
    // and the full disk at fixed fractions of that stretch; kills at random times (a kill that
    // falls in a storage fault waits for its end: a server that cannot open its database at
    // start exits, as it should, and that is not what is measured here).
    let spread = DELIVERY_GAP * deliveries as u32;
    let kills = (deliveries / 7).max(3);
    let mut events: Vec<(Duration, Event)> = vec![
        (spread / 10, Event::GitDown),
        (spread * 3 / 10, Event::Lock(SHORT_LOCK)),
        (spread / 2, Event::DiskFull),
        (spread * 3 / 4, Event::Lock(LONG_LOCK)),
    ];
    for _ in 0..kills {
        let at = Duration::from_millis(
            1000 + rng.below((spread + Duration::from_secs(15)).as_millis() as u64),
        );
        events.push((at, Event::Kill(Duration::from_millis(rng.below(800)))));
    }
    let terms = (deliveries / 25).max(2);
    for _ in 0..terms {
        let at = Duration::from_millis(1000 + rng.below(spread.as_millis() as u64));
        events.push((at, Event::Term(Duration::from_millis(rng.below(800)))));
    }
    events.sort_by_key(|(at, _)| *at);

    let t0 = Instant::now();
    let director = {
        let server = Arc::clone(&server);
        let condition = Arc::clone(&condition);
        let data_dir = data_dir.clone();
        let git_down = git_outage;
        let git = Arc::new(git);
        let git_for_director = Arc::clone(&git);
        let handle = tokio::spawn(async move {
            let mut log = Figures::default();
            for (at, event) in events {
                tokio::time::sleep_until((t0 + at).into()).await;
                match event {
                    Event::GitDown => git_for_director.down_for(git_down),
                    Event::Kill(down) => {
                        {
                            let mut s = server.lock().await;
                            if let Some(status) = s.exited() {
                                log.exited.push(format!("{status}: {}", tail(&s.log())));
                            }
                            s.kill9();
                        }
                        log.kills += 1;
                        tokio::time::sleep(down).await;
                        server.lock().await.restart().await;
                    }
                    Event::Term(down) => {
                        let exit = {
                            let mut s = server.lock().await;
                            if let Some(status) = s.exited() {
                                log.exited.push(format!("{status}: {}", tail(&s.log())));
                            }
                            s.terminate(TERM_WITHIN).await
                        };
                        match exit {
                            Some(status) if status.success() => log.terms += 1,
                            other => log.bad_terms.push(format!("{other:?}")),
                        }
                        tokio::time::sleep(down).await;
                        server.lock().await.restart().await;
                    }
                    Event::Lock(hold) => {
                        condition.store(DATABASE_LOCKED, Ordering::SeqCst);
                        let db = data_dir.join("queue.sqlite");
                        tokio::task::spawn_blocking(move || {
                            let conn = rusqlite::Connection::open(&db).unwrap();
                            conn.busy_timeout(Duration::from_secs(30)).unwrap();
                            conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
                            std::thread::sleep(hold);
                            conn.execute_batch("ROLLBACK").unwrap();
                        })
                        .await
                        .unwrap();
                        condition.store(NORMAL, Ordering::SeqCst);
                        log.locked.push(hold);
                    }
                    Event::DiskFull => {
                        let (filler, bytes) = tokio::task::spawn_blocking({
                            let dir = data_dir.clone();
                            move || fill(&dir)
                        })
                        .await
                        .unwrap();
                        condition.store(DISK_IS_FULL, Ordering::SeqCst);
                        tokio::time::sleep(DISK_FULL).await;
                        std::fs::remove_file(&filler).unwrap();
                        condition.store(NORMAL, Ordering::SeqCst);
                        log.filled = bytes;
                        // Deliveries sent in the last moment are answered before any kill.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            log
        });
        (handle, git)
    };

    // "GitHub": sends each delivery at its time and, as a redelivery would, again with the same
    // X-GitHub-Delivery until it is answered 2xx; one in ten is redelivered once more after
    // its 202 (it must be processed once).
    let mut senders = Vec::new();
    let mut sent_on_purpose = 0;
    for (i, pr) in prs.iter().enumerate() {
        for delivery in &pr.deliveries {
            let body = serde_json::to_vec(&delivery.payload).unwrap();
            let signature = sign(SECRET, &body);
            let (id, event, number) = (delivery.id.clone(), delivery.event, pr.number);
            let (server, condition, answers, client) = (
                Arc::clone(&server),
                Arc::clone(&condition),
                Arc::clone(&answers),
                client.clone(),
            );
            let extra = rng.below(10) == 0;
            sent_on_purpose += 1 + usize::from(extra);
            let at = DELIVERY_GAP * i as u32 + delivery.after;
            senders.push(tokio::spawn(async move {
                tokio::time::sleep_until((t0 + at).into()).await;
                let mut sends = if extra { 2 } else { 1 };
                while sends > 0 {
                    let url = server.lock().await.url.clone();
                    let during = match condition.load(Ordering::SeqCst) {
                        DISK_IS_FULL => "disk full",
                        DATABASE_LOCKED => "database locked",
                        _ => "normal",
                    };
                    let sent = Instant::now();
                    let answer = client
                        .post(format!("{url}/webhook"))
                        .header("X-GitHub-Event", event)
                        .header("X-GitHub-Delivery", &id)
                        .header("X-Hub-Signature-256", &signature)
                        .header("Content-Type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    let took = sent.elapsed();
                    let (status, ok) = match &answer {
                        Ok(r) => (r.status().as_u16().to_string(), r.status().is_success()),
                        Err(_) => ("no answer".to_string(), false),
                    };
                    {
                        let mut a = answers.lock().unwrap();
                        *a.by.entry((during, status)).or_default() += 1;
                        match &answer {
                            Ok(r) if took > a.slowest => {
                                a.slowest = took;
                                a.slowest_pr = number;
                                a.slowest_was = format!(
                                    "{} while {during}, {id} sent at {:?}",
                                    r.status(),
                                    sent.duration_since(t0)
                                );
                            }
                            Ok(_) => {}
                            Err(e) => {
                                let mut text = e.to_string();
                                let mut source = std::error::Error::source(e);
                                while let Some(inner) = source {
                                    text = format!("{text}: {inner}");
                                    source = inner.source();
                                }
                                a.errors.entry(during).or_insert(text);
                            }
                        }
                    }
                    if ok {
                        sends -= 1;
                    } else {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                }
            }));
        }
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let (director, git) = director;
    let figures = director.await.unwrap();
    let delivered = t0.elapsed();

    // Everything settles: every check run completed, every comment and review posted, and the
    // queue empty.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut idle_since = Instant::now();
    loop {
        let missing: Vec<u64> = {
            let inner = fake.inner();
            let mut missing: Vec<u64> = expect
                .iter()
                .filter(|(sha, e)| {
                    let runs = inner.check_runs.iter().filter(|c| &c.head_sha == *sha);
                    (e.required && runs.clone().count() == 0)
                        || runs.clone().any(|c| c.status != "completed")
                })
                .map(|(_, e)| e.pr)
                .collect();
            missing.extend(
                prs.iter()
                    .filter(|pr| {
                        let commented = inner.comments.iter().any(|c| c.number == pr.number);
                        let reviewed = inner.reviews.iter().any(|r| r.number == pr.number);
                        !(commented && reviewed == pr.incident)
                    })
                    .map(|pr| pr.number),
            );
            missing.sort();
            missing.dedup();
            missing
        };
        let depth = {
            let s = server.lock().await;
            let metrics = s.metrics().await;
            metrics
                .lines()
                .find_map(|l| l.strip_prefix("clobbercheck_queue_depth "))
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if missing.is_empty() && depth == Some(0) {
            break;
        }
        if depth != Some(0) {
            idle_since = Instant::now();
        }
        if Instant::now() > deadline || idle_since.elapsed() > Duration::from_secs(15) {
            let s = server.lock().await;
            panic!(
                "not settled: PRs {missing:?} incomplete, queue depth {depth:?}\n{}",
                keep_log(seed, &s.log(), &missing)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let settled = t0.elapsed();
    // Anything still to come (a duplicate would be late) has a moment to arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut s = server.lock().await;
    let exited_at_end = s.exited();
    let log = s.log();
    let inner = fake.inner();
    let mut success = 0;
    let mut failure = 0;
    let mut most_completions = 0;
    let mut problems = Vec::new();
    let mut runs_total = 0;
    let mut superseded_heads = 0;
    for (sha, e) in &expect {
        let runs: Vec<&CheckRun> = inner
            .check_runs
            .iter()
            .filter(|c| &c.head_sha == sha && c.name == "clobbercheck")
            .collect();
        runs_total += runs.len();
        let what = if e.merge_group { "merge group" } else { "head" };
        let pr = e.pr;
        if runs.is_empty() {
            if e.required {
                problems.push(format!("PR {pr}: no check run on {what} {sha}"));
            } else {
                superseded_heads += 1;
            }
        }
        if runs.len() > e.max_runs {
            problems.push(format!(
                "PR {pr}: {} check runs on {what} {sha}, {} analyses asked for",
                runs.len(),
                e.max_runs
            ));
        }
        let expected_annotations = &expected_annotations_of[usize::from(e.incident)];
        for run in &runs {
            if run.status != "completed" {
                problems.push(format!("PR {pr}: check run {} left {}", run.id, run.status));
            }
            if run.title.contains("could not run") {
                problems.push(format!("PR {pr}: {}: {}", run.title, run.summary));
            }
            let completions = inner.completions.get(&run.id).copied().unwrap_or(0);
            most_completions = most_completions.max(completions);
            if completions != 1 {
                problems.push(format!(
                    "PR {pr}: check run {} completed {completions} times",
                    run.id
                ));
            }
            if &annotations(run) != expected_annotations {
                problems.push(format!(
                    "PR {pr}: check run {} on {what} {sha} has {} annotations, its findings {}",
                    run.id,
                    run.annotations.len(),
                    expected_annotations.len()
                ));
            }
        }
        // The newest run is the one branch protection reads: it carries the verdict.
        if let Some(newest) = runs.last() {
            let expected = if e.incident { "failure" } else { "success" };
            match newest.conclusion.as_deref() {
                Some(c) if c == expected && c == "success" => success += 1,
                Some(c) if c == expected => failure += 1,
                other => problems.push(format!(
                    "PR {pr}: newest check run {} on {what} {sha} concluded {other:?}, expected {expected}: {}",
                    newest.id, newest.title
                )),
            }
        }
        let reviews = inner.reviews.iter().filter(|r| &r.commit_id == sha).count();
        if reviews > usize::from(!e.merge_group) {
            problems.push(format!("PR {pr}: {reviews} reviews on {what} {sha}"));
        }
    }
    for pr in &prs {
        let reviews = inner
            .reviews
            .iter()
            .filter(|r| r.number == pr.number)
            .count();
        let comments = inner
            .comments
            .iter()
            .filter(|c| c.number == pr.number)
            .count();
        if reviews != usize::from(pr.incident) {
            problems.push(format!("PR {}: {reviews} reviews", pr.number));
        }
        if comments != 1 {
            problems.push(format!("PR {}: {comments} summary comments", pr.number));
        }
    }
    let duplicate_reviews = prs
        .iter()
        .map(|pr| {
            inner
                .reviews
                .iter()
                .filter(|r| r.number == pr.number)
                .count()
                .saturating_sub(1)
        })
        .sum::<usize>();
    let duplicate_comments = prs
        .iter()
        .map(|pr| {
            inner
                .comments
                .iter()
                .filter(|c| c.number == pr.number)
                .count()
                .saturating_sub(1)
        })
        .sum::<usize>();
    let answers = answers.lock().unwrap();
    let chaos = inner.chaos.as_ref().unwrap();
    let injected: Vec<String> = chaos
        .injected
        .iter()
        .map(|(kind, n)| format!("{kind}: {n}"))
        .collect();
    let non_2xx: Vec<String> = answers
        .by
        .iter()
        .filter(|((_, status), _)| !status.starts_with('2'))
        .map(|((during, status), n)| format!("{status} while {during}: {n}"))
        .collect();
    let api_calls = inner
        .log
        .iter()
        .filter(|l| !l.path.starts_with("/git/"))
        .count();
    println!(
        "\
fault soak results (seed {seed})
pull requests: {deliveries} ({failure_expected} incident-style, {clean} clean); {sent} deliveries, {redelivered} of them redelivered after 202 on purpose
  besides `opened`: {shapes}
faults injected: of {api_calls} GitHub API calls: {injected}
  connections cut mid-answer: {api_cuts} (API), {git_cuts} (git)
  git server down for {outage} s: {refused} connections reset
  data directory full ({filled} bytes written to fill it) for {disk} s
  queue database locked by another process for {locked:?}
  kill -9 at random points: {kills}, restarts: {kills}; SIGTERM: {terms} drained and exited 0 ({bad_terms:?} did not)
webhook answers other than 2xx (each delivered again until 2xx): {non_2xx}
  first delivery errors: {errors:?}
slowest webhook answer: {slowest:?} ({slowest_was})
heads judged: {completed} of {heads} (PR heads and merge groups; {superseded_heads} older or destroyed ones without a run), newest run success {success}, failure {failure}; {runs_total} check runs, all completed; most completing PATCHes on one check run: {most_completions}
duplicates: reviews {duplicate_reviews}, summary comments {duplicate_comments}; server exits on its own: {exits}
GitHub rule violations: {violations}
wall time: {total:.1} s (setup {prepared:.1} s, deliveries over {delivered:.1} s, all settled at {settled:.1} s)",
        failure_expected = prs.iter().filter(|p| p.incident).count(),
        clean = prs.iter().filter(|p| !p.incident).count(),
        sent = sent_on_purpose,
        redelivered = answers.by.iter().filter(|((_, s), _)| s.starts_with('2')).map(|(_, n)| n).sum::<usize>() - prs.iter().map(|p| p.deliveries.len()).sum::<usize>(),
        shapes = shapes.iter().map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join(", "),
        terms = figures.terms,
        bad_terms = figures.bad_terms,
        heads = expect.len(),
        injected = injected.join(", "),
        api_cuts = api.cuts(),
        git_cuts = git.cuts(),
        outage = git_outage.as_secs(),
        refused = git.refused(),
        filled = figures.filled,
        disk = DISK_FULL.as_secs(),
        locked = figures.locked,
        kills = figures.kills,
        non_2xx = non_2xx.join(", "),
        slowest = answers.slowest,
        slowest_was = answers.slowest_was,
        errors = answers.errors,
        completed = success + failure,
        exits = figures.exited.len() + usize::from(exited_at_end.is_some()),
        violations = inner.violations.len(),
        total = started.elapsed().as_secs_f64(),
        prepared = prepared.as_secs_f64(),
        delivered = delivered.as_secs_f64(),
        settled = settled.as_secs_f64(),
    );
    let numbers: Vec<u64> = prs
        .iter()
        .filter(|pr| {
            problems
                .iter()
                .any(|p| p.starts_with(&format!("PR {}:", pr.number)))
        })
        .map(|pr| pr.number)
        .collect();
    assert!(
        problems.is_empty(),
        "{} problems:\n{}\n{}",
        problems.len(),
        problems.join("\n"),
        keep_log(seed, &log, &numbers)
    );
    assert!(
        figures.exited.is_empty() && exited_at_end.is_none(),
        "the server exited on its own: {:?} {exited_at_end:?}",
        figures.exited
    );
    assert!(inner.violations.is_empty(), "{:?}", inner.violations);
    assert_eq!(duplicate_reviews + duplicate_comments, 0);
    assert!(
        answers.slowest < GITHUB_TIMEOUT,
        "a webhook was answered after {:?} ({}), past GitHub's 10 s\n{}",
        answers.slowest,
        answers.slowest_was,
        keep_log(seed, &log, &[answers.slowest_pr])
    );
    assert!(!log.contains("panicked"), "{}", tail(&log));
    // Nothing was killed meanwhile: a webhook not answered at all means the route died (it did
    // when a log line could not be written to the full disk).
    let unanswered_while_full = answers
        .by
        .get(&("disk full", "no answer".to_string()))
        .copied()
        .unwrap_or(0);
    assert_eq!(
        unanswered_while_full, 0,
        "deliveries got no answer while the disk was full: {:?}",
        answers.errors
    );
    assert!(
        chaos.injected.values().sum::<usize>() > 0
            && api.cuts() + git.cuts() > 0
            && git.refused() > 0,
        "faults were injected"
    );
    assert_eq!(figures.kills, kills);
    assert!(
        figures.bad_terms.is_empty() && figures.terms == terms,
        "SIGTERM did not drain and exit 0: {:?}",
        figures.bad_terms
    );
}

enum Event {
    GitDown,
    /// SIGTERM, then start again after this long.
    Term(Duration),
    Lock(Duration),
    DiskFull,
    /// Kill, then restart after this long.
    Kill(Duration),
}

#[derive(Default)]
struct Figures {
    kills: usize,
    /// SIGTERMs after which the server drained and exited 0.
    terms: usize,
    /// SIGTERMs after which it did not (how it ended, if it did).
    bad_terms: Vec<String>,
    locked: Vec<Duration>,
    filled: u64,
    /// Exits the server made on its own, seen before a kill.
    exited: Vec<String>,
}

/// Keeps the server log of a failed soak and returns its lines about `prs`, for the message.
fn keep_log(seed: u64, log: &str, prs: &[u64]) -> String {
    let kept = std::env::temp_dir().join(format!("clobbercheck-soak-{seed}.log"));
    let _ = std::fs::write(&kept, log);
    let about: Vec<&str> = log
        .lines()
        .filter(|l| {
            prs.iter().any(|n| {
                l.contains(&format!("soak-{n}"))
                    || l.contains(&format!("pr={n}"))
                    || l.contains(&format!("/{n}/"))
            })
        })
        .collect();
    format!(
        "server log kept in {}; its lines about these pull requests:\n{}",
        kept.display(),
        about.join("\n")
    )
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}
