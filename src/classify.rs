//! Classification: base and head objects joined by identity into a [`ChangeSet`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::deploy::Owner;
use crate::manifest::{
    Identity, LazyValue, Objects, Origin, RenderedObject, append_part, partition_point,
};
use crate::prdiff::PrDiff;

/// What the PR does to one identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Modified,
    Deleted,
    Unchanged,
}

impl Change {
    /// The lowercase word used in every report.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Modified => "modified",
            Change::Deleted => "deleted",
            Change::Unchanged => "unchanged",
        }
    }
}

/// One definition of an identity in one revision.
#[derive(Debug, Clone, Serialize)]
pub struct Definition {
    pub path: String,
    pub line: usize,
    pub api_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// For an Application an ApplicationSet generated: the set and the generator element that
    /// produced it (`ApplicationSet services, from directory services/core`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    /// The deployers whose output holds this definition (empty: applied directly).
    pub owners: Vec<Owner>,
    #[serde(skip)]
    pub origin: Origin,
    /// Head definitions only: the PR adds it (new file, or all its lines added).
    #[serde(skip)]
    pub new_in_pr: bool,
    #[serde(skip)]
    pub value: Arc<LazyValue>,
}

/// Every definition of one identity on both sides, and what the PR does to it.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectChange {
    pub id: Identity,
    pub change: Change,
    pub moved: bool,
    pub base: Vec<Definition>,
    pub head: Vec<Definition>,
    /// Who deploys it in base: the deployers of all its base definitions, sorted (empty: applied
    /// directly, or absent). An addition to schema 1 (issue 10 §4).
    pub base_owners: Vec<Owner>,
    /// See [`ObjectChange::base_owners`], for head.
    pub head_owners: Vec<Owner>,
}

impl ObjectChange {
    /// The definition a deploy tool ends up with on one side: the last one applied.
    pub fn effective_base(&self) -> Option<&Definition> {
        self.base.last()
    }

    /// See [`ObjectChange::effective_base`].
    pub fn effective_head(&self) -> Option<&Definition> {
        self.head.last()
    }

    /// Whether the PR does anything to the object: adds, modifies, deletes or moves it, or
    /// gives it a definition more or less, or a new one. What rules judge (besides `--all`).
    pub fn touched(&self) -> bool {
        self.change != Change::Unchanged
            || self.moved
            || self.head.len() != self.base.len()
            || self.head.iter().any(|d| d.new_in_pr)
    }

    /// Whether the PR changes the object's content or who deploys it: what a review lists.
    pub fn affected(&self) -> bool {
        self.change != Change::Unchanged || self.base_owners != self.head_owners
    }

    /// Whether a rule or a review may have something to say about the object: it is
    /// [`touched`](Self::touched) or [`affected`](Self::affected), or head defines it more than
    /// once or several deployers deploy it (debt the rules report as notices). Any other object
    /// is unchanged, defined once, by the same deployer on both sides.
    pub fn notable(&self) -> bool {
        self.touched() || self.affected() || self.head.len() > 1 || self.head_owners.len() > 1
    }
}

/// The classified objects of a comparison, sorted by identity, and which of them are
/// [notable](ObjectChange::notable): rules, counts and reviews walk those, so a PR costs what it
/// touches rather than what the repository holds.
///
/// The objects are a persistent vector, as [`Objects`] are for the same reason: a pull request
/// classified against a head derived from its base shares the unchanged entries of base
/// classified against itself, instead of copying (and later dropping) one `Arc` per object.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct ChangeSet {
    objects: imbl::Vector<Arc<ObjectChange>>,
    /// Positions in `objects` of the notable ones, ascending.
    #[serde(skip)]
    notable: Vec<usize>,
}

