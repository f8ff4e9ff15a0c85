//! Per-object diffs: the effective base and head definitions of one identity as YAML, compared
//! line by line. One implementation for `check --diff`, the check run's text, the Markdown comment
//! and the HTML page; Secret `data`/`stringData` values never leave it.

use serde::Serialize;
use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use crate::classify::{Change, ObjectChange};

/// One object's diff, ready for every format.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectDiff {
    /// `added`, `modified` or `deleted`.
    pub change: &'static str,
    /// The identity as every report names it.
    pub id: String,
    /// `path:line` of the effective head definition, else of the base one.
    pub location: String,
    /// Unified diff (3 lines of context), with any ``` fence broken so it stays inside a code block.
    pub diff: String,
    /// The same comparison side by side, for the HTML page.
    pub rows: Vec<Row>,
}

/// One row of a side-by-side diff: a base line, a head line, or both.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `same`, `removed`, `added` or `changed`.
    pub tag: &'static str,
    pub old_no: Option<usize>,
    pub old: String,
    pub new_no: Option<usize>,
    pub new: String,
}

/// Which side of the comparison a value is from (for Secret placeholders).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Base,
    Head,
}

/// The diff of one changed object; Secrets show which keys changed, never a value.
pub fn object_diff(object: &ObjectChange) -> ObjectDiff {
    let (old, new) = yaml_sides(object);
    let text = TextDiff::from_lines(&old, &new);
    let diff = text
        .unified_diff()
        .context_radius(3)
        .header("base", "head")
        .to_string();
    let location = object
        .effective_head()
        .or(object.effective_base())
        .map(|d| format!("{}:{}", d.path, d.line))
        .unwrap_or_default();
    ObjectDiff {
        change: object.change.as_str(),
        id: object.id.to_string(),
        location,
        diff: diff.trim_end().replace("```", "`\u{200b}``"),
        rows: rows(&text),
    }
}

/// Diffs of the changed objects, the `first` identities (those with findings) first, then
/// modified, added and deleted ones, computed until their total exceeds `budget` characters.
/// Returns them and how many changed objects were left out.
pub fn object_diffs(
    objects: &[&ObjectChange],
    first: &dyn Fn(&ObjectChange) -> bool,
    budget: usize,
) -> (Vec<ObjectDiff>, usize) {
    let mut changed: Vec<&ObjectChange> = objects
        .iter()
        .filter(|o| o.change != Change::Unchanged)
        .copied()
        .collect();
    changed.sort_by_key(|o| {
        let rank = match o.change {
            Change::Modified => 1,
            Change::Added => 2,
            Change::Deleted | Change::Unchanged => 3,
        };
        (!first(o), rank)
    });
    let mut out = Vec::new();
    let mut used = 0;
    for (i, object) in changed.iter().enumerate() {
        if used > budget {
            return (out, changed.len() - i);
        }
        let view = object_diff(object);
        used += view.diff.len() + view.id.len() + 32;
        out.push(view);
    }
    (out, 0)
}

/// The effective base and head definitions as YAML, Secret values hidden.
fn yaml_sides(object: &ObjectChange) -> (String, String) {
    let base = object.effective_base().map(|d| &**d.value);
    let head = object.effective_head().map(|d| &**d.value);
    let secret = is_secret(object);
    let yaml = |value: Option<&Value>, other: Option<&Value>, side: Side| -> String {
        let Some(value) = value else {
            return String::new();
        };
        let shown = if secret {
            redact_secret(value, other, side)
        } else {
            value.clone()
        };
        serde_saphyr::to_string(&shown).unwrap_or_else(|e| format!("# cannot show: {e}\n"))
    };
    (yaml(base, head, Side::Base), yaml(head, base, Side::Head))
}

/// Whether an object is a core Secret, whose values are never shown.
pub fn is_secret(object: &ObjectChange) -> bool {
    object.id.group.is_empty() && object.id.kind == "Secret"
}

