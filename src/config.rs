//! `.clobbercheck.yml`: which files hold objects, how paths map to clusters, rule severities.
//!
//! The configuration is read from the **base** revision so a pull request cannot weaken the check
//! it is judged by. Unknown keys are errors that name the key: a typo must never silently turn a
//! safety setting off.

use std::collections::BTreeMap;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::finding::Severity;
use crate::revision::{Revision, RevisionError};

/// Where the configuration is looked for, in order.
pub const CONFIG_PATHS: [&str; 2] = [".clobbercheck.yml", ".github/clobbercheck.yml"];

/// Why a configuration could not be used; every variant names the file and, where known, the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("invalid configuration {path}: key '{key}': {message}")]
    InvalidKey {
        path: String,
        key: String,
        message: String,
    },
    #[error(transparent)]
    Revision(#[from] RevisionError),
}

/// A rule's severity as configured; `off` removes the rule's findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
    Notice,
    Off,
}

impl Level {
    /// The severity findings get, or `None` when the rule is off.
    pub fn severity(self) -> Option<Severity> {
        match self {
            Level::Error => Some(Severity::Error),
            Level::Warning => Some(Severity::Warning),
            Level::Notice => Some(Severity::Notice),
            Level::Off => None,
        }
    }
}

/// The configuration file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    include: Vec<String>,
    exclude: Vec<String>,
    clusters: Option<String>,
    default_namespace: String,
    max_file_size: u64,
    naming: Vec<RawNaming>,
    rules: BTreeMap<String, Level>,
    allow: Vec<crate::acknowledge::AllowEntry>,
    allow_annotations_added_in_pr: bool,
    sources: Vec<crate::render::RawSource>,
    render_limits: crate::render::RawLimits,
    repo_urls: Vec<String>,
    target_revisions: Vec<String>,
    argocd: RawArgocd,
    flux: RawFlux,
}

/// The `flux:` section as written: how the cluster's Flux controllers run, which the repository
/// does not say.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawFlux {
    /// kustomize-controller runs with `--feature-gates=StrictPostBuildSubstitutions=true`.
    strict_post_build_substitutions: bool,
}

/// The `argocd:` section as written: what Argo CD knows that the repository may not hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawArgocd {
    clusters: Vec<RawCluster>,
}

/// One `argocd.clusters` entry: a cluster as the ApplicationSet `clusters` generator sees it,
/// for repositories that do not commit their Argo CD cluster Secrets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: String,
    server: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// One `naming:` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNaming {
    path: String,
    #[serde(default)]
    kinds: Vec<String>,
    name: String,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            include: vec!["**/*.yaml".into(), "**/*.yml".into(), "**/*.json".into()],
            exclude: vec![".github/**".into()],
            clusters: None,
            default_namespace: "default".into(),
            max_file_size: 32 * 1024 * 1024,
            naming: Vec::new(),
            rules: BTreeMap::new(),
            allow: Vec::new(),
            allow_annotations_added_in_pr: false,
            sources: Vec::new(),
            render_limits: crate::render::RawLimits::default(),
            argocd: RawArgocd::default(),
            flux: RawFlux::default(),
            repo_urls: Vec::new(),
            target_revisions: Vec::new(),
        }
    }
}

/// The validated configuration the analysis runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Path of the file it was read from, or `None` for the defaults.
    pub source: Option<String>,
    include: GlobSet,
    exclude: GlobSet,
    /// `env/{cluster}/**`-style pattern naming the cluster a file is applied to.
    pub clusters: Option<ClusterPattern>,
    pub default_namespace: String,
    /// Files larger than this are refused with a finding instead of being parsed.
    pub max_file_size: u64,
    /// Conventions tying object names to paths, checked by `name-path-mismatch`.
    pub naming: Vec<crate::naming::Convention>,
    rules: BTreeMap<String, Level>,
    /// Findings acknowledged on purpose, one identity each (see [`crate::acknowledge`]).
    pub allow: Vec<crate::acknowledge::AllowEntry>,
    /// `allow_annotations_added_in_pr`: whether a `clobbercheck.dev/allow` annotation the pull
    /// request itself adds silences its finding. Off by default: a PR cannot silence its own
    /// finding; the annotation counts when base already had it (see [`crate::acknowledge`]).
    pub allow_annotations_added_in_pr: bool,
    /// Render targets (jsonnet, kustomize, helm); everything else is read as plain YAML/JSON.
    pub sources: Vec<crate::render::Source>,
    /// Sandbox limits every render target runs under.
    pub render_limits: crate::render::Limits,
    /// `argocd.clusters`: the clusters the ApplicationSet `clusters` generator offers when the
    /// revision holds no Argo CD cluster Secret.
    pub argocd_clusters: Vec<crate::deploy::applicationset::Cluster>,
    /// What the deployer layer (Argo CD Applications) needs: `clusters:`, `default_namespace`,
    /// `repo_urls:` and `target_revisions:`.
    pub deploy: crate::deploy::Settings,
}

