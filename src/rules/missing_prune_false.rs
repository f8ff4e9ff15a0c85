//! `missing-prune-false`: a stateful object managed by Argo CD that Argo CD may prune.
//!
//! What: a StatefulSet, PersistentVolumeClaim, PersistentVolume or Namespace deployed by an Argo CD
//! Application of this repository (or carrying an `argocd.argoproj.io/` annotation) whose
//! `argocd.argoproj.io/sync-options` annotation lacks `Prune=false`. The option list is
//! comma-separated, as Argo CD reads it: `Prune=false,Delete=false` passes; `PruneLast=true`
//! alone does not. `Prune=false` in the deploying Applications' `spec.syncPolicy.syncOptions` is
//! the default for objects that set no `Prune=` option themselves.
//! Why: when such an object leaves the rendered output — a deleted file, a renamed or overwritten
//! Application as in the outage of DESIGN.md §1 — a pruning sync deletes it. Namespaces matter
//! most: pruning one deletes everything inside.
//! Example: `kind: Namespace` with no annotations under an automated-prune Application's path.
//! Fix: add `argocd.argoproj.io/sync-options: Prune=false` to its annotations.

use super::{Context, Rule, RuleInfo, finding_at};
use crate::deploy::OwnerKind;
use crate::deploy::argocd;
use crate::deploy::radius::{self, Removal};
use crate::finding::{Finding, Severity};

pub struct MissingPruneFalse;

static INFO: RuleInfo = RuleInfo {
    id: "missing-prune-false",
    default_severity: Severity::Warning,
    summary: "a stateful object managed by Argo CD can be pruned (no Prune=false sync option)",
    help: "add the annotation argocd.argoproj.io/sync-options: Prune=false to the object",
};

impl Rule for MissingPruneFalse {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "Argo CD prunes objects that disappear from an Application's rendered output. A mistake \
         elsewhere, such as an Application overwritten by another of the same name, makes a whole \
         folder disappear, and pruning then deletes its volumes, stateful workloads and \
         namespaces. The sync option Prune=false makes Argo CD leave such an object on the \
         cluster and only report it as out of sync."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        for object in ctx.notable {
            let kind = match (object.id.group.as_str(), object.id.kind.as_str()) {
                ("", k @ ("Namespace" | "PersistentVolumeClaim" | "PersistentVolume")) => k,
                ("apps", "StatefulSet") => "StatefulSet",
                _ => continue,
            };
            if !ctx.in_scope(object) {
                continue;
            }
            let Some(def) = object.effective_head() else {
                continue;
            };
            let owners = ctx.head_apps.owners(&def.path);
            let annotated = def.value.outline()["metadata"]["annotations"]
                .as_object()
                .is_some_and(|a| a.keys().any(|k| k.starts_with("argocd.argoproj.io/")));
            if owners.is_empty() && !annotated {
                continue;
            }
            if argocd::prune_disabled(def.value.outline(), &owners) {
                continue;
            }
            let options = argocd::sync_options(def.value.outline());
            let managed = match owners.first() {
                Some(app) => format!("deployed by Argo CD {}", app.describe()),
                None => "managed by Argo CD".to_string(),
            };
            let cascade = if kind == "Namespace" {
                " Pruning a Namespace deletes every object inside it."
            } else {
                ""
            };
            let written = if options.is_empty() {
                String::new()
            } else {
                format!(" (its sync options are: {})", options.join(","))
            };
            out.push(finding_at(
                &INFO,
                severity,
                &object.id,
                def,
                format!(
                    "{} is {managed} without the sync option Prune=false{written}: if it ever \
                     leaves the rendered output, a pruning sync deletes it from the cluster.\
                     {cascade} Add the annotation {}.",
                    object.id,
                    radius::protection(OwnerKind::Application, Removal::Prune)
                ),
            ));
        }
    }
}
