//! `clobbercheck check` on real git repositories and directories: identity, classification,
//! findings, configuration and exit statuses.

mod common;

use common::*;

fn deployment(name: &str, image: &str) -> String {
    object(
        "apps/v1",
        "Deployment",
        Some("web"),
        name,
        &format!(
            "spec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: {image}\n"
        ),
    )
}

fn check_json(repo: &GitRepo, base: &str, head: &str) -> (i32, serde_json::Value) {
    let out = run(
        repo.path(),
        &["check", "--base", base, "--head", head, "--format", "json"],
    );
    (code(&out), json(&out))
}

fn object_change<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"]["name"] == name)
        .unwrap_or_else(|| panic!("no object {name} in {report}"))
}

#[test]
fn git_revisions_classify_added_modified_deleted_unchanged() {
    let repo = GitRepo::new();
    repo.commit_files(
        "base",
        &[
            ("apps/a.yaml", Some(&deployment("a", "nginx:1"))),
            ("apps/b.yaml", Some(&deployment("b", "nginx:1"))),
            ("apps/c.yaml", Some(&deployment("c", "nginx:1"))),
        ],
    );
    repo.commit_files(
        "head",
        &[
            ("apps/a.yaml", Some(&deployment("a", "nginx:2"))),
            ("apps/c.yaml", None),
            ("apps/d.yaml", Some(&deployment("d", "nginx:1"))),
        ],
    );
    let (status, report) = check_json(&repo, "HEAD~1", "HEAD");
    assert_eq!(status, 0, "{report}");
    assert_eq!(object_change(&report, "a")["change"], "modified");
    assert_eq!(object_change(&report, "b")["change"], "unchanged");
    assert_eq!(object_change(&report, "c")["change"], "deleted");
    assert_eq!(object_change(&report, "d")["change"], "added");
    assert_eq!(object_change(&report, "c")["head"], serde_json::json!([]));
    assert_eq!(report["summary"]["added"], 1);
}

#[test]
fn version_bump_is_a_modification_and_reformatting_is_not() {
    let repo = GitRepo::new();
    repo.commit_files(
        "base",
        &[
            ("a.yaml", Some(&object("extensions/v1beta1", "Deployment", Some("x"), "legacy", "spec: {replicas: 1}\n"))),
            ("b.yaml", Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: '1'\n  b: '2'\n")),
        ],
    );
    repo.commit_files(
        "head",
        &[
            ("a.yaml", Some(&object("apps/v1", "Deployment", Some("x"), "legacy", "spec: {replicas: 1}\n"))),
            ("b.yaml", Some("# reformatted\nkind: ConfigMap\ndata: {b: \"2\", a: \"1\"}\napiVersion: v1\nmetadata: {name: cm}\n")),
        ],
    );
    let (status, report) = check_json(&repo, "HEAD~1", "HEAD");
    assert_eq!(status, 0);
    let legacy = object_change(&report, "legacy");
    assert_eq!(legacy["change"], "modified");
    assert_eq!(legacy["id"]["group"], "apps");
    assert_eq!(legacy["base"][0]["api_version"], "extensions/v1beta1");
    assert_eq!(legacy["head"][0]["api_version"], "apps/v1");
    assert_eq!(object_change(&report, "cm")["change"], "unchanged");
    assert_eq!(object_change(&report, "cm")["head"][0]["line"], 2);
}

#[test]
fn moving_an_object_to_another_file_is_visible_not_disguised() {
    let repo = GitRepo::new();
    repo.commit_files("base", &[("old/a.yaml", Some(&deployment("a", "nginx:1")))]);
    repo.commit_files(
        "head",
        &[
            ("old/a.yaml", None),
            ("new/a.yaml", Some(&deployment("a", "nginx:1"))),
        ],
    );
    let (status, report) = check_json(&repo, "HEAD~1", "HEAD");
    assert_eq!(status, 0, "{report}");
    let a = object_change(&report, "a");
    assert_eq!(a["moved"], true);
    assert_eq!(a["change"], "unchanged");
    assert!(report["findings"].as_array().unwrap().is_empty());
}

#[test]
fn new_file_redefining_an_existing_object_is_an_overwrite() {
    let repo = GitRepo::new();
    repo.commit_files(
        "base",
        &[("team-a/app.yaml", Some(&deployment("api", "a:1")))],
    );
    repo.commit_files(
        "head",
        &[(
            "team-b/app.yaml",
            Some(&format!(
                "# team b's new service\n{}",
                deployment("api", "b:1")
            )),
        )],
    );
    let (status, report) = check_json(&repo, "HEAD~1", "HEAD");
    assert_eq!(status, 1);
    let mut got = findings(&report);
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "duplicate-identity".into(),
                "error".into(),
                "team-b/app.yaml".into(),
                2
            ),
            (
                "overwrite-disguised-as-addition".into(),
                "error".into(),
                "team-b/app.yaml".into(),
                2
            ),
        ]
    );
    let message = report["findings"][1]["message"].as_str().unwrap();
    assert!(message.contains("team-a/app.yaml:1"), "{message}");
}

