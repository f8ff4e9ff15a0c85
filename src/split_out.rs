//! `clobbercheck split`: one object per file, named from identity (never from version).
//!
//! A version bump then shows as a modification of the same file, and two definitions of one
//! identity cannot be written at all: they are refused, naming every one, instead of being
//! appended into one file (kubectl-slice) or silently overwritten. `split` writes each
//! document's own text (comments, quoting, key order): re-serialising would turn an unquoted
//! YAML 1.1 `yes` into the string `"yes"`, which kubectl then reads differently from the input.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;
use crate::manifest::split::{Document, split};
use crate::manifest::{Identity, Origin, RenderedObject};
use crate::snapshot::build_objects;

/// Why `split` could not write its files.
#[derive(Debug, thiserror::Error)]
pub enum SplitOutError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path}:{line}:{column}: cannot parse: {message}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Every identity defined more than once, each with all its definitions.
    #[error("{}; refusing to write one over the other", duplicates(.0))]
    Duplicate(Vec<(Identity, Vec<String>)>),
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
}

/// `ConfigMap x/cm is defined 2 times: a.yaml:1, b.yaml:2; …`
fn duplicates(list: &[(Identity, Vec<String>)]) -> String {
    list.iter()
        .map(|(id, at)| format!("{id} is defined {} times: {}", at.len(), at.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A named input: a file path (or `-` for standard input) and its bytes.
pub struct Input {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The file name an identity is written to: `namespace--kind.group--name.yaml`, with `_cluster`
/// for cluster-scoped objects; characters unsafe in file names become `_`.
pub fn file_name(id: &Identity) -> String {
    let scope = id.namespace.as_deref().unwrap_or("_cluster");
    let kind = if id.group.is_empty() {
        id.kind.to_lowercase()
    } else {
        format!("{}.{}", id.kind.to_lowercase(), id.group)
    };
    let raw = format!("{scope}--{kind}--{}.yaml", id.name);
    raw.chars()
        .map(|c| match c {
            '/' | '\\' | '\0' => '_',
            c => c,
        })
        .collect()
}

/// Splits the inputs and writes each object to `out`; returns the written paths.
pub fn split_to_dir(inputs: &[Input], out: &Path) -> Result<Vec<PathBuf>, SplitOutError> {
    let mut documents = Vec::new();
    let mut texts: HashMap<*const crate::manifest::LazyValue, String> = HashMap::new();
    for input in inputs {
        let docs = split(&input.name, &input.bytes).map_err(|e| SplitOutError::Parse {
            path: input.name.clone(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        if let Ok(text) = std::str::from_utf8(&input.bytes) {
            for doc in &docs {
                if let Some(own) = own_text(&input.name, text, doc) {
                    texts.insert(Arc::as_ptr(&doc.value), own);
                }
            }
        }
        documents.extend(docs.into_iter().map(|d| {
            (
                Origin {
                    path: input.name.clone(),
                    line: d.line,
                    end_line: d.end_line,
                    target: None,
                    generator: None,
                },
                Arc::clone(&d.value),
            )
        }));
    }
    let (objects, _, _) = build_objects(documents.into_iter(), &Config::default());
    let objects: Vec<&RenderedObject> = objects.iter().map(|o| &**o).collect();
    write_with(&objects, out, |object| {
        texts.get(&Arc::as_ptr(&object.value)).map(String::as_str)
    })
}

/// A document's own text in `text`: its lines with the comment lines right above them, when
/// those lines alone read back as the same value — not for an item of a `List`, nor for JSON
/// (written as YAML instead).
fn own_text(name: &str, text: &str, doc: &Document) -> Option<String> {
    if name.ends_with(".json") {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let end = doc.end_line.min(lines.len());
    let mut start = doc.line.checked_sub(1)?;
    while start > 0 && lines[start - 1].trim_start().starts_with('#') {
        start -= 1;
    }
    let mut own = lines.get(start..end)?.join("\n");
    own.push('\n');
    let again = split("own.yaml", own.as_bytes()).ok()?;
    match again.as_slice() {
        [one] if one.value == doc.value => Some(own),
        _ => None,
    }
}

/// How an origin is named in messages: `path:line`, plus the render target when rendered.
fn describe(origin: &Origin) -> String {
    match &origin.target {
        Some(target) if target != &origin.path => {
            format!("{}:{} (rendered by {target})", origin.path, origin.line)
        }
        _ => format!("{}:{}", origin.path, origin.line),
    }
}

/// Writes each object to `out`, one file per identity, as YAML made from its value; refuses
/// duplicates naming every definition (`clobbercheck render --split`, whose rendered objects
/// have no text of their own).
pub fn write_objects(
    objects: &[&RenderedObject],
    out: &Path,
) -> Result<Vec<PathBuf>, SplitOutError> {
    write_with(objects, out, |_| None)
}

/// [`write_objects`], writing the text `own_text` gives for an object when it has one.
fn write_with<'a>(
    objects: &[&'a RenderedObject],
    out: &Path,
    own_text: impl Fn(&RenderedObject) -> Option<&'a str>,
) -> Result<Vec<PathBuf>, SplitOutError> {
    let mut by_name: BTreeMap<String, Vec<&RenderedObject>> = BTreeMap::new();
    for object in objects {
        let Some(id) = &object.identity else { continue };
        by_name.entry(file_name(id)).or_default().push(object);
    }
    let duplicates: Vec<(Identity, Vec<String>)> = by_name
        .values()
        .filter(|defs| defs.len() > 1)
        .filter_map(|defs| {
            let id = defs[0].identity.clone()?;
            Some((id, defs.iter().map(|d| describe(&d.origin)).collect()))
        })
        .collect();
    if !duplicates.is_empty() {
        return Err(SplitOutError::Duplicate(duplicates));
    }
    std::fs::create_dir_all(out).map_err(|e| SplitOutError::Write {
        path: out.display().to_string(),
        message: e.to_string(),
    })?;
    let mut written = Vec::new();
    for (name, defs) in by_name {
        let path = out.join(&name);
        let yaml = match own_text(defs[0]) {
            Some(text) => text.to_string(),
            None => serde_saphyr::to_string(defs[0].value.as_ref()).map_err(|e| {
                SplitOutError::Write {
                    path: path.display().to_string(),
                    message: e.to_string(),
                }
            })?,
        };
        std::fs::write(&path, yaml).map_err(|e| SplitOutError::Write {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        written.push(path);
    }
    Ok(written)
}

/// The objects as one YAML stream, each preceded by a `# Source:` comment naming its origin,
/// so users see exactly what the check saw (`clobbercheck render`).
pub fn yaml_stream(objects: &[&RenderedObject]) -> Result<String, SplitOutError> {
    let mut out = String::new();
    for object in objects {
        let yaml =
            serde_saphyr::to_string(object.value.as_ref()).map_err(|e| SplitOutError::Write {
                path: describe(&object.origin),
                message: e.to_string(),
            })?;
        out.push_str("---\n# Source: ");
        out.push_str(&describe(&object.origin));
        out.push('\n');
        out.push_str(&yaml);
        if !yaml.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}
