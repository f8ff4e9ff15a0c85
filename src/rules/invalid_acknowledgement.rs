//! `invalid-acknowledgement`: a `clobbercheck.dev/allow` annotation with a word clobbercheck
//! does not know.
//!
//! What: a head object whose `clobbercheck.dev/allow` annotation holds a word that is neither
//! `overwrite`, `delete` nor a rule id.
//! Why: an acknowledgement that silently matches nothing leaves its author believing a finding is
//! accepted while the check still fails — or, worse, a misspelt rule id they meant to accept.
//! Example: `clobbercheck.dev/allow: overwite`.
//! Fix: use `overwrite`, `delete` or a rule id, comma-separated.

use super::{Context, Rule, RuleInfo};
use crate::acknowledge::{ANNOTATION, annotation_words, rules_for};
use crate::finding::{Finding, Severity};

pub struct InvalidAcknowledgement;

static INFO: RuleInfo = RuleInfo {
    id: "invalid-acknowledgement",
    default_severity: Severity::Warning,
    summary: "a clobbercheck.dev/allow annotation names nothing clobbercheck knows",
    help: "use overwrite, delete or a rule id (comma-separated) in clobbercheck.dev/allow",
};

impl Rule for InvalidAcknowledgement {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        for object in &ctx.changes.objects {
            if !ctx.in_scope(object) {
                continue;
            }
            for def in &object.head {
                let Some(words) = annotation_words(&def.value) else {
                    continue;
                };
                let unknown: Vec<&str> = words
                    .iter()
                    .copied()
                    .filter(|w| rules_for(w).is_none())
                    .collect();
                if unknown.is_empty() && !words.is_empty() {
                    continue;
                }
                out.push(Finding {
                    rule: INFO.id,
                    severity,
                    id: Some(object.id.clone()),
                    path: Some(def.path.clone()),
                    line: Some(def.line),
                    message: format!(
                        "{} has the annotation {ANNOTATION} with {}, which acknowledges nothing. \
                         Use overwrite, delete or a rule id (known: {}).",
                        object.id,
                        if unknown.is_empty() {
                            "no value".to_string()
                        } else {
                            format!("'{}'", unknown.join("', '"))
                        },
                        crate::rules::known_ids().join(", ")
                    ),
                });
            }
        }
    }
}
