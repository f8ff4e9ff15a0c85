//! The rule engine: one file per rule, one registry list, severities from the configuration.
//!
//! Adding a rule touches its own file, the [`RULES`] line and its fixture, nothing else.

mod applicationset_not_expanded;
mod config_changed;
mod deployer_not_followed;
mod duplicate_identity;
mod duplicate_key;
mod helm_release_collision;
mod invalid_acknowledgement;
mod invalid_config;
mod missing_fail_on_shared_resource;
mod missing_prune_false;
mod name_path_mismatch;
mod overwrite;
mod owner_change;
mod parse_error;
mod reclaim_policy_delete;
mod render_error;
mod shared_resource;
mod stateful_deletion;
mod yaml11_scalar;

use crate::classify::{ChangeSet, ObjectChange};
use crate::config::Config;
use crate::deploy::argocd::Applications;
use crate::finding::{Finding, Severity};
use crate::manifest::yaml::YamlWarning;
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
    /// Head's own configuration file and why it does not load, if it does not.
    pub head_config_error: Option<(&'a str, &'a str)>,
    /// Whether `--config FILE` replaced the base revision's configuration for this run.
    pub config_given: bool,
    /// `check --all`: judge every object of head, not only those the PR touches.
    pub all: bool,
    /// The effective Argo CD Applications of base (what a deletion takes with it).
    pub base_apps: &'a Applications,
    /// The effective Argo CD Applications of head (who deploys what, where).
    pub head_apps: &'a Applications,
    /// The objects any rule may find something about ([`notable`] of `changes`), in identity
    /// order: rules walk these, not every object, so judging a PR costs what it touches.
    pub notable: &'a [&'a ObjectChange],
    /// Every deployer's blast radius ([`crate::deploy::radius::blast_radii`]), computed once
    /// per analysis: the review shows the same ones.
    pub radii: &'a [crate::deploy::radius::BlastRadius],
}

impl Context<'_> {
    /// Whether a rule judges this object: every object with `--all`, else only what the PR
    /// touches (added, modified, deleted, moved, or given a new definition), so a PR is never
    /// failed for old debt.
    pub fn in_scope(&self, object: &ObjectChange) -> bool {
        self.all || object.touched()
    }
}

/// The objects of `changes` a rule may find something about: every one with `all` (`check
/// --all`), else the [notable](ObjectChange::notable) ones — those [`Context::in_scope`] judges,
/// those head defines more than once or several deployers deploy (debt the rules report as
/// notices), and those whose deployers change. No rule has anything to say about another
/// object: it is unchanged, defined once, by the same deployers on both sides.
pub fn notable(changes: &ChangeSet, all: bool) -> Vec<&ObjectChange> {
    if all {
        changes.objects().iter().map(|o| &**o).collect()
    } else {
        changes.notable().collect()
    }
}

