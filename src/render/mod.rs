//! Rendering: jsonnet (in our own sandboxed child), kustomize and helm (their own binaries).
//!
//! Many GitOps repositories commit sources, not rendered YAML. [`render_revision`] finds the
//! render targets of one revision from `sources:` in the configuration, renders each (or reuses a
//! render of identical inputs from the [`RenderCache`], so a target a PR does not touch renders
//! once for base and head together), and returns the documents with their target as origin, the
//! failures (one `render-error` per target; the others carry on) and the files the targets
//! consumed (which are then not also read as plain YAML).
//!
//! Every file a render sees comes from the [`Revision`] through [`RevisionFiles`]: git trees work
//! without a checkout, and nothing outside the revision (host files, `..` escapes, symlinks
//! pointing out) can be read.

mod external;
pub mod jsonnet;
pub(crate) mod sandbox;
mod source;

pub use source::{
    HelmOverrides, KustomizeEdit, KustomizeImage, KustomizePatch, Limits, RawLimits, RawSource,
    Source, SourceKind,
};

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use git2::{ObjectType, Oid};
use rayon::prelude::*;
use serde_json::Value;

use crate::config::Config;
use crate::manifest::{LazyValue, Origin};
use crate::revision::{EntryKind, FileEntry, Revision, RevisionError};

/// One render target: a jsonnet entry point, a kustomization folder or a chart folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// How reports name it: the entry point for jsonnet, the folder otherwise.
    pub name: String,
    /// The file that makes it a target (`main.jsonnet`, `kustomization.yaml`, `Chart.yaml`);
    /// a target whose entry is absent in base is added by the PR.
    pub entry: String,
}

/// A target that could not be rendered, with the position the evaluator or tool reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{line}:{column}: {message} (render target {target})")]
pub struct RenderFailure {
    pub target: String,
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// Its objects are still known and checked (a Flux Kustomization whose strict post-build
    /// substitution fails: its objects are placed with the variable empty); otherwise the
    /// target produced nothing.
    pub checked: bool,
}

/// One object document a render produced.
#[derive(Debug, Clone)]
pub struct RenderedDoc {
    /// The file reports point at: the target's entry point (for a Flux generated build, the
    /// object's own file).
    pub path: String,
    pub line: usize,
    /// Last line of the written document (`line` when only the entry point is known).
    pub end_line: usize,
    pub value: Arc<LazyValue>,
}

/// The outcome of rendering one target, shareable between base and head.
#[derive(Debug)]
pub struct Outcome {
    pub docs: Result<Vec<RenderedDoc>, RenderFailure>,
    /// Repository paths the render read; they are not also read as plain YAML.
    pub consumed: Vec<String>,
}

/// Every input path a render looked at, with the blob found there (`None`: absent).
type Deps = Vec<(String, Option<Oid>)>;

struct CacheEntry {
    /// Every path the render looked at and the blob it found (`None`: absent). A later render of
    /// the same target is reused only when each of them is still the same.
    deps: Deps,
    outcome: Arc<Outcome>,
}

/// Renders by target and input content, shared by the two sides of an analysis (and by jobs of
/// one repository in the server), like [`crate::ParseCache`] shares parsed blobs.
#[derive(Default)]
pub struct RenderCache {
    entries: Mutex<HashMap<String, Vec<CacheEntry>>>,
    renders: AtomicUsize,
    program: Option<PathBuf>,
}

impl RenderCache {
    /// Uses `program` (a `clobbercheck` binary) for the jsonnet sandbox instead of the running
    /// executable; library users whose executable is not clobbercheck (tests) need this.
    pub fn with_program(program: PathBuf) -> Self {
        Self {
            program: Some(program),
            ..Self::default()
        }
    }

    /// How many targets were actually rendered (cache misses); proves base/head sharing.
    pub fn renders(&self) -> usize {
        self.renders.load(Ordering::Relaxed)
    }

    fn program(&self) -> Result<PathBuf, String> {
        match &self.program {
            Some(program) => Ok(program.clone()),
            None => std::env::current_exe()
                .map_err(|e| format!("cannot locate the clobbercheck executable: {e}")),
        }
    }

    fn lookup(&self, key: &str, files: &RevisionFiles<'_>) -> Option<Arc<Outcome>> {
        let candidates: Vec<(Deps, Arc<Outcome>)> = self
            .lock()
            .get(key)?
            .iter()
            .map(|e| (e.deps.clone(), e.outcome.clone()))
            .collect();
        candidates.into_iter().find_map(|(deps, outcome)| {
            deps.iter()
                .all(|(path, oid)| files.oid(path).ok().flatten() == *oid)
                .then_some(outcome)
        })
    }

