//! `sources:` in `.clobbercheck.yml`: which paths are render targets and how to render them.
//!
//! The entry forms are a contract (DESIGN.md §4.3, issue 3): `{jsonnet: glob, jpath, ext_vars,
//! tla}`, `{kustomize: glob}`, `{helm: glob, values, release}`. Every entry is validated when the
//! configuration is read, so a typo fails the run (exit status 2) naming the entry instead of
//! silently rendering nothing.

use std::collections::BTreeMap;

use globset::GlobMatcher;
use serde::Deserialize;

/// One `sources:` entry as written; validated into a [`Source`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    jsonnet: Option<String>,
    kustomize: Option<String>,
    helm: Option<String>,
    jpath: Option<Vec<String>>,
    ext_vars: Option<BTreeMap<String, serde_json::Value>>,
    tla: Option<BTreeMap<String, serde_json::Value>>,
    values: Option<Vec<String>>,
    release: Option<String>,
}

/// `render_limits:` as written: the sandbox limits every render target runs under.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLimits {
    timeout_seconds: u64,
    memory_mib: u64,
    output_mib: u64,
}

impl Default for RawLimits {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            timeout_seconds: limits.timeout.as_secs(),
            memory_mib: limits.memory_bytes >> 20,
            output_mib: limits.output_bytes >> 20,
        }
    }
}

/// Limits a render (jsonnet evaluation or external tool) runs under. A PR's sources are
/// attacker-controlled in public repositories: these bound what one target can cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Wall-clock time after which the render is killed.
    pub timeout: std::time::Duration,
    /// Address-space limit of the rendering process.
    pub memory_bytes: u64,
    /// Largest output accepted from one target.
    pub output_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: std::time::Duration::from_secs(30),
            memory_bytes: 1 << 30,
            output_bytes: 256 << 20,
        }
    }
}

impl RawLimits {
    /// Validates the limits; the error names the offending key.
    pub fn validate(&self) -> Result<Limits, (String, String)> {
        if self.timeout_seconds == 0 {
            return Err((
                "render_limits.timeout_seconds".into(),
                "must be at least 1".into(),
            ));
        }
        if self.memory_mib < 128 {
            return Err((
                "render_limits.memory_mib".into(),
                "must be at least 128 (the evaluator itself needs room)".into(),
            ));
        }
        if self.output_mib == 0 {
            return Err((
                "render_limits.output_mib".into(),
                "must be at least 1".into(),
            ));
        }
        Ok(Limits {
            timeout: std::time::Duration::from_secs(self.timeout_seconds),
            memory_bytes: self.memory_mib.saturating_mul(1 << 20),
            output_bytes: self.output_mib.saturating_mul(1 << 20),
        })
    }
}

/// How a source's targets are rendered.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    /// Jsonnet entry points, evaluated in-process in a sandboxed child.
    Jsonnet {
        /// Library folders, relative to the repository root, searched in order after the
        /// importing file's own folder.
        jpath: Vec<String>,
        /// `std.extVar` values: strings are passed as strings, anything else as JSON code.
        ext_vars: BTreeMap<String, serde_json::Value>,
        /// Top-level arguments, passed when the entry point evaluates to a function.
        tla: BTreeMap<String, serde_json::Value>,
    },
    /// Kustomization folders, built by `kustomize build` or `kubectl kustomize`.
    Kustomize(KustomizeEdit),
    /// Chart folders, rendered by `helm template`.
    Helm {
        /// Values files relative to the chart folder (`../` reaches a multi-source `ref` file).
        values: Vec<String>,
        /// Release name; `{dir}` is replaced by the chart folder's name.
        release: String,
        /// What an Argo CD Application adds (empty for a `sources:` entry).
        app: HelmOverrides,
    },
}

/// What is written into a kustomization before it is built. Empty for a `sources:` entry.
///
/// For an Argo CD Application, the `spec.source.kustomize` fields Argo CD applies with
/// `kustomize edit` (argoproj/argo-cd `util/kustomize/kustomize.go`, `Build`): `set nameprefix`,
/// `set namesuffix`, `set namespace`, `add label --force`.
///
/// For a Flux Kustomization with `spec.patches`, `spec.images` or `spec.components`
/// ([`Self::flux`]), what kustomize-controller writes into the kustomization it builds (fluxcd/pkg
/// `kustomize/kustomize_generator.go`, `Generator.GenerateManifest`): `namespace`, `namePrefix`,
/// `nameSuffix` replaced, the patches and components appended, the images merged by name; and
/// for a folder without a kustomization file ([`Self::generate`]) the kustomization
/// `findOrGenerateKustomization` generates first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KustomizeEdit {
    pub name_prefix: Option<String>,
    pub name_suffix: Option<String>,
    pub namespace: Option<String>,
    pub common_labels: BTreeMap<String, String>,
    /// Flux `spec.patches`, appended to the kustomization's `patches`.
    pub patches: Vec<KustomizePatch>,
    /// Flux `spec.images`, merged into the kustomization's `images` by name.
    pub images: Vec<KustomizeImage>,
    /// Flux `spec.components` (relative to the folder), appended to `components`.
    pub components: Vec<String>,
    /// Flux `spec.ignoreMissingComponents`: a component folder that does not exist is left out.
    pub ignore_missing_components: bool,
    /// Built as kustomize-controller builds (fluxcd/pkg `kustomize.Build`: load restrictions
    /// off, so files outside the folder may be read).
    pub flux: bool,
    /// The folder holds no kustomization file: build the one Flux generates, listing the
    /// folder's YAML files (`scanManifests`), and name each object's own file as its origin.
    pub generate: bool,
}

