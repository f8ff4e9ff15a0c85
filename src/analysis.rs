//! The whole analysis of two revisions, shared by `clobbercheck check` and the server.
//!
//! Revision → snapshot (parse, with a cache shared by both sides) → PR diff → classification →
//! rules → report. Nothing here knows whether it runs for a terminal or for GitHub.

use std::sync::Arc;

use crate::acknowledge;
use crate::classify::ChangeSet;
use crate::config::{CONFIG_PATHS, Config, ConfigError};
use crate::deploy::radius::{self, BlastRadius};
use crate::deploy::repository::ThisRepository;
use crate::finding::{Finding, Severity};
use crate::manifest::RenderedObject;
use crate::prdiff::PrDiff;
use crate::report::Report;
use crate::revision::{Revision, RevisionError};
use crate::rules::{self, Context};
use crate::snapshot::{ParseCache, Snapshot};

/// Why an analysis could not run at all (as opposed to findings, which it reports).
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Revision(#[from] RevisionError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Base's configuration does not load and head does not change it to one that does: nothing
    /// can be judged until a pull request fixes the file.
    #[error(
        "the base revision's configuration is invalid ({0}); only a pull request that changes \
         {path} to a valid configuration can be judged (with its own configuration) until then",
        path = config_path(.0)
    )]
    BaseConfig(ConfigError),
}

impl AnalysisError {
    /// The configuration file an error is about (`.clobbercheck.yml`), when it is one.
    pub fn config_file(&self) -> Option<String> {
        match self {
            AnalysisError::Config(e) | AnalysisError::BaseConfig(e) => {
                Some(config_path(e)).filter(|p| !p.is_empty())
            }
            AnalysisError::Revision(_) => None,
        }
    }
}

/// The report and everything it was computed from, for callers that need more than the report
/// (the server's diffs and review comments).
pub struct Analysis {
    pub report: Report,
    pub config: Config,
    /// Shared with the [`ParseCache`], which may hand the same snapshot to later analyses.
    pub base: Arc<Snapshot>,
    pub head: Arc<Snapshot>,
    pub diff: PrDiff,
    /// The blast radius of every deployer the PR deletes or redirects
    /// ([`radius::blast_radii`]): computed once, for the rules and for the review.
    pub radii: Vec<BlastRadius>,
}

/// How an analysis judges, beyond the configuration.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Judge every object of head (`check --all`, for audits), not only what the PR touches.
    pub all: bool,
    /// This repository's URLs and branches as the caller knows them (the App's payload,
    /// `--repo-url` or the `origin` remote), added to the configuration's `repo_urls:` and
    /// `target_revisions:`.
    pub repository: ThisRepository,
}

/// Compares two revisions, judging what the PR touches. `config` overrides the configuration; by
/// default it is read from base (a PR cannot weaken its own check) and a change to it in head is
/// reported.
pub fn analyze(
    base_rev: &dyn Revision,
    head_rev: &dyn Revision,
    config: Option<Config>,
    cache: &ParseCache,
) -> Result<Analysis, AnalysisError> {
    analyze_with(base_rev, head_rev, config, cache, Options::default())
}