    fn store(&self, key: String, deps: Deps, outcome: Arc<Outcome>) {
        self.lock()
            .entry(key)
            .or_default()
            .push(CacheEntry { deps, outcome });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<CacheEntry>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What rendering one revision gave.
#[derive(Debug, Default)]
pub struct RevisionRender {
    /// Every target, in apply order (by source, then by name).
    pub targets: Vec<Target>,
    /// Rendered object documents with their origins, in apply order.
    pub documents: Vec<(Origin, Arc<LazyValue>)>,
    pub failures: Vec<RenderFailure>,
    /// Paths consumed by targets: not also read as plain YAML.
    pub consumed: HashSet<String>,
}

/// Whether adding, removing or changing the file at `path` may change what a revision renders
/// on its own: it is a kustomization or a `Chart.yaml` (a tool folder's marker), or a
/// `sources:` entry matches it. Files a render reads are known from the render itself.
pub(crate) fn may_render(path: &str, config: &Config) -> bool {
    let name = path.rsplit_once('/').map_or(path, |(_, name)| name);
    external::KUSTOMIZATION_FILES.contains(&name)
        || name == "Chart.yaml"
        || config.sources.iter().any(|s| s.matches(path))
}

/// Finds the render targets of a revision: jsonnet globs match files, kustomize and helm globs
/// match folders holding a kustomization or a `Chart.yaml`. A path selected by two entries
/// belongs to the first.
fn find_targets<'c>(entries: &[FileEntry], config: &'c Config) -> Vec<(&'c Source, Target)> {
    let mut dirs: BTreeSet<&str> = BTreeSet::new();
    for entry in entries {
        let mut path = entry.path.as_str();
        while let Some((dir, _)) = path.rsplit_once('/') {
            if !dirs.insert(dir) {
                break;
            }
            path = dir;
        }
    }
    let files: HashSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut targets = Vec::new();
    for source in &config.sources {
        let mut found: Vec<Target> = Vec::new();
        match source.kind {
            SourceKind::Jsonnet { .. } => {
                for entry in entries {
                    if entry.kind == EntryKind::File && source.matches(&entry.path) {
                        found.push(Target {
                            name: entry.path.clone(),
                            entry: entry.path.clone(),
                        });
                    }
                }
            }
            SourceKind::Kustomize(_) | SourceKind::Helm { .. } => {
                let markers: &[&str] = match source.kind {
                    SourceKind::Kustomize(_) => external::KUSTOMIZATION_FILES,
                    _ => &["Chart.yaml"],
                };
                for dir in &dirs {
                    if !source.matches(dir) {
                        continue;
                    }
                    match markers
                        .iter()
                        .map(|m| format!("{dir}/{m}"))
                        .find(|p| files.contains(p.as_str()))
                    {
                        Some(entry) => found.push(Target {
                            name: dir.to_string(),
                            entry,
                        }),
                        None => tracing::debug!(
                            dir,
                            source = source.index,
                            "folder matches the {} glob but holds no {}",
                            source.kind_name(),
                            markers.join(" or ")
                        ),
                    }
                }
            }
        }
        for target in found {
            if seen.insert(target.name.clone()) {
                targets.push((source, target));
            } else {
                tracing::warn!(
                    target = target.name,
                    source = source.index,
                    "render target already selected by an earlier sources entry"
                );
            }
        }
    }
    targets
}

/// Renders every target of a revision (in parallel, each in its own sandboxed child or tool).
pub fn render_revision(
    revision: &dyn Revision,
    entries: &[FileEntry],
    config: &Config,
    cache: &RenderCache,
) -> Result<RevisionRender, RevisionError> {
    let targets: Vec<(SourceKind, Target)> = find_targets(entries, config)
        .into_iter()
        .map(|(source, target)| (source.kind.clone(), target))
        .collect();
    render_targets(revision, entries, targets, config.render_limits, cache)
}

/// Renders given targets, each with its own recipe (a `sources:` entry's, or the tool and
/// parameters of the Argo CD Application that deploys the folder).
pub fn render_targets(
    revision: &dyn Revision,
    entries: &[FileEntry],
    targets: Vec<(SourceKind, Target)>,
    limits: Limits,
    cache: &RenderCache,
) -> Result<RevisionRender, RevisionError> {
    if targets.is_empty() {
        return Ok(RevisionRender::default());
    }
    let files = RevisionFiles::new(revision, entries);
    let outcomes: Vec<Arc<Outcome>> = targets
        .par_iter()
        .map(|(kind, target)| render_target(&files, kind, target, limits, cache))
        .collect::<Result<_, _>>()?;
    let mut out = RevisionRender::default();
    for ((_, target), outcome) in targets.iter().zip(outcomes) {
        out.consumed.insert(target.entry.clone());
        out.consumed.extend(outcome.consumed.iter().cloned());
        match &outcome.docs {
            Ok(docs) => out.documents.extend(docs.iter().map(|doc| {
                (
                    Origin {
                        path: doc.path.clone(),
                        line: doc.line,
                        end_line: doc.end_line,
                        target: Some(target.name.clone()),
                        generator: None,
                    },
                    doc.value.clone(),
                )
            })),
            Err(failure) => out.failures.push(failure.clone()),
        }
    }
    out.targets = targets.into_iter().map(|(_, target)| target).collect();
    Ok(out)
}

/// Whether a file name makes its folder a kustomization (kustomize's own names, in its order).
pub fn is_kustomization(name: &str) -> bool {
    external::KUSTOMIZATION_FILES.contains(&name)
}

/// The tool Argo CD picks for a folder (argoproj/argo-cd `util/app/discovery/discovery.go`,
/// `Discover` / `AppType`): a kustomization file makes it kustomize, else a `Chart.yaml` makes it
/// Helm, else it is a plain directory. (Discover walks file names in order and the
/// kustomization's assignment comes last, so kustomize wins when a folder holds both.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Kustomize,
    Helm,
}

