//! The JSON report, schema 1 (DESIGN.md §4.2): the contract scripts and tests rely on.
//!
//! The text is exactly `serde_json::to_writer_pretty`'s (two-space indent) and a newline; it is
//! written faster than that. The `objects` array (every object of both sides: 20,050 objects
//! make 24 MB) is serialized on every core in bounded windows, and all writes go through one
//! buffer that the formatter fills with whole indents instead of one write per level.

use std::io::Write;

use rayon::prelude::*;
use serde::Serialize;

use super::Report;
use crate::classify::{ChangeSet, ObjectChange};

/// Objects serialized per parallel task.
const OBJECTS_PER_TASK: usize = 256;
/// Tasks serialized before their text is written: bounds the text held at once (about 1.5 MB
/// per 1,000 objects).
const TASKS_PER_WINDOW: usize = 16;
/// Bytes gathered before they are handed to the caller's writer.
const CHUNK: usize = 64 * 1024;

/// Pretty-printed JSON followed by a newline.
pub fn render(report: &Report) -> String {
    let mut out = Vec::new();
    write(report, &mut out).expect("writing to memory cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Streams the report to `out`: a large repository's report is never held twice in memory.
///
/// Errors: those of `out`.
pub fn write(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    // Every field but `objects` is serialized by `Report`'s own `Serialize` (one definition of
    // the shape), around an empty array whose place the objects then take.
    let shell = Report {
        schema: report.schema,
        base: report.base.clone(),
        head: report.head.clone(),
        objects: ChangeSet::default(),
        findings: report.findings.clone(),
        silenced: report.silenced.clone(),
        summary: report.summary,
    };
    let mut text = Vec::new();
    serialize(&shell, &mut text, 0)?;
    // `base` and `head` come before `objects` and are JSON strings, which never hold a raw
    // newline: the first match is the field.
    const EMPTY: &[u8] = b"\n  \"objects\": []";
    let at = text
        .windows(EMPTY.len())
        .position(|w| w == EMPTY)
        .expect("a report serializes an `objects` field");
    let split = at + EMPTY.len() - 1;
    let mut out = Chunks::new(out);
    out.write_all(&text[..split])?;
    // References gathered once (no reference count touched), for windows of tasks.
    let objects: Vec<&std::sync::Arc<ObjectChange>> = report.objects.objects().iter().collect();
    for (window_index, window) in objects
        .chunks(OBJECTS_PER_TASK * TASKS_PER_WINDOW)
        .enumerate()
    {
        let texts = window
            .par_chunks(OBJECTS_PER_TASK)
            .enumerate()
            .map(|(task, objects)| {
                let first = window_index == 0 && task == 0;
                elements(objects, first)
            })
            .collect::<std::io::Result<Vec<Vec<u8>>>>()?;
        for text in texts {
            out.write_all(&text)?;
        }
    }
    if !objects.is_empty() {
        out.write_all(b"\n  ")?;
    }
    out.write_all(&text[split..])?;
    out.write_all(b"\n")?;
    out.finish()
}

/// The array elements for `objects` at the report's second level, each after its separator
/// (the first of the whole array after a bare newline).
fn elements(objects: &[&std::sync::Arc<ObjectChange>], first: bool) -> std::io::Result<Vec<u8>> {
    let mut text = Vec::with_capacity(objects.len() * 1024);
    for (i, object) in objects.iter().enumerate() {
        text.extend_from_slice(if first && i == 0 { b"\n" } else { b",\n" });
        text.extend_from_slice(&INDENT[..4]);
        serialize(&***object, &mut text, 2)?;
    }
    Ok(text)
}

fn serialize(value: &impl Serialize, out: &mut Vec<u8>, level: usize) -> std::io::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(out, Pretty::at(level));
    value
        .serialize(&mut serializer)
        .map_err(std::io::Error::from)
}

/// Spaces for the deepest indents the report has, with room to spare; deeper ones repeat it.
const INDENT: &[u8; 64] = b"                                                                ";

/// `serde_json::ser::PrettyFormatter` with a two-space indent, writing each line's indent in
/// one call and starting at any depth (an element of a larger document).
struct Pretty {
    level: usize,
    has_value: bool,
}

impl Pretty {
    fn at(level: usize) -> Self {
        Self {
            level,
            has_value: false,
        }
    }

    fn newline<W: ?Sized + Write>(&self, writer: &mut W, lead: &[u8]) -> std::io::Result<()> {
        writer.write_all(lead)?;
        let mut width = self.level * 2;
        while width > 0 {
            let step = width.min(INDENT.len());
            writer.write_all(&INDENT[..step])?;
            width -= step;
        }
        Ok(())
    }
}

impl serde_json::ser::Formatter for Pretty {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        writer.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(writer, b"\n")?;
        }
        writer.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.newline(writer, if first { b"\n" } else { b",\n" })
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.level += 1;
        self.has_value = false;
        writer.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(writer, b"\n")?;
        }
        writer.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.newline(writer, if first { b"\n" } else { b",\n" })
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Gathers writes into [`CHUNK`]-sized blocks for the caller's writer (often a `dyn Write`,
/// whose every call is indirect).
struct Chunks<'a, W: ?Sized + Write> {
    buffer: Vec<u8>,
    out: &'a mut W,
}

impl<'a, W: ?Sized + Write> Chunks<'a, W> {
    fn new(out: &'a mut W) -> Self {
        Self {
            buffer: Vec::with_capacity(CHUNK),
            out,
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.buffer.len() + bytes.len() > CHUNK {
            self.out.write_all(&self.buffer)?;
            self.buffer.clear();
            if bytes.len() > CHUNK {
                return self.out.write_all(bytes);
            }
        }
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<()> {
        self.out.write_all(&self.buffer)?;
        self.buffer.clear();
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_deeper_than_the_spaces_held() {
        let mut value = serde_json::json!("leaf");
        for _ in 0..40 {
            value = serde_json::json!({ "k": [value] });
        }
        let mut ours = Vec::new();
        serialize(&value, &mut ours, 0).unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_json::to_string_pretty(&value).unwrap()
        );
    }
}
