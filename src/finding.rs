//! Findings: what the rules report, with a stable rule id, a severity and a location.

use serde::Serialize;

use crate::manifest::Identity;

/// How much a finding matters. Only `Error` fails a check (exit status 1, check-run failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Notice,
}

impl Severity {
    /// The lowercase word used in every report.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        }
    }
}

/// One thing a reviewer must know. `path`/`line` point at the head definition where there is one
/// (the base definition for deletions), so annotations and review comments land on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub id: Option<Identity>,
    pub path: Option<String>,
    pub line: Option<usize>,
    pub message: String,
}

impl Finding {
    /// `path:line`, `path`, or empty: how every report names where a finding is.
    pub fn location(&self) -> String {
        match (&self.path, self.line) {
            (Some(p), Some(l)) => format!("{p}:{l}"),
            (Some(p), None) => p.clone(),
            _ => String::new(),
        }
    }
}
