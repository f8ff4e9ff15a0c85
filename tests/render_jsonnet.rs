//! Jsonnet rendering through the library, the way the check runs it: every sandbox promise of
//! issue 3 (host files, escapes, symlinks, timeout, memory, recursion, output cap), ext vars and
//! TLAs, Tanka-style extraction, error positions, git trees without checkout, and the render
//! cache shared by base and head.

use std::path::{Path, PathBuf};

use clobbercheck::render::RenderFailure;
use clobbercheck::snapshot::Snapshot;
use clobbercheck::{Config, DirRevision, GitRevision, ParseCache, analyze};

fn cache() -> ParseCache {
    ParseCache::with_render_program(PathBuf::from(env!("CARGO_BIN_EXE_clobbercheck")))
}

fn write(root: &Path, path: &str, text: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

const CONFIG: &str = "clusters: 'env/{cluster}/**'\nsources:\n  - jsonnet: 'env/*/*/main.jsonnet'\n    jpath: [lib]\n";

fn config(extra: &str) -> Config {
    Config::parse(&format!("{CONFIG}{extra}"), ".clobbercheck.yml").unwrap()
}

fn load(root: &Path, config: &Config) -> Snapshot {
    Snapshot::load(&DirRevision::new(root, "dir"), config, &cache()).unwrap()
}

fn failure<'a>(snapshot: &'a Snapshot, target: &str) -> &'a RenderFailure {
    snapshot
        .render_errors
        .iter()
        .find(|f| f.target == target)
        .unwrap_or_else(|| panic!("no failure for {target}: {:?}", snapshot.render_errors))
}

fn names(snapshot: &Snapshot) -> Vec<String> {
    snapshot
        .objects
        .iter()
        .map(|o| o.identity.as_ref().unwrap().name.clone())
        .collect()
}

const LIB: &str = "{ cm(name, data={}):: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: name }, data: data } }\n";

#[test]
fn host_file_import_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "env/c/a/main.jsonnet",
        "{\n  x: importstr '/etc/passwd',\n}\n",
    );
    let snapshot = load(dir.path(), &config(""));
    let f = failure(&snapshot, "env/c/a/main.jsonnet");
    assert!(f.message.contains("absolute path"), "{f}");
    assert_eq!(
        (f.path.as_str(), f.line, f.column),
        ("env/c/a/main.jsonnet", 2, 6)
    );
}

#[test]
fn escaping_the_repository_is_refused_even_when_the_file_exists() {
    let outer = tempfile::tempdir().unwrap();
    write(outer.path(), "secret.txt", "top secret");
    let root = outer.path().join("repo");
    write(
        &root,
        "env/c/a/main.jsonnet",
        "{ x: importstr '../../../../secret.txt' }",
    );
    let snapshot = load(&root, &config(""));
    let f = failure(&snapshot, "env/c/a/main.jsonnet");
    assert!(f.message.contains("escapes the repository"), "{f}");
}

#[test]
fn symlinks_inside_are_followed_and_symlinks_outside_refused() {
    let outer = tempfile::tempdir().unwrap();
    write(outer.path(), "outside/x.libsonnet", "{ leaked: true }");
    let root = outer.path().join("repo");
    write(&root, "lib/real.libsonnet", LIB);
    std::os::unix::fs::symlink("real.libsonnet", root.join("lib/alias.libsonnet")).unwrap();
    std::os::unix::fs::symlink(outer.path().join("outside"), root.join("lib/out")).unwrap();
    std::os::unix::fs::symlink("../../outside", root.join("lib/rel")).unwrap();
    write(
        &root,
        "env/c/in/main.jsonnet",
        "(import 'alias.libsonnet').cm('via-link')",
    );
    write(&root, "env/c/abs/main.jsonnet", "import 'out/x.libsonnet'");
    write(&root, "env/c/rel/main.jsonnet", "import 'rel/x.libsonnet'");
    let snapshot = load(&root, &config(""));
    assert_eq!(names(&snapshot), ["via-link"]);
    assert!(
        failure(&snapshot, "env/c/abs/main.jsonnet")
            .message
            .contains("outside the repository")
    );
    assert!(
        failure(&snapshot, "env/c/rel/main.jsonnet")
            .message
            .contains("outside the repository")
    );
}