/// A folder of the revision that a tool renders, with the files it consumes.
#[derive(Debug, Clone)]
pub struct ToolFolder {
    /// The folder, without trailing `/`.
    pub dir: String,
    /// Its marker file (`kustomization.yaml`, `Chart.yaml`).
    pub entry: String,
    pub tool: Tool,
    /// Every file the tool reads: the whole chart, or the kustomization's folder and the local
    /// files and folders it names. None of them is a live object on its own.
    pub inputs: BTreeSet<String>,
}

/// Every kustomization and chart folder of a revision, by folder path.
pub fn tool_folders(
    revision: &dyn Revision,
    entries: &[FileEntry],
) -> Result<Vec<ToolFolder>, RevisionError> {
    let mut found: std::collections::BTreeMap<&str, (Tool, &str)> = Default::default();
    for entry in entries.iter().filter(|e| e.kind == EntryKind::File) {
        let (dir, name) = entry.path.rsplit_once('/').unwrap_or(("", &entry.path));
        let tool = if external::KUSTOMIZATION_FILES.contains(&name) {
            Tool::Kustomize
        } else if name == "Chart.yaml" {
            Tool::Helm
        } else {
            continue;
        };
        match found.get(dir) {
            Some((Tool::Kustomize, _)) => {}
            _ => {
                found.insert(dir, (tool, &entry.path));
            }
        }
    }
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let files = RevisionFiles::new(revision, entries);
    found
        .into_iter()
        .map(|(dir, (tool, entry))| {
            let inputs = match tool {
                Tool::Kustomize => external::kustomization_inputs(&files, dir)?,
                Tool::Helm => files
                    .files_under(dir)
                    .into_iter()
                    .map(|e| e.path.clone())
                    .collect(),
            };
            Ok(ToolFolder {
                dir: dir.to_string(),
                entry: entry.to_string(),
                tool,
                inputs,
            })
        })
        .collect()
}

