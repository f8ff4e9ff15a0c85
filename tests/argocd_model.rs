//! Argo CD's model of a repository, through the binary as a new user runs it (no
//! `.clobbercheck.yml`): tool detection per folder, Application parameters, this repository's
//! URL and revision (issue 10).

mod common;

use std::path::Path;

use common::*;

fn fixture(name: &str) -> (String, String) {
    fixture_sides("argocd", name)
}

/// `check --format json` of a fixture's base and head, with extra arguments.
fn check_fixture(name: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    check_fixture_json("argocd", name, extra)
}

fn errors(report: &serde_json::Value) -> Vec<(String, String, String, u64)> {
    findings(report)
        .into_iter()
        .filter(|f| f.1 == "error")
        .collect()
}

fn object<'a>(
    report: &'a serde_json::Value,
    namespace: &str,
    name: &str,
) -> Option<&'a serde_json::Value> {
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"]["namespace"] == namespace && o["id"]["name"] == name)
}

fn kustomize_available(test: &str) -> bool {
    let found = installed("kustomize") || installed("kubectl");
    if !found {
        skip(test, "neither kustomize nor kubectl is installed");
    }
    found
}

#[test]
fn a_copied_chart_is_not_analysed_and_its_templates_are_never_objects() {
    let (status, report) = check_fixture("chart-copied", &[]);
    assert_eq!(status, 0, "{report:#}");
    assert!(errors(&report).is_empty(), "{report:#}");
    let text = report.to_string();
    assert!(
        !text.contains("{{"),
        "template text became an object: {report:#}"
    );
    assert!(
        report["objects"].as_array().unwrap().is_empty(),
        "chart files were read as objects: {report:#}"
    );
    let notices: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "notice")
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        notices
            .iter()
            .any(|m| m.contains("Helm chart charts/invoicing is not analysed")),
        "{notices:?}"
    );
    // The untouched chart is old news: no notice about it in a PR that does not touch it.
    assert!(
        !notices.iter().any(|m| m.contains("charts/billing")),
        "{notices:?}"
    );
}

#[test]
fn an_added_overlay_deploys_its_own_objects_and_patches_are_never_objects() {
    if !kustomize_available(
        "an_added_overlay_deploys_its_own_objects_and_patches_are_never_objects",
    ) {
        return;
    }
    let (status, report) = check_fixture("overlay-added", &[]);
    assert_eq!(status, 0, "{report:#}");
    assert!(errors(&report).is_empty(), "{report:#}");
    let canary = object(&report, "staging", "canary-worker").expect("canary-worker rendered");
    assert_eq!(canary["change"], "added", "{canary:#}");
    assert_eq!(
        canary["head"][0]["path"],
        "overlays/canary/kustomization.yaml"
    );
    let worker = object(&report, "staging", "worker").expect("worker rendered");
    assert_eq!(worker["change"], "unchanged", "{worker:#}");
    // Patch files and the base's own files are inputs, never objects of their own.
    assert!(object(&report, "default", "worker").is_none(), "{report:#}");
    for o in report["objects"].as_array().unwrap() {
        for side in ["base", "head"] {
            for def in o[side].as_array().unwrap() {
                let path = def["path"].as_str().unwrap();
                assert!(
                    !path.ends_with("replicas.yaml"),
                    "a patch became an object: {o:#}"
                );
            }
        }
    }
}

fn shared(report: &serde_json::Value) -> Vec<(String, String, String, u64)> {
    findings(report)
        .into_iter()
        .filter(|f| f.0 == "shared-resource")
        .collect()
}

#[test]
fn an_application_of_another_repository_places_nothing_here() {
    // Today's behaviour without knowing this repository's URL: the vendor's path is taken
    // to be ours, so the Deployment looks shared.
    let (status, report) = check_fixture("other-repository", &[]);
    assert_eq!(status, 1, "{report:#}");
    assert!(!shared(&report).is_empty(), "{report:#}");
    // Knowing the URL (any written form), the vendor's Application deploys nothing of ours.
    for url in [
        "git@github.com:example/gitops.git",
        "https://github.com/example/gitops",
    ] {
        let (status, report) = check_fixture("other-repository", &["--repo-url", url]);
        assert_eq!(status, 0, "{url}: {report:#}");
        assert!(shared(&report).is_empty(), "{url}: {report:#}");
        let cache = object(&report, "cache", "cache").expect("cache placed by cache-a");
        assert_eq!(cache["change"], "unchanged", "{cache:#}");
    }
}

