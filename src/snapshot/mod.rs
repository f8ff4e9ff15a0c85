//! A snapshot: every object one revision defines, in apply order, plus what could not be read.
//!
//! Files are parsed through a [`ParseCache`] keyed by git blob id, so a blob that base and head
//! share is read and parsed once, whichever side asks first. The cache also keeps the last few
//! whole snapshots by git tree id: in the server, the pull requests of one repository share
//! their base commit, whose snapshot is then built once, not once per pull request.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use git2::{ObjectType, Oid};
use rayon::prelude::*;

use crate::classify::{ChangeSet, Positions, Rebuilt};
use crate::config::Config;
use crate::deploy::Deployers;
use crate::manifest::scope::ScopeTable;
use crate::manifest::split::{Document, SplitError, split, split_outlined};
use crate::manifest::yaml::YamlWarning;
use crate::manifest::{
    Identity, LazyValue, ObjectHead, Objects, ObjectsIter, Origin, RenderedObject, partition_point,
};
use crate::render::{
    RenderCache, RenderFailure, Target, ToolFolder, render_revision, render_targets, tool_folders,
};
use crate::revision::{EntryKind, FileEntry, Revision, RevisionError};

mod derive;

/// The outcome of parsing one blob, shared between sides.
pub type Parsed = Arc<Result<Vec<Document>, SplitError>>;

/// Whole snapshots a cache keeps (most recently used first): the base of a repository's open
/// pull requests, and a few heads asked for again (re-runs, re-deliveries).
pub const KEPT_SNAPSHOTS: usize = 4;

/// What a snapshot is computed from: the revision's files (its tree), how reports name it, and
/// the configuration (its `Debug` text: any difference, even only in how it prints, is a miss,
/// never a wrong hit).
#[derive(PartialEq, Eq)]
struct SnapshotKey {
    tree: Oid,
    label: String,
    config: String,
}

/// Parsed documents by blob id, shared by the two sides of one analysis (and, in the server,
/// by jobs on the same repository); renders of targets by input content likewise; and the last
/// [`KEPT_SNAPSHOTS`] snapshots by tree.
#[derive(Default)]
pub struct ParseCache {
    parsed: Mutex<HashMap<(Oid, bool), Parsed>>,
    /// How many blobs were parsed through this cache, repeats included.
    parses: std::sync::atomic::AtomicUsize,
    /// How many files with outlined documents were read again for a whole value.
    read_again: Arc<std::sync::atomic::AtomicUsize>,
    renders: RenderCache,
    snapshots: Mutex<Vec<(SnapshotKey, Arc<Snapshot>)>>,
    /// Never derive a snapshot from another's, never keep a value in outline: every one is
    /// loaded whole.
    whole: bool,
}

impl ParseCache {
    /// A cache whose jsonnet sandbox runs `program` (a clobbercheck binary) instead of the
    /// running executable: for library users whose executable is not clobbercheck, e.g. tests.
    pub fn with_render_program(program: std::path::PathBuf) -> Self {
        Self {
            renders: RenderCache::with_program(program),
            ..Self::default()
        }
    }

    /// A cache that loads every snapshot whole, never deriving one from another's, and holds
    /// every document's value whole, never in outline: the reference the derivation and the
    /// outlines are tested against (`tests/derive.rs`, `tests/snapshot_cache.rs`).
    pub fn loading_whole() -> Self {
        Self {
            whole: true,
            ..Self::default()
        }
    }

    /// The render cache, e.g. to count how many targets were really rendered.
    pub fn renders(&self) -> &RenderCache {
        &self.renders
    }

    /// The snapshot of `revision` under `config`: a kept one when a revision with the same tree,
    /// label and configuration was loaded before through this cache, else [`Snapshot::load`]ed
    /// and kept. Revisions without a tree id (directories) are always loaded.
    ///
    /// Errors: those of [`Snapshot::load`] (nothing is kept then).
    pub fn snapshot(
        &self,
        revision: &dyn Revision,
        config: &Config,
    ) -> Result<Arc<Snapshot>, RevisionError> {
        self.snapshot_after(revision, config, None)
    }

