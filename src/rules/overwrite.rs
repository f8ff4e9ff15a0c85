//! `overwrite-disguised-as-addition`: a definition new in the PR whose identity existed in base.
//!
//! Why it matters: the diff shows only added lines, so review sees an addition, while the deploy
//! tool will replace — and so delete the workload of — an existing object. This is exactly the
//! outage of DESIGN.md §1.
//! Example: a new Application document named like an existing one, appended to the same file.
//! Fix: give the new object its own name; or, if replacing is intended, edit the existing
//! definition instead of adding a new one. When the base definition is removed in the same PR,
//! the replacement is visible in the diff (a move) and is not reported.

use super::{Context, Rule, RuleInfo, describe, finding_at};
use crate::classify::Change;
use crate::finding::{Finding, Severity};

pub struct OverwriteDisguisedAsAddition;

static INFO: RuleInfo = RuleInfo {
    id: "overwrite-disguised-as-addition",
    default_severity: Severity::Error,
    summary: "a definition the PR adds has the identity of an object that already exists",
    help: "give the new object its own name, or edit the existing definition instead of adding one",
};

impl Rule for OverwriteDisguisedAsAddition {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        for object in &ctx.changes.objects {
            if object.base.is_empty() {
                continue;
            }
            // A base definition still present (not re-added) means the new one comes on top,
            // unless as many base definitions are gone as new ones arrive: then they moved,
            // even where base already had duplicates (issue 10 §5).
            let new = object.head.iter().filter(|d| d.new_in_pr).count();
            let kept = object.head.len() - new;
            if new == object.head.len() || new <= object.base.len().saturating_sub(kept) {
                continue;
            }
            let existing: Vec<String> = object.base.iter().map(describe).collect();
            for (index, def) in object.head.iter().enumerate() {
                if !def.new_in_pr {
                    continue;
                }
                let effect = if index + 1 == object.head.len() {
                    let what = if object.change == Change::Unchanged {
                        "it is identical to the existing object, so nothing visible changes yet, \
                         but the object now has two owners"
                            .to_string()
                    } else {
                        "it replaces the existing object's content".to_string()
                    };
                    format!("Applied in order, this definition wins: {what}.")
                } else {
                    format!(
                        "Applied in order, it is overridden by {}, so it never takes effect as written.",
                        describe(object.head.last().unwrap_or(def))
                    )
                };
                out.push(finding_at(
                    &INFO,
                    severity,
                    &object.id,
                    def,
                    format!(
                        "{} looks like an addition, but this object already exists in base at {}. \
                         {effect} Give the new object its own name, or edit the existing \
                         definition if replacing it is intended.",
                        object.id,
                        existing.join(", "),
                    ),
                ));
            }
        }
    }
}
