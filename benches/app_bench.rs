//! Benchmark of the GitHub App (issue 4): figures, not a timed test.
//!
//! Generates the core benchmark's 20,000-object repository (`bench/gen_monorepo.py`), makes 200
//! pull requests on it (half clean, half with an overwrite disguised as an addition), starts
//! the release binary against the fake GitHub of the tests, warms the repository cache with one
//! delivery, then sends 200 `pull_request` deliveries as fast as possible and prints webhook
//! answer latency, delivery-to-completed-check time (p50/p99), the server's peak memory, and how
//! many checks completed. Beside the answer latency it prints its floor on this machine: as many
//! simultaneous `GET /healthz` (answered at once, no database, new connections) just before the
//! burst.
//!
//! Several replicas (issue 14): `--replicas` and `--database` take comma-separated lists and every
//! combination runs in turn on the same repository, printed side by side at the end. SQLite
//! serves one replica only; PostgreSQL is a throwaway server (`tests/common/postgres.rs`).
//! Each replica is its own `serve` process with its own repository cache, and deliveries go to
//! the replicas in turn, as a load balancer would send them.
//!
//! usage: cargo bench --bench app_bench [-- --prs N --workers N --replicas 1,2,3
//! --database sqlite,postgres]

#[path = "../tests/app_common/mod.rs"]
mod app_common;
#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use app_common::*;

const REPO: &str = "acme/monorepo";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Each analysed job's `fetch_ms`, `analyse_ms` and `output_ms` (sorted), from the worker's
/// `analysed` log lines; `None` when no line has them (a log filter that hides them).
fn job_split(logs: &[String]) -> Option<[Vec<u64>; 3]> {
    let mut split: [Vec<u64>; 3] = Default::default();
    for raw in logs.iter().flat_map(|l| l.lines()) {
        // tracing's text format colours field names even into a file.
        let line = without_ansi(raw);
        if !line.contains(" analysed") {
            continue;
        }
        for (i, key) in ["fetch_ms=", "analyse_ms=", "output_ms="]
            .iter()
            .enumerate()
        {
            if let Some(value) = line
                .split_whitespace()
                .find_map(|field| field.strip_prefix(key))
                .and_then(|v| v.parse().ok())
            {
                split[i].push(value);
            }
        }
    }
    if split[0].is_empty() {
        return None;
    }
    split.iter_mut().for_each(|v| v.sort_unstable());
    Some(split)
}

