//! The Markdown and HTML reviews, rendered from `templates/` with minijinja.
//!
//! The templates are compiled into the binary as defaults; a directory given at run time may
//! override any of them by file name, so teams can word the review their way. Every template
//! receives the same [`Review`] (src/report/view.rs), so the PR comment, the check run and
//! `check --format markdown|html` say the same thing.

use std::path::Path;

use minijinja::Environment;
use serde::Serialize;

use super::view::{RULES_DOC, Review};

/// GitHub's limit on a check run's summary or text and (one more) on a comment, in characters:
/// the default size of `check --format markdown`.
pub const MAX_CHARS: usize = 65_535;

/// The default templates, by name.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("report.md.j2", include_str!("../../templates/report.md.j2")),
    (
        "report.html.j2",
        include_str!("../../templates/report.html.j2"),
    ),
    (
        "check-title.j2",
        include_str!("../../templates/check-title.j2"),
    ),
];

/// Why a template could not be rendered; names the template.
#[derive(Debug, thiserror::Error)]
#[error("template {name}: {message}")]
pub struct TemplateError {
    pub name: String,
    pub message: String,
}

/// Which part of the review a Markdown text holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// Everything: the PR comment and `check --format markdown`.
    All,
    /// All but the per-object diffs: the check run's summary.
    Summary,
    /// Only the per-object diffs: the check run's text.
    Text,
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

/// Renders one template with a context.
pub fn render_template<S: Serialize>(
    env: &Environment<'_>,
    name: &str,
    ctx: &S,
) -> Result<String, TemplateError> {
    env.get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(ctx)))
        .map_err(|e| TemplateError {
            name: name.to_string(),
            message: e.to_string(),
        })
}

/// Renders `part` of the review as Markdown within `limit` characters (`None`: no limit): when
/// the whole does not fit, every list is cut to as many items as fit, each saying how many it
/// left out; cutting text is the last resort.
pub fn render(
    review: &Review,
    env: &Environment<'_>,
    part: Part,
    limit: Option<usize>,
) -> Result<String, TemplateError> {
    let note = match limit {
        Some(n) => format!(
            "GitHub limits this text to {} characters; `clobbercheck check --format markdown --max-chars 0` shows everything",
            thousands(n)
        ),
        None => String::new(),
    };
    let draw = |review: &Review| {
        render_template(
            env,
            "report.md.j2",
            &serde_json::json!({
                "review": review,
                "part": part,
                "limit_note": note,
                "rule_uri": RULES_DOC,
            }),
        )
    };
    let Some(limit) = limit else {
        return draw(review);
    };
    fit(review.longest(), limit, |n| draw(&review.capped(n)))
}

/// The self-contained HTML page of the review (`check --format html`).
pub fn render_html(review: &Review, env: &Environment<'_>) -> Result<String, TemplateError> {
    render_template(
        env,
        "report.html.j2",
        &serde_json::json!({ "review": review }),
    )
}

/// `65,535`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Cuts `text` to at most `limit` characters at a line boundary, ending with a note that says
/// how many lines were left out (a single line too long for the limit is cut where it must be).
pub fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let note = |lines: usize| {
        format!(
            "\n\n_… {lines} more line(s) left out to stay within GitHub's size limit; run `clobbercheck check` for the full report._"
        )
    };
    let total = text.lines().count();
    let keep = limit.saturating_sub(note(total).chars().count());
    let head: String = text.chars().take(keep).collect();
    let kept = match head.rfind('\n') {
        Some(end) => &head[..end],
        None => head.as_str(),
    };
    let whole_lines = if kept.len() < head.len() || text[kept.len()..].starts_with('\n') {
        kept.lines().count()
    } else {
        kept.lines().count().saturating_sub(1)
    };
    format!("{kept}{}", note(total - whole_lines))
}

/// Renders with as many of `total` items as fit in `limit` characters (the template is told how
/// many were left out), then cuts as a last resort.
pub fn fit(
    total: usize,
    limit: usize,
    render: impl Fn(usize) -> Result<String, TemplateError>,
) -> Result<String, TemplateError> {
    let fits = |s: &str| s.chars().count() <= limit;
    let full = render(total)?;
    if fits(&full) {
        return Ok(full);
    }
    let (mut lo, mut hi) = (0, total);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(&render(mid)?) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(truncate(&render(lo)?, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_drops_items_and_reports_how_many() {
        let items: Vec<String> = (0..1000)
            .map(|i| format!("item {i:04} {}", "y".repeat(90)))
            .collect();
        let out = fit(items.len(), 10_000, |n| {
            Ok(format!(
                "{}\nomitted {}",
                items[..n].join("\n"),
                items.len() - n
            ))
        })
        .unwrap();
        assert!(out.chars().count() <= 10_000);
        assert!(out.contains("omitted 9"), "{}", &out[out.len() - 40..]);
        assert!(!out.contains("truncated"));
    }

    #[test]
    fn thousands_separates() {
        assert_eq!(thousands(65_535), "65,535");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
