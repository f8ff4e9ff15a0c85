//! The pull request's text diff, per file: which head lines it adds and which lines GitHub shows.
//!
//! "New in the PR" is decided here: a definition in a file the PR adds, or whose lines are all
//! added lines, or produced by a render target the PR adds (its entry point is absent in base). Review comments may only target lines inside the diff's hunks, which this module
//! also knows (GitHub shows three lines of context around each change).

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use similar::{Algorithm, DiffTag, TextDiff};

use crate::manifest::Origin;
use crate::revision::{Revision, RevisionError};
use crate::snapshot::Snapshot;

/// Lines of context GitHub shows around each change in a pull request diff.
pub const CONTEXT_LINES: usize = 3;

/// How one head file changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileDiff {
    /// The file does not exist in base.
    Added,
    /// The file exists in both with different content.
    Modified {
        /// Head line ranges (1-based, inclusive) that the PR adds or changes.
        added: Vec<RangeInclusive<usize>>,
        /// Head line ranges visible in the PR diff (changes plus context).
        hunks: Vec<RangeInclusive<usize>>,
    },
}

/// Per-path changes of head against base. Paths absent here are unchanged.
#[derive(Debug, Default, Clone)]
pub struct PrDiff {
    files: HashMap<String, FileDiff>,
    /// Render targets of head whose entry point base does not have.
    added_targets: std::collections::HashSet<String>,
    /// Render targets of head whose entry point is no file of head (the kustomization a Flux
    /// Kustomization's build generates): their documents name their own files and lines.
    generated_targets: std::collections::HashSet<String>,
    /// Applications generated in head whose producing element is new: `(set path, set line,
    /// producer description)`.
    added_generated: std::collections::HashSet<(String, usize, String)>,
}

impl PrDiff {
    /// Diffs every selected head file against the base file of the same path.
    pub fn compute(
        base: &Snapshot,
        head: &Snapshot,
        base_rev: &dyn Revision,
        head_rev: &dyn Revision,
    ) -> Result<Self, RevisionError> {
        let mut files = HashMap::new();
        // A head derived from base's snapshot names the paths that differ: only they are looked
        // at, and only its objects built again can come from them.
        let changed = head.changed_since(base);
        let defining: std::collections::HashSet<&str> = match head.fresh_since(base) {
            Some(fresh) => fresh.map(|o| o.origin.path.as_str()).collect(),
            None => head
                .objects
                .iter()
                .map(|o| o.origin.path.as_str())
                .collect(),
        };
        let paths: Box<dyn Iterator<Item = (&String, &crate::snapshot::SnapshotFile)>> =
            match changed {
                Some(changed) => {
                    Box::new(changed.iter().filter_map(|p| head.files.get_key_value(p)))
                }
                None => Box::new(head.files.iter()),
            };
        for (path, file) in paths {
            match base.files.get(path) {
                None => {
                    files.insert(path.clone(), FileDiff::Added);
                }
                Some(old) if old.oid == file.oid && !file.oid.is_zero() => {}
                Some(old) => {
                    if !defining.contains(path.as_str()) {
                        continue;
                    }
                    let old_bytes = base_rev.read(&old.entry)?;
                    let new_bytes = head_rev.read(&file.entry)?;
                    if old_bytes == new_bytes {
                        continue;
                    }
                    files.insert(path.clone(), diff_text(&old_bytes, &new_bytes));
                }
            }
        }
        let added_targets = head
            .targets
            .iter()
            .filter(|t| !base.files.contains_key(&t.entry))
            .map(|t| t.name.clone())
            .collect();
        let generated_targets = head
            .targets
            .iter()
            .filter(|t| !head.files.contains_key(&t.entry))
            .map(|t| t.name.clone())
            .collect();
        let mut diff = Self {
            files,
            added_targets,
            generated_targets,
            added_generated: Default::default(),
        };
        diff.added_generated = diff.new_generated(base, head);
        Ok(diff)
    }

    /// The generated Applications of head whose producer is new: a directory base does not have,
    /// a generator file base does not have, or a document (the ApplicationSet, a cluster Secret)
    /// new in the PR. So a PR that adds only a folder adds the Application generated from it.
    fn new_generated(
        &self,
        base: &Snapshot,
        head: &Snapshot,
    ) -> std::collections::HashSet<(String, usize, String)> {
        use crate::deploy::applicationset::Evidence;
        let mut out = std::collections::HashSet::new();
        let generated: Vec<&Origin> = head
            .rendered_or_generated()
            .map(|o| &o.origin)
            .filter(|o| o.generator.is_some())
            .collect();
        if generated.is_empty() {
            return out;
        }
        let mut base_dirs: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for path in base.files.keys() {
            let mut rest = path.as_str();
            while let Some((dir, _)) = rest.rsplit_once('/') {
                if !base_dirs.insert(dir) {
                    break;
                }
                rest = dir;
            }
        }
        for origin in generated {
            let Some(producer) = &origin.generator else {
                continue;
            };
            let new = producer.evidence.iter().any(|e| match e {
                Evidence::Directory(dir) => !base_dirs.contains(dir.as_str()),
                Evidence::File(path) => !base.files.contains_key(path),
                Evidence::Document(doc) => self.is_new(doc),
            });
            if new {
                out.insert((
                    origin.path.clone(),
                    origin.line,
                    producer.description.clone(),
                ));
            }
        }
        out
    }

