//! The JSON report, schema 1 (DESIGN.md §4.2): the contract scripts and tests rely on.

use super::Report;

/// Pretty-printed JSON followed by a newline.
pub fn render(report: &Report) -> String {
    let mut out = serde_json::to_string_pretty(report).expect("a report always serializes");
    out.push('\n');
    out
}
