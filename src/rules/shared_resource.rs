//! `shared-resource`: two Argo CD Applications deploy the same object to the same place.
//!
//! What: Applications of this repository whose source paths (in this repository) produce one
//! identity — same cluster, group, kind, namespace and name — whether from one file both deploy
//! or from two files that define the same object. Judged when the PR touches the object or one of
//! the Applications.
//! Why: Argo CD's `FailOnSharedResource` catches this only at sync time, and it is opt-in; without
//! it the Applications overwrite each other's version at every sync, and pruning in one deletes
//! the object for both.
//! Example: an app-of-apps folder with `team-a` and `team-b` both deploying `apps/web` to
//! `in-cluster`.
//! Fix: deploy each object from one Application only (split the folder, or point one Application
//! elsewhere).

use std::collections::HashSet;

use super::{Context, Rule, RuleInfo, describe, finding_at, touched};
use crate::deploy::argocd::{Application, Applications};
use crate::finding::{Finding, Severity};

pub struct SharedResource;

static INFO: RuleInfo = RuleInfo {
    id: "shared-resource",
    default_severity: Severity::Error,
    summary: "two Argo CD Applications deploy the same object to the same cluster and namespace",
    help: "deploy each object from one Application only: split the folder or point one Application elsewhere",
};

impl Rule for SharedResource {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "Argo CD tracks which Application owns each object. When two Applications render the same \
         object for the same destination, each sync of one overwrites the other's version, the \
         other reports it out of sync, and when either stops deploying it (or is deleted with \
         its finalizer) the object is pruned for both. Argo CD notices only at sync time, and only \
         with the opt-in FailOnSharedResource option."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        if ctx.head_apps.all().len() < 2 {
            return;
        }
        let touched_apps: HashSet<(&str, &str)> = ctx
            .changes
            .objects
            .iter()
            .filter(|o| o.id.group == "argoproj.io" && o.id.kind == "Application" && touched(o))
            .map(|o| {
                (
                    o.id.name.as_str(),
                    o.id.namespace.as_deref().unwrap_or_default(),
                )
            })
            .collect();
        for object in &ctx.changes.objects {
            let mut owners: Vec<&Application> = Vec::new();
            for def in &object.head {
                for app in ctx.head_apps.owners(&def.path) {
                    let place = Applications::placement(Some(app), &def.path, &ctx.config.deploy);
                    let written_namespace = def.value["metadata"]["namespace"]
                        .as_str()
                        .is_some_and(|n| !n.is_empty());
                    let lands_here = place.cluster == object.id.cluster
                        && (object.id.namespace.is_none()
                            || written_namespace
                            || object.id.namespace.as_deref() == Some(place.namespace.as_str()));
                    let known = owners
                        .iter()
                        .any(|o| o.name == app.name && o.namespace == app.namespace);
                    if lands_here && !known {
                        owners.push(app);
                    }
                }
            }
            if owners.len() < 2 {
                continue;
            }
            let app_touched = owners
                .iter()
                .any(|a| touched_apps.contains(&(a.name.as_str(), a.namespace.as_str())));
            if !(ctx.in_scope(object) || app_touched) {
                continue;
            }
            let Some(at) = object
                .head
                .iter()
                .find(|d| d.new_in_pr)
                .or(object.effective_head())
            else {
                continue;
            };
            let apps: Vec<String> = owners.iter().map(|a| a.describe()).collect();
            let defs: Vec<String> = object.head.iter().map(describe).collect();
            out.push(finding_at(
                &INFO,
                severity,
                &object.id,
                at,
                format!(
                    "{} (defined at {}) is deployed by {} Argo CD Applications: {}. Each sync \
                     of one overwrites the other's version, and when either stops deploying it \
                     or is deleted with its finalizer, the object is pruned for both; Argo CD \
                     notices only at sync time, and only with FailOnSharedResource=true. Deploy \
                     it from one Application only.",
                    object.id,
                    defs.join(", "),
                    owners.len(),
                    apps.join("; "),
                ),
            ));
        }
    }
}
