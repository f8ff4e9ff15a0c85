//! A snapshot derived from another revision's: what a small pull request costs a warm server.
//!
//! Most files of a pull request's head are its base's. When every file the PR changes is a
//! plain manifest that nothing else reads — no deployer (Argo CD, Flux), ApplicationSet, CRD,
//! render (kustomize, helm, jsonnet, a `sources:` entry) or configuration reads it on either
//! side — every other object of head keeps the placement, identity and owners it has in base,
//! because nothing they were computed from changed. Head's snapshot is then base's with those
//! files' objects replaced, built in time proportional to the change rather than to the
//! repository. [`derive`] checks exactly those conditions and answers `None` otherwise (the
//! caller loads the revision whole); `tests/derive.rs` holds its answer to [`Snapshot::load`]'s.
//!
//! Three kinds of reader are followed rather than refused. Argo CD Applications a PR adds, edits
//! or removes are learned again, and the files under each one that deploys differently are
//! placed again. ApplicationSets are expanded again over head's files (a PR may change a set, or
//! a folder or file a git generator reads); when that gives other Applications, head's generated
//! Applications are placed and learned again the same way. Flux Kustomizations a PR adds, edits
//! or removes (in a revision that has Flux objects) are learned again with the documents Flux
//! reads ([`Basis::flux_documents`]), and the files under each Kustomization that differs are
//! read and placed again — unless the difference reaches further (a HelmRelease placed
//! elsewhere, other data read for substitution, a kustomize build, a tool folder).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::{Bound, Range};
use std::sync::{Arc, OnceLock};

use git2::Oid;
use serde_json::Value;

use super::{
    Files, ParseCache, Parsed, Problem, Snapshot, SnapshotFile, documents_of, file_reader, place,
};
use crate::config::{CONFIG_PATHS, Config};
use crate::deploy::Deployers;
use crate::deploy::applicationset::{self, Cluster, RevisionExpansion};
use crate::deploy::argocd::{self, Application, Applications};
use crate::deploy::flux::{Flux, is_kustomization};
use crate::manifest::LazyValue;
use crate::manifest::scope::ScopeTable;
use crate::manifest::split::split;
use crate::manifest::{Identity, ObjectHead, Objects, Origin, RenderedObject, append_part};
use crate::revision::{EntryKind, Revision, RevisionError};

/// What a revision's objects were computed from beyond each file's own documents, kept with its
/// snapshot so a later revision can be derived from it.
pub(crate) struct Basis {
    /// The revision's git tree: a derived snapshot names the one it came from.
    pub tree: Option<Oid>,
    /// The deployers learned before objects were built (what says which documents a Flux
    /// Kustomization rewrites).
    pub rounds: Deployers,
    /// Tool folders and render targets: a change under one may change what is rendered.
    pub tools: Vec<String>,
    /// Files a render read or a tool consumes.
    pub inputs: BTreeSet<String>,
    /// The ApplicationSets and Argo CD cluster Secrets among the documents, in apply order, and
    /// what expanding them gave: re-expanded over head's files, they must give the same.
    pub sets: Vec<(Origin, Arc<LazyValue>)>,
    pub expansion: RevisionExpansion,
    /// The Argo CD Application documents, in apply order: read into `definitions` by the first
    /// head derived with Applications changed.
    pub application_documents: Vec<(Origin, Arc<LazyValue>)>,
    /// Every Argo CD Application definition among `application_documents` as read
    /// ([`Application::from_value`]), in apply order, those a later definition replaces
    /// included: read once, by the first head derived with Applications changed, and kept for
    /// the next ones (in a server, the following pull requests on this base).
    pub definitions: OnceLock<Vec<Application>>,
    /// Kinds' scopes learned from the revision's CRDs.
    pub scopes: ScopeTable,
    /// The documents its Flux objects were learned from, in apply order
    /// ([`crate::deploy::flux::Flux::learns_from`]): a head whose changes hold Kustomizations
    /// learns its Flux objects again from these and its changed files. `None` without Flux.
    pub flux_documents: Option<Vec<(Origin, Arc<LazyValue>)>>,
    /// Each plain file's objects: their positions in [`Snapshot::objects`] (plain files' objects
    /// are in the listing's order, which is path order, one run per file). Made once per
    /// revision (see [`Basis::runs_of`]), so deriving a head copies the unchanged files between
    /// two changed ones as one slice, without walking every object or file again. `None` when
    /// the runs are not in path order: no head is derived then.
    pub runs: Option<BTreeMap<String, Range<usize>>>,
}

