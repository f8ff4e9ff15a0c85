//! The SARIF 2.1.0 report (`--format sarif`), read by GitHub code scanning and many editors.
//!
//! Every registered rule is listed in `tool.driver.rules` with its id, summary, explanation, fix
//! and default level, so viewers can explain a result without a link. Each finding is a result
//! located at its file and line, with the object's identity as a logical location and its
//! owners per side in `properties` (`baseOwners`, `headOwners`: empty means applied directly).
//! Acknowledged
//! findings are results too, carrying a suppression with its justification, so code scanning shows
//! them as dismissed instead of hiding them.
//!
//! Paths are relative to the repository root (`uriBaseId` `SRCROOT`), even when a side is a
//! directory inside the repository, so code scanning maps them to files of the analysed commit.
//! A finding about a deleted object points at its base definition, which head does not have: its
//! location names the `BASEROOT` base instead (SARIF 2.1.0 §3.4.4, `originalUriBaseIds`), so no
//! viewer puts it on a line of a head file that says something else.

use std::path::Path;

use serde_json::{Value, json};

use super::Report;
use super::view::help_uri;
use crate::acknowledge::AckSource;
use crate::finding::{Finding, Severity};
use crate::rules::RULES;

/// Where each side's files are, relative to the repository root: `""` for a git revision or a
/// directory that is the repository (or in none), `examples/incident/head/` for a directory
/// inside one. Paths of findings are relative to their side.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    pub base: String,
    pub head: String,
}

impl Roots {
    /// The roots of two sides as given on the command line.
    pub fn of(base: &str, head: &str) -> Self {
        Self {
            base: prefix(base),
            head: prefix(head),
        }
    }
}

/// `dir/` relative to the root of the git work tree holding the directory `side`; `""` when it
/// is not a directory inside one.
fn prefix(side: &str) -> String {
    let dir = Path::new(side);
    if !dir.is_dir() {
        return String::new();
    }
    let Ok(dir) = dir.canonicalize() else {
        return String::new();
    };
    let root = git2::Repository::discover(&dir)
        .ok()
        .and_then(|r| r.workdir().and_then(|w| w.canonicalize().ok()));
    match root.as_deref().and_then(|r| dir.strip_prefix(r).ok()) {
        Some(rel) if !rel.as_os_str().is_empty() => {
            let mut p = rel.to_string_lossy().replace('\\', "/");
            p.push('/');
            p
        }
        _ => String::new(),
    }
}

/// Whether a finding points at a base definition that head does not have (a deletion).
fn on_base(report: &Report, finding: &Finding) -> bool {
    let (Some(path), Some(line)) = (&finding.path, finding.line) else {
        return false;
    };
    let at = |d: &crate::classify::Definition| &d.path == path && d.line == line;
    object(report, finding).is_some_and(|o| o.base.iter().any(at) && !o.head.iter().any(at))
}

/// The object a finding is about (objects are sorted by identity).
fn object<'r>(report: &'r Report, finding: &Finding) -> Option<&'r crate::classify::ObjectChange> {
    let id = finding.id.as_ref()?;
    report.objects.get(id).map(|o| &**o)
}

/// The schema URI written in `$schema`.
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Notice => "note",
    }
}

/// Pretty-printed SARIF followed by a newline; `roots` makes paths repository-relative.
pub fn render(report: &Report, roots: &Roots) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|rule| {
            let info = rule.info();
            json!({
                "id": info.id,
                "shortDescription": { "text": info.summary },
                "fullDescription": { "text": rule.explanation() },
                "help": { "text": info.help },
                "helpUri": help_uri(info.id),
                "defaultConfiguration": { "level": level(info.default_severity) },
            })
        })
        .collect();
    let result = |f: &Finding| {
        let mut value = result(f, roots, on_base(report, f));
        if let Some(object) = object(report, f) {
            value["properties"] = json!({
                "baseOwners": object.base_owners,
                "headOwners": object.head_owners,
            });
        }
        value
    };
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
            "originalUriBaseIds": {
                "SRCROOT": { "description": { "text": format!("The repository root; head is {}", report.head) } },
                "BASEROOT": { "description": { "text": format!("The repository root at the base revision {}", report.base) } },
            },
            "results": results,
        }],
    });
    let mut out = serde_json::to_string_pretty(&sarif).expect("a JSON value always serializes");
    out.push('\n');
    out
}

fn result(finding: &Finding, roots: &Roots, base: bool) -> Value {
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
        let (root, id) = if base {
            (&roots.base, "BASEROOT")
        } else {
            (&roots.head, "SRCROOT")
        };
        let mut physical = json!({ "artifactLocation": {
            "uri": format!("{root}{path}"),
            "uriBaseId": id,
        } });
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