impl ChangeSet {
    /// Joins base and head objects by identity. Objects without identity (`generateName`) are
    /// not part of the change set: they cannot be overwritten.
    pub fn classify(base: &[&RenderedObject], head: &[&RenderedObject], diff: &PrDiff) -> Self {
        type Sides = (Vec<Definition>, Vec<Definition>);
        // Definitions are built and judged on every core; only the grouping is sequential,
        // and it keeps each side's apply order.
        let (base_definitions, head_definitions) =
            rayon::join(|| definitions(base, None), || definitions(head, Some(diff)));
        let mut by_id: HashMap<&Identity, Sides> =
            HashMap::with_capacity(base.len().max(head.len()));
        for (id, definition) in base_definitions {
            by_id.entry(id).or_default().0.push(definition);
        }
        for (id, definition) in head_definitions {
            by_id.entry(id).or_default().1.push(definition);
        }
        let mut sorted: Vec<(&Identity, Sides)> = by_id.into_iter().collect();
        sorted.par_sort_unstable_by(|a, b| a.0.cmp(b.0));
        let objects = sorted
            .into_par_iter()
            .map(|(id, (base, head))| {
                let change = match (base.last(), head.last()) {
                    (None, Some(_)) => Change::Added,
                    (Some(_), None) => Change::Deleted,
                    (Some(b), Some(h)) if Arc::ptr_eq(&b.value, &h.value) || b.value == h.value => {
                        Change::Unchanged
                    }
                    _ => Change::Modified,
                };
                // Moved from A to B only when A no longer defines it (issue 10 §5). One file
                // and line is one place, whichever render reads it (a Flux Kustomization that
                // starts building its folder with kustomize reads the same documents).
                let moved = match (base.last(), head.last()) {
                    (Some(b), Some(h)) => {
                        (b.path != h.path || (b.target != h.target && b.line != h.line))
                            && !head
                                .iter()
                                .any(|d| d.path == b.path && d.target == b.target)
                    }
                    _ => false,
                };
                Arc::new(ObjectChange {
                    id: id.clone(),
                    change,
                    moved,
                    base_owners: owners(&base),
                    head_owners: owners(&head),
                    base,
                    head,
                })
            })
            .collect();
        Self::with_notable(objects)
    }

    /// `objects` classified against themselves, given where each identity is defined in them:
    /// what [`ChangeSet::classify`]`(objects, objects, &PrDiff::default())` gives (every
    /// identity unchanged, in place, with the same definitions and owners on both sides), with
    /// each definition built once and no map by identity.
    pub fn unchanged(objects: &[&RenderedObject], positions: &Positions) -> Self {
        let changes = positions
            .0
            .par_chunk_by(|&a, &b| objects[a].identity == objects[b].identity)
            .map(|run| {
                let definitions: Vec<Definition> =
                    run.iter().map(|&i| definition(objects[i], false)).collect();
                let owners = owners(&definitions);
                Arc::new(ObjectChange {
                    id: objects[run[0]]
                        .identity
                        .clone()
                        .expect("positions hold objects with an identity"),
                    change: Change::Unchanged,
                    moved: false,
                    base_owners: owners.clone(),
                    head_owners: owners,
                    head: definitions.clone(),
                    base: definitions,
                })
            })
            .collect();
        Self::with_notable(changes)
    }

    /// The change set of `objects` (sorted by identity), finding the notable ones.
    fn with_notable(objects: Vec<Arc<ObjectChange>>) -> Self {
        let notable = objects
            .par_iter()
            .enumerate()
            .filter(|(_, o)| o.notable())
            .map(|(i, _)| i)
            .collect();
        Self {
            objects: objects.into(),
            notable,
        }
    }

