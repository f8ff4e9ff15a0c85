//! The JSON report, schema 1 (DESIGN.md §4.2): the contract scripts and tests rely on.

use std::io::Write;

use super::Report;

/// Pretty-printed JSON followed by a newline.
pub fn render(report: &Report) -> String {
    let mut out = Vec::new();
    write(report, &mut out).expect("writing to memory cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Streams the report to `out`: a large repository's report is never held twice in memory.
pub fn write(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}