/// A check over a comparison. `severity` is the configured level for the rule's main finding;
/// findings about debt the PR did not introduce are notices whatever the level.
pub trait Rule: Sync {
    fn info(&self) -> &'static RuleInfo;
    fn check(&self, ctx: &Context<'_>, severity: Severity, out: &mut Vec<Finding>);
    /// A few link-free sentences for reports: why the finding matters on a cluster. Distinct
    /// from the summary (reports show both, once: SARIF's short and full descriptions).
    fn explanation(&self) -> &'static str;
}

/// Every rule, in report order.
pub static RULES: &[&dyn Rule] = &[
    &parse_error::ParseError,
    &render_error::RenderError,
    &duplicate_identity::DuplicateIdentity,
    &overwrite::OverwriteDisguisedAsAddition,
    &stateful_deletion::StatefulDeletion,
    &shared_resource::SharedResource,
    &owner_change::OwnerChange,
    &helm_release_collision::HelmReleaseCollision,
    &name_path_mismatch::NamePathMismatch,
    &missing_prune_false::MissingPruneFalse,
    &missing_fail_on_shared_resource::MissingFailOnSharedResource,
    &reclaim_policy_delete::ReclaimPolicyDelete,
    &duplicate_key::DuplicateKey,
    &yaml11_scalar::Yaml11Scalar,
    &applicationset_not_expanded::ApplicationSetNotExpanded,
    &deployer_not_followed::DeployerNotFollowed,
    &invalid_acknowledgement::InvalidAcknowledgement,
    &config_changed::ConfigChanged,
    &invalid_config::InvalidConfig,
];

/// The documentation of every rule, one `<a id>` anchor per rule id, generated from the registry
/// (docs/rules.md is this text; a test keeps them equal). SARIF `helpUri`s point into it.
pub fn documentation() -> String {
    let mut out = String::from(
        "# Rules\n\nGenerated from the rule registry (`src/rules/`); `cargo test --test review` checks it (`CLOBBERCHECK_BLESS=1` rewrites it).\n",
    );
    for rule in RULES {
        let info = rule.info();
        out.push_str(&format!(
            "\n<a id=\"{id}\"></a>\n## `{id}` ({severity} by default)\n\n{summary}.\n\n{explanation}\n\n**Fix:** {help}.\n",
            id = info.id,
            severity = info.default_severity.as_str(),
            summary = capitalize(info.summary),
            explanation = rule.explanation(),
            help = info.help,
        ));
    }
    out
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The registered rule with this id, for reports that explain findings.
pub fn find(id: &str) -> Option<&'static dyn Rule> {
    RULES.iter().copied().find(|r| r.info().id == id)
}

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

/// How a definition is named in messages: `path:line`, plus its render target when rendered, or
/// the ApplicationSet and generator element that produced it.
pub(crate) fn describe(def: &crate::classify::Definition) -> String {
    if let Some(generator) = &def.generator {
        return format!("{} ({generator})", at(&def.path, def.line));
    }
    match &def.target {
        Some(target) if target != &def.path => {
            format!("{} (rendered by {target})", at(&def.path, def.line))
        }
        _ => at(&def.path, def.line),
    }
}

/// A finding about one object at one of its definitions: the shape most rules report.
pub(crate) fn finding_at(
    info: &RuleInfo,
    severity: Severity,
    id: &crate::manifest::Identity,
    def: &crate::classify::Definition,
    message: String,
) -> Finding {
    Finding {
        rule: info.id,
        severity,
        id: Some(id.clone()),
        path: Some(def.path.clone()),
        line: Some(def.line),
        message,
    }
}

/// Reports the YAML reader's warnings that `describe` words (those of one rule) and that lie in the head definitions of objects
/// in scope: at the configured severity when the PR brings the warning in, as a notice when the
/// object's base definition already had the same one (old debt).
pub(crate) fn yaml_warnings(
    ctx: &Context<'_>,
    info: &RuleInfo,
    severity: Severity,
    describe: fn(&YamlWarning) -> Option<String>,
    out: &mut Vec<Finding>,
) {
    if ctx.head.warnings.is_empty() {
        return;
    }
    let within = |snapshot: &Snapshot, def: &crate::classify::Definition| -> Vec<YamlWarning> {
        if def.target.is_some() {
            return Vec::new();
        }
        snapshot
            .warnings
            .get(&def.path)
            .map(|found| {
                found
                    .iter()
                    .filter(|w| describe(w).is_some())
                    .filter(|w| (def.origin.line..=def.origin.end_line).contains(&w.line))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    // A file deployed to several clusters defines one object per cluster: report each place once.
    let mut reported = std::collections::HashSet::new();
    for object in ctx.notable {
        if !ctx.in_scope(object) {
            continue;
        }
        for def in &object.head {
            let found = within(ctx.head, def);
            if found.is_empty() {
                continue;
            }
            let before: Vec<YamlWarning> = object
                .base
                .iter()
                .flat_map(|b| within(ctx.base, b))
                .collect();
            for warning in found {
                let Some(what) = describe(&warning) else {
                    continue;
                };
                if !reported.insert((def.path.clone(), warning.clone())) {
                    continue;
                }
                let debt = before.iter().any(|b| b.same_as(&warning));
                let mut text = format!("{}: {what}", object.id);
                if debt {
                    text.push_str(" (already so in base)");
                }
                let mut finding = finding_at(
                    info,
                    if debt { Severity::Notice } else { severity },
                    &object.id,
                    def,
                    text,
                );
                finding.line = Some(warning.line);
                out.push(finding);
            }
        }
    }
}

/// One finding per notice a reader left, at the file:line it names: how the rules that report
/// what could not be followed (ApplicationSet generators, Flux sources) turn
/// `Snapshot::set_notices` / `Snapshot::deployer_notices` into findings.
fn notices_at(
    rule: &'static str,
    severity: Severity,
    notices: &[(crate::manifest::Origin, String)],
    out: &mut Vec<Finding>,
) {
    out.extend(notices.iter().map(|(origin, message)| Finding {
        rule,
        severity,
        id: None,
        path: Some(origin.path.clone()),
        line: Some(origin.line),
        message: message.clone(),
    }));
}
