//! Who owns each object is part of the change (issue 10 §4), through the binary: owners in every
//! format, `owner-change` for an object moving between Applications, the blast radius of an
//! Application whose path changes or which is deleted with its finalizer, and fixes that fit
//! the owner (none for an object applied directly).

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// Runs `check` on `tests/fixtures/owners/<name>/{base,head}` in one format.
fn check(name: &str, format: &str) -> (i32, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/owners");
    let side = |s: &str| root.join(name).join(s).to_string_lossy().into_owned();
    let (base, head) = (side("base"), side("head"));
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "check",
            "--base",
            &base,
            "--head",
            &head,
            "--repo-url",
            "https://github.com/example/shop.git",
            "--format",
            format,
        ],
    );
    assert!(
        code(&out) == 0 || code(&out) == 1,
        "{format}: {}",
        stderr(&out)
    );
    (code(&out), stdout(&out))
}

/// The text with every run of whitespace as one space: the text format wraps long lines.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn report(name: &str) -> (i32, Value) {
    let (status, text) = check(name, "json");
    (status, serde_json::from_str(&text).expect("a JSON report"))
}

fn object<'a>(report: &'a Value, kind: &str, name: &str) -> &'a Value {
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"]["kind"] == kind && o["id"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {report:#}"))
}

fn findings<'a>(report: &'a Value, rule: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule)
        .collect()
}

fn owner(name: &str) -> Value {
    serde_json::json!({"kind": "Application", "namespace": "argocd", "name": name})
}

#[test]
fn json_objects_carry_their_owners_per_side() {
    let (_, report) = report("moved");
    let settings = object(&report, "ConfigMap", "settings");
    assert_eq!(settings["base_owners"], serde_json::json!([owner("web")]));
    assert_eq!(settings["head_owners"], serde_json::json!([owner("api")]));
    // Schema 1 stays: the existing fields are all there.
    for field in ["id", "change", "moved", "base", "head"] {
        assert!(settings.get(field).is_some(), "{field} in {settings:#}");
    }
    let web = object(&report, "Deployment", "web");
    assert_eq!(web["base_owners"], web["head_owners"]);
    assert_eq!(web["head_owners"], serde_json::json!([owner("web")]));
}

#[test]
fn a_configmap_moving_between_applications_is_a_warning_a_volume_claim_an_error() {
    let (status, report) = report("moved");
    let moves = findings(&report, "owner-change");
    let on = |name: &str| {
        moves
            .iter()
            .find(|f| f["id"]["name"] == name)
            .unwrap_or_else(|| panic!("no owner-change on {name}: {report:#}"))
    };
    let settings = on("settings");
    assert_eq!(settings["severity"], "warning", "{settings:#}");
    let message = settings["message"].as_str().unwrap();
    assert!(
        message.contains("moves from Application argocd/web to Application argocd/api"),
        "{message}"
    );
    assert!(message.contains("prunes it"), "{message}");
    assert!(
        message.contains("argocd.argoproj.io/sync-options: Prune=false"),
        "{message}"
    );
    let uploads = on("uploads");
    assert_eq!(uploads["severity"], "error", "{uploads:#}");
    assert!(
        uploads["message"]
            .as_str()
            .unwrap()
            .contains("PersistentVolumeClaim"),
        "{uploads:#}"
    );
    assert_eq!(uploads["path"], "api/uploads.yaml");
    // Objects that keep their owner are not owner changes.
    assert_eq!(moves.len(), 2, "{moves:#?}");
    assert_eq!(status, 1);
}

#[test]
fn text_markdown_and_sarif_say_who_deploys_an_object() {
    let (_, text) = check("moved", "text");
    let text = flat(&text);
    assert!(
        text.contains(
            "before Application argocd/web → in-cluster, namespace shop; after Application argocd/api → in-cluster, namespace shop"
        ),
        "{text}"
    );
    let (_, markdown) = check("moved", "markdown");
    assert!(
        markdown.contains("**Deployed by:** before Application argocd/web"),
        "{markdown}"
    );
    let (_, sarif) = check("moved", "sarif");
    let sarif: Value = serde_json::from_str(&sarif).unwrap();
    let result = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["ruleId"] == "owner-change"
                && r["message"]["text"]
                    .as_str()
                    .unwrap()
                    .contains("ConfigMap shop/settings")
        })
        .expect("an owner-change result");
    assert_eq!(
        result["properties"]["baseOwners"],
        serde_json::json!([owner("web")])
    );
    assert_eq!(
        result["properties"]["headOwners"],
        serde_json::json!([owner("api")])
    );
}

