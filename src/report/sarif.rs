//! The SARIF 2.1.0 report (`--format sarif`), read by GitHub code scanning and many editors.
//!
//! Every registered rule is listed in `tool.driver.rules` with its id, summary, explanation, fix
//! and default level, so viewers can explain a result without a link. Each finding is a result
//! located at its file and line, with the object's identity as a logical location. Acknowledged
//! findings are results too, carrying a suppression with its justification, so code scanning shows
//! them as dismissed instead of hiding them.

use serde_json::{Value, json};

use super::Report;
use crate::acknowledge::AckSource;
use crate::finding::{Finding, Severity};
use crate::rules::RULES;

/// The schema URI written in `$schema`.
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Notice => "note",
    }
}

/// Pretty-printed SARIF followed by a newline.
pub fn render(report: &Report) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|rule| {
            let info = rule.info();
            json!({
                "id": info.id,
                "shortDescription": { "text": info.summary },
                "fullDescription": { "text": rule.explanation() },
                "help": { "text": info.help },
                "defaultConfiguration": { "level": level(info.default_severity) },
            })
        })
        .collect();
    let mut results: Vec<Value> = report.findings.iter().map(result).collect();
    for silenced in &report.silenced {
        let mut value = result(&silenced.finding);
        value["suppressions"] = json!([{
            "kind": match silenced.by {
                AckSource::Annotation => "inSource",
                AckSource::Configuration => "external",
            },
            "justification": silenced.reason,
        }]);
        results.push(value);
    }
    let sarif = json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "clobbercheck",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    let mut out = serde_json::to_string_pretty(&sarif).expect("a JSON value always serializes");
    out.push('\n');
    out
}

fn result(finding: &Finding) -> Value {
    let mut value = json!({
        "ruleId": finding.rule,
        "level": level(finding.severity),
        "message": { "text": finding.message },
    });
    if let Some(index) = RULES.iter().position(|r| r.info().id == finding.rule) {
        value["ruleIndex"] = json!(index);
    }
    let mut location = serde_json::Map::new();
    if let Some(path) = &finding.path {
        let mut physical = json!({ "artifactLocation": { "uri": path } });
        if let Some(line) = finding.line {
            physical["region"] = json!({ "startLine": line });
        }
        location.insert("physicalLocation".into(), physical);
    }
    if let Some(id) = &finding.id {
        location.insert(
            "logicalLocations".into(),
            json!([{ "fullyQualifiedName": id.to_string(), "kind": "object" }]),
        );
    }
    if !location.is_empty() {
        value["locations"] = json!([location]);
    }
    value
}
