//! `render-error`: a render target (jsonnet entry point, kustomization, chart) could not be
//! rendered — a syntax or evaluation error, a refused import, a timeout, the memory or output
//! limit, or a missing tool.
//!
//! Why it matters: the objects of a target that does not render are invisible to the check, so
//! an overwrite hidden in it would pass. Every other target is still analysed.
//! Example: `env/c1/app/main.jsonnet:3:5: cannot import "/etc/passwd"`.
//! Fix: fix the error at the given position, install the missing tool, or raise
//! `render_limits` if the target is legitimately big.

use super::{Context, Rule, RuleInfo};
use crate::finding::{Finding, Severity};

pub struct RenderError;

static INFO: RuleInfo = RuleInfo {
    id: "render-error",
    default_severity: Severity::Error,
    summary: "a render target could not be rendered, so its objects are not checked",
    help: "fix the error at the given position, install the missing tool, or raise render_limits",
};

impl Rule for RenderError {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "A render target (jsonnet entry point, kustomize overlay, Helm chart) that fails to \
         render produces no objects, so its objects cannot be compared and a deletion or \
         overwrite inside it goes unseen. In a deploy tool the same failure usually blocks the \
         sync of the whole Application."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        for failure in &ctx.head.render_errors {
            // The same failure in base is old debt, not something this PR introduced.
            let debt = ctx
                .base
                .render_errors
                .iter()
                .any(|b| b.target == failure.target && b.message == failure.message);
            out.push(Finding {
                rule: INFO.id,
                severity: if debt { Severity::Notice } else { severity },
                id: None,
                path: Some(failure.path.clone()),
                line: Some(failure.line),
                message: format!(
                    "render target {} failed at {}:{}:{}: {}; objects it defines are not checked{}",
                    failure.target,
                    failure.path,
                    failure.line,
                    failure.column,
                    failure.message,
                    if debt { " (already so in base)" } else { "" },
                ),
            });
        }
        for failure in &ctx.base.render_errors {
            let renders_in_head = ctx.head.targets.iter().any(|t| t.name == failure.target)
                && !ctx
                    .head
                    .render_errors
                    .iter()
                    .any(|h| h.target == failure.target);
            if !renders_in_head {
                continue;
            }
            out.push(Finding {
                rule: INFO.id,
                severity: Severity::Warning,
                id: None,
                path: Some(failure.path.clone()),
                line: None,
                message: format!(
                    "the base version of render target {} could not be rendered ({}:{}:{}: {}): \
                     objects it defined in base are unknown, so changes to them may be misclassified",
                    failure.target, failure.path, failure.line, failure.column, failure.message
                ),
            });
        }
    }
}
