//! Argo CD awareness through the binary: destinations give objects their cluster and namespace,
//! app-of-apps layouts where two Applications render the same Deployment, and Application name
//! collisions.

mod common;

use common::*;

fn app(name: &str, path: &str, destination: &str, namespace: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: {name}\n  namespace: argocd\n\
         spec:\n  project: default\n  source:\n    repoURL: https://github.com/example/gitops.git\n    path: {path}\n\
         \x20 destination:\n    {destination}\n    namespace: {namespace}\n\
         \x20 syncPolicy:\n    syncOptions: [FailOnSharedResource=true]\n"
    )
}

const DEPLOYMENT: &str =
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n";

fn check(repo: &GitRepo, base: &str) -> (i32, serde_json::Value) {
    let args = [
        "check", "--base", base, "--head", "HEAD", "--format", "json",
    ];
    let out = run(repo.path(), &args);
    (code(&out), json(&out))
}

fn ids(report: &serde_json::Value, name: &str) -> Vec<serde_json::Value> {
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["id"]["name"] == name)
        .map(|o| o["id"].clone())
        .collect()
}

#[test]
fn destination_sets_cluster_and_default_namespace() {
    let repo = GitRepo::new();
    repo.commit_files(
        "base",
        &[(
            "apps/web.yaml",
            Some(&app("web", "workloads/web", "name: prod-eu", "shop")),
        )],
    );
    repo.commit_files(
        "head",
        &[
            ("workloads/web/deployment.yaml", Some(DEPLOYMENT)),
            // Deployed to a second cluster by another Application: a second object.
            (
                "apps/web-us.yaml",
                Some(&app(
                    "web-us",
                    "./workloads/web/",
                    "server: https://us.example.com",
                    "shop-us",
                )),
            ),
        ],
    );
    let (status, report) = check(&repo, "HEAD~1");
    assert_eq!(status, 0, "{report}");
    let mut got = ids(&report, "web");
    got.sort_by_key(|id| id["cluster"].to_string());
    assert_eq!(
        got,
        vec![
            serde_json::json!({"cluster": "https://us.example.com", "group": "apps", "kind": "Deployment", "namespace": "shop-us", "name": "web"}),
            serde_json::json!({"cluster": "prod-eu", "group": "apps", "kind": "Deployment", "namespace": "shop", "name": "web"}),
            serde_json::json!({"cluster": null, "group": "argoproj.io", "kind": "Application", "namespace": "argocd", "name": "web"}),
        ]
    );
}

#[test]
fn app_of_apps_two_applications_rendering_the_same_deployment() {
    let repo = GitRepo::new();
    let in_cluster = "server: https://kubernetes.default.svc";
    repo.commit_files(
        "base",
        &[
            (
                "apps/root.yaml",
                Some(&app("root", "apps", in_cluster, "argocd")),
            ),
            (
                "apps/team-a.yaml",
                Some(&app("team-a", "workloads/web", in_cluster, "web")),
            ),
            ("workloads/web/deployment.yaml", Some(DEPLOYMENT)),
        ],
    );
    // The PR only adds a child Application: its folder is the one team-a already deploys.
    repo.commit_files(
        "head",
        &[(
            "apps/team-b.yaml",
            Some(&app("team-b", "workloads/web", in_cluster, "web")),
        )],
    );
    let (status, report) = check(&repo, "HEAD~1");
    assert_eq!(status, 1, "{report}");
    assert_eq!(
        findings(&report),
        vec![(
            "shared-resource".into(),
            "error".into(),
            "workloads/web/deployment.yaml".into(),
            1
        )]
    );
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("Application team-a") && message.contains("Application team-b"),
        "{message}"
    );
    assert_eq!(report["findings"][0]["id"]["cluster"], "in-cluster");
    assert_eq!(report["findings"][0]["id"]["namespace"], "web");

    // Pointing team-b at another destination namespace is not sharing.
    repo.commit_files(
        "fix",
        &[(
            "apps/team-b.yaml",
            Some(&app("team-b", "workloads/web", in_cluster, "web-b")),
        )],
    );
    let (status, report) = check(&repo, "HEAD~2");
    assert_eq!(status, 0, "{report}");
    assert!(findings(&report).is_empty(), "{report}");
}

#[test]
fn colliding_application_names_explain_app_of_apps_consequences() {
    let repo = GitRepo::new();
    let server = "server: https://cluster01.example.com";
    repo.commit_files(
        "base",
        &[(
            "apps/app01.yaml",
            Some(&app("app01", "env/app01", server, "app01")),
        )],
    );
    repo.commit_files(
        "head",
        &[(
            "apps/app02.yaml",
            Some(&app("app01", "env/app02", server, "app02")),
        )],
    );
    let (status, report) = check(&repo, "HEAD~1");
    assert_eq!(status, 1, "{report}");
    let dup = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "duplicate-identity")
        .expect("duplicate-identity");
    let message = dup["message"].as_str().unwrap();
    assert!(
        message.contains("Argo CD keeps one Application named app01 in namespace argocd"),
        "{message}"
    );
    assert!(
        message.contains("deploying env/app01 to https://cluster01.example.com, namespace app01"),
        "{message}"
    );
    assert!(message.contains("automated pruning deletes"), "{message}");
}

#[test]
fn changed_destination_deletes_stateful_objects_where_they_were() {
    let repo = GitRepo::new();
    let pvc = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  annotations:\n    argocd.argoproj.io/sync-options: Prune=false\nspec:\n  resources: {requests: {storage: 1Gi}}\n";
    repo.commit_files(
        "base",
        &[
            (
                "apps/db.yaml",
                Some(&app("db", "db", "name: cluster-a", "db")),
            ),
            ("db/pvc.yaml", Some(pvc)),
        ],
    );
    repo.commit_files(
        "head",
        &[(
            "apps/db.yaml",
            Some(&app("db", "db", "name: cluster-b", "db")),
        )],
    );
    let (_, report) = check(&repo, "HEAD~1");
    let deletion = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "stateful-deletion")
        .unwrap_or_else(|| panic!("stateful-deletion expected: {report}"));
    assert_eq!(deletion["id"]["cluster"], "cluster-a");
    let message = deletion["message"].as_str().unwrap();
    assert!(
        message.contains("still defined in db/pvc.yaml, but now lands as [cluster-b]"),
        "{message}"
    );
}
