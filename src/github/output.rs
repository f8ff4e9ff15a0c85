//! What the server publishes for one analysis, computed without touching the network: the check
//! run's conclusion, title, summary, text and annotations, the review, and the summary comment.
//!
//! Kept pure so the size rules of DESIGN.md §5 are unit-tested: every text stays within GitHub's
//! limits by summarising first and cutting detail with a visible note, review comments only target
//! lines inside the PR diff, and Secret values never leave the analysis.

use minijinja::Environment;
use serde::Serialize;

use crate::analysis::Analysis;
use crate::finding::Severity;
use crate::report::Report;
pub use crate::report::markdown::truncate;
use crate::report::markdown::{self, Part, TemplateError};
use crate::report::view::Review;

/// GitHub's limit on a check run's title, summary and text, in characters.
pub const MAX_OUTPUT: usize = 65_535;
/// GitHub's limit on a review or comment body, in characters.
pub const MAX_BODY: usize = 65_536;
/// Rules whose findings get an inline review comment: the ones a reviewer must see on the line.
pub const INLINE_RULES: &[&str] = &["overwrite-disguised-as-addition", "duplicate-identity"];
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

/// Builds everything to publish for `analysis` of the PR at `head_sha`.
pub fn publication(
    analysis: &Analysis,
    head_sha: &str,
    env: &Environment<'_>,
) -> Result<Publication, TemplateError> {
    let report = &analysis.report;
    let view = Review::build(analysis, MAX_OUTPUT);
    let comment_limit = MAX_BODY - SUMMARY_MARKER.chars().count() - 1;
    Ok(Publication {
        check: check_run(report, &view, env)?,
        review: review(analysis, head_sha),
        comment: format!(
            "{SUMMARY_MARKER}\n{}",
            markdown::render(&view, env, Part::All, Some(comment_limit))?
        ),
    })
}

fn check_run(
    report: &Report,
    view: &Review,
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
    let title = markdown::render_template(
        env,
        "check-title.j2",
        &serde_json::json!({
            "failed": failed,
            "s": report.summary,
            "overwrites": count("overwrite-disguised-as-addition"),
            "duplicates": count("duplicate-identity"),
        }),
    )?;
    // One review, two fields: the summary holds all but the diffs, the text the diffs.
    let summary = markdown::render(view, env, Part::Summary, Some(MAX_OUTPUT))?;
    let text = markdown::render(view, env, Part::Text, Some(MAX_OUTPUT))?;
    let annotations = report
        .findings
        .iter()
        .filter_map(|f| {
            let (path, line) = (f.path.clone()?, f.line?);
            Some(Annotation {
                path,
                start_line: line,
                end_line: line,
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
            })
        })
        .collect();
    Ok(CheckRunOutput {
        conclusion: if failed { "failure" } else { "success" },
        title: truncate(title.trim(), 1000),
        summary,
        text,
        annotations,
    })
}

/// The review: every overwrite and duplicate finding inline where its head line is in the PR
/// diff (so GitHub cannot answer 422), in the body otherwise.
fn review(analysis: &Analysis, head_sha: &str) -> Option<ReviewPlan> {
    let mut comments = Vec::new();
    let mut elsewhere = Vec::new();
    for f in &analysis.report.findings {
        if !INLINE_RULES.contains(&f.rule) {
            continue;
        }
        let text = format!(
            "**clobbercheck `{}`** ({}): {}",
            f.rule,
            f.severity.as_str(),
            f.message
        );
        match (&f.path, f.line) {
            (Some(path), Some(line)) if analysis.diff.in_hunk(path, line) => {
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
        body.push_str("\n\nOn lines outside this pull request's diff:\n\n");
        body.push_str(&elsewhere.join("\n"));
    }
    Some(ReviewPlan {
        body: truncate(&body, MAX_BODY),
        comments,
    })
}
