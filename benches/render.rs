//! Rendering benchmark (figures, not a timed test): a Tanka-style jsonnet workload — a library of
//! constructor functions, 300 environments of 36 objects each, and one environment whose output
//! is above 10 MB — rendered by clobbercheck (sandboxed rsjsonnet-lang), and in the same run by
//! go-jsonnet and C++ jsonnet (PyPI `gojsonnet` and `jsonnet`, called through their Python API as
//! their users do) and by the `jrsonnet` / `rsjsonnet` command-line tools when installed. Last, a
//! one-environment PR is checked against the workload, to show that unchanged targets are
//! rendered once for base and head.
//!
//! Run: `cargo bench --bench render` (README "Rendering" has the figures). Set
//! `CLOBBERCHECK_BENCH_SKIP=cpp` (comma-separated: `go`, `cpp`, `cli`) to leave tools out, and
//! `CLOBBERCHECK_BENCH_DIR=/some/dir` to keep the generated workload there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clobbercheck::snapshot::Snapshot;
use clobbercheck::{Config, DirRevision, ParseCache, analyze};

const CLUSTERS: usize = 20;
const APPS_PER_CLUSTER: usize = 15;
const BIG_COMPONENTS: usize = 4500;

const LIBRARY: &str = r#"// Constructor functions in the style of k8s-libsonnet / Grafana's libraries.
{
  labels(name, team):: { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': team },
  meta(name, ns, team):: { name: name, namespace: ns, labels: $.labels(name, team) },
  container(name, image, port):: {
    name: name,
    image: image,
    ports: [{ containerPort: port, name: 'http' }],
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
    env: [{ name: 'COMPONENT', value: name }, { name: 'PORT', value: std.toString(port) }],
  },
  deployment(name, ns, team, image, replicas=2):: {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: $.meta(name, ns, team),
    spec: {
      replicas: replicas,
      selector: { matchLabels: $.labels(name, team) },
      template: {
        metadata: { labels: $.labels(name, team) },
        spec: { serviceAccountName: name, containers: [$.container(name, image, 8080)] },
      },
    },
  },
  service(name, ns, team):: {
    apiVersion: 'v1', kind: 'Service', metadata: $.meta(name, ns, team),
    spec: { selector: $.labels(name, team), ports: [{ port: 80, targetPort: 'http' }] },
  },
  serviceAccount(name, ns, team):: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: $.meta(name, ns, team) },
  configMap(name, ns, team, data):: { apiVersion: 'v1', kind: 'ConfigMap', metadata: $.meta(name, ns, team), data: data },
  pdb(name, ns, team):: {
    apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: $.meta(name, ns, team),
    spec: { minAvailable: 1, selector: { matchLabels: $.labels(name, team) } },
  },
  hpa(name, ns, team):: {
    apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: $.meta(name, ns, team),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: name },
      minReplicas: 2, maxReplicas: 10,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }],
    },
  },
  component(name, ns, team, image):: {
    deployment: $.deployment(name, ns, team, image),
    service: $.service(name, ns, team),
    serviceAccount: $.serviceAccount(name, ns, team),
    config: $.configMap(name + '-config', ns, team, { ['key%d' % i]: 'value-%s-%d' % [name, i] for i in std.range(1, 8) }),
    pdb: $.pdb(name, ns, team),
    hpa: $.hpa(name, ns, team),
  },
  namespace(ns, team):: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { team: team } } },
}
"#;

fn environment(cluster: usize, app: usize, components: usize) -> String {
    format!(
        r#"local k = import 'k.libsonnet';
local cluster = 'cluster{cluster:02}';
local ns = 'app{app:02}';
local team = std.extVar('team');
{{
  namespace: k.namespace(ns, team),
  components: {{
    ['c%d' % i]: k.component('app{app:02}-c%d' % i, ns, team, 'registry.example.com/app{app:02}:1.%d.0' % i)
    for i in std.range(1, {components})
  }},
}}
"#
    )
}

const CONFIG: &str = "clusters: 'env/{cluster}/**'\nsources:\n  - jsonnet: 'env/*/*/main.jsonnet'\n    jpath: [lib]\n    ext_vars: {team: platform}\n";

fn generate(root: &Path) -> Vec<String> {
    let write = |path: &str, text: &str| {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    };
    write(".clobbercheck.yml", CONFIG);
    write("lib/k.libsonnet", LIBRARY);
    let mut entries = Vec::new();
    for cluster in 0..CLUSTERS {
        for app in 0..APPS_PER_CLUSTER {
            let path = format!("env/cluster{cluster:02}/app{app:02}/main.jsonnet");
            // 6 components of 6 objects plus the namespace: 37 objects.
            write(&path, &environment(cluster, app, 6));
            entries.push(path);
        }
    }
    let big = "env/cluster99/big/main.jsonnet".to_string();
    write(&big, &environment(99, 99, BIG_COMPONENTS));
    entries.push(big);
    entries
}

fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn skipped(what: &str) -> bool {
    std::env::var("CLOBBERCHECK_BENCH_SKIP")
        .unwrap_or_default()
        .split(',')
        .any(|s| s.trim() == what)
}

