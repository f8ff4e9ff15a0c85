//! YAML streams to JSON values, built straight from parser events.
//!
//! Going from granit-parser's events to `serde_json::Value` ourselves (instead of through a serde
//! deserializer) is about 2.5 times faster on large repositories, and the events carry the line
//! of every node: each document's start line and each `List` item's line come for free.
//!
//! Semantics follow what the Kubernetes API server does with YAML (sigs.k8s.io/yaml): the core
//! schema for plain scalars, merge keys (`<<`, explicit keys win, earlier sources win), duplicate
//! keys (the last wins), non-string keys turned into strings. Numbers written with leading zeros
//! (`0755`) are kept as strings so that no reading is silently changed. Anchors and aliases are
//! expanded under a node budget, so an alias bomb is refused instead of exhausting memory;
//! nesting deeper than [`MAX_DEPTH`] is refused, so no recursion can overflow the stack.
//!
//! What is read but may not mean what the author thinks comes back as [`YamlWarning`]s: a
//! duplicate key (the earlier value is dropped) and a plain scalar that a YAML 1.1 reader — kubectl
//! and Argo CD go through sigs.k8s.io/yaml, whose go-yaml v2 resolves `yes`, `on`, `0755`,
//! `1_000`, `0b101` as booleans and numbers — reads differently from this YAML 1.2 reader.

pub mod fast;

use std::collections::HashMap;

use granit_parser::{Event, Parser, ScalarStyle, ScanError};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

/// Nodes (including those produced by expanding aliases) one file may produce, beyond its size.
const NODE_BUDGET_BASE: usize = 1_000_000;

/// Deepest nesting of sequences and mappings: the deepest serde_json reads (its recursion limit
/// stops at 128), so every value read here can be written as JSON and read back (render targets
/// hand their objects over as JSON; `.json` files are read with serde_json). The parser's own
/// limit is 256.
pub const MAX_DEPTH: usize = 127;

/// One document of a stream: its root value and where it starts.
#[derive(Debug, PartialEq)]
pub struct RawDocument {
    /// Line of the root node (after `---`, directives and comments), 1-based.
    pub line: usize,
    pub value: Value,
    /// Start lines of the elements of a top-level `items:` sequence, for `List` documents.
    pub item_lines: Vec<usize>,
    /// What was read but may not mean what the author thinks, in source order.
    pub warnings: Vec<YamlWarning>,
}

/// Something the reader accepted that a reviewer should know about, at its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct YamlWarning {
    pub line: usize,
    pub kind: YamlWarningKind,
}

/// What a [`YamlWarning`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum YamlWarningKind {
    /// A mapping key written twice: the last value wins (as in Kubernetes), the earlier one is
    /// silently dropped.
    DuplicateKey { key: String, first_line: usize },
    /// A plain scalar this reader takes as the string `scalar`, while a YAML 1.1 reader such as
    /// kubectl's takes it as `yaml11` (a boolean or a number, as JSON text). `key`: it is a
    /// mapping key (a YAML 1.1 reader turns `on:` into the key `true`), not a value.
    Yaml11Scalar {
        scalar: String,
        yaml11: String,
        key: bool,
    },
}

impl YamlWarning {
    /// Whether two warnings are about the same thing, wherever it moved: tells old debt (the
    /// base definition already had it) from a warning the PR introduces.
    pub fn same_as(&self, other: &YamlWarning) -> bool {
        match (&self.kind, &other.kind) {
            (
                YamlWarningKind::DuplicateKey { key: a, .. },
                YamlWarningKind::DuplicateKey { key: b, .. },
            ) => a == b,
            (
                YamlWarningKind::Yaml11Scalar { scalar: a, .. },
                YamlWarningKind::Yaml11Scalar { scalar: b, .. },
            ) => a == b,
            _ => false,
        }
    }
}

