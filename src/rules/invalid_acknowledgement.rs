//! `invalid-acknowledgement`: an acknowledgement that cannot acknowledge anything.
//!
//! What: a head object whose `clobbercheck.dev/allow` annotation holds a word that is neither
//! `overwrite`, `delete` nor a rule id; an `allow:` entry of the configuration that names an
//! object neither side defines (a typo in kind, namespace or name, or an object long gone).
//! Why: an acknowledgement that silently matches nothing leaves its author believing a finding is
//! accepted while the check still fails — or, worse, a misspelt rule id they meant to accept.
//! Example: `clobbercheck.dev/allow: overwite`.
//! Fix: use `overwrite`, `delete` or a rule id, comma-separated; correct or remove the entry.

use super::{Context, Rule, RuleInfo, finding_at};
use crate::acknowledge::{ANNOTATION, annotation_words, rules_for};
use crate::finding::{Finding, Severity};

pub struct InvalidAcknowledgement;

static INFO: RuleInfo = RuleInfo {
    id: "invalid-acknowledgement",
    default_severity: Severity::Warning,
    summary: "an acknowledgement names no known rule or no existing object",
    help: "use overwrite, delete or a rule id in clobbercheck.dev/allow; correct or remove stale allow: entries",
};

impl Rule for InvalidAcknowledgement {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "An acknowledgement silences a finding on purpose, so it must name a rule that exists \
         and an object the revision defines. One that matches nothing is usually a typo or a \
         leftover from a renamed object: it silences nothing today and may silence the wrong \
         finding tomorrow. A `clobbercheck.dev/allow` annotation counts only when the base \
         revision's definition of the object already carries it: one the pull request adds \
         leaves its finding an error that says so (a pull request cannot silence its own \
         finding), unless the base configuration sets `allow_annotations_added_in_pr: true`; \
         a maintainer accepts such a finding with the check run's Acknowledge button instead."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        for object in ctx.notable {
            if !ctx.in_scope(object) {
                continue;
            }
            for def in &object.head {
                let Some(words) = annotation_words(def.value.outline()) else {
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
                out.push(finding_at(
                    &INFO,
                    severity,
                    &object.id,
                    def,
                    format!(
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
                ));
            }
        }
        let source = ctx.config.source.as_deref().unwrap_or("configuration");
        for (index, entry) in ctx.config.allow.iter().enumerate() {
            if ctx.changes.objects().iter().any(|o| entry.names(&o.id)) {
                continue;
            }
            out.push(Finding {
                rule: INFO.id,
                severity,
                id: None,
                path: Some(source.to_string()),
                line: None,
                message: format!(
                    "{source} allow[{index}] names {} {}{} (rule {}), which neither base nor head \
                     defines, so it acknowledges nothing. Correct the kind, namespace or name, or \
                     remove the entry.",
                    entry.kind,
                    entry
                        .namespace
                        .as_deref()
                        .map(|n| format!("{n}/"))
                        .unwrap_or_default(),
                    entry.name,
                    entry.rule,
                ),
            });
        }
    }
}
