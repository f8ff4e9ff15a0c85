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
