//! `shared-resource`: two deployers (Argo CD Applications, Flux Kustomizations and
//! HelmReleases, in any mix) deploy the same object to the same place.
//!
//! What: deployers of this repository whose outputs produce one identity — same cluster, group,
//! kind, namespace and name — whether from one file both deploy or from two files that define
//! the same object; read from each definition's owners (the deployer layer), never re-derived.
//! Judged when the PR touches the object or one of the deployers. Flux applies such an object
//! from both Kustomizations with no conflict reported (fluxcd/kustomize-controller#1724).
//! Why: Argo CD's `FailOnSharedResource` catches this only at sync time, and it is opt-in; without
//! it the Applications overwrite each other's version at every sync, and pruning in one deletes
//! the object for both.
//! Example: an app-of-apps folder with `team-a` and `team-b` both deploying `apps/web` to
//! `in-cluster`.
//! Fix: deploy each object from one Application only (split the folder, or point one Application
//! elsewhere).

use super::{Context, Rule, RuleInfo, describe, finding_at};
use crate::deploy::{Owner, OwnerKind};
use crate::finding::{Finding, Severity};

pub struct SharedResource;

static INFO: RuleInfo = RuleInfo {
    id: "shared-resource",
    default_severity: Severity::Error,
    summary: "two deployers (Argo CD Applications, Flux Kustomizations) deploy the same object to the same cluster and namespace",
    help: "deploy each object from one deployer only: split the folder or point one deployer elsewhere",
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
        if ctx.head.deployers.all().len() < 2 {
            return;
        }
        // Sorted, searched by comparison: every shared object asks about each of its owners, and
        // hashing an owner's strings cost more than the few comparisons (a third of a warm pull
        // request's analysis in a repository where every object has several deployers).
        let mut touched_deployers: Vec<Owner> = ctx
            .notable
            .iter()
            .filter(|o| o.touched())
            .filter_map(|o| {
                let kind = match (o.id.group.as_str(), o.id.kind.as_str()) {
                    ("argoproj.io", "Application") => OwnerKind::Application,
                    ("kustomize.toolkit.fluxcd.io", "Kustomization") => OwnerKind::Kustomization,
                    ("helm.toolkit.fluxcd.io", "HelmRelease") => OwnerKind::HelmRelease,
                    _ => return None,
                };
                Some(Owner {
                    kind,
                    namespace: o.id.namespace.clone().unwrap_or_default(),
                    name: o.id.name.clone(),
                })
            })
            .collect();
        touched_deployers.sort_unstable();
        touched_deployers.dedup();
        for object in ctx.notable {
            // Each definition's owners are the deployers that put it at this identity: all of
            // them, sorted and each once, are `head_owners`.
            let owners = &object.head_owners;
            if owners.len() < 2 {
                continue;
            }
            let deployer_touched = !touched_deployers.is_empty()
                && owners
                    .iter()
                    .any(|o| touched_deployers.binary_search(o).is_ok());
            if !(ctx.in_scope(object) || deployer_touched) {
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
            let described: Vec<String> = owners
                .iter()
                .map(|o| describe_owner(ctx, o, object.id.cluster.as_deref()))
                .collect();
            let defs: Vec<String> = object.head.iter().map(describe).collect();
            let argo_only = owners.iter().all(|o| o.kind == OwnerKind::Application);
            let message = if argo_only {
                format!(
                    "{} (defined at {}) is deployed by {} Argo CD Applications: {}. Each sync \
                     of one overwrites the other's version, and when either stops deploying it \
                     or is deleted with its finalizer, the object is pruned for both; Argo CD \
                     notices only at sync time, and only with FailOnSharedResource=true. Deploy \
                     it from one Application only.",
                    object.id,
                    defs.join(", "),
                    owners.len(),
                    described.join("; "),
                )
            } else {
                format!(
                    "{} (defined at {}) is deployed by {} deployers: {}. Each one applies its \
                     own version over the other's at every reconciliation, and when either stops \
                     deploying it (or is deleted), its pruning deletes the object for both; \
                     neither Flux nor Argo CD reports the conflict (fluxcd/kustomize-controller\
                     #1724). Deploy it from one deployer only.",
                    object.id,
                    defs.join(", "),
                    owners.len(),
                    described.join("; "),
                )
            };
            out.push(finding_at(&INFO, severity, &object.id, at, message));
        }
    }
}

/// An owner for messages: an Application as the Argo CD reader words it, any other deployer
/// as `Kustomization ns/name (file:line, deploying path to cluster)`.
fn describe_owner(ctx: &Context<'_>, owner: &Owner, cluster: Option<&str>) -> String {
    if owner.kind == OwnerKind::Application
        && let Some(app) = ctx
            .head_apps
            .all()
            .iter()
            .find(|a| a.name == owner.name && a.namespace == owner.namespace)
    {
        return app.describe();
    }
    let deployers = ctx.head.deployers.all();
    let found = deployers
        .iter()
        .find(|d| &d.owner == owner && d.cluster.as_deref() == cluster)
        .or_else(|| deployers.iter().find(|d| &d.owner == owner));
    match found {
        Some(d) => {
            let paths: Vec<&str> = d
                .paths
                .iter()
                .map(|p| if p.is_empty() { "/" } else { p.as_str() })
                .collect();
            format!(
                "{owner} ({}:{}, deploying {} to {})",
                d.origin.path,
                d.origin.line,
                if paths.is_empty() {
                    "no path of this repository".to_string()
                } else {
                    paths.join(", ")
                },
                d.cluster.as_deref().unwrap_or("no named cluster")
            )
        }
        None => owner.to_string(),
    }
}
