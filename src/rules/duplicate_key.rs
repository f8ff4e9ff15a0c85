//! `duplicate-key`: a mapping key written twice in one object.
//!
//! What: `replicas: 3` and, further down the same mapping, `replicas: 1`.
//! Why it matters: Kubernetes (and clobbercheck) keep the last value and drop the earlier one
//! without a word, so a reviewer reading the first one is misled, and a merge that added the
//! second line changed the object although the diff looks like an addition.
//! Fix: remove one of the two keys.

use super::{Context, Rule, RuleInfo, yaml_warnings};
use crate::finding::{Finding, Severity};
use crate::manifest::yaml::YamlWarningKind;

pub struct DuplicateKey;

static INFO: RuleInfo = RuleInfo {
    id: "duplicate-key",
    default_severity: Severity::Warning,
    summary: "a mapping key appears twice in one object; the last value silently wins",
    help: "remove one of the two keys so the object says one thing",
};

impl Rule for DuplicateKey {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "When a YAML mapping has the same key twice, Kubernetes keeps the last value and drops \
         the earlier one without an error. A reviewer who reads the first value is misled, and \
         a line added further down can change an object while the diff looks harmless."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        yaml_warnings(
            ctx,
            &INFO,
            severity,
            |warning| match &warning.kind {
                YamlWarningKind::DuplicateKey { key, first_line } => Some(format!(
                    "key `{key}` at line {} repeats the one at line {first_line}: the last one \
                     wins, as in Kubernetes, so the value at line {first_line} is silently \
                     dropped. Remove one of them.",
                    warning.line
                )),
                YamlWarningKind::Yaml11Scalar { .. } => None,
            },
            out,
        );
    }
}