/// [`analyze`] with explicit [`Options`] (`check --all`).
pub fn analyze_with(
    base_rev: &dyn Revision,
    head_rev: &dyn Revision,
    config: Option<Config>,
    cache: &ParseCache,
    options: Options,
) -> Result<Analysis, AnalysisError> {
    let config_given = config.is_some();
    let (mut config, base_config_error) = match config {
        Some(config) => (config, None),
        None => match Config::load(base_rev) {
            Ok((config, _)) => (config, None),
            Err(ConfigError::Revision(e)) => return Err(e.into()),
            Err(invalid) => {
                let (config, invalid) = fixed_by_head(base_rev, head_rev, invalid)?;
                (config, Some(invalid))
            }
        },
    };
    config.deploy.repository.extend(&options.repository);
    let base = cache.snapshot(base_rev, &config)?;
    let head = cache.snapshot_after(head_rev, &config, Some(&base))?;
    let config_changed = config_change(&base, &head, base_rev, head_rev)?;
    // Head's configuration judges the PRs after this one: one that does not load is reported
    // now, while this run goes on with the configuration it started from.
    let head_config_error = match config_changed.as_deref().map(|_| Config::load(head_rev)) {
        Some(Err(ConfigError::Revision(e))) => return Err(e.into()),
        Some(Err(e)) => Some((config_path(&e), e.to_string())),
        _ => None,
    };
    let diff = PrDiff::compute(&base, &head, base_rev, head_rev)?;
    // Objects of a target that failed to render on one side are unknown there: they are left
    // out of the comparison on both sides (never deleted, never added), and render-error says so.
    // So are the objects of a Flux Kustomization whose kustomize build failed there: the other
    // side may have read them from the folder's files (no patches then), not from that build.
    fn known<'a>(side: &'a Snapshot, failed: &Snapshot) -> Vec<&'a RenderedObject> {
        let unknown = |o: &RenderedObject| {
            o.origin.target.as_ref().is_some_and(|t| {
                failed
                    .render_errors
                    .iter()
                    .any(|f| &f.target == t && !f.checked)
            }) || failed.render_errors.iter().any(|f| {
                !f.checked
                    && failed
                        .deployers
                        .flux()
                        .build_owner(&f.target)
                        .is_some_and(|owner| o.owners.contains(&owner))
            })
        };
        side.objects
            .iter()
            .map(|o| &**o)
            .filter(|o| !unknown(o))
            .collect()
    }
    let no_render_errors = base.render_errors.is_empty() && head.render_errors.is_empty();
    let changes = if no_render_errors && let Some(rebuilt) = head.rebuilt_since(&base) {
        ChangeSet::classify_change(
            &base.objects,
            &head.objects,
            &diff,
            &rebuilt,
            base.unchanged(),
        )
    } else if no_render_errors {
        ChangeSet::classify(&base.object_refs(), &head.object_refs(), &diff)
    } else {
        ChangeSet::classify(&known(&base, &head), &known(&head, &base), &diff)
    };
    let notable = rules::notable(&changes, options.all);
    let radii = radius::blast_radii(&changes, &base.deployers, &head.deployers);
    let findings = rules::run(&Context {
        base: &base,
        head: &head,
        changes: &changes,
        diff: &diff,
        config: &config,
        config_changed: config_changed.as_deref(),
        head_config_error: head_config_error
            .as_ref()
            .map(|(path, message)| (path.as_str(), message.as_str())),
        config_given,
        all: options.all,
        base_apps: base.deployers.applications(),
        head_apps: head.deployers.applications(),
        notable: &notable,
        radii: &radii,
    });
    let (mut findings, silenced) = acknowledge::apply(findings, &changes, &head, &config);
    if let Some(invalid) = &base_config_error {
        // Stated in every report (check run summary, `check`, the Action): this run was not
        // judged by base's configuration, and why.
        findings.push(Finding {
            rule: "invalid-config",
            severity: Severity::Notice,
            id: None,
            path: Some(config_path(invalid)).filter(|p| !p.is_empty()),
            line: None,
            message: format!(
                "the base revision's configuration is invalid ({invalid}); this pull request \
                 changes it to a valid one, so it is judged with the head's configuration"
            ),
        });
    }
    let report =
        Report::new(base_rev.label(), head_rev.label(), changes, findings).with_silenced(silenced);
    Ok(Analysis {
        report,
        config,
        base,
        head,
        diff,
        radii,
    })
}

/// Head's configuration, when base's does not load (`invalid`) and head changes the file to one
/// that does (or removes it, leaving the defaults): a required check must not deadlock the
/// repository, and base's broken file holds no check a PR could weaken. Returns it with
/// `invalid`, for the report to state; any other PR gets [`AnalysisError::BaseConfig`].
fn fixed_by_head(
    base_rev: &dyn Revision,
    head_rev: &dyn Revision,
    invalid: ConfigError,
) -> Result<(Config, ConfigError), AnalysisError> {
    if Config::file(head_rev)? == Config::file(base_rev)? {
        return Err(AnalysisError::BaseConfig(invalid));
    }
    match Config::load(head_rev) {
        Ok((config, _)) => Ok((config, invalid)),
        Err(ConfigError::Revision(e)) => Err(e.into()),
        Err(_) => Err(AnalysisError::BaseConfig(invalid)),
    }
}

/// The file a configuration error is about.
fn config_path(error: &ConfigError) -> String {
    match error {
        ConfigError::Invalid { path, .. } | ConfigError::InvalidKey { path, .. } => path.clone(),
        ConfigError::Revision(_) => String::new(),
    }
}

/// The path of the configuration file if head's differs from base's.
fn config_change(
    base: &Snapshot,
    head: &Snapshot,
    base_rev: &dyn Revision,
    head_rev: &dyn Revision,
) -> Result<Option<String>, RevisionError> {
    for path in CONFIG_PATHS {
        let changed = match (base.files.get(path), head.files.get(path)) {
            (None, None) => continue,
            (Some(old), Some(new)) if !old.oid.is_zero() && old.oid == new.oid => false,
            (Some(old), Some(new)) => base_rev.read(&old.entry)? != head_rev.read(&new.entry)?,
            _ => true,
        };
        if changed {
            return Ok(Some(path.to_string()));
        }
    }
    Ok(None)
}
