//! `clobbercheck check` and `clobbercheck render` on rendered sources, through the real binary.

use std::path::Path;
use std::process::{Command, Output};

fn clobbercheck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clobbercheck"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(root: &Path, path: &str, text: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

const BASE: &str = "examples/jsonnet-incident/base";
const HEAD: &str = "examples/jsonnet-incident/head";

#[test]
fn the_jsonnet_incident_fails_with_the_disguised_overwrite() {
    let out = clobbercheck(&["check", "--base", BASE, "--head", HEAD, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let overwrites: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["rule"] == "overwrite-disguised-as-addition")
        .collect();
    assert_eq!(overwrites.len(), 2, "{findings:#?}");
    for finding in &overwrites {
        assert_eq!(finding["path"], "env/cluster01/app02/main.jsonnet");
        assert_eq!(finding["id"]["name"], "app01-cluster01");
        assert_eq!(finding["id"]["cluster"], "cluster01");
    }
    let duplicate = findings
        .iter()
        .find(|f| f["rule"] == "duplicate-identity")
        .expect("duplicate-identity finding");
    let message = duplicate["message"].as_str().unwrap();
    assert!(
        message.contains("env/cluster01/app01/main.jsonnet:1")
            && message.contains("env/cluster01/app02/main.jsonnet:1"),
        "{message}"
    );
    // The new Deployment of app02 is a plain addition.
    let added: Vec<&str> = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["change"] == "added")
        .map(|o| o["id"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(added, ["app02"]);
}

#[test]
fn render_prints_what_the_check_saw() {
    let out = clobbercheck(&["render", "--rev", HEAD]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches("\n---\n").count() + 1, 6, "{stdout}");
    assert!(
        stdout.starts_with("---\n# Source: env/cluster01/app01/main.jsonnet:1\n"),
        "{stdout}"
    );
    assert!(stdout.contains("# Source: env/cluster01/app02/main.jsonnet:1\n"));
    assert!(stdout.contains("image: example/app02:0.1.0"));
}

#[test]
fn render_split_writes_one_file_per_object_and_refuses_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("base");
    let out = clobbercheck(&[
        "render",
        "--rev",
        BASE,
        "--split",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut files: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "app01--deployment.apps--app01.yaml",
            "argocd--application.argoproj.io--app01-cluster01.yaml",
            "argocd--appproject.argoproj.io--app01-cluster01.yaml",
        ]
    );
    let out_dir = dir.path().join("head");
    let out = clobbercheck(&[
        "render",
        "--rev",
        HEAD,
        "--split",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("env/cluster01/app01/main.jsonnet:1")
            && stderr.contains("env/cluster01/app02/main.jsonnet:1"),
        "{stderr}"
    );
}

#[test]
fn an_invalid_sources_entry_stops_the_run_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        ".clobbercheck.yml",
        "sources:\n  - jsonnet: 'env/*/main.jsonnet'\n  - kustomize: 'overlays/*'\n    jpath: [lib]\n",
    );
    let root = dir.path().to_str().unwrap();
    let out = clobbercheck(&["check", "--base", root, "--head", root]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("sources[1] (kustomize: overlays/*)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("'jpath' only applies to jsonnet entries"),
        "{stderr}"
    );
}

#[test]
fn a_target_that_fails_in_head_is_a_render_error_and_the_rest_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (base, head) = (dir.path().join("base"), dir.path().join("head"));
    for root in [&base, &head] {
        write(
            root,
            ".clobbercheck.yml",
            "sources:\n  - jsonnet: 'env/*/main.jsonnet'\n",
        );
        write(
            root,
            "env/a/main.jsonnet",
            "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } }",
        );
    }
    write(
        &head,
        "env/b/main.jsonnet",
        "{\n  apiVersion: 'v1',\n  kind: std.extVar('kind'),\n}\n",
    );
    write(
        &head,
        "plain.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n",
    );
    let out = clobbercheck(&[
        "check",
        "--base",
        base.to_str().unwrap(),
        "--head",
        head.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "render-error")
        .expect("render-error finding");
    assert_eq!(finding["path"], "env/b/main.jsonnet");
    assert_eq!(finding["line"], 3);
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains("env/b/main.jsonnet:3:9"), "{message}");
    assert!(
        message.contains("undefined external variable 'kind'"),
        "{message}"
    );
    assert_eq!(report["summary"]["added"], 1, "plain.yaml is still checked");
    assert_eq!(report["summary"]["unchanged"], 1, "env/a is still rendered");
}