/// A parse failure with its 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl YamlError {
    /// The parser's error, made precise where its own words are vague: a tab used for
    /// indentation is reported at the line that holds it, a control character (NUL included)
    /// by its code point.
    fn scan(e: &ScanError, text: &str) -> Self {
        let line = e.marker().line().max(1);
        let column = e.marker().col() + 1;
        let info = e.info();
        if info.contains("tab")
            && let Some((tab_line, tab_column)) = indentation_tab(text, line)
        {
            return Self {
                line: tab_line,
                column: tab_column,
                message: "a tab is used for indentation; YAML indents with spaces only".into(),
            };
        }
        if let Some(c) = info
            .strip_prefix("unexpected character: `")
            .and_then(|rest| rest.strip_suffix('\''))
            .and_then(unescape_char)
            .filter(|c| c.is_control())
        {
            let what = if c == '\0' {
                "a NUL byte".to_string()
            } else {
                format!("the control character U+{:04X}", c as u32)
            };
            return Self {
                line,
                column,
                message: format!("{what} is not allowed in YAML (is this a binary file?)"),
            };
        }
        Self {
            line,
            column,
            message: info,
        }
    }
}

/// The first line at or after `from` (1-based) whose indentation holds a tab, and the tab's column.
fn indentation_tab(text: &str, from: usize) -> Option<(usize, usize)> {
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1))
        .find_map(|(i, line)| {
            let indent = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
            indent.find('\t').map(|col| (i + 1, col + 1))
        })
}

/// The character of the parser's `\u{..}` notation.
fn unescape_char(text: &str) -> Option<char> {
    let hex = text.strip_prefix("\\u{")?.strip_suffix('}')?;
    char::from_u32(u32::from_str_radix(hex, 16).ok()?)
}

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
    },
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        /// Line of the pending key.
        key_line: usize,
        /// Line of each key of `map`, in its order, to name the first of duplicate keys.
        key_lines: Vec<usize>,
        /// The pending key is a plain `<<`: the value is a merge source.
        merge_key: bool,
        merges: Vec<Value>,
        anchor: usize,
    },
}

/// Parses a whole stream; documents that are empty or hold only comments are left out.
///
/// Tries [`fast::parse`] first (the narrow subset GitOps YAML is written in, several times
/// faster); anything outside it goes through [`parse_stream_full`], so answers never differ.
pub fn parse_stream(text: &str) -> Result<Vec<RawDocument>, YamlError> {
    match fast::parse(text) {
        Some(docs) => Ok(docs),
        None => parse_stream_full(text),
    }
}

