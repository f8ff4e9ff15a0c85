//! The terminal report: findings first, grouped by rule with the rule's fix, then silenced
//! findings, then what the PR adds, modifies and deletes.

use std::fmt::Write;

use super::Report;
use crate::classify::{Change, ObjectChange};
use crate::finding::{Finding, Severity};

/// ANSI styling, on only when writing to a terminal.
struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Renders the report for a reviewer at a terminal; `color` adds ANSI colours.
pub fn render(report: &Report, color: bool) -> String {
    let style = Style { on: color };
    let s = &report.summary;
    let mut out = String::new();
    let verdict = if report.failed() {
        style.paint("1;31", "FAIL")
    } else {
        style.paint("1;32", "ok")
    };
    let silenced = if s.silenced > 0 {
        format!(", {} silenced", s.silenced)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{verdict}: {} error(s), {} warning(s), {} notice(s){silenced} — {} added, {} modified, {} deleted, {} unchanged  ({} → {})",
        s.errors,
        s.warnings,
        s.notices,
        s.added,
        s.modified,
        s.deleted,
        s.unchanged,
        report.base,
        report.head
    );
    if !report.findings.is_empty() {
        let _ = writeln!(out, "\nFindings");
        for (rule, findings) in by_rule(&report.findings) {
            let summary = crate::rules::find(rule)
                .map(|r| r.info().summary)
                .unwrap_or_default();
            let help = super::hint(rule);
            let _ = writeln!(
                out,
                "\n{} ({}): {summary}",
                style.paint("1", rule),
                findings.len()
            );
            if !help.is_empty() {
                let _ = writeln!(out, "  fix: {help}");
            }
            for f in findings {
                finding(&mut out, &style, f);
            }
        }
    }
    if !report.silenced.is_empty() {
        let _ = writeln!(
            out,
            "\nSilenced ({}): acknowledged on purpose, not counted in the verdict",
            report.silenced.len()
        );
        for s in &report.silenced {
            finding(&mut out, &style, &s.finding);
            for line in wrap(&format!("acknowledged by {}", s.reason), 92) {
                let _ = writeln!(out, "          {line}");
            }
        }
    }
    for (change, title, mark, code) in [
        (Change::Added, "Added", "+", "32"),
        (Change::Modified, "Modified", "~", "33"),
        (Change::Deleted, "Deleted", "-", "31"),
    ] {
        let objects: Vec<&ObjectChange> = report
            .objects
            .objects
            .iter()
            .filter(|o| o.change == change)
            .collect();
        if objects.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title} ({})", objects.len());
        for o in objects {
            let def = o.effective_head().or(o.effective_base());
            let location = def
                .map(|d| format!("{}:{}", d.path, d.line))
                .unwrap_or_default();
            let mut extra = String::new();
            if let (Some(b), Some(h)) = (o.effective_base(), o.effective_head()) {
                if o.moved {
                    let _ = write!(
                        extra,
                        "  (moved from {}:{} to {}:{})",
                        b.path, b.line, h.path, h.line
                    );
                }
                if b.api_version != h.api_version {
                    let _ = write!(extra, "  ({} → {})", b.api_version, h.api_version);
                }
            }
            let _ = writeln!(
                out,
                "  {} {}  {}{extra}",
                style.paint(code, mark),
                o.id,
                style.paint("2", &location)
            );
        }
    }
    out
}

/// Findings grouped by rule, in registry order (unregistered ids last), each group in report
/// order.
fn by_rule(findings: &[Finding]) -> Vec<(&'static str, Vec<&Finding>)> {
    let mut groups: Vec<(&'static str, Vec<&Finding>)> = Vec::new();
    for f in findings {
        match groups.iter_mut().find(|(rule, _)| *rule == f.rule) {
            Some((_, list)) => list.push(f),
            None => groups.push((f.rule, vec![f])),
        }
    }
    let order = |rule: &str| {
        crate::rules::RULES
            .iter()
            .position(|r| r.info().id == rule)
            .unwrap_or(usize::MAX)
    };
    groups.sort_by_key(|(rule, _)| order(rule));
    groups
}

/// One finding: severity, location and rule, then the wrapped message.
fn finding(out: &mut String, style: &Style, f: &Finding) {
    let level = match f.severity {
        Severity::Error => style.paint("1;31", "error  "),
        Severity::Warning => style.paint("1;33", "warning"),
        Severity::Notice => style.paint("1;36", "notice "),
    };
    let location = f.location();
    let _ = writeln!(
        out,
        "  {level} {} [{}]",
        style.paint("1", &location),
        f.rule
    );
    for line in wrap(&f.message, 92) {
        let _ = writeln!(out, "          {line}");
    }
}

/// Greedy word wrap for long messages.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