#[test]
fn duplicate_already_in_base_is_a_notice_only() {
    let repo = GitRepo::new();
    let twice = format!("{}---\n{}", deployment("a", "x:1"), deployment("a", "x:2"));
    repo.commit_files(
        "base",
        &[
            ("a.yaml", Some(&twice)),
            ("b.yaml", Some(&deployment("b", "x:1"))),
        ],
    );
    repo.commit_files("head", &[("b.yaml", Some(&deployment("b", "x:2")))]);
    let (status, report) = check_json(&repo, "HEAD~1", "HEAD");
    assert_eq!(status, 0, "{report}");
    assert_eq!(
        findings(&report),
        vec![(
            "duplicate-identity".into(),
            "notice".into(),
            "a.yaml".into(),
            13
        )]
    );
}

#[test]
fn clusters_namespaces_scope_and_generate_name() {
    let repo = GitRepo::new();
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  scope: Cluster\n  names: {kind: Widget, plural: widgets}\n";
    repo.commit_files(
        "base",
        &[
            (
                ".clobbercheck.yml",
                Some("clusters: \"env/{cluster}/**\"\ndefault_namespace: apps\n"),
            ),
            ("env/c1/app.yaml", Some(&deployment("api", "x:1"))),
            ("crds/widget.yaml", Some(crd)),
        ],
    );
    repo.commit_files(
        "head",
        &[
            // Same identity on another cluster: no collision.
            ("env/c2/app.yaml", Some(&deployment("api", "x:1"))),
            // Namespace written on a cluster-scoped custom resource is ignored.
            ("env/c1/widget.yaml", Some(&object("example.com/v1", "Widget", Some("ignored"), "w", ""))),
            // No namespace: the configured default applies.
            ("env/c1/cm.yaml", Some(&object("v1", "ConfigMap", None, "cm", ""))),
            ("env/c1/cm2.yaml", Some(&object("v1", "ConfigMap", Some("apps"), "cm", ""))),
            // generateName objects have no identity and never collide.
            ("env/c1/job.yaml", Some("apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: m-\n---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: m-\n")),
        ],
    );
    let (status, report) = check_json(&repo, "HEAD~1", "HEAD");
    let api: Vec<&serde_json::Value> = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["id"]["name"] == "api")
        .collect();
    assert_eq!(api.len(), 2, "{report}");
    assert_eq!(api[0]["id"]["cluster"], "c1");
    assert_eq!(api[1]["id"]["cluster"], "c2");
    assert_eq!(
        object_change(&report, "w")["id"]["namespace"],
        serde_json::Value::Null
    );
    let cm = object_change(&report, "cm");
    assert_eq!(cm["id"]["namespace"], "apps");
    assert_eq!(cm["head"].as_array().unwrap().len(), 2);
    // cm.yaml and cm2.yaml define one identity: a duplicate the PR introduces.
    assert_eq!(status, 1);
    assert_eq!(
        findings(&report),
        vec![(
            "duplicate-identity".into(),
            "error".into(),
            "env/c1/cm.yaml".into(),
            1
        )]
    );
    assert!(
        report["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["id"]["kind"] != "Job")
    );
}