/// [`parse_stream`] through granit-parser's events alone: all of YAML, with errors. The reference
/// the fast path is tested against.
pub fn parse_stream_full(text: &str) -> Result<Vec<RawDocument>, YamlError> {
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Value, usize)> = HashMap::new();
    let budget = NODE_BUDGET_BASE + text.len();
    let mut nodes = 0usize;
    let mut doc_line: Option<usize> = None;
    let mut item_lines = Vec::new();
    let mut warnings = Vec::new();
    let mut root: Option<Value> = None;
    for event in parser.by_ref() {
        let (event, span) = event.map_err(|e| YamlError::scan(&e, text))?;
        let line = span.start.line();
        let error = |message: String| YamlError {
            line,
            column: span.start.col() + 1,
            message,
        };
        let starts_node = matches!(
            event,
            Event::Scalar(..)
                | Event::SequenceStart(..)
                | Event::MappingStart(..)
                | Event::Alias(_)
        );
        if doc_line.is_none() && starts_node {
            doc_line = Some(line);
        }
        // The start line of each element of the root mapping's `items` sequence.
        if stack.len() == 2
            && starts_node
            && matches!(&stack[0], Frame::Map { key: Some(k), .. } if k == "items")
            && matches!(&stack[1], Frame::Seq { .. })
        {
            item_lines.push(line);
        }
        let mut plain_merge = false;
        let (value, anchor) = match event {
            Event::StreamStart | Event::StreamEnd => continue,
            Event::DocumentStart(..) => {
                doc_line = None;
                item_lines.clear();
                warnings.clear();
                root = None;
                anchors.clear();
                continue;
            }
            Event::DocumentEnd => {
                if let (Some(value), Some(line)) = (root.take(), doc_line)
                    && !value.is_null()
                {
                    docs.push(RawDocument {
                        line,
                        value,
                        item_lines: std::mem::take(&mut item_lines),
                        warnings: std::mem::take(&mut warnings),
                    });
                }
                continue;
            }
            Event::Alias(id) => {
                let Some((value, size)) = anchors.get(&id) else {
                    return Err(error(format!("alias to unknown anchor #{id}")));
                };
                nodes += size;
                if nodes > budget {
                    return Err(error(format!(
                        "aliases expand to more than {budget} nodes: refused (alias bomb?)"
                    )));
                }
                (value.clone(), 0)
            }
            Event::Scalar(text, style, anchor, tag) => {
                nodes += 1;
                // Only a plain `<<` key merges; a quoted one is an ordinary key.
                plain_merge = style == ScalarStyle::Plain && tag.is_none() && text == "<<";
                if style == ScalarStyle::Plain
                    && tag.is_none()
                    && let Some(yaml11) = yaml11_reading(&text)
                {
                    let key = matches!(stack.last(), Some(Frame::Map { key: None, .. }));
                    warnings.push(YamlWarning {
                        line,
                        kind: YamlWarningKind::Yaml11Scalar {
                            scalar: text.to_string(),
                            yaml11,
                            key,
                        },
                    });
                }
                let tag_suffix = tag.as_ref().map(|t| t.suffix().to_string());
                (scalar(&text, style, tag_suffix.as_deref()), anchor)
            }
            Event::SequenceStart(_, anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(error(format!(
                        "recursion limit exceeded: nesting deeper than {MAX_DEPTH} levels"
                    )));
                }
                nodes += 1;
                stack.push(Frame::Seq {
                    items: Vec::new(),
                    anchor,
                });
                continue;
            }
            Event::MappingStart(_, anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(error(format!(
                        "recursion limit exceeded: nesting deeper than {MAX_DEPTH} levels"
                    )));
                }
                nodes += 1;
                stack.push(Frame::Map {
                    map: Map::new(),
                    key: None,
                    key_line: 0,
                    key_lines: Vec::new(),
                    merge_key: false,
                    merges: Vec::new(),
                    anchor,
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq { items, anchor }) => (Value::Array(items), anchor),
                _ => return Err(error("unbalanced sequence end".into())),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    mut map,
                    merges,
                    anchor,
                    ..
                }) => {
                    apply_merges(&mut map, merges).map_err(&error)?;
                    (Value::Object(map), anchor)
                }
                _ => return Err(error("unbalanced mapping end".into())),
            },
            _ => continue,
        };
        if nodes > budget {
            return Err(error(format!("more than {budget} nodes: refused")));
        }
        if anchor != 0 {
            anchors.insert(anchor, (value.clone(), count_nodes(&value)));
        }
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map {
                map,
                key,
                key_line,
                key_lines,
                merge_key,
                merges,
                ..
            }) => match key.take() {
                None => {
                    *merge_key = plain_merge;
                    *key = Some(key_string(value));
                    *key_line = line;
                }
                Some(k) => {
                    if std::mem::take(merge_key) {
                        merges.push(value);
                    } else {
                        insert_key(map, key_lines, 0, k, *key_line, value, &mut warnings);
                    }
                }
            },
        }
    }
    Ok(docs)
}

/// Inserts `key` (written at 1-based `key_line`) into `map` as Kubernetes reads YAML: the last
/// of duplicate keys wins, in the first one's place, and a [`YamlWarningKind::DuplicateKey`]
/// naming both lines is pushed to `warnings`. `key_lines` from `start` holds the line of each key
/// of `map`, in its order. One implementation for both readers, so they cannot disagree.
fn insert_key(
    map: &mut Map<String, Value>,
    key_lines: &mut Vec<usize>,
    start: usize,
    key: String,
    key_line: usize,
    value: Value,
    warnings: &mut Vec<YamlWarning>,
) {
    match map.entry(key) {
        Entry::Vacant(slot) => {
            key_lines.push(key_line);
            slot.insert(value);
        }
        Entry::Occupied(mut slot) => {
            let key = slot.key().clone();
            slot.insert(value);
            let first_line = map
                .keys()
                .position(|k| *k == key)
                .map_or(key_line, |i| key_lines[start + i]);
            warnings.push(YamlWarning {
                line: key_line,
                kind: YamlWarningKind::DuplicateKey { key, first_line },
            });
        }
    }
}

