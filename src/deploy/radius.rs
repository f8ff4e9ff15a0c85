//! Blast radius: what a deployer deletes when the PR replaces it, changes its source or
//! destination, or deletes it with its resources finalizer; and the protection each kind of
//! owner honours.
//!
//! Why here: rules (`owner-change`, `stateful-deletion`) and every report (through
//! `report::view`) state the same list, so it is computed in one place from the owners each
//! object carries per side ([`ObjectChange::base_owners`], [`ObjectChange::head_owners`]),
//! never re-derived from folders.
//!
//! What deletes, per the tools' own documentation:
//! - Argo CD automated sync deletes resources no longer defined in Git only with
//!   `syncPolicy.automated.prune: true`
//!   (<https://argo-cd.readthedocs.io/en/stable/user-guide/auto_sync/#automatic-pruning>);
//!   deleting an Application carrying `resources-finalizer.argocd.argoproj.io` deletes every
//!   resource it manages
//!   (<https://argo-cd.readthedocs.io/en/stable/user-guide/app_deletion/#about-the-deletion-finalizer>).
//!   `Prune=false` keeps an object from pruning, `Delete=false` from the Application's deletion
//!   (<https://argo-cd.readthedocs.io/en/stable/user-guide/sync-options/>).
//! - Flux garbage-collects what leaves a Kustomization with `spec.prune: true`, and skips objects
//!   annotated `kustomize.toolkit.fluxcd.io/prune: disabled`
//!   (<https://fluxcd.io/flux/components/kustomize/kustomizations/#prune>).
//! - Helm deletes a release's resources on uninstall unless they carry
//!   `helm.sh/resource-policy: keep`
//!   (<https://helm.sh/docs/howto/charts_tips_and_tricks/#tell-helm-not-to-uninstall-a-resource>).

use std::collections::{HashMap, HashSet};

use super::{Deployer, Deployers, Owner, OwnerKind};
use crate::classify::{ChangeSet, ObjectChange};
use crate::manifest::Identity;

/// How many objects a message names before "and N more".
pub const LISTED: usize = 8;

/// The short name of a kind whose deletion destroys data or cascades (PersistentVolumeClaim,
/// PersistentVolume, StatefulSet, Namespace, CustomResourceDefinition), else `None`. The one
/// list behind "stateful first" and the severity of `owner-change`.
pub fn stateful_kind(id: &Identity) -> Option<&'static str> {
    match (id.group.as_str(), id.kind.as_str()) {
        ("", "Namespace") => Some("Namespace"),
        ("", "PersistentVolumeClaim") => Some("PersistentVolumeClaim"),
        ("", "PersistentVolume") => Some("PersistentVolume"),
        ("apps", "StatefulSet") => Some("StatefulSet"),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Some("CustomResourceDefinition"),
        _ => None,
    }
}

/// How an owner lets go of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The object leaves the owner's rendered output (a deleted file, a moved source).
    Prune,
    /// The owner itself is deleted (Argo CD's resources finalizer, a Flux object with prune,
    /// a Helm uninstall).
    OwnerDeleted,
}

/// The annotation that keeps an object on the cluster when an owner of this kind lets go of it,
/// as `key: value` (see the module documentation for each tool's source).
pub fn protection(kind: OwnerKind, removal: Removal) -> &'static str {
    match (kind, removal) {
        (OwnerKind::Application, Removal::Prune) => "argocd.argoproj.io/sync-options: Prune=false",
        (OwnerKind::Application, Removal::OwnerDeleted) => {
            "argocd.argoproj.io/sync-options: Delete=false"
        }
        (OwnerKind::Kustomization, _) => "kustomize.toolkit.fluxcd.io/prune: disabled",
        (OwnerKind::HelmRelease, _) => "helm.sh/resource-policy: keep",
    }
}

/// The protections fitting an object's owners, each kind once (`a` / `a and b`); `None` for an
/// object applied directly, which no deployer prunes.
pub fn protections(owners: &[Owner], removal: Removal) -> Option<String> {
    let mut kinds: Vec<OwnerKind> = owners.iter().map(|o| o.kind).collect();
    kinds.sort();
    kinds.dedup();
    let all: Vec<&str> = kinds.iter().map(|k| protection(*k, removal)).collect();
    (!all.is_empty()).then(|| all.join(" and "))
}

