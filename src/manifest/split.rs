//! Splitting a YAML or JSON file into documents, each with its 1-based line span.
//!
//! YAML goes through [`super::yaml`] (granit-parser events), which handles `---` inside block
//! scalars, comment-only and empty documents, `...` end markers, a BOM, CRLF, anchors, aliases and
//! merge keys, and refuses alias bombs and absurd nesting. Files ending in `.json` go through
//! serde_json.

use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_json::Value;

use super::identity::list_items;
use super::value::{FileText, LazyValue};
use super::yaml::{YamlWarning, YamlWarningKind, parse_stream};

/// One document (or one item of a `List` document) and the lines it occupies.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// First line of the document's own content (after `---` and comments), 1-based.
    pub line: usize,
    /// Last line of content, 1-based, inclusive.
    pub end_line: usize,
    /// Shared, because base and head reuse the documents of identical blobs.
    pub value: Arc<LazyValue>,
    /// Start lines of a `List` document's items (YAML only), used when expanding it.
    pub item_lines: Vec<usize>,
    /// Duplicate keys and YAML 1.1 readings within the document's lines (YAML only).
    pub warnings: Vec<YamlWarning>,
}

/// A file that could not be parsed, with the line and column the parser stopped at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SplitError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Splits a file's bytes into documents; `path` decides between JSON and YAML.
/// `List` documents are expanded into their items. Documents that are not mappings are kept
/// (the caller decides what is an object).
pub fn split(path: &str, bytes: &[u8]) -> Result<Vec<Document>, SplitError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = 1 + std::str::from_utf8(&valid[line_start..]).map_or(0, |t| t.chars().count());
        SplitError {
            line,
            column,
            message: format!(
                "the file is not valid UTF-8: byte 0x{:02x} at line {line}, column {column} \
                 (YAML and JSON files must be UTF-8)",
                bytes[e.valid_up_to()]
            ),
        }
    })?;
    let lines = LineIndex::new(text);
    let mut docs = if path.ends_with(".json") {
        split_json(text, &lines)?
    } else {
        split_yaml(text, &lines)?
    };
    expand_lists(&lines, &mut docs);
    Ok(docs)
}

/// [`split`] for a blob whose documents are mostly read only in outline (one both sides of a
/// comparison share): each YAML document `whole` does not ask for keeps only its apiVersion, kind
/// and metadata, and the file's text is kept to read the rest when something does (see
/// [`LazyValue`]), counting that in `reads`. `whole` sees each document's whole value.
///
/// Errors: those of [`split`].
pub fn split_outlined(
    path: &str,
    bytes: Vec<u8>,
    whole: &(dyn Fn(&Value) -> bool + Sync),
    reads: &Arc<std::sync::atomic::AtomicUsize>,
) -> Result<Vec<Document>, SplitError> {
    let mut docs = split(path, &bytes)?;
    if path.ends_with(".json") {
        return Ok(docs);
    }
    // The text is kept only once a document is outlined.
    let mut text = Some(bytes);
    let mut file: Option<Arc<FileText>> = None;
    for (index, doc) in docs.iter_mut().enumerate() {
        if whole(doc.value.outline()) {
            continue;
        }
        if file.is_none() {
            // `split` checked that the bytes are UTF-8.
            let Some(Ok(text)) = text.take().map(String::from_utf8) else {
                break;
            };
            file = Some(FileText::new(path, text, Arc::clone(reads)));
        }
        let (Some(file), Some(value)) = (&file, Arc::get_mut(&mut doc.value)) else {
            continue;
        };
        let taken = std::mem::replace(value, LazyValue::whole(Value::Null));
        *value = LazyValue::outlined(taken.into_whole(), file, index);
    }
    Ok(docs)
}

fn split_yaml(text: &str, lines: &LineIndex) -> Result<Vec<Document>, SplitError> {
    let parsed = parse_stream(text).map_err(|e| {
        let (line, column) = lines.parser_position(e.line, e.column);
        SplitError {
            line,
            column,
            message: e.message,
        }
    })?;
    let starts: Vec<usize> = parsed
        .iter()
        .map(|d| lines.parser_position(d.line, 1).0)
        .collect();
    Ok(parsed
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let line = starts[i];
            let limit = starts.get(i + 1).map_or(lines.count(), |next| next - 1);
            Document {
                line,
                end_line: lines.last_content_line(line, limit),
                value: Arc::new(d.value.into()),
                item_lines: d
                    .item_lines
                    .iter()
                    .map(|&l| lines.parser_position(l, 1).0)
                    .collect(),
                warnings: d
                    .warnings
                    .into_iter()
                    .map(|w| lines.file_warning(w))
                    .collect(),
            }
        })
        .collect())
}

