//! What the server publishes for one analysis, computed without touching the network: the check
//! run's conclusion, title, summary, text and annotations, the review, and the summary comment.
//!
//! Kept pure so the size rules of DESIGN.md §5 are unit-tested: every text stays within GitHub's
//! limits by summarising first and cutting detail with a visible note, review comments only target
//! lines inside the PR diff, and Secret values never leave the analysis.

use minijinja::Environment;
use serde::Serialize;
use serde_json::Value;
use similar::TextDiff;

use crate::analysis::Analysis;
use crate::classify::{Change, ObjectChange};
use crate::finding::Severity;
use crate::report::Report;
use crate::report::markdown::{self, FindingView, TemplateError};

/// GitHub's limit on a check run's title, summary and text, in characters.
pub const MAX_OUTPUT: usize = 65_535;
/// GitHub's limit on a review or comment body, in characters.
pub const MAX_BODY: usize = 65_536;
/// Rules whose findings get an inline review comment: the ones a reviewer must see on the line.
pub const INLINE_RULES: &[&str] = &["overwrite-disguised-as-addition", "duplicate-identity"];
/// Inline comments one review carries at most; the rest are listed in the review's body.
pub const MAX_REVIEW_COMMENTS: usize = 50;
/// Annotations one check run carries at most: 10 requests of 50. GitHub's secondary rate limit
/// allows about 80 content-creating requests a minute per installation (DESIGN.md §5), so one
/// pull request must not spend them all; the findings beyond are summarised by rule and object
/// in the run's summary.
pub const MAX_ANNOTATIONS: usize = 500;
/// The hidden marker that finds the summary comment again.
pub const SUMMARY_MARKER: &str = "<!-- clobbercheck:summary -->";

/// The marker of the review for one head commit, so a re-run posts no second review.
pub fn review_marker(head_sha: &str) -> String {
    format!("<!-- clobbercheck:review {head_sha} -->")
}

/// One check-run annotation, as the API takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    pub path: String,
    pub start_line: usize,
    pub end_line: usize,
    pub annotation_level: &'static str,
    pub title: String,
    pub message: String,
}

/// The completed check run's content.
#[derive(Debug, Clone)]
pub struct CheckRunOutput {
    /// `failure` when any error-severity finding exists, else `success`.
    pub conclusion: &'static str,
    pub title: String,
    pub summary: String,
    pub text: String,
    pub annotations: Vec<Annotation>,
}

/// One inline review comment, on a head line inside the diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewComment {
    pub path: String,
    pub line: usize,
    pub side: &'static str,
    pub body: String,
}

/// The PR review: inline comments where the line is in the diff, the rest in the body.
#[derive(Debug, Clone)]
pub struct ReviewPlan {
    pub body: String,
    pub comments: Vec<ReviewComment>,
}

/// Everything published for one analysis.
#[derive(Debug, Clone)]
pub struct Publication {
    pub check: CheckRunOutput,
    /// `None` when there is no overwrite or duplicate to point at.
    pub review: Option<ReviewPlan>,
    /// The summary comment's body, marker included.
    pub comment: String,
}

#[derive(Serialize)]
struct DiffView {
    change: &'static str,
    id: String,
    location: String,
    diff: String,
}

