//! Flux awareness: which Kustomizations and HelmReleases deploy what, to which cluster.
//!
//! Why: half of GitOps runs on Flux, with the same blind spot as Argo CD: two Kustomizations
//! rendering one object both apply it, and two HelmReleases with one release identity upgrade
//! each other's release (issue 11). This reader feeds the deployer layer ([`super::Deployers`])
//! exactly as the Argo CD reader does, so rules see owners, not tools.
//!
//! The tree of one cluster is known from its root: `flux bootstrap` writes
//! `clusters/<name>/flux-system/gotk-sync.yaml` (fluxcd/flux2 `pkg/manifestgen/sync`) with the
//! `GitRepository` and the root `Kustomization` deploying `clusters/<name>`; a Kustomization
//! defined in a `flux-system` folder is such a root, and its cluster is the folder's parent's
//! name. A Kustomization or HelmRelease is applied to the cluster of every Kustomization whose
//! output holds its file (its `spec.kubeConfig` secret names another cluster), so the same
//! object under `clusters/staging` and `clusters/production` is two objects. One that no root
//! reaches is applied to the cluster the `clusters:` pattern names, else to no named cluster.

pub mod helmrelease;
pub mod kustomization;
pub mod source;
pub mod substitute;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::{Deployer, Owner, OwnerKind, Settings, non_empty, normalize_path};
use crate::manifest::Origin;
use crate::manifest::field::field;
use crate::render::{HelmOverrides, KustomizeEdit, SourceKind, Target, Tool, ToolFolder};
use helmrelease::{Chart, HelmRelease};
use kustomization::Kustomization;
use source::GitRepository;

/// The annotation (or label) with value `disabled` that makes kustomize-controller leave an
/// object on the cluster when it leaves a pruning Kustomization's output (kustomize-controller
/// docs, "Prune": https://fluxcd.io/flux/components/kustomize/kustomizations/#prune).
pub const PRUNE_KEY: &str = "kustomize.toolkit.fluxcd.io/prune";

/// Whether Flux will not prune an object: it carries `kustomize.toolkit.fluxcd.io/prune:
/// disabled` as an annotation or label. Reads only metadata: an outline will do.
pub fn prune_disabled(value: &Value) -> bool {
    let metadata = &value["metadata"];
    ["annotations", "labels"]
        .iter()
        .any(|k| metadata[k][PRUNE_KEY].as_str() == Some("disabled"))
}

/// The folder name `flux bootstrap` gives a cluster's own Flux objects.
const BOOTSTRAP_FOLDER: &str = "flux-system";
/// Most nesting levels of Kustomizations followed from a root.
const MAX_DEPTH: usize = 16;

/// What one Kustomization or HelmRelease is, once placed on one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance<T> {
    pub spec: T,
    /// The cluster it applies to (`None`: unnamed).
    pub cluster: Option<String>,
    /// Whether its source is this repository at the revision under review.
    pub here: bool,
    /// Post-build variables (Kustomizations): `substituteFrom` then `substitute`.
    pub vars: BTreeMap<String, String>,
    /// The render target building its output, for a Kustomization built with kustomize
    /// ([`Kustomization::builds`]).
    pub built: Option<String>,
}

/// Every Flux deployer of one revision, placed on its clusters.
#[derive(Debug, Clone, Default)]
pub struct Flux {
    kustomizations: Vec<Instance<Kustomization>>,
    releases: Vec<Instance<HelmRelease>>,
    /// What is not followed, at the deployer that says so.
    notices: Vec<(Origin, String)>,
    /// The render targets of Kustomizations built with kustomize (`built` above).
    build_targets: HashSet<String>,
    /// The ConfigMaps and Secrets a Kustomization's `substituteFrom` or a HelmRelease's
    /// `valuesFrom` names: `(kind, namespace, name)`, the namespace the deployer's own, as Flux
    /// resolves them.
    data_read: HashSet<(String, String, String)>,
}

impl Flux {
    /// Whether the revision has no Kustomization and no HelmRelease (then nothing reads its
    /// ConfigMaps and Secrets as Flux data).
    pub fn is_empty(&self) -> bool {
        self.kustomizations.is_empty() && self.releases.is_empty()
    }