fn render_target(
    files: &RevisionFiles<'_>,
    kind: &SourceKind,
    target: &Target,
    limits: Limits,
    cache: &RenderCache,
) -> Result<Arc<Outcome>, RevisionError> {
    let mut key = format!("{kind:?}|{limits:?}|{}", target.name);
    // A tool that reads a whole folder — helm every file of the chart, a generated kustomization
    // every file it lists — changes its output when a file the other side does not have
    // appears there, without that file being one of the inputs recorded for the other side: the
    // folder's listing is part of the key.
    let whole_folder = match kind {
        SourceKind::Kustomize(edit) if edit.generate => {
            Some(target.entry.rsplit_once('/').map_or("", |(dir, _)| dir))
        }
        SourceKind::Helm { .. } => Some(target.name.as_str()),
        _ => None,
    };
    if let Some(dir) = whole_folder {
        for entry in files.files_under(dir) {
            key.push('|');
            key.push_str(&entry.path);
        }
    }
    if let Some(outcome) = cache.lookup(&key, files) {
        tracing::debug!(target = target.name, "render reused: inputs unchanged");
        return Ok(outcome);
    }
    cache.renders.fetch_add(1, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let (docs, deps) = match kind {
        SourceKind::Jsonnet {
            jpath,
            ext_vars,
            tla,
        } => {
            let request = jsonnet::Request {
                entry: target.entry.clone(),
                jpath: jpath.clone(),
                ext_vars: ext_vars.clone(),
                tla: tla.clone(),
                output_limit: limits.output_bytes,
            };
            let program = cache.program();
            let (result, deps) = match program {
                Ok(program) => external::run_jsonnet(&program, files, &request, limits)?,
                Err(message) => (Err(message_at(target, message)), Vec::new()),
            };
            let docs = result.map(|value| {
                extract_objects(value)
                    .into_iter()
                    .map(|value| RenderedDoc {
                        path: target.entry.clone(),
                        line: 1,
                        end_line: 1,
                        value: Arc::new(value.into()),
                    })
                    .collect()
            });
            (docs.map_err(|f| f.for_target(target)), deps)
        }
        SourceKind::Kustomize(edit) => external::render_kustomize(files, target, edit, limits)?,
        SourceKind::Helm {
            values,
            release,
            app,
        } => external::render_helm(files, target, values, release, app, limits)?,
    };
    tracing::info!(
        target = target.name,
        ok = docs.is_ok(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "rendered"
    );
    let consumed = deps
        .iter()
        .filter(|(_, oid)| oid.is_some())
        .map(|(path, _)| path.clone())
        .collect();
    let outcome = Arc::new(Outcome { docs, consumed });
    cache.store(key, deps, outcome.clone());
    Ok(outcome)
}

/// A failure at the target's entry point, for errors without a position.
fn message_at(target: &Target, message: String) -> jsonnet::Failure {
    jsonnet::Failure {
        path: target.entry.clone(),
        line: 1,
        column: 1,
        message,
    }
}

impl jsonnet::Failure {
    fn for_target(self, target: &Target) -> RenderFailure {
        RenderFailure {
            target: target.name.clone(),
            path: if self.path.is_empty() {
                target.entry.clone()
            } else {
                self.path
            },
            line: self.line,
            column: self.column,
            message: self.message,
            checked: false,
        }
    }
}

/// Every Kubernetes object in a rendered value, the way Tanka extracts them: an object with
/// string `apiVersion` and `kind` is a manifest (a `List` contributes its items); any other
/// object or array is searched recursively, in order. Scalars hold no objects.
pub fn extract_objects(value: Value) -> Vec<Value> {
    let mut out = Vec::new();
    let mut stack = vec![value];
    // Depth-first in document order, without native recursion (rendered values can be deep).
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map)
                if map.get("apiVersion").is_some_and(Value::is_string)
                    && map.get("kind").is_some_and(Value::is_string) =>
            {
                let is_list = map
                    .get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k == "List" || k.ends_with("List"))
                    && map.get("items").is_some_and(Value::is_array);
                if is_list {
                    let mut map = map;
                    if let Some(Value::Array(items)) = map.remove("items") {
                        stack.extend(items.into_iter().rev());
                    }
                } else {
                    out.push(Value::Object(map));
                }
            }
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v).rev()),
            Value::Array(items) => stack.extend(items.into_iter().rev()),
            _ => {}
        }
    }
    out
}

/// How a revision's files are read by renders: by path, with blob ids, and with every path
/// confined to the revision.
pub(crate) struct RevisionFiles<'a> {
    revision: &'a dyn Revision,
    by_path: HashMap<&'a str, &'a FileEntry>,
    /// Blob ids of directory files, computed when first needed.
    oids: Mutex<HashMap<String, Oid>>,
}

/// Where an import candidate led.
pub(crate) enum Resolution {
    Found { path: String, bytes: Vec<u8> },
    Missing,
    Refused(String),
}

/// Symlink hops followed before giving up (as Linux does).
const MAX_SYMLINK_HOPS: usize = 40;