fn render(env: &Environment<'_>, name: &str, ctx: Value) -> Result<String, TemplateError> {
    env.get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(&ctx)))
        .map_err(|e| TemplateError {
            name: name.to_string(),
            message: e.to_string(),
        })
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
fn fit(
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

/// Builds everything to publish for `analysis` of the PR at `head_sha`.
pub fn publication(
    analysis: &Analysis,
    head_sha: &str,
    env: &Environment<'_>,
) -> Result<Publication, TemplateError> {
    let report = &analysis.report;
    Ok(Publication {
        check: check_run(report, analysis, env)?,
        review: review(analysis, head_sha),
        comment: truncate(
            &format!("{SUMMARY_MARKER}\n{}", markdown::render(report, env)?),
            MAX_BODY,
        ),
    })
}

fn check_run(
    report: &Report,
    analysis: &Analysis,
    env: &Environment<'_>,
) -> Result<CheckRunOutput, TemplateError> {
    let failed = report.failed();
    let count = |rule: &str| {
        report
            .findings
            .iter()
            .filter(|f| f.rule == rule && f.severity == Severity::Error)
            .count()
    };
    let title = render(
        env,
        "check-title.j2",
        serde_json::json!({
            "failed": failed,
            "s": report.summary,
            "overwrites": count("overwrite-disguised-as-addition"),
            "duplicates": count("duplicate-identity"),
        }),
    )?;
    let (annotations, unannotated) = annotations(report);
    let findings: Vec<FindingView<'_>> = report.findings.iter().map(FindingView::from).collect();
    let summary = fit(findings.len(), MAX_OUTPUT, |n| {
        Ok(unannotated.clone()
            + &render(
                env,
                "check-summary.md.j2",
                serde_json::json!({
                    "report": {"summary": report.summary},
                    "failed": failed,
                    "findings": &findings[..n],
                    "omitted": findings.len() - n,
                }),
            )?)
    })?;
    let (diffs, not_computed) = object_diffs(analysis, MAX_OUTPUT);
    let text = fit(diffs.len(), MAX_OUTPUT, |n| {
        render(
            env,
            "check-text.md.j2",
            serde_json::json!({
                "diffs": &diffs[..n],
                "omitted": diffs.len() - n + not_computed,
                "base": report.base,
                "head": report.head,
            }),
        )
    })?;
    Ok(CheckRunOutput {
        conclusion: if failed { "failure" } else { "success" },
        title: truncate(title.trim(), 1000),
        summary,
        text,
        annotations,
    })
}

/// The run's annotations — one per finding with a line, errors first, at most
/// [`MAX_ANNOTATIONS`] — and, when some did not fit, a Markdown note counting those by rule and
/// object (empty otherwise), so nothing is dropped silently.
fn annotations(report: &Report) -> (Vec<Annotation>, String) {
    let mut located: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.path.is_some() && f.line.is_some())
        .collect();
    located.sort_by_key(|f| f.severity);
    let annotation = |f: &crate::finding::Finding| Annotation {
        path: f.path.clone().unwrap_or_default(),
        start_line: f.line.unwrap_or(1),
        end_line: f.line.unwrap_or(1),
        annotation_level: match f.severity {
            Severity::Error => "failure",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        },
        title: truncate(
            &match &f.id {
                Some(id) => format!("{}: {id}", f.rule),
                None => f.rule.to_string(),
            },
            255,
        ),
        message: truncate(&f.message, MAX_BODY - 1),
    };
    let kept = located
        .iter()
        .take(MAX_ANNOTATIONS)
        .map(|f| annotation(f))
        .collect();
    let rest = located.get(MAX_ANNOTATIONS..).unwrap_or_default();
    if rest.is_empty() {
        return (kept, String::new());
    }
    let mut by_rule_and_object = std::collections::BTreeMap::<(&str, String), usize>::new();
    for f in rest {
        let object = f.id.as_ref().map(ToString::to_string).unwrap_or_default();
        *by_rule_and_object.entry((f.rule, object)).or_default() += 1;
    }
    let mut note = format!(
        "**{} more finding(s) are not annotated** (at most {MAX_ANNOTATIONS} annotations per run, to stay within GitHub's rate limits), by rule and object:\n\n",
        rest.len()
    );
    for ((rule, object), n) in by_rule_and_object {
        note.push_str(&format!("- `{rule}` `{object}`: {n}\n"));
    }
    note.push('\n');
    (kept, note)
}