    /// [`ParseCache::snapshot`] for the head of a comparison with `base` (loaded under the same
    /// `config`): when not kept, derived from `base`'s snapshot if the files that differ allow
    /// it (see `derive`), else loaded whole. [`Snapshot::changed_since`] then tells which files
    /// differ.
    ///
    /// Errors: those of [`Snapshot::load`] (nothing is kept then).
    pub fn snapshot_after(
        &self,
        revision: &dyn Revision,
        config: &Config,
        base: Option<&Snapshot>,
    ) -> Result<Arc<Snapshot>, RevisionError> {
        // Base's blobs are mostly head's too, and most of their documents are read only in
        // outline; head's own blobs are the ones compared and shown whole.
        let outline = base.is_none() && !self.whole;
        let Some(tree) = revision.tree() else {
            return Snapshot::load_as(revision, config, self, outline).map(Arc::new);
        };
        let key = SnapshotKey {
            tree,
            label: revision.label().to_string(),
            config: format!("{config:?}"),
        };
        {
            let mut kept = self.kept();
            if let Some(i) = kept.iter().position(|(k, _)| *k == key) {
                let entry = kept.remove(i);
                let snapshot = Arc::clone(&entry.1);
                kept.insert(0, entry);
                tracing::debug!(revision = revision.label(), %tree, "snapshot reused");
                return Ok(snapshot);
            }
        }
        let derived = match base {
            Some(base) if !self.whole => derive::derive(base, revision, config, self)?,
            _ => None,
        };
        let snapshot = Arc::new(match derived {
            Some(derived) => derived,
            None => Snapshot::load_as(revision, config, self, outline)?,
        });
        let mut kept = self.kept();
        kept.retain(|(k, _)| *k != key);
        kept.insert(0, (key, Arc::clone(&snapshot)));
        kept.truncate(KEPT_SNAPSHOTS);
        Ok(snapshot)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Vec<(SnapshotKey, Arc<Snapshot>)>> {
        self.snapshots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many whole snapshots are kept; lets tests and benchmarks prove the reuse.
    pub fn snapshots(&self) -> usize {
        self.kept().len()
    }

    fn get(&self, oid: Oid, json: bool) -> Option<Parsed> {
        self.lock().get(&(oid, json)).cloned()
    }

    fn insert(&self, oid: Oid, json: bool, parsed: Parsed) {
        self.parses
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.lock().insert((oid, json), parsed);
    }

    /// How many blobs were parsed, counting a blob parsed again; equal to [`ParseCache::len`]
    /// when every distinct blob was parsed once (files with the same content within a revision
    /// and across its sides share one parse).
    pub fn parses(&self) -> usize {
        self.parses.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many files whose documents were kept in outline were read again because something
    /// read one of them whole: in a check, the base side of the files a PR changes and of the
    /// stateful objects it deletes, not more.
    pub fn read_again(&self) -> usize {
        self.read_again.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Oid, bool), Parsed>> {
        self.parsed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many distinct blobs were parsed; lets tests and benchmarks prove the sharing.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was parsed yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A selected file of a revision with its resolved blob id.
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    pub entry: FileEntry,
    pub oid: Oid,
}

/// Every file of a revision by path. A persistent map (`imbl`'s B+tree with shared nodes): a
/// head derived from its base's snapshot copies base's map in constant time and replaces only
/// the files the pull request changes, where copying a `BTreeMap` of 20,000 files took 4–6 ms
/// of every warm pull request at 200,000 objects (`cargo bench --bench warm`).
pub type Files = imbl::OrdMap<String, SnapshotFile>;

/// Why a file of a snapshot yielded no objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The file does not parse; objects it may define are unknown.
    Parse { path: String, error: SplitError },
    /// The file is larger than `max_file_size` and was not read.
    TooLarge { path: String, size: u64, limit: u64 },
    /// A selected name is a symlink: not followed, as `kubectl apply -R` does not (the target,
    /// when short enough to show, is what the link says, never read through it).
    Symlink {
        path: String,
        target: Option<String>,
    },
    /// A git submodule: another repository's commit, whose files are not read.
    Submodule { path: String },
    /// A selected file whose name is not valid UTF-8 (`path` is lossy): not read.
    NonUtf8Name { path: String },
    /// A git tree entry no checkout could write (`..`, `.`, empty, `/` in it): not read.
    InvalidName { path: String },
    /// A document written as an object whose `metadata.name` no kind accepts (template text
    /// such as `{{ .Release.Name }}-settings`): never an identity.
    InvalidObjectName {
        path: String,
        line: usize,
        name: String,
    },
}

impl Problem {
    /// The repository path the problem concerns.
    pub fn path(&self) -> &str {
        match self {
            Problem::Parse { path, .. }
            | Problem::TooLarge { path, .. }
            | Problem::Symlink { path, .. }
            | Problem::Submodule { path }
            | Problem::NonUtf8Name { path }
            | Problem::InvalidName { path }
            | Problem::InvalidObjectName { path, .. } => path,
        }
    }

    /// Whether the problem hides objects that may exist (a file that could not be read), rather
    /// than something the user should know (a symlink or submodule that is not followed).
    pub fn hides_objects(&self) -> bool {
        !matches!(self, Problem::Symlink { .. } | Problem::Submodule { .. })
    }

    /// The line a finding about the problem points at, and what to say about it.
    pub fn describe(&self) -> (usize, String) {
        match self {
        Problem::Parse { error, .. } => (
            error.line,
            format!("cannot parse: {} (column {})", error.message, error.column),
        ),
        Problem::TooLarge { size, limit, .. } => (
            1,
            format!(
                "file is {size} bytes, above max_file_size ({limit} bytes): not read, objects in it are not checked"
            ),
        ),
        Problem::Symlink { target, .. } => (
            1,
            format!(
                "symlink{}: not followed (as kubectl apply -R does not); its target is checked only \
                 where it is itself a selected file of the repository",
                target
                    .as_ref()
                    .map(|t| format!(" to {t}"))
                    .unwrap_or_default()
            ),
        ),
        Problem::Submodule { .. } => (
            1,
            "git submodule: another repository's commit, not read; objects it holds are not checked"
                .into(),
        ),
        Problem::NonUtf8Name { .. } => (
            1,
            "the file name is not valid UTF-8 (shown with U+FFFD for the bad bytes): not read, \
             objects in it are not checked; rename it"
                .into(),
        ),
        Problem::InvalidObjectName { line, name, .. } => (
            *line,
            format!(
                "metadata.name '{name}' is not a valid Kubernetes name (template text?): the \
                 document is not an object; deploy its folder with its tool (an Argo CD \
                 Application or a `sources:` entry) so it is rendered, or fix the name"
            ),
        ),
        Problem::InvalidName { .. } => (
            1,
            "git tree entry with a name no checkout can write (empty, `.`, `..`, or holding `/`): \
             not read, objects under it are not checked"
                .into(),
        ),
    }
    }
}

/// A blob to parse: its bytes, or the entry to read them from.
enum Blob {
    Read(Vec<u8>),
    Unread(FileEntry),
}

/// Longest symlink target shown in a finding; longer ones are not read at all.
const SHOWN_SYMLINK_TARGET: u64 = 4096;

/// Everything one revision defines.
pub struct Snapshot {
    pub label: String,
    /// Every file of the revision (selected or not), by path, to tell added files from others.
    pub files: Files,
    /// Objects in apply order: plain files by path, then by position in the file; then rendered
    /// targets in `sources:` order.
    pub objects: Objects,
    pub problems: Vec<Problem>,
    /// Warnings of the YAML reader (duplicate keys, YAML 1.1 readings) by file path, for the
    /// rules that judge the definitions holding them.
    pub warnings: HashMap<String, Vec<YamlWarning>>,
    /// Render targets of this revision (`sources:`), to tell targets the PR adds.
    pub targets: Vec<Target>,
    /// Targets that could not be rendered; their objects are unknown.
    pub render_errors: Vec<RenderFailure>,
    /// ApplicationSets (by document) with generators that need a system outside the repository:
    /// what they generate is unknown, and the user is told so.
    pub set_notices: Vec<(Origin, String)>,
    /// What a deployer does not follow (a Flux source outside this repository, a chart not
    /// fetched), at the deployer: the `deployer-not-followed` notices.
    pub deployer_notices: Vec<(Origin, String)>,
    /// Kustomization and chart folders that no Application, no `sources:` entry and no other
    /// rendered target uses: their files are not objects, and their output is not analysed.
    pub unanalysed: Vec<ToolFolder>,
    /// Every deployer of the revision (Applications, generated ones included): who deploys
    /// each object, for the rules and reports. Shared with the snapshots derived from this one
    /// when a PR changes no deployer.
    pub deployers: Arc<Deployers>,
    /// What a later revision needs to be derived from this one (`None`: this one was derived,
    /// or failed to render somewhere, and a revision after it is loaded whole).
    basis: Option<derive::Basis>,
    /// When this snapshot was derived from another revision's: which.
    derived: Option<derive::Derived>,
    /// How many of [`Snapshot::objects`] (a prefix) come from plain files: the others are
    /// rendered or generated (see [`Snapshot::rendered_or_generated`]).
    plain: usize,
    /// This snapshot classified against itself (every identity unchanged), computed the first
    /// time a snapshot derived from it is classified.
    unchanged: OnceLock<ChangeSet>,
    /// See [`Snapshot::positions`].
    positions: OnceLock<Positions>,
}

impl Snapshot {
    /// The paths whose file differs from `base`'s, when this snapshot was derived from `base`'s
    /// revision; `None` when it was loaded whole.
    pub fn changed_since(&self, base: &Snapshot) -> Option<&BTreeSet<String>> {
        self.derived_from(base).map(|d| d.changed.as_ref())
    }

    /// The objects that come from a render or an ApplicationSet, after those of plain files in
    /// apply order: a reader of generated Applications looks at these only, not at every
    /// object of the revision.
    pub fn rendered_or_generated(&self) -> ObjectsIter<'_> {
        self.objects_in(self.plain..self.objects.len())
    }

    /// The objects at positions `range` of [`Snapshot::objects`], in order.
    ///
    /// Panics when `range` reaches past the end, as slicing does.
    pub fn objects_in(&self, range: Range<usize>) -> ObjectsIter<'_> {
        self.objects.focus().narrow(range).into_iter()
    }

    /// Every object, as a contiguous list of references (one pointer each, no reference count
    /// touched): what passes over the whole revision sort, search and split across cores.
    pub fn object_refs(&self) -> Vec<&RenderedObject> {
        self.objects.iter().map(|o| &**o).collect()
    }

    /// The objects defined in the file at `path`, in apply order: plain files' objects are in
    /// path order (one run per file) in a snapshot that can be derived from or was derived, so
    /// that run is found by binary search; rendered and generated ones are looked at one by one.
    pub fn defined_at<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a RenderedObject> {
        let in_path_order =
            self.derived.is_some() || self.basis.as_ref().is_some_and(|b| b.runs.is_some());
        let run = if in_path_order {
            // The first plain object at or after `path`, then the first after it.
            let first_from = |after: bool| {
                let plain = self.objects.focus().narrow(..self.plain);
                partition_point(plain, |o| {
                    let here = o.origin.path.as_str();
                    here < path || (after && here == path)
                })
            };
            first_from(false)..first_from(true)
        } else {
            0..self.plain
        };
        self.objects_in(run)
            .chain(self.rendered_or_generated())
            .filter(move |o| o.origin.path == path)
            .map(|o| &**o)
    }

    /// What was built again when this snapshot was derived from `base`'s (the changed files'
    /// objects and those of files whose deployers changed; every other object is base's), for
    /// [`ChangeSet::classify_change`]; `None` when it was loaded whole.
    pub fn rebuilt_since<'a>(&'a self, base: &'a Snapshot) -> Option<Rebuilt<'a>> {
        let derived = self.derived_from(base)?;
        Some(Rebuilt {
            identities: &derived.identities,
            base_positions: base.positions(),
            fresh: &derived.fresh,
            files: &derived.rebuilt,
            plain: base.plain,
            head_plain: self.plain,
            generated_again: derived.generated_again,
        })
    }

    /// The objects built again when this snapshot was derived from `base`'s (every object of a
    /// changed file is one of them; see [`Snapshot::rebuilt_since`]); `None` when it was loaded
    /// whole.
    pub fn fresh_since(&self, base: &Snapshot) -> Option<impl Iterator<Item = &RenderedObject>> {
        let derived = self.derived_from(base)?;
        Some(derived.fresh.iter().map(|&i| &*self.objects[i]))
    }

    /// Where each identity is defined in [`Snapshot::objects`]; computed once, the first time a
    /// snapshot derived from this one is classified. Computed outside the cell, as
    /// [`Snapshot::unchanged`] is and for the same reason: the sort runs rayon joins.
    fn positions(&self) -> &Positions {
        if let Some(positions) = self.positions.get() {
            return positions;
        }
        let computed = Positions::of_objects(&self.object_refs());
        self.positions.get_or_init(|| computed)
    }

    fn derived_from(&self, base: &Snapshot) -> Option<&derive::Derived> {
        let derived = self.derived.as_ref()?;
        let tree = base.basis.as_ref()?.tree?;
        (derived.base == tree).then_some(derived)
    }

    /// This snapshot classified against itself, kept once computed.
    ///
    /// Computed outside the cell: the classification runs rayon joins, and a rayon thread
    /// waiting in a join runs other jobs of its pool meanwhile. Had the cell been locked while
    /// computing, another analysis of the same base run inside that join would wait on the
    /// lock its own thread holds, for good (`tests/snapshot_cache.rs`,
    /// `analyses_sharing_a_cold_cache_on_one_pool_all_finish`). Analyses arriving together
    /// each compute it once; the first kept wins.
    pub fn unchanged(&self) -> &ChangeSet {
        if let Some(unchanged) = self.unchanged.get() {
            return unchanged;
        }
        let computed = ChangeSet::unchanged(&self.object_refs(), self.positions());
        self.unchanged.get_or_init(|| computed)
    }
}

/// Rounds of "learn Applications, render the folders they deploy": an app-of-apps rendered by
/// kustomize needs a second round for the Applications it renders, and so on down the tree.
const APPLICATION_ROUNDS: usize = 8;

impl Snapshot {
    /// Reads and parses a revision's selected files and builds every object's identity.
    pub fn load(
        revision: &dyn Revision,
        config: &Config,
        cache: &ParseCache,
    ) -> Result<Self, RevisionError> {
        Self::load_as(revision, config, cache, false)
    }