#[test]
fn an_infinite_loop_times_out_and_other_targets_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "lib/k.libsonnet", LIB);
    write(
        dir.path(),
        "env/c/loop/main.jsonnet",
        "std.foldl(function(a, i) a + std.foldl(function(b, j) b + j, std.range(1, 100000), 0), std.range(1, 100000), 0)",
    );
    write(
        dir.path(),
        "env/c/ok/main.jsonnet",
        "(import 'k.libsonnet').cm('fine')",
    );
    let started = std::time::Instant::now();
    let snapshot = load(dir.path(), &config("render_limits: {timeout_seconds: 2}\n"));
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let f = failure(&snapshot, "env/c/loop/main.jsonnet");
    assert!(f.message.contains("timed out after 2 s"), "{f}");
    assert_eq!(names(&snapshot), ["fine"]);
}

#[test]
fn a_huge_allocation_hits_the_memory_cap() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "env/c/mem/main.jsonnet",
        "std.length(std.makeArray(1000000000, function(i) [i]))",
    );
    let snapshot = load(dir.path(), &config("render_limits: {memory_mib: 128}\n"));
    let f = failure(&snapshot, "env/c/mem/main.jsonnet");
    assert!(f.message.contains("memory limit of 128 MiB"), "{f}");
}

#[test]
fn deep_recursion_is_a_jsonnet_error_with_a_position() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "env/c/deep/main.jsonnet",
        "local f(x) =\n  if x == 0 then 0 else 1 + f(x - 1);\nf(1000000)\n",
    );
    let snapshot = load(dir.path(), &config(""));
    let f = failure(&snapshot, "env/c/deep/main.jsonnet");
    assert!(f.message.contains("stack overflow"), "{f}");
    assert_eq!((f.path.as_str(), f.line), ("env/c/deep/main.jsonnet", 2));
}

#[test]
fn output_above_the_cap_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "env/c/big/main.jsonnet",
        "std.makeArray(20000, function(i) { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' + i }, data: { x: std.repeat('x', 100) } })",
    );
    let snapshot = load(dir.path(), &config("render_limits: {output_mib: 1}\n"));
    let f = failure(&snapshot, "env/c/big/main.jsonnet");
    assert!(f.message.contains("output"), "{f}");
    assert!(snapshot.objects.is_empty());
}

#[test]
fn ext_vars_and_top_level_arguments_reach_the_program() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "lib/k.libsonnet", LIB);
    write(
        dir.path(),
        "env/c/a/main.jsonnet",
        "local k = import 'k.libsonnet';\nfunction(suffix, replicas=1) k.cm(std.extVar('prefix') + suffix, { n: std.toString(replicas + std.extVar('extra').n) })",
    );
    let extra =
        "    ext_vars: {prefix: 'team-', extra: {n: 40}}\n    tla: {suffix: 'one', replicas: 2}\n";
    let snapshot = load(dir.path(), &config(extra));
    assert!(
        snapshot.render_errors.is_empty(),
        "{:?}",
        snapshot.render_errors
    );
    assert_eq!(names(&snapshot), ["team-one"]);
    assert_eq!(snapshot.objects[0].value["data"]["n"], "42");
}

#[test]
fn rendered_output_is_read_as_written_even_with_serde_json_magic_keys() {
    // serde_json's `raw_value` feature (axum turns it on) makes `Value`'s own reader replace an
    // object keyed so by the JSON text inside its string: here, a ConfigMap named "evil".
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "env/c/a/main.jsonnet",
        r#"{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'real' },
  data: { '$serde_json::private::RawValue': '{"metadata": {"name": "evil"}}' } }
