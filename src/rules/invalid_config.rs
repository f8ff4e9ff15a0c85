//! `invalid-config`: the PR brings a clobbercheck configuration that does not load.
//!
//! What: head's `.clobbercheck.yml` (or `.github/clobbercheck.yml`) has an unknown key, a bad
//! glob, a bad value, or is not YAML.
//! Why: the configuration is read from base, so this PR is still judged by the old one — but once
//! merged, every later PR would fail to run (exit status 2, no check at all).
//! Example: `clusterz: "env/{cluster}/**"`.
//! Fix: correct the key or value the message names; `clobbercheck check --config FILE` tries it.

use super::{Context, Rule, RuleInfo};
use crate::finding::{Finding, Severity};

pub struct InvalidConfig;

static INFO: RuleInfo = RuleInfo {
    id: "invalid-config",
    default_severity: Severity::Error,
    summary: "the pull request brings a configuration that does not load",
    help: "fix the key or value named; once merged, this file would stop every later check",
};

impl Rule for InvalidConfig {
    fn info(&self) -> &'static RuleInfo {
        &INFO
    }

    fn explanation(&self) -> &'static str {
        "The configuration is read from the base revision, so this pull request is still judged \
         by the old one. Once merged, though, the new file is what every later check loads: a key \
         it does not know or a value it cannot use stops each of them before it judges anything \
         (exit status 2), so the file is checked here, before it can do that. When the base \
         revision's configuration itself does not load, only a pull request that changes it to \
         one that does is judged, with that configuration, and this rule states it as a \
         notice; every other pull request fails with the file named, until one fixes it."
    }

    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>) {
        if let Some((path, message)) = ctx.head_config_error {
            out.push(Finding {
                rule: INFO.id,
                severity,
                id: None,
                path: Some(path.to_string()),
                line: None,
                message: format!(
                    "{message}; this run used the configuration it started from, but after merge \
                     every check would stop here"
                ),
            });
        }
    }
}