/// What one deployer stops deploying because of the PR, and whether that deletes it.
#[derive(Debug, Clone)]
pub struct BlastRadius {
    /// The deployer as base knows it.
    pub before: Deployer,
    /// As head knows it; `None` when the PR deletes it.
    pub after: Option<Deployer>,
    /// Every object it deploys in base and not in head (its own identity excluded): stateful
    /// ones first, then by identity.
    pub objects: Vec<Identity>,
    /// How many of `objects` are stateful ([`stateful_kind`]).
    pub stateful: usize,
    /// Whether the controller deletes them: head's deployer prunes, or the deleted deployer
    /// cascades. Otherwise they are left on the cluster, unmanaged.
    pub deletes: bool,
}

impl BlastRadius {
    /// The deployer's identity.
    pub fn owner(&self) -> &Owner {
        &self.before.owner
    }

    /// Whether `object` is this deployer's own definition (the Application, Kustomization or
    /// HelmRelease object itself).
    pub fn is_deployer(&self, object: &ObjectChange) -> bool {
        let owner = self.owner();
        object.id.kind == owner.kind.as_str()
            && object.id.name == owner.name
            && object.id.namespace.as_deref() == Some(owner.namespace.as_str())
    }

    /// `N objects (M stateful): Kind ns/name, …, and K more`, naming at most [`LISTED`].
    pub fn listing(&self) -> String {
        let shown: Vec<String> = self.objects.iter().take(LISTED).map(short).collect();
        let mut text = format!(
            "{} object{}",
            self.objects.len(),
            if self.objects.len() == 1 { "" } else { "s" }
        );
        if self.stateful > 0 {
            text.push_str(&format!(" ({} stateful)", self.stateful));
        }
        text.push_str(": ");
        text.push_str(&shown.join(", "));
        if self.objects.len() > LISTED {
            text.push_str(&format!(", and {} more", self.objects.len() - LISTED));
        }
        text
    }
}

/// The blast radius of every deployer the PR deletes or whose source or destination (folders,
/// cluster, namespace) it changes; a deployer whose replacement deploys the same thing has none.
/// One pass over the objects whatever the number of deployers.
pub fn blast_radii(changes: &ChangeSet, base: &Deployers, head: &Deployers) -> Vec<BlastRadius> {
    let mut radii: Vec<BlastRadius> = Vec::new();
    // A head derived from base's snapshot without a deployer change shares base's deployers.
    if std::ptr::eq(base, head) {
        return radii;
    }
    let mut heads: HashMap<&Owner, &Deployer> = HashMap::new();
    for deployer in head.all() {
        heads.entry(&deployer.owner).or_insert(deployer);
    }
    let mut seen: HashSet<&Owner> = HashSet::new();
    for before in base.all() {
        if !seen.insert(&before.owner) {
            continue;
        }
        let after = heads.get(&before.owner).copied();
        let same = after.is_some_and(|a| {
            a.paths == before.paths
                && a.cluster == before.cluster
                && a.namespace == before.namespace
        });
        if same {
            continue;
        }
        radii.push(BlastRadius {
            before: before.clone(),
            after: after.cloned(),
            objects: Vec::new(),
            stateful: 0,
            deletes: after.map_or(before.cascades, |a| a.prunes),
        });
    }
    if radii.is_empty() {
        return radii;
    }
    let index: HashMap<&Owner, usize> = radii
        .iter()
        .enumerate()
        .map(|(i, r)| (&r.before.owner, i))
        .collect();
    let mut found: Vec<Vec<&Identity>> = vec![Vec::new(); radii.len()];
    // An object a deployer stops deploying has other owners on each side: it is notable.
    for object in changes.notable() {
        for owner in &object.base_owners {
            if object.head_owners.contains(owner) {
                continue;
            }
            if let Some(&i) = index.get(owner)
                && !radii[i].is_deployer(object)
            {
                found[i].push(&object.id);
            }
        }
    }
    for (radius, mut ids) in radii.iter_mut().zip(found) {
        ids.sort_by_key(|id| (stateful_kind(id).is_none(), short(id), id.cluster.clone()));
        radius.stateful = ids.iter().filter(|id| stateful_kind(id).is_some()).count();
        radius.objects = ids.into_iter().cloned().collect();
    }
    radii
}

