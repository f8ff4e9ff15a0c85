//! `duplicate-identity`: one identity defined more than once in head (per cluster).
//!
//! Why it matters: a deploy tool applies the definitions in order and the last one wins, silently
//! replacing the others — the mechanism of the outage in DESIGN.md §1. Argo CD only warns after
//! sync; helm-diff keeps the first and exits 0.
//! Example: two documents in `apps.yaml` both named `app01-cluster01`.
//! Fix: rename the new object, or delete the definition that should not exist.
//! Only a duplicate the PR introduces (more definitions in head than in base) is reported at the
//! configured level; one that base already had is a notice, so old debt never fails every PR
//! (`check --all` reports every duplicate at the configured level).
//! For Argo CD Applications the message also says what the replaced definitions deployed: Argo CD
//! keeps one Application per name in its namespace, so the objects of the losing definitions are
//! no longer deployed — and automated pruning deletes them.

use super::{Context, Rule, RuleInfo, describe};
use crate::classify::ObjectChange;
use crate::deploy::argocd::Application;
use crate::finding::{Finding, Severity};

pub struct DuplicateIdentity;

static INFO: RuleInfo = RuleInfo {
    id: "duplicate-identity",
    default_severity: Severity::Error,
    summary: "one object identity is defined more than once; the last definition silently wins",
    help: "rename the new object or delete the definition that should not exist",
};

impl Rule for DuplicateIdentity {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "A deploy tool keys objects by API group, kind, namespace and name. When one revision \
         defines the same key twice, kubectl and Argo CD apply both definitions in order and \
         keep the last one, with no error; Argo CD only warns after the sync. The earlier \
         definition never reaches the cluster, and for an Argo CD Application that means the \
         folder it deployed is no longer deployed, so automated pruning deletes its objects."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        for object in ctx.notable {
            let count = object.head.len();
            if count < 2 {
                continue;
            }
            let introduced = count > object.base.len() || ctx.all;
            let Some(winner) = object.head.last() else {
                continue;
            };
            let at = object.head.iter().find(|d| d.new_in_pr).unwrap_or(winner);
            let all: Vec<String> = object.head.iter().map(describe).collect();
            let losers: Vec<String> = object.head[..count - 1].iter().map(describe).collect();
            let mut message = format!(
                "{} is defined {count} times in head: {}. Applied in order, the last definition \
                 ({}) wins and silently replaces {}.",
                object.id,
                all.join(", "),
                describe(winner),
                losers.join(", "),
            );
            if introduced {
                message.push_str(if object.base.len() > 1 {
                    " This PR adds a definition to an identity that was already duplicated."
                } else {
                    " Rename the new object or remove the extra definition."
                });
            } else {
                message.push_str(&format!(
                    " Base already had {} definitions: not introduced by this PR.",
                    object.base.len()
                ));
            }
            message.push_str(&app_of_apps(ctx, object));
            out.push(Finding {
                rule: INFO.id,
                severity: if introduced {
                    severity
                } else {
                    Severity::Notice
                },
                id: Some(object.id.clone()),
                path: Some(at.path.clone()),
                line: Some(at.line),
                message,
            });
        }
    }
}

/// For a duplicated Argo CD Application: what each replaced definition deployed, which the
/// winning one no longer does.
fn app_of_apps(ctx: &Context<'_>, object: &ObjectChange) -> String {
    if object.id.group != "argoproj.io" || object.id.kind != "Application" {
        return String::new();
    }
    let apps: Vec<Application> = object
        .head
        .iter()
        .filter_map(|d| Application::from_value(&d.value, &d.origin, &ctx.config.deploy))
        .collect();
    let Some((winner, losers)) = apps.split_last() else {
        return String::new();
    };
    let lost: Vec<String> = losers
        .iter()
        .filter(|l| l.sources != winner.sources || l.destination() != winner.destination())
        .map(Application::describe)
        .collect();
    if lost.is_empty() {
        return String::new();
    }
    format!(
        " Argo CD keeps one Application named {} in namespace {}: it becomes {}. What the other \
         definitions deploy — {} — is no longer deployed by it, so automated pruning deletes \
         those objects from their cluster; an app-of-apps parent rendering both definitions shows \
         the Application out of sync for good.",
        winner.name,
        winner.namespace,
        winner.describe(),
        lost.join("; ")
    )
}