    /// [`ChangeSet::classify`] when head was derived from base with only the objects of some
    /// files built again (`crate::snapshot`'s derivation), given `unchanged`, base classified
    /// against itself: an identity that no rebuilt object (nor an Application an ApplicationSet
    /// generates) has on either side has the same definitions on both, so its entry is
    /// `unchanged`'s; only the others are classified, their definitions found through
    /// `rebuilt` without looking at every object. Same answer as [`ChangeSet::classify`].
    pub fn classify_change(
        base: &Objects,
        head: &Objects,
        diff: &PrDiff,
        rebuilt: &Rebuilt<'_>,
        unchanged: &ChangeSet,
    ) -> Self {
        let mut fresh_of: HashMap<&Identity, Vec<usize>> = HashMap::new();
        for &i in rebuilt.fresh {
            if let Some(id) = &head[i].identity {
                fresh_of.entry(id).or_default().push(i);
            }
        }
        let (mut sub_base, mut sub_head) = (Vec::new(), Vec::new());
        for id in rebuilt.identities {
            let at = rebuilt.base_positions.of(base, id);
            sub_base.extend(at.iter().map(|&i| Arc::clone(&base[i])));
            // Head's definitions of the identity in apply order: those of plain files — base's
            // outside rebuilt files and the rebuilt ones — by file and line (one per document),
            // then base's rendered ones and base's generated ones, which head keeps as they are,
            // or head's generated ones placed again.
            let fresh = fresh_of.get(id).into_iter().flatten().copied();
            let mut plain: Vec<&Arc<RenderedObject>> = at
                .iter()
                .filter(|&&i| i < rebuilt.plain && !rebuilt.files.contains(&base[i].origin.path))
                .map(|&i| &base[i])
                .chain(
                    fresh
                        .clone()
                        .filter(|&i| i < rebuilt.head_plain)
                        .map(|i| &head[i]),
                )
                .collect();
            plain.sort_by(|a, b| {
                (&a.origin.path, a.origin.line).cmp(&(&b.origin.path, b.origin.line))
            });
            sub_head.extend(plain.into_iter().cloned());
            sub_head.extend(
                at.iter()
                    .filter(|&&i| i >= rebuilt.plain)
                    .filter(|&&i| !rebuilt.generated_again || base[i].origin.generator.is_none())
                    .map(|&i| Arc::clone(&base[i])),
            );
            sub_head.extend(
                fresh
                    .filter(|&i| i >= rebuilt.head_plain)
                    .map(|i| Arc::clone(&head[i])),
            );
        }
        let sub_base: Vec<&RenderedObject> = sub_base.iter().map(|o| &**o).collect();
        let sub_head: Vec<&RenderedObject> = sub_head.iter().map(|o| &**o).collect();
        let fresh = Self::classify(&sub_base, &sub_head, diff);
        // Every fresh entry's identity is one of `rebuilt.identities` (both sorted). Between two
        // of those, `unchanged`'s entries are kept as one shared part, found by binary search,
        // and an entry kept is notable exactly when it was there (same definitions): its
        // position is carried over without looking at the object.
        let mut fresh = fresh.objects.into_iter().peekable();
        let mut was_notable = unchanged.notable.iter().copied().peekable();
        let mut objects = imbl::Vector::new();
        let mut notable = Vec::new();
        // `unchanged`'s entries from `at` to `end`, kept with their notable positions (those
        // before `at` were replaced).
        let mut keep = |end: usize,
                        at: &mut usize,
                        objects: &mut imbl::Vector<Arc<ObjectChange>>,
                        notable: &mut Vec<usize>| {
            while was_notable.next_if(|&p| p < *at).is_some() {}
            while let Some(position) = was_notable.next_if(|&p| p < end) {
                notable.push(objects.len() + position - *at);
            }
            append_part(objects, &unchanged.objects, *at..end);
            *at = end;
        };
        let mut at = 0;
        for id in rebuilt.identities {
            let end = at + partition_point(unchanged.objects.focus().narrow(at..), |o| &o.id < id);
            keep(end, &mut at, &mut objects, &mut notable);
            if unchanged.objects.get(at).is_some_and(|o| &o.id == id) {
                at += 1;
            }
            if let Some(next) = fresh.next_if(|f| &f.id == id) {
                if next.notable() {
                    notable.push(objects.len());
                }
                objects.push_back(next);
            }
        }
        keep(unchanged.objects.len(), &mut at, &mut objects, &mut notable);
        debug_assert!(fresh.next().is_none(), "a fresh entry of another identity");
        Self { objects, notable }
    }

    /// Every object, sorted by identity.
    pub fn objects(&self) -> &imbl::Vector<Arc<ObjectChange>> {
        &self.objects
    }

    /// The [notable](ObjectChange::notable) objects, in identity order.
    pub fn notable(&self) -> impl Iterator<Item = &ObjectChange> {
        self.notable.iter().map(|&i| &*self.objects[i])
    }