    /// Learns the Flux objects among documents given in apply order.
    pub fn learn<'a>(
        documents: impl IntoIterator<Item = (&'a Origin, &'a Value)>,
        settings: &Settings,
    ) -> Self {
        let ns = settings.default_namespace.as_str();
        let mut repos: HashMap<(String, String), GitRepository> = HashMap::new();
        let mut specs: Vec<Kustomization> = Vec::new();
        let mut helm: Vec<HelmRelease> = Vec::new();
        // ConfigMaps and Secrets, keyed only when a Kustomization or HelmRelease may read them.
        let mut data_documents: Vec<(&str, &'a Value)> = Vec::new();
        for (origin, value) in documents {
            // The kind is read once; each reader below checks it (and the group) again.
            match field(value, "kind").as_str() {
                Some("GitRepository") => {
                    if let Some(repo) = GitRepository::from_value(value, origin, ns) {
                        repos.insert((repo.namespace.clone(), repo.name.clone()), repo);
                    }
                }
                Some("Kustomization") => specs.extend(Kustomization::from_value(value, origin, ns)),
                Some("HelmRelease") => helm.extend(HelmRelease::from_value(value, origin, ns)),
                Some(kind @ ("ConfigMap" | "Secret")) => data_documents.push((kind, value)),
                _ => {}
            }
        }
        if specs.is_empty() && helm.is_empty() {
            return Self::default();
        }
        let mut data: HashMap<(&str, String, String), &'a Value> = HashMap::new();
        for (kind, value) in data_documents {
            if value["apiVersion"] == "v1"
                && let Some(name) = non_empty(&value["metadata"]["name"])
            {
                let namespace = non_empty(&value["metadata"]["namespace"]).unwrap_or(ns);
                data.insert((kind, namespace.to_string(), name.to_string()), value);
            }
        }
        let mut notices = Vec::new();
        // Whether a deployer's source is this repository at the revision under review; the
        // notice names the deployer and what it reads instead.
        let here = |source: Option<&source::SourceRef>| -> Result<(), String> {
            match source {
                None => Err("it names no sourceRef".to_string()),
                Some(s) if s.kind != "GitRepository" => Err(format!(
                    "its source {s} is outside this repository (only GitRepository sources \
                     read it)"
                )),
                Some(s) => match repos.get(&(s.namespace.clone(), s.name.clone())) {
                    Some(repo) => repo.reads_here(&settings.repository),
                    None if !settings.repository.is_known() => Ok(()),
                    None => Err(format!("its source {s} is not defined in this revision")),
                },
            }
        };
        let mut followed =
            |kind: OwnerKind, namespace: &str, name: &str, origin: &Origin, why| match why {
                Ok(()) => true,
                Err(why) => {
                    notices.push((
                        origin.clone(),
                        format!(
                            "{} {namespace}/{name} is not followed: {why}, so what it deploys \
                             is not checked here",
                            kind.as_str()
                        ),
                    ));
                    false
                }
            };
        let k_here: Vec<bool> = specs
            .iter()
            .map(|k| {
                let why = here(k.source.as_ref());
                followed(
                    OwnerKind::Kustomization,
                    &k.namespace,
                    &k.name,
                    &k.origin,
                    why,
                )
            })
            .collect();
        let hr_here: Vec<bool> = helm
            .iter()
            .map(|hr| {
                let why = match &hr.chart {
                    Chart::Git { source, .. } => here(Some(source)),
                    Chart::Elsewhere(what) => Err(format!(
                        "its {what} is outside this repository and is not fetched (its release \
                         identity is still checked)"
                    )),
                };
                followed(
                    OwnerKind::HelmRelease,
                    &hr.namespace,
                    &hr.name,
                    &hr.origin,
                    why,
                )
            })
            .collect();
        for k in &specs {
            for reference in &k.substitute_from {
                let key = (
                    reference.kind.as_str(),
                    k.namespace.clone(),
                    reference.name.clone(),
                );
                let known = matches!(reference.kind.as_str(), "ConfigMap" | "Secret")
                    && data.contains_key(&key);
                if !known && !reference.optional {
                    notices.push((
                        k.origin.clone(),
                        format!(
                            "Kustomization {}/{} substitutes variables from {} {}/{}, which is \
                             not defined in this revision: its variables are left unresolved \
                             here (Flux fails the build until the object exists)",
                            k.namespace, k.name, reference.kind, k.namespace, reference.name
                        ),
                    ));
                }
            }
            if let Some(bad) = k.substitute.keys().find(|v| !substitute::valid_name(v)) {
                notices.push((
                    k.origin.clone(),
                    format!(
                        "Kustomization {}/{}: {}; Flux fails its build, and its objects are \
                         checked as written",
                        k.namespace,
                        k.name,
                        substitute::SubstituteError::InvalidName(bad.clone())
                    ),
                ));
            }
        }
        let vars: Vec<BTreeMap<String, String>> =
            specs.iter().map(|k| variables(k, &data)).collect();

        // Clusters: roots first, then whatever their outputs hold, level by level.
        let pattern = |origin: &Origin| {
            settings
                .clusters
                .as_ref()
                .and_then(|p| p.cluster_of(&origin.path))
        };
        let mut k_at = Placed::default();
        for (i, k) in specs.iter().enumerate() {
            if let Some(root) = bootstrap_cluster(&k.origin.path) {
                let cluster = k.kube_config.clone().or(pattern(&k.origin)).or(root);
                k_at.push((i, cluster));
            }
        }
        let mut hr_at = Placed::default();
        // The deployers a folder holds are found by binary search over the paths of the files
        // defining them, not by asking each (4,000 Kustomizations: 16 million questions).
        let k_paths = by_path(specs.iter().map(|k| &k.origin));
        let hr_paths = by_path(helm.iter().map(|hr| &hr.origin));
        let mut level_start = 0;
        for _ in 0..MAX_DEPTH {
            let level: Vec<(usize, Option<String>)> = k_at.list[level_start..].to_vec();
            level_start = k_at.list.len();
            for (parent, cluster) in &level {
                if !k_here[*parent] {
                    continue;
                }
                let deployer = &specs[*parent];
                for i in under(&k_paths, deployer) {
                    let k = &specs[i];
                    let at = k
                        .kube_config
                        .clone()
                        .or(pattern(&k.origin))
                        .or(cluster.clone());
                    k_at.push((i, at));
                }
                for i in under(&hr_paths, deployer) {
                    let hr = &helm[i];
                    let at = hr
                        .kube_config
                        .clone()
                        .or(pattern(&hr.origin))
                        .or(cluster.clone());
                    hr_at.push((i, at));
                }
            }
            if level_start == k_at.list.len() {
                break;
            }
        }
        let (mut k_at, k_placed) = (k_at.list, k_at.indices);
        let (mut hr_at, hr_placed) = (hr_at.list, hr_at.indices);
        for (i, k) in specs.iter().enumerate() {
            if !k_placed.contains(&i) {
                k_at.push((i, k.kube_config.clone().or(pattern(&k.origin))));
            }
        }
        for (i, hr) in helm.iter().enumerate() {
            if !hr_placed.contains(&i) {
                hr_at.push((i, hr.kube_config.clone().or(pattern(&hr.origin))));
            }
        }
        // Of several definitions of one deployer on one cluster, the last one applied is what
        // its controller keeps.
        k_at.sort_by_key(|(i, _)| *i);
        let kustomizations = last_applied(k_at.into_iter().map(|(i, cluster)| {
            let k = &specs[i];
            Instance {
                spec: k.clone(),
                cluster,
                here: k_here[i],
                vars: vars[i].clone(),
                built: (k_here[i] && k.builds()).then(|| k.build_target()),
            }
        }));
        hr_at.sort_by_key(|(i, _)| *i);
        let releases = last_applied(hr_at.into_iter().map(|(i, cluster)| Instance {
            spec: with_values(helm[i].clone(), &data),
            cluster,
            here: hr_here[i],
            vars: BTreeMap::new(),
            built: None,
        }));
        let build_targets = kustomizations
            .iter()
            .filter_map(|k| k.built.clone())
            .collect();
        let data_read = specs
            .iter()
            .flat_map(|k| {
                k.substitute_from
                    .iter()
                    .map(|r| (&r.kind, &k.namespace, &r.name))
            })
            .chain(helm.iter().flat_map(|hr| {
                hr.values_from
                    .iter()
                    .map(|r| (&r.kind, &hr.namespace, &r.name))
            }))
            .map(|(kind, namespace, name)| (kind.clone(), namespace.clone(), name.clone()))
            .collect();
        Self {
            kustomizations,
            releases,
            notices,
            build_targets,
            data_read,
        }
    }

    /// Whether [`Flux::learn`]'s answer may depend on the document: a GitRepository,
    /// Kustomization or HelmRelease (by kind, as `learn` first tells them), or data this
    /// revision's Flux objects read. What a revision keeps so that another revision's Flux
    /// objects can be learned again from these documents and its changed files alone.
    pub fn learns_from(&self, value: &Value, default_namespace: &str) -> bool {
        matches!(
            field(value, "kind").as_str(),
            Some("GitRepository" | "Kustomization" | "HelmRelease")
        ) || self.reads_data(value, default_namespace)
    }

    /// The Kustomizations of `self` and of `other` with no equal one (spec, cluster, source,
    /// variables, build) on the other side, when nothing else of Flux differs: the same
    /// HelmReleases, kustomize builds and data read, and the Kustomizations both have in the
    /// same apply order. `None` when something else differs: then what they deploy is not
    /// known from the differing Kustomizations' folders alone.
    pub fn differing_kustomizations<'a>(
        &'a self,
        other: &'a Flux,
    ) -> Option<Vec<&'a Instance<Kustomization>>> {
        if self.releases != other.releases
            || self.build_targets != other.build_targets
            || self.data_read != other.data_read
        {
            return None;
        }
        let mut by_name: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
        for (i, k) in self.kustomizations.iter().enumerate() {
            by_name
                .entry((k.spec.namespace.as_str(), k.spec.name.as_str()))
                .or_default()
                .push(i);
        }
        let mut taken = vec![false; self.kustomizations.len()];
        let mut last_matched = None;
        let mut differing = Vec::new();
        for theirs in &other.kustomizations {
            let found = by_name
                .get(&(theirs.spec.namespace.as_str(), theirs.spec.name.as_str()))
                .into_iter()
                .flatten()
                .copied()
                .find(|&i| !taken[i] && self.kustomizations[i] == *theirs);
            match found {
                Some(i) if last_matched.is_some_and(|last| last > i) => return None,
                Some(i) => {
                    taken[i] = true;
                    last_matched = Some(i);
                }
                None => differing.push(theirs),
            }
        }
        differing.extend(
            self.kustomizations
                .iter()
                .zip(&taken)
                .filter(|(_, taken)| !**taken)
                .map(|(k, _)| k),
        );
        Some(differing)
    }

    /// Whether `value` is a ConfigMap or Secret a Kustomization substitutes from or a
    /// HelmRelease takes values from, keyed as [`Flux::learn`] keys them (`metadata.namespace`,
    /// else `default_namespace`): a change to it may change what those deploy.
    pub fn reads_data(&self, value: &Value, default_namespace: &str) -> bool {
        let Some(kind @ ("ConfigMap" | "Secret")) = value["kind"].as_str() else {
            return false;
        };
        let Some(name) = non_empty(&value["metadata"]["name"]) else {
            return false;
        };
        let namespace = non_empty(&value["metadata"]["namespace"]).unwrap_or(default_namespace);
        value["apiVersion"] == "v1"
            && self
                .data_read
                .contains(&(kind.to_string(), namespace.to_string(), name.to_string()))
    }

    /// Every Kustomization, one per cluster it is applied to, in apply order.
    pub fn kustomizations(&self) -> &[Instance<Kustomization>] {
        &self.kustomizations
    }

    /// Every HelmRelease, one per cluster it is applied to, in apply order.
    pub fn releases(&self) -> &[Instance<HelmRelease>] {
        &self.releases
    }

    /// What is not followed (a source outside this repository, a chart not fetched, a missing
    /// `substituteFrom` object), at the deployer that says so.
    pub fn notices(&self) -> &[(Origin, String)] {
        &self.notices
    }

    /// Every Flux deployer as the deployer layer describes it.
    pub fn deployers(&self) -> Vec<Deployer> {
        let ks = self.kustomizations.iter().map(|k| Deployer {
            owner: owner(OwnerKind::Kustomization, &k.spec.namespace, &k.spec.name),
            origin: k.spec.origin.clone(),
            cluster: k.cluster.clone(),
            namespace: k.spec.target_namespace.clone(),
            paths: if k.here {
                vec![k.spec.path.clone()]
            } else {
                Vec::new()
            },
            prunes: k.spec.prune,
            // Deleting a Kustomization with prune enabled garbage-collects what it applied.
            cascades: k.spec.prune,
        });
        let hrs = self.releases.iter().map(|hr| Deployer {
            owner: owner(OwnerKind::HelmRelease, &hr.spec.namespace, &hr.spec.name),
            origin: hr.spec.origin.clone(),
            cluster: hr.cluster.clone(),
            namespace: Some(hr.spec.release_namespace.clone()),
            paths: match (&hr.spec.chart, hr.here) {
                (Chart::Git { path, .. }, true) => vec![path.clone()],
                _ => Vec::new(),
            },
            // helm-controller uninstalls the release when the HelmRelease is deleted, and an
            // upgrade removes what the chart no longer renders.
            prunes: true,
            cascades: true,
        });
        ks.chain(hrs).collect()
    }

    /// The kustomize folders these Kustomizations build (the path itself, or sub-folders the
    /// generated kustomization lists, plus every bootstrap `flux-system` folder, which holds
    /// the roots) and the chart folders the HelmReleases render, each with its recipe.
    pub fn tool_targets(&self, tools: &HashMap<&str, &ToolFolder>) -> Vec<(SourceKind, Target)> {
        let mut out: Vec<(SourceKind, Target)> = Vec::new();
        let mut built: Vec<(SourceKind, Target)> = Vec::new();
        let mut push = |kind: SourceKind, folder: &ToolFolder| {
            let target = Target {
                name: folder.dir.clone(),
                entry: folder.entry.clone(),
            };
            if !out.iter().any(|(k, t)| k == &kind && t == &target) {
                out.push((kind, target));
            }
        };
        let mut dirs: Vec<&&ToolFolder> = tools.values().collect();
        dirs.sort_by(|a, b| a.dir.cmp(&b.dir));
        for folder in &dirs {
            let bootstrap = folder.dir.rsplit('/').next() == Some(BOOTSTRAP_FOLDER);
            if folder.tool == Tool::Kustomize && bootstrap {
                push(SourceKind::Kustomize(KustomizeEdit::default()), folder);
            }
        }
        for k in self.kustomizations.iter().filter(|k| k.here) {
            if let Some(name) = &k.built {
                // kustomize-controller builds the folder's own kustomization with the
                // Kustomization's fields added, or the one it generates for a plain folder.
                let own = tools
                    .get(k.spec.path.as_str())
                    .filter(|f| f.tool == Tool::Kustomize);
                let entry = match own {
                    Some(folder) => folder.entry.clone(),
                    None if k.spec.path.is_empty() => "kustomization.yaml".to_string(),
                    None => format!("{}/kustomization.yaml", k.spec.path),
                };
                let target = Target {
                    name: name.clone(),
                    entry,
                };
                built.push((
                    SourceKind::Kustomize(k.spec.build_edit(own.is_none())),
                    target,
                ));
                continue;
            }
            for folder in &dirs {
                if folder.tool != Tool::Kustomize {
                    continue;
                }
                let inside = folder.dir == k.spec.path || k.spec.covers(&folder.dir);
                // The generator lists the outermost kustomization folders only.
                let nested = dirs.iter().any(|outer| {
                    outer.tool == Tool::Kustomize
                        && outer.dir != folder.dir
                        && folder.dir.starts_with(&format!("{}/", outer.dir))
                        && (outer.dir == k.spec.path || k.spec.covers(&outer.dir))
                });
                if inside && !nested {
                    push(SourceKind::Kustomize(KustomizeEdit::default()), folder);
                }
            }
        }
        for hr in self.releases.iter().filter(|hr| hr.here) {
            let Chart::Git { path, .. } = &hr.spec.chart else {
                continue;
            };
            if let Some(folder) = tools.get(path.as_str()).filter(|f| f.tool == Tool::Helm) {
                push(
                    SourceKind::Helm {
                        values: Vec::new(),
                        release: hr.spec.release.clone(),
                        app: HelmOverrides {
                            inline_values: (!hr.spec.values.is_null())
                                .then(|| hr.spec.values.to_string()),
                            parameters: Vec::new(),
                            namespace: Some(hr.spec.release_namespace.clone()),
                        },
                    },
                    folder,
                );
            }
        }
        for wanted in built {
            if !out.contains(&wanted) {
                out.push(wanted);
            }
        }
        out
    }

    /// Whether a Kustomization of this repository rewrites the document written at `path`.
    pub fn rewrites(&self, path: &str, value: &Value) -> bool {
        self.kustomizations
            .iter()
            .any(|k| k.here && k.spec.covers(path) && k.spec.rewrite(value, &k.vars).is_some())
    }

    /// The Kustomizations of this repository whose output holds a definition: a Kustomization
    /// built with kustomize holds its own build's documents only; any other holds the files and
    /// renders under its folder, except the documents of such a build.
    fn holding<'s>(
        &'s self,
        origin: &'s Origin,
    ) -> impl Iterator<Item = &'s Instance<Kustomization>> + 's {
        let of_build = origin
            .target
            .as_ref()
            .filter(|t| self.build_targets.contains(*t));
        self.kustomizations
            .iter()
            .filter(|k| k.here)
            .filter(move |k| match &k.built {
                Some(name) => of_build == Some(name),
                None => of_build.is_none() && k.spec.covers(&origin.path),
            })
    }

    /// The Kustomization whose output the render target `target` builds, if it is one.
    pub fn build_owner(&self, target: &str) -> Option<Owner> {
        self.kustomizations
            .iter()
            .find(|k| k.built.as_deref() == Some(target))
            .map(|k| owner(OwnerKind::Kustomization, &k.spec.namespace, &k.spec.name))
    }

    /// Whether a definition is under the folder of a Kustomization built with kustomize without
    /// being part of its build: that Kustomization applies its build's output instead (the
    /// folder's files are its inputs, not objects of their own).
    pub fn replaced_by_build(&self, origin: &Origin) -> bool {
        let of_build = origin
            .target
            .as_ref()
            .is_some_and(|t| self.build_targets.contains(t));
        !of_build
            && self
                .kustomizations
                .iter()
                .any(|k| k.built.is_some() && k.spec.covers(&origin.path))
    }

    /// Where a definition lands through each Flux deployer whose output holds it: the cluster,
    /// the namespace of objects naming none, the document as rewritten (`None`: as written) and
    /// the owner.
    pub fn placements(
        &self,
        origin: &Origin,
        value: &crate::manifest::LazyValue,
        settings: &Settings,
    ) -> Vec<(Option<String>, String, Option<Value>, Owner)> {
        // The clusters pattern's answer, read only for a document a Flux object deploys.
        let pattern = std::cell::OnceCell::new();
        let pattern = || {
            pattern
                .get_or_init(|| {
                    settings
                        .clusters
                        .as_ref()
                        .and_then(|p| p.cluster_of(&origin.path))
                })
                .clone()
        };
        let mut out = Vec::new();
        for k in self.holding(origin) {
            out.push((
                pattern().or(k.cluster.clone()),
                k.spec
                    .target_namespace
                    .clone()
                    .unwrap_or_else(|| settings.default_namespace.clone()),
                k.spec.rewrite(value, &k.vars),
                owner(OwnerKind::Kustomization, &k.spec.namespace, &k.spec.name),
            ));
        }
        for hr in self.releases.iter().filter(|hr| hr.here) {
            let Chart::Git { path, .. } = &hr.spec.chart else {
                continue;
            };
            let inside = origin
                .path
                .strip_prefix(path.as_str())
                .is_some_and(|rest| rest.starts_with('/'));
            if origin.target.is_none() || !inside {
                continue;
            }
            out.push((
                pattern().or(hr.cluster.clone()),
                hr.spec.release_namespace.clone(),
                None,
                owner(OwnerKind::HelmRelease, &hr.spec.namespace, &hr.spec.name),
            ));
        }
        out
    }

    /// With `flux.strict_post_build_substitutions`, every Kustomization whose output holds a
    /// definition that leaves a variable unresolved without default, with the variable:
    /// kustomize-controller then fails that Kustomization's build.
    pub fn unresolved(
        &self,
        origin: &Origin,
        value: &Value,
        settings: &Settings,
    ) -> Vec<(Owner, String)> {
        let mut out: Vec<(Owner, String)> = Vec::new();
        if !settings.strict_post_build_substitutions {
            return out;
        }
        for k in self.holding(origin) {
            let Some(variable) = k.spec.unresolved(value, &k.vars) else {
                continue;
            };
            let owner = owner(OwnerKind::Kustomization, &k.spec.namespace, &k.spec.name);
            if !out.iter().any(|(o, _)| *o == owner) {
                out.push((owner, variable));
            }
        }
        out
    }
}