impl Basis {
    /// The runs of the first `plain` of `objects` (see [`Basis::runs`]), or `None` when a
    /// file's run does not come after the previous file's in path order.
    pub fn runs_of(
        objects: &[Arc<RenderedObject>],
        plain: usize,
    ) -> Option<BTreeMap<String, Range<usize>>> {
        let mut runs = BTreeMap::new();
        let mut start = 0;
        let mut previous: Option<&str> = None;
        for (index, object) in objects[..plain].iter().enumerate() {
            let path = object.origin.path.as_str();
            if index + 1 == plain || objects[index + 1].origin.path != path {
                if previous.is_some_and(|p| p >= path) {
                    return None;
                }
                previous = Some(path);
                runs.insert(path.to_string(), start..index + 1);
                start = index + 1;
            }
        }
        Some(runs)
    }
}

/// Where a derived snapshot came from.
#[derive(Debug, Clone)]
pub(crate) struct Derived {
    /// The tree of the revision it was derived from.
    pub base: Oid,
    /// The paths whose blob differs between the two (added, removed or modified).
    pub changed: Arc<BTreeSet<String>>,
    /// `changed` and the files whose deployers changed: those whose objects were built again.
    pub rebuilt: Arc<BTreeSet<String>>,
    /// Every identity an object of a rebuilt file has on either side, and those of generated
    /// Applications; sorted, each once.
    pub identities: Arc<Vec<Identity>>,
    /// Positions in the derived snapshot's objects of those built again.
    pub fresh: Arc<Vec<usize>>,
    /// Whether base's generated Applications were replaced by head's (the sets expand
    /// differently), or kept.
    pub generated_again: bool,
}

/// Whether an ApplicationSet expansion reads the document (a set, or a cluster Secret the
/// `clusters` generator lists).
pub(super) fn read_by_sets(origin: &Origin, value: &Value) -> bool {
    applicationset::is_application_set(value) || Cluster::from_secret(value, origin).is_some()
}

/// Whether a document may change anything beyond its own objects: an Argo CD Application or
/// ApplicationSet, any Flux toolkit kind, a CRD (the scope of its kind), an Argo CD cluster
/// Secret, or a ConfigMap or Secret when `flux_reads_data` (a Flux object names it in
/// `valuesFrom` or `substituteFrom`: [`crate::deploy::flux::Flux::reads_data`]). Other kinds (an
/// AppProject, an Argo Rollout) are read only as objects, by rules.
pub(super) fn reaches_beyond_itself(value: &Value, flux_reads_data: bool) -> bool {
    let (Some(api_version), Some(kind)) = (value["apiVersion"].as_str(), value["kind"].as_str())
    else {
        return false;
    };
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    argocd::is_argo(value, "Application")
        || applicationset::is_application_set(value)
        || group.ends_with("fluxcd.io")
        || kind == "CustomResourceDefinition"
        || (group.is_empty()
            && matches!(kind, "ConfigMap" | "Secret")
            && (flux_reads_data
                || !value["metadata"]["labels"]["argocd.argoproj.io/secret-type"].is_null()))
}

