//! `stateful-deletion`: the PR deletes an object whose deletion destroys data or cascades.
//!
//! What: a Namespace, PersistentVolumeClaim, PersistentVolume, StatefulSet,
//! CustomResourceDefinition, AppProject, or an Argo CD Application carrying the
//! `resources-finalizer.argocd.argoproj.io` finalizer disappears from head (by identity). A delete
//! plus an add of the same kind and namespace with nearly the same content is a rename, and is
//! reported as the replacement it is: the cluster deletes the old object and creates a new one.
//! Why: the outage of DESIGN.md §1 was survivable only because volumes were retained. Deleting a
//! Namespace deletes everything in it; deleting a CRD deletes every resource of its kinds;
//! deleting a cascading Application deletes everything it manages.
//! Example: removing `namespace.yaml` of `payments` from the repository.
//! Fix: keep the object, protect it with its owner's own mechanism (`radius::protection`: Argo CD
//! `argocd.argoproj.io/sync-options: Prune=false`, Flux `kustomize.toolkit.fluxcd.io/prune:
//! disabled`, Helm `helm.sh/resource-policy: keep`; nothing for an object applied directly), or,
//! when the deletion is intended, acknowledge it (`allow:` entry in the base configuration).
//! An object missing from head only because its file does not parse or its render target fails
//! there is a notice: whether the PR deletes it cannot be told.
//! A base object Argo CD will not prune (`Prune=false` on it, or as its Application's default) is
//! reported as a notice.

use serde_json::Value;

use super::{Context, Rule, RuleInfo, at, finding_at};
use crate::classify::{Change, Definition, ObjectChange};
use crate::deploy::OwnerKind;
use crate::deploy::argocd;
use crate::deploy::radius::{self, Removal};
use crate::finding::{Finding, Severity};
use crate::manifest::Identity;

pub struct StatefulDeletion;

static INFO: RuleInfo = RuleInfo {
    id: "stateful-deletion",
    default_severity: Severity::Error,
    summary: "the PR deletes an object whose deletion destroys data or cascades to other objects",
    help: "keep the object or protect it with its owner's mechanism (Argo CD Prune=false, Flux prune: disabled, Helm resource-policy: keep); if intended, acknowledge it in the base configuration's allow: list",
};

/// How many dependent objects a message names before summarising.
const LISTED: usize = 5;
/// Content similarity above which a delete + add of one kind is a rename.
const RENAME_SIMILARITY: f32 = 0.8;