    /// [`Snapshot::load`]; `outline`: the blobs it parses keep documents that reach no further
    /// than their own objects in outline ([`split_outlined`]).
    fn load_as(
        revision: &dyn Revision,
        config: &Config,
        cache: &ParseCache,
        outline: bool,
    ) -> Result<Self, RevisionError> {
        let entries = revision.files()?;
        let mut rendered = render_revision(revision, &entries, config, &cache.renders)?;
        // Folders Argo CD renders with a tool (issue 10 §1), unless a `sources:` entry already does.
        let configured: HashSet<String> = rendered.targets.iter().map(|t| t.name.clone()).collect();
        let folders: Vec<ToolFolder> = tool_folders(revision, &entries)?
            .into_iter()
            .filter(|f| !configured.contains(&f.dir))
            .collect();
        let tools: HashMap<&str, &ToolFolder> =
            folders.iter().map(|f| (f.dir.as_str(), f)).collect();
        let tool_inputs: HashSet<&str> = folders
            .iter()
            .flat_map(|f| f.inputs.iter().map(String::as_str))
            .collect();
        let all_entries = entries.clone();
        let mut problems = Vec::new();
        let mut files = Files::new();
        // Blobs to parse, with their bytes when already read (a directory's file is read to
        // hash it); git blobs are read by the parse threads themselves, so reading overlaps
        // parsing instead of preceding it on one thread.
        let mut to_parse: Vec<(String, Oid, Blob)> = Vec::new();
        // Files with the same content (a manifest copied into several clusters' folders) are
        // one blob: it is parsed once, for its first path.
        let mut queued: HashSet<(Oid, bool)> = HashSet::new();
        let mut selected: Vec<(String, Oid)> = Vec::new();
        for entry in entries {
            let selected_name =
                config.selects(&entry.path) && !rendered.consumed.contains(&entry.path);
            let unread = match entry.kind {
                EntryKind::File => None,
                EntryKind::Symlink if !selected_name => None,
                EntryKind::Symlink => Some(Problem::Symlink {
                    path: entry.path.clone(),
                    target: (entry.size <= SHOWN_SYMLINK_TARGET)
                        .then(|| revision.read(&entry).ok())
                        .flatten()
                        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
                }),
                EntryKind::Submodule => Some(Problem::Submodule {
                    path: entry.path.clone(),
                }),
                EntryKind::NonUtf8Name if !selected_name => None,
                EntryKind::NonUtf8Name => Some(Problem::NonUtf8Name {
                    path: entry.path.clone(),
                }),
                EntryKind::InvalidName => Some(Problem::InvalidName {
                    path: entry.path.clone(),
                }),
            };
            problems.extend(unread);
            let wanted = entry.kind == EntryKind::File
                && config.selects(&entry.path)
                && !rendered.consumed.contains(&entry.path);
            let too_large = wanted && entry.size > config.max_file_size;
            let json = entry.path.ends_with(".json");
            let (oid, bytes) = match entry.oid {
                Some(oid)
                    if !wanted
                        || too_large
                        || queued.contains(&(oid, json))
                        || cache.get(oid, json).is_some() =>
                {
                    (oid, None)
                }
                Some(oid) => {
                    queued.insert((oid, json));
                    to_parse.push((entry.path.clone(), oid, Blob::Unread(entry.clone())));
                    (oid, None)
                }
                None if !wanted || too_large => (Oid::ZERO_SHA1, None),
                None => {
                    let bytes = revision.read(&entry)?;
                    let oid = Oid::hash_object(ObjectType::Blob, &bytes).map_err(|e| {
                        RevisionError::Read {
                            revision: revision.label().to_string(),
                            path: entry.path.clone(),
                            message: e.message().to_string(),
                        }
                    })?;
                    let bytes = (cache.get(oid, json).is_none() && queued.insert((oid, json)))
                        .then_some(bytes);
                    (oid, bytes)
                }
            };
            if too_large {
                problems.push(Problem::TooLarge {
                    path: entry.path.clone(),
                    size: entry.size,
                    limit: config.max_file_size,
                });
            } else if wanted {
                if let Some(bytes) = bytes {
                    to_parse.push((entry.path.clone(), oid, Blob::Read(bytes)));
                }
                selected.push((entry.path.clone(), oid));
            }
            files.insert(entry.path.clone(), SnapshotFile { entry, oid });
        }
        to_parse
            .into_par_iter()
            .map(|(path, oid, blob)| {
                let bytes = match blob {
                    Blob::Read(bytes) => bytes,
                    Blob::Unread(entry) => revision.read(&entry)?,
                };
                let json = path.ends_with(".json");
                let docs = if outline {
                    let whole =
                        |value: &serde_json::Value| derive::reaches_beyond_itself(value, true);
                    split_outlined(&path, bytes, &whole, &cache.read_again)
                } else {
                    split(&path, &bytes)
                };
                Ok((oid, json, Arc::new(docs)))
            })
            .collect::<Result<Vec<_>, RevisionError>>()?
            .into_iter()
            .for_each(|(oid, json, parsed)| cache.insert(oid, json, parsed));

        let parsed: Vec<(String, Parsed)> = selected
            .into_iter()
            .map(|(path, oid)| {
                let parsed = cache
                    .get(oid, path.ends_with(".json"))
                    .expect("every selected blob was parsed above");
                (path, parsed)
            })
            .collect();
        // Files a tool consumes are not objects; the Applications among the others (and among
        // rendered output) say which tool folders are deployed, with which parameters.
        let plain: Vec<(Origin, Arc<LazyValue>)> = parsed
            .iter()
            .filter(|(path, _)| !tool_inputs.contains(path.as_str()))
            .flat_map(|(path, parsed)| documents_of(path, parsed))
            .collect();
        // ApplicationSets (issue 10 §3) are expanded over the documents known so far, before
        // Applications are learned, so generated Applications place and render their folders
        // exactly as hand-written ones; each round re-expands, since a rendered folder may hold
        // sets of its own.
        let paths: Vec<String> = files.keys().cloned().collect();
        let read = file_reader(&files, revision, config);
        let this_repository = |url: &str, revision: Option<&str>| {
            config.deploy.repository.deploys_from_here(url, revision)
        };
        let expand = |rendered: &[(Origin, Arc<LazyValue>)]| {
            let known: Vec<(Origin, Arc<LazyValue>)> =
                plain.iter().chain(rendered).cloned().collect();
            let started = std::time::Instant::now();
            let expanded = crate::deploy::applicationset::expand_revision(
                &known,
                &paths,
                &read,
                &config.argocd_clusters,
                &this_repository,
            );
            if !expanded.documents.is_empty() || !expanded.errors.is_empty() {
                tracing::debug!(
                    revision = revision.label(),
                    applications = expanded.documents.len(),
                    micros = started.elapsed().as_micros() as u64,
                    "ApplicationSets expanded"
                );
            }
            expanded
        };
        let mut expanded = expand(&rendered.documents);
        let mut expanded_over = rendered.documents.len();
        let mut done: Vec<(crate::render::SourceKind, Target)> = Vec::new();
        let mut apps = Deployers::default();
        for _ in 0..APPLICATION_ROUNDS {
            if expanded_over != rendered.documents.len() {
                expanded = expand(&rendered.documents);
                expanded_over = rendered.documents.len();
            }
            apps = Deployers::learn(
                plain
                    .iter()
                    .chain(&rendered.documents)
                    .chain(&expanded.documents)
                    .map(|(origin, value)| (origin, value.outline())),
                &config.deploy,
            );
            let (wanted, refused) = apps.tool_targets(&tools);
            for failure in refused {
                if !rendered.failures.contains(&failure) {
                    rendered.failures.push(failure);
                }
            }
            let fresh: Vec<(crate::render::SourceKind, Target)> =
                wanted.into_iter().filter(|w| !done.contains(w)).collect();
            if fresh.is_empty() {
                break;
            }
            done.extend(fresh.iter().cloned());
            let out = render_targets(
                revision,
                &all_entries,
                fresh,
                config.render_limits,
                &cache.renders,
            )?;
            rendered.documents.extend(out.documents);
            rendered.failures.extend(out.failures);
            rendered.consumed.extend(out.consumed);
            rendered.targets.extend(out.targets);
        }
        // A consumed file is still a plain manifest where an Application deploys its folder as
        // a directory.
        let mut documents: Vec<(String, Parsed)> = Vec::with_capacity(parsed.len());
        let mut warnings = HashMap::new();
        // Names no kind accepts, found on every core (one look at each document's metadata),
        // in file order.
        let invalid_names: Vec<Vec<Problem>> = parsed
            .par_iter()
            .map(|(path, parsed)| {
                let Ok(docs) = parsed.as_ref() else {
                    return Vec::new();
                };
                docs.iter()
                    .filter_map(|doc| {
                        let name = crate::manifest::identity::invalid_name(doc.value.outline())?;
                        (!apps.rewrites(path, &doc.value)).then(|| Problem::InvalidObjectName {
                            path: path.clone(),
                            line: doc.line,
                            name: name.to_string(),
                        })
                    })
                    .collect()
            })
            .collect();
        for ((path, parsed), invalid_names) in parsed.into_iter().zip(invalid_names) {
            if tool_inputs.contains(path.as_str()) && !apps.deploys_as_directory(&path, &tools) {
                continue;
            }
            match parsed.as_ref() {
                Err(error) => problems.push(Problem::Parse {
                    path: path.clone(),
                    error: error.clone(),
                }),
                Ok(docs) if docs.iter().any(|d| !d.warnings.is_empty()) => {
                    let found: Vec<YamlWarning> =
                        docs.iter().flat_map(|d| d.warnings.clone()).collect();
                    warnings.insert(path.clone(), found);
                }
                Ok(_) => {}
            }
            problems.extend(invalid_names);
            documents.push((path, parsed));
        }
        let unanalysed = folders
            .iter()
            .filter(|f| {
                !rendered.targets.iter().any(|t| t.name == f.dir)
                    && !rendered.consumed.contains(&f.entry)
            })
            .cloned()
            .collect();
        if expanded_over != rendered.documents.len() {
            expanded = expand(&rendered.documents);
        }
        // The reader borrows `files`, which the snapshot takes below.
        drop(read);
        let expansion = expanded.clone();
        let mut render_errors = rendered.failures;
        render_errors.extend(expanded.errors.into_iter().map(|(origin, name, message)| {
            RenderFailure {
                target: format!("ApplicationSet {name}"),
                path: origin.path,
                line: origin.line,
                column: 1,
                message,
                checked: false,
            }
        }));
        // What a later revision needs to be derived from this one (see `derive`); a revision
        // with render failures is always loaded whole.
        let mut basis = derive::Basis {
            tree: revision.tree(),
            rounds: apps,
            tools: folders
                .iter()
                .map(|f| f.dir.clone())
                .chain(rendered.targets.iter().map(|t| t.name.clone()))
                .collect(),
            inputs: rendered
                .consumed
                .iter()
                .cloned()
                .chain(tool_inputs.iter().map(|p| p.to_string()))
                .collect(),
            sets: plain
                .iter()
                .chain(&rendered.documents)
                .filter(|(origin, value)| derive::read_by_sets(origin, value.outline()))
                .cloned()
                .collect(),
            expansion,
            scopes: ScopeTable::default(),
            application_documents: Vec::new(),
            flux_documents: None,
            definitions: std::sync::OnceLock::new(),
            runs: None,
        };
        let built = build(
            documents
                .iter()
                .flat_map(|(path, parsed)| documents_of(path, parsed))
                .chain(rendered.documents)
                .chain(expanded.documents),
            config,
        );
        let Built {
            objects,
            deployers,
            application_documents,
            flux_documents,
            unresolved,
            scopes,
        } = built;
        basis.application_documents = application_documents;
        basis.flux_documents = flux_documents;
        // Rendered documents name their target and generated ones their producer: the objects
        // of plain files are the ones before them.
        let plain = objects
            .iter()
            .take_while(|o| o.origin.target.is_none() && o.origin.generator.is_none())
            .count();
        basis.runs = derive::Basis::runs_of(&objects, plain);
        let objects = Objects::from(objects);
        basis.scopes = scopes;
        render_errors.extend(unresolved);
        problems.sort_by(|a, b| a.path().cmp(b.path()));
        let render_errors_empty = render_errors.is_empty();
        Ok(Self {
            label: revision.label().to_string(),
            files,
            objects,
            problems,
            warnings,
            targets: rendered.targets,
            render_errors,
            set_notices: expanded.notices,
            deployer_notices: deployers.notices().to_vec(),
            deployers: Arc::new(deployers),
            unanalysed,
            basis: render_errors_empty.then_some(basis),
            derived: None,
            plain,
            unchanged: OnceLock::new(),
            positions: OnceLock::new(),
        })
    }
}

/// How ApplicationSet generators read a revision's files (git `files` generators): by path,
/// refusing what is not a file of the revision or is above `max_file_size`.
fn file_reader<'a>(
    files: &'a Files,
    revision: &'a dyn Revision,
    config: &'a Config,
) -> impl Fn(&str) -> Result<Vec<u8>, String> + Sync + 'a {
    move |path: &str| {
        let file = files
            .get(path)
            .ok_or_else(|| format!("{path} is not a file of {}", revision.label()))?;
        if file.entry.size > config.max_file_size {
            return Err(format!(
                "{path} is {} bytes, above max_file_size ({} bytes): not read",
                file.entry.size, config.max_file_size
            ));
        }
        revision.read(&file.entry).map_err(|e| e.to_string())
    }
}

