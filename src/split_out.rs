//! `clobbercheck split`: one object per file, named from identity (never from version).
//!
//! A version bump then shows as a modification of the same file, and two definitions of one
//! identity cannot be written at all: they are refused, naming both, instead of being appended
//! into one file (kubectl-slice) or silently overwritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;
use crate::manifest::split::split;
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
    #[error("{id} is defined twice: {first} and {second}; refusing to write one over the other")]
    Duplicate {
        id: Box<Identity>,
        first: String,
        second: String,
    },
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
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
    for input in inputs {
        let docs = split(&input.name, &input.bytes).map_err(|e| SplitOutError::Parse {
            path: input.name.clone(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
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
    let objects = build_objects(documents.into_iter(), &Config::default());
    write_objects(&objects, out)
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

/// Writes each object to `out`, one file per identity; refuses duplicates naming both
/// definitions. Shared by `clobbercheck split` and `clobbercheck render --split`.
pub fn write_objects(
    objects: &[RenderedObject],
    out: &Path,
) -> Result<Vec<PathBuf>, SplitOutError> {
    let mut by_name: BTreeMap<String, (&Identity, &Origin, &serde_json::Value)> = BTreeMap::new();
    for object in objects {
        let Some(id) = &object.identity else { continue };
        let name = file_name(id);
        if let Some((first_id, first, _)) = by_name.get(&name) {
            return Err(SplitOutError::Duplicate {
                id: Box::new((*first_id).clone()),
                first: describe(first),
                second: describe(&object.origin),
            });
        }
        by_name.insert(name, (id, &object.origin, &object.value));
    }
    std::fs::create_dir_all(out).map_err(|e| SplitOutError::Write {
        path: out.display().to_string(),
        message: e.to_string(),
    })?;
    let mut written = Vec::new();
    for (name, (_, _, value)) in by_name {
        let path = out.join(&name);
        let yaml = serde_saphyr::to_string(value).map_err(|e| SplitOutError::Write {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
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
pub fn yaml_stream(objects: &[RenderedObject]) -> Result<String, SplitOutError> {
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