/// One Flux `spec.patches` entry: a strategic-merge or JSON 6902 patch and the objects it
/// applies to (kustomize's `patches` entry: `patch` and `target`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KustomizePatch {
    pub patch: String,
    /// `target` selector fields as written (`group`, `version`, `kind`, `name`, `namespace`,
    /// `labelSelector`, `annotationSelector`); `None`: the patch names its object itself.
    pub target: Option<BTreeMap<String, String>>,
}

/// One Flux `spec.images` entry (kustomize's `images` entry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KustomizeImage {
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<String>,
    pub digest: Option<String>,
}

impl KustomizeEdit {
    /// Whether the kustomization is built as written.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// The `spec.source.helm` fields beyond value files that Argo CD passes to `helm template`
/// (argoproj/argo-cd `reposerver/repository/repository.go`, `helmTemplate`): inline `values` /
/// `valuesObject` as one more values file, `parameters` as `--set` / `--set-string`, and the
/// namespace (`helm.namespace`, else the destination namespace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelmOverrides {
    /// Inline values as YAML (or JSON) text, applied after the value files.
    pub inline_values: Option<String>,
    /// `(name, value, forceString)` in written order.
    pub parameters: Vec<(String, String, bool)>,
    /// `--namespace`, when the Application gives one.
    pub namespace: Option<String>,
}

/// One validated `sources:` entry.
#[derive(Debug, Clone)]
pub struct Source {
    /// Position in `sources:`, for messages ("sources[2]").
    pub index: usize,
    /// The glob as written.
    pub pattern: String,
    pub(crate) matcher: GlobMatcher,
    pub kind: SourceKind,
}

impl Source {
    /// The kind's name as written in the configuration.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            SourceKind::Jsonnet { .. } => "jsonnet",
            SourceKind::Kustomize(_) => "kustomize",
            SourceKind::Helm { .. } => "helm",
        }
    }

    /// Whether a path (a file for jsonnet, a folder otherwise) is one of this source's targets.
    pub fn matches(&self, path: &str) -> bool {
        self.matcher.is_match(path)
    }
}

