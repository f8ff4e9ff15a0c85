//! Argo CD awareness: which Application deploys a file, to which cluster and namespace.
//!
//! Why: in an Argo CD repository the cluster an object lands on is written in the Application
//! that deploys its folder (`spec.destination`), not in the object. Reading it gives objects their
//! real cluster and default namespace without a `clusters:` pattern, and tells the rules which
//! objects Argo CD manages and which Applications share an object.
//!
//! What counts: an Application's effective definition (the last of duplicates, as Argo CD keeps
//! it), each of its `spec.source` / `spec.sources[]` entries that has a `path`, no `chart`, and
//! reads this repository at the revision under review ([`ThisRepository`]); a source of another
//! repository, a chart repository or a pinned tag places nothing here. Like Argo CD's directory
//! sources, a path covers the files directly in that folder, and the whole subtree when
//! `directory.recurse` is true, filtered by `directory.include` / `exclude` (globs on the path
//! relative to the source folder, `*` crossing `/`, as argo-cd `reposerver/repository/
//! repository.go` `getPotentiallyValidManifestFile` matches them with gobwas/glob). A folder
//! holding a kustomization or a chart is rendered with the Application's parameters instead
//! (see [`Application::recipe`]). A `clusters:` pattern that matches a file still names its
//! cluster.

use std::collections::HashMap;

use globset::GlobMatcher;
use serde_json::Value;

use super::repository::ThisRepository;
use super::{Deployer, Owner, OwnerKind, Placement, Settings, non_empty, normalize_path};
use crate::manifest::field::field;
use crate::manifest::{Origin, RenderedObject};
use crate::render::{
    HelmOverrides, KustomizeEdit, RenderFailure, SourceKind, Target, Tool, ToolFolder,
};

/// The finalizer that makes deleting an Application delete everything it manages.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
/// The per-object annotation holding Argo CD sync options.
pub const SYNC_OPTIONS: &str = "argocd.argoproj.io/sync-options";
/// The API server address Argo CD calls `in-cluster`.
const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";

/// Whether a written `apiVersion` and `kind` are an Argo CD `group/kind`.
pub fn is_argo(value: &Value, kind: &str) -> bool {
    field(value, "kind").as_str() == Some(kind)
        && field(value, "apiVersion")
            .as_str()
            .is_some_and(|v| v.starts_with("argoproj.io/"))
}

/// Positions (into `values`) of one longest strictly increasing subsequence, ascending.
fn longest_increasing(values: &[usize]) -> Vec<usize> {
    // tails[k]: position of the smallest last value of an increasing run of length k + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut previous: Vec<Option<usize>> = vec![None; values.len()];
    for (position, value) in values.iter().enumerate() {
        let length = tails.partition_point(|&t| values[t] < *value);
        previous[position] = length.checked_sub(1).map(|l| tails[l]);
        if length == tails.len() {
            tails.push(position);
        } else {
            tails[length] = position;
        }
    }
    let mut run = Vec::with_capacity(tails.len());
    let mut at = tails.last().copied();
    while let Some(position) = at {
        run.push(position);
        at = previous[position];
    }
    run.reverse();
    run
}

