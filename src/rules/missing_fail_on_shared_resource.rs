//! `missing-fail-on-shared-resource`: an Argo CD Application may take over other Applications'
//! objects.
//!
//! What: an Application whose `spec.syncPolicy.syncOptions` lacks `FailOnSharedResource=true`.
//! Why: without it Argo CD syncs an object that another Application already manages, so two
//! Applications fight over it and pruning either deletes the other's object (DESIGN.md §7). The
//! option turns that into a sync failure; the `shared-resource` rule catches it earlier, at PR time,
//! for sources in this repository.
//! Example: `syncPolicy: {automated: {prune: true}}` with no `syncOptions`.
//! Fix: add `FailOnSharedResource=true` to `spec.syncPolicy.syncOptions`.

use super::{Context, Rule, RuleInfo, finding_at};
use crate::deploy::argocd;
use crate::finding::{Finding, Severity};

pub struct MissingFailOnSharedResource;

static INFO: RuleInfo = RuleInfo {
    id: "missing-fail-on-shared-resource",
    default_severity: Severity::Warning,
    summary: "an Argo CD Application does not refuse objects another Application manages",
    help: "add FailOnSharedResource=true to the Application's spec.syncPolicy.syncOptions",
};

/// The sync option that makes Argo CD refuse to sync objects another Application manages.
const OPTION: &str = "FailOnSharedResource=true";

impl Rule for MissingFailOnSharedResource {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "By default Argo CD applies an object even when another Application already manages it: \
         the two Applications then overwrite each other at every sync, and pruning in either one \
         deletes the object for both. With the sync option FailOnSharedResource=true the sync \
         fails instead, before anything is overwritten."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        for object in ctx.notable {
            if object.id.group != "argoproj.io" || object.id.kind != "Application" {
                continue;
            }
            if !ctx.in_scope(object) {
                continue;
            }
            let Some(def) = object.effective_head() else {
                continue;
            };
            if !argocd::is_argo(&def.value, "Application") {
                continue;
            }
            let has = def.value["spec"]["syncPolicy"]["syncOptions"]
                .as_array()
                .is_some_and(|o| o.iter().any(|o| o.as_str().map(str::trim) == Some(OPTION)));
            if has {
                continue;
            }
            out.push(finding_at(
                &INFO,
                severity,
                &object.id,
                def,
                format!(
                    "{} has no sync option {OPTION}: Argo CD will apply objects another \
                     Application already manages, and the two will overwrite (and may prune) \
                     each other's objects. Add {OPTION} to spec.syncPolicy.syncOptions.",
                    object.id
                ),
            ));
        }
    }
}
