//! A document's value, held whole or as its outline until something reads the rest.
//!
//! Why: in a pull request most of a repository's blobs are the same on both sides, and of their
//! objects a check reads only apiVersion, kind and metadata (identity, owners, annotations).
//! Holding every value whole was two thirds of a cold check's peak memory (`bench/core.py`,
//! 20,050 objects). A document read through [`crate::manifest::split::split_outlined`] keeps
//! only its outline; the first read of the whole value parses the file's text again, once for
//! all of the file's documents. Reading is never wrong, only slower: [`LazyValue`] dereferences
//! to the whole value, and only readers that ask for [`LazyValue::outline`] get the outline.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use serde::{Serialize, Serializer};
use serde_json::Value;

use super::split::{Document, split};

/// The keys of a mapping's outline: what makes it an object and what the check reads of every
/// object.
const OUTLINE_KEYS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// A document's value: whole, or its outline with the whole read again from its file's text on
/// first use. Dereferences to the whole value.
pub struct LazyValue {
    /// The whole value, or the outline when `source` is set.
    shown: Value,
    source: Option<Source>,
}

/// Where an outlined value's whole is read from: its document's position in its file.
struct Source {
    file: Arc<FileText>,
    /// Position among the file's documents as [`split`] returns them (`List` items expanded).
    index: usize,
}

/// The text of a file whose documents were outlined, and its documents read whole on demand.
pub struct FileText {
    path: String,
    text: String,
    whole: OnceLock<Vec<Document>>,
    /// Counts the files read again, shared with the cache that made them.
    reads: Arc<AtomicUsize>,
}

impl FileText {
    /// Keeps `text` (the file at `path`, already split without error) for reading again;
    /// `reads` is incremented each time it is.
    pub fn new(path: &str, text: String, reads: Arc<AtomicUsize>) -> Arc<Self> {
        Arc::new(Self {
            path: path.to_string(),
            text,
            whole: OnceLock::new(),
            reads,
        })
    }

    fn documents(&self) -> &[Document] {
        // `split` starts no rayon task, so no thread can steal, inside this initialization, a
        // task that waits on this same cell.
        self.whole.get_or_init(|| {
            self.reads.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(path = self.path, "file read again for whole values");
            split(&self.path, self.text.as_bytes()).unwrap_or_else(|e| {
                // The same text split without error before: the reader is deterministic.
                tracing::error!(path = self.path, error = %e, "a file that parsed no longer does");
                Vec::new()
            })
        })
    }
}

impl LazyValue {
    /// A value held whole.
    pub fn whole(value: Value) -> Self {
        Self {
            shown: value,
            source: None,
        }
    }

    /// `value` (document `index` of `file`) reduced to its outline, or held whole when it is not
    /// a mapping or holds nothing beyond its outline.
    pub fn outlined(value: Value, file: &Arc<FileText>, index: usize) -> Self {
        let Value::Object(mut map) = value else {
            return Self::whole(value);
        };
        if map.keys().all(|k| OUTLINE_KEYS.contains(&k.as_str())) {
            return Self::whole(Value::Object(map));
        }
        map.retain(|k, _| OUTLINE_KEYS.contains(&k.as_str()));
        Self {
            shown: Value::Object(map),
            source: Some(Source {
                file: Arc::clone(file),
                index,
            }),
        }
    }

    /// apiVersion, kind and metadata as written (the whole value when it is held whole), for
    /// readers of every document that read nothing else: no file is read again for them.
    pub fn outline(&self) -> &Value {
        &self.shown
    }

    /// The value held, for a value just made whole (an outline's is its outline).
    pub(crate) fn into_whole(self) -> Value {
        self.shown
    }

    /// Whether the whole value is in memory (held whole, or already read again).
    #[cfg(test)]
    fn is_whole(&self) -> bool {
        self.source
            .as_ref()
            .is_none_or(|s| s.file.whole.get().is_some())
    }
}

impl std::ops::Deref for LazyValue {
    type Target = Value;

    /// The whole value, reading its file again the first time one of its outlined documents is
    /// read whole.
    fn deref(&self) -> &Value {
        let Some(source) = &self.source else {
            return &self.shown;
        };
        match source.file.documents().get(source.index) {
            Some(doc) => doc.value.outline(),
            None => &self.shown,
        }
    }
}

impl From<Value> for LazyValue {
    fn from(value: Value) -> Self {
        Self::whole(value)
    }
}

impl PartialEq for LazyValue {
    /// Equal whole values.
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

/// Total, as `Value`'s equality is; it also lets `Arc<LazyValue>`'s equality answer from the
/// pointer first, so a document shared by base and head equals itself without being read.
impl Eq for LazyValue {}

impl fmt::Debug for LazyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl Serialize for LazyValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::split::split_outlined;

    const TEXT: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n\
                        ---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  \
                        name: b\nspec:\n  project: p\n---\napiVersion: v1\nkind: Namespace\n\
                        metadata:\n  name: c\n";

    fn outlined() -> (Vec<Document>, Arc<AtomicUsize>) {
        let reads = Arc::new(AtomicUsize::new(0));
        let whole = |v: &Value| v["kind"] == "Application";
        let docs = split_outlined("a.yaml", TEXT.as_bytes().to_vec(), &whole, &reads).unwrap();
        (docs, reads)
    }

    #[test]
    fn outlines_read_the_file_again_once_for_all_its_documents() {
        let (docs, reads) = outlined();
        let whole = split("a.yaml", TEXT.as_bytes()).unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(
            docs[0].value.outline(),
            &serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}})
        );
        assert!(!docs[0].value.is_whole());
        // Asked for whole, and nothing beyond an outline: held whole.
        assert!(docs[1].value.is_whole() && docs[2].value.is_whole());
        assert_eq!(reads.load(Ordering::Relaxed), 0);
        assert_eq!(docs[0].value["data"]["k"], "v");
        assert_eq!(reads.load(Ordering::Relaxed), 1);
        for (ours, theirs) in docs.iter().zip(&whole) {
            assert_eq!(**ours.value, **theirs.value);
            assert_eq!(ours.line, theirs.line);
        }
        assert!(docs[0].value.is_whole());
        assert_eq!(reads.load(Ordering::Relaxed), 1);
    }

    /// A document base and head share (one `Arc`) equals itself without a read.
    #[test]
    fn outlines_of_one_document_are_equal_without_reading_it() {
        let (docs, reads) = outlined();
        let copy = docs.clone();
        assert_eq!(docs[0].value, copy[0].value);
        assert_eq!(reads.load(Ordering::Relaxed), 0);
        assert_ne!(*docs[0].value, *docs[2].value);
    }
}