/// The HelmRelease with `valuesFrom` merged under its `values` (helm-controller `chartutil`
/// `ChartValuesFromReferences`: references in order, a `targetPath` sets one value, then
/// `spec.values` on top). A reference missing from the revision is skipped.
fn with_values(mut hr: HelmRelease, data: &HashMap<(&str, String, String), &Value>) -> HelmRelease {
    if hr.values_from.is_empty() {
        return hr;
    }
    let mut merged = Value::Object(Default::default());
    for reference in &hr.values_from {
        let key = (
            reference.kind.as_str(),
            hr.namespace.clone(),
            reference.name.clone(),
        );
        let Some(object) = data.get(&key) else {
            continue;
        };
        let Some(text) = data_value(object, &reference.values_key) else {
            continue;
        };
        match &reference.target_path {
            Some(path) => set_path(&mut merged, path, Value::String(text)),
            None => {
                if let Ok(docs) = crate::manifest::split::split("values.yaml", text.as_bytes())
                    && let Some(doc) = docs.into_iter().next()
                {
                    merge(&mut merged, doc.value.as_ref());
                }
            }
        }
    }
    if !hr.values.is_null() {
        merge(&mut merged, &hr.values);
    }
    hr.values = merged;
    hr
}

/// A ConfigMap's `data` key, or a Secret's `stringData` / base64 `data` key, as text.
fn data_value(object: &Value, key: &str) -> Option<String> {
    if let Some(text) = object["data"][key].as_str() {
        if object["kind"] == "Secret" {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .ok()?;
            return String::from_utf8(bytes).ok();
        }
        return Some(text.to_string());
    }
    object["stringData"][key].as_str().map(str::to_string)
}