impl Rule for StatefulDeletion {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "Deleting an object from the repository deletes it from the cluster at the next pruning \
         sync. For stateful objects that is data loss or a cascade: a Namespace takes every object \
         in it, a PersistentVolumeClaim releases its volume (deleted with the default reclaim \
         policy), a CustomResourceDefinition takes every resource of its kinds, an Argo CD \
         Application with the resources finalizer takes everything it manages. Renaming such an \
         object is the same deletion followed by a creation of an empty one."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        let added: Vec<&ObjectChange> = ctx
            .notable
            .iter()
            .filter(|o| o.change == Change::Added)
            .copied()
            .collect();
        let mut renamed_to: Vec<&Identity> = Vec::new();
        for object in ctx.notable {
            if object.change != Change::Deleted {
                continue;
            }
            let Some(base) = object.effective_base() else {
                continue;
            };
            let Some(kind) = stateful(&object.id, base.value.outline()) else {
                continue;
            };
            let flux_owned = base
                .owners
                .iter()
                .any(|o| o.kind == crate::deploy::OwnerKind::Kustomization);
            let flux_protected =
                flux_owned && crate::deploy::flux::prune_disabled(base.value.outline());
            let argocd_protected =
                argocd::prune_disabled(base.value.outline(), &ctx.base_apps.owners(&base.path));
            let protected = argocd_protected || flux_protected;
            let consequence = if protected {
                let keeper = if argocd_protected {
                    "Prune=false (on it, or as its Application's default) makes Argo CD leave it"
                } else {
                    "kustomize.toolkit.fluxcd.io/prune: disabled makes Flux leave it"
                };
                format!(
                    "{keeper} on the cluster, unmanaged. Whoever deletes it by hand should know: {}",
                    consequence(ctx, &object.id, &base.value)
                )
            } else {
                consequence(ctx, &object.id, &base.value)
            };
            let rename = added.iter().find(|a| {
                !renamed_to.contains(&&a.id)
                    && same_place(&a.id, &object.id)
                    && a.effective_head()
                        .is_some_and(|h| similar_content(&h.value, &base.value))
            });
            if let Some(why) = unreadable(ctx, base) {
                out.push(finding_at(
                    &INFO,
                    Severity::Notice,
                    &object.id,
                    base,
                    format!(
                        "{} (base {}) is missing from head because {why}, so whether this PR \
                         deletes it cannot be told. If the fixed file no longer defines it: \
                         {consequence}",
                        object.id,
                        at(&base.path, base.line),
                    ),
                ));
                continue;
            }
            let severity = if protected {
                Severity::Notice
            } else {
                severity
            };
            let fix = if protected {
                String::new()
            } else if kind == "Application" {
                // Prune=false on the Application keeps only the Application; what keeps its
                // resources when it is deleted is Delete=false on them (Argo CD sync options:
                // https://argo-cd.readthedocs.io/en/stable/user-guide/sync-options/).
                format!(
                    " Keep it, or first give the objects it manages {} (Argo CD then leaves them \
                     on the cluster when the Application is deleted), or acknowledge the deletion \
                     if it is intended.",
                    radius::protection(OwnerKind::Application, Removal::OwnerDeleted)
                )
            } else {
                match radius::protections(&base.owners, Removal::Prune) {
                    Some(protection) => format!(
                        " Keep it, protect it with {protection}, or acknowledge the deletion if \
                         it is intended."
                    ),
                    None => " Keep it, or acknowledge the deletion if it is intended.".to_string(),
                }
            };
            let (path, line, message) = match rename.and_then(|a| Some((a, a.effective_head()?))) {
                Some((new, def)) => {
                    renamed_to.push(&new.id);
                    (
                        def.path.clone(),
                        def.line,
                        format!(
                            "{} looks renamed to {} (same {kind}, nearly the same content), but \
                             the cluster cannot rename: it deletes {} and creates an empty {}. \
                             {consequence} Keep the old name, or migrate the data \
                             first and acknowledge the deletion.",
                            object.id, new.id.name, object.id.name, new.id.name
                        ),
                    )
                }
                None => {
                    let moved = still_defined_elsewhere(ctx, object, &base.path);
                    (
                        base.path.clone(),
                        base.line,
                        format!(
                            "this PR deletes {} (base {}). {consequence}{moved}{fix}",
                            object.id,
                            at(&base.path, base.line),
                        ),
                    )
                }
            };
            out.push(Finding {
                rule: INFO.id,
                severity,
                id: Some(object.id.clone()),
                path: Some(path),
                line: Some(line),
                message,
            });
        }
    }
}

/// Why head cannot show a base definition, when its file does not parse or its render target
/// fails there (those are reported by `parse-error` and `render-error`).
fn unreadable(ctx: &Context<'_>, base: &Definition) -> Option<String> {
    if ctx.head.problems.iter().any(|p| p.path() == base.path) {
        return Some(format!(
            "{} cannot be read in head (see parse-error)",
            base.path
        ));
    }
    ctx.head
        .render_errors
        .iter()
        .find(|r| r.path == base.path || Some(&r.target) == base.target.as_ref())
        .map(|r| {
            format!(
                "render target {} fails in head (see render-error)",
                r.target
            )
        })
}

/// A short name of the stateful kind, or `None` when deleting it is not stateful.
fn stateful(id: &Identity, value: &Value) -> Option<&'static str> {
    if let Some(kind) = radius::stateful_kind(id) {
        return Some(kind);
    }
    match (id.group.as_str(), id.kind.as_str()) {
        ("argoproj.io", "AppProject") => Some("AppProject"),
        ("argoproj.io", "Application") => value["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| {
                f.iter()
                    .any(|f| f.as_str() == Some(argocd::RESOURCES_FINALIZER))
            })
            .then_some("Application"),
        _ => None,
    }
}

