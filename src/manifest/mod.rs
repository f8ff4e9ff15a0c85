//! The object model: documents split out of files, identities, and objects with their origin.

pub mod field;
pub mod identity;
pub mod scope;
pub mod split;
pub mod value;
pub mod yaml;

pub use identity::{Identity, ObjectHead};
pub use split::{Document, SplitError};
pub use value::LazyValue;

use std::sync::Arc;

/// Where a definition came from: a file and the lines of its document, or a render target.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// Repository path of the file holding the definition (the render target's entry point for
    /// rendered sources).
    pub path: String,
    /// First line of the object's own content, 1-based.
    pub line: usize,
    /// Last line of the object's content, 1-based, inclusive.
    pub end_line: usize,
    /// The render target that produced it, for rendered sources.
    pub target: Option<String>,
    /// For an Application an ApplicationSet generated (`path` and lines are the set's): the
    /// generator element that produced it, and what makes it new in a PR.
    pub generator: Option<Arc<crate::deploy::applicationset::Producer>>,
}

/// A revision's objects in apply order. A persistent vector (`imbl`'s RRB tree of 64-object
/// chunks, shared between copies): a head derived from its base's snapshot takes base's objects
/// between two rebuilt files as one shared part (O(log n)), where copying the `Arc` of each of
/// 200,000 objects, and dropping the copies again, took 5–8 ms of every warm pull request
/// (`cargo bench --bench warm`). Indexing costs a few pointer hops: whole-revision passes
/// gather `Snapshot::object_refs` once instead.
pub type Objects = imbl::Vector<Arc<RenderedObject>>;

/// An iteration over [`Objects`] in order.
pub type ObjectsIter<'a> =
    imbl::vector::Iter<'a, Arc<RenderedObject>, imbl::shared_ptr::DefaultSharedPtr>;

/// Where the items of a persistent vector's `focus` stop being `before` (which holds for a
/// prefix of them): the first position it does not hold at, found by binary search as
/// `slice::partition_point` does.
pub fn partition_point<A>(
    mut focus: imbl::vector::Focus<'_, A, imbl::shared_ptr::DefaultSharedPtr>,
    before: impl Fn(&A) -> bool,
) -> usize {
    let (mut low, mut high) = (0, focus.len());
    while low < high {
        let middle = low + (high - low) / 2;
        if before(focus.index(middle)) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    low
}

/// Parts shorter than this are copied item by item by [`append_part`]; longer ones are shared.
/// Sharing splits `from` twice and joins trees (several 64-item nodes copied, about 4 µs
/// measured on 20,000 entries), which costs as much as pushing a few hundred `Arc`s.
const SHARED_FROM: usize = 256;

/// Appends `from[range]` to `to`: a long part shares `from`'s chunks (O(log n)), a short one is
/// copied (see [`SHARED_FROM`]), so that many short parts cost what copying them costs.
///
/// Panics when `range` reaches past `from`'s end, as slicing does.
pub fn append_part<A: Clone>(
    to: &mut imbl::Vector<A>,
    from: &imbl::Vector<A>,
    range: std::ops::Range<usize>,
) {
    if range.len() >= SHARED_FROM {
        to.append(from.skip(range.start).take(range.len()));
    } else {
        to.extend(from.focus().narrow(range).into_iter().cloned());
    }
}

/// One Kubernetes object as defined in a revision.
#[derive(Debug, Clone)]
pub struct RenderedObject {
    /// `None` for objects with only `generateName`: they cannot collide.
    pub identity: Option<Identity>,
    pub api_version: String,
    pub origin: Origin,
    pub value: Arc<LazyValue>,
    /// The deployers whose output holds it at this identity, sorted; empty when it is applied
    /// directly (DESIGN.md §3a).
    pub owners: Vec<crate::deploy::Owner>,
}

#[cfg(test)]
mod tests {
    use super::{SHARED_FROM, append_part, partition_point};

    #[test]
    fn partition_point_answers_as_the_slice_method_does() {
        // Long enough for several chunks and tree levels, with runs of equal items.
        let items: Vec<u32> = (0..5_000).map(|i| i / 7).collect();
        let vector: imbl::Vector<u32> = items.iter().copied().collect();
        for probe in [0, 1, 3, 64, 65, 500, 713, 714, 800] {
            assert_eq!(
                partition_point(vector.focus(), |&x| x < probe),
                items.partition_point(|&x| x < probe),
                "{probe}"
            );
            let narrowed = vector.focus().narrow(1_000..2_000);
            assert_eq!(
                partition_point(narrowed, |&x| x <= probe),
                items[1_000..2_000].partition_point(|&x| x <= probe),
                "{probe} within 1000..2000"
            );
        }
        assert_eq!(
            partition_point(imbl::Vector::<u32>::new().focus(), |_| true),
            0
        );
    }

    #[test]
    fn parts_appended_short_or_long_hold_the_same_items_as_slices_do() {
        let items: Vec<u32> = (0..3_000).collect();
        let from: imbl::Vector<u32> = items.iter().copied().collect();
        let ranges = [
            0..0,
            0..1,
            5..SHARED_FROM + 5,
            300..301,
            301..2_999,
            2_999..3_000,
            0..3_000,
        ];
        let mut to = imbl::Vector::new();
        let mut expected = Vec::new();
        for range in ranges {
            append_part(&mut to, &from, range.clone());
            expected.extend_from_slice(&items[range]);
        }
        assert_eq!(to.iter().copied().collect::<Vec<_>>(), expected);
    }
}