/// Unified diffs of the changed objects, findings' objects first, computed until their total
/// exceeds `budget` characters; returns them and how many changed objects were not computed.
fn object_diffs(analysis: &Analysis, budget: usize) -> (Vec<DiffView>, usize) {
    let report = &analysis.report;
    let flagged: std::collections::HashSet<_> = report
        .findings
        .iter()
        .filter_map(|f| f.id.as_ref())
        .collect();
    let mut changed: Vec<&ObjectChange> = report
        .objects
        .objects
        .iter()
        .filter(|o| o.change != Change::Unchanged)
        .collect();
    changed.sort_by_key(|o| {
        let rank = match o.change {
            Change::Modified => 1,
            Change::Added => 2,
            Change::Deleted | Change::Unchanged => 3,
        };
        (!flagged.contains(&o.id), rank)
    });
    let mut out = Vec::new();
    let mut used = 0;
    for (i, object) in changed.iter().enumerate() {
        if used > budget {
            return (out, changed.len() - i);
        }
        let view = object_diff(object);
        used += view.diff.len() + view.id.len() + 32;
        out.push(view);
    }
    (out, 0)
}

fn object_diff(object: &ObjectChange) -> DiffView {
    let base = object.effective_base().map(|d| d.value.as_ref());
    let head = object.effective_head().map(|d| d.value.as_ref());
    let secret = object.id.group.is_empty() && object.id.kind == "Secret";
    let yaml = |value: Option<&Value>, other: Option<&Value>, side: Side| -> String {
        let Some(value) = value else {
            return String::new();
        };
        let shown = if secret {
            redact_secret(value, other, side)
        } else {
            value.clone()
        };
        serde_saphyr::to_string(&shown).unwrap_or_else(|e| format!("# cannot show: {e}\n"))
    };
    let old = yaml(base, head, Side::Base);
    let new = yaml(head, base, Side::Head);
    let diff = TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header("base", "head")
        .to_string();
    let location = object
        .effective_head()
        .or(object.effective_base())
        .map(|d| format!("{}:{}", d.path, d.line))
        .unwrap_or_default();
    DiffView {
        change: object.change.as_str(),
        id: object.id.to_string(),
        location,
        diff: diff.trim_end().replace("```", "`\u{200b}``"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Base,
    Head,
}

/// A Secret with every `data`/`stringData` value replaced by a placeholder saying only whether
/// it differs from the other side, and without `last-applied-configuration` (which repeats them).
fn redact_secret(value: &Value, other: Option<&Value>, side: Side) -> Value {
    let mut shown = value.clone();
    for field in ["data", "stringData"] {
        let theirs = other.and_then(|o| o.get(field));
        if let Some(Value::Object(map)) = shown.get_mut(field) {
            for (key, v) in map.iter_mut() {
                let same = theirs.and_then(|t| t.get(key)) == Some(&*v);
                let placeholder = match (same, side) {
                    (true, _) => "(value hidden)",
                    (false, Side::Base) => "(value hidden: old)",
                    (false, Side::Head) => "(value hidden: new)",
                };
                *v = Value::String(placeholder.into());
            }
        }
    }
    if let Some(Value::Object(annotations)) = shown
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        && let Some(v) = annotations.get_mut("kubectl.kubernetes.io/last-applied-configuration")
    {
        *v = Value::String("(value hidden)".into());
    }
    shown
}

/// The review: every overwrite and duplicate finding inline where its head line is in the PR
/// diff (so GitHub cannot answer 422), in the body otherwise.
fn review(analysis: &Analysis, head_sha: &str) -> Option<ReviewPlan> {
    let mut comments = Vec::new();
    let mut elsewhere = Vec::new();
    let mut reviewed: Vec<_> = analysis
        .report
        .findings
        .iter()
        .filter(|f| INLINE_RULES.contains(&f.rule))
        .collect();
    // Old debt (notices only) gets no review on every push: only what needs a reviewer does.
    if !reviewed.iter().any(|f| f.severity < Severity::Notice) {
        return None;
    }
    reviewed.sort_by_key(|f| f.severity);
    for f in reviewed {
        let text = format!(
            "**clobbercheck `{}`** ({}): {}",
            f.rule,
            f.severity.as_str(),
            f.message
        );
        match (&f.path, f.line) {
            (Some(path), Some(line))
                if comments.len() < MAX_REVIEW_COMMENTS && analysis.diff.in_hunk(path, line) =>
            {
                comments.push(ReviewComment {
                    path: path.clone(),
                    line,
                    side: "RIGHT",
                    body: truncate(&text, MAX_BODY),
                });
            }
            _ => elsewhere.push(format!("- `{}`: {text}", f.location())),
        }
    }
    if comments.is_empty() && elsewhere.is_empty() {
        return None;
    }
    let mut body = format!(
        "{}\n**clobbercheck** found {} definition(s) that replace existing objects.",
        review_marker(head_sha),
        comments.len() + elsewhere.len()
    );
    if !comments.is_empty() {
        body.push_str(&format!(
            " {} are commented on their lines below.",
            comments.len()
        ));
    }
    if !elsewhere.is_empty() {
        body.push_str(&format!(
            "\n\nOutside this pull request's diff, or beyond the {MAX_REVIEW_COMMENTS} comments one review carries:\n\n"
        ));
        body.push_str(&elsewhere.join("\n"));
    }
    Some(ReviewPlan {
        body: truncate(&body, MAX_BODY),
        comments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_hidden_and_changed_keys_named() {
        let base = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"password\":\"aHVudGVyMg==\"}}"}},
            "data": {"password": "aHVudGVyMg==", "user": "YWRtaW4="}});
        let head = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s"},
            "data": {"password": "c3dvcmRmaXNo", "user": "YWRtaW4="},
            "stringData": {"token": "plain-text-token"}});
        let old = serde_saphyr::to_string(&redact_secret(&base, Some(&head), Side::Base)).unwrap();
        let new = serde_saphyr::to_string(&redact_secret(&head, Some(&base), Side::Head)).unwrap();
        for secret in [
            "aHVudGVyMg==",
            "c3dvcmRmaXNo",
            "YWRtaW4=",
            "plain-text-token",
        ] {
            assert!(
                !old.contains(secret) && !new.contains(secret),
                "{old}\n{new}"
            );
        }
        assert!(old.contains("password: \"(value hidden: old)\""), "{old}");
        assert!(new.contains("password: \"(value hidden: new)\""), "{new}");
        assert!(new.contains("token"), "{new}");
        let diff = TextDiff::from_lines(&old, &new).unified_diff().to_string();
        assert!(diff.contains("-  password"), "{diff}");
        assert!(
            !diff.contains("-  user") && !diff.contains("+  user"),
            "{diff}"
        );
    }

    #[test]
    fn truncate_keeps_the_limit_ends_at_a_line_and_counts_what_it_left_out() {
        let long = "x".repeat(MAX_OUTPUT * 2);
        let cut = truncate(&long, MAX_OUTPUT);
        assert!(cut.chars().count() <= MAX_OUTPUT);
        assert!(
            cut.contains("1 more line(s) left out"),
            "{}",
            &cut[cut.len() - 200..]
        );
        assert_eq!(truncate("short", MAX_OUTPUT), "short");
        let lines: String = (0..10_000).map(|i| format!("line {i:05}\n")).collect();
        let cut = truncate(&lines, 1000);
        assert!(cut.chars().count() <= 1000);
        let (kept, note) = cut.split_once("\n\n_… ").unwrap();
        assert!(
            kept.lines().all(|l| l.len() == "line 00000".len()),
            "{kept}"
        );
        let left: usize = note.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(left + kept.lines().count(), 10_000);
    }

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
        assert!(!out.contains("left out"));
    }
}