fn rows(text: &TextDiff<'_, '_, str>) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    for op in text.ops() {
        let changes: Vec<_> = text.iter_changes(op).collect();
        let removed: Vec<_> = changes
            .iter()
            .filter(|c| c.tag() == ChangeTag::Delete)
            .collect();
        let added: Vec<_> = changes
            .iter()
            .filter(|c| c.tag() == ChangeTag::Insert)
            .collect();
        for c in changes.iter().filter(|c| c.tag() == ChangeTag::Equal) {
            out.push(Row {
                tag: "same",
                old_no: c.old_index().map(|i| i + 1),
                old: c.value().trim_end().to_string(),
                new_no: c.new_index().map(|i| i + 1),
                new: c.value().trim_end().to_string(),
            });
        }
        for i in 0..removed.len().max(added.len()) {
            let (old, new) = (removed.get(i), added.get(i));
            out.push(Row {
                tag: match (old, new) {
                    (Some(_), Some(_)) => "changed",
                    (Some(_), None) => "removed",
                    _ => "added",
                },
                old_no: old.and_then(|c| c.old_index()).map(|i| i + 1),
                old: old
                    .map(|c| c.value().trim_end().to_string())
                    .unwrap_or_default(),
                new_no: new.and_then(|c| c.new_index()).map(|i| i + 1),
                new: new
                    .map(|c| c.value().trim_end().to_string())
                    .unwrap_or_default(),
            });
        }
    }
    out
}

/// A Secret with every `data`/`stringData` value replaced by a placeholder saying only whether
/// it differs from the other side, and without `last-applied-configuration` (which repeats them).
fn redact_secret(value: &Value, other: Option<&Value>, side: Side) -> Value {
    let mut shown = value.clone();
    for field in ["data", "stringData"] {
        let theirs = other.and_then(|o| o.get(field));
        if let Some(Value::Object(map)) = shown.get_mut(field) {
            for (key, v) in map.iter_mut() {
                let same = theirs.and_then(|t| t.get(key)) == Some(&*v);
                let placeholder = match (same, side) {
                    (true, _) => "(value hidden)",
                    (false, Side::Base) => "(value hidden: old)",
                    (false, Side::Head) => "(value hidden: new)",
                };
                *v = Value::String(placeholder.into());
            }
        }
    }
    if let Some(Value::Object(annotations)) = shown
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        && let Some(v) = annotations.get_mut("kubectl.kubernetes.io/last-applied-configuration")
    {
        *v = Value::String("(value hidden)".into());
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_hidden_and_changed_keys_named() {
        let base = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"password\":\"aHVudGVyMg==\"}}"}},
            "data": {"password": "aHVudGVyMg==", "user": "YWRtaW4="}});
        let head = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s"},
            "data": {"password": "c3dvcmRmaXNo", "user": "YWRtaW4="},
            "stringData": {"token": "plain-text-token"}});
        let old = serde_saphyr::to_string(&redact_secret(&base, Some(&head), Side::Base)).unwrap();
        let new = serde_saphyr::to_string(&redact_secret(&head, Some(&base), Side::Head)).unwrap();
        for secret in [
            "aHVudGVyMg==",
            "c3dvcmRmaXNo",
            "YWRtaW4=",
            "plain-text-token",
        ] {
            assert!(
                !old.contains(secret) && !new.contains(secret),
                "{old}\n{new}"
            );
        }
        assert!(old.contains("password: \"(value hidden: old)\""), "{old}");
        assert!(new.contains("password: \"(value hidden: new)\""), "{new}");
        assert!(new.contains("token"), "{new}");
        let diff = TextDiff::from_lines(&old, &new).unified_diff().to_string();
        assert!(diff.contains("-  password"), "{diff}");
        assert!(
            !diff.contains("-  user") && !diff.contains("+  user"),
            "{diff}"
        );
    }

    #[test]
    fn side_by_side_rows_pair_changed_lines() {
        let text = TextDiff::from_lines("a: 1\nb: 2\nc: 3\n", "a: 1\nb: 5\nc: 3\nd: 4\n");
        let tags: Vec<&str> = rows(&text).iter().map(|r| r.tag).collect();
        assert_eq!(tags, vec!["same", "changed", "same", "added"]);
    }
}