#[test]
fn an_application_whose_path_changes_with_prune_lists_its_blast_radius_stateful_first() {
    let (status, report) = report("path-change");
    let radius = findings(&report, "owner-change");
    let app = radius
        .iter()
        .find(|f| f["id"]["kind"] == "Application" && f["id"]["name"] == "shop")
        .unwrap_or_else(|| panic!("no blast radius finding: {report:#}"));
    assert_eq!(app["severity"], "error", "{app:#}");
    let message = app["message"].as_str().unwrap();
    assert!(
        message.contains("shop/v2 → in-cluster, namespace shop instead of shop/v1"),
        "{message}"
    );
    assert!(
        message.contains(
            "10 objects (2 stateful): PersistentVolumeClaim shop/data, StatefulSet shop/db, ConfigMap shop/settings-1"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "ConfigMap shop/settings-6, and 2 more. Protect what must stay with argocd.argoproj.io/sync-options: Prune=false first"
        ),
        "{message}"
    );
    assert_eq!(status, 1);
    // The objects left behind are applied directly now: on in-cluster, the Application's
    // destination, they are gone from head.
    let data = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"]["name"] == "data" && o["id"]["cluster"] == "in-cluster")
        .unwrap();
    assert_eq!(data["base_owners"], serde_json::json!([owner("shop")]));
    assert_eq!(data["head_owners"], serde_json::json!([]));
    assert_eq!(data["change"], "deleted");

    let (_, markdown) = check("path-change", "markdown");
    assert!(
        markdown.contains("**Pruning deletes** 10 objects, 2 stateful on in-cluster: `PersistentVolumeClaim shop/data`, `StatefulSet shop/db`"),
        "{markdown}"
    );
    assert!(markdown.contains(" and 2 more"), "{markdown}");
    let (_, text) = check("path-change", "text");
    let text = flat(&text);
    assert!(text.contains("10 object(s), 2 stateful on in-cluster: PersistentVolumeClaim shop/data, StatefulSet shop/db"), "{text}");
}

#[test]
fn an_application_deleted_with_its_finalizer_lists_what_it_deletes_and_recommends_delete_false() {
    let (status, report) = report("finalizer-deleted");
    let deletion = findings(&report, "stateful-deletion");
    let app = deletion
        .iter()
        .find(|f| f["id"]["kind"] == "Application")
        .unwrap_or_else(|| panic!("no stateful-deletion on the Application: {report:#}"));
    let message = app["message"].as_str().unwrap();
    assert!(
        message.contains(
            "2 objects (1 stateful): PersistentVolumeClaim shop/ledger, Deployment shop/invoices"
        ),
        "{message}"
    );
    assert!(
        message.contains("argocd.argoproj.io/sync-options: Delete=false"),
        "{message}"
    );
    assert!(!message.contains("Prune=false"), "{message}");
    assert_eq!(status, 1);
    let (_, text) = check("finalizer-deleted", "text");
    let text = flat(&text);
    assert!(
        text.contains("(nothing: the Application is deleted)"),
        "{text}"
    );
    assert!(text.contains("prunes"), "{text}");
}

#[test]
fn an_object_applied_directly_says_so_and_gets_no_deployer_fix() {
    let (_, report) = report("applied-directly");
    let settings = object(&report, "ConfigMap", "settings");
    assert_eq!(settings["base_owners"], serde_json::json!([]));
    assert_eq!(settings["head_owners"], serde_json::json!([]));
    assert!(findings(&report, "owner-change").is_empty(), "{report:#}");
    let deletion = findings(&report, "stateful-deletion");
    assert_eq!(deletion.len(), 1, "{report:#}");
    let message = deletion[0]["message"].as_str().unwrap();
    for protection in [
        "Prune=false",
        "kustomize.toolkit.fluxcd.io/prune",
        "helm.sh/resource-policy",
    ] {
        assert!(!message.contains(protection), "{message}");
    }
    let (_, text) = check("applied-directly", "text");
    let text = flat(&text);
    assert!(text.contains("deployed by"), "{text}");
    assert!(text.contains("applied directly"), "{text}");
    assert!(!text.contains("Prune=false"), "{text}");
}
