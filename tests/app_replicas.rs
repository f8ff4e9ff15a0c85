//! Several replicas on one PostgreSQL (issue 14): three real `clobbercheck serve` processes share
//! a throwaway PostgreSQL server (`tests/common/postgres.rs`) behind a round-robin TCP proxy
//! made here, while "GitHub" sends two deliveries per pull request (`opened`, and the
//! `synchronize` of the same head, one analysis) plus redeliveries, the fake GitHub answers 5xx
//! and rate limits at random, a replica is `kill -9`ed every few seconds and restarted, and
//! PostgreSQL itself is stopped (as a crash: `-m immediate`) and started again once mid-run.
//!
//! Required, per head sha: exactly one completed check run with the conclusion its pull request
//! deserves, at most one review and one summary comment; no job lost (every job ends `done` or
//! merged); every delivery answered 2xx within GitHub's 10 s on some attempt (a slower or failed
//! answer is redelivered, as an operator would). Scale with `CLOBBERCHECK_REPLICAS_PRS` (default
//! 150, so 300 deliveries), replay with `CLOBBERCHECK_REPLICAS_SEED`.

mod app_common;
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use app_common::*;
use common::postgres::PgServer;
use tokio::sync::Mutex;

const TEST: &str = "replicas_share_one_queue_through_kills_and_a_database_restart";
const REPLICAS: usize = 3;
/// GitHub gives up on a delivery not answered within this.
const GITHUB_TIMEOUT: Duration = Duration::from_secs(10);
/// Between two pull requests' first deliveries.
const DELIVERY_GAP: Duration = Duration::from_millis(250);
/// Between two kills of a replica.
const KILL_EVERY: Duration = Duration::from_secs(4);
/// How long PostgreSQL stays down when it is restarted.
const DATABASE_DOWN: Duration = Duration::from_secs(3);
/// The lease of the test's replicas: a killed replica's job is taken over this soon.
const LEASE_MS: &str = "3000";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A round-robin TCP proxy in front of the replicas: each connection goes to the next replica
/// that accepts it (a replica being restarted refuses and the next one is tried).
struct Proxy {
    url: String,
    upstreams: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Proxy {
    async fn start(upstreams: Vec<String>) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstreams = Arc::new(std::sync::Mutex::new(upstreams));
        let table = Arc::clone(&upstreams);
        tokio::spawn(async move {
            let next = AtomicUsize::new(0);
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let addrs = table.lock().unwrap().clone();
                let first = next.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    for i in 0..addrs.len() {
                        let addr = &addrs[(first + i) % addrs.len()];
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(addr).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                    }
                });
            }
        });
        Proxy { url, upstreams }
    }

    fn set(&self, replica: usize, url: &str) {
        self.upstreams.lock().unwrap()[replica] = url.trim_start_matches("http://").to_string();
    }
}

struct Pr {
    number: u64,
    head: String,
    incident: bool,
    opened: serde_json::Value,
    synchronize: serde_json::Value,
}