/// What else the cluster loses with the object, from what clobbercheck saw in base.
fn consequence(ctx: &Context<'_>, id: &Identity, value: &Value) -> String {
    let base = &ctx.base.objects;
    let same_cluster = |other: &Identity| other.cluster == id.cluster;
    match id.kind.as_str() {
        "Namespace" => {
            let inside =
                names(base.iter().filter_map(|o| o.identity.as_ref()).filter(|o| {
                    same_cluster(o) && o.namespace.as_deref() == Some(id.name.as_str())
                }));
            format!(
                "Deleting a Namespace deletes every object in it: {inside} in base, plus whatever \
                 else runs there."
            )
        }
        "CustomResourceDefinition" => {
            let group = value["spec"]["group"].as_str().unwrap_or_default();
            let kind = value["spec"]["names"]["kind"].as_str().unwrap_or_default();
            let resources = names(
                base.iter()
                    .filter_map(|o| o.identity.as_ref())
                    .filter(|o| same_cluster(o) && o.group == group && o.kind == kind),
            );
            format!(
                "Deleting a CustomResourceDefinition deletes every {kind}.{group} resource on the \
                 cluster: {resources} in base, plus any created outside this repository."
            )
        }
        "Application" => {
            let managed = ctx
                .radii
                .iter()
                .find(|r| {
                    r.after.is_none()
                        && r.owner().kind == OwnerKind::Application
                        && r.owner().name == id.name
                        && Some(r.owner().namespace.as_str()) == id.namespace.as_deref()
                })
                .filter(|r| !r.objects.is_empty())
                .map(|r| r.listing())
                .unwrap_or_else(|| "no object in base".to_string());
            format!(
                "It carries the {} finalizer, so Argo CD deletes everything it manages with it: \
                 {managed}.",
                argocd::RESOURCES_FINALIZER
            )
        }
        "AppProject" => {
            let apps: Vec<&str> = ctx
                .base_apps
                .all()
                .iter()
                .filter(|a| a.project.as_deref() == Some(id.name.as_str()))
                .map(|a| a.name.as_str())
                .collect();
            format!(
                "Applications of this project ({}) lose their permissions and stop syncing.",
                if apps.is_empty() {
                    "none in base".to_string()
                } else {
                    apps.join(", ")
                }
            )
        }
        "PersistentVolumeClaim" => "The volume bound to it is released; with the reclaim \
                                    policy Delete (the default of dynamically provisioned \
                                    volumes) its data is deleted."
            .to_string(),
        "PersistentVolume" => format!(
            "Its persistentVolumeReclaimPolicy is {}: with Delete the storage and its data are \
             deleted.",
            value["spec"]["persistentVolumeReclaimPolicy"]
                .as_str()
                .unwrap_or("unset (Retain for static volumes, the class's policy otherwise)")
        ),
        _ => {
            let templates: Vec<&str> = value["spec"]["volumeClaimTemplates"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["metadata"]["name"].as_str())
                .collect();
            let policy = value["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"]
                .as_str()
                .unwrap_or("Retain");
            format!(
                "Its pods are deleted; the claims of its volumeClaimTemplates ({}) are {} \
                 (persistentVolumeClaimRetentionPolicy.whenDeleted: {policy}).",
                if templates.is_empty() {
                    "none".to_string()
                } else {
                    templates.join(", ")
                },
                if policy == "Delete" {
                    "deleted with their data"
                } else {
                    "kept"
                }
            )
        }
    }
}

/// When head still defines the object in the same file but it lands elsewhere (an Argo CD
/// destination or source path changed), says so: the deletion is easy to miss in review.
fn still_defined_elsewhere(ctx: &Context<'_>, object: &ObjectChange, path: &str) -> String {
    let elsewhere = ctx.head.objects.iter().find_map(|o| {
        let id = o.identity.as_ref()?;
        (o.origin.path == path
            && id.group == object.id.group
            && id.kind == object.id.kind
            && id.name == object.id.name
            && id != &object.id)
            .then_some(id)
    });
    match elsewhere {
        Some(id) => format!(
            " It is still defined in {path}, but now lands as {id}: what decides its cluster or \
             namespace (an Argo CD Application's source path or destination, the clusters \
             pattern) changed, so it is deleted where it was."
        ),
        None => String::new(),
    }
}

/// `N object(s) (Kind/name, …)` with at most [`LISTED`] names.
fn names<'a>(ids: impl Iterator<Item = &'a Identity>) -> String {
    let all: Vec<String> = ids.map(|i| format!("{}/{}", i.kind, i.name)).collect();
    if all.is_empty() {
        return "no object".to_string();
    }
    let mut listed = all[..all.len().min(LISTED)].join(", ");
    if all.len() > LISTED {
        listed.push_str(&format!(", and {} more", all.len() - LISTED));
    }
    format!("{} object(s) ({listed})", all.len())
}

fn same_place(a: &Identity, b: &Identity) -> bool {
    a.cluster == b.cluster && a.group == b.group && a.kind == b.kind && a.namespace == b.namespace
}

/// Whether two definitions are the same object but for its name.
fn similar_content(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| {
        let mut v = v.clone();
        if let Some(metadata) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("name");
        }
        serde_json::to_string_pretty(&v).unwrap_or_default()
    };
    let (a, b) = (text(a), text(b));
    similar::TextDiff::configure()
        .timeout(std::time::Duration::from_millis(200))
        .diff_lines(&a, &b)
        .ratio()
        >= RENAME_SIMILARITY
}
