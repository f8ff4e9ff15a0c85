//! Flux as Flux sees it (issue 11), through the binary on fixtures written for it: a
//! `flux bootstrap` layout, nested Kustomizations, an overlapping pair, a Kustomization beside
//! an Argo CD Application, HelmRelease release identities, a chart of this repository,
//! post-build substitution (strict mode included), a source in another repository, two
//! clusters, Flux's own prune protection in the wording of a fix, and a Kustomization's
//! `patches`, `images` and `components` built with kustomize as kustomize-controller builds them.

mod common;

use common::*;

/// `check --format json` of `tests/fixtures/flux/<name>/{base,head}` with extra arguments.
fn check_fixture(name: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    check_fixture_json("flux", name, extra)
}

/// The bootstrap folders hold a kustomization: building them needs kustomize (or kubectl).
fn kustomize_available(test: &str) -> bool {
    let found = installed("kustomize") || installed("kubectl");
    if !found {
        skip(test, "neither kustomize nor kubectl is installed");
    }
    found
}

fn messages<'a>(report: &'a serde_json::Value, rule: &str) -> Vec<&'a str> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .map(|f| f["message"].as_str().unwrap())
        .collect()
}

/// Every object of head with this name, as (cluster, namespace).
fn placed(report: &serde_json::Value, kind: &str, name: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["id"]["kind"] == kind && o["id"]["name"] == name)
        .filter(|o| o["change"] != "deleted")
        .map(|o| {
            (
                o["id"]["cluster"].as_str().unwrap_or("-").to_string(),
                o["id"]["namespace"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn bootstrap_roots_name_the_cluster_of_nested_kustomizations_and_an_overlap_names_both() {
    let test =
        "bootstrap_roots_name_the_cluster_of_nested_kustomizations_and_an_overlap_names_both";
    if !kustomize_available(test) {
        return;
    }
    let (status, report) = check_fixture("bootstrap-overlap", &[]);
    // Root (clusters/prod/flux-system) → infrastructure → controllers → the Namespace.
    assert_eq!(
        placed(&report, "Namespace", "ingress"),
        vec![("prod".to_string(), "-".to_string())],
        "{report:#}"
    );
    // The root's own objects, built from the bootstrap kustomization, are on prod too.
    assert_eq!(
        placed(&report, "Kustomization", "flux-system"),
        vec![("prod".to_string(), "flux-system".to_string())]
    );
    assert_eq!(placed(&report, "Deployment", "web").len(), 1);
    let shared = messages(&report, "shared-resource");
    assert_eq!(shared.len(), 1, "{report:#}");
    assert!(
        shared[0].contains("Kustomization flux-system/apps (clusters/prod/apps.yaml:1")
            && shared[0].contains("Kustomization flux-system/web (clusters/prod/web.yaml:1")
            && shared[0].contains("to prod"),
        "{}",
        shared[0]
    );
    assert_eq!(status, 1);
}

#[test]
fn a_kustomization_and_an_argo_cd_application_sharing_an_object_are_both_named() {
    let test = "a_kustomization_and_an_argo_cd_application_sharing_an_object_are_both_named";
    if !kustomize_available(test) {
        return;
    }
    let (status, report) = check_fixture("argo-overlap", &[]);
    let shared = messages(&report, "shared-resource");
    assert_eq!(shared.len(), 1, "{report:#}");
    assert!(
        shared[0].contains("2 deployers")
            && shared[0].contains("Application web (argocd/web.yaml:1")
            && shared[0].contains("Kustomization flux-system/apps"),
        "{}",
        shared[0]
    );
    assert_eq!(status, 1);
}

#[test]
fn two_helm_releases_with_one_release_identity_are_an_error_naming_both() {
    let (status, report) = check_fixture("helm-collision", &[]);
    let collisions = messages(&report, "helm-release-collision");
    assert_eq!(collisions.len(), 1, "{report:#}");
    assert!(
        collisions[0].contains("HelmRelease flux-system/web (apps/web.yaml:1)")
            && collisions[0].contains("HelmRelease prod/prod-web (apps/prod-web.yaml:1)")
            && collisions[0].contains("release prod-web in storage namespace prod"),
        "{}",
        collisions[0]
    );
    // Charts of a Helm repository are not fetched: a notice per HelmRelease says so.
    let notices = messages(&report, "deployer-not-followed");
    assert!(
        notices
            .iter()
            .any(|m| m.contains("HelmRelease prod/prod-web")
                && m.contains("HelmRepository flux-system/podinfo")),
        "{notices:?}"
    );
    assert_eq!(status, 1);
}

#[test]
fn a_chart_of_this_repository_is_rendered_for_its_helm_release() {
    let test = "a_chart_of_this_repository_is_rendered_for_its_helm_release";
    if !installed("helm") {
        skip(test, "helm is not installed");
        return;
    }
    if !kustomize_available(test) {
        return;
    }
    let (_, report) = check_fixture("chart-in-repo", &[]);
    // Release name `[<targetNamespace>-]<name>`, objects in the target namespace, on prod.
    assert_eq!(
        placed(&report, "Deployment", "shop-web"),
        vec![("prod".to_string(), "shop".to_string())],
        "{report:#}"
    );
    let object = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"]["name"] == "shop-web")
        .unwrap();
    assert_eq!(object["change"], "modified", "{object:#}");
}

#[test]
fn post_build_substitution_names_objects_as_flux_applies_them() {
    let test = "post_build_substitution_names_objects_as_flux_applies_them";
    if !kustomize_available(test) {
        return;
    }
    let (status, report) = check_fixture("substitution", &[]);
    let on_prod = vec![("prod".to_string(), "shop".to_string())];
    // substituteFrom ConfigMap, then `${var:=default}`.
    assert_eq!(
        placed(&report, "ConfigMap", "web-eu-west-1-gold"),
        on_prod,
        "{report:#}"
    );
    // The opt-out annotation leaves the name as written: not a valid name, so not an object;
    // substituted names are never reported as template text.
    let not_names = messages(&report, "parse-error");
    assert_eq!(not_names.len(), 1, "{not_names:?}");
    assert!(not_names[0].contains("'literal-${env}'"), "{not_names:?}");
    // `settings-${env}` is `settings-prod`: the PR's new ConfigMap of that name is a duplicate.
    let duplicates = messages(&report, "duplicate-identity");
    assert!(
        duplicates
            .iter()
            .any(|m| m.contains("settings-prod") && m.contains("apps/extra.yaml")),
        "{report:#}"
    );
    // The optional Secret is absent without a notice; nothing else is missing.
    assert!(
        messages(&report, "deployer-not-followed").is_empty(),
        "{report:#}"
    );
    assert_eq!(status, 1);
}

#[test]
fn a_kustomization_of_another_repository_places_nothing_and_says_so() {
    let test = "a_kustomization_of_another_repository_places_nothing_and_says_so";
    if !kustomize_available(test) {
        return;
    }
    let (_, report) = check_fixture(
        "other-repository",
        &["--repo-url", "https://github.com/example/fleet"],
    );
    let notices = messages(&report, "deployer-not-followed");
    assert_eq!(notices.len(), 1, "{report:#}");
    assert!(
        notices[0].contains("Kustomization flux-system/vendor")
            && notices[0].contains("GitRepository flux-system/vendor")
            && notices[0].contains("https://github.com/example/vendor"),
        "{}",
        notices[0]
    );
    // apps/ is not deployed by the vendor Kustomization, so it is on no Flux cluster.
    assert_eq!(
        placed(&report, "Deployment", "web"),
        vec![("-".to_string(), "shop".to_string())]
    );
    // This repository's own root is still followed.
    assert_eq!(
        placed(&report, "Kustomization", "vendor"),
        vec![("prod".to_string(), "flux-system".to_string())]
    );
}

#[test]
fn each_cluster_folder_is_its_own_cluster_and_never_a_duplicate() {
    let test = "each_cluster_folder_is_its_own_cluster_and_never_a_duplicate";
    if !kustomize_available(test) {
        return;
    }
    let (status, report) = check_fixture("two-clusters", &[]);
    assert_eq!(
        placed(&report, "Deployment", "web"),
        vec![
            ("production".to_string(), "shop".to_string()),
            ("staging".to_string(), "shop".to_string())
        ],
        "{report:#}"
    );
    assert_eq!(placed(&report, "Kustomization", "flux-system").len(), 2);
    assert!(
        messages(&report, "duplicate-identity").is_empty(),
        "{report:#}"
    );
    assert!(
        messages(&report, "shared-resource").is_empty(),
        "{report:#}"
    );
    assert_eq!(status, 0, "{report:#}");
}

#[test]
fn a_flux_pruned_object_is_told_flux_protection_not_argo_cd_prune_false() {
    let test = "a_flux_pruned_object_is_told_flux_protection_not_argo_cd_prune_false";
    if !kustomize_available(test) {
        return;
    }
    let (_, report) = check_fixture("prune-wording", &[]);
    let deleted = messages(&report, "stateful-deletion");
    assert_eq!(deleted.len(), 1, "{report:#}");
    assert!(
        deleted[0].contains("kustomize.toolkit.fluxcd.io/prune: disabled")
            && !deleted[0].contains("Prune=false"),
        "{}",
        deleted[0]
    );
}

/// The owners of one object in the JSON report, as "Kind namespace/name" on each side.
fn owners(report: &serde_json::Value, kind: &str, name: &str) -> (Vec<String>, Vec<String>) {
    let object = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"]["kind"] == kind && o["id"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {report:#}"));
    let side = |key: &str| -> Vec<String> {
        object[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                format!(
                    "{} {}/{}",
                    o["kind"].as_str().unwrap(),
                    o["namespace"].as_str().unwrap(),
                    o["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    (side("base_owners"), side("head_owners"))
}

#[test]
fn flux_owners_are_shown_like_argo_cd_ones_in_json_and_text() {
    let test = "flux_owners_are_shown_like_argo_cd_ones_in_json_and_text";
    if !kustomize_available(test) {
        return;
    }
    let (_, report) = check_fixture("bootstrap-overlap", &[]);
    assert_eq!(
        owners(&report, "Deployment", "web"),
        (
            vec!["Kustomization flux-system/apps".to_string()],
            vec![
                "Kustomization flux-system/apps".to_string(),
                "Kustomization flux-system/web".to_string()
            ]
        ),
        "{report:#}"
    );
    let (base, head) = fixture_sides("flux", "bootstrap-overlap");
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "check", "--base", &base, "--head", &head, "--format", "text",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        text.contains(
            "deployed by before Kustomization flux-system/apps → prod; after Kustomization \
             flux-system/apps → prod"
        ),
        "{text}"
    );
}

#[test]
fn moving_a_pruning_kustomizations_path_lists_what_flux_prunes() {
    let test = "moving_a_pruning_kustomizations_path_lists_what_flux_prunes";
    if !kustomize_available(test) {
        return;
    }
    let (status, report) = check_fixture("path-move", &[]);
    let radius = messages(&report, "owner-change");
    assert_eq!(radius.len(), 1, "{report:#}");
    assert!(
        radius[0].contains(
            "Kustomization flux-system/data now deploys data2 → prod instead of data → prod"
        ) && radius[0].contains("PersistentVolumeClaim db/data")
            && radius[0].contains("kustomize.toolkit.fluxcd.io/prune: disabled")
            && !radius[0].contains("Prune=false"),
        "{}",
        radius[0]
    );
    assert_eq!(status, 1);
    let (base, head) = fixture_sides("flux", "path-move");
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "check", "--base", &base, "--head", &head, "--format", "markdown",
        ],
    );
    let headline = stdout(&out);
    assert!(
        headline.contains("on prod Flux would stop deploying 1 object (1 stateful) and prune it")
            && !headline.contains("Argo CD would stop deploying"),
        "{headline}"
    );
}

/// The text report with per-object diffs, whitespace collapsed, with extra arguments.
fn text_with_diffs(name: &str, extra: &[&str]) -> String {
    let (base, head) = fixture_sides("flux", name);
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "check", "--base", &base, "--head", &head, "--format", "text", "--diff",
    ];
    args.extend_from_slice(extra);
    let out = run(dir.path(), &args);
    stdout(&out)
}

/// The change of head's object of this kind and name in the JSON report, and where head
/// defines it (`path:line`).
fn change_of(report: &serde_json::Value, kind: &str, name: &str) -> (String, String) {
    let object = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"]["kind"] == kind && o["id"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {report:#}"));
    let at = object["head"]
        .as_array()
        .and_then(|h| h.last())
        .map(|d| format!("{}:{}", d["path"].as_str().unwrap(), d["line"]))
        .unwrap_or_default();
    (object["change"].as_str().unwrap().to_string(), at)
}