impl<'a> RevisionFiles<'a> {
    pub(crate) fn new(revision: &'a dyn Revision, entries: &'a [FileEntry]) -> Self {
        Self {
            revision,
            by_path: entries.iter().map(|e| (e.path.as_str(), e)).collect(),
            oids: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn label(&self) -> &str {
        self.revision.label()
    }

    /// The blob id at `path`, `None` when the revision has no such file.
    pub(crate) fn oid(&self, path: &str) -> Result<Option<Oid>, RevisionError> {
        let Some(entry) = self.by_path.get(path) else {
            return Ok(None);
        };
        if let Some(oid) = entry.oid {
            return Ok(Some(oid));
        }
        if let Some(oid) = self.lock().get(path) {
            return Ok(Some(*oid));
        }
        self.read_entry(entry).map(|(_, oid)| Some(oid))
    }

    fn read_entry(&self, entry: &FileEntry) -> Result<(Vec<u8>, Oid), RevisionError> {
        let bytes = self.revision.read(entry)?;
        let oid = match entry.oid {
            Some(oid) => oid,
            None => {
                let oid = Oid::hash_object(ObjectType::Blob, &bytes).map_err(|e| {
                    RevisionError::Read {
                        revision: self.label().to_string(),
                        path: entry.path.clone(),
                        message: e.message().to_string(),
                    }
                })?;
                self.lock().insert(entry.path.clone(), oid);
                oid
            }
        };
        Ok((bytes, oid))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Oid>> {
        self.oids.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every regular file under `dir` (recursively), sorted.
    pub(crate) fn files_under(&self, dir: &str) -> Vec<&'a FileEntry> {
        // The repository root holds every file.
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut out: Vec<&FileEntry> = self
            .by_path
            .values()
            .filter(|e| e.path.starts_with(&prefix))
            .copied()
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// Resolves a repository path written by untrusted sources: absolute paths, `..` above the
    /// root and symlinks leading out are refused; symlinks inside are followed. Every path looked
    /// at is recorded in `deps` with the blob found there.
    pub(crate) fn resolve(
        &self,
        candidate: &str,
        deps: &mut Vec<(String, Option<Oid>)>,
    ) -> Result<Resolution, RevisionError> {
        if candidate.starts_with('/') {
            return Ok(Resolution::Refused(format!(
                "'{candidate}' is an absolute path; only files of the repository can be imported"
            )));
        }
        let Some(mut parts) = normalize(candidate) else {
            return Ok(Resolution::Refused(format!(
                "'{candidate}' escapes the repository"
            )));
        };
        for _ in 0..MAX_SYMLINK_HOPS {
            let mut link = None;
            for k in 1..=parts.len() {
                let prefix = parts[..k].join("/");
                match self.by_path.get(prefix.as_str()) {
                    Some(entry) if entry.kind == EntryKind::Symlink => {
                        link = Some((k, *entry));
                        break;
                    }
                    Some(_) if k < parts.len() => {
                        deps.push((parts.join("/"), None));
                        return Ok(Resolution::Missing);
                    }
                    _ => {}
                }
            }
            let Some((k, entry)) = link else {
                let path = parts.join("/");
                return match self.by_path.get(path.as_str()) {
                    Some(entry) => {
                        let (bytes, oid) = self.read_entry(entry)?;
                        deps.push((path.clone(), Some(oid)));
                        Ok(Resolution::Found { path, bytes })
                    }
                    None => {
                        deps.push((path, None));
                        Ok(Resolution::Missing)
                    }
                };
            };
            let (target, oid) = self.read_entry(entry)?;
            deps.push((entry.path.clone(), Some(oid)));
            let target = String::from_utf8_lossy(&target).into_owned();
            if target.starts_with('/') {
                return Ok(Resolution::Refused(format!(
                    "'{}' is a symlink to '{target}', outside the repository",
                    entry.path
                )));
            }
            let parent = parts[..k - 1].join("/");
            let rest = parts[k..].join("/");
            let joined = [parent.as_str(), target.as_str(), rest.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("/");
            parts = match normalize(&joined) {
                Some(parts) => parts,
                None => {
                    return Ok(Resolution::Refused(format!(
                        "'{}' is a symlink to '{target}', which leads outside the repository",
                        entry.path
                    )));
                }
            };
        }
        Ok(Resolution::Refused(format!(
            "'{candidate}': more than {MAX_SYMLINK_HOPS} symlinks to follow"
        )))
    }
}

/// Splits a relative path into segments, resolving `.` and `..`; `None` when `..` climbs above
/// the root.
fn normalize(path: &str) -> Option<Vec<String>> {
    let mut parts: Vec<String> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other.to_string()),
        }
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tanka_style_extraction_finds_nested_objects_in_order() {
        let cm =
            |n: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n}});
        let value = json!({
            "a": {"deep": [cm("one"), {"x": cm("two")}]},
            "b": {"apiVersion": "v1", "kind": "List", "items": [cm("three"), cm("four")]},
            "c": "not an object",
            "d": cm("five"),
        });
        let names: Vec<String> = extract_objects(value)
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["one", "two", "three", "four", "five"]);
    }

    #[test]
    fn normalize_refuses_climbing_above_the_root() {
        assert_eq!(normalize("a/./b/../c").unwrap(), ["a", "c"]);
        assert!(normalize("a/../../etc/passwd").is_none());
    }
}
