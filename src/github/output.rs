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
    /// The error findings' stable keys ([`crate::acknowledge::finding_key`]), sorted, once
    /// each: what an Acknowledge click on this run acknowledges, and what earlier
    /// acknowledgements of the pull request must hold for the run to pass.
    pub errors: Vec<String>,
}

/// The check run's title once acknowledged: `Acknowledged by @alice, @bob`.
pub fn acknowledged_title(logins: &[String]) -> String {
    let who: Vec<String> = logins.iter().map(|l| format!("@{l}")).collect();
    truncate(&format!("Acknowledged by {}", who.join(", ")), 1000)
}

impl CheckRunOutput {
    /// Turns a failed run into a success naming who acknowledged its error findings on this
    /// pull request (`logins`, from [`crate::acknowledge::acknowledged_by`]); the findings stay
    /// in the summary and annotations. Returns whether the run changed (it had failed).
    pub fn acknowledge(&mut self, logins: &[String]) -> bool {
        if self.conclusion != "failure" || logins.is_empty() {
            return false;
        }
        self.conclusion = "success";
        self.title = acknowledged_title(logins);
        let who: Vec<String> = logins.iter().map(|l| format!("@{l}")).collect();
        self.summary = truncate(
            &format!(
                "acknowledged by {}: every error finding below was acknowledged on this pull \
                 request (Acknowledge button); a new error finding needs a new acknowledgement.\n\n{}",
                who.join(", "),
                self.summary
            ),
            MAX_OUTPUT,
        );
        true
    }
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
    let mut errors: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(crate::acknowledge::finding_key)
        .collect();
    errors.sort();
    errors.dedup();
    Ok(Publication {
        errors,
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
    let (annotations, not_annotated) = annotations(report);
    let summary = if not_annotated.is_empty() {
        summary
    } else {
        truncate(&format!("{not_annotated}{summary}"), MAX_OUTPUT)
    };
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
}
