//! Warm-repository benchmark (figures, not a timed test): what one pull request costs the server
//! once its repository has been analysed before, at several repository sizes.
//!
//! For each size it generates the core benchmark's monorepo (`bench/gen_monorepo.py`), makes
//! one-file pull requests on its base commit, and runs, in one process and with one
//! [`ParseCache`] as the server keeps per repository, exactly the worker's steps: open both
//! commits, [`analyze_with`], and build the publication (check run, review, comment). The first
//! pull request meets a cold cache; the others are warm. It prints, per size, the cold and warm
//! medians of each step, the allocator's peak, and the cache's size.
//!
//! `--layout` chooses the repository and the second kind of pull request (the first is always a
//! new ConfigMap):
//! - `plain` (the default): Argo CD Applications only; a copy of an existing app's Argo CD
//!   objects (an overwrite disguised as an addition);
//! - `appsets`: with the generator's two ApplicationSets (every app folder is then deployed by
//!   four Applications: its own, two stages of the matrix set, the list set's mirror); an
//!   element added to the list set;
//! - `flux`: with a Flux Kustomization per app folder; one Kustomization's interval edited.
//!
//! usage: cargo bench --bench warm [-- --sizes 2000,20000,200000 --prs 8 --layout plain]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use clobbercheck::github::output;
use clobbercheck::report::markdown;
use clobbercheck::{GitRevision, Options, ParseCache, analyze_with};

/// The allocator of the `clobbercheck` binary, so figures are the server's.
#[global_allocator]
static GLOBAL: clobbercheck::alloc::Allocator = clobbercheck::alloc::Allocator::new();

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Resident set size now and at its peak (VmRSS, VmHWM), in MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs.get(xs.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The repository for `objects` objects (50 per app, 20 apps per cluster), with `prs` one-file
/// pull request heads on its base commit; returns (base, heads).
/// The repository the pull requests are made on, and the second kind of pull request.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Plain,
    AppSets,
    Flux,
}

impl Layout {
    fn parse(name: &str) -> Layout {
        match name {
            "plain" => Layout::Plain,
            "appsets" => Layout::AppSets,
            "flux" => Layout::Flux,
            other => panic!("--layout takes plain, appsets or flux, not {other}"),
        }
    }

    /// What the odd pull requests change.
    fn second_kind(self) -> &'static str {
        match self {
            Layout::Plain => "Application",
            Layout::AppSets => "ApplicationSet",
            Layout::Flux => "Kustomization",
        }
    }
}

/// Replaces the first `from` in `dir/path` by `to`.
fn edit(dir: &Path, path: &str, from: &str, to: &str) {
    let file = dir.join(path);
    let text = std::fs::read_to_string(&file).expect("the generator writes the file");
    assert!(text.contains(from), "{path} holds {from:?}");
    std::fs::write(&file, text.replacen(from, to, 1)).unwrap();
}

fn repository(dir: &Path, objects: usize, prs: usize, layout: Layout) -> (String, Vec<String>) {
    let apps_total = objects.div_ceil(50);
    let (clusters, apps) = if apps_total >= 20 {
        (apps_total / 20, 20)
    } else {
        (1, apps_total)
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let extra = match layout {
        Layout::Plain => vec![],
        Layout::AppSets => vec!["--appset-stages".to_string(), "2".to_string()],
        Layout::Flux => vec![
            "--flux-kustomizations".to_string(),
            (clusters * apps).to_string(),
        ],
    };
    let status = Command::new("python3")
        .arg(root.join("bench/gen_monorepo.py"))
        .arg(dir)
        .args([
            "--clusters",
            &clusters.to_string(),
            "--apps",
            &apps.to_string(),
        ])
        .args(&extra)
        .status()
        .expect("python3 runs");
    assert!(status.success());
    let base = git(dir, &["rev-parse", "HEAD~1"]);
    let existing = std::fs::read_to_string(dir.join("env/cluster00/app001/argocd.yaml"))
        .expect("the generator writes app001's Argo CD objects");
    let mut heads = Vec::new();
    for i in 0..prs {
        git(dir, &["checkout", "-q", "--detach", &base]);
        let pr = dir.join(format!("env/cluster00/pr{i:03}"));
        std::fs::create_dir_all(&pr).unwrap();
        match (i % 2, layout) {
            (1, Layout::Plain) => std::fs::write(pr.join("objects.yaml"), &existing).unwrap(),
            (1, Layout::AppSets) => edit(
                dir,
                "appsets/folders.yaml",
                "        elements:\n",
                &format!("        elements:\n          - {{cluster: cluster00, app: pr{i:03}}}\n"),
            ),
            (1, Layout::Flux) => edit(
                dir,
                "flux/cluster00.yaml",
                "interval: 10m",
                &format!("interval: {}m", 11 + i),
            ),
            _ => std::fs::write(
                pr.join("objects.yaml"),
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pr{i}\n  namespace: default\ndata:\n  k: v\n"
                ),
            )
            .unwrap(),
        }
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", &format!("pr {i}")]);
        heads.push(git(dir, &["rev-parse", "HEAD"]));
    }
    // The server's repository cache is fetched, so its objects are packed.
    git(dir, &["repack", "-adq"]);
    (base, heads)
}