/// One parsed file's documents with their origins (none when it does not parse).
fn documents_of(path: &str, parsed: &Parsed) -> Vec<(Origin, Arc<LazyValue>)> {
    parsed
        .as_ref()
        .as_ref()
        .map(|docs| docs.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|doc| {
            (
                Origin {
                    path: path.to_string(),
                    line: doc.line,
                    end_line: doc.end_line,
                    target: None,
                    generator: None,
                },
                doc.value.clone(),
            )
        })
        .collect()
}

/// Turns documents (in apply order) into objects: skips what is not a Kubernetes object, learns
/// the scope of kinds from CRDs and the deployers among them, then gives each object its identity
/// and owners. Returns the objects, the deployers learned, and the definitions that fail their
/// deployer's build although placed (Flux strict post-build substitution).
pub fn build_objects(
    documents: impl Iterator<Item = (Origin, Arc<LazyValue>)>,
    config: &Config,
) -> (Vec<Arc<RenderedObject>>, Deployers, Vec<RenderFailure>) {
    let built = build(documents, config);
    (built.objects, built.deployers, built.unresolved)
}

/// What [`build_objects`] computes, with the scope table it learned (kept by a snapshot's
/// [`derive::Basis`]).
struct Built {
    objects: Vec<Arc<RenderedObject>>,
    deployers: Deployers,
    /// The Argo CD Application documents deployers were learned from, in apply order.
    application_documents: Vec<(Origin, Arc<LazyValue>)>,
    /// The documents Flux objects were learned from ([`crate::deploy::flux::Flux::learns_from`]),
    /// in apply order; `None` when the revision has no Flux object.
    flux_documents: Option<Vec<(Origin, Arc<LazyValue>)>>,
    unresolved: Vec<RenderFailure>,
    scopes: ScopeTable,
}