fn split_json(text: &str, lines: &LineIndex) -> Result<Vec<Document>, SplitError> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Plain>();
    let mut docs = Vec::new();
    loop {
        let start = stream.byte_offset();
        match stream.next() {
            None => break,
            Some(Ok(Plain(value))) => {
                let content_start = start + text[start..].len() - text[start..].trim_start().len();
                let end = stream.byte_offset();
                docs.push(Document {
                    line: lines.line_of(content_start),
                    end_line: lines.line_of(end.saturating_sub(1).max(content_start)),
                    value: Arc::new(value.into()),
                    item_lines: Vec::new(),
                    warnings: Vec::new(),
                });
            }
            Some(Err(e)) => {
                let (line, column) = lines.clamp(e.line().max(1), e.column().max(1));
                return Err(SplitError {
                    line,
                    column,
                    message: e
                        .to_string()
                        .split(" at line ")
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                });
            }
        }
    }
    Ok(docs)
}

/// Reads one JSON text into a value exactly as written: every JSON reader of untrusted content
/// (files, renderers' output) goes through here, never through `Value`'s own reader (see [`Plain`]).
pub fn json_value(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice::<Plain>(bytes).map(|plain| plain.0)
}

/// A JSON value read as written. `Value`'s own reader, with serde_json's `raw_value` feature
/// (axum turns it on), reads an object keyed `$serde_json::private::RawValue` as the JSON text
/// held inside it, so a file could show clobbercheck another object than the API server sees.
struct Plain(Value);

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PlainVisitor)
    }
}

struct PlainVisitor;

