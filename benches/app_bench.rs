//! Benchmark of the GitHub App (issue 4): figures, not a timed test.
//!
//! Generates the core benchmark's 20,000-object repository (`bench/gen_monorepo.py`), makes 200
//! pull requests on it (half clean, half with an overwrite disguised as an addition), starts
//! the release binary against the fake GitHub of the tests, warms the repository cache with one
//! delivery, then sends 200 `pull_request` deliveries as fast as possible and prints webhook
//! answer latency, delivery-to-completed-check time (p50/p99), the server's peak memory, and how
//! many checks completed.
//!
//! usage: cargo bench --bench app_bench [-- --prs N --workers N]

#[path = "../tests/app_common/mod.rs"]
mod app_common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use app_common::*;

const REPO: &str = "acme/monorepo";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
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
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let prs = arg("--prs", 200);
    let workers = arg("--workers", 2).to_string();
    let tmp = tempfile::tempdir().unwrap();
    let git_root = tmp.path().join("git");
    std::fs::create_dir_all(&git_root).unwrap();
    let keys = keypair();
    let fake = Fake::start(&keys, &git_root).await;
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

    let data_dir = tmp.path().join("data");
    let log_filter =
        std::env::var("CLOBBERCHECK_LOG").unwrap_or_else(|_| "clobbercheck=warn".into());
    let server = Server::start(
        &fake,
        &keys,
        &data_dir,
        &[
            ("CLOBBERCHECK_WORKERS", &workers),
            ("CLOBBERCHECK_LOG", &log_filter),
        ],
    )
    .await;
    let payload = |i: usize| {
        fake.register_pr(REPO, i as u64 + 1, &base, &heads[i]);
        pr_payload(
            "opened",
            &PrSpec {
                repo: REPO,
                clone_url: fake.clone_url(REPO),
                number: i as u64 + 1,
                base_sha: &base,
                base_ref: "main",
                head_sha: &heads[i],
                head_ref: &format!("pr-{i}"),
                fork: None,
            },
        )
    };

    // Warm the repository cache with PR 0.
    let warm = Instant::now();
    assert_eq!(
        server.deliver("pull_request", "warm", &payload(0)).await.0,
        202
    );
    fake.completed(&heads[0]).await;
    eprintln!(
        "warm-up check (cold cache) completed in {:.2?}",
        warm.elapsed()
    );

    let bodies: Vec<(usize, Vec<u8>)> = (1..=prs)
        .map(|i| (i, serde_json::to_vec(&payload(i)).unwrap()))
        .collect();
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    let mut latencies = Vec::new();
    let mut tasks = Vec::new();
    let burst = Instant::now();
    for (i, body) in bodies {
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
    let peak = peak_rss_mib(server.pid());
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
        "clobbercheck serve, {prs} pull_request deliveries, 20,000-object repository, {workers} worker(s)"
    );
    println!(
        "webhook answer latency: p50 {:.1?}  p99 {:.1?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
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
    println!(
        "all checks completed in {:.1?} after the first delivery",
        burst.elapsed()
    );
    println!("server peak memory (VmHWM): {peak:.0} MiB");
    if std::env::var_os("CLOBBERCHECK_LOG").is_some() {
        eprintln!("{}", server.log());
    }
    println!(
        "checks completed: {}/{prs} (failure: {failures}, violations of GitHub rules: {})",
        to_check.len(),
        inner.violations.len()
    );
}
