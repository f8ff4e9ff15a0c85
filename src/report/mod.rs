//! Reports: one [`Report`] value, rendered as text, Markdown, JSON (DESIGN.md §4.2) or SARIF.

pub mod diff;
pub mod json;
pub mod markdown;
pub mod sarif;
pub mod text;
pub mod view;

use serde::{Serialize, Serializer};

use crate::acknowledge::Silenced;
use crate::classify::{Change, ChangeSet};
use crate::finding::{Finding, Severity};

/// The version of the JSON report's shape; bumped only on breaking changes.
pub const SCHEMA: u32 = 1;

/// Everything a comparison found; the one input of every output format.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: u32,
    pub base: String,
    pub head: String,
    pub objects: ChangeSet,
    /// Serialized with each finding's one-line fix `hint` (an addition to schema 1).
    #[serde(serialize_with = "with_hints")]
    pub findings: Vec<Finding>,
    /// Findings acknowledged on purpose, with their reasons: listed so nothing is hidden from
    /// reviewers, never counted in the verdict. Added to schema 1 without changing other fields.
    pub silenced: Vec<Silenced>,
    pub summary: Summary,
}

/// Counts for the first line of every report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub added: usize,
    pub modified: usize,
    pub deleted: usize,
    pub unchanged: usize,
    pub errors: usize,
    pub warnings: usize,
    pub notices: usize,
    /// How many findings acknowledgements silenced.
    pub silenced: usize,
}

impl Report {
    /// Assembles a report and its summary.
    pub fn new(base: &str, head: &str, objects: ChangeSet, findings: Vec<Finding>) -> Self {
        let severity = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
        let summary = Summary {
            added: objects.count(Change::Added),
            modified: objects.count(Change::Modified),
            deleted: objects.count(Change::Deleted),
            unchanged: objects.count(Change::Unchanged),
            errors: severity(Severity::Error),
            warnings: severity(Severity::Warning),
            notices: severity(Severity::Notice),
            silenced: 0,
        };
        Self {
            schema: SCHEMA,
            base: base.to_string(),
            head: head.to_string(),
            objects,
            findings,
            silenced: Vec::new(),
            summary,
        }
    }

    /// Attaches the findings acknowledgements silenced (see [`crate::acknowledge`]).
    pub fn with_silenced(mut self, silenced: Vec<Silenced>) -> Self {
        self.summary.silenced = silenced.len();
        self.silenced = silenced;
        self
    }

    /// Whether the check fails: at least one error-severity finding.
    pub fn failed(&self) -> bool {
        self.failed_at(Severity::Error)
    }

    /// Whether a finding at least as severe as `threshold` exists (`--fail-on warning` fails on
    /// warnings too); acknowledged findings never count.
    pub fn failed_at(&self, threshold: Severity) -> bool {
        self.summary.errors > 0
            || (threshold >= Severity::Warning && self.summary.warnings > 0)
            || (threshold >= Severity::Notice && self.summary.notices > 0)
    }
}

/// The one-line fix of a rule's findings, from the rule registry (empty for unknown ids).
pub fn hint(rule: &str) -> &'static str {
    crate::rules::find(rule)
        .map(|r| r.info().help)
        .unwrap_or_default()
}

fn with_hints<S: Serializer>(findings: &[Finding], serializer: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Hinted<'a> {
        #[serde(flatten)]
        finding: &'a Finding,
        #[serde(skip_serializing_if = "str::is_empty")]
        hint: &'static str,
    }
    serializer.collect_seq(findings.iter().map(|finding| Hinted {
        finding,
        hint: hint(finding.rule),
    }))
}

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and editors.
    Sarif,
    /// One self-contained HTML page (no network at view time): the review with side-by-side diffs.
    Html,
}

/// How `check` and the Action shape a report beyond its format.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// Markdown size limit in characters (`None`: unlimited); lists are cut to fit, each saying
    /// how many items it left out.
    pub max_chars: Option<usize>,
    /// Per-object diffs in the text format (Markdown and HTML always fold them in).
    pub diff: bool,
    /// Where directory sides sit in their repository, for SARIF's repository-relative URIs.
    pub roots: sarif::Roots,
}

impl Format {
    /// The report of `analysis` in this format: the one renderer of `check` and the Action.
    /// `env` holds the templates; `color` asks for terminal colours in text.
    pub fn render(
        self,
        analysis: &crate::Analysis,
        env: &minijinja::Environment<'_>,
        color: bool,
        shape: &Shape,
    ) -> Result<String, markdown::TemplateError> {
        let report = &analysis.report;
        Ok(match self {
            Format::Json => json::render(report),
            Format::Sarif => sarif::render(report, &shape.roots),
            Format::Markdown => markdown::render(
                &view::Review::build(analysis, shape.max_chars.unwrap_or(usize::MAX)),
                env,
                markdown::Part::All,
                shape.max_chars,
            )?,
            Format::Html => markdown::render_html(&view::Review::build(analysis, usize::MAX), env)?,
            Format::Text => text::render(
                &view::Review::build(analysis, if shape.diff { usize::MAX } else { 0 }),
                color,
            ),
        })
    }
}
