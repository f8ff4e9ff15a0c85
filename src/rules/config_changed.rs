//! `config-changed`: the PR edits clobbercheck's own configuration.
//!
//! Why it matters: the configuration is read from base, so a PR cannot weaken the check that
//! judges it; the change takes effect once merged, and reviewers should see it.

use super::{Context, Rule, RuleInfo};
use crate::finding::{Finding, Severity};

pub struct ConfigChanged;

static INFO: RuleInfo = RuleInfo {
    id: "config-changed",
    default_severity: Severity::Notice,
    summary: "the pull request changes clobbercheck's configuration",
    help: "review the configuration change; it applies to the pull requests after this one",
};

impl Rule for ConfigChanged {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "clobbercheck always reads its configuration from the base revision, so a pull request \
         cannot switch off or soften the check it is judged by. The edit takes effect only once \
         it is merged; until then, reviewers should read the configuration change itself, since \
         it decides what future pull requests may do unnoticed."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        if let Some(path) = ctx.config_changed {
            out.push(Finding {
                rule: INFO.id,
                severity,
                id: None,
                path: Some(path.to_string()),
                line: None,
                message: if ctx.config_given {
                    format!(
                        "this PR changes {path}; this run used the configuration given with \
                         --config, the PR's file applies after merge"
                    )
                } else {
                    format!(
                        "this PR changes {path}; the check used the base revision's \
                         configuration, the new one applies after merge"
                    )
                },
            });
        }
    }
}