#[test]
fn a_json6902_patch_renaming_an_object_onto_another_kustomizations_object_is_a_collision() {
    let test =
        "a_json6902_patch_renaming_an_object_onto_another_kustomizations_object_is_a_collision";
    if !kustomize_available(test) {
        return;
    }
    let (status, report) = check_fixture("patch-rename", &[]);
    // `spec.patches` renames apps' ConfigMap `extra` to `settings`, which infra deploys: the
    // diff shows a patch, the cluster gets one object applied by both.
    let shared = messages(&report, "shared-resource");
    assert_eq!(shared.len(), 1, "{report:#}");
    assert!(
        shared[0].contains("ConfigMap shop/settings")
            && shared[0].contains("Kustomization flux-system/apps")
            && shared[0].contains("Kustomization flux-system/infra"),
        "{}",
        shared[0]
    );
    // The PR's patch makes an existing file's object a second definition of `settings`.
    let duplicates = messages(&report, "duplicate-identity");
    assert!(
        duplicates
            .iter()
            .any(|m| m.contains("ConfigMap shop/settings")
                && m.contains("infra/settings.yaml:1")
                && m.contains("apps/extra.yaml:1")),
        "{report:#}"
    );
    // The patched object is named after its own file and line, not a generated kustomization.
    assert!(
        shared[0].contains("apps/extra.yaml:1 (rendered by apps (Kustomization flux-system/apps))"),
        "{}",
        shared[0]
    );
    assert_eq!(change_of(&report, "ConfigMap", "extra").0, "deleted");
    assert_eq!(status, 1);
}

