//! The rule engine: one file per rule, one registry list, severities from the configuration.
//!
//! Adding a rule touches its own file, the [`RULES`] line and its fixture, nothing else.

mod config_changed;
mod duplicate_identity;
mod overwrite;
mod parse_error;
mod render_error;

use crate::classify::ChangeSet;
use crate::config::Config;
use crate::finding::{Finding, Severity};
use crate::prdiff::PrDiff;
use crate::snapshot::Snapshot;

/// What a rule is, for configuration checks, SARIF and documentation.
#[derive(Debug)]
pub struct RuleInfo {
    /// Stable id, used in configuration and every report.
    pub id: &'static str,
    pub default_severity: Severity,
    /// One line: what the rule finds.
    pub summary: &'static str,
    /// How to fix what it finds.
    pub help: &'static str,
}

/// Everything a rule may look at.
pub struct Context<'a> {
    pub base: &'a Snapshot,
    pub head: &'a Snapshot,
    pub changes: &'a ChangeSet,
    pub diff: &'a PrDiff,
    pub config: &'a Config,
    /// Path of the configuration file if the PR changes it.
    pub config_changed: Option<&'a str>,
}

/// A check over a comparison. `severity` is the configured level for the rule's main finding;
/// findings about debt the PR did not introduce are notices whatever the level.
pub trait Rule: Sync {
    fn info(&self) -> &'static RuleInfo;
    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>);
}

/// Every rule, in report order.
pub static RULES: &[&dyn Rule] = &[
    &parse_error::ParseError,
    &render_error::RenderError,
    &duplicate_identity::DuplicateIdentity,
    &overwrite::OverwriteDisguisedAsAddition,
    &config_changed::ConfigChanged,
];

/// Whether `id` names a rule (for validating `rules:` in the configuration).
pub fn is_known(id: &str) -> bool {
    RULES.iter().any(|r| r.info().id == id)
}

/// Every rule id, for error messages.
pub fn known_ids() -> Vec<&'static str> {
    RULES.iter().map(|r| r.info().id).collect()
}

/// Runs every rule that is not `off` and returns the findings, errors first, then by location.
pub fn run(ctx: &Context<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for rule in RULES {
        let info = rule.info();
        let level = ctx
            .config
            .rule_level(info.id)
            .map(|l| l.severity())
            .unwrap_or(Some(info.default_severity));
        if let Some(severity) = level {
            rule.check(ctx, severity, &mut findings);
        }
    }
    findings.sort_by(|a, b| {
        (a.severity, &a.path, a.line, a.rule, &a.message)
            .cmp(&(b.severity, &b.path, b.line, b.rule, &b.message))
    });
    findings
}

/// `path:line` for messages.
pub(crate) fn at(path: &str, line: usize) -> String {
    format!("{path}:{line}")
}

/// How a definition is named in messages: `path:line`, plus its render target when rendered.
pub(crate) fn describe(def: &crate::classify::Definition) -> String {
    match &def.target {
        Some(target) if target != &def.path => {
            format!("{} (rendered by {target})", at(&def.path, def.line))
        }
        _ => at(&def.path, def.line),
    }
}