#[test]
fn the_origin_remote_names_this_repository_and_a_pinned_tag_places_nothing() {
    let repo = GitRepo::new();
    repo.repo
        .remote("origin", "ssh://git@github.com/example/gitops.git")
        .unwrap();
    let (base, head) = fixture("other-repository");
    let copy = |side: &str| -> Vec<(String, String)> {
        let root = Path::new(side);
        let mut out = Vec::new();
        for path in [
            "apps/cache-a.yaml",
            "apps/vendor-cache.yaml",
            "components/cache/deployment.yaml",
        ] {
            if let Ok(text) = std::fs::read_to_string(root.join(path)) {
                out.push((path.to_string(), text));
            }
        }
        out
    };
    let commit = |files: Vec<(String, String)>, extra: &[(&str, &str)]| {
        let mut all: Vec<(&str, Option<&str>)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), Some(t.as_str())))
            .collect();
        all.extend(extra.iter().map(|(p, t)| (*p, Some(*t))));
        repo.commit_files("side", &all);
    };
    commit(copy(&base), &[]);
    // Our own repository, but pinned to a tag: not the revision under review.
    let pinned = std::fs::read_to_string(Path::new(&head).join("apps/vendor-cache.yaml"))
        .unwrap()
        .replace("vendor-cache", "cache-pinned")
        .replace(
            "https://github.com/vendor/cache-deploy.git",
            "https://github.com/example/gitops.git",
        )
        .replace("namespace: cache", "namespace: cache-old");
    commit(copy(&head), &[("apps/cache-pinned.yaml", &pinned)]);
    let out = run(
        repo.path(),
        &[
            "check", "--base", "HEAD~1", "--head", "HEAD", "--format", "json",
        ],
    );
    let report = json(&out);
    assert_eq!(code(&out), 0, "{report:#}");
    assert!(shared(&report).is_empty(), "{report:#}");
    assert!(
        object(&report, "cache-old", "cache").is_none(),
        "{report:#}"
    );
    assert!(object(&report, "cache", "cache").is_some(), "{report:#}");
}

#[test]
fn repo_urls_in_the_configuration_name_this_repository() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        "repo_urls: ['https://github.com/example/gitops.git/']\n",
    )
    .unwrap();
    let (status, report) =
        check_fixture("other-repository", &["--config", config.to_str().unwrap()]);
    assert_eq!(status, 0, "{report:#}");
    assert!(shared(&report).is_empty(), "{report:#}");
}

fn messages(report: &serde_json::Value, rule: &str) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .map(|f| format!("{}:{}: {}", f["path"], f["line"], f["message"]))
        .collect()
}

#[test]
fn application_parameters_render_kustomize_and_select_directory_files() {
    let test = "application_parameters_render_kustomize_and_select_directory_files";
    if !kustomize_available(test) {
        return;
    }
    let (_, report) = check_fixture("app-parameters", &[]);
    // kustomize.namePrefix / nameSuffix / namespace, applied as `kustomize edit` would.
    let blue = object(&report, "blue", "blue-worker-v2").expect("edited kustomization rendered");
    assert_eq!(blue["change"], "added");
    assert!(object(&report, "default", "worker").is_none(), "{report:#}");
    // directory.recurse with include '*.yaml' and exclude 'skip/*' (globs crossing '/').
    assert!(object(&report, "raw", "a").is_some(), "{report:#}");
    assert!(object(&report, "raw", "c").is_some(), "{report:#}");
    assert!(object(&report, "raw", "b").is_none(), "{report:#}");
    assert!(object(&report, "raw", "d").is_none(), "{report:#}");
    // Template text outside a chart is named, never an identity.
    let parse = messages(&report, "parse-error");
    assert!(
        parse
            .iter()
            .any(|m| m.contains("templated/settings.yaml")
                && m.contains("not a valid Kubernetes name")),
        "{parse:?}"
    );
    assert!(!report["objects"].to_string().contains("{{"), "{report:#}");
}

#[test]
fn a_chart_an_application_deploys_is_rendered_with_its_helm_parameters() {
    let test = "a_chart_an_application_deploys_is_rendered_with_its_helm_parameters";
    let (_, report) = check_fixture("app-parameters", &[]);
    let render = messages(&report, "render-error");
    if !installed("helm") {
        // A missing tool stays a render-error naming it, at the chart.
        assert!(
            render
                .iter()
                .any(|m| m.contains("charts/billing") && m.contains("`helm` is not installed")),
            "{render:?}"
        );
        skip(
            test,
            "helm is not installed: the chart's rendered objects are not checked",
        );
        return;
    }
    assert!(render.is_empty(), "{render:?}");
    // releaseName, the `$values` ref file (enabled: true), valuesObject and parameters.
    let settings = object(&report, "billing", "billing-eu-settings").expect("chart rendered");
    assert_eq!(settings["change"], "added", "{settings:#}");
}