/// `web, api → in-cluster, namespace shop`: a deployer's folders and destination.
pub fn place(deployer: &Deployer) -> String {
    let paths: Vec<&str> = deployer
        .paths
        .iter()
        .map(|p| if p.is_empty() { "/" } else { p.as_str() })
        .collect();
    let paths = if paths.is_empty() {
        "no folder of this repository".to_string()
    } else {
        paths.join(", ")
    };
    let cluster = deployer.cluster.as_deref().unwrap_or("its cluster");
    match &deployer.namespace {
        Some(ns) => format!("{paths} → {cluster}, namespace {ns}"),
        None => format!("{paths} → {cluster}"),
    }
}

/// `Kind namespace/name`: an object among others on one stated cluster.
pub fn short(id: &Identity) -> String {
    match &id.namespace {
        Some(ns) => format!("{} {ns}/{}", id.kind, id.name),
        None => format!("{} {}", id.kind, id.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(group: &str, kind: &str, name: &str) -> Identity {
        Identity {
            cluster: None,
            group: group.into(),
            kind: kind.into(),
            namespace: Some("shop".into()),
            name: name.into(),
        }
    }

    fn owner(kind: OwnerKind) -> Owner {
        Owner {
            kind,
            namespace: "argocd".into(),
            name: "web".into(),
        }
    }

    #[test]
    fn each_owner_kind_names_its_own_protection() {
        assert_eq!(
            protection(OwnerKind::Application, Removal::Prune),
            "argocd.argoproj.io/sync-options: Prune=false"
        );
        assert_eq!(
            protection(OwnerKind::Application, Removal::OwnerDeleted),
            "argocd.argoproj.io/sync-options: Delete=false"
        );
        for removal in [Removal::Prune, Removal::OwnerDeleted] {
            assert_eq!(
                protection(OwnerKind::Kustomization, removal),
                "kustomize.toolkit.fluxcd.io/prune: disabled"
            );
            assert_eq!(
                protection(OwnerKind::HelmRelease, removal),
                "helm.sh/resource-policy: keep"
            );
        }
    }

    #[test]
    fn an_object_applied_directly_gets_no_protection_and_kinds_are_named_once() {
        assert_eq!(protections(&[], Removal::Prune), None);
        let mut other = owner(OwnerKind::Application);
        other.name = "api".into();
        let both = [
            owner(OwnerKind::HelmRelease),
            owner(OwnerKind::Application),
            other,
        ];
        assert_eq!(
            protections(&both, Removal::Prune).as_deref(),
            Some("argocd.argoproj.io/sync-options: Prune=false and helm.sh/resource-policy: keep")
        );
    }

    #[test]
    fn stateful_kinds_are_the_five_that_lose_data_or_cascade() {
        assert_eq!(
            stateful_kind(&id("", "PersistentVolumeClaim", "data")),
            Some("PersistentVolumeClaim")
        );
        assert_eq!(
            stateful_kind(&id("apps", "StatefulSet", "db")),
            Some("StatefulSet")
        );
        assert_eq!(stateful_kind(&id("", "ConfigMap", "settings")), None);
        assert_eq!(stateful_kind(&id("apps", "Deployment", "web")), None);
    }

    #[test]
    fn a_listing_names_eight_then_counts_the_rest() {
        let deployer = Deployer {
            owner: owner(OwnerKind::Application),
            origin: crate::manifest::Origin {
                path: "apps/web.yaml".into(),
                line: 1,
                end_line: 9,
                target: None,
                generator: None,
            },
            cluster: None,
            namespace: None,
            paths: vec!["web".into()],
            prunes: true,
            cascades: false,
        };
        let objects: Vec<Identity> = (0..11)
            .map(|i| id("", "ConfigMap", &format!("c{i:02}")))
            .collect();
        let radius = BlastRadius {
            before: deployer,
            after: None,
            objects,
            stateful: 0,
            deletes: true,
        };
        let text = radius.listing();
        assert!(
            text.starts_with("11 objects: ConfigMap shop/c00, "),
            "{text}"
        );
        assert!(text.ends_with("ConfigMap shop/c07, and 3 more"), "{text}");
    }
}