#[test]
fn a_strategic_merge_patch_changes_only_the_objects_its_target_selects() {
    let test = "a_strategic_merge_patch_changes_only_the_objects_its_target_selects";
    if !kustomize_available(test) {
        return;
    }
    let (_, report) = check_fixture("patch-select", &[]);
    // target: {kind: Deployment, labelSelector: tier=front}: web is patched, worker is not.
    assert_eq!(
        change_of(&report, "Deployment", "web"),
        ("modified".to_string(), "apps/web.yaml:1".to_string()),
        "{report:#}"
    );
    assert_eq!(change_of(&report, "Deployment", "worker").0, "unchanged");
    let text = text_with_diffs("patch-select", &[]);
    assert!(
        text.contains("-  replicas: 2") && text.contains("+  replicas: 5"),
        "{text}"
    );
    // Building the folder with kustomize reads the same files: nothing moved.
    assert!(!text.contains("moved from"), "{text}");
}

#[test]
fn images_rewrite_a_deployments_image() {
    let test = "images_rewrite_a_deployments_image";
    if !kustomize_available(test) {
        return;
    }
    let (status, report) = check_fixture("images", &[]);
    assert_eq!(
        change_of(&report, "Deployment", "web"),
        ("modified".to_string(), "apps/web.yaml:1".to_string()),
        "{report:#}"
    );
    let text = text_with_diffs("images", &[]);
    assert!(
        text.contains("-        image: nginx:1.25")
            && text.contains("image: registry.example.com/nginx:1.27"),
        "{text}"
    );
    assert_eq!(status, 0, "{report:#}");
}