/// The post-build variables of a Kustomization: its `substituteFrom` objects of the revision in
/// order, then `substitute` (fluxcd/pkg `kustomize/kustomize_varsub.go`, `LoadVariables`).
fn variables(
    k: &Kustomization,
    data: &HashMap<(&str, String, String), &Value>,
) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for reference in &k.substitute_from {
        let key = (
            reference.kind.as_str(),
            k.namespace.clone(),
            reference.name.clone(),
        );
        let Some(object) = data.get(&key) else {
            continue;
        };
        let keys: Vec<String> = ["data", "stringData"]
            .iter()
            .flat_map(|f| object[*f].as_object().into_iter().flatten())
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            if let Some(value) = data_value(object, &key) {
                vars.insert(key, value.replace('\n', ""));
            }
        }
    }
    vars.extend(k.substitute.clone());
    vars
}

/// Deep merge of Helm values: maps merge key by key, anything else replaces.
fn merge(into: &mut Value, from: &Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                merge(into.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (into, from) => *into = from.clone(),
    }
}

/// Sets a dotted `targetPath` (`a.b.c`) to a value.
fn set_path(into: &mut Value, path: &str, value: Value) {
    let mut at = into;
    for part in path.split('.') {
        if !at.is_object() {
            *at = Value::Object(Default::default());
        }
        at = at
            .as_object_mut()
            .expect("made an object above")
            .entry(part.to_string())
            .or_insert(Value::Null);
    }
    *at = value;
}