/// How go-yaml v2 (sigs.k8s.io/yaml, used by kubectl and Argo CD) reads a plain scalar that this
/// reader keeps as a string, as JSON text; `None` when both read it the same. Covered: the YAML
/// 1.1 booleans, leading-zero integers (octal; decimal floats when not octal digits), `_` digit
/// separators and `0b` binary. Sexagesimal (`60:30`) is not: go-yaml v2 reads it as a string too.
pub(super) fn yaml11_reading(text: &str) -> Option<String> {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Some("true".into()),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Some("false".into()),
        _ => {}
    }
    let first = *text.as_bytes().first()?;
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return None;
    }
    let (negative, body) = match first {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let leading_zero = body.len() > 1
        && body.starts_with('0')
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let separated = body.contains('_');
    let binary = body.starts_with("0b");
    if !(leading_zero || separated || binary) {
        return None;
    }
    let digits = body.replace('_', "");
    let sign = if negative { -1 } else { 1 };
    let parsed = if let Some(bin) = digits.strip_prefix("0b") {
        i64::from_str_radix(bin, 2)
            .ok()
            .map(|v| (sign * v).to_string())
    } else if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16)
            .ok()
            .map(|v| (sign * v).to_string())
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8)
            .ok()
            .map(|v| (sign * v).to_string())
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8)
            .ok()
            .map(|v| (sign * v).to_string())
            .or_else(|| float_text(&digits, negative))
    } else if digits.bytes().all(|b| b.is_ascii_digit()) && !digits.is_empty() {
        digits.parse::<i64>().ok().map(|v| (sign * v).to_string())
    } else if is_float(&digits) {
        float_text(&digits, negative)
    } else {
        None
    }?;
    // Only a differing reading is worth a warning; this reader keeps all of these as strings.
    matches!(plain(text), Value::String(_)).then_some(parsed)
}

fn float_text(digits: &str, negative: bool) -> Option<String> {
    let v: f64 = digits.parse().ok()?;
    Number::from_f64(if negative { -v } else { v }).map(|n| n.to_string())
}

/// Merge sources fill in keys the mapping does not set itself; earlier sources win.
fn apply_merges(map: &mut Map<String, Value>, merges: Vec<Value>) -> Result<(), String> {
    for source in merges {
        let sources = match source {
            Value::Object(m) => vec![m],
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::Object(m) => Ok(m),
                    _ => Err("a merge key (<<) list may hold only mappings".to_string()),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err("a merge key (<<) needs a mapping or a list of mappings".into()),
        };
        for m in sources {
            for (k, v) in m {
                map.entry(k).or_insert(v);
            }
        }
    }
    Ok(())
}

fn count_nodes(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

/// Mapping keys become strings, as when YAML is converted to JSON for the API server.
pub(super) fn key_string(value: Value) -> String {
    match value {
        Value::String(s) => s,
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// Resolves a scalar by the YAML 1.2 core schema; quoted and block scalars are strings.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    match tag {
        Some("str") => return Value::String(text.to_string()),
        Some("null") => return Value::Null,
        Some("bool" | "int" | "float") => return plain(text),
        _ => {}
    }
    if style != ScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    plain(text)
}

pub(super) fn plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Value::String(text.to_string());
    }
    if let Some(n) = integer(text) {
        return Value::Number(n);
    }
    if is_float(text)
        && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(text.to_string())
}

fn integer(text: &str) -> Option<Number> {
    let (negative, digits) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let parsed = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()
    } else if digits.bytes().all(|b| b.is_ascii_digit()) {
        // Leading zeros: YAML 1.1 would read octal, 1.2 decimal; keep the text.
        if digits.len() > 1 && digits.starts_with('0') {
            return None;
        }
        if let Ok(v) = digits.parse::<u64>()
            && !negative
        {
            return Some(Number::from(v));
        }
        digits.parse::<i64>().ok()
    } else {
        None
    }?;
    Some(Number::from(if negative { -parsed } else { parsed }))
}

