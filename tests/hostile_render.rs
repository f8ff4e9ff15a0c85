//! Hostile renders through the real binary (issue 6): output that never ends (jsonnet, and an
//! external tool writing forever), and a tool that tries to reach the network — a loopback
//! listener must see no connection. Each is a render-error on its own target; everything else is
//! still checked.
//!
//! The external tool is a stand-in `kubectl` script first in PATH: it does what a hostile
//! overlay can make kustomize do (write without end, open a connection), whatever kustomize
//! version is installed, and runs here where kubectl is not.

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

fn write(root: &Path, path: &str, text: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

fn check(base: &Path, head: &Path, config: &Path, path_env: Option<String>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clobbercheck"));
    command.args([
        "check",
        "--base",
        base.to_str().unwrap(),
        "--head",
        head.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--format",
        "json",
    ]);
    if let Some(path) = path_env {
        command.env("PATH", path);
    }
    command.output().unwrap()
}

/// `target → message` of every render-error finding, and the names of all objects.
fn outcome(out: &Output) -> (Vec<(String, String)>, Vec<String>) {
    let report = json(out);
    let errors = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "render-error")
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let names = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"]["name"].as_str().unwrap().to_string())
        .collect();
    (errors, names)
}

#[test]
fn jsonnet_output_that_never_ends_is_stopped_and_the_rest_is_checked() {
    let base = tempfile::tempdir().unwrap();
    let head = tempfile::tempdir().unwrap();
    write(
        head.path(),
        "plain.yaml",
        &object("v1", "ConfigMap", Some("app"), "plain", ""),
    );
    // A billion ConfigMaps: the evaluation cannot finish, whichever limit stops it first.
    write(
        head.path(),
        "env/c/endless/main.jsonnet",
        "std.makeArray(1000000000, function(i) { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' + i } })",
    );
    write(
        head.path(),
        "env/c/fine/main.jsonnet",
        "{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fine', namespace: 'app' } }",
    );
    let config = head.path().join("cfg.yml");
    std::fs::write(
        &config,
        "sources:\n  - jsonnet: 'env/*/*/main.jsonnet'\nrender_limits: {timeout_seconds: 5, memory_mib: 512, output_mib: 4}\n",
    )
    .unwrap();
    let started = Instant::now();
    let out = check(base.path(), head.path(), &config, None);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let (errors, mut names) = outcome(&out);
    names.sort();
    assert_eq!(names, vec!["fine", "plain"]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "env/c/endless/main.jsonnet");
    assert!(
        ["timed out", "memory", "output"]
            .iter()
            .any(|w| errors[0].1.contains(w)),
        "{errors:?}"
    );
}

#[test]
fn an_external_tool_writing_forever_or_dialing_out_is_stopped_and_cut_off() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let tools = tempfile::tempdir().unwrap();
    let kubectl = tools.path().join("kubectl");
    // `kubectl kustomize <target>`: one overlay writes without end, one dials the listener
    // (bash's /dev/tcp connects directly, ignoring proxies, as Go does for loopback).
    std::fs::write(
        &kubectl,
        format!(
            "#!/bin/bash\n\
             case \"$2\" in\n\
             overlays/forever) exec /usr/bin/yes 'a: b' ;;\n\
             overlays/dial) if exec 3<>/dev/tcp/127.0.0.1/{port}; then echo connected >&3; echo 'reached the network' >&2; exit 1; fi ;;\n\
             esac\n\
             printf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: %s\\n  namespace: app\\n' \"${{2##*/}}\"\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&kubectl, std::fs::Permissions::from_mode(0o755)).unwrap();
    let base = tempfile::tempdir().unwrap();
    let head = tempfile::tempdir().unwrap();
    write(
        head.path(),
        "plain.yaml",
        &object("v1", "ConfigMap", Some("app"), "plain", ""),
    );
    for overlay in ["forever", "dial", "calm"] {
        write(
            head.path(),
            &format!("overlays/{overlay}/kustomization.yaml"),
            "resources: []\n",
        );
    }
    let config = head.path().join("cfg.yml");
    std::fs::write(
        &config,
        "sources:\n  - kustomize: 'overlays/*'\nrender_limits: {timeout_seconds: 20, output_mib: 1}\n",
    )
    .unwrap();
    let path_env = format!(
        "{}:{}",
        tools.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let started = Instant::now();
    let out = check(base.path(), head.path(), &config, Some(path_env));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the cap, not the timeout, stops it"
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let (errors, mut names) = outcome(&out);
    names.sort();
    if network_namespaces() {
        assert!(
            listener.accept().is_err(),
            "the tool reached a loopback listener: {errors:?}"
        );
    } else {
        common::skip(
            "the loopback part of an_external_tool_writing_forever_or_dialing_out",
            "this kernel allows no network namespace here (not root, no unprivileged user \
             namespaces), so only the proxies guard external tools",
        );
    }
    assert_eq!(names, vec!["calm", "dial", "plain"], "{errors:?}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "overlays/forever/kustomization.yaml");
    assert!(
        errors[0].1.contains("output above the limit of 1 MiB"),
        "{errors:?}"
    );
}

/// Whether this process may give a child a network namespace (as root, or through an
/// unprivileged user namespace), asked of util-linux `unshare`.
fn network_namespaces() -> bool {
    [
        &["--net", "true"][..],
        &["--map-root-user", "--net", "true"][..],
    ]
    .iter()
    .any(|args| {
        Command::new("unshare")
            .args(*args)
            .output()
            .is_ok_and(|o| o.status.success())
    })
}