    /// How many objects have each kind of change (every changed object is notable).
    pub fn count(&self, change: Change) -> usize {
        let changed = |c: Change| self.notable().filter(|o| o.change == c).count();
        match change {
            Change::Unchanged => {
                self.objects.len()
                    - changed(Change::Added)
                    - changed(Change::Modified)
                    - changed(Change::Deleted)
            }
            _ => changed(change),
        }
    }

    /// The object of an identity, found by binary search (the objects are sorted by identity),
    /// so a report's few findings are joined to their objects without indexing them all.
    pub fn get(&self, id: &Identity) -> Option<&Arc<ObjectChange>> {
        self.objects
            .binary_search_by(|o| o.id.cmp(id))
            .ok()
            .map(|i| &self.objects[i])
    }

    /// The objects the PR changes or moves between deployers (content changed, or owners not the
    /// same on both sides), in identity order: everything a review lists. The others are
    /// deployed as they were, by whom they were, so a review never needs to look at them.
    pub fn affected(&self) -> impl Iterator<Item = &ObjectChange> {
        self.notable().filter(|o| o.affected())
    }
}

/// What a head derived from base's snapshot built again, as [`ChangeSet::classify_change`]
/// needs it (see [`crate::snapshot::Snapshot::rebuilt_since`]).
pub struct Rebuilt<'a> {
    /// Every identity a rebuilt object has on either side, and those of generated
    /// Applications; sorted, each once.
    pub identities: &'a [Identity],
    /// Where each identity is defined in base.
    pub base_positions: &'a Positions,
    /// Positions in head's objects of the objects built again.
    pub fresh: &'a [usize],
    /// The files whose objects were built again: base's objects from them are not head's.
    pub files: &'a BTreeSet<String>,
    /// How many of base's objects (a prefix) come from plain files; the others are rendered or
    /// generated, and head has them as they are, after its plain ones (the generated ones
    /// unless `generated_again`).
    pub plain: usize,
    /// How many of head's objects (a prefix) come from plain files.
    pub head_plain: usize,
    /// Whether head's generated Applications were placed again (its ApplicationSets expand
    /// differently): they are then among `fresh`, after head's plain objects, and base's are not
    /// head's.
    pub generated_again: bool,
}

/// Where each identity is defined in one side's objects: their positions ordered by identity,
/// then position. Sorted on every core and found by binary search, with no identity copied
/// (a map by identity cloned each of 20,050 identities on one thread: about 30 ms of a sampled
/// profile).
#[derive(Debug, Default)]
pub struct Positions(Vec<usize>);

impl Positions {
    /// The positions of `objects` (those without an identity left out).
    pub fn of_objects(objects: &[&RenderedObject]) -> Self {
        let mut positions: Vec<usize> = (0..objects.len())
            .filter(|&i| objects[i].identity.is_some())
            .collect();
        positions.par_sort_unstable_by(|&a, &b| {
            (&objects[a].identity, a).cmp(&(&objects[b].identity, b))
        });
        Self(positions)
    }

    /// Where `id` is defined in `objects` (those these positions were made from): positions,
    /// ascending; empty when nowhere.
    pub fn of(&self, objects: &Objects, id: &Identity) -> &[usize] {
        let key = |i: &usize| objects[*i].identity.as_ref();
        let start = self.0.partition_point(|i| key(i) < Some(id));
        let end = start + self.0[start..].partition_point(|i| key(i) == Some(id));
        &self.0[start..end]
    }
}

/// The deployers of one side's definitions together, sorted and each once.
fn owners(definitions: &[Definition]) -> Vec<Owner> {
    let mut all: Vec<Owner> = definitions
        .iter()
        .flat_map(|d| d.owners.iter().cloned())
        .collect();
    all.sort();
    all.dedup();
    all
}

/// The definitions of one side's objects that have an identity, in apply order; `diff` for
/// head, whose definitions may be new in the PR.
fn definitions<'a>(
    objects: &[&'a RenderedObject],
    diff: Option<&PrDiff>,
) -> Vec<(&'a Identity, Definition)> {
    objects
        .par_iter()
        .filter_map(|object| {
            let id = object.identity.as_ref()?;
            let new_in_pr = diff.is_some_and(|d| d.is_new(&object.origin));
            Some((id, definition(object, new_in_pr)))
        })
        .collect()
}

