//! deploy/: the Kubernetes manifests of the App build with `kubectl kustomize` for every overlay,
//! have what a restricted cluster asks of them, and pass clobbercheck's own `check --all` with
//! no error or warning (Prune=false on the data volume, no object shared between installs).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn overlays() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(deploy().join("overlays"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs
}

fn kustomize(dir: &Path) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_overlay_builds_with_probes_and_a_restricted_security_context() {
    if !common::installed("kubectl") {
        common::skip(
            "every_overlay_builds_with_probes_and_a_restricted_security_context",
            "kubectl is not installed",
        );
        return;
    }
    let dirs = overlays();
    assert_eq!(dirs.len(), 3, "{dirs:?}");
    for dir in dirs {
        let out = kustomize(&dir);
        for needed in [
            "path: /healthz",
            "readOnlyRootFilesystem: true",
            "runAsNonRoot: true",
            "allowPrivilegeEscalation: false",
            "type: RuntimeDefault",
            "name: clobbercheck-app",
            "memory: 2Gi",
        ] {
            assert!(
                out.contains(needed),
                "{}: no {needed}\n{out}",
                dir.display()
            );
        }
        let postgres = dir.ends_with("postgres");
        assert_eq!(
            out.contains("kind: PersistentVolumeClaim"),
            !postgres,
            "{out}"
        );
        assert_eq!(out.contains("CLOBBERCHECK_DATABASE_URL"), postgres, "{out}");
        assert_eq!(out.contains("replicas: 3"), postgres, "{out}");
        assert_eq!(
            out.contains("kind: ServiceMonitor"),
            dir.ends_with("monitoring"),
            "{out}"
        );
    }
}

fn check_all(dir: &Path) -> serde_json::Value {
    let out = common::run(
        dir,
        &[
            "check", "--all", "--format", "json", "--base", ".", "--head", ".",
        ],
    );
    assert!(common::code(&out) <= 1, "{}", common::stderr(&out));
    common::json(&out)
}

#[test]
fn clobbercheck_finds_nothing_to_say_about_its_own_manifests() {
    if !common::installed("kubectl") && !common::installed("kustomize") {
        common::skip(
            "clobbercheck_finds_nothing_to_say_about_its_own_manifests",
            "neither kustomize nor kubectl is installed to render the overlays",
        );
        return;
    }
    let report = check_all(&deploy());
    let summary = &report["summary"];
    assert_eq!(
        (summary["errors"].as_u64(), summary["warnings"].as_u64()),
        (Some(0), Some(0)),
        "{:#}",
        report["findings"]
    );
    // Rendered, not read as plain files: every overlay's objects, in its own namespace.
    assert_eq!(report["objects"].as_array().unwrap().len(), 9, "{report:#}");

    // The same check notices what these manifests avoid: a volume Argo CD may prune, and two
    // installs sharing one namespace (and so one Deployment).
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("deploy");
    let out = Command::new("cp")
        .arg("-r")
        .arg(deploy())
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success());
    let edit = |file: &str, from: &str, to: &str| {
        let path = copy.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file}: {from}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    };
    edit("base/pvc.yaml", "Prune=false", "PruneLast=true");
    edit(
        "overlays/monitoring/kustomization.yaml",
        "namespace: clobbercheck-monitored",
        "namespace: clobbercheck",
    );
    let rules: Vec<String> = check_all(&copy)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    assert!(
        rules.iter().any(|r| r == "missing-prune-false"),
        "{rules:?}"
    );
    assert!(rules.iter().any(|r| r == "duplicate-identity"), "{rules:?}");
}