/// `text` without ANSI escape sequences (`ESC [ … letter`).
fn without_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn percentile_ms(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn arg(name: &str, default: usize) -> usize {
    text_arg(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn text_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// What one configuration measured.
struct Figures {
    label: String,
    prs: usize,
    checks_per_second: f64,
    to_check_p50: Duration,
    to_check_p99: Duration,
    answer_p99: Duration,
    /// The same number of simultaneous `GET /healthz` (answered at once, no database) just
    /// before the burst: what HTTP alone costs on this machine.
    floor_p99: Duration,
    /// Peak resident memory of each replica, MiB.
    peaks: Vec<f64>,
    completed: usize,
}

/// The repository, its pull request heads, and the keys, shared by every configuration.
struct Setup {
    tmp: tempfile::TempDir,
    git_root: std::path::PathBuf,
    keys: KeyPair,
    base: String,
    heads: Vec<String>,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let prs = arg("--prs", 200);
    let workers = arg("--workers", 2).to_string();
    let replicas: Vec<usize> = text_arg("--replicas")
        .unwrap_or_else(|| "1".into())
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .expect("--replicas: a list of numbers such as 1,2,3")
        })
        .collect();
    let databases: Vec<String> = text_arg("--database")
        .unwrap_or_else(|| "sqlite".into())
        .split(',')
        .map(|d| d.trim().to_string())
        .collect();
    for database in &databases {
        assert!(
            database == "sqlite" || database == "postgres",
            "--database: sqlite or postgres, not {database}"
        );
    }
    let setup = prepare(prs);
    let pg = if databases.iter().any(|d| d == "postgres") {
        let pg = common::postgres::PgServer::start("app_bench --database postgres");
        assert!(
            pg.is_some(),
            "--database postgres needs an installed PostgreSQL"
        );
        pg
    } else {
        None
    };
    let mut results = Vec::new();
    for database in &databases {
        for &n in &replicas {
            if database == "sqlite" && n > 1 {
                eprintln!("skipping sqlite with {n} replicas: SQLite serves one replica");
                continue;
            }
            let url = match (database.as_str(), &pg) {
                // The blocking PostgreSQL client runs its own runtime: not on this one's thread.
                ("postgres", Some(pg)) => Some(tokio::task::block_in_place(|| {
                    pg.database(&format!("bench_{n}_{}", results.len()))
                })),
                _ => None,
            };
            results.push(run(&setup, prs, &workers, n, database, url.as_deref()).await);
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nside by side: {prs} pull_request deliveries, 20,000-object repository, {workers} worker(s) per replica, {} cores, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "{:<22} {:>10} {:>14} {:>14} {:>12} {:>13} {:>22} {:>10}",
        "configuration",
        "checks/s",
        "to check p50",
        "to check p99",
        "answer p99",
        "/healthz p99",
        "peak MiB per replica",
        "completed"
    );
    for f in &results {
        println!(
            "{:<22} {:>10.2} {:>14.2?} {:>14.2?} {:>12.1?} {:>13.1?} {:>22} {:>10}",
            f.label,
            f.checks_per_second,
            f.to_check_p50,
            f.to_check_p99,
            f.answer_p99,
            f.floor_p99,
            f.peaks
                .iter()
                .map(|p| format!("{p:.0}"))
                .collect::<Vec<_>>()
                .join("/"),
            format!("{}/{}", f.completed, f.prs),
        );
    }
}

/// Generates the repository and `prs + 1` heads (PR 0 warms the caches).
fn prepare(prs: usize) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let git_root = tmp.path().join("git");
    std::fs::create_dir_all(&git_root).unwrap();
    let keys = keypair();
    let repo = Repo::new(tmp.path(), &git_root, REPO);

    let started = Instant::now();
    let status = std::process::Command::new("python3")
        .arg(root().join("bench/gen_monorepo.py"))
        .arg(&repo.work)
        .status()
        .unwrap();
    assert!(status.success());
    let base = git_cmd(&repo.work, &["rev-parse", "HEAD~1"]);
    let existing =
        std::fs::read_to_string(repo.work.join("env/cluster00/app001/argocd.yaml")).unwrap();
    let mut heads = Vec::new();
    for i in 0..=prs {
        git_cmd(&repo.work, &["checkout", "-q", "--detach", &base]);
        let dir = repo.work.join(format!("env/cluster00/pr{i:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        // Odd PRs copy an existing app's Argo CD objects: an overwrite disguised as an addition.
        let content = if i % 2 == 1 {
            existing.clone()
        } else {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pr{i}\n  namespace: default\ndata:\n  k: v\n"
            )
        };
        std::fs::write(dir.join("objects.yaml"), content).unwrap();
        git_cmd(&repo.work, &["add", "-A"]);
        git_cmd(&repo.work, &["commit", "-q", "-m", &format!("pr {i}")]);
        heads.push(git_cmd(&repo.work, &["rev-parse", "HEAD"]));
    }
    let mut refspecs = vec![format!("{base}:refs/heads/main")];
    refspecs.extend(
        heads
            .iter()
            .enumerate()
            .map(|(i, h)| format!("{h}:refs/heads/pr-{i}")),
    );
    let mut push = vec!["push", "-q", "-f", repo.bare.to_str().unwrap()];
    push.extend(refspecs.iter().map(String::as_str));
    git_cmd(&repo.work, &push);
    eprintln!(
        "repository and {} PR heads ready in {:.1?}",
        heads.len(),
        started.elapsed()
    );
    Setup {
        tmp,
        git_root,
        keys,
        base,
        heads,
    }
}

/// One configuration: `replicas` servers on `database` (`url` for PostgreSQL), a fresh fake
/// GitHub, warm-up, then the burst.
async fn run(
    setup: &Setup,
    prs: usize,
    workers: &str,
    replicas: usize,
    database: &str,
    url: Option<&str>,
) -> Figures {
    let label = format!("{database}, {replicas} replica(s)");
    eprintln!("--- {label}");
    let (base, heads) = (&setup.base, &setup.heads);
    let fake = Fake::start(&setup.keys, &setup.git_root).await;
    // The worker's `analysed` lines (info) give each job's split: fetch, analysis, output.
    let log_filter = std::env::var("CLOBBERCHECK_LOG")
        .unwrap_or_else(|_| "clobbercheck=warn,clobbercheck::server::worker=info".into());
    let mut env = vec![
        ("CLOBBERCHECK_WORKERS", workers),
        ("CLOBBERCHECK_LOG", log_filter.as_str()),
    ];
    if let Some(url) = url {
        env.push(("CLOBBERCHECK_DATABASE_URL", url));
    }
    let mut servers = Vec::new();
    for n in 0..replicas {
        let data_dir = setup
            .tmp
            .path()
            .join(format!("data-{database}-{replicas}-{n}"));
        servers.push(Server::start(&fake, &setup.keys, &data_dir, &env).await);
    }
    let payload = |i: usize| {
        fake.register_pr(REPO, i as u64 + 1, base, &heads[i]);
        pr_payload(
            "opened",
            &PrSpec {
                repo: REPO,
                clone_url: fake.clone_url(REPO),
                number: i as u64 + 1,
                base_sha: base,
                base_ref: "main",
                head_sha: &heads[i],
                head_ref: &format!("pr-{i}"),
                fork: None,
            },
        )
    };

    // Warm a repository cache with PR 0 (the other replicas' caches warm on their first job).
    let warm = Instant::now();
    assert_eq!(
        servers[0]
            .deliver("pull_request", "warm", &payload(0))
            .await
            .0,
        202
    );
    fake.completed(&heads[0]).await;
    eprintln!(
        "warm-up check (cold cache) completed in {:.2?}",
        warm.elapsed()
    );

    // The floor: as many simultaneous requests to a route that answers at once (no database),
    // while the servers idle, each on a new connection as the deliveries are (a client of its
    // own, so the deliveries' client has no connection open before the burst).
    let mut floor = Vec::new();
    let prober = reqwest::Client::new();
    let probes: Vec<_> = (1..=prs)
        .map(|i| {
            let server = &servers[i % replicas];
            let (client, url) = (prober.clone(), format!("{}/healthz", server.url));
            tokio::spawn(async move {
                let t = Instant::now();
                let response = client.get(url).send().await.unwrap();
                assert_eq!(response.status().as_u16(), 200);
                t.elapsed()
            })
        })
        .collect();
    for probe in probes {
        floor.push(probe.await.unwrap());
    }
    floor.sort();

    let bodies: Vec<(usize, Vec<u8>)> = (1..=prs)
        .map(|i| (i, serde_json::to_vec(&payload(i)).unwrap()))
        .collect();
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    let mut latencies = Vec::new();
    let mut tasks = Vec::new();
    let burst = Instant::now();
    for (i, body) in bodies {
        let server = &servers[i % replicas];
        let client = server.client.clone();
        let url = format!("{}/webhook", server.url);
        let signature = sign(SECRET, &body);
        sent_at.insert(heads[i].clone(), Instant::now());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let response = client
                .post(url)
                .header("X-GitHub-Event", "pull_request")
                .header("X-GitHub-Delivery", format!("bench-{i}"))
                .header("X-Hub-Signature-256", signature)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 202);
            t.elapsed()
        }));
    }
    for task in tasks {
        latencies.push(task.await.unwrap());
    }
    eprintln!("{prs} deliveries answered in {:.2?}", burst.elapsed());
    let deadline = Instant::now() + Duration::from_secs(3600);
    loop {
        let done = fake
            .inner()
            .check_runs
            .iter()
            .filter(|c| c.status == "completed")
            .count();
        if done > prs || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_done = burst.elapsed();
    let peaks: Vec<f64> = servers.iter().map(|s| peak_rss_mib(s.pid())).collect();
    let inner = fake.inner();
    let mut to_check: Vec<Duration> = inner
        .check_runs
        .iter()
        .filter_map(|c| Some(c.completed_at?.duration_since(*sent_at.get(&c.head_sha)?)))
        .collect();
    let mut service: Vec<Duration> = inner
        .check_runs
        .iter()
        .filter_map(|c| Some(c.completed_at?.duration_since(c.created_at)))
        .collect();
    service.sort();
    let failures = inner
        .check_runs
        .iter()
        .filter(|c| c.conclusion.as_deref() == Some("failure"))
        .count();
    latencies.sort();
    to_check.sort();
    println!(
        "clobbercheck serve, {label}, {prs} pull_request deliveries, 20,000-object repository, {workers} worker(s) per replica"
    );
    println!(
        "webhook answer latency: p50 {:.1?}  p99 {:.1?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    println!(
        "the floor, {prs} simultaneous GET /healthz just before (no database): p50 {:.1?}  p99 {:.1?}",
        percentile(&floor, 0.5),
        percentile(&floor, 0.99)
    );
    println!(
        "delivery -> completed check run: p50 {:.2?}  p99 {:.2?}",
        percentile(&to_check, 0.5),
        percentile(&to_check, 0.99)
    );
    println!(
        "job service time (check run created -> completed, no queueing): p50 {:.2?}  p99 {:.2?}",
        percentile(&service, 0.5),
        percentile(&service, 0.99)
    );
    let split = job_split(&servers.iter().map(|s| s.log()).collect::<Vec<_>>());
    if let Some([fetch, analysis, output]) = &split {
        println!(
            "per job, from the servers' `analysed` log lines ({} jobs): fetch p50 {} / p99 {} ms, \
             analysis p50 {} / p99 {} ms, output p50 {} / p99 {} ms; the rest of the service \
             time is the calls to GitHub",
            fetch.len(),
            percentile_ms(fetch, 0.5),
            percentile_ms(fetch, 0.99),
            percentile_ms(analysis, 0.5),
            percentile_ms(analysis, 0.99),
            percentile_ms(output, 0.5),
            percentile_ms(output, 0.99),
        );
    }
    println!("all checks completed in {all_done:.1?} after the first delivery");
    println!("server peak memory (VmHWM) per replica: {peaks:.0?} MiB");
    if std::env::var_os("CLOBBERCHECK_LOG").is_some() {
        for server in &servers {
            eprintln!("{}", server.log());
        }
    }
    println!(
        "checks completed: {}/{prs} (failure: {failures}, violations of GitHub rules: {})",
        to_check.len(),
        inner.violations.len()
    );
    Figures {
        label,
        prs,
        checks_per_second: to_check.len() as f64 / all_done.as_secs_f64(),
        to_check_p50: percentile(&to_check, 0.5),
        to_check_p99: percentile(&to_check, 0.99),
        answer_p99: percentile(&latencies, 0.99),
        floor_p99: percentile(&floor, 0.99),
        peaks,
        completed: to_check.len(),
    }
}