/// The cluster of a bootstrap root defined at `path`: the name of the folder holding its
/// `flux-system` folder (`clusters/prod/flux-system/gotk-sync.yaml` → `prod`); `None` when
/// the file is not in a `flux-system` folder.
fn bootstrap_cluster(path: &str) -> Option<Option<String>> {
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    let (parent, last) = dir.rsplit_once('/').unwrap_or(("", dir));
    if last != BOOTSTRAP_FOLDER {
        return None;
    }
    let cluster = parent.rsplit('/').next().filter(|c| !c.is_empty());
    Some(cluster.map(str::to_string))
}

/// A Flux object's name, namespace and cluster: what its controller knows it by.
trait Named {
    fn key(&self) -> (&str, &str);
}

impl Named for Kustomization {
    fn key(&self) -> (&str, &str) {
        (&self.name, &self.namespace)
    }
}

impl Named for HelmRelease {
    fn key(&self) -> (&str, &str) {
        (&self.name, &self.namespace)
    }
}

/// Of several instances with one name, namespace and cluster (given in apply order), the last
/// one, in its place in apply order: what the controller keeps. Found by key, not by a scan
/// of those kept (4,000 Kustomizations: 16 million comparisons).
fn last_applied<T: Named>(instances: impl Iterator<Item = Instance<T>>) -> Vec<Instance<T>> {
    let mut slots: Vec<Option<Instance<T>>> = Vec::new();
    let mut slot_of: HashMap<(String, String, Option<String>), usize> = HashMap::new();
    for instance in instances {
        let (name, namespace) = instance.spec.key();
        let key = (
            name.to_string(),
            namespace.to_string(),
            instance.cluster.clone(),
        );
        if let Some(earlier) = slot_of.insert(key, slots.len()) {
            slots[earlier] = None;
        }
        slots.push(Some(instance));
    }
    slots.into_iter().flatten().collect()
}