#[test]
fn components_listed_in_spec_components_are_deployed() {
    let test = "components_listed_in_spec_components_are_deployed";
    if !kustomize_available(test) {
        return;
    }
    let (_, report) = check_fixture("components", &[]);
    assert_eq!(
        change_of(&report, "ConfigMap", "web-dashboard"),
        (
            "added".to_string(),
            "components/monitoring/dashboard.yaml:1".to_string()
        ),
        "{report:#}"
    );
    assert_eq!(
        owners(&report, "ConfigMap", "web-dashboard"),
        (
            Vec::new(),
            vec!["Kustomization flux-system/apps".to_string()]
        )
    );
    assert_eq!(
        placed(&report, "ConfigMap", "web-dashboard"),
        vec![("prod".to_string(), "shop".to_string())]
    );
    assert_eq!(change_of(&report, "Service", "web").0, "unchanged");
    // The component folder is read by the build: not reported as a kustomization nobody renders.
    let notices = messages(&report, "render-error");
    assert!(notices.is_empty(), "{notices:?}");
}

#[test]
fn strict_substitution_makes_an_unresolved_variable_an_error_at_the_object() {
    let test = "strict_substitution_makes_an_unresolved_variable_an_error_at_the_object";
    if !kustomize_available(test) {
        return;
    }
    // Default: `${region}` is unset and becomes the empty string, as kustomize-controller does.
    let (status, report) = check_fixture("strict-substitution", &[]);
    assert!(messages(&report, "render-error").is_empty(), "{report:#}");
    assert_eq!(change_of(&report, "ConfigMap", "region-prod").0, "added");
    let text = text_with_diffs("strict-substitution", &[]);
    assert!(text.contains("region: \"\""), "{text}");
    assert_eq!(status, 0, "{report:#}");

    // `flux.strict_post_build_substitutions`: an error naming the object's file:line and the
    // Kustomization; the object is still checked (`${tier:=gold}` has a default: no error).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("strict.yml");
    std::fs::write(&config, "flux:\n  strict_post_build_substitutions: true\n").unwrap();
    let config = config.to_string_lossy().into_owned();
    let (status, report) = check_fixture("strict-substitution", &["--config", &config]);
    let errors = messages(&report, "render-error");
    assert_eq!(errors.len(), 1, "{report:#}");
    assert!(
        errors[0].contains("Kustomization flux-system/apps")
            && errors[0].contains("apps/settings.yaml:9")
            && errors[0].contains("`region`"),
        "{}",
        errors[0]
    );
    assert_eq!(change_of(&report, "ConfigMap", "region-prod").0, "added");
    assert_eq!(status, 1);
}

#[test]
fn a_root_built_with_patches_judges_only_what_the_pr_touches() {
    let test = "a_root_built_with_patches_judges_only_what_the_pr_touches";
    if !kustomize_available(test) {
        return;
    }
    // The bootstrap root carries `spec.patches` on both sides, so clusters/prod is built with
    // the kustomization Flux generates. Its documents keep their files and lines: only the
    // PR's new overlap is judged, not infrastructure's old one (Namespace ingress), and the
    // patch reaches the root's own Namespace.
    let (status, report) = check_fixture("root-patches", &[]);
    let shared = messages(&report, "shared-resource");
    assert_eq!(shared.len(), 1, "{report:#}");
    assert!(shared[0].contains("Deployment shop/web"), "{}", shared[0]);
    assert_eq!(
        change_of(&report, "Namespace", "flux-system"),
        (
            "unchanged".to_string(),
            "clusters/prod/flux-system/gotk-components.yaml:1".to_string()
        ),
        "{report:#}"
    );
    assert_eq!(
        change_of(&report, "Kustomization", "web"),
        ("added".to_string(), "clusters/prod/web.yaml:1".to_string())
    );
    assert_eq!(status, 1);
}