impl<'de> Visitor<'de> for PlainVisitor {
    type Value = Plain;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Plain, E> {
        Ok(Plain(Value::Null))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Plain, E> {
        Ok(Plain(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Plain, E> {
        Ok(Plain(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Plain, E> {
        Ok(Plain(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Plain, E> {
        Ok(Plain(Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Plain, E> {
        Ok(Plain(Value::String(v.to_string())))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Plain, A::Error> {
        let mut items = Vec::new();
        while let Some(Plain(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Plain(Value::Array(items)))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Plain, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some((key, Plain(value))) = map.next_entry::<String, Plain>()? {
            object.insert(key, value);
        }
        Ok(Plain(Value::Object(object)))
    }
}

/// Replaces each `List` document by its items, each with its own line span where the items'
/// lines can be found (YAML), else the list's span.
fn expand_lists(lines: &LineIndex, docs: &mut Vec<Document>) {
    if !docs.iter().any(|d| list_items(&d.value).is_some()) {
        return;
    }
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs.drain(..) {
        let Some(items) = list_items(&doc.value) else {
            out.push(doc);
            continue;
        };
        let item_lines = Some(&doc.item_lines).filter(|l| l.len() == items.len());
        for (i, item) in items.iter().enumerate() {
            let (line, end_line) = match &item_lines {
                Some(starts) => {
                    let limit = starts.get(i + 1).map_or(doc.end_line, |next| next - 1);
                    (starts[i], lines.last_content_line(starts[i], limit))
                }
                None => (doc.line, doc.end_line),
            };
            let warnings = doc
                .warnings
                .iter()
                .filter(|w| (line..=end_line).contains(&w.line))
                .cloned()
                .collect();
            out.push(Document {
                line,
                end_line,
                value: Arc::new(item.clone().into()),
                item_lines: Vec::new(),
                warnings,
            });
        }
    }
    *docs = out;
}

/// Byte offsets of line starts, for turning offsets into lines and finding content ends.
///
/// Lines are what git, editors and GitHub count: only `\n` ends one. The YAML parser also ends
/// a line at a lone `\r` (YAML 1.2 does), so for text holding one, `parser_starts` keeps the
/// parser's line starts to translate its lines.
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
    parser_starts: Option<Vec<usize>>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        if starts.last() == Some(&text.len()) && starts.len() > 1 {
            starts.pop();
        }
        let bytes = text.as_bytes();
        let lone_cr = |i: usize| bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n');
        let parser_starts = text.contains('\r').then(|| {
            std::iter::once(0)
                .chain(
                    (0..bytes.len())
                        .filter(|&i| bytes[i] == b'\n' || lone_cr(i))
                        .map(|i| i + 1),
                )
                .collect()
        });
        Self {
            text,
            starts,
            parser_starts,
        }
    }

    fn count(&self) -> usize {
        self.starts.len()
    }

    /// A position inside the file for one a parser reports: the end of input (the line after
    /// a final newline) is the end of the last line.
    fn clamp(&self, line: usize, column: usize) -> (usize, usize) {
        if line <= self.count() {
            return (line, column);
        }
        let last = self.line_text(self.count()).trim_end_matches(['\n', '\r']);
        (self.count(), last.chars().count() + 1)
    }

    /// The file's line and column for the YAML parser's 1-based line and column.
    fn parser_position(&self, line: usize, column: usize) -> (usize, usize) {
        let Some(parser_starts) = &self.parser_starts else {
            return self.clamp(line, column);
        };
        let Some(&start) = parser_starts
            .get(line.max(1) - 1)
            .filter(|&&s| s < self.text.len())
        else {
            return self.clamp(self.count() + 1, column);
        };
        let file_line = self.line_of(start);
        let before = &self.text[self.starts[file_line - 1]..start];
        (file_line, before.chars().count() + column)
    }

    /// A reader warning with its lines (the parser's) turned into the file's.
    fn file_warning(&self, warning: YamlWarning) -> YamlWarning {
        let kind = match warning.kind {
            YamlWarningKind::DuplicateKey { key, first_line } => YamlWarningKind::DuplicateKey {
                key,
                first_line: self.parser_position(first_line, 1).0,
            },
            other => other,
        };
        YamlWarning {
            line: self.parser_position(warning.line, 1).0,
            kind,
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).max(1)
    }

    fn line_text(&self, line: usize) -> &str {
        let start = self.starts[line - 1];
        let end = self.starts.get(line).copied().unwrap_or(self.text.len());
        &self.text[start..end]
    }

    /// The last line in `from..=limit` that holds content: not blank, not a comment, not a
    /// document marker.
    fn last_content_line(&self, from: usize, limit: usize) -> usize {
        let limit = limit.min(self.count());
        (from..=limit)
            .rev()
            .find(|&l| {
                let t = self.line_text(l).trim();
                !(t.is_empty()
                    || t.starts_with('#')
                    || t == "---"
                    || t == "..."
                    || t.starts_with("--- #"))
            })
            .unwrap_or(from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(path: &str, text: &str) -> Vec<(usize, usize)> {
        split(path, text.as_bytes())
            .unwrap()
            .iter()
            .map(|d| (d.line, d.end_line))
            .collect()
    }

    #[test]
    fn documents_with_comments_markers_and_block_scalars() {
        let text = "# head\n---\n# c\na: 1\nb: |\n  ---\n  x\n\n---\n# only a comment\n---\n...\n---\nc: 2\n...\n";
        assert_eq!(spans("f.yaml", text), vec![(4, 7), (14, 14)]);
    }

    #[test]
    fn bom_crlf_anchors_merge() {
        let text = "\u{feff}base: &b {x: 1}\r\nobj:\r\n  <<: *b\r\n  y: 2\r\n";
        let docs = split("f.yaml", text.as_bytes()).unwrap();
        assert_eq!(docs[0].value["obj"], serde_json::json!({"x": 1, "y": 2}));
        assert_eq!((docs[0].line, docs[0].end_line), (1, 4));
    }

    #[test]
    fn list_items_get_their_own_lines() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n";
        assert_eq!(spans("l.yaml", text), vec![(4, 6), (7, 9)]);
    }

    #[test]
    fn list_items_keep_their_own_warnings() {
        let text = "kind: List\nitems:\n- kind: A\n  a: on\n- kind: B\n  b: 1\n  b: 2\n";
        let docs = split("l.yaml", text.as_bytes()).unwrap();
        let lines: Vec<Vec<usize>> = docs
            .iter()
            .map(|d| d.warnings.iter().map(|w| w.line).collect())
            .collect();
        assert_eq!(lines, vec![vec![4], vec![7]]);
    }

    #[test]
    fn lone_carriage_returns_do_not_shift_lines() {
        assert_eq!(
            spans("f.yaml", "a: 1\rb: 2\n---\nc: 3\n"),
            vec![(1, 1), (3, 3)]
        );
        let e = split("f.yaml", b"a: 1\rb: [\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 9), "{e:?}");
    }

    #[test]
    fn errors_at_the_end_of_input_are_on_the_last_line() {
        let e = split("f.yaml", b"a: 1\nb\n").unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
        let e = split("f.json", b"{\"a\": 1,\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 9), "{e:?}");
    }

    #[test]
    fn json_stream() {
        let text = "\n  {\"a\": 1,\n \"b\": 2}\n{\"c\": 3}\n";
        assert_eq!(spans("x.json", text), vec![(2, 3), (4, 4)]);
    }

    #[test]
    fn json_keys_are_read_as_written() {
        let text = r#"{"$serde_json::private::RawValue": "{\"kind\": \"Secret\"}"}"#;
        let docs = split("x.json", text.as_bytes()).unwrap();
        assert_eq!(
            **docs[0].value,
            serde_json::json!({"$serde_json::private::RawValue": "{\"kind\": \"Secret\"}"})
        );
    }

    #[test]
    fn errors_have_lines() {
        let e = split("f.yaml", b"a: 1\nb: [1\nc: 2\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        let e = split("f.yaml", b"a: 1\nb: \xc3\xa9\xff\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 5));
        assert!(e.message.contains("byte 0xff at line 2, column 5"), "{e:?}");
        let e = split("f.json", b"{\n\"a\": }").unwrap_err();
        assert_eq!(e.line, 2);
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a: &a [x,x,x,x,x,x,x,x,x]\n");
        for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
        {
            text.push_str(&format!("{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
        }
        let e = split("bomb.yaml", text.as_bytes()).unwrap_err();
        assert!(e.message.contains("alias bomb"), "{e:?}");
    }
}