impl Default for Config {
    fn default() -> Self {
        Self::from_raw(RawConfig::default(), None).expect("the default configuration is valid")
    }
}

impl Config {
    /// Parses configuration text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            let options = serde_saphyr::options! { with_snippet: false };
            serde_saphyr::from_str_with_options(text, options).map_err(|e| {
                ConfigError::Invalid {
                    path: path.to_string(),
                    message: e.to_string(),
                }
            })?
        };
        Self::from_raw(raw, Some(path.to_string()))
    }

    /// The configuration file of a revision, unparsed: the first of [`CONFIG_PATHS`] it holds,
    /// as `(path, bytes)`, or `None`.
    pub fn file(revision: &dyn Revision) -> Result<Option<(&'static str, Vec<u8>)>, ConfigError> {
        for candidate in CONFIG_PATHS {
            if let Some(entry) = revision.entry(candidate)? {
                return Ok(Some((candidate, revision.read(&entry)?)));
            }
        }
        Ok(None)
    }

    /// Reads the configuration of a revision: the first of [`CONFIG_PATHS`] it holds, else defaults.
    /// Returns the configuration and the raw text it came from (to notice changes).
    pub fn load(revision: &dyn Revision) -> Result<(Self, Option<Vec<u8>>), ConfigError> {
        let Some((path, bytes)) = Self::file(revision)? else {
            return Ok((Self::default(), None));
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| ConfigError::Invalid {
            path: path.to_string(),
            message: "the file is not valid UTF-8".into(),
        })?;
        Ok((Self::parse(text, path)?, Some(bytes)))
    }

    fn from_raw(raw: RawConfig, source: Option<String>) -> Result<Self, ConfigError> {
        let path = source.clone().unwrap_or_else(|| "(defaults)".into());
        let globs = |key: &str, patterns: &[String]| -> Result<GlobSet, ConfigError> {
            let mut builder = GlobSetBuilder::new();
            for pattern in patterns {
                let glob = glob(pattern).map_err(|e| ConfigError::InvalidKey {
                    path: path.clone(),
                    key: key.to_string(),
                    message: format!("bad glob '{pattern}': {e}"),
                })?;
                builder.add(glob);
            }
            builder.build().map_err(|e| ConfigError::InvalidKey {
                path: path.clone(),
                key: key.to_string(),
                message: e.to_string(),
            })
        };
        let include = globs("include", &raw.include)?;
        let exclude = globs("exclude", &raw.exclude)?;
        let clusters = raw
            .clusters
            .as_deref()
            .map(|p| {
                ClusterPattern::new(p).map_err(|message| ConfigError::InvalidKey {
                    path: path.clone(),
                    key: "clusters".into(),
                    message,
                })
            })
            .transpose()?;
        if raw.default_namespace.is_empty() {
            return Err(ConfigError::InvalidKey {
                path,
                key: "default_namespace".into(),
                message: "must not be empty".into(),
            });
        }
        for rule in raw.rules.keys() {
            if !crate::rules::is_known(rule) {
                return Err(ConfigError::InvalidKey {
                    path,
                    key: format!("rules.{rule}"),
                    message: format!(
                        "unknown rule id; known rules: {}",
                        crate::rules::known_ids().join(", ")
                    ),
                });
            }
        }
        let mut naming = Vec::with_capacity(raw.naming.len());
        for (index, entry) in raw.naming.iter().enumerate() {
            let convention = crate::naming::Convention::new(&entry.path, &entry.kinds, &entry.name)
                .map_err(|message| ConfigError::InvalidKey {
                    path: path.clone(),
                    key: format!("naming[{index}]"),
                    message,
                })?;
            naming.push(convention);
        }
        for (index, entry) in raw.allow.iter().enumerate() {
            entry
                .validate()
                .map_err(|message| ConfigError::InvalidKey {
                    path: path.clone(),
                    key: format!("allow[{index}]"),
                    message,
                })?;
        }
        let invalid = |(key, message): (String, String)| ConfigError::InvalidKey {
            path: path.clone(),
            key,
            message,
        };
        let sources = raw
            .sources
            .into_iter()
            .enumerate()
            .map(|(index, entry)| entry.validate(index))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let render_limits = raw.render_limits.validate().map_err(invalid)?;
        let argocd_clusters = raw
            .argocd
            .clusters
            .into_iter()
            .map(|c| crate::deploy::applicationset::Cluster {
                name: c.name,
                server: c.server,
                project: c.project,
                labels: c.labels,
                annotations: c.annotations,
                origin: None,
            })
            .collect();
        for (key, values) in [
            ("repo_urls", &raw.repo_urls),
            ("target_revisions", &raw.target_revisions),
        ] {
            if let Some(index) = values.iter().position(|v| v.trim().is_empty()) {
                return Err(ConfigError::InvalidKey {
                    path,
                    key: format!("{key}[{index}]"),
                    message: "must not be empty".into(),
                });
            }
        }
        let deploy = crate::deploy::Settings {
            default_namespace: raw.default_namespace.clone(),
            clusters: clusters.clone(),
            repository: crate::deploy::repository::ThisRepository::new(
                &raw.repo_urls,
                &raw.target_revisions,
            ),
            strict_post_build_substitutions: raw.flux.strict_post_build_substitutions,
        };
        Ok(Self {
            source,
            include,
            exclude,
            clusters,
            default_namespace: raw.default_namespace,
            max_file_size: raw.max_file_size,
            naming,
            rules: raw.rules,
            allow: raw.allow,
            allow_annotations_added_in_pr: raw.allow_annotations_added_in_pr,
            sources,
            render_limits,
            argocd_clusters,
            deploy,
        })
    }

    /// Whether a repository path may hold objects.
    pub fn selects(&self, path: &str) -> bool {
        self.include.is_match(path) && !self.exclude.is_match(path)
    }

    /// The configured level of a rule, if the file sets one.
    pub fn rule_level(&self, rule: &str) -> Option<Level> {
        self.rules.get(rule).copied()
    }
}

