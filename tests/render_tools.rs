//! kustomize and helm targets through their own binaries. Tests that need a tool run only when
//! it is installed, and say `SKIPPED` visibly otherwise (a failure in CI); the missing-tool findings are
//! tested always, by running with an empty PATH.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{installed, skip};

fn clobbercheck(args: &[&str], path_env: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clobbercheck"));
    command.args(args);
    if let Some(path) = path_env {
        command.env("PATH", path);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(root: &Path, path: &str, text: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

fn kustomize_repo(root: &Path) {
    write(
        root,
        ".clobbercheck.yml",
        "sources:\n  - kustomize: 'overlays/*'\n  - helm: 'charts/*'\n    values: [values.yaml]\n",
    );
    write(root, "base/kustomization.yaml", "resources: [cm.yaml]\n");
    write(
        root,
        "base/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: '1'\n",
    );
    write(
        root,
        "overlays/prod/kustomization.yaml",
        "namespace: prod\nresources: [../../base]\n",
    );
    write(
        root,
        "overlays/stage/kustomization.yaml",
        "namespace: stage\nresources: [../../base]\n",
    );
}

fn chart(root: &Path) {
    write(
        root,
        "charts/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    );
    write(root, "charts/web/values.yaml", "replicas: 2\n");
    write(
        root,
        "charts/web/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\ndata:\n  replicas: '{{ .Values.replicas }}'\n",
    );
}

#[test]
fn kustomize_overlays_render_and_consume_their_bases() {
    if !installed("kustomize") && !installed("kubectl") {
        skip(
            "kustomize_overlays_render_and_consume_their_bases",
            "neither kustomize nor kubectl is installed",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    kustomize_repo(dir.path());
    let out = clobbercheck(&["render", "--rev", dir.path().to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("# Source: overlays/prod/kustomization.yaml:1 (rendered by overlays/prod)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("namespace: prod") && stdout.contains("namespace: stage"),
        "{stdout}"
    );
    // base/cm.yaml is an input of the overlays, not an object of its own in `default`.
    assert_eq!(stdout.matches("name: cfg").count(), 2, "{stdout}");
}

#[test]
fn kustomize_cannot_reach_the_network_or_run_exec_functions() {
    if !installed("kustomize") && !installed("kubectl") {
        skip(
            "kustomize_cannot_reach_the_network_or_run_exec_functions",
            "neither kustomize nor kubectl is installed",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    kustomize_repo(dir.path());
    write(
        dir.path(),
        "overlays/remote/kustomization.yaml",
        "resources:\n  - https://github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v3.3.1\n",
    );
    let marker = dir.path().join("exec-ran");
    write(
        dir.path(),
        "overlays/exec/kustomization.yaml",
        "resources: [../../base]\ngenerators: [gen.yaml]\n",
    );
    write(
        dir.path(),
        "overlays/exec/gen.yaml",
        &format!(
            "apiVersion: example.com/v1\nkind: Gen\nmetadata:\n  name: gen\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: /usr/bin/touch {}\n",
            marker.display()
        ),
    );
    let out = clobbercheck(&["render", "--rev", dir.path().to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("render-error: overlays/remote/kustomization.yaml:1:1"),
        "{stderr}"
    );
    assert!(
        stderr.contains("render-error: overlays/exec/kustomization.yaml:1:1"),
        "{stderr}"
    );
    assert!(!marker.exists(), "the exec function ran");
    // The other overlays still rendered.
    assert!(text(&out.stdout).contains("namespace: prod"));
}

#[test]
fn helm_charts_render_with_their_values() {
    if !installed("helm") {
        skip(
            "helm_charts_render_with_their_values",
            "helm is not installed on this machine",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    kustomize_repo(dir.path());
    chart(dir.path());
    let out = clobbercheck(&["render", "--rev", dir.path().to_str().unwrap()], None);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("name: web-cfg") && stdout.contains("replicas: \"2\""),
        "{stdout}"
    );
}

#[test]
fn missing_tools_are_render_errors_naming_the_tool() {
    let dir = tempfile::tempdir().unwrap();
    kustomize_repo(dir.path());
    chart(dir.path());
    let out = clobbercheck(
        &["render", "--rev", dir.path().to_str().unwrap()],
        Some("/nonexistent"),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("overlays/prod/kustomization.yaml:1:1: cannot render: neither `kustomize` nor `kubectl` is installed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("charts/web/Chart.yaml:1:1: cannot render: `helm` is not installed"),
        "{stderr}"
    );
}

#[test]
fn an_overlay_added_in_the_pr_that_reuses_an_identity_is_an_overwrite() {
    if !installed("kustomize") && !installed("kubectl") {
        skip(
            "an_overlay_added_in_the_pr_that_reuses_an_identity_is_an_overwrite",
            "neither kustomize nor kubectl is installed",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (base, head) = (dir.path().join("base"), dir.path().join("head"));
    kustomize_repo(&base);
    kustomize_repo(&head);
    // A new overlay copied from prod, whose namespace was not updated.
    write(
        &head,
        "overlays/canary/kustomization.yaml",
        "namespace: prod\nresources: [../../base]\n",
    );
    let out = clobbercheck(
        &[
            "check",
            "--base",
            base.to_str().unwrap(),
            "--head",
            head.to_str().unwrap(),
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "overwrite-disguised-as-addition")
        .expect("overwrite finding");
    assert_eq!(finding["path"], "overlays/canary/kustomization.yaml");
    let message = finding["message"].as_str().unwrap();
    assert!(
        message.contains("overlays/prod/kustomization.yaml:1 (rendered by overlays/prod)"),
        "{message}"
    );
}