/// The changed paths of `files` against `base` (both sorted by path): added, removed, or with
/// another blob, kind or size.
fn changed_paths(base: &Files, head: &Files) -> BTreeSet<String> {
    let mut changed = BTreeSet::new();
    let (mut old, mut new) = (base.iter().peekable(), head.iter().peekable());
    loop {
        match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some((path, _)), None) => {
                changed.insert((*path).clone());
                old.next();
            }
            (None, Some((path, _))) => {
                changed.insert((*path).clone());
                new.next();
            }
            (Some((a, fa)), Some((b, fb))) => match a.cmp(b) {
                std::cmp::Ordering::Less => {
                    changed.insert((*a).clone());
                    old.next();
                }
                std::cmp::Ordering::Greater => {
                    changed.insert((*b).clone());
                    new.next();
                }
                std::cmp::Ordering::Equal => {
                    if fa.oid != fb.oid
                        || fa.oid.is_zero()
                        || fa.entry.kind != fb.entry.kind
                        || fa.entry.size != fb.entry.size
                    {
                        changed.insert((*a).clone());
                    }
                    old.next();
                    new.next();
                }
            },
        }
    }
    changed
}

/// Whether `path` is the folder `dir` or under it (`dir` empty: the repository's root).
fn within(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

/// What the files under a deployer that now deploys differently (an Application, a Flux
/// Kustomization) are looked up in: head's files, the changed ones (rebuilt anyway), and base.
struct PlacedAgain<'a> {
    files: &'a Files,
    changed: &'a BTreeSet<String>,
    basis: &'a Basis,
    base: &'a Snapshot,
}

impl PlacedAgain<'_> {
    /// The unchanged files under the deployer folders `folders`, to be placed again; `None` when
    /// a folder holds a tool folder or lies in one, or holds one of base's rendered or generated
    /// objects (the generated ones aside when `generated_again`, head's being placed again
    /// anyway): a render reads those, which a derivation does not follow.
    fn under(&self, folders: &[String], generated_again: bool) -> Option<BTreeSet<String>> {
        let over = |path: &str| folders.iter().any(|f| within(path, f));
        let meets_a_render = self
            .basis
            .tools
            .iter()
            .any(|t| over(t) || folders.iter().any(|f| within(f, t)))
            || self
                .base
                .rendered_or_generated()
                .filter(|o| !generated_again || o.origin.generator.is_none())
                .any(|o| over(&o.origin.path));
        (!meets_a_render).then(|| {
            self.files
                .keys()
                .filter(|p| !self.changed.contains(*p) && over(p))
                .cloned()
                .collect()
        })
    }
}

/// Base's `documents` (in apply order) with those of the changed files replaced by the changed
/// files' documents `kept` accepts: plain ones by path and line, then the rendered and
/// generated ones as base had them — the order a whole load would read them in.
fn with_changed(
    documents: &[(Origin, Arc<LazyValue>)],
    changed: &BTreeSet<String>,
    parsed: &HashMap<&str, Parsed>,
    kept: impl Fn(&Origin, &Value) -> bool,
) -> Vec<(Origin, Arc<LazyValue>)> {
    let plain = |o: &Origin| o.target.is_none() && o.generator.is_none();
    let mut out: Vec<(Origin, Arc<LazyValue>)> = documents
        .iter()
        .filter(|(o, _)| plain(o) && !changed.contains(&o.path))
        .cloned()
        .collect();
    for (path, documents) in parsed {
        out.extend(
            documents_of(path, documents)
                .into_iter()
                .filter(|(o, v)| kept(o, v.outline())),
        );
    }
    out.sort_by(|a, b| (&a.0.path, a.0.line).cmp(&(&b.0.path, b.0.line)));
    out.extend(documents.iter().filter(|(o, _)| !plain(o)).cloned());
    out
}

