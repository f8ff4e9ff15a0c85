//! The one way clobbercheck publishes an analysis on GitHub, shared by the App's workers and
//! the Action: a new check run per analysis, its annotations sent once, then — for a pull
//! request — the review and the summary comment.
//!
//! Sending each annotation once across crashes needs memory of what was sent: the caller passes
//! an [`AnnotationLedger`] (the App's queue remembers per job; the Action, which runs once,
//! passes [`Forgetful`]).

use std::future::Future;

use super::client::{GitHubError, Installation};
use super::output::Publication;

/// Why a ledger could not record what was sent; the text names the store.
#[derive(Debug, thiserror::Error)]
#[error("annotation ledger: {0}")]
pub struct LedgerError(pub String);

/// Why publishing stopped; a later attempt resumes where this one stopped.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl PublishError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            PublishError::GitHub(e) => e.is_transient(),
            PublishError::Ledger(_) => true,
        }
    }
}

/// Remembers how many annotations of one check run GitHub took, across attempts.
pub trait AnnotationLedger: Sync {
    /// `None` when this attempt created the run (nothing sent yet); otherwise how many
    /// annotations earlier attempts recorded (GitHub's own count is preferred when it has one).
    fn resumed(&self) -> Option<usize>;
    /// Records that the first `sent` annotations were taken.
    fn record(&self, sent: usize) -> impl Future<Output = Result<(), LedgerError>> + Send;
}

/// A ledger that remembers nothing, for a publisher that runs once (the Action).
pub struct Forgetful;

impl AnnotationLedger for Forgetful {
    fn resumed(&self) -> Option<usize> {
        None
    }

    async fn record(&self, _sent: usize) -> Result<(), LedgerError> {
        Ok(())
    }
}

/// Where an analysis is published.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// `owner/name`.
    pub repo: &'a str,
    /// The commit the check run is on.
    pub head_sha: &'a str,
    /// The pull request that gets the review and summary comment; `None` for a merge group.
    pub pull_request: Option<u64>,
}

/// Publishes `publication` on check run `run` (from [`Installation::create_check_run`]): completes
/// the run unless it is completed already, then, when `still_current` says the pull request
/// still has this head, posts the review (once per head) and updates the summary comment.
/// Returns whether the review and comment were published.
pub async fn publish<L, C, F>(
    installation: &Installation,
    target: Target<'_>,
    run: u64,
    publication: &Publication,
    ledger: &L,
    still_current: C,
) -> Result<bool, PublishError>
where
    L: AnnotationLedger,
    C: FnOnce() -> F,
    F: Future<Output = Result<bool, PublishError>>,
{
    if installation
        .completed_check_run(target.repo, run)
        .await?
        .is_none()
    {
        installation
            .complete_check_run(target.repo, run, &publication.check, ledger)
            .await?;
    } else {
        tracing::info!(
            check_run = run,
            "an earlier attempt completed the check run; not completing it again"
        );
    }
    let Some(number) = target.pull_request else {
        return Ok(false);
    };
    if !still_current().await? {
        // The check run is right for its commit; the PR's review and comment belong to its
        // current head.
        return Ok(false);
    }
    if let Some(review) = &publication.review {
        installation
            .post_review(target.repo, number, target.head_sha, review)
            .await?;
    }
    installation
        .upsert_summary_comment(target.repo, number, &publication.comment)
        .await?;
    Ok(true)
}