#[test]
fn parse_error_is_located_and_the_rest_is_still_analysed() {
    let repo = GitRepo::new();
    repo.commit_files("base", &[("a.yaml", Some(&deployment("a", "x:1")))]);
    repo.commit_files(
        "head",
        &[
            (
                "broken.yaml",
                Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\n"),
            ),
            ("a.yaml", Some(&deployment("a", "x:2"))),
            (
                "values.yaml",
                Some("replicaCount: 3\nimage: {tag: latest}\n"),
            ),
        ],
    );
    let (status, report) = check_json(&repo, "HEAD~1", "HEAD");
    assert_eq!(status, 1);
    let got = findings(&report);
    assert_eq!(got.len(), 1, "{report}");
    assert_eq!(got[0].0, "parse-error");
    assert_eq!(got[0].2, "broken.yaml");
    assert!(got[0].3 >= 4, "{got:?}");
    assert_eq!(object_change(&report, "a")["change"], "modified");
}

#[test]
fn configuration_comes_from_base_and_a_change_is_noticed() {
    let repo = GitRepo::new();
    repo.commit_files("base", &[("a.yaml", Some(&deployment("a", "x:1")))]);
    repo.commit_files(
        "head",
        &[
            (
                ".clobbercheck.yml",
                Some("rules:\n  duplicate-identity: off\n  overwrite-disguised-as-addition: off\n"),
            ),
            ("b.yaml", Some(&deployment("a", "x:2"))),
        ],
    );
    let (status, report) = check_json(&repo, "HEAD~1", "HEAD");
    assert_eq!(status, 1, "a PR cannot switch off the rules that judge it");
    let rules: Vec<String> = findings(&report).into_iter().map(|f| f.0).collect();
    assert!(rules.contains(&"config-changed".to_string()), "{rules:?}");
    assert!(rules.contains(&"overwrite-disguised-as-addition".to_string()));
}

#[test]
fn configured_severity_and_off_apply() {
    let repo = GitRepo::new();
    repo.commit_files(
        "base",
        &[
            (".clobbercheck.yml", Some("rules:\n  duplicate-identity: warning\n  overwrite-disguised-as-addition: off\n")),
            ("a.yaml", Some(&deployment("a", "x:1"))),
        ],
    );
    repo.commit_files("head", &[("b.yaml", Some(&deployment("a", "x:2")))]);
    let (status, report) = check_json(&repo, "HEAD~1", "HEAD");
    assert_eq!(status, 0);
    assert_eq!(
        findings(&report),
        vec![(
            "duplicate-identity".into(),
            "warning".into(),
            "b.yaml".into(),
            1
        )]
    );
}

#[test]
fn include_and_exclude_select_files() {
    let repo = GitRepo::new();
    repo.commit_files(
        "base",
        &[(
            ".clobbercheck.yml",
            Some("include: [\"deploy/**/*.yaml\"]\nexclude: [\"deploy/tests/**\"]\n"),
        )],
    );
    repo.commit_files(
        "head",
        &[
            ("deploy/a.yaml", Some(&deployment("a", "x:1"))),
            ("deploy/tests/a.yaml", Some(&deployment("a", "x:1"))),
            ("other/a.yaml", Some(&deployment("a", "x:1"))),
        ],
    );
    let (status, report) = check_json(&repo, "HEAD~1", "HEAD");
    assert_eq!(status, 0, "{report}");
    let a = object_change(&report, "a");
    assert_eq!(a["head"].as_array().unwrap().len(), 1);
    assert_eq!(a["head"][0]["path"], "deploy/a.yaml");
}

