//! The command line does what a user means (issue 17): where sides and the repository are
//! found, a repository with no commit, untracked files, shallow clones, and the options a CI user
//! expects (`--color`, `--fail-on`, `--output`, `--templates`, `-` for standard input).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;

fn config_map(name: &str, extra: &str) -> String {
    object("v1", "ConfigMap", Some("apps"), name, extra)
}

/// Runs the binary in `cwd` with `stdin` as its standard input and the given environment.
fn run_with(cwd: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_clobbercheck"))
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn git(cwd: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
}

/// A repository whose last commit adds `env/b.yaml` redefining `env/a.yaml`'s object.
fn overwrite_repo() -> GitRepo {
    let repo = GitRepo::new();
    repo.commit_files("base", &[("env/a.yaml", Some(&config_map("a", "")))]);
    repo.commit_files("head", &[("env/b.yaml", Some(&config_map("a", "")))]);
    repo
}

#[test]
fn repo_option_resolves_directory_sides_against_the_repository() {
    let repo = overwrite_repo();
    // The current folder holds an unrelated tree full of objects; `.` must not mean it.
    let elsewhere = tempfile::tempdir().unwrap();
    for i in 0..20 {
        std::fs::write(
            elsewhere.path().join(format!("x{i}.yaml")),
            config_map("a", ""),
        )
        .unwrap();
    }
    let repo_arg = repo.path().to_str().unwrap();
    let out = run(
        elsewhere.path(),
        &[
            "check", "--repo", repo_arg, "--base", "HEAD~1", "--head", ".", "--format", "json",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["head"], ".");
    let paths: Vec<String> = findings(&report).into_iter().map(|f| f.2).collect();
    assert!(paths.iter().all(|p| p.starts_with("env/")), "{paths:?}");
    assert_eq!(report["objects"].as_array().unwrap().len(), 1);
}

#[test]
fn check_from_a_subfolder_finds_the_repository_upward() {
    let repo = overwrite_repo();
    let sub = repo.path().join("env");
    let out = run(
        &sub,
        &[
            "check", "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let rules: Vec<String> = findings(&json(&out)).into_iter().map(|f| f.0).collect();
    assert!(
        rules.contains(&"overwrite-disguised-as-addition".to_string()),
        "{rules:?}"
    );
    // `.` there is only part of the working tree: compared with a revision, refused with a way out.
    let out = run(&sub, &["check", "--base", "HEAD", "--head", "."]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("'.' is the folder env of the repository") && err.contains("--head "),
        "{err}"
    );
    // The repository's own top folder, named from the subfolder, is its working tree.
    let out = run(&sub, &["check", "--base", "HEAD", "--head", ".."]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn a_repository_without_commits_is_an_empty_base() {
    let repo = GitRepo::new();
    repo.write(&[("a.yaml", Some(&config_map("a", "")))]);
    git(repo.path(), &["add", "a.yaml"]);
    let out = run(
        repo.path(),
        &["check", "--base", "HEAD", "--head", ".", "--format", "json"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["summary"]["added"], 1);
}

#[test]
fn only_tracked_and_staged_files_of_the_working_tree_count() {
    let repo = GitRepo::new();
    repo.commit_files("base", &[("a.yaml", Some(&config_map("a", "")))]);
    // An untracked folder redefining the object does not block an unrelated commit...
    repo.write(&[
        ("scratch/copy.yaml", Some(&config_map("a", ""))),
        ("b.yaml", Some(&config_map("b", ""))),
    ]);
    git(repo.path(), &["add", "b.yaml"]);
    let out = run(
        repo.path(),
        &["check", "--base", "HEAD", "--head", ".", "--format", "json"],
    );
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let report = json(&out);
    assert_eq!(report["summary"]["added"], 1, "the staged b.yaml counts");
    // ...and once staged, it is part of the next commit and is judged.
    git(repo.path(), &["add", "scratch/copy.yaml"]);
    let out = run(repo.path(), &["check", "--base", "HEAD", "--head", "."]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
}

#[test]
fn an_unknown_base_in_a_shallow_clone_says_how_to_fetch_it() {
    let repo = overwrite_repo();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", repo.path().display());
    git(
        dir.path(),
        &["clone", "-q", "--depth", "1", &url, "shallow"],
    );
    let out = run(
        &dir.path().join("shallow"),
        &["check", "--base", "HEAD~1", "--head", "HEAD"],
    );
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(
        err.contains("unknown revision 'HEAD~1'") && err.contains("fetch-depth: 0"),
        "{err}"
    );
}

#[test]
fn a_missing_templates_folder_is_an_error() {
    let repo = overwrite_repo();
    let out = run(
        repo.path(),
        &[
            "check",
            "--base",
            "HEAD~1",
            "--head",
            "HEAD",
            "--format",
            "markdown",
            "--templates",
            "no-such-folder",
        ],
    );
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--templates no-such-folder: no such directory"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn fail_on_warning_fails_on_a_warning_only_change() {
    let repo = GitRepo::new();
    repo.commit_files("base", &[("a.yaml", Some(&config_map("a", "")))]);
    repo.commit_files(
        "head",
        &[(
            "a.yaml",
            Some(&config_map("a", "data:\n  k: '1'\n  k: '2'\n")),
        )],
    );
    let args = ["check", "--base", "HEAD~1", "--head", "HEAD"];
    let out = run(repo.path(), &args);
    assert_eq!(code(&out), 0, "a warning alone passes: {}", stdout(&out));
    assert!(stdout(&out).contains("1 warning,"), "{}", stdout(&out));
    let out = run(
        repo.path(),
        &[&args[..], &["--fail-on", "warning"]].concat(),
    );
    assert_eq!(code(&out), 1, "{}", stdout(&out));
}

#[test]
fn output_writes_the_report_to_a_file() {
    let repo = overwrite_repo();
    let file = repo.path().join("report.json");
    let out = run(
        repo.path(),
        &[
            "check",
            "--base",
            "HEAD~1",
            "--head",
            "HEAD",
            "--format",
            "json",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(report["summary"]["errors"], 2);
}

#[test]
fn color_is_chosen_by_the_option_and_a_non_empty_no_color() {
    let repo = overwrite_repo();
    let args = ["check", "--base", "HEAD~1", "--head", "HEAD"];
    let escape = |out: &Output| stdout(out).contains('\u{1b}');
    let always = run(repo.path(), &[&args[..], &["--color", "always"]].concat());
    assert!(escape(&always), "{}", stdout(&always));
    let never = run(repo.path(), &[&args[..], &["--color", "never"]].concat());
    assert!(!escape(&never));
    // `auto` needs a terminal: `script` gives the command one.
    if !installed("script") {
        skip(
            "color_is_chosen_by_the_option_and_a_non_empty_no_color (auto part)",
            "`script` (Debian: bsdutils) is not installed to give the command a terminal",
        );
        return;
    }
    let on_terminal = |no_color: &str| {
        let command = format!("{} {}", env!("CARGO_BIN_EXE_clobbercheck"), args.join(" "));
        let out = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .current_dir(repo.path())
            .env("NO_COLOR", no_color)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        stdout(&out).contains('\u{1b}')
    };
    assert!(
        on_terminal(""),
        "an empty NO_COLOR does not turn colour off"
    );
    assert!(!on_terminal("1"), "a non-empty NO_COLOR turns colour off");
}

#[test]
fn check_and_split_read_standard_input() {
    let repo = GitRepo::new();
    repo.commit_files("base", &[("a.yaml", Some(&config_map("a", "")))]);
    let stream = format!("{}---\n{}", config_map("a", ""), config_map("b", ""));
    let out = run_with(
        repo.path(),
        &["check", "--base", "HEAD", "--head", "-", "--format", "json"],
        stream.as_bytes(),
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["head"], "-");
    assert_eq!(report["summary"]["added"], 1);
    assert_eq!(report["summary"]["unchanged"], 1);

    let out_dir = tempfile::tempdir().unwrap();
    let out = run_with(
        repo.path(),
        &["split", "--out", out_dir.path().to_str().unwrap(), "-"],
        stream.as_bytes(),
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 2);

    let out = run_with(
        repo.path(),
        &["check", "--base", "-", "--head", "-"],
        b"",
        &[],
    );
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("only one side"), "{}", stderr(&out));
}

#[test]
fn an_invalid_head_configuration_is_an_error_naming_the_key() {
    let repo = GitRepo::new();
    repo.commit_files("base", &[("a.yaml", Some(&config_map("a", "")))]);
    repo.commit_files(
        "head",
        &[(
            ".clobbercheck.yml",
            Some("clusterz: \"env/{cluster}/**\"\n"),
        )],
    );
    let out = run(
        repo.path(),
        &[
            "check", "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "invalid-config")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(finding["severity"], "error");
    assert_eq!(finding["path"], ".clobbercheck.yml");
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains("clusterz"), "{message}");
    // The base configuration (none: defaults) judged this run, and the notice says so.
    let notice = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "config-changed")
        .unwrap();
    assert!(
        notice["message"]
            .as_str()
            .unwrap()
            .contains("base revision's configuration")
    );
}

#[test]
fn waiting_on_a_terminal_says_so() {
    if !installed("script") {
        skip(
            "waiting_on_a_terminal_says_so",
            "`script` (Debian: bsdutils) is not installed to give the command a terminal",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let command = format!("{} split --out out -", env!("CARGO_BIN_EXE_clobbercheck"));
    // What a user types on the terminal, ended with Ctrl-D (EOT).
    let typed = format!("{}\u{4}", config_map("a", ""));
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(typed.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let shown = stdout(&out);
    assert!(
        shown.contains("reading YAML from standard input (end it with Ctrl-D)"),
        "{shown}"
    );
    assert!(
        dir.path().join("out/apps--configmap--a.yaml").is_file(),
        "{shown}"
    );
    // Not on a terminal (a pipe), nothing is said.
    let out = run_with(
        dir.path(),
        &["split", "--out", "piped", "-"],
        config_map("a", "").as_bytes(),
        &[],
    );
    assert_eq!(code(&out), 0);
    assert!(!stderr(&out).contains("reading YAML"), "{}", stderr(&out));
}
