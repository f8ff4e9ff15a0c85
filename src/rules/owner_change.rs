//! `owner-change`: an object passes from one deployer to another, or a deployer's change makes
//! it prune what it deployed.
//!
//! What: (1) an object whose owners in head lack one it had in base and include one it had not
//! (it moves from Application `a` to Application `b`, or from a Kustomization to an Application);
//! (2) a deployer the PR replaces or whose source or destination it changes, and that prunes:
//! its blast radius, every object it stops deploying, stateful ones first
//! ([`crate::deploy::radius`]). An object that only gains a second owner is `shared-resource`'s;
//! one applied directly that a deployer adopts is not an owner change (nothing prunes it); a
//! deployer deleted with its resources finalizer is `stateful-deletion`'s, which lists the same
//! blast radius.
//! Why: Argo CD tracks which Application manages each resource; the old Application prunes the
//! object it no longer renders while the new one adopts it
//! (<https://argo-cd.readthedocs.io/en/stable/user-guide/auto_sync/#automatic-pruning>,
//! <https://argo-cd.readthedocs.io/en/stable/user-guide/resource_tracking/>). Whichever syncs
//! first decides: if the old one prunes first, the object is deleted and created anew, so a
//! volume comes back empty. Stateful kinds are errors like a deletion, others warnings.
//! Example: `data.yaml` (a PersistentVolumeClaim) moves from `apps/web/` to `apps/api/`, deployed
//! by two Applications.
//! Fix: protect the object with its old owner's own mechanism for the move (Argo CD
//! `Prune=false`, Flux `kustomize.toolkit.fluxcd.io/prune: disabled`, Helm
//! `helm.sh/resource-policy: keep`), let the new owner adopt it, then remove the protection.

use super::{Context, Rule, RuleInfo, finding_at};
use crate::classify::ObjectChange;
use crate::deploy::Owner;
use crate::deploy::radius::{self, Removal};
use crate::finding::{Finding, Severity};

pub struct OwnerChange;

static INFO: RuleInfo = RuleInfo {
    id: "owner-change",
    default_severity: Severity::Error,
    summary: "an object moves from one deployer to another, or a deployer's change prunes what it deployed (error for stateful kinds, else warning)",
    help: "protect the object with its old owner's mechanism (Argo CD Prune=false, Flux prune: disabled, Helm resource-policy: keep) while the new owner adopts it, then remove the protection",
};

impl Rule for OwnerChange {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "A deploy tool tracks which deployer manages each object. When an object leaves one \
         Argo CD Application's output and enters another's, the old Application prunes it while \
         the new one adopts it: whichever syncs first decides, and if the old one prunes first \
         the object is deleted and created anew. For a volume claim, a volume, a StatefulSet, a \
         Namespace or a CustomResourceDefinition that loses data, as a deletion does. An \
         Application whose source or destination changes prunes everything it stops deploying: \
         its blast radius is listed."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        let mild = severity.max(Severity::Warning);
        for object in ctx.notable {
            if object.base_owners == object.head_owners {
                continue;
            }
            let lost = missing(&object.base_owners, &object.head_owners);
            let gained = missing(&object.head_owners, &object.base_owners);
            if lost.is_empty() || gained.is_empty() {
                continue;
            }
            let Some(def) = object.effective_head() else {
                continue;
            };
            let kind = radius::stateful_kind(&object.id);
            let loss = match kind {
                Some(kind) => format!(
                    " A {kind} deleted that way loses what it held: it is an error like a deletion."
                ),
                None => String::new(),
            };
            let fix = match radius::protections(&lost, Removal::Prune) {
                Some(p) => format!(
                    " Protect it with {p} while {} adopts it, then remove the protection.",
                    names(&gained)
                ),
                None => String::new(),
            };
            out.push(finding_at(
                &INFO,
                if kind.is_some() { severity } else { mild },
                &object.id,
                def,
                format!(
                    "{} moves from {} to {}: the old owner prunes it when it no longer renders \
                     it while the new one adopts it. Whichever syncs first decides; if the old \
                     one prunes first, the object is deleted and created anew.{loss}{fix}",
                    object.id,
                    names(&lost),
                    names(&gained),
                ),
            ));
        }
        for radius in ctx.radii {
            let Some(after) = &radius.after else {
                continue;
            };
            if !radius.deletes || radius.objects.is_empty() {
                continue;
            }
            let Some((object, def)) = ctx
                .changes
                .objects()
                .iter()
                .filter(|o| radius.is_deployer(o))
                .find_map(|o| deployer_definition(o, &after.origin))
            else {
                continue;
            };
            let fix = radius::protection(radius.owner().kind, Removal::Prune);
            out.push(finding_at(
                &INFO,
                if radius.stateful > 0 { severity } else { mild },
                &object.id,
                def,
                format!(
                    "{} now deploys {} instead of {} and prunes: its next sync deletes what it \
                     stops deploying, {}. Protect what must stay with {fix} first, or keep its \
                     source and destination.",
                    radius.owner(),
                    radius::place(after),
                    radius::place(&radius.before),
                    radius.listing(),
                ),
            ));
        }
    }
}

/// The owners of `from` that `to` lacks.
fn missing(from: &[Owner], to: &[Owner]) -> Vec<Owner> {
    from.iter().filter(|o| !to.contains(o)).cloned().collect()
}

/// `Application argocd/a and Application argocd/b`.
fn names(owners: &[Owner]) -> String {
    owners
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The head definition of a deployer's object that is its effective one (at `origin`), else its
/// last head definition.
fn deployer_definition<'a>(
    object: &'a ObjectChange,
    origin: &crate::manifest::Origin,
) -> Option<(&'a ObjectChange, &'a crate::classify::Definition)> {
    object
        .head
        .iter()
        .find(|d| d.path == origin.path && d.line == origin.line)
        .or(object.effective_head())
        .map(|d| (object, d))
}
