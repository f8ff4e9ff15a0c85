//! Publishing one analysis of a pull request: the single entry point the App's worker and
//! `clobbercheck github-action` share, so both show a pull request the same check run,
//! annotations, review and summary comment.
//!
//! It runs in two steps around the analysis: [`start`] shows the `clobbercheck` check run in
//! progress (or finds the one an earlier attempt completed), [`publish`] completes it and, for a
//! pull request that is still current, posts the review and edits the summary comment.

use std::future::Future;

use super::client::{GitHubError, Installation};
use super::output::Publication;

/// Where an analysis is published.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// `owner/name`.
    pub repo: &'a str,
    /// The commit the check run is attached to (the PR's head, or a merge group's head).
    pub head_sha: &'a str,
    /// The check run's stable `external_id`, so a retry finds its run again.
    pub external_id: &'a str,
    /// The pull request that gets the review and summary comment; `None` for a merge group or
    /// a push, which have only the check run.
    pub pull_request: Option<u64>,
}

/// The check run of one analysis, as [`start`] left it.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    pub check_run: u64,
    /// An earlier attempt already completed it: its conclusion stands and is not sent again.
    pub completed: bool,
}

/// How [`publish`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Check run, review and summary comment are all shown.
    Done,
    /// The check run is shown; the pull request moved on, so its review and comment belong to
    /// the newer analysis.
    Superseded,
}

/// Shows the check run in progress on `target.head_sha`: reuses `earlier` (the run an earlier
/// attempt of the same job started) when it is already completed, else starts or restarts the
/// run found by `external_id`.
pub async fn start(
    installation: &Installation,
    target: &Target<'_>,
    earlier: Option<u64>,
) -> Result<Started, GitHubError> {
    if let Some(run) = earlier
        && installation
            .completed_check_run(target.repo, run)
            .await?
            .is_some()
    {
        tracing::info!(
            check_run = run,
            "an earlier attempt completed the check run; not completing it again"
        );
        return Ok(Started {
            check_run: run,
            completed: true,
        });
    }
    let check_run = installation
        .start_check_run(target.repo, target.head_sha, target.external_id)
        .await?;
    Ok(Started {
        check_run,
        completed: false,
    })
}

/// Completes the check run with `publication` (annotations in batches), then, if
/// `still_current` says the pull request has not moved on, posts the review once and edits the
/// summary comment in place.
pub async fn publish<E, F, Fut>(
    installation: &Installation,
    target: &Target<'_>,
    started: Started,
    publication: &Publication,
    still_current: F,
) -> Result<Published, E>
where
    E: From<GitHubError>,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<bool, E>>,
{
    if !started.completed {
        installation
            .complete_check_run(target.repo, started.check_run, &publication.check)
            .await?;
    }
    let Some(number) = target.pull_request else {
        return Ok(Published::Done);
    };
    if !still_current().await? {
        return Ok(Published::Superseded);
    }
    if let Some(review) = &publication.review {
        installation
            .post_review(target.repo, number, target.head_sha, review)
            .await?;
    }
    installation
        .upsert_summary_comment(target.repo, number, &publication.comment)
        .await?;
    Ok(Published::Done)
}