impl RawSource {
    /// Validates an entry; the error is `(key, message)` with the key naming the entry.
    pub fn validate(self, index: usize) -> Result<Source, (String, String)> {
        let key = format!("sources[{index}]");
        let fail = |message: String| Err((key.clone(), message));
        let kinds: Vec<(&str, &String)> = [
            ("jsonnet", self.jsonnet.as_ref()),
            ("kustomize", self.kustomize.as_ref()),
            ("helm", self.helm.as_ref()),
        ]
        .into_iter()
        .filter_map(|(name, glob)| glob.map(|g| (name, g)))
        .collect();
        let (kind_name, pattern) = match kinds[..] {
            [one] => one,
            [] => return fail("needs one of 'jsonnet', 'kustomize' or 'helm' with a glob".into()),
            _ => {
                let names: Vec<&str> = kinds.iter().map(|(n, _)| *n).collect();
                return fail(format!(
                    "has {} at once; use one entry per kind",
                    names.join(" and ")
                ));
            }
        };
        let key = format!("{key} ({kind_name}: {pattern})");
        let fail = |message: String| Err((key.clone(), message));
        let misplaced = |field: &str, allowed: &str| -> Result<Source, (String, String)> {
            Err((
                key.clone(),
                format!("'{field}' only applies to {allowed} entries"),
            ))
        };
        let trimmed = pattern.trim_end_matches('/');
        if trimmed.is_empty() || trimmed.starts_with('/') || has_parent(trimmed) {
            return fail(format!(
                "glob '{pattern}' must be relative to the repository root, without '..'"
            ));
        }
        let matcher = match crate::config::glob(trimmed) {
            Ok(glob) => glob.compile_matcher(),
            Err(e) => return fail(format!("bad glob '{pattern}': {e}")),
        };
        let kind = match kind_name {
            "jsonnet" => {
                if self.values.is_some() {
                    return misplaced("values", "helm");
                }
                if self.release.is_some() {
                    return misplaced("release", "helm");
                }
                let jpath = self.jpath.unwrap_or_default();
                for dir in &jpath {
                    let dir = dir.trim_end_matches('/');
                    if dir.is_empty() || dir.starts_with('/') || has_parent(dir) {
                        return fail(format!(
                            "jpath entry '{dir}' must be a folder relative to the repository root, without '..'"
                        ));
                    }
                }
                let jpath = jpath
                    .into_iter()
                    .map(|d| d.trim_end_matches('/').to_string())
                    .collect();
                SourceKind::Jsonnet {
                    jpath,
                    ext_vars: self.ext_vars.unwrap_or_default(),
                    tla: self.tla.unwrap_or_default(),
                }
            }
            other => {
                for (field, present) in [
                    ("jpath", self.jpath.is_some()),
                    ("ext_vars", self.ext_vars.is_some()),
                    ("tla", self.tla.is_some()),
                ] {
                    if present {
                        return misplaced(field, "jsonnet");
                    }
                }
                if other == "kustomize" {
                    if self.values.is_some() {
                        return misplaced("values", "helm");
                    }
                    if self.release.is_some() {
                        return misplaced("release", "helm");
                    }
                    SourceKind::Kustomize(KustomizeEdit::default())
                } else {
                    let values = self.values.unwrap_or_default();
                    for file in &values {
                        if file.is_empty() || file.starts_with('/') || has_parent(file) {
                            return fail(format!(
                                "values file '{file}' must be relative to the chart folder, without '..'"
                            ));
                        }
                    }
                    let release = self.release.unwrap_or_else(|| "{dir}".into());
                    let probe = release.replace("{dir}", "x");
                    if probe.is_empty()
                        || probe.contains(['{', '}'])
                        || !probe
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                    {
                        return fail(format!(
                            "release '{release}' must be a release name (letters, digits, '-', '.'), \
                             optionally with '{{dir}}' for the chart folder's name"
                        ));
                    }
                    SourceKind::Helm {
                        values,
                        release,
                        app: HelmOverrides::default(),
                    }
                }
            }
        };
        Ok(Source {
            index,
            pattern: trimmed.to_string(),
            matcher,
            kind,
        })
    }
}

fn has_parent(path: &str) -> bool {
    path.split('/').any(|segment| segment == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(yaml: &str) -> RawSource {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn the_three_documented_forms_validate() {
        let j = raw("{jsonnet: 'env/*/*/main.jsonnet', jpath: [vendor, lib], ext_vars: {a: b, n: 1}, tla: {x: y}}")
            .validate(0)
            .unwrap();
        assert!(j.matches("env/c/a/main.jsonnet") && !j.matches("env/c/a/b/main.jsonnet"));
        let SourceKind::Jsonnet {
            jpath, ext_vars, ..
        } = &j.kind
        else {
            panic!("jsonnet expected")
        };
        assert_eq!(jpath, &["vendor", "lib"]);
        assert_eq!(ext_vars["n"], serde_json::json!(1));
        assert!(
            raw("{kustomize: 'overlays/*'}")
                .validate(1)
                .unwrap()
                .matches("overlays/prod")
        );
        let h = raw("{helm: 'charts/*', values: [values.yaml], release: '{dir}'}")
            .validate(2)
            .unwrap();
        assert!(matches!(h.kind, SourceKind::Helm { .. }));
    }

    #[test]
    fn invalid_entries_name_the_entry() {
        for (yaml, expected) in [
            ("{jpath: [lib]}", "needs one of"),
            ("{jsonnet: a, kustomize: b}", "jsonnet and kustomize"),
            ("{kustomize: 'o/*', jpath: [lib]}", "'jpath' only applies"),
            ("{jsonnet: 'x', jpath: ['../up']}", "jpath entry"),
            ("{jsonnet: '/abs/*.jsonnet'}", "relative"),
            ("{helm: 'c/*', release: 'bad name'}", "release"),
            ("{jsonnet: 'a/['}", "bad glob"),
        ] {
            let (key, message) = raw(yaml).validate(3).unwrap_err();
            assert!(key.starts_with("sources[3]"), "{key}");
            assert!(message.contains(expected), "{yaml}: {message}");
        }
    }

    #[test]
    fn limits_are_checked() {
        let limits: RawLimits = serde_saphyr::from_str("{timeout_seconds: 0}").unwrap();
        assert!(limits.validate().unwrap_err().0.contains("timeout_seconds"));
        let limits: RawLimits = serde_saphyr::from_str("{memory_mib: 128}").unwrap();
        assert_eq!(limits.validate().unwrap().memory_bytes, 128 << 20);
    }
}