/// Runs a Python evaluation loop over every entry point with one of the PyPI bindings.
fn python(module: &str, root: &Path, entries: &[String]) -> Result<(Duration, u64), String> {
    let script = format!(
        r#"
import sys, time
import {module} as j
root = sys.argv[1]
total = 0
start = time.perf_counter()
for entry in sys.argv[2:]:
    total += len(j.evaluate_file(root + '/' + entry, jpathdir=[root + '/lib'], ext_vars={{'team': 'platform'}}))
print(time.perf_counter() - start, total)
"#
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(root)
        .args(entries)
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(stderr.lines().last().unwrap_or("failed").to_string());
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut parts = stdout.split_whitespace();
    let secs: f64 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or("no timing")?;
    let bytes: u64 = parts.next().and_then(|s| s.parse().ok()).ok_or("no size")?;
    Ok((Duration::from_secs_f64(secs), bytes))
}

/// Runs a jsonnet command-line tool once per entry point, as `tk`-less users script it.
fn cli(tool: &str, root: &Path, entries: &[String]) -> Result<(Duration, u64), String> {
    let start = Instant::now();
    let mut bytes = 0u64;
    for entry in entries {
        let out = Command::new(tool)
            .current_dir(root)
            .args(["-J", "lib", "--ext-str", "team=platform", entry])
            .output()
            .map_err(|e| format!("cannot run {tool}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{tool} {entry}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        bytes += out.stdout.len() as u64;
    }
    Ok((start.elapsed(), bytes))
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let program = PathBuf::from(env!("CARGO_BIN_EXE_clobbercheck"));
    // CLOBBERCHECK_BENCH_DIR keeps the workload for inspection or for timing other tools by hand.
    let temp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("CLOBBERCHECK_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| temp.path().to_path_buf());
    let _ = std::fs::remove_dir_all(dir.join("base"));
    let _ = std::fs::remove_dir_all(dir.join("head"));
    let root = dir.join("base");
    let entries = generate(&root);
    let config = Config::parse(CONFIG, ".clobbercheck.yml").unwrap();
    println!(
        "workload: {} environments ({} with 37 objects, 1 with {} objects), {}",
        entries.len(),
        entries.len() - 1,
        BIG_COMPONENTS * 6 + 1,
        root.display()
    );

    let mut figures: Vec<(String, Duration)> = Vec::new();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let cache = ParseCache::with_render_program(program.clone());
        let start = Instant::now();
        let snapshot = pool.install(|| {
            Snapshot::load(&DirRevision::new(&root, "bench"), &config, &cache).unwrap()
        });
        let elapsed = start.elapsed();
        assert!(
            snapshot.render_errors.is_empty(),
            "{:?}",
            snapshot.render_errors
        );
        let label = format!("clobbercheck (rsjsonnet-lang, sandboxed, {threads} thread(s))");
        println!(
            "{label}: {} for {} objects",
            seconds(elapsed),
            snapshot.objects.len()
        );
        figures.push((label, elapsed));
    }
    let big_bytes: usize = {
        let cache = ParseCache::with_render_program(program.clone());
        let snapshot = Snapshot::load(&DirRevision::new(&root, "bench"), &config, &cache).unwrap();
        snapshot
            .objects
            .iter()
            .filter(|o| o.origin.target.as_deref() == entries.last().map(String::as_str))
            .map(|o| serde_json::to_string(o.value.as_ref()).unwrap().len())
            .sum()
    };
    println!(
        "largest environment: {:.1} MB of compact JSON objects",
        big_bytes as f64 / 1e6
    );

    let (one, two) = (figures[0].1, figures[1].1);
    let compare = |label: &str, result: Result<(Duration, u64), String>| match result {
        Ok((elapsed, bytes)) => {
            println!(
                "{label}: {} ({:.1} MB of JSON; clobbercheck is {:.1}x faster on 1 thread, {:.1}x on 2)",
                seconds(elapsed),
                bytes as f64 / 1e6,
                elapsed.as_secs_f64() / one.as_secs_f64(),
                elapsed.as_secs_f64() / two.as_secs_f64()
            );
        }
        Err(why) => println!("{label}: not measured ({why})"),
    };
    if !skipped("go") {
        compare(
            "go-jsonnet (PyPI gojsonnet)",
            python("_gojsonnet", &root, &entries),
        );
    }
    if !skipped("cpp") {
        compare(
            "C++ jsonnet (PyPI jsonnet)",
            python("_jsonnet", &root, &entries),
        );
    }
    if !skipped("cli") {
        for tool in ["rsjsonnet", "jrsonnet"] {
            if on_path(tool) {
                compare(
                    &format!("{tool} CLI, one process per environment"),
                    cli(tool, &root, &entries),
                );
            } else {
                println!("{tool} CLI: not installed, not measured");
            }
        }
    }

    // A one-environment PR: only the changed target renders for head.
    let head = dir.join("head");
    let copied = Command::new("cp")
        .arg("-r")
        .arg(&root)
        .arg(&head)
        .status()
        .unwrap();
    assert!(copied.success());
    let changed = head.join("env/cluster03/app07/main.jsonnet");
    let text = std::fs::read_to_string(&changed).unwrap();
    std::fs::write(&changed, text.replace("std.range(1, 6)", "std.range(1, 7)")).unwrap();
    let cache = ParseCache::with_render_program(program);
    let start = Instant::now();
    let analysis = analyze(
        &DirRevision::new(&root, "base"),
        &DirRevision::new(&head, "head"),
        None,
        &cache,
    )
    .unwrap();
    println!(
        "check of a one-environment PR: {} ({} targets rendered for base + head of {} targets each; {} objects added)",
        seconds(start.elapsed()),
        cache.renders().renders(),
        entries.len(),
        analysis.report.summary.added
    );
}