fn definition(object: &RenderedObject, new_in_pr: bool) -> Definition {
    Definition {
        path: object.origin.path.clone(),
        line: object.origin.line,
        api_version: object.api_version.clone(),
        target: object.origin.target.clone(),
        generator: object
            .origin
            .generator
            .as_ref()
            .map(|p| p.description.clone()),
        owners: object.owners.clone(),
        origin: object.origin.clone(),
        new_in_pr,
        value: object.value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::OwnerKind;

    fn object(name: &str, data: &str, owner: Option<&str>) -> Arc<RenderedObject> {
        Arc::new(RenderedObject {
            identity: Some(Identity {
                cluster: None,
                group: String::new(),
                kind: "ConfigMap".into(),
                namespace: Some("default".into()),
                name: name.into(),
            }),
            api_version: "v1".into(),
            origin: Origin {
                path: format!("{name}.yaml"),
                line: 1,
                end_line: 5,
                target: None,
                generator: None,
            },
            value: Arc::new(serde_json::json!({ "data": { "k": data } }).into()),
            owners: owner
                .map(|name| Owner {
                    kind: OwnerKind::Application,
                    namespace: "argocd".into(),
                    name: name.into(),
                })
                .into_iter()
                .collect(),
        })
    }

    #[test]
    fn objects_unchanged_against_themselves_classify_as_the_general_case_does() {
        let mut nameless = (*object("nameless", "1", None)).clone();
        nameless.identity = None;
        let mut second = (*object("twice", "2", Some("api"))).clone();
        second.origin.path = "other.yaml".into();
        second.origin.line = 7;
        let objects = [
            object("zeta", "1", Some("web")),
            object("twice", "1", Some("web")),
            Arc::new(nameless),
            object("alpha", "1", None),
            Arc::new(second),
            object("alpha", "3", Some("web")),
        ];
        let objects: Vec<&RenderedObject> = objects.iter().map(|o| &**o).collect();
        let general = ChangeSet::classify(&objects, &objects, &PrDiff::default());
        let fast = ChangeSet::unchanged(&objects, &Positions::of_objects(&objects));
        assert_eq!(
            serde_json::to_value(&fast).unwrap(),
            serde_json::to_value(&general).unwrap()
        );
        assert_eq!(fast.notable, general.notable);
        assert_eq!(fast.notable.len(), 2, "the identities defined twice");
        let definitions: Vec<(&str, usize)> = fast
            .objects()
            .iter()
            .map(|o| (o.id.name.as_str(), o.base.len()))
            .collect();
        assert_eq!(definitions, [("alpha", 2), ("twice", 2), ("zeta", 1)]);
    }

    #[test]
    fn affected_objects_are_the_changed_and_those_whose_deployers_change() {
        let base = [
            object("same", "1", Some("web")),
            object("edited", "1", None),
            object("adopted", "1", Some("web")),
            object("gone", "1", None),
        ];
        let head = [
            object("same", "1", Some("web")),
            object("edited", "2", None),
            object("adopted", "1", Some("api")),
            object("new", "1", None),
        ];
        let changes = ChangeSet::classify(
            &base.each_ref().map(|o| &**o),
            &head.each_ref().map(|o| &**o),
            &PrDiff::default(),
        );
        let affected: Vec<(&str, Change)> = changes
            .affected()
            .map(|o| (o.id.name.as_str(), o.change))
            .collect();
        assert_eq!(
            affected,
            [
                ("adopted", Change::Unchanged),
                ("edited", Change::Modified),
                ("gone", Change::Deleted),
                ("new", Change::Added),
            ]
        );
        for object in &changes.objects {
            let found = changes.get(&object.id).expect("every identity is found");
            assert!(Arc::ptr_eq(found, object));
        }
        let mut absent = changes.objects[0].id.clone();
        absent.name = "absent".into();
        assert!(changes.get(&absent).is_none());
    }
}