"#,
    );
    let snapshot = load(dir.path(), &config(""));
    assert!(
        snapshot.render_errors.is_empty(),
        "{:?}",
        snapshot.render_errors
    );
    assert_eq!(names(&snapshot), ["real"]);
    assert_eq!(
        snapshot.objects[0].value["data"]["$serde_json::private::RawValue"],
        r#"{"metadata": {"name": "evil"}}"#
    );
}

#[test]
fn every_object_is_found_in_nested_objects_arrays_and_lists() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "lib/k.libsonnet", LIB);
    write(
        dir.path(),
        "env/c/a/main.jsonnet",
        r#"local k = import 'k.libsonnet';
{
  a: { deeper: { deepest: [k.cm('one'), [k.cm('two')]] } },
  b: { apiVersion: 'v1', kind: 'List', items: [k.cm('three')] },
  c: std.parseYaml(importstr 'extra.yaml'),
  d: { note: std.manifestYamlDoc({ x: 1 }), count: 3 },
}
"#,
    );
    write(
        dir.path(),
        "env/c/a/extra.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: four\n",
    );
    let snapshot = load(dir.path(), &config(""));
    assert!(
        snapshot.render_errors.is_empty(),
        "{:?}",
        snapshot.render_errors
    );
    assert_eq!(names(&snapshot), ["one", "two", "three", "four"]);
    // extra.yaml was consumed by the target, so it is not also read as a plain file.
    assert!(snapshot.objects.iter().all(|o| o.origin.target.is_some()));
    assert_eq!(
        snapshot.objects[0].origin.target.as_deref(),
        Some("env/c/a/main.jsonnet")
    );
}

#[test]
fn errors_carry_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "lib/broken.libsonnet",
        "{\n  a: 1,\n  b: ]\n}\n",
    );
    write(
        dir.path(),
        "env/c/syntax/main.jsonnet",
        "import 'broken.libsonnet'",
    );
    write(
        dir.path(),
        "env/c/explicit/main.jsonnet",
        "{\n  a:\n    error 'boom',\n}\n",
    );
    write(
        dir.path(),
        "env/c/missing/main.jsonnet",
        "\n  import 'nope.libsonnet'",
    );
    write(
        dir.path(),
        "env/c/extvar/main.jsonnet",
        "std.extVar('unset')",
    );
    let snapshot = load(dir.path(), &config(""));
    let f = failure(&snapshot, "env/c/syntax/main.jsonnet");
    assert_eq!(
        (f.path.as_str(), f.line, f.column),
        ("lib/broken.libsonnet", 3, 6),
        "{f}"
    );
    let f = failure(&snapshot, "env/c/explicit/main.jsonnet");
    assert_eq!((f.line, f.column), (3, 5), "{f}");
    assert!(f.message.contains("boom"), "{f}");
    let f = failure(&snapshot, "env/c/missing/main.jsonnet");
    assert_eq!((f.line, f.column), (2, 3), "{f}");
    assert!(
        f.message
            .contains("env/c/missing/nope.libsonnet, lib/nope.libsonnet"),
        "{f}"
    );
    assert!(
        failure(&snapshot, "env/c/extvar/main.jsonnet")
            .message
            .contains("unset")
    );
}

fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

#[test]
fn git_trees_render_without_checkout_and_refuse_outside_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q", "-b", "main"]);
    write(root, "lib/k.libsonnet", LIB);
    write(
        root,
        "env/c/a/main.jsonnet",
        "(import 'k.libsonnet').cm('from-git')",
    );
    std::os::unix::fs::symlink("/etc", root.join("lib/etc")).unwrap();
    write(root, "env/c/b/main.jsonnet", "importstr 'etc/hostname'");
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "one"]);
    // The working tree no longer has the files: the revision is read from the object database.
    std::fs::remove_dir_all(root.join("env")).unwrap();
    std::fs::remove_dir_all(root.join("lib")).unwrap();
    let rev = GitRevision::open(root, "HEAD").unwrap();
    let snapshot = Snapshot::load(&rev, &config(""), &cache()).unwrap();
    assert_eq!(names(&snapshot), ["from-git"]);
    let f = failure(&snapshot, "env/c/b/main.jsonnet");
    assert!(f.message.contains("symlink to '/etc'"), "{f}");
}

