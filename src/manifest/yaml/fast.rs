//! A byte-level reader for the narrow subset of YAML that GitOps repositories are written in.
//!
//! Why: granit-parser's scanner and parser cost about 340 instructions per byte, more than half
//! of a cold `check`. Manifests overwhelmingly use a handful of constructs, which can be read
//! straight from the bytes, line by line, several times faster.
//!
//! The subset, per document (documents separated by `---` lines, optionally followed by a
//! comment; a BOM at the start; LF or CRLF line ends):
//! - a root that is a block mapping or a block sequence, at any indentation;
//! - block mappings whose keys are single-line plain or quoted scalars followed by `: ` (or `:`
//!   at the end of the line), block sequences (`- `, including `key:\n- a` at the key's
//!   indentation, compact `- name: x` mappings and `- - x`);
//! - single-line plain scalars, single-line single- and double-quoted scalars (common escapes);
//! - literal (`|`) and folded (`>`) block scalars with a chomping indicator or none, whose
//!   content is not empty (folded: no more-indented lines);
//! - flow sequences and mappings that close on the line they open on, of the same scalars;
//! - comments and blank lines anywhere outside scalars.
//!
//! The rule: **never different, else fall back**. [`parse`] answers `Some` only when every byte of
//! the stream is inside this subset, with exactly what [`super::parse_stream_full`] answers: the
//! same values (key order, scalar resolution through the same helpers, last duplicate key wins),
//! document lines, `List` item lines and warnings with their lines. On anything else — anchors,
//! aliases, tags, `?` keys, merge keys `<<`, multi-line plain or quoted scalars, multi-line flow
//! collections, directives, `...`, tabs, control characters, lone carriage returns, indentation
//! indicators, empty block scalars, empty sequence entries, a root scalar, nesting near
//! [`MAX_DEPTH`], more than 32 comment lines in a row, anything irregular — it answers `None` and the caller reads the stream with
//! granit-parser, which also reports every error: this reader never produces one. Differential
//! tests (`fast/tests.rs`, the `yaml_split` fuzz target, `tests/yaml_fast.rs` over real
//! repositories) hold it to that.

use serde_json::{Map, Value};

use super::{
    MAX_DEPTH, RawDocument, YamlWarning, YamlWarningKind, insert_key, key_string, plain,
    yaml11_reading,
};

#[cfg(test)]
mod tests;

/// Deepest nesting read here; anything deeper goes to the full reader, which refuses past
/// [`MAX_DEPTH`] with its own error.
const DEPTH_LIMIT: usize = MAX_DEPTH - 27;

/// Longest implicit key (YAML limits them to 1024 characters; the full reader decides beyond).
const KEY_LIMIT: usize = 1000;

/// Most comment lines read between two content lines; more go to the full reader, which refuses
/// runs longer than its look-ahead buffer (96 comments).
const COMMENT_RUN_LIMIT: usize = 32;

/// The stream's documents when it lies entirely inside the subset (module doc), else `None`.
pub fn parse(text: &str) -> Option<Vec<RawDocument>> {
    Reader::new(text)?.stream()
}

/// What follows, skipping blank and comment lines.
enum Next {
    Eof,
    /// A `---` line (index).
    Marker(usize),
    /// A content line: index and indentation.
    Line(usize, usize),
}

/// A mapping key found on a line: its text and where the value starts (after the `:`).
enum Key {
    Plain { start: usize, end: usize },
    Quoted(String),
}

#[derive(Clone, Copy)]
enum Chomp {
    Strip,
    Clip,
    Keep,
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    /// Byte offset of each line's start (after the BOM for the first).
    starts: Vec<usize>,
    /// Byte offset of each line's end (before `\r\n` or `\n`).
    ends: Vec<usize>,
    /// The next line not yet consumed.
    pos: usize,
    depth: usize,
    /// Comment lines since the last content line.
    comments: usize,
    warnings: Vec<YamlWarning>,
    item_lines: Vec<usize>,
    /// The line of each key of the mappings being read, innermost last: one stack for all of
    /// them rather than a vector per mapping.
    key_lines: Vec<usize>,
}

/// Whether a byte may not appear anywhere in the subset's text (below space, except the line
/// feed and a carriage return before one; DEL).
fn forbidden_ascii(b: u8) -> bool {
    (b < 0x20 && b != b'\n' && b != b'\r') || b == 0x7f
}