    /// How a head path changed, or `None` when it did not.
    pub fn file(&self, path: &str) -> Option<&FileDiff> {
        self.files.get(path)
    }

    /// Whether a head definition is new in the PR: its file is added or all its lines are; for
    /// a rendered definition, its render target is added (a generated kustomization's
    /// documents, which name their own files, are judged by their lines); for a generated
    /// Application, its producing element is new.
    pub fn is_new(&self, origin: &Origin) -> bool {
        if let Some(producer) = &origin.generator {
            return self.added_generated.contains(&(
                origin.path.clone(),
                origin.line,
                producer.description.clone(),
            ));
        }
        if let Some(target) = &origin.target
            && !self.generated_targets.contains(target)
        {
            return self.added_targets.contains(target);
        }
        match self.files.get(&origin.path) {
            Some(FileDiff::Added) => true,
            Some(FileDiff::Modified { added, .. }) => {
                let mut line = origin.line;
                for range in added {
                    if *range.end() < line {
                        continue;
                    }
                    if *range.start() > line {
                        return false;
                    }
                    line = range.end() + 1;
                    if line > origin.end_line {
                        return true;
                    }
                }
                false
            }
            None => false,
        }
    }

    /// Whether a head line is shown in the PR diff, so a review comment may target it.
    pub fn in_hunk(&self, path: &str, line: usize) -> bool {
        match self.files.get(path) {
            Some(FileDiff::Added) => true,
            Some(FileDiff::Modified { hunks, .. }) => hunks.iter().any(|r| r.contains(&line)),
            None => false,
        }
    }

    /// Whether a head path changed at all.
    pub fn touches(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }
}

fn diff_text(old: &[u8], new: &[u8]) -> FileDiff {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Patience)
        .timeout(Duration::from_secs(5))
        .diff_lines(old.as_ref(), new.as_ref());
    let new_len = diff.new_len();
    let mut added: Vec<RangeInclusive<usize>> = Vec::new();
    for op in diff.ops() {
        let (tag, _, new_range) = op.as_tag_tuple();
        if matches!(tag, DiffTag::Insert | DiffTag::Replace) && !new_range.is_empty() {
            let range = new_range.start + 1..=new_range.end;
            match added.last_mut() {
                Some(last) if *last.end() + 1 >= *range.start() => {
                    *last = *last.start()..=*range.end();
                }
                _ => added.push(range),
            }
        }
    }
    let mut hunks: Vec<RangeInclusive<usize>> = Vec::new();
    for group in diff.grouped_ops(CONTEXT_LINES) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let start = first.new_range().start + 1;
        let end = last.new_range().end.min(new_len);
        if end >= start {
            hunks.push(start..=end);
        }
    }
    FileDiff::Modified { added, hunks }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(line: usize, end_line: usize) -> Origin {
        Origin {
            path: "f.yaml".into(),
            line,
            end_line,
            target: None,
            generator: None,
        }
    }

    #[test]
    fn appended_document_is_new_and_old_one_is_not() {
        let old = "a: 1\nb: 2\n";
        let new = "a: 1\nb: 2\n---\nc: 3\nd: 4\n";
        let mut pr = PrDiff::default();
        pr.files
            .insert("f.yaml".into(), diff_text(old.as_bytes(), new.as_bytes()));
        assert!(!pr.is_new(&origin(1, 2)));
        assert!(pr.is_new(&origin(4, 5)));
        assert!(pr.in_hunk("f.yaml", 5));
    }

    #[test]
    fn partly_changed_document_is_not_new() {
        let old = "a: 1\nb: 2\nc: 3\n";
        let new = "a: 1\nb: 9\nc: 3\n";
        let mut pr = PrDiff::default();
        pr.files
            .insert("f.yaml".into(), diff_text(old.as_bytes(), new.as_bytes()));
        assert!(!pr.is_new(&origin(1, 3)));
        assert!(pr.is_new(&origin(2, 2)));
    }

    #[test]
    fn rendered_definitions_are_new_only_when_their_target_is() {
        let mut pr = PrDiff::default();
        pr.files
            .insert("env/a/main.jsonnet".into(), FileDiff::Added);
        pr.added_targets.insert("env/b/main.jsonnet".into());
        let rendered = |target: &str| Origin {
            path: "env/a/main.jsonnet".into(),
            line: 1,
            end_line: 1,
            target: Some(target.into()),
            generator: None,
        };
        assert!(pr.is_new(&rendered("env/b/main.jsonnet")));
        assert!(!pr.is_new(&rendered("env/a/main.jsonnet")));
    }

    #[test]
    fn hunks_include_context_only() {
        let old: String = (1..=20).map(|i| format!("l{i}\n")).collect();
        let new = old.replace("l10\n", "changed\n");
        let FileDiff::Modified { hunks, .. } = diff_text(old.as_bytes(), new.as_bytes()) else {
            panic!("modified expected");
        };
        assert_eq!(hunks, vec![7..=13]);
    }
}