/// Per size: the cold pull request's (open, analysis, publication) and the warm medians of each
/// kind of pull request (ConfigMap, the layout's second kind).
struct Row {
    objects: usize,
    cold: [Duration; 3],
    configmap: [Duration; 3],
    /// The layout's second kind (`Layout::second_kind`).
    second: [Duration; 3],
    cache_blobs: usize,
    rss: f64,
    peak: f64,
}

fn measure(objects: usize, prs: usize, layout: Layout) -> Row {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("repo");
    let started = Instant::now();
    let (base, heads) = repository(&dir, objects, prs, layout);
    eprintln!(
        "{objects} objects: repository and {prs} pull requests ready in {:.1?}",
        started.elapsed()
    );
    let templates = markdown::environment(None).expect("embedded templates load");
    let cache = ParseCache::default();
    let mut steps: Vec<[Duration; 3]> = Vec::new();
    for head in &heads {
        let t0 = Instant::now();
        let base_rev = GitRevision::open(&dir, &base).unwrap();
        let head_rev = GitRevision::open(&dir, head).unwrap();
        let t1 = Instant::now();
        let result = analyze_with(&base_rev, &head_rev, None, &cache, Options::default()).unwrap();
        let t2 = Instant::now();
        let published = output::publication(&result, head, &templates).unwrap();
        let t3 = Instant::now();
        assert!(!published.comment.is_empty());
        eprintln!(
            "  {head:.8}: open {:.1} ms, analysis {:.1} ms, publication {:.1} ms, {} errors",
            ms(t1 - t0),
            ms(t2 - t1),
            ms(t3 - t2),
            result.report.summary.errors
        );
        steps.push([t1 - t0, t2 - t1, t3 - t2]);
    }
    let (rss, peak) = rss_mib();
    // Pull request i adds a ConfigMap when i is even, the layout's second kind when odd.
    let warm = |odd: usize| -> [Duration; 3] {
        let of = |step: usize| {
            median(
                (1..steps.len())
                    .filter(|i| i % 2 == odd)
                    .map(|i| steps[i][step])
                    .collect(),
            )
        };
        [of(0), of(1), of(2)]
    };
    Row {
        objects,
        cold: steps[0],
        configmap: warm(0),
        second: warm(1),
        cache_blobs: cache.len(),
        rss,
        peak,
    }
}

fn main() {
    let sizes: Vec<usize> = arg("--sizes")
        .unwrap_or_else(|| "2000,20000".into())
        .split(',')
        .map(|s| s.parse().expect("--sizes takes numbers"))
        .collect();
    let prs: usize = arg("--prs").map_or(8, |s| s.parse().expect("--prs takes a number"));
    assert!(
        prs >= 3,
        "--prs must be at least 3 (one cold, then warm ones of both kinds)"
    );
    let layout = Layout::parse(&arg("--layout").unwrap_or_else(|| "plain".into()));
    let rows: Vec<Row> = sizes.iter().map(|&n| measure(n, prs, layout)).collect();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let second = match layout {
        Layout::Plain => {
            "a copy of an Argo CD Application (an overwrite: its Applications learned again, its \
             folder placed again)"
        }
        Layout::AppSets => {
            "an element added to an ApplicationSet's list generator (head derived: the sets \
             expanded again over head's files, its generated Applications placed and learned \
             again; the new ConfigMap's folder is a new directory for the git generator too)"
        }
        Layout::Flux => {
            "a Flux Kustomization's interval edited (head derived: Flux objects learned again, \
             the Kustomization's folder placed again)"
        }
    };
    println!(
        "one-file pull requests, one process, one parse cache; cold = the first PR (a ConfigMap); \
         warm = medians of the other {}: a new ConfigMap (head derived from the base's snapshot), \
         and {second}",
        prs - 1
    );
    println!(
        "load average: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "{:>8} | {:>14} | {:>32} | {:>7} | {:>13}",
        "objects", "PR", "open / analysis / publish ms", "blobs", "RSS/peak MiB"
    );
    for r in rows {
        for (kind, [open, analysis, publication]) in [
            ("cold", r.cold),
            ("ConfigMap", r.configmap),
            (layout.second_kind(), r.second),
        ] {
            println!(
                "{:>8} | {:>14} | {:>8.1} / {:>8.1} / {:>8.1} | {:>7} | {:>6.0}/{:<6.0}",
                r.objects,
                kind,
                ms(open),
                ms(analysis),
                ms(publication),
                r.cache_blobs,
                r.rss,
                r.peak
            );
        }
    }
}