/// Whether a non-ASCII character is outside the subset: C1 controls (NEL included), line and
/// paragraph separators, a BOM past the start, non-characters.
fn forbidden_char(c: char) -> bool {
    matches!(
        c,
        '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
    )
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Option<Self> {
        let bytes = text.as_bytes();
        let first = if text.starts_with('\u{feff}') { 3 } else { 0 };
        let mut starts = vec![first];
        let mut ends = Vec::new();
        let mut i = first;
        while i < bytes.len() {
            // Eight bytes at a time up to the first that is not plain ASCII (below space, or
            // from DEL up): the lowest flagged byte is always a true one (borrows and carries
            // only run upwards).
            if let Some(chunk) = bytes.get(i..i + 8) {
                const ONES: u64 = 0x0101_0101_0101_0101;
                const HIGH: u64 = 0x8080_8080_8080_8080;
                let x = u64::from_le_bytes(chunk.try_into().ok()?);
                let below_space = x.wrapping_sub(ONES * 0x20) & !x;
                let del_or_above = x | x.wrapping_add(ONES);
                let flagged = (below_space | del_or_above) & HIGH;
                i += flagged.trailing_zeros() as usize / 8;
                if flagged == 0 {
                    continue;
                }
            }
            let b = bytes[i];
            if b == b'\n' {
                let end = if i > 0 && bytes[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                ends.push(end);
                starts.push(i + 1);
                i += 1;
            } else if b < 0x80 {
                if b == b'\r' {
                    if bytes.get(i + 1) != Some(&b'\n') {
                        return None;
                    }
                } else if forbidden_ascii(b) {
                    return None;
                }
                i += 1;
            } else {
                let c = text[i..].chars().next()?;
                if forbidden_char(c) {
                    return None;
                }
                i += c.len_utf8();
            }
        }
        if *starts.last()? == bytes.len() && starts.len() > 1 {
            starts.pop();
        } else {
            ends.push(bytes.len());
        }
        Some(Self {
            text,
            bytes,
            starts,
            ends,
            pos: 0,
            depth: 0,
            comments: 0,
            warnings: Vec::new(),
            item_lines: Vec::new(),
            key_lines: Vec::new(),
        })
    }

    fn stream(mut self) -> Option<Vec<RawDocument>> {
        let mut docs = Vec::new();
        loop {
            match self.next_content()? {
                Next::Eof => break,
                Next::Marker(l) => {
                    self.marker(l)?;
                    self.pos = l + 1;
                }
                Next::Line(l, indent) => {
                    let value = if self.is_dash(l, indent) {
                        self.block_seq(l, indent, false, false)?
                    } else {
                        self.block_map(l, indent, true)?
                    };
                    docs.push(RawDocument {
                        line: l + 1,
                        value,
                        item_lines: std::mem::take(&mut self.item_lines),
                        warnings: std::mem::take(&mut self.warnings),
                    });
                    match self.next_content()? {
                        Next::Eof => break,
                        Next::Marker(l) => {
                            self.marker(l)?;
                            self.pos = l + 1;
                        }
                        Next::Line(..) => return None,
                    }
                }
            }
        }
        Some(docs)
    }

    /// A `---` line holds nothing but an optional comment.
    fn marker(&self, line: usize) -> Option<()> {
        self.rest_empty(self.starts[line] + 3, self.ends[line])
    }

    fn indent(&self, line: usize) -> usize {
        let (s, e) = (self.starts[line], self.ends[line]);
        self.bytes[s..e].iter().take_while(|&&b| b == b' ').count()
    }

    /// What follows `pos`; `pos` moves up to it past blank and comment lines, so that each is
    /// skipped once however many nested collections end there.
    fn next_content(&mut self) -> Option<Next> {
        for l in self.pos..self.starts.len() {
            self.pos = l;
            let (s, e) = (self.starts[l], self.ends[l]);
            let line = &self.bytes[s..e];
            let indent = line.iter().take_while(|&&b| b == b' ').count();
            if indent == line.len() {
                continue;
            }
            if line[indent] == b'#' {
                // granit-parser refuses more than 96 comments buffered while it looks ahead.
                self.comments += 1;
                if self.comments > COMMENT_RUN_LIMIT {
                    return None;
                }
                continue;
            }
            if indent == 0 && (line.starts_with(b"---") || line.starts_with(b"...")) {
                if line.starts_with(b"---") && line.get(3).is_none_or(|&b| b == b' ') {
                    return Some(Next::Marker(l));
                }
                return None;
            }
            self.comments = 0;
            return Some(Next::Line(l, indent));
        }
        self.pos = self.starts.len();
        Some(Next::Eof)
    }

    /// `-` at `col` of `line`, followed by a space or the end of the line.
    fn is_dash(&self, line: usize, col: usize) -> bool {
        let p = self.starts[line] + col;
        self.bytes[p] == b'-' && (p + 1 == self.ends[line] || self.bytes[p + 1] == b' ')
    }

    fn skip_spaces(&self, mut i: usize, end: usize) -> usize {
        while i < end && self.bytes[i] == b' ' {
            i += 1;
        }
        i
    }

    /// Nothing but spaces and an optional comment (after at least one space) from `i` to `end`.
    fn rest_empty(&self, i: usize, end: usize) -> Option<()> {
        let j = self.skip_spaces(i, end);
        (j == end || (j > i && self.bytes[j] == b'#')).then_some(())
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= DEPTH_LIMIT).then_some(())
    }

    /// A plain scalar's value, with its YAML 1.1 warning.
    fn plain_value(&mut self, text: &str, line: usize, key: bool) -> Value {
        if let Some(yaml11) = yaml11_reading(text) {
            self.warnings.push(YamlWarning {
                line: line + 1,
                kind: YamlWarningKind::Yaml11Scalar {
                    scalar: text.to_string(),
                    yaml11,
                    key,
                },
            });
        }
        plain(text)
    }

    /// Whether a plain scalar may start at `i` (not an indicator; `-` only before a non-space).
    fn plain_start(&self, i: usize, end: usize, flow: bool) -> bool {
        match self.bytes[i] {
            b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
            | b'"' | b'%' | b'@' | b'`' | b'?' | b':' | b' ' => false,
            b'-' => self.bytes.get(i + 1).is_some_and(|&b| {
                i + 1 < end && b != b' ' && !(flow && matches!(b, b',' | b'[' | b']' | b'{' | b'}'))
            }),
            _ => true,
        }
    }

    /// The mapping key at `col` of `line`, if the line holds one; `None` inside when it does not.
    fn key_at(&self, line: usize, col: usize) -> Option<Option<(Key, usize)>> {
        let (p, e) = (self.starts[line] + col, self.ends[line]);
        let b = self.bytes;
        if b[p] == b'"' || b[p] == b'\'' {
            let Some((s, q)) = self.quoted(p, e) else {
                return Some(None);
            };
            if q < e && b[q] == b':' && (q + 1 == e || b[q + 1] == b' ') {
                if q - p > KEY_LIMIT {
                    return None;
                }
                return Some(Some((Key::Quoted(s), q + 1)));
            }
            return Some(None);
        }
        if !self.plain_start(p, e, false) {
            return Some(None);
        }
        let mut i = p;
        while i < e {
            match b[i] {
                b':' if i + 1 == e || b[i + 1] == b' ' => {
                    let mut end = i;
                    while b[end - 1] == b' ' {
                        end -= 1;
                    }
                    if i - p > KEY_LIMIT {
                        return None;
                    }
                    return Some(Some((Key::Plain { start: p, end }, i + 1)));
                }
                b'#' if b[i - 1] == b' ' => return Some(None),
                _ => {}
            }
            i += 1;
        }
        Some(None)
    }

    /// A key's string, with the warnings a plain key brings; a plain `<<` (merge key) is refused.
    fn key_string(&mut self, key: Key, line: usize) -> Option<String> {
        match key {
            Key::Quoted(s) => Some(s),
            Key::Plain { start, end } => {
                let text = &self.text[start..end];
                if text == "<<" {
                    return None;
                }
                Some(key_string(self.plain_value(text, line, true)))
            }
        }
    }

    /// Inserts as the full reader does ([`super::insert_key`]); the lines of `map`'s keys are
    /// `key_lines` from `start`.
    fn insert(
        &mut self,
        map: &mut Map<String, Value>,
        start: usize,
        key: String,
        key_line: usize,
        value: Value,
    ) {
        let lines = &mut self.key_lines;
        insert_key(map, lines, start, key, key_line, value, &mut self.warnings);
    }

    /// A block mapping whose first key is at `col` of `line`. `root`: the document's root, whose
    /// `items` sequence records its elements' lines.
    fn block_map(&mut self, mut line: usize, col: usize, root: bool) -> Option<Value> {
        self.enter()?;
        // Most mappings of a manifest hold up to four keys: room for them from the start.
        let mut map = Map::with_capacity(4);
        let start = self.key_lines.len();
        loop {
            let (key, after) = self.key_at(line, col)??;
            let key = self.key_string(key, line)?;
            let record = root && key == "items";
            let e = self.ends[line];
            let v = self.skip_spaces(after, e);
            let value = if v == e || self.bytes[v] == b'#' {
                self.pos = line + 1;
                match self.next_content()? {
                    Next::Line(l, indent) if indent > col => self.nested(l, indent, record)?,
                    Next::Line(l, indent) if indent == col && self.is_dash(l, indent) => {
                        self.block_seq(l, indent, true, record)?
                    }
                    _ => Value::Null,
                }
            } else {
                self.inline(line, v, col, record)?
            };
            self.insert(&mut map, start, key, line + 1, value);
            match self.next_content()? {
                Next::Line(l, indent) if indent == col && !self.is_dash(l, indent) => line = l,
                Next::Line(_, indent) if indent >= col => return None,
                _ => break,
            }
        }
        self.depth -= 1;
        self.key_lines.truncate(start);
        Some(Value::Object(map))
    }

    /// A block sequence whose first `-` is at `col` of `line`. `compact`: the value of a mapping
    /// key at the same indentation, ended by that mapping's next key.
    fn block_seq(
        &mut self,
        mut line: usize,
        col: usize,
        compact: bool,
        record: bool,
    ) -> Option<Value> {
        self.enter()?;
        let mut items = Vec::new();
        loop {
            let e = self.ends[line];
            let v = self.skip_spaces(self.starts[line] + col + 1, e);
            let value = if v == e || self.bytes[v] == b'#' {
                self.pos = line + 1;
                match self.next_content()? {
                    Next::Line(l, indent) if indent > col => {
                        if record {
                            self.item_lines.push(l + 1);
                        }
                        self.nested(l, indent, false)?
                    }
                    _ => return None,
                }
            } else {
                if record {
                    // The full reader places a block scalar at its first content line.
                    if matches!(self.bytes[v], b'|' | b'>') {
                        return None;
                    }
                    self.item_lines.push(line + 1);
                }
                let c = v - self.starts[line];
                if self.is_dash(line, c) {
                    self.block_seq(line, c, false, false)?
                } else if self.key_at(line, c)?.is_some() {
                    self.block_map(line, c, false)?
                } else {
                    self.inline(line, v, col, false)?
                }
            };
            items.push(value);
            match self.next_content()? {
                Next::Line(l, indent) if indent == col && self.is_dash(l, indent) => line = l,
                Next::Line(_, indent) if indent == col && compact => break,
                Next::Line(_, indent) if indent >= col => return None,
                _ => break,
            }
        }
        self.depth -= 1;
        Some(Value::Array(items))
    }

    /// A block collection starting its own line (the value of `key:` or `-` alone on theirs).
    fn nested(&mut self, line: usize, indent: usize, record: bool) -> Option<Value> {
        if self.is_dash(line, indent) {
            self.block_seq(line, indent, false, record)
        } else if self.key_at(line, indent)?.is_some() {
            self.block_map(line, indent, false)
        } else {
            None
        }
    }

    /// A value starting at byte `v` of `line`, after `key: ` or `- `: a scalar, a flow
    /// collection or a block scalar. `parent`: the indentation of the collection holding it.
    fn inline(&mut self, line: usize, v: usize, parent: usize, record: bool) -> Option<Value> {
        let e = self.ends[line];
        let value = match self.bytes[v] {
            b'"' | b'\'' => {
                let (s, q) = self.quoted(v, e)?;
                self.rest_empty(q, e)?;
                Value::String(s)
            }
            b'[' | b'{' => {
                let (value, q) = self.flow(v, e, line, record)?;
                self.rest_empty(q, e)?;
                value
            }
            b'|' | b'>' => return self.block_scalar(line, v, parent),
            _ => {
                if !self.plain_start(v, e, false) {
                    return None;
                }
                let b = self.bytes;
                let mut end = e;
                let mut i = v;
                while i < e {
                    match b[i] {
                        b':' if i + 1 == e || b[i + 1] == b' ' => return None,
                        b'#' if b[i - 1] == b' ' => {
                            end = i;
                            break;
                        }
                        _ => {}
                    }
                    i += 1;
                }
                while b[end - 1] == b' ' {
                    end -= 1;
                }
                self.plain_value(&self.text[v..end], line, false)
            }
        };
        self.pos = line + 1;
        Some(value)
    }

    /// A single-line quoted scalar opening at `p`: its text and the offset after its closing
    /// quote; `None` when it does not close on the line or holds an escape not read here.
    fn quoted(&self, p: usize, e: usize) -> Option<(String, usize)> {
        let b = self.bytes;
        let mut s = String::new();
        let mut i = p + 1;
        let mut seg = i;
        if b[p] == b'\'' {
            loop {
                let j = i + b[i..e].iter().position(|&c| c == b'\'')?;
                if j + 1 < e && b[j + 1] == b'\'' {
                    s.push_str(&self.text[seg..=j]);
                    i = j + 2;
                    seg = i;
                } else {
                    s.push_str(&self.text[seg..j]);
                    return Some((s, j + 1));
                }
            }
        }
        loop {
            let j = i + b[i..e].iter().position(|&c| c == b'"' || c == b'\\')?;
            s.push_str(&self.text[seg..j]);
            if b[j] == b'"' {
                return Some((s, j + 1));
            }
            let esc = *b.get(j + 1).filter(|_| j + 1 < e)?;
            let hex = |n: usize| -> Option<char> {
                let digits = self.text.get(j + 2..j + 2 + n).filter(|_| j + 2 + n <= e)?;
                if !digits.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return None;
                }
                char::from_u32(u32::from_str_radix(digits, 16).ok()?)
            };
            let (c, len) = match esc {
                b'\\' => ('\\', 2),
                b'"' => ('"', 2),
                b'/' => ('/', 2),
                b'n' => ('\n', 2),
                b't' => ('\t', 2),
                b'r' => ('\r', 2),
                b'0' => ('\0', 2),
                b'a' => ('\u{7}', 2),
                b'b' => ('\u{8}', 2),
                b'e' => ('\u{1b}', 2),
                b'f' => ('\u{c}', 2),
                b'v' => ('\u{b}', 2),
                b' ' => (' ', 2),
                b'N' => ('\u{85}', 2),
                b'_' => ('\u{a0}', 2),
                b'L' => ('\u{2028}', 2),
                b'P' => ('\u{2029}', 2),
                b'x' => (hex(2)?, 4),
                b'u' => (hex(4)?, 6),
                b'U' => (hex(8)?, 10),
                _ => return None,
            };
            s.push(c);
            i = j + len;
            seg = i;
        }
    }

    /// A flow collection opening at `p` and closing on the same line: its value and the offset
    /// after it. `record`: the root's `items`, whose elements' lines are kept.
    fn flow(&mut self, p: usize, e: usize, line: usize, record: bool) -> Option<(Value, usize)> {
        self.enter()?;
        let b = self.bytes;
        let mut i = self.skip_spaces(p + 1, e);
        let value = if b[p] == b'[' {
            let mut items = Vec::new();
            loop {
                if i >= e {
                    return None;
                }
                if b[i] == b']' {
                    i += 1;
                    break;
                }
                if record {
                    self.item_lines.push(line + 1);
                }
                let (item, j) = self.flow_node(i, e, line)?;
                items.push(item);
                i = self.skip_spaces(j, e);
                match b.get(i).filter(|_| i < e)? {
                    b',' => i = self.skip_spaces(i + 1, e),
                    b']' => {
                        i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
            Value::Array(items)
        } else {
            let mut map = Map::new();
            let start = self.key_lines.len();
            loop {
                if i >= e {
                    return None;
                }
                if b[i] == b'}' {
                    i += 1;
                    break;
                }
                let (key, j) = match b[i] {
                    b'"' | b'\'' => {
                        let (s, j) = self.quoted(i, e)?;
                        (Key::Quoted(s), j)
                    }
                    _ => {
                        let j = self.flow_plain_end(i, e)?;
                        (Key::Plain { start: i, end: j }, j)
                    }
                };
                let j = self.skip_spaces(j, e);
                if !(j + 1 < e && b[j] == b':' && b[j + 1] == b' ') || j - i > KEY_LIMIT {
                    return None;
                }
                let key = self.key_string(key, line)?;
                let v = self.skip_spaces(j + 1, e);
                if v >= e || matches!(b[v], b',' | b'}') {
                    return None;
                }
                let (value, k) = self.flow_node(v, e, line)?;
                self.insert(&mut map, start, key, line + 1, value);
                i = self.skip_spaces(k, e);
                match b.get(i).filter(|_| i < e)? {
                    b',' => i = self.skip_spaces(i + 1, e),
                    b'}' => {
                        i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
            self.key_lines.truncate(start);
            Value::Object(map)
        };
        self.depth -= 1;
        Some((value, i))
    }

    /// A node inside a flow collection: a quoted scalar, a flow collection or a plain scalar.
    fn flow_node(&mut self, i: usize, e: usize, line: usize) -> Option<(Value, usize)> {
        match self.bytes[i] {
            b'"' | b'\'' => {
                let (s, j) = self.quoted(i, e)?;
                Some((Value::String(s), j))
            }
            b'[' | b'{' => self.flow(i, e, line, false),
            _ => {
                let j = self.flow_plain_end(i, e)?;
                Some((self.plain_value(&self.text[i..j], line, false), j))
            }
        }
    }

    /// The end (trailing spaces excluded) of a plain scalar starting at `i` inside a flow
    /// collection: before `,[]{}`, a `:` followed by a space or one of those, or the line's end.
    fn flow_plain_end(&self, i: usize, e: usize) -> Option<usize> {
        if !self.plain_start(i, e, true) {
            return None;
        }
        let b = self.bytes;
        let mut j = i;
        while j < e {
            match b[j] {
                b',' | b'[' | b']' | b'{' | b'}' => break,
                b':' if j + 1 == e
                    || matches!(b[j + 1], b' ' | b',' | b'[' | b']' | b'{' | b'}') =>
                {
                    break;
                }
                b'#' if b[j - 1] == b' ' => return None,
                _ => {}
            }
            j += 1;
        }
        while b[j - 1] == b' ' {
            j -= 1;
        }
        Some(j)
    }

    /// A literal or folded block scalar whose header is at `p` of `line`, its content more
    /// indented than `parent`. Sets `pos` to the line after it.
    fn block_scalar(&mut self, line: usize, p: usize, parent: usize) -> Option<Value> {
        let b = self.bytes;
        let e = self.ends[line];
        let folded = b[p] == b'>';
        let mut i = p + 1;
        let chomp = match b.get(i).filter(|_| i < e) {
            Some(b'-') => Chomp::Strip,
            Some(b'+') => Chomp::Keep,
            _ => Chomp::Clip,
        };
        if !matches!(chomp, Chomp::Clip) {
            i += 1;
        }
        if i < e && b[i] != b' ' {
            return None;
        }
        self.rest_empty(i, e)?;
        let count = self.starts.len();
        let mut l = line + 1;
        let mut leading = 0;
        while l < count && self.indent(l) == self.ends[l] - self.starts[l] {
            leading = leading.max(self.ends[l] - self.starts[l]);
            l += 1;
        }
        if l == count {
            return None;
        }
        let m = self.indent(l);
        if m <= parent || leading > m {
            return None;
        }
        let mut out = String::new();
        let mut empties = 0;
        let mut first = true;
        l = line + 1;
        while l < count {
            let (s, e) = (self.starts[l], self.ends[l]);
            let indent = self.indent(l);
            if indent == e - s {
                if e - s <= m {
                    empties += 1;
                    l += 1;
                    continue;
                }
                if folded {
                    return None;
                }
            } else if indent < m {
                break;
            } else if folded && indent > m {
                return None;
            }
            if first {
                for _ in 0..empties {
                    out.push('\n');
                }
            } else if folded && empties == 0 {
                out.push(' ');
            } else {
                let breaks = if folded { empties } else { empties + 1 };
                for _ in 0..breaks {
                    out.push('\n');
                }
            }
            out.push_str(&self.text[s + m..e]);
            empties = 0;
            first = false;
            l += 1;
        }
        if l == count && !self.text.ends_with('\n') {
            return None;
        }
        match chomp {
            Chomp::Strip => {}
            Chomp::Clip => out.push('\n'),
            Chomp::Keep => {
                for _ in 0..=empties {
                    out.push('\n');
                }
            }
        }
        self.pos = l;
        Some(Value::String(out))
    }
}