fn build(documents: impl Iterator<Item = (Origin, Arc<LazyValue>)>, config: &Config) -> Built {
    // A document that is not an object as written may become one as its deployer applies it
    // (a Flux substitution completing its name), so every mapping is kept until placed.
    // Heads and placements are computed on every core (order is kept: rayon's collect is in
    // input order).
    let documents: Vec<(Origin, Arc<LazyValue>)> = documents
        .filter(|(_, value)| value.outline().is_object())
        .collect();
    let heads: Vec<(Origin, Arc<LazyValue>, Option<ObjectHead>)> = documents
        .into_par_iter()
        .map(|(origin, value)| {
            let head = ObjectHead::of(value.outline());
            (origin, value, head)
        })
        .collect();
    let mut scopes = ScopeTable::default();
    for (_, value, head) in &heads {
        if let Some(head) = head
            && head.group == "apiextensions.k8s.io"
            && head.kind == "CustomResourceDefinition"
        {
            scopes.learn_crd(value);
        }
    }
    // Deployers decide the cluster and default namespace of what they deploy; a definition
    // deployed to several destinations defines one object per destination.
    let deployers = Deployers::learn(
        heads
            .iter()
            .filter(|(_, _, head)| head.is_some())
            .map(|(origin, value, _)| (origin, value.outline())),
        &config.deploy,
    );
    let application_documents = heads
        .par_iter()
        .filter(|(_, value, head)| {
            head.is_some() && crate::deploy::argocd::is_argo(value.outline(), "Application")
        })
        .map(|(origin, value, _)| (origin.clone(), Arc::clone(value)))
        .collect();
    let flux = deployers.flux();
    let flux_documents = (!flux.is_empty()).then(|| {
        heads
            .iter()
            .filter(|(_, value, head)| {
                head.is_some()
                    && flux.learns_from(value.outline(), &config.deploy.default_namespace)
            })
            .map(|(origin, value, _)| (origin.clone(), Arc::clone(value)))
            .collect()
    });
    let mut unresolved: Vec<RenderFailure> = Vec::new();
    if config.deploy.strict_post_build_substitutions {
        for (origin, value, _) in &heads {
            unresolved.extend(deployers.unresolved(origin, value, &config.deploy));
        }
    }
    let objects = heads
        .into_par_iter()
        .flat_map_iter(|(origin, value, head)| {
            place(origin, value, head, &deployers, &scopes, &config.deploy)
        })
        .collect();
    Built {
        objects,
        deployers,
        application_documents,
        flux_documents,
        unresolved,
        scopes,
    }
}

