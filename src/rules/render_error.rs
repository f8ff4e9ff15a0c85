//! `render-error`: a render target (jsonnet entry point, kustomization, chart) could not be
//! rendered — a syntax or evaluation error, a refused import, a timeout, the memory or output
//! limit, or a missing tool.
//!
//! Why it matters: the objects of a target that does not render are invisible to the check, so
//! an overwrite hidden in it would pass. Every other target is still analysed.
//! A kustomization or chart folder that no Application and no `sources:` entry deploys is not
//! rendered at all: a notice says so (for folders the PR touches, or all with `--all`), since its
//! files are templates and patches, never objects of their own.
//! Example: `env/c1/app/main.jsonnet:3:5: cannot import "/etc/passwd"`.
//! Fix: fix the error at the given position, install the missing tool, or raise
//! `render_limits` if the target is legitimately big.

use super::{Context, Rule, RuleInfo};
use crate::finding::{Finding, Severity};

pub struct RenderError;

/// How many identities a render target produced in a snapshot, and the first few named.
fn rendered_in(snapshot: &crate::snapshot::Snapshot, target: &str) -> (usize, Vec<String>) {
    let mut ids: Vec<String> = snapshot
        .objects
        .iter()
        .filter(|o| o.origin.target.as_deref() == Some(target))
        .filter_map(|o| o.identity.as_ref().map(|i| i.to_string()))
        .collect();
    ids.dedup();
    let count = ids.len();
    if count > 5 {
        ids.truncate(5);
        ids.push(format!("and {} more", count - 5));
    }
    (count, ids)
}

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
            let (count, named) = rendered_in(ctx.base, &failure.target);
            let unknown = if failure.checked {
                // Its objects are known (checked as placed): only the failure is news.
                String::new()
            } else if count == 0 {
                String::new()
            } else {
                format!(
                    "; the {count} object(s) it rendered in base ({}) are unknown in head, \
                     neither deleted nor kept",
                    named.join(", ")
                )
            };
            out.push(Finding {
                rule: INFO.id,
                severity: if debt { Severity::Notice } else { severity },
                id: None,
                path: Some(failure.path.clone()),
                line: Some(failure.line),
                message: format!(
                    "render target {} failed at {}:{}:{}: {}{}{unknown}{}",
                    failure.target,
                    failure.path,
                    failure.line,
                    failure.column,
                    failure.message,
                    if failure.checked {
                        ""
                    } else {
                        "; objects it defines are not checked"
                    },
                    if debt { " (already so in base)" } else { "" },
                ),
            });
        }
        for folder in &ctx.head.unanalysed {
            let touched = folder.inputs.iter().any(|path| {
                let head = ctx.head.files.get(path).map(|f| f.oid);
                let base = ctx.base.files.get(path).map(|f| f.oid);
                head != base || head.is_some_and(|oid| oid.is_zero())
            });
            if !(touched || ctx.all) {
                continue;
            }
            let what = match folder.tool {
                crate::render::Tool::Helm => "Helm chart",
                crate::render::Tool::Kustomize => "kustomization",
            };
            out.push(Finding {
                rule: INFO.id,
                severity: Severity::Notice,
                id: None,
                path: Some(folder.entry.clone()),
                line: Some(1),
                message: format!(
                    "{what} {} is not analysed: no Argo CD Application of this repository and no \
                     `sources:` entry deploys it, so it is not rendered (its files are templates, \
                     never objects of their own)",
                    folder.dir
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
