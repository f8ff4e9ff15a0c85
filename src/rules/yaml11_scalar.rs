//! `yaml-1.1-scalar`: an unquoted value that kubectl reads differently from clobbercheck.
//!
//! What: a plain scalar such as `yes`, `on`, `n`, `0755`, `1_000` or `0b101`. clobbercheck reads
//! YAML 1.2 (core schema, like the API server's JSON): these are strings. kubectl and Argo CD
//! convert YAML with sigs.k8s.io/yaml, whose go-yaml v2 follows YAML 1.1: booleans and numbers.
//! Why it matters: the cluster gets a value other than the one clobbercheck compared, and a
//! string field (a label, an env value, a ConfigMap entry) receives `true` or `493` — or the
//! apply is refused.
//! Fix: quote the value (`'yes'`, `'0755'`), or write what is meant (`true`, `493`).

use super::{Context, Rule, RuleInfo, yaml_warnings};
use crate::finding::{Finding, Severity};
use crate::manifest::yaml::YamlWarningKind;

pub struct Yaml11Scalar;

static INFO: RuleInfo = RuleInfo {
    id: "yaml-1.1-scalar",
    default_severity: Severity::Warning,
    summary: "an unquoted value that YAML 1.1 readers such as kubectl read as a boolean or number",
    help: "quote the value ('yes', '0755') or write the boolean or number that is meant",
};

impl Rule for Yaml11Scalar {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "clobbercheck reads YAML 1.2, as the API server's JSON does, where `yes`, `on` and \
         `0755` are strings. kubectl and Argo CD convert YAML with a YAML 1.1 reader, where they \
         are the boolean true and the octal number 493. The cluster then gets a value other than \
         the one reviewed, or refuses a string field that received a boolean."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        yaml_warnings(
            ctx,
            &INFO,
            severity,
            |warning| match &warning.kind {
                YamlWarningKind::Yaml11Scalar {
                    scalar,
                    yaml11,
                    key,
                } => {
                    let theirs = match yaml11.as_str() {
                        "true" | "false" => format!("the boolean {yaml11}"),
                        _ => format!("the number {yaml11}"),
                    };
                    let what = if *key { "key" } else { "value" };
                    Some(format!(
                        "the unquoted {what} `{scalar}` at line {} is the string \"{scalar}\" \
                         for clobbercheck (YAML 1.2, like the API server's JSON) but {theirs} for \
                         YAML 1.1 readers such as kubectl and Argo CD (sigs.k8s.io/yaml): quote it \
                         ('{scalar}'), or write {yaml11} if that is what is meant.",
                        warning.line
                    ))
                }
                YamlWarningKind::DuplicateKey { .. } => None,
            },
            out,
        );
    }
}
