//! The Markdown report, rendered from `templates/` with minijinja.
//!
//! The templates are compiled into the binary as defaults; a directory given at run time may
//! override any of them by file name, so teams can word the report their way.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;

use super::Report;
use crate::classify::Change;
use crate::finding::Finding;

/// The default templates, by name.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("report.md.j2", include_str!("../../templates/report.md.j2")),
    (
        "check-title.j2",
        include_str!("../../templates/check-title.j2"),
    ),
    (
        "check-summary.md.j2",
        include_str!("../../templates/check-summary.md.j2"),
    ),
    (
        "check-text.md.j2",
        include_str!("../../templates/check-text.md.j2"),
    ),
];

/// Why a template could not be rendered; names the template.
#[derive(Debug, thiserror::Error)]
#[error("template {name}: {message}")]
pub struct TemplateError {
    pub name: String,
    pub message: String,
}

/// Builds the template environment: embedded defaults, overridden by files in `dir`.
pub fn environment(dir: Option<&Path>) -> Result<Environment<'static>, TemplateError> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        let source = match dir.map(|d| d.join(name)).filter(|p| p.is_file()) {
            Some(path) => std::fs::read_to_string(&path).map_err(|e| TemplateError {
                name: path.display().to_string(),
                message: e.to_string(),
            })?,
            None => source.to_string(),
        };
        env.add_template_owned(name.to_string(), source)
            .map_err(|e| TemplateError {
                name: name.to_string(),
                message: e.to_string(),
            })?;
    }
    Ok(env)
}

#[derive(Serialize)]
struct View<'a> {
    report: &'a Report,
    failed: bool,
    findings: Vec<FindingView<'a>>,
    /// The rules behind findings and silenced findings, with their explanations.
    rules: Vec<RuleView>,
    silenced: Vec<SilencedView<'a>>,
    added: Vec<ObjectView>,
    modified: Vec<ObjectView>,
    deleted: Vec<ObjectView>,
}

/// A finding as every Markdown template sees it (this report, the check run, the review).
#[derive(Serialize)]
pub struct FindingView<'a> {
    severity: &'static str,
    rule: &'a str,
    location: String,
    object: Option<String>,
    message: &'a str,
    /// One line: how to fix it.
    hint: &'static str,
}

#[derive(Serialize)]
struct RuleView {
    id: &'static str,
    summary: &'static str,
    explanation: &'static str,
}

#[derive(Serialize)]
struct SilencedView<'a> {
    finding: FindingView<'a>,
    reason: &'a str,
}

impl<'a> From<&'a Finding> for FindingView<'a> {
    fn from(f: &'a Finding) -> Self {
        finding_view(f)
    }
}

fn finding_view(f: &Finding) -> FindingView<'_> {
    FindingView {
        severity: f.severity.as_str(),
        rule: f.rule,
        location: f.location(),
        object: f.id.as_ref().map(ToString::to_string),
        message: &f.message,
        hint: super::hint(f.rule),
    }
}

#[derive(Serialize)]
struct ObjectView {
    id: String,
    location: String,
    moved: bool,
    api_change: Option<String>,
}

/// Renders `report.md.j2` for a report.
pub fn render(report: &Report, env: &Environment<'_>) -> Result<String, TemplateError> {
    let objects = |change: Change| -> Vec<ObjectView> {
        report
            .objects
            .objects
            .iter()
            .filter(|o| o.change == change)
            .map(|o| {
                let def = o.effective_head().or(o.effective_base());
                ObjectView {
                    id: o.id.to_string(),
                    location: def
                        .map(|d| format!("{}:{}", d.path, d.line))
                        .unwrap_or_default(),
                    moved: o.moved,
                    api_change: match (o.effective_base(), o.effective_head()) {
                        (Some(b), Some(h)) if b.api_version != h.api_version => {
                            Some(format!("{} → {}", b.api_version, h.api_version))
                        }
                        _ => None,
                    },
                }
            })
            .collect()
    };
    let view = View {
        report,
        failed: report.failed(),
        findings: report.findings.iter().map(finding_view).collect(),
        rules: crate::rules::RULES
            .iter()
            .filter(|r| {
                let id = r.info().id;
                report.findings.iter().any(|f| f.rule == id)
                    || report.silenced.iter().any(|s| s.finding.rule == id)
            })
            .map(|r| RuleView {
                id: r.info().id,
                summary: r.info().summary,
                explanation: r.explanation(),
            })
            .collect(),
        silenced: report
            .silenced
            .iter()
            .map(|s| SilencedView {
                finding: finding_view(&s.finding),
                reason: &s.reason,
            })
            .collect(),
        added: objects(Change::Added),
        modified: objects(Change::Modified),
        deleted: objects(Change::Deleted),
    };
    let name = "report.md.j2";
    env.get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(&view)))
        .map_err(|e| TemplateError {
            name: name.to_string(),
            message: e.to_string(),
        })
}