/// Deployers (by index) placed on clusters, in the order they were reached, each pair once.
#[derive(Default)]
struct Placed {
    list: Vec<(usize, Option<String>)>,
    seen: HashSet<(usize, Option<String>)>,
    /// The indices placed at least once.
    indices: HashSet<usize>,
}

impl Placed {
    fn push(&mut self, item: (usize, Option<String>)) {
        if self.seen.insert(item.clone()) {
            self.indices.insert(item.0);
            self.list.push(item);
        }
    }
}

/// The paths of the files defining deployers, with each deployer's index, sorted: a folder's
/// files are then one range ([`under`]).
fn by_path<'a>(origins: impl Iterator<Item = &'a Origin>) -> Vec<(&'a str, usize)> {
    let mut paths: Vec<(&str, usize)> = origins
        .enumerate()
        .map(|(i, origin)| (origin.path.as_str(), i))
        .collect();
    paths.sort_unstable();
    paths
}

/// The indices, ascending, of the deployers defined in files `kustomization` covers: the range
/// of `paths` (sorted by [`by_path`]) from `folder/` up to `folder0` (`'0'` follows `'/'`), which
/// holds exactly the paths under `folder`.
fn under(paths: &[(&str, usize)], kustomization: &Kustomization) -> Vec<usize> {
    let folder = kustomization.path.as_str();
    let range = if folder.is_empty() {
        paths
    } else {
        let (low, high) = (format!("{folder}/"), format!("{folder}0"));
        let start = paths.partition_point(|(p, _)| *p < low.as_str());
        let end = start + paths[start..].partition_point(|(p, _)| *p < high.as_str());
        &paths[start..end]
    };
    let mut found: Vec<usize> = range
        .iter()
        .filter(|(path, _)| kustomization.covers(path))
        .map(|(_, i)| *i)
        .collect();
    found.sort_unstable();
    found
}