/// What "GitHub" saw of its deliveries.
#[derive(Default)]
struct Answers {
    by_status: BTreeMap<String, usize>,
    /// Deliveries that got 2xx within 10 s on some attempt.
    accepted: usize,
    attempts: usize,
    slowest_accepted: Duration,
    latencies: Vec<Duration>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_one_queue_through_kills_and_a_database_restart() {
    let Some(pg) = PgServer::start(TEST) else {
        return;
    };
    let started = Instant::now();
    let prs_wanted: u64 = env_or("CLOBBERCHECK_REPLICAS_PRS", 150);
    let seed: u64 = env_or(
        "CLOBBERCHECK_REPLICAS_SEED",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    println!(
        "replica soak: seed {seed} (CLOBBERCHECK_REPLICAS_SEED={seed} replays it), {prs_wanted} pull requests, {} deliveries",
        prs_wanted * 2
    );
    let mut rng = Rng::new(seed);
    let url = tokio::task::block_in_place(|| pg.database("clobbercheck"));

    let world = World::new().await;
    world.fake.inner().chaos = Some(Chaos::new(rng.next_u64(), 0.10, 0.02));
    let base = world.base();
    let incident_files = files_of(&root().join("examples/incident/head"));
    let prs: Vec<Pr> = (0..prs_wanted)
        .map(|i| {
            let number = 2000 + i;
            let incident = i % 3 == 0;
            let branch = format!("pr-{number}");
            let head = if incident {
                world.repo.commit(Some(&base), &branch, &incident_files)
            } else {
                world.clean_head(&base, &branch, &branch)
            };
            let spec = world.spec(number, &base, &head, &branch);
            Pr {
                number,
                incident,
                opened: pr_payload("opened", &spec),
                synchronize: pr_payload("synchronize", &spec),
                head,
            }
        })
        .collect();
    let prepared = started.elapsed();

    let env = [
        ("CLOBBERCHECK_DATABASE_URL", url.as_str()),
        ("CLOBBERCHECK_LEASE_MS", LEASE_MS),
        ("CLOBBERCHECK_LOG", "clobbercheck=info"),
        ("CLOBBERCHECK_RETRY_MS", "500"),
        ("CLOBBERCHECK_MAX_ATTEMPTS", "16"),
        ("NO_COLOR", "1"),
    ];
    let mut servers = Vec::new();
    for n in 0..REPLICAS {
        let dir = world.tmp.path().join(format!("replica{n}"));
        servers.push(Server::start(&world.fake, &world.keys, &dir, &env).await);
    }
    let proxy = Arc::new(
        Proxy::start(
            servers
                .iter()
                .map(|s| s.url.trim_start_matches("http://").to_string())
                .collect(),
        )
        .await,
    );
    let servers: Vec<Arc<Mutex<Server>>> = servers
        .into_iter()
        .map(|s| Arc::new(Mutex::new(s)))
        .collect();

    // Deliveries: each PR's `opened`, then its `synchronize` a moment later (another delivery
    // id, the same analysis); one in ten sent again after its 2xx, as a manual redelivery.
    let t0 = Instant::now();
    let answers = Arc::new(std::sync::Mutex::new(Answers::default()));
    let client = reqwest::Client::builder()
        .timeout(GITHUB_TIMEOUT)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut senders = Vec::new();
    for (i, pr) in prs.iter().enumerate() {
        for (k, (action, payload)) in [("opened", &pr.opened), ("synchronize", &pr.synchronize)]
            .into_iter()
            .enumerate()
        {
            let body = serde_json::to_vec(payload).unwrap();
            let signature = sign(SECRET, &body);
            let delivery = format!("replicas-{}-{action}", pr.number);
            let (answers, client, target) =
                (Arc::clone(&answers), client.clone(), proxy.url.clone());
            let again = rng.below(10) == 0;
            let at = DELIVERY_GAP * i as u32 + Duration::from_millis(700 * k as u64);
            senders.push(tokio::spawn(async move {
                tokio::time::sleep_until((t0 + at).into()).await;
                let mut sends = if again { 2 } else { 1 };
                let first = Instant::now();
                let mut accepted = false;
                while sends > 0 {
                    let sent = Instant::now();
                    let answer = client
                        .post(format!("{target}/webhook"))
                        .header("X-GitHub-Event", "pull_request")
                        .header("X-GitHub-Delivery", &delivery)
                        .header("X-Hub-Signature-256", &signature)
                        .header("Content-Type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    let took = sent.elapsed();
                    let status = match &answer {
                        Ok(r) => r.status().as_u16().to_string(),
                        Err(e) if e.is_timeout() => "no answer within 10 s".into(),
                        Err(_) => "connection failed".into(),
                    };
                    let ok = answer.is_ok_and(|r| r.status().is_success());
                    {
                        let mut a = answers.lock().unwrap();
                        a.attempts += 1;
                        *a.by_status.entry(status).or_default() += 1;
                        if ok {
                            if !accepted {
                                accepted = true;
                                a.accepted += 1;
                                a.latencies.push(first.elapsed());
                            }
                            a.slowest_accepted = a.slowest_accepted.max(took);
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
    let spread = DELIVERY_GAP * prs.len() as u32 + Duration::from_secs(1);

    // The director: a replica killed every few seconds (restarted after up to 0.8 s), and
    // PostgreSQL down once, 40 % into the deliveries.
    let director = {
        let servers = servers.clone();
        let proxy = Arc::clone(&proxy);
        let mut rng = Rng::new(rng.next_u64());
        tokio::spawn(async move {
            let mut kills = 0;
            let mut next = t0 + KILL_EVERY;
            while next < t0 + spread + Duration::from_secs(5) {
                tokio::time::sleep_until(next.into()).await;
                let n = rng.below(REPLICAS as u64) as usize;
                let mut s = servers[n].lock().await;
                s.kill9();
                kills += 1;
                tokio::time::sleep(Duration::from_millis(rng.below(800))).await;
                s.restart().await;
                proxy.set(n, &s.url);
                next += KILL_EVERY;
            }
            kills
        })
    };
    tokio::time::sleep_until((t0 + spread * 2 / 5).into()).await;
    let down = Instant::now();
    tokio::task::block_in_place(|| pg.stop());
    tokio::time::sleep(DATABASE_DOWN).await;
    tokio::task::block_in_place(|| pg.start_again());
    let database_down = down.elapsed();
    for sender in senders {
        sender.await.unwrap();
    }
    let kills = director.await.unwrap();
    let delivered = t0.elapsed();

    // Settle: every PR has its completed run and its comment, and no job waits or runs.
    let mut db =
        tokio::task::block_in_place(|| postgres::Client::connect(&url, postgres::NoTls)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let missing: Vec<u64> = {
            let inner = world.fake.inner();
            prs.iter()
                .filter(|pr| {
                    let completed = inner
                        .check_runs
                        .iter()
                        .any(|c| c.head_sha == pr.head && c.status == "completed");
                    let commented = inner.comments.iter().any(|c| c.number == pr.number);
                    !(completed && commented)
                })
                .map(|pr| pr.number)
                .collect()
        };
        let open: i64 = tokio::task::block_in_place(|| {
            db.query_one(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')",
                &[],
            )
        })
        .unwrap()
        .get(0);
        if missing.is_empty() && open == 0 {
            break;
        }
        if Instant::now() > deadline {
            let mut logs = String::new();
            for s in &servers {
                let s = s.lock().await;
                logs.push_str(&tail(&s.log()));
            }
            panic!("not settled: PRs {missing:?} incomplete, {open} jobs open\n{logs}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let settled = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;

    let states: BTreeMap<String, i64> = tokio::task::block_in_place(|| {
        db.query("SELECT state, COUNT(*) FROM jobs GROUP BY state", &[])
    })
    .unwrap()
    .iter()
    .map(|row| (row.get(0), row.get(1)))
    .collect();
    let takeovers: i64 = tokio::task::block_in_place(|| {
        db.query_one("SELECT COUNT(*) FROM jobs WHERE attempts > 1", &[])
    })
    .unwrap()
    .get(0);
    // The blocking client runs its own runtime, so it must also be dropped off this one.
    tokio::task::block_in_place(|| drop(db));
    let inner = world.fake.inner();
    let mut problems = Vec::new();
    let (mut success, mut failure, mut runs_total) = (0, 0, 0);
    for pr in &prs {
        let runs: Vec<&CheckRun> = inner
            .check_runs
            .iter()
            .filter(|c| c.head_sha == pr.head && c.name == "clobbercheck")
            .collect();
        runs_total += runs.len();
        let expected = if pr.incident { "failure" } else { "success" };
        let completed: Vec<&&CheckRun> = runs.iter().filter(|c| c.status == "completed").collect();
        match completed.as_slice() {
            [run] if run.conclusion.as_deref() == Some(expected) => {
                if pr.incident {
                    failure += 1;
                } else {
                    success += 1;
                }
                let completions = inner.completions.get(&run.id).copied().unwrap_or(0);
                if completions != 1 {
                    problems.push(format!(
                        "PR {}: check run {} completed {completions} times",
                        pr.number, run.id
                    ));
                }
            }
            other => problems.push(format!(
                "PR {}: completed runs {:?}, expected one {expected}",
                pr.number,
                other
                    .iter()
                    .map(|r| (r.id, r.conclusion.clone(), r.title.clone()))
                    .collect::<Vec<_>>()
            )),
        }
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
        if reviews > 1 || reviews != usize::from(pr.incident) {
            problems.push(format!("PR {}: {reviews} reviews", pr.number));
        }
        if comments != 1 {
            problems.push(format!("PR {}: {comments} summary comments", pr.number));
        }
    }
    let answers = answers.lock().unwrap();
    let mut latencies = answers.latencies.clone();
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or_default()
    };
    let chaos = inner.chaos.as_ref().unwrap();
    println!(
        "\
replica soak results (seed {seed})
replicas: {REPLICAS} on one PostgreSQL, lease {LEASE_MS} ms, behind a round-robin proxy
deliveries: {deliveries} distinct ({prs} PRs x opened + synchronize), {attempts} webhook requests in all
webhook answers: {by_status:?}
  accepted within 10 s: {accepted}/{deliveries}; slowest accepted answer {slowest:?}; first send to 2xx p50 {p50:?}, p99 {p99:?}, max {max:?}
faults: GitHub API {injected:?}; replica kill -9: {kills} (one every {kill_every} s); PostgreSQL down {database_down:.1?} once
jobs: {states:?}; claimed more than once (taken over or retried): {takeovers}
checks: {completed}/{prs} completed right (success {success}, failure {failure}); check runs created: {runs_total}
wall time: {total:.1} s (setup {prepared:.1} s, deliveries over {delivered:.1} s, settled at {settled:.1} s)",
        deliveries = prs.len() * 2,
        prs = prs.len(),
        attempts = answers.attempts,
        by_status = answers.by_status,
        accepted = answers.accepted,
        slowest = answers.slowest_accepted,
        p50 = percentile(0.5),
        p99 = percentile(0.99),
        max = latencies.last().copied().unwrap_or_default(),
        injected = chaos.injected,
        kill_every = KILL_EVERY.as_secs(),
        completed = success + failure,
        total = started.elapsed().as_secs_f64(),
        prepared = prepared.as_secs_f64(),
        delivered = delivered.as_secs_f64(),
        settled = settled.as_secs_f64(),
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(
        answers.accepted,
        prs.len() * 2,
        "a delivery was never accepted"
    );
    assert!(answers.slowest_accepted < GITHUB_TIMEOUT);
    assert_eq!(
        states.keys().filter(|s| *s != "done").count(),
        0,
        "jobs did not all end done: {states:?}"
    );
    assert!(states.get("done").copied().unwrap_or(0) >= prs.len() as i64);
    assert!(inner.violations.is_empty(), "{:?}", inner.violations);
    assert!(kills >= 3, "only {kills} kills");
    assert!(chaos.injected.values().sum::<usize>() > 0);
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n") + "\n"
}