/// The objects one definition (`value`, written at `origin`, with its `head` when it is an
/// object as written) defines once its deployers place it: one per distinct identity.
fn place(
    origin: Origin,
    value: Arc<LazyValue>,
    head: Option<ObjectHead>,
    deployers: &Deployers,
    scopes: &ScopeTable,
    settings: &crate::deploy::Settings,
) -> impl Iterator<Item = Arc<RenderedObject>> {
    // One definition reached through several deployers is one object per distinct
    // identity, never a duplicate of itself (an object naming its own namespace lands
    // in the same place whichever destination namespace deploys it); its owners are
    // every deployer that puts it there.
    let mut identities: Vec<(Option<Identity>, Arc<LazyValue>, String, Vec<_>)> = Vec::new();
    for (placement, owners) in deployers.placements(&origin, &value, settings) {
        // A deployer that rewrites the document (Flux) applies the rewritten object.
        let (value, head) = match placement.rewritten {
            Some(rewritten) => match ObjectHead::of(&rewritten) {
                Some(head) => (rewritten, head),
                None => continue,
            },
            None => match &head {
                Some(head) => (value.clone(), head.clone()),
                None => continue,
            },
        };
        let identity = head.identity(scopes, placement.cluster, &placement.namespace);
        match identities.iter_mut().find(|(i, _, _, _)| *i == identity) {
            Some((_, _, _, known)) => {
                known.extend(owners);
                known.sort();
                known.dedup();
            }
            None => identities.push((identity, value, head.api_version, owners)),
        }
    }
    identities
        .into_iter()
        .map(move |(identity, value, api_version, owners)| {
            Arc::new(RenderedObject {
                identity,
                api_version,
                origin: origin.clone(),
                value,
                owners,
            })
        })
}