fn owner(kind: OwnerKind, namespace: &str, name: &str) -> Owner {
    Owner {
        kind,
        namespace: namespace.to_string(),
        name: name.to_string(),
    }
}

/// A Flux object's `metadata.name` and `metadata.namespace` (`default_namespace` when unset, as
/// `kubectl apply` places it); `None` without a name.
fn named<'a>(value: &'a Value, default_namespace: &'a str) -> Option<(&'a str, &'a str)> {
    let metadata = &value["metadata"];
    let namespace = non_empty(&metadata["namespace"]).unwrap_or(default_namespace);
    Some((non_empty(&metadata["name"])?, namespace))
}

/// Whether a document is a Flux `kind` of API group `group` (any version).
/// Whether `value` is a Flux Kustomization (`kustomize.toolkit.fluxcd.io`).
pub fn is_kustomization(value: &Value) -> bool {
    is_flux(value, kustomization::KUSTOMIZE_GROUP, "Kustomization")
}

fn is_flux(value: &Value, group: &str, kind: &str) -> bool {
    value["kind"].as_str() == Some(kind)
        && value["apiVersion"]
            .as_str()
            .and_then(|v| v.split_once('/'))
            .is_some_and(|(g, _)| g == group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_two_definitions_on_one_cluster_the_last_applied_stands_in_its_place() {
        let doc = |name: &str, path: &str| {
            serde_json::json!({
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": name, "namespace": "flux-system"},
                "spec": {"path": path, "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
            })
        };
        let at = |path: &str| Origin {
            path: path.to_string(),
            line: 1,
            end_line: 1,
            target: None,
            generator: None,
        };
        let documents = [
            (at("clusters/prod/a.yaml"), doc("apps", "./first")),
            (at("clusters/prod/b.yaml"), doc("infra", "./infra")),
            (at("clusters/prod/c.yaml"), doc("apps", "./second")),
            (at("clusters/stage/d.yaml"), {
                // On another cluster (a remote one named by its kubeconfig): kept beside.
                let mut remote = doc("apps", "./stage");
                remote["spec"]["kubeConfig"] = serde_json::json!({"secretRef": {"name": "stage"}});
                remote
            }),
        ];
        let flux = Flux::learn(
            documents.iter().map(|(origin, value)| (origin, value)),
            &Settings::default(),
        );
        let kept: Vec<(&str, &str)> = flux
            .kustomizations()
            .iter()
            .map(|k| (k.spec.name.as_str(), k.spec.path.as_str()))
            .collect();
        assert_eq!(
            kept,
            [("infra", "infra"), ("apps", "second"), ("apps", "stage")],
            "{:?}",
            flux.kustomizations()
                .iter()
                .map(|k| &k.cluster)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_deployers_under_a_folder_are_those_it_covers() {
        let paths = [
            "apps/web.yaml",
            "apps/web/a.yaml",
            "apps/web/deep/b.yaml",
            "apps/web-2/c.yaml",
            "apps/web.d/d.yaml",
            "apps/web0/e.yaml",
            "apps/webz.yaml",
            "other/f.yaml",
        ];
        let origins: Vec<Origin> = paths
            .iter()
            .map(|p| Origin {
                path: p.to_string(),
                line: 1,
                end_line: 1,
                target: None,
                generator: None,
            })
            .collect();
        let sorted = by_path(origins.iter());
        for folder in ["apps/web", "apps", "", "apps/we", "missing"] {
            let value = serde_json::json!({
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": "k", "namespace": "flux-system"},
                "spec": {"path": format!("./{folder}")},
            });
            let k = Kustomization::from_value(&value, &origins[0], "default").unwrap();
            let asked: Vec<usize> = (0..paths.len()).filter(|&i| k.covers(paths[i])).collect();
            assert_eq!(under(&sorted, &k), asked, "folder {folder:?}");
        }
    }

    #[test]
    fn bootstrap_roots_name_their_cluster() {
        assert_eq!(
            bootstrap_cluster("clusters/prod/flux-system/gotk-sync.yaml"),
            Some(Some("prod".into()))
        );
        assert_eq!(bootstrap_cluster("flux-system/gotk-sync.yaml"), Some(None));
        assert_eq!(bootstrap_cluster("clusters/prod/apps.yaml"), None);
    }

    #[test]
    fn values_from_merge_under_values() {
        let mut v = serde_json::json!({"a": {"b": 1}});
        merge(&mut v, &serde_json::json!({"a": {"c": 2}}));
        set_path(&mut v, "x.y", Value::String("z".into()));
        assert_eq!(
            v,
            serde_json::json!({"a": {"b": 1, "c": 2}, "x": {"y": "z"}})
        );
    }
}