/// Compiles a glob the way `.gitignore` does: `*` stays inside one path segment, `**` crosses them.
pub fn glob(pattern: &str) -> Result<Glob, globset::Error> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
}

/// A path pattern such as `env/{cluster}/**`: literal segments, one `{cluster}` segment, `*` and
/// `**` wildcards. A file whose path does not match belongs to no named cluster.
#[derive(Debug, Clone)]
pub struct ClusterPattern {
    pattern: String,
    matcher: globset::GlobMatcher,
    /// Index of the `{cluster}` segment.
    segment: usize,
}

impl ClusterPattern {
    /// Validates the pattern: exactly one `{cluster}` segment, preceded only by plain segments or `*`.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let segments: Vec<&str> = pattern.split('/').collect();
        let positions: Vec<usize> = segments
            .iter()
            .enumerate()
            .filter(|(_, s)| s.contains("{cluster}"))
            .map(|(i, _)| i)
            .collect();
        let [segment] = positions[..] else {
            return Err(format!(
                "pattern '{pattern}' must contain exactly one '{{cluster}}' path segment"
            ));
        };
        if segments[segment] != "{cluster}" {
            return Err(format!(
                "pattern '{pattern}': '{{cluster}}' must be a whole path segment"
            ));
        }
        if segments[..segment].iter().any(|s| s.contains("**")) {
            return Err(format!(
                "pattern '{pattern}': '**' before '{{cluster}}' is ambiguous; name the folders"
            ));
        }
        let glob = pattern.replace("{cluster}", "*");
        let matcher = crate::config::glob(&glob)
            .map_err(|e| format!("pattern '{pattern}': {e}"))?
            .compile_matcher();
        Ok(Self {
            pattern: pattern.to_string(),
            matcher,
            segment,
        })
    }

    /// The cluster a repository path is applied to, if the pattern matches it.
    pub fn cluster_of(&self, path: &str) -> Option<String> {
        if !self.matcher.is_match(path) {
            return None;
        }
        path.split('/').nth(self.segment).map(str::to_string)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named() {
        let err = Config::parse("inclde: ['*.yaml']\n", ".clobbercheck.yml").unwrap_err();
        assert!(err.to_string().contains("inclde"), "{err}");
    }

    #[test]
    fn bad_severity_is_named() {
        let err = Config::parse("rules:\n  duplicate-identity: fatal\n", ".clobbercheck.yml")
            .unwrap_err();
        assert!(err.to_string().contains("fatal"), "{err}");
    }

    #[test]
    fn flux_section_sets_strict_substitution_and_rejects_typos() {
        assert!(!Config::default().deploy.strict_post_build_substitutions);
        let strict =
            Config::parse("flux:\n  strict_post_build_substitutions: true\n", "c.yml").unwrap();
        assert!(strict.deploy.strict_post_build_substitutions);
        let err = Config::parse("flux:\n  strict: true\n", "c.yml").unwrap_err();
        assert!(err.to_string().contains("strict"), "{err}");
    }

    #[test]
    fn unknown_rule_is_named() {
        let err = Config::parse("rules:\n  no-such-rule: off\n", "c.yml").unwrap_err();
        assert!(err.to_string().contains("rules.no-such-rule"), "{err}");
    }

    #[test]
    fn cluster_pattern_extracts_segment() {
        let p = ClusterPattern::new("env/{cluster}/**").unwrap();
        assert_eq!(p.cluster_of("env/prod/app/a.yaml").as_deref(), Some("prod"));
        assert_eq!(p.cluster_of("other/prod/a.yaml"), None);
        assert!(ClusterPattern::new("env/**/{cluster}/x").is_err());
        assert!(ClusterPattern::new("env/x/**").is_err());
    }

    #[test]
    fn naming_and_allow_are_validated_naming_the_entry() {
        let ok = Config::parse(
            "naming:\n- path: env/{cluster}/{app}/**\n  kinds: [argoproj.io/Application]\n  name: '{app}-{cluster}'\n\
             allow:\n- rule: delete\n  kind: PersistentVolumeClaim\n  namespace: db\n  name: data\n  reason: migrated\n",
            "c.yml",
        )
        .unwrap();
        assert_eq!(ok.naming.len(), 1);
        assert_eq!(ok.allow.len(), 1);
        let err = Config::parse(
            "naming:\n- path: env/{cluster}/**\n  name: '{app}'\n",
            "c.yml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("naming[0]"), "{err}");
        assert!(err.to_string().contains("{app}"), "{err}");
        let err = Config::parse(
            "allow:\n- rule: nope\n  kind: Namespace\n  name: x\n  reason: r\n",
            "c.yml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("allow[0]"), "{err}");
        let err = Config::parse(
            "allow:\n- rule: delete\n  kind: Namespace\n  name: x\n  reason: ''\n",
            "c.yml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("reason"), "{err}");
    }

    #[test]
    fn invalid_source_entry_is_named() {
        let err = Config::parse("sources:\n  - kustomize: 'o/*'\n    tla: {a: b}\n", "c.yml")
            .unwrap_err();
        assert!(
            err.to_string().contains("sources[0] (kustomize: o/*)"),
            "{err}"
        );
        let err = Config::parse("sources:\n  - jsonet: 'x'\n", "c.yml").unwrap_err();
        assert!(err.to_string().contains("jsonet"), "{err}");
    }

    #[test]
    fn repo_urls_and_target_revisions_name_this_repository() {
        let c = Config::parse(
            "repo_urls: ['git@github.com:example/gitops.git']\ntarget_revisions: [production]\n",
            "c.yml",
        )
        .unwrap();
        let here = &c.deploy.repository;
        assert!(here.deploys_from_here("https://github.com/example/gitops", Some("production")));
        assert!(!here.deploys_from_here("https://github.com/example/gitops", Some("staging")));
        assert!(!here.deploys_from_here("https://github.com/other/gitops", None));
        let err = Config::parse("repo_urls: ['']\n", "c.yml").unwrap_err();
        assert!(err.to_string().contains("repo_urls[0]"), "{err}");
    }

    #[test]
    fn defaults_select_yaml_and_json_outside_github() {
        let c = Config::default();
        assert!(c.selects("a/b.yaml") && c.selects("x.json") && c.selects("top.yml"));
        assert!(!c.selects(".github/workflows/ci.yml"));
        assert!(!c.selects("README.md"));
    }
}