#[test]
fn unchanged_targets_render_once_for_base_and_head() {
    let dir = tempfile::tempdir().unwrap();
    let (base, head) = (dir.path().join("base"), dir.path().join("head"));
    for root in [&base, &head] {
        write(root, "lib/k.libsonnet", LIB);
        for env in ["a", "b", "c"] {
            write(
                root,
                &format!("env/c/{env}/main.jsonnet"),
                &format!("(import 'k.libsonnet').cm('{env}')"),
            );
        }
    }
    write(
        &head,
        "env/c/b/main.jsonnet",
        "(import 'k.libsonnet').cm('b', { changed: 'yes' })",
    );
    let cache = cache();
    let analysis = analyze(
        &DirRevision::new(&base, "base"),
        &DirRevision::new(&head, "head"),
        Some(config("")),
        &cache,
    )
    .unwrap();
    assert_eq!(
        cache.renders().renders(),
        4,
        "3 base targets + the 1 changed head target"
    );
    assert_eq!(analysis.report.summary.modified, 1);
    // A change to the shared library changes every target's inputs.
    write(
        &head,
        "lib/k.libsonnet",
        &LIB.replace("data: data", "data: data + { v: '2' }"),
    );
    let cache = self::cache();
    analyze(
        &DirRevision::new(&base, "base"),
        &DirRevision::new(&head, "head"),
        Some(config("")),
        &cache,
    )
    .unwrap();
    assert_eq!(cache.renders().renders(), 6);
}

#[test]
fn nesting_that_overflows_the_native_stack_only_fails_its_target() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "lib/k.libsonnet", LIB);
    let depth = 300_000;
    let source = format!("local x = {}1{}; x", "{a:".repeat(depth), "}".repeat(depth));
    write(dir.path(), "env/c/nest/main.jsonnet", &source);
    write(
        dir.path(),
        "env/c/ok/main.jsonnet",
        "(import 'k.libsonnet').cm('fine')",
    );
    let snapshot = load(dir.path(), &config(""));
    let f = failure(&snapshot, "env/c/nest/main.jsonnet");
    assert!(f.message.contains("native stack"), "{f}");
    assert_eq!(names(&snapshot), ["fine"]);
}

#[test]
fn a_failure_base_already_had_is_a_notice_and_a_fixed_one_warns_about_base() {
    use clobbercheck::finding::Severity;
    let dir = tempfile::tempdir().unwrap();
    let (base, head) = (dir.path().join("base"), dir.path().join("head"));
    for root in [&base, &head] {
        write(root, "env/c/old/main.jsonnet", "error 'always broken'");
        write(root, "env/c/fixed/main.jsonnet", "error 'broken in base'");
    }
    write(
        &head,
        "env/c/fixed/main.jsonnet",
        "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fixed' } }",
    );
    let analysis = analyze(
        &DirRevision::new(&base, "base"),
        &DirRevision::new(&head, "head"),
        Some(config("")),
        &cache(),
    )
    .unwrap();
    let findings: Vec<(Severity, &str, &str)> = analysis
        .report
        .findings
        .iter()
        .filter(|f| f.rule == "render-error")
        .map(|f| (f.severity, f.path.as_deref().unwrap(), f.message.as_str()))
        .collect();
    assert_eq!(findings.len(), 2, "{findings:#?}");
    assert!(findings.iter().any(|(s, p, m)| *s == Severity::Notice
        && *p == "env/c/old/main.jsonnet"
        && m.contains("always broken")
        && m.contains("already so in base")));
    assert!(findings.iter().any(|(s, p, m)| *s == Severity::Warning
        && *p == "env/c/fixed/main.jsonnet"
        && m.contains("base version")));
    assert!(!analysis.report.failed());
}
