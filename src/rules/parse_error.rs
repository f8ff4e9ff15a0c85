//! `parse-error`: a file that may hold objects could not be read.
//!
//! Why it matters: objects in an unreadable file are invisible to the check, so an overwrite
//! hidden in it would pass. The rest of the repository is still analysed.
//! Fix: make the file valid YAML/JSON, or exclude it in `.clobbercheck.yml`.

use super::{Context, Rule, RuleInfo};
use crate::finding::{Finding, Severity};

pub struct ParseError;

static INFO: RuleInfo = RuleInfo {
    id: "parse-error",
    default_severity: Severity::Error,
    summary: "a file selected for analysis could not be parsed",
    help: "fix the syntax at the given line, or exclude the file in .clobbercheck.yml",
};

impl Rule for ParseError {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "A file that cannot be parsed hides every object it defines: clobbercheck cannot tell \
         what it adds, replaces or deletes, and the deploy tool will either refuse the whole \
         file or, with a lenient YAML reader, apply something other than what review saw. Every \
         other file is still analysed."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        for problem in &ctx.head.problems {
            let path = problem.path();
            // A file the PR does not touch that already failed in base is old debt.
            let debt = !ctx.diff.touches(path) && ctx.base.problems.contains(problem);
            let (line, message) = problem.describe();
            out.push(Finding {
                rule: INFO.id,
                severity: if debt || !problem.hides_objects() {
                    Severity::Notice
                } else {
                    severity
                },
                id: None,
                path: Some(path.to_string()),
                line: Some(line),
                message: if debt {
                    format!("{message} (already so in base)")
                } else {
                    message
                },
            });
        }
        for problem in &ctx.base.problems {
            let path = problem.path();
            if !problem.hides_objects()
                || ctx.head.problems.iter().any(|p| p.path() == path)
                || !ctx.diff.touches(path)
            {
                continue;
            }
            let (line, message) = problem.describe();
            out.push(Finding {
                rule: INFO.id,
                severity: Severity::Warning,
                id: None,
                path: Some(path.to_string()),
                line: None,
                message: format!(
                    "the base version of this file could not be read ({message}, base line {line}): \
                     objects it defined in base are unknown, so changes to them may be misclassified"
                ),
            });
        }
    }
}
