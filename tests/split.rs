//! `clobbercheck split`: one object per file named from identity; duplicates refused.

mod common;

use common::*;

#[test]
fn writes_one_file_per_identity_named_without_version() {
    let dir = tempfile::tempdir().unwrap();
    let input = format!(
        "{}---\n{}---\n{}",
        object(
            "apps/v1",
            "Deployment",
            Some("web"),
            "api",
            "spec: {replicas: 2}\n"
        ),
        object("v1", "Namespace", None, "web", ""),
        object(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            None,
            "system:reader",
            "rules: []\n"
        ),
    );
    std::fs::write(dir.path().join("all.yaml"), &input).unwrap();
    let out = run(dir.path(), &["split", "--out", "out", "all.yaml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            "_cluster--clusterrole.rbac.authorization.k8s.io--system:reader.yaml",
            "_cluster--namespace--web.yaml",
            "web--deployment.apps--api.yaml",
        ]
    );
    let text =
        std::fs::read_to_string(dir.path().join("out/web--deployment.apps--api.yaml")).unwrap();
    let value: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(value["spec"]["replicas"], 2);
    assert_eq!(value["apiVersion"], "apps/v1");

    // A version bump writes the same file name: a modification, not delete + add.
    let bumped = object("extensions/v1beta1", "Deployment", Some("web"), "api", "");
    std::fs::write(dir.path().join("old.yaml"), bumped).unwrap();
    let out = run(dir.path(), &["split", "--out", "old", "old.yaml"]);
    assert_eq!(code(&out), 0);
    assert!(
        dir.path()
            .join("old/web--deployment.apps--api.yaml")
            .is_file()
    );
}

#[test]
fn refuses_duplicates_naming_both_definitions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        object("v1", "ConfigMap", Some("x"), "cm", ""),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        format!(
            "# again\n{}",
            object("v1", "ConfigMap", Some("x"), "cm", "data: {a: b}\n")
        ),
    )
    .unwrap();
    let out = run(dir.path(), &["split", "--out", "out", "a.yaml", "b.yaml"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.contains("a.yaml:1") && err.contains("b.yaml:2"),
        "{err}"
    );
    assert!(
        !dir.path().join("out").exists(),
        "nothing is written when refusing"
    );
}

#[test]
fn reads_standard_input_and_reports_parse_errors_with_location() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_clobbercheck"))
        .args(["split", "--out", "out", "-"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("-:"), "{}", stderr(&out));
}

#[test]
fn keeps_each_documents_own_text() {
    let dir = tempfile::tempdir().unwrap();
    // `yes` unquoted is a boolean to kubectl (YAML 1.1); re-serialised it became "yes".
    let first = "# the web tier\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web # inline\n  namespace: x\ndata:\n  enabled: yes\n  z: 'single'\n  a: \"double\"\n";
    let second = "kind: ConfigMap\napiVersion: v1\nmetadata: {name: db, namespace: x}\n";
    std::fs::write(
        dir.path().join("all.yaml"),
        format!("---\n{first}---\n{second}"),
    )
    .unwrap();
    let out = run(dir.path(), &["split", "--out", "out", "all.yaml"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let read = |name: &str| std::fs::read_to_string(dir.path().join("out").join(name)).unwrap();
    assert_eq!(read("x--configmap--web.yaml"), first);
    assert_eq!(read("x--configmap--db.yaml"), second);
}

#[test]
fn reports_every_duplicate_identity() {
    let dir = tempfile::tempdir().unwrap();
    let cm = |name: &str| object("v1", "ConfigMap", Some("x"), name, "");
    std::fs::write(
        dir.path().join("all.yaml"),
        format!(
            "{}---\n{}---\n{}---\n{}",
            cm("a"),
            cm("b"),
            cm("a"),
            cm("b")
        ),
    )
    .unwrap();
    let out = run(dir.path(), &["split", "--out", "out", "all.yaml"]);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(err.contains("ConfigMap x/a is defined 2 times"), "{err}");
    assert!(err.contains("ConfigMap x/b is defined 2 times"), "{err}");
}