/// The sync options of an object's `argocd.argoproj.io/sync-options` annotation, split on commas
/// and trimmed exactly as Argo CD reads them (`Prune=false,Delete=false`). Reads only metadata,
/// so an outline ([`crate::manifest::LazyValue::outline`]) will do.
pub fn sync_options(value: &Value) -> Vec<&str> {
    value["metadata"]["annotations"][SYNC_OPTIONS]
        .as_str()
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether Argo CD will not prune an object deployed by `owners`: its own annotation says
/// `Prune=false`, or it sets no `Prune=` option and every owning Application sets `Prune=false`
/// as its default (an object's own option overrides its Application's, as Argo CD documents).
/// Reads only `value`'s metadata: an outline will do.
pub fn prune_disabled(value: &Value, owners: &[&Application]) -> bool {
    let own = sync_options(value);
    if own.iter().any(|o| o.starts_with("Prune=")) {
        return own.contains(&"Prune=false");
    }
    !owners.is_empty()
        && owners
            .iter()
            .all(|app| app.sync_options.iter().any(|o| o == "Prune=false"))
}

/// One folder of this repository an Application deploys.
#[derive(Debug, Clone)]
pub struct Source {
    /// Repository path without leading `./` or trailing `/`; empty for the root.
    pub path: String,
    /// `directory.recurse: true`: the whole subtree, not only the folder's own files.
    pub recurse: bool,
    /// `directory.include` / `directory.exclude`, relative to `path`.
    include: Option<GlobMatcher>,
    exclude: Option<GlobMatcher>,
    /// The written `helm` section (`Null` when absent).
    pub helm: Value,
    /// The written `kustomize` section (`Null` when absent).
    pub kustomize: Value,
}

/// Two sources are the same when they read the same folder the same way (globs compared as
/// written).
impl PartialEq for Source {
    fn eq(&self, other: &Self) -> bool {
        let glob = |g: &Option<GlobMatcher>| g.as_ref().map(|g| g.glob().glob().to_string());
        self.path == other.path
            && self.recurse == other.recurse
            && glob(&self.include) == glob(&other.include)
            && glob(&self.exclude) == glob(&other.exclude)
            && self.helm == other.helm
            && self.kustomize == other.kustomize
    }
}

impl Source {
    fn read(source: &Value) -> Option<Self> {
        let path = source["path"].as_str()?;
        let directory = &source["directory"];
        let glob = |key: &str| {
            non_empty(&directory[key]).and_then(|g| {
                globset::GlobBuilder::new(g)
                    .literal_separator(false)
                    .build()
                    .ok()
                    .map(|g| g.compile_matcher())
            })
        };
        Some(Self {
            path: normalize_path(path),
            recurse: directory["recurse"].as_bool() == Some(true),
            include: glob("include"),
            exclude: glob("exclude"),
            helm: source["helm"].clone(),
            kustomize: source["kustomize"].clone(),
        })
    }

    /// Whether this source deploys the repository file `path`.
    pub fn covers(&self, path: &str) -> bool {
        let dir = parent(path);
        let inside = dir == self.path
            || (self.recurse
                && (self.path.is_empty() || dir.starts_with(&format!("{}/", self.path))));
        let relative = if self.path.is_empty() {
            path
        } else {
            path.get(self.path.len() + 1..).unwrap_or(path)
        };
        inside && self.admits(relative)
    }

    /// Whether the directory filters let a file (relative to the source folder) through. Tool
    /// marker files are never filtered: they stand for the folder's rendered output.
    fn admits(&self, relative: &str) -> bool {
        let name = relative.rsplit('/').next().unwrap_or(relative);
        if name == "Chart.yaml" || crate::render::is_kustomization(name) {
            return true;
        }
        self.include.as_ref().is_none_or(|g| g.is_match(relative))
            && !self.exclude.as_ref().is_some_and(|g| g.is_match(relative))
    }
}

/// The parts of an Argo CD Application clobbercheck uses.
#[derive(Debug, Clone)]
pub struct Application {
    /// `metadata.name`: with the namespace, what Argo CD knows it by.
    pub name: String,
    /// The Argo CD namespace the Application lives in.
    pub namespace: String,
    /// Where its effective definition is.
    pub origin: Origin,
    /// `destination.name`, else `destination.server` (`in-cluster` for the local API server).
    pub cluster: Option<String>,
    /// `destination.namespace`: the namespace of its objects that name none.
    pub destination_namespace: Option<String>,
    /// The folders of this repository it deploys.
    pub sources: Vec<Source>,
    /// Multi-source `ref` names whose source is this repository at the revision under review:
    /// `$name/file` value files read this repository's `file`.
    pub refs: Vec<String>,
    /// Carries the resources finalizer: deleting it deletes everything it manages.
    pub cascades: bool,
    /// `syncPolicy.automated.prune: true`: objects that leave its output are deleted.
    pub prunes: bool,
    /// `spec.project`: deleting that AppProject stops this Application.
    pub project: Option<String>,
    /// `spec.syncPolicy.syncOptions`: defaults for all its objects (`Prune=false`...).
    pub sync_options: Vec<String>,
}

impl Application {
    /// Whether two definitions deploy the same way wherever each is written.
    fn same_but_origin(&self, other: &Application) -> bool {
        self.name == other.name
            && self.namespace == other.namespace
            && self.cluster == other.cluster
            && self.destination_namespace == other.destination_namespace
            && self.sources == other.sources
            && self.refs == other.refs
            && self.cascades == other.cascades
            && self.prunes == other.prunes
            && self.project == other.project
            && self.sync_options == other.sync_options
    }

    /// Reads an Application document; `None` for anything else or an Application without name.
    pub fn from_value(value: &Value, origin: &Origin, settings: &Settings) -> Option<Self> {
        if !is_argo(value, "Application") {
            return None;
        }
        let metadata = &value["metadata"];
        let name = metadata["name"].as_str().filter(|n| !n.is_empty())?;
        let spec = &value["spec"];
        let destination = &spec["destination"];
        let cluster = non_empty(&destination["name"])
            .map(str::to_string)
            .or_else(|| {
                non_empty(&destination["server"]).map(|s| {
                    if s.trim_end_matches('/') == IN_CLUSTER_SERVER {
                        "in-cluster".to_string()
                    } else {
                        s.to_string()
                    }
                })
            });
        let mut sources = Vec::new();
        let mut refs = Vec::new();
        let listed = spec["sources"].as_array().into_iter().flatten();
        for source in std::iter::once(&spec["source"]).chain(listed) {
            if non_empty(&source["chart"]).is_some() || !from_here(source, &settings.repository) {
                continue;
            }
            if let Some(name) = non_empty(&source["ref"]) {
                refs.push(name.to_string());
            }
            sources.extend(Source::read(source));
        }
        Some(Self {
            name: name.to_string(),
            namespace: non_empty(&metadata["namespace"])
                .unwrap_or(&settings.default_namespace)
                .to_string(),
            origin: origin.clone(),
            cluster,
            destination_namespace: non_empty(&destination["namespace"]).map(str::to_string),
            sources,
            refs,
            cascades: metadata["finalizers"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f.as_str() == Some(RESOURCES_FINALIZER))),
            prunes: spec["syncPolicy"]["automated"]["prune"].as_bool() == Some(true),
            project: non_empty(&spec["project"]).map(str::to_string),
            sync_options: spec["syncPolicy"]["syncOptions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o.as_str().map(|o| o.trim().to_string()))
                .collect(),
        })
    }

    /// How Argo CD renders `source` (one of this Application's) when its folder is a
    /// kustomization or a chart: the tool with the Application's parameters. An error names a
    /// parameter that cannot be honoured offline (a value file of another repository).
    ///
    /// Helm: the release name is `helm.releaseName`, else the Application's name; value files
    /// are relative to the chart, `$ref/file` reads `file` of a `ref` source; `values` (text) or
    /// `valuesObject` come after them; `parameters` become `--set` / `--set-string`
    /// (argoproj/argo-cd `reposerver/repository/repository.go`, `helmTemplate`). Kustomize:
    /// `namePrefix`, `nameSuffix`, `namespace`, `commonLabels` (`util/kustomize/kustomize.go`).
    pub fn recipe(&self, source: &Source, tool: Tool) -> Result<SourceKind, String> {
        match tool {
            Tool::Kustomize => {
                let k = &source.kustomize;
                let text = |key: &str| non_empty(&k[key]).map(str::to_string);
                Ok(SourceKind::Kustomize(KustomizeEdit {
                    name_prefix: text("namePrefix"),
                    name_suffix: text("nameSuffix"),
                    namespace: text("namespace"),
                    common_labels: k["commonLabels"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(key, v)| (key.clone(), scalar_text(v)))
                        .collect(),
                    ..KustomizeEdit::default()
                }))
            }
            Tool::Helm => {
                let h = &source.helm;
                let mut values = Vec::new();
                for file in h["valueFiles"].as_array().into_iter().flatten() {
                    let Some(file) = file.as_str() else { continue };
                    values.push(self.value_file(&source.path, file)?);
                }
                let inline_values = match (&h["valuesObject"], non_empty(&h["values"])) {
                    (object @ Value::Object(_), _) => Some(object.to_string()),
                    (_, Some(text)) => Some(text.to_string()),
                    _ => None,
                };
                let parameters = h["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| {
                        let name = non_empty(&p["name"])?;
                        Some((
                            name.to_string(),
                            scalar_text(&p["value"]),
                            p["forceString"].as_bool() == Some(true),
                        ))
                    })
                    .collect();
                let release = non_empty(&h["releaseName"])
                    .unwrap_or(&self.name)
                    .to_string();
                Ok(SourceKind::Helm {
                    values,
                    release,
                    app: HelmOverrides {
                        inline_values,
                        parameters,
                        namespace: non_empty(&h["namespace"])
                            .map(str::to_string)
                            .or_else(|| self.destination_namespace.clone()),
                    },
                })
            }
        }
    }

    /// A `valueFiles` entry as a path relative to the chart folder `chart`.
    fn value_file(&self, chart: &str, file: &str) -> Result<String, String> {
        let Some(rest) = file.strip_prefix('$') else {
            return Ok(file.to_string());
        };
        let (name, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !self.refs.iter().any(|r| r == name) {
            return Err(format!(
                "value file {file} of Application {} reads the `ref` source ${name}, which is not \
                 this repository at the revision under review: not available offline",
                self.name
            ));
        }
        let depth = chart.split('/').filter(|s| !s.is_empty()).count();
        Ok(format!("{}{path}", "../".repeat(depth)))
    }

    /// The Application as an owner of the objects it deploys.
    pub fn owner(&self) -> Owner {
        Owner {
            kind: OwnerKind::Application,
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// The Application as the deployer layer describes every deployer.
    pub fn deployer(&self) -> Deployer {
        Deployer {
            owner: self.owner(),
            origin: self.origin.clone(),
            cluster: self.cluster.clone(),
            namespace: self.destination_namespace.clone(),
            paths: self.sources.iter().map(|s| s.path.clone()).collect(),
            prunes: self.prunes,
            cascades: self.cascades,
        }
    }

    /// Whether the Application deploys the repository file `path`.
    pub fn covers(&self, path: &str) -> bool {
        self.sources.iter().any(|s| s.covers(path))
    }

    /// `Application name (file:line, deploying a, b to cluster, namespace ns)` for messages.
    pub fn describe(&self) -> String {
        let paths: Vec<String> = self
            .sources
            .iter()
            .map(|s| {
                if s.path.is_empty() {
                    "/".to_string()
                } else {
                    s.path.clone()
                }
            })
            .collect();
        format!(
            "Application {} ({}:{}, deploying {} to {})",
            self.name,
            self.origin.path,
            self.origin.line,
            if paths.is_empty() {
                "no path of this repository".to_string()
            } else {
                paths.join(", ")
            },
            self.destination()
        )
    }

    /// `cluster, namespace ns` of the destination, for messages.
    pub fn destination(&self) -> String {
        let cluster = self.cluster.as_deref().unwrap_or("no cluster");
        match &self.destination_namespace {
            Some(namespace) => format!("{cluster}, namespace {namespace}"),
            None => cluster.to_string(),
        }
    }
}

/// The effective Applications of one revision, indexed by the folders they deploy.
#[derive(Debug, Clone, Default)]
pub struct Applications {
    apps: Vec<Application>,
    /// Folder → Applications deploying exactly that folder (any `recurse`).
    by_dir: HashMap<String, Vec<usize>>,
    /// Whether any source recurses (then parent folders are looked up too).
    recursive: bool,
}

impl Applications {
    /// Learns the Applications among documents given in apply order: of several definitions
    /// with one namespace and name (on one cluster of the `clusters:` pattern), the last one is
    /// what Argo CD keeps.
    pub fn learn<'a>(
        documents: impl IntoIterator<Item = (&'a Origin, &'a Value)>,
        settings: &Settings,
    ) -> Self {
        Self::from_definitions(
            documents
                .into_iter()
                .filter_map(|(origin, value)| Application::from_value(value, origin, settings)),
            settings,
        )
    }

    /// [`Applications::learn`] from definitions already read ([`Application::from_value`] of
    /// each document, in apply order; `settings` must be the ones they were read with). Why: a
    /// head derived from its base reads again only the changed files' Applications, and reading
    /// every definition again costs a few microseconds each in cache misses (about 30 ms for
    /// 4,000 Applications).
    pub fn from_definitions(
        definitions: impl IntoIterator<Item = Application>,
        settings: &Settings,
    ) -> Self {
        let cluster_of = |origin: &Origin| {
            settings
                .clusters
                .as_ref()
                .and_then(|p| p.cluster_of(&origin.path))
        };
        // A later definition of one Application (name, namespace, cluster) replaces the earlier
        // one and takes its place in apply order; found by key, not by a scan of those kept.
        let mut slots: Vec<Option<Application>> = Vec::new();
        let mut slot_of: HashMap<(String, String, Option<String>), usize> = HashMap::new();
        for app in definitions {
            let key = (
                app.name.clone(),
                app.namespace.clone(),
                cluster_of(&app.origin),
            );
            if let Some(earlier) = slot_of.insert(key, slots.len()) {
                slots[earlier] = None;
            }
            slots.push(Some(app));
        }
        let apps: Vec<Application> = slots.into_iter().flatten().collect();
        let mut by_dir: HashMap<String, Vec<usize>> = HashMap::new();
        let mut recursive = false;
        for (index, app) in apps.iter().enumerate() {
            for source in &app.sources {
                recursive |= source.recurse;
                let entry = by_dir.entry(source.path.clone()).or_default();
                if !entry.contains(&index) {
                    entry.push(index);
                }
            }
        }
        Self {
            apps,
            by_dir,
            recursive,
        }
    }

    /// The Applications among a snapshot's objects (a document deployed to several clusters is
    /// one object per cluster, but one Application definition).
    pub fn from_objects(objects: &[RenderedObject], settings: &Settings) -> Self {
        let mut seen = std::collections::HashSet::new();
        Self::learn(
            objects
                .iter()
                .filter(|o| seen.insert(&o.origin))
                .map(|o| (&o.origin, o.value.outline())),
            settings,
        )
    }

    /// The kustomization and chart folders these Applications deploy, each with the recipe Argo
    /// CD renders it with (one render per distinct folder and recipe, in apply order); a recipe
    /// that cannot be honoured offline is a failure at the Application.
    pub fn tool_targets(
        &self,
        tools: &HashMap<&str, &ToolFolder>,
    ) -> (Vec<(SourceKind, Target)>, Vec<RenderFailure>) {
        let mut targets: Vec<(SourceKind, Target)> = Vec::new();
        let mut failures = Vec::new();
        for app in &self.apps {
            for source in &app.sources {
                let Some(folder) = tools.get(source.path.as_str()) else {
                    continue;
                };
                match app.recipe(source, folder.tool) {
                    Ok(kind) => {
                        let known = targets
                            .iter()
                            .any(|(k, t)| t.name == folder.dir && k == &kind);
                        if !known {
                            let target = Target {
                                name: folder.dir.clone(),
                                entry: folder.entry.clone(),
                            };
                            targets.push((kind, target));
                        }
                    }
                    Err(message) => failures.push(RenderFailure {
                        target: folder.dir.clone(),
                        path: app.origin.path.clone(),
                        line: app.origin.line,
                        column: 1,
                        message,
                        checked: false,
                    }),
                }
            }
        }
        (targets, failures)
    }

    /// Whether a file that a tool would consume is nevertheless deployed as a plain manifest:
    /// some Application deploys a folder holding it as a directory (a folder no tool renders).
    pub fn deploys_as_directory(&self, path: &str, tools: &HashMap<&str, &ToolFolder>) -> bool {
        self.owners(path).iter().any(|app| {
            app.sources
                .iter()
                .any(|s| !tools.contains_key(s.path.as_str()) && s.covers(path))
        })
    }

    /// Every effective Application, in apply order.
    pub fn all(&self) -> &[Application] {
        &self.apps
    }

    /// The folders whose files `other` may place differently than `self` does: the source
    /// folders of every Application one has and the other has not, that differs beyond where it
    /// is written, or whose place in apply order among the others changed (the longest run of
    /// matching Applications in the same relative order keeps its place). Files elsewhere get
    /// the same owners, clusters and namespaces under both.
    pub fn differing_folders(&self, other: &Applications) -> Vec<String> {
        // Each Application of `other` matched to the first unmatched equal one of `self`.
        let mut taken = vec![false; self.apps.len()];
        let mut by_name: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
        for (i, app) in self.apps.iter().enumerate() {
            by_name
                .entry((app.name.as_str(), app.namespace.as_str()))
                .or_default()
                .push(i);
        }
        let mut matched: Vec<(usize, usize)> = Vec::new();
        let mut differing: Vec<&Application> = Vec::new();
        for (j, theirs) in other.apps.iter().enumerate() {
            let candidates = by_name
                .get(&(theirs.name.as_str(), theirs.namespace.as_str()))
                .map_or(&[][..], Vec::as_slice);
            let found = candidates
                .iter()
                .copied()
                .find(|&i| !taken[i] && self.apps[i].same_but_origin(theirs));
            match found {
                Some(i) => {
                    taken[i] = true;
                    matched.push((i, j));
                }
                None => differing.push(theirs),
            }
        }
        differing.extend(
            self.apps
                .iter()
                .zip(&taken)
                .filter(|(_, taken)| !**taken)
                .map(|(app, _)| app),
        );
        // Pairs come in `other`'s order; those whose `self` index is on a longest increasing
        // run keep their relative order (patience sorting).
        let kept = longest_increasing(&matched.iter().map(|(i, _)| *i).collect::<Vec<_>>());
        for (k, (i, _)) in matched.iter().enumerate() {
            if kept.binary_search(&k).is_err() {
                differing.push(&self.apps[*i]);
            }
        }
        let mut folders: Vec<String> = differing
            .iter()
            .flat_map(|app| app.sources.iter().map(|s| s.path.clone()))
            .collect();
        folders.sort();
        folders.dedup();
        folders
    }

    /// The Applications that deploy a repository file.
    pub fn owners(&self, path: &str) -> Vec<&Application> {
        let mut dir = parent(path);
        let mut found: Vec<usize> = Vec::new();
        loop {
            for &index in self.by_dir.get(dir).into_iter().flatten() {
                if !found.contains(&index) && self.apps[index].covers(path) {
                    found.push(index);
                }
            }
            if !self.recursive || dir.is_empty() {
                break;
            }
            dir = parent(dir);
        }
        found.sort_unstable();
        found.into_iter().map(|i| &self.apps[i]).collect()
    }

    /// Where a file's objects land when `app` deploys it (`None`: no Application does).
    pub fn placement(app: Option<&Application>, path: &str, settings: &Settings) -> Placement {
        let pattern = settings.clusters.as_ref().and_then(|p| p.cluster_of(path));
        Placement {
            cluster: pattern.or_else(|| app.and_then(|a| a.cluster.clone())),
            namespace: app
                .and_then(|a| a.destination_namespace.clone())
                .unwrap_or_else(|| settings.default_namespace.clone()),
            rewritten: None,
        }
    }
}

/// Whether a written source reads this repository at the revision under review.
fn from_here(source: &Value, repository: &ThisRepository) -> bool {
    let url = source["repoURL"].as_str().unwrap_or_default();
    repository.deploys_from_here(url, source["targetRevision"].as_str())
}

/// A label or parameter value as text (YAML may have read `true` or `3`).
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn origin(path: &str) -> Origin {
        Origin {
            path: path.into(),
            line: 1,
            end_line: 1,
            target: None,
            generator: None,
        }
    }

    fn app(name: &str, path: &str, server: &str, recurse: bool) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
               "metadata": {"name": name, "namespace": "argocd"},
               "spec": {"source": {"path": path, "directory": {"recurse": recurse}},
                        "destination": {"server": server, "namespace": "web"}}})
    }

    #[test]
    fn sync_options_are_comma_separated_and_trimmed() {
        let v = json!({"metadata": {"annotations": {SYNC_OPTIONS: "Prune=false, Delete=false"}}});
        assert_eq!(sync_options(&v), vec!["Prune=false", "Delete=false"]);
        assert!(sync_options(&json!({})).is_empty());
    }

    #[test]
    fn prune_false_on_the_object_overrides_the_application_default() {
        let mut with_default = app("a", "apps", "https://kubernetes.default.svc", false);
        with_default["spec"]["syncPolicy"] = json!({"syncOptions": ["Prune=false"]});
        let o = origin("root/a.yaml");
        let a = Application::from_value(&with_default, &o, &Settings::default()).unwrap();
        let plain = json!({"metadata": {}});
        let pruned = json!({"metadata": {"annotations": {SYNC_OPTIONS: "Prune=true"}}});
        let protected = json!({"metadata": {"annotations": {SYNC_OPTIONS: "Prune=false"}}});
        assert!(prune_disabled(&plain, &[&a]));
        assert!(!prune_disabled(&pruned, &[&a]));
        assert!(prune_disabled(&protected, &[]));
        assert!(!prune_disabled(&plain, &[]));
    }

    #[test]
    fn owners_follow_recurse_and_last_definition_wins() {
        let a = app("a", "./apps/web/", "https://kubernetes.default.svc", false);
        let b = app("b", "apps", "https://c2.example.com", true);
        let a2 = app("a", "apps/other", "https://kubernetes.default.svc", false);
        let (oa, ob, oa2) = (
            origin("root/a.yaml"),
            origin("root/b.yaml"),
            origin("root/a2.yaml"),
        );
        let config = Settings::default();
        let apps = Applications::learn([(&oa, &a), (&ob, &b)], &config);
        let owners: Vec<&str> = apps
            .owners("apps/web/d.yaml")
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        assert_eq!(owners, vec!["a", "b"]);
        assert_eq!(apps.all()[0].cluster.as_deref(), Some("in-cluster"));
        assert!(
            apps.owners("apps/web/sub/d.yaml")
                .iter()
                .all(|a| a.name == "b")
        );
        assert!(apps.owners("other/d.yaml").is_empty());
        let apps = Applications::learn([(&oa, &a), (&oa2, &a2)], &config);
        assert_eq!(apps.all().len(), 1);
        assert!(apps.owners("apps/web/d.yaml").is_empty());
        assert_eq!(apps.owners("apps/other/d.yaml").len(), 1);
        // Same name on two clusters of the `clusters:` pattern: two Applications.
        let config = crate::Config::parse("clusters: 'env/{cluster}/**'\n", "c.yml").unwrap();
        let (o1, o2) = (origin("env/c1/a.yaml"), origin("env/c2/a.yaml"));
        let apps = Applications::learn([(&o1, &a), (&o2, &a2)], &config.deploy);
        assert_eq!(apps.all().len(), 2);
    }
}