fn is_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mut parts = mantissa.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(whole)
        && fraction.is_none_or(digits)
        && (!whole.is_empty() || fraction.is_some_and(|f| !f.is_empty()));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok && (fraction.is_some() || exponent.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Value {
        let mut docs = parse_stream(text).unwrap();
        assert_eq!(docs.len(), 1);
        docs.remove(0).value
    }

    #[test]
    fn core_schema_scalars() {
        let v = one(
            "a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf: '1'\ng: 0755\nh: 0x1F\ni: 1e3\nj: on\nk: .5\nl: 12abc\nm: \"true\"\nn: !!str 5\n",
        );
        assert_eq!(
            v,
            json!({"a": 1, "b": -2, "c": 1.5, "d": true, "e": null, "f": "1", "g": "0755",
                   "h": 31, "i": 1000.0, "j": "on", "k": 0.5, "l": "12abc", "m": "true", "n": "5"})
        );
    }

    #[test]
    fn merge_keys_explicit_wins_earlier_source_wins() {
        let v = one("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  x: 9\n");
        assert_eq!(v["c"], json!({"x": 9, "y": 1, "z": 2}));
        let quoted = one("a: &a {x: 1}\nc:\n  \"<<\": *a\n");
        assert_eq!(quoted["c"], json!({"<<": {"x": 1}}));
    }

    #[test]
    fn duplicate_keys_last_wins_and_keys_become_strings() {
        let v = one("a: 1\na: 2\n1: x\ntrue: y\n");
        assert_eq!(v, json!({"a": 2, "1": "x", "true": "y"}));
    }

    #[test]
    fn duplicate_keys_warn_with_both_lines() {
        let docs = parse_stream("a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\na: 4\n").unwrap();
        assert_eq!(docs[0].value, json!({"a": 4, "b": {"c": 3, "d": 2}}));
        let kinds: Vec<(usize, YamlWarningKind)> = docs[0]
            .warnings
            .iter()
            .map(|w| (w.line, w.kind.clone()))
            .collect();
        let dup = |key: &str, first_line| YamlWarningKind::DuplicateKey {
            key: key.into(),
            first_line,
        };
        assert_eq!(kinds, vec![(5, dup("c", 3)), (6, dup("a", 1))]);
        let flow = parse_stream("x: {k: 1, k: 2}\n").unwrap();
        assert_eq!(flow[0].warnings.len(), 1);
    }

    #[test]
    fn yaml11_readings_of_plain_scalars() {
        let cases = [
            ("yes", Some("true")),
            ("On", Some("true")),
            ("n", Some("false")),
            ("OFF", Some("false")),
            ("0755", Some("493")),
            ("-010", Some("-8")),
            ("0_755", Some("493")),
            ("09", Some("9.0")),
            ("1_000", Some("1000")),
            ("1_000.5", Some("1000.5")),
            ("0b101", Some("5")),
            ("true", None),
            ("0", None),
            ("0o17", None),
            ("0x1F", None),
            ("1e3", None),
            ("60:30", None),
            ("yesterday", None),
            ("12abc", None),
            ("a_b", None),
        ];
        for (text, expected) in cases {
            assert_eq!(yaml11_reading(text).as_deref(), expected, "{text}");
        }
        let docs = parse_stream("a: yes\nb: 'yes'\nc: !!str on\nd: |\n  on\non: 1\n").unwrap();
        let lines: Vec<usize> = docs[0].warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, vec![1, 6], "{:?}", docs[0].warnings);
    }

    #[test]
    fn tabs_and_control_characters_are_named_at_their_line() {
        let e = parse_stream("a:\n  b: 1\n\tc: 2\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 1), "{e:?}");
        assert!(e.message.contains("tab is used for indentation"), "{e:?}");
        let e = parse_stream("a:\n\tb: 1\n").unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
        assert!(e.message.contains("tab is used for indentation"), "{e:?}");
        let e = parse_stream("a: 1\nb: x\0y\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 5), "{e:?}");
        assert!(e.message.starts_with("a NUL byte is not allowed"), "{e:?}");
        let e = parse_stream("a: \u{7}\n").unwrap_err();
        assert!(e.message.contains("U+0007"), "{e:?}");
    }

    #[test]
    fn document_and_item_lines() {
        let docs =
            parse_stream("# c\n---\n\nkind: List\nitems:\n- a: 1\n-   b: 2\n---\n# x\n...\n")
                .unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].line, 4);
        assert_eq!(docs[0].item_lines, vec![6, 7]);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(10_000) + &"]".repeat(10_000);
        let e = parse_stream(&text).unwrap_err();
        assert!(e.message.contains("recursion limit"), "{e:?}");
        let block: String = (0..600)
            .map(|i| format!("{}a:\n", "  ".repeat(i)))
            .collect();
        let e = parse_stream(&block).unwrap_err();
        assert!(e.message.contains("recursion limit"), "{e:?}");
        assert_eq!(e.line, MAX_DEPTH + 1);
        let deepest = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        let value = &parse_stream(&deepest).unwrap()[0].value;
        let back: Value = serde_json::from_str(&value.to_string()).unwrap();
        assert_eq!(&back, value);
    }
}