/// Head's snapshot derived from `base`'s, when every path that differs is a plain manifest
/// nothing else reads (see the module's documentation); `None` when one is not, or `base` kept
/// no [`Basis`], or `revision` has no blob ids (a directory).
///
/// Errors: reading `revision`'s listing or a changed file.
pub(super) fn derive(
    base: &Snapshot,
    revision: &dyn Revision,
    config: &Config,
    cache: &ParseCache,
) -> Result<Option<Snapshot>, RevisionError> {
    let Some(basis) = &base.basis else {
        return Ok(None);
    };
    let Some(base_tree) = basis.tree else {
        return Ok(None);
    };
    let (files, changed) = match revision.changes_since(base_tree)? {
        // Git's diff of the two trees: only the changed entries are looked at.
        Some(changes) => {
            let mut files = base.files.clone();
            let mut changed = BTreeSet::new();
            for (path, entry) in changes {
                match entry {
                    Some(entry) => {
                        let Some(oid) = entry.oid else {
                            return Ok(None);
                        };
                        files.insert(path.clone(), SnapshotFile { entry, oid });
                    }
                    None => {
                        files.remove(&path);
                    }
                }
                changed.insert(path);
            }
            (files, changed)
        }
        None => {
            let mut files = Files::new();
            for entry in revision.files()? {
                let Some(oid) = entry.oid else {
                    return Ok(None);
                };
                files.insert(entry.path.clone(), SnapshotFile { entry, oid });
            }
            let changed = changed_paths(&base.files, &files);
            (files, changed)
        }
    };
    let flux = base.deployers.flux();
    let mut parsed: HashMap<&str, Parsed> = HashMap::new();
    // Applications added, removed or edited: deployers are learned again (below).
    let mut applications_change = false;
    // ApplicationSets added, removed or edited: head's sets are expanded (below).
    let mut sets_change = false;
    // Flux Kustomizations added, removed or edited in a revision with Flux objects: head's
    // Flux objects are learned again (below).
    let mut flux_change = false;
    for path in &changed {
        let sides = [base.files.get(path), files.get(path)];
        let plain = |file: &&SnapshotFile| {
            file.entry.kind == EntryKind::File && file.entry.size <= config.max_file_size
        };
        if CONFIG_PATHS.contains(&path.as_str())
            || !sides.iter().flatten().all(plain)
            || crate::render::may_render(path, config)
            || basis.inputs.contains(path)
            || basis.tools.iter().any(|dir| within(path, dir))
        {
            return Ok(None);
        }
        if !config.selects(path) {
            continue;
        }
        let json = path.ends_with(".json");
        for (side, file) in sides.iter().enumerate() {
            let Some(file) = file else { continue };
            let documents = match cache.get(file.oid, json) {
                Some(parsed) => parsed,
                None if side == 0 => return Ok(None),
                None => {
                    let bytes = revision.read(&file.entry)?;
                    let parsed: Parsed = Arc::new(split(path, &bytes));
                    cache.insert(file.oid, json, Arc::clone(&parsed));
                    parsed
                }
            };
            for doc in documents.as_ref().as_ref().map_or(&[][..], Vec::as_slice) {
                let read = flux.reads_data(doc.value.outline(), &config.deploy.default_namespace);
                if !reaches_beyond_itself(doc.value.outline(), read) {
                    continue;
                }
                if applicationset::is_application_set(doc.value.outline()) {
                    sets_change = true;
                    continue;
                }
                if is_kustomization(doc.value.outline()) && basis.flux_documents.is_some() {
                    flux_change = true;
                    continue;
                }
                if !argocd::is_argo(doc.value.outline(), "Application") {
                    return Ok(None);
                }
                applications_change = true;
            }
            if side == 1 {
                parsed.insert(path, documents);
            }
        }
    }
    // Head's ApplicationSets (base's, those of the changed files replaced, in apply order) are
    // expanded over head's files. When that gives what base's gave, base's generated
    // Applications stand; otherwise head's are placed again below and Applications are learned
    // again with them. An expansion that fails in part is not followed here.
    let plain = |o: &Origin| o.target.is_none() && o.generator.is_none();
    let mut generated: Option<RevisionExpansion> = None;
    if !basis.sets.is_empty() || sets_change {
        let sets = with_changed(&basis.sets, &changed, &parsed, read_by_sets);
        let paths: Vec<String> = files.keys().cloned().collect();
        let read = file_reader(&files, revision, config);
        let this_repository = |url: &str, revision: Option<&str>| {
            config.deploy.repository.deploys_from_here(url, revision)
        };
        let expansion = applicationset::expand_revision(
            &sets,
            &paths,
            &read,
            &config.argocd_clusters,
            &this_repository,
        );
        if expansion != basis.expansion {
            if !expansion.errors.is_empty() {
                return Ok(None);
            }
            generated = Some(expansion);
        }
    }

    // With Applications changed, or generated differently, Applications are learned again from
    // base's definitions with the changed files' and head's generated ones in their place (apply
    // order: plain files by path, then rendered, then generated documents); the files under
    // every Application that deploys differently are
    // placed again. A differing Application over a render, or over a file whose documents are
    // rendered or generated, is not followed here. Flux objects are base's: a change holding a
    // Flux object, or a document one reads, is not derived (above).
    // Where the files under deployers that deploy differently are found (both kinds below).
    let placed = PlacedAgain {
        files: &files,
        changed: &changed,
        basis,
        base,
    };
    let (deployers, replaced) = if applications_change || generated.is_some() {
        let definitions = basis.definitions.get_or_init(|| {
            basis
                .application_documents
                .iter()
                .filter_map(|(o, v)| Application::from_value(v.outline(), o, &config.deploy))
                .collect()
        });
        let mut read: Vec<Application> = definitions
            .iter()
            .filter(|a| plain(&a.origin) && !changed.contains(&a.origin.path))
            .cloned()
            .collect();
        for (path, parsed) in &parsed {
            read.extend(
                documents_of(path, parsed)
                    .into_iter()
                    .filter(|(_, v)| ObjectHead::of(v.outline()).is_some())
                    .filter_map(|(o, v)| Application::from_value(v.outline(), &o, &config.deploy)),
            );
        }
        read.sort_by(|a, b| (&a.origin.path, a.origin.line).cmp(&(&b.origin.path, b.origin.line)));
        // Rendered definitions, then generated ones: base's, or head's when the sets expand
        // differently.
        read.extend(
            definitions
                .iter()
                .filter(|a| !plain(&a.origin))
                .filter(|a| generated.is_none() || a.origin.generator.is_none())
                .cloned(),
        );
        if let Some(expansion) = &generated {
            read.extend(
                expansion
                    .documents
                    .iter()
                    .filter(|(_, v)| ObjectHead::of(v.outline()).is_some())
                    .filter_map(|(o, v)| Application::from_value(v.outline(), o, &config.deploy)),
            );
        }
        let deployers = base
            .deployers
            .with_applications(Applications::from_definitions(read, &config.deploy));
        let folders = base
            .deployers
            .applications()
            .differing_folders(deployers.applications());
        let Some(replaced) = placed.under(&folders, generated.is_some()) else {
            return Ok(None);
        };
        (Arc::new(deployers), replaced)
    } else {
        (Arc::clone(&base.deployers), BTreeSet::new())
    };

    // With Kustomizations changed, Flux objects are learned again from base's Flux documents
    // with the changed files' Kustomizations in their place (apply order as above), and the
    // files under every Kustomization that differs are read again and placed again: their
    // objects' cluster, namespace, substitutions and owners may differ, and so may whether a
    // written name is rewritten. Not followed here: a difference beyond Kustomizations (a
    // HelmRelease placed elsewhere, other data read), a Kustomization built with kustomize,
    // or one over a tool folder or a rendered or generated object.
    let (deployers, flux_replaced) = if flux_change {
        let Some(documents) = &basis.flux_documents else {
            return Ok(None);
        };
        let read = with_changed(documents, &changed, &parsed, |_, v| is_kustomization(v));
        let learned = Flux::learn(
            read.iter().map(|(origin, value)| (origin, value.outline())),
            &config.deploy,
        );
        let Some(differing) = deployers.flux().differing_kustomizations(&learned) else {
            return Ok(None);
        };
        if differing
            .iter()
            .any(|k| k.built.is_some() || k.spec.builds())
        {
            return Ok(None);
        }
        let folders: Vec<String> = differing.iter().map(|k| k.spec.path.clone()).collect();
        let Some(again) = placed.under(&folders, false) else {
            return Ok(None);
        };
        (Arc::new(deployers.with_flux(learned)), again)
    } else {
        (deployers, BTreeSet::new())
    };
    // What says whether a deployer rewrites a document (so that its written name is not
    // final): base's deployers as they were learned, unless Flux objects were learned again.
    let rewriter: &Deployers = if flux_change {
        &deployers
    } else {
        &basis.rounds
    };

    // Each unchanged file's run is base's.
    let Some(runs) = &basis.runs else {
        return Ok(None);
    };
    let mut objects = Objects::new();
    // Positions in `objects` of the objects built again.
    let mut fresh: Vec<usize> = Vec::new();
    // One file's objects as head's deployers place them, appended to `objects`.
    let place_again =
        |path: &str, documents: &Parsed, objects: &mut Objects, fresh: &mut Vec<usize>| {
            for (origin, value) in documents_of(path, documents) {
                if value.outline().is_object() {
                    let head = ObjectHead::of(value.outline());
                    let before = objects.len();
                    objects.extend(place(
                        origin,
                        value,
                        head,
                        &deployers,
                        &basis.scopes,
                        &config.deploy,
                    ));
                    fresh.extend(before..objects.len());
                }
            }
        };
    // A file read again for a differing Kustomization keeps its parse error and warnings (its
    // text is base's); whether a written name is final is judged again.
    let mut problems: Vec<Problem> = base
        .problems
        .iter()
        .filter(|p| !changed.contains(p.path()))
        .filter(|p| {
            !(matches!(p, Problem::InvalidObjectName { .. }) && flux_replaced.contains(p.path()))
        })
        .cloned()
        .collect();
    let mut warnings = base.warnings.clone();
    warnings.retain(|path, _| !changed.contains(path));
    let mut render_errors = Vec::new();
    // Files are visited in path order, as base's runs are: between two rebuilt files, the
    // unchanged files' objects are one part of base's, appended without looking up each file.
    let rebuilt: BTreeSet<String> = changed
        .iter()
        .chain(&replaced)
        .chain(&flux_replaced)
        .cloned()
        .collect();
    let mut copied = 0;
    for path in &rebuilt {
        let path = path.as_str();
        let next = runs
            .range::<str, _>((Bound::Included(path), Bound::Unbounded))
            .next();
        let start = next.map_or(base.plain, |(_, run)| run.start);
        append_part(&mut objects, &base.objects, copied..start);
        copied = start;
        let own = next.filter(|(p, _)| *p == path).map(|(_, run)| run.clone());
        if let Some(run) = &own {
            copied = run.end;
        }
        // A file the PR removes: its objects are gone.
        let Some(file) = files.get(path) else {
            continue;
        };
        let changed_here = parsed.contains_key(path);
        let documents = match parsed.get(path) {
            Some(documents) => Arc::clone(documents),
            // Under a differing Kustomization: read again whole, objects or not (a name that
            // was template text may be substituted now).
            None if flux_replaced.contains(path) && config.selects(path) => {
                let Some(documents) = cache.get(file.oid, path.ends_with(".json")) else {
                    return Ok(None);
                };
                documents
            }
            None => {
                let Some(run) = own else { continue };
                if !replaced.contains(path) {
                    append_part(&mut objects, &base.objects, run);
                    continue;
                }
                // Deployed differently now: the same documents, placed by head's deployers.
                let Some(documents) = cache.get(file.oid, path.ends_with(".json")) else {
                    return Ok(None);
                };
                place_again(path, &documents, &mut objects, &mut fresh);
                continue;
            }
        };
        let documents = &documents;
        match documents.as_ref() {
            Err(error) if changed_here => problems.push(Problem::Parse {
                path: path.to_string(),
                error: error.clone(),
            }),
            Err(_) => {}
            Ok(docs) => {
                let found: Vec<_> = docs.iter().flat_map(|d| d.warnings.clone()).collect();
                if changed_here && !found.is_empty() {
                    warnings.insert(path.to_string(), found);
                }
                for doc in docs {
                    if let Some(name) = crate::manifest::identity::invalid_name(doc.value.outline())
                        && !rewriter.rewrites(path, &doc.value)
                    {
                        problems.push(Problem::InvalidObjectName {
                            path: path.to_string(),
                            line: doc.line,
                            name: name.to_string(),
                        });
                    }
                }
            }
        }
        if config.deploy.strict_post_build_substitutions {
            for (origin, value) in documents_of(path, documents) {
                if value.outline().is_object() {
                    render_errors.extend(deployers.unresolved(&origin, &value, &config.deploy));
                }
            }
        }
        place_again(path, documents, &mut objects, &mut fresh);
    }
    append_part(&mut objects, &base.objects, copied..base.plain);
    let head_plain = objects.len();
    // Rendered objects are base's; generated ones too, unless the sets expand differently:
    // then head's generated Applications are placed as a whole load places them, last.
    match &generated {
        None => append_part(&mut objects, &base.objects, base.plain..base.objects.len()),
        Some(expansion) => {
            objects.extend(
                base.rendered_or_generated()
                    .filter(|o| o.origin.generator.is_none())
                    .cloned(),
            );
            for (origin, value) in &expansion.documents {
                if !value.outline().is_object() {
                    continue;
                }
                if config.deploy.strict_post_build_substitutions {
                    render_errors.extend(deployers.unresolved(origin, value, &config.deploy));
                }
                let before = objects.len();
                objects.extend(place(
                    origin.clone(),
                    Arc::clone(value),
                    ObjectHead::of(value.outline()),
                    &deployers,
                    &basis.scopes,
                    &config.deploy,
                ));
                fresh.extend(before..objects.len());
            }
        }
    }
    // Every identity a rebuilt object has on either side, and those of generated Applications
    // (whose newness follows their producer, not their file).
    let mut identities: Vec<Identity> = rebuilt
        .iter()
        .filter_map(|path| runs.get(path.as_str()))
        .flat_map(|run| base.objects_in(run.clone()))
        .chain(fresh.iter().map(|&i| &objects[i]))
        .chain(
            base.rendered_or_generated()
                .filter(|o| o.origin.generator.is_some()),
        )
        .filter_map(|o| o.identity.clone())
        .collect();
    identities.sort_unstable();
    identities.dedup();
    problems.sort_by(|a, b| a.path().cmp(b.path()));
    let generated_again = generated.is_some();
    tracing::debug!(
        revision = revision.label(),
        changed = changed.len(),
        generated_again,
        "snapshot derived from the base's"
    );
    Ok(Some(Snapshot {
        label: revision.label().to_string(),
        files,
        objects,
        problems,
        warnings,
        targets: base.targets.clone(),
        render_errors,
        set_notices: generated
            .map_or_else(|| base.set_notices.clone(), |expansion| expansion.notices),
        deployer_notices: deployers.notices().to_vec(),
        unanalysed: base.unanalysed.clone(),
        deployers,
        basis: None,
        derived: Some(Derived {
            base: base_tree,
            rebuilt: Arc::new(rebuilt),
            changed: Arc::new(changed),
            identities: Arc::new(identities),
            fresh: Arc::new(fresh),
            generated_again,
        }),
        plain: head_plain,
        unchanged: std::sync::OnceLock::new(),
        positions: std::sync::OnceLock::new(),
    }))
}