#[test]
fn invalid_configuration_exits_2_naming_the_key() {
    let repo = GitRepo::new();
    repo.commit_files(
        "base",
        &[(
            ".clobbercheck.yml",
            Some("clusterz: \"env/{cluster}/**\"\n"),
        )],
    );
    repo.commit_files("head", &[("a.yaml", Some(&deployment("a", "x:1")))]);
    let out = run(
        repo.path(),
        &["check", "--base", "HEAD~1", "--head", "HEAD"],
    );
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("clusterz"), "{}", stderr(&out));

    let out = run(
        repo.path(),
        &[
            "check",
            "--base",
            "HEAD~1",
            "--head",
            "HEAD",
            "--config",
            "/nonexistent.yml",
        ],
    );
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("/nonexistent.yml"));
}

#[test]
fn unknown_revision_exits_2() {
    let repo = GitRepo::new();
    repo.commit_files("base", &[("a.yaml", Some(&deployment("a", "x:1")))]);
    let out = run(
        repo.path(),
        &["check", "--base", "no-such-branch", "--head", "HEAD"],
    );
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("unknown revision 'no-such-branch'"), "{err}");
}

#[test]
fn working_tree_against_head_serves_as_pre_commit_hook() {
    let repo = GitRepo::new();
    repo.commit_files("base", &[("a.yaml", Some(&deployment("a", "x:1")))]);
    std::fs::write(repo.path().join(".gitignore"), "build/\n").unwrap();
    repo.write(&[
        (
            "a.yaml",
            Some(&format!(
                "{}---\n{}",
                deployment("a", "x:1"),
                deployment("a", "x:9")
            )),
        ),
        ("build/generated.yaml", Some(&deployment("a", "ignored"))),
    ]);
    let out = run(
        repo.path(),
        &["check", "--base", "HEAD", "--head", ".", "--format", "json"],
    );
    assert_eq!(code(&out), 1);
    let mut got = findings(&json(&out));
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "duplicate-identity".into(),
                "error".into(),
                "a.yaml".into(),
                13
            ),
            (
                "overwrite-disguised-as-addition".into(),
                "error".into(),
                "a.yaml".into(),
                13
            ),
        ]
    );
}

#[test]
fn list_documents_are_expanded_with_item_lines() {
    let repo = GitRepo::new();
    repo.commit_files(
        "base",
        &[(
            "cm.yaml",
            Some(&object("v1", "ConfigMap", Some("x"), "one", "")),
        )],
    );
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: two\n    namespace: x\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: one\n    namespace: x\n";
    repo.commit_files("head", &[("list.yaml", Some(list))]);
    let (status, report) = check_json(&repo, "HEAD~1", "HEAD");
    assert_eq!(status, 1);
    assert_eq!(object_change(&report, "two")["head"][0]["line"], 4);
    let got = findings(&report);
    assert!(
        got.contains(&(
            "overwrite-disguised-as-addition".into(),
            "error".into(),
            "list.yaml".into(),
            9
        )),
        "{got:?}"
    );
}

#[test]
fn symlinked_files_are_not_read_as_manifests() {
    let repo = GitRepo::new();
    repo.commit_files("base", &[("a.yaml", Some(&deployment("a", "x:1")))]);
    std::os::unix::fs::symlink("a.yaml", repo.path().join("link.yaml")).unwrap();
    repo.commit("head adds a symlink to a.yaml");
    for head in ["HEAD", "."] {
        let (status, report) = check_json(&repo, "HEAD~1", head);
        assert_eq!(status, 0, "{head}: {report}");
        let a = object_change(&report, "a");
        assert_eq!(a["head"].as_array().unwrap().len(), 1, "{head}: {report}");
        assert_eq!(a["head"][0]["path"], "a.yaml");
    }
}
