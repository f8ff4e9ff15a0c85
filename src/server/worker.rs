//! Workers: claim a job, run it, record how it ended.
//!
//! An analysis marks its check run `in_progress`, fetches both commits into the repository
//! cache, runs exactly the analysis `clobbercheck check` runs, and publishes. Transient failures
//! (GitHub down or rate limited, network) put the job back with a doubling delay; after the last
//! attempt, or at once for permanent failures, the check run says the check could not run —
//! never a silent drop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::{AppState, Configured};
use crate::analysis::{AnalysisError, analyze};
use crate::fetch::{FetchError, FetchRequest};
use crate::github::output::{self, Publication};
use crate::github::{GitHubError, Installation};
use crate::queue::{AcknowledgeJob, Claimed, Finished, Job, PullRequestJob, QueueError};
use crate::report::markdown::TemplateError;
use crate::revision::GitRevision;

/// How long a claimed job is reserved; renewed every third of it while the job runs.
pub const LEASE: Duration = Duration::from_secs(120);

/// Why a job failed; names the repository or call concerned.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("job task: {0}")]
    Task(String),
}

impl JobError {
    /// Whether a later attempt may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            JobError::GitHub(e) => e.is_transient(),
            JobError::Fetch(FetchError::Fetch { .. }) | JobError::Queue(_) => true,
            JobError::Fetch(_)
            | JobError::Analysis(_)
            | JobError::Template(_)
            | JobError::Task(_) => false,
        }
    }

    /// What the check run may say: the user's own mistakes in full, internal failures only
    /// by kind (details are in the server log).
    fn for_users(&self) -> String {
        match self {
            JobError::Analysis(e) => format!("clobbercheck could not analyse this pull request:\n\n```\n{e}\n```"),
            JobError::Template(e) => format!("a report template of this server is broken:\n\n```\n{e}\n```"),
            JobError::Fetch(e @ (FetchError::ForeignHost { .. } | FetchError::NotFound { .. })) => {
                format!("{e}.")
            }
            JobError::Fetch(FetchError::MissingCommit { sha, .. }) => {
                format!("commit `{sha}` could not be fetched from the repository.")
            }
            _ => "clobbercheck could not reach GitHub or the repository; the server log has the details.".into(),
        }
    }
}

enum Outcome {
    Done,
    Superseded,
}

/// One worker's loop; runs for the life of the server.
pub async fn run(state: AppState, n: usize) {
    loop {
        let Some(app) = state.configured() else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let queue = Arc::clone(&state.queue);
        let claimed = tokio::task::spawn_blocking(move || queue.claim(LEASE)).await;
        match claimed {
            Ok(Ok(Some(job))) => process(&state, &app, job).await,
            Ok(Ok(None)) => {
                let _ =
                    tokio::time::timeout(Duration::from_millis(500), state.wake.notified()).await;
            }
            Ok(Err(e)) => {
                tracing::error!(worker = n, error = %e, "cannot claim a job");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                tracing::error!(worker = n, error = %e, "claim task failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, QueueError> + Send + 'static,
) -> Result<T, JobError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| JobError::Task(e.to_string()))?
        .map_err(JobError::from)
}

async fn process(state: &AppState, app: &Configured, claimed: Claimed) {
    let span = tracing::info_span!("job", id = claimed.id, delivery = %claimed.delivery, kind = claimed.job.kind());
    process_in_span(state, app, claimed).instrument(span).await;
}

async fn process_in_span(state: &AppState, app: &Configured, claimed: Claimed) {
    let started = Instant::now();
    let id = claimed.id;
    let heartbeat = {
        let queue = Arc::clone(&state.queue);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE / 3).await;
                let queue = Arc::clone(&queue);
                let _ = tokio::task::spawn_blocking(move || queue.heartbeat(id, LEASE)).await;
            }
        })
    };
    let result = match &claimed.job {
        Job::Analyze(pr) => analyze_pr(state, app, id, pr).await,
        Job::Acknowledge(ack) => acknowledge(app, ack).await,
    };
    heartbeat.abort();
    let queue = Arc::clone(&state.queue);
    let kind = claimed.job.kind();
    let recorded = match result {
        Ok(outcome) => {
            let how = match outcome {
                Outcome::Done => Finished::Done,
                Outcome::Superseded => Finished::Superseded,
            };
            state.metrics.job(
                kind,
                if how == Finished::Done {
                    "done"
                } else {
                    "superseded"
                },
                started.elapsed(),
            );
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "job finished"
            );
            blocking(move || queue.finish(id, how, None)).await
        }
        Err(error)
            if error.is_transient() && claimed.attempts + 1 < state.settings.max_attempts =>
        {
            let delay = state.settings.retry_delay * 2u32.saturating_pow(claimed.attempts);
            tracing::warn!(%error, attempt = claimed.attempts + 1, delay_ms = delay.as_millis() as u64, "job will be retried");
            state.metrics.job(kind, "retried", started.elapsed());
            let message = error.to_string();
            blocking(move || queue.retry(id, delay, &message)).await
        }
        Err(error) => {
            tracing::error!(%error, attempts = claimed.attempts + 1, "job failed");
            state.metrics.job(kind, "failed", started.elapsed());
            if let Job::Analyze(pr) = &claimed.job {
                report_failure(app, pr, &error).await;
            }
            let message = error.to_string();
            blocking(move || queue.finish(id, Finished::Failed, Some(&message))).await
        }
    };
    if let Err(e) = recorded {
        tracing::error!(error = %e, "cannot record the job's end");
    }
}

/// The check run's stable external id for a pull request, so a retry finds the run.
fn external_id(pr: &PullRequestJob) -> String {
    format!("pr-{}", pr.number)
}

async fn report_failure(app: &Configured, pr: &PullRequestJob, error: &JobError) {
    let installation = app.github.installation(pr.installation_id);
    let result = async {
        let run = installation
            .start_check_run(&pr.repo, &pr.head_sha, &external_id(pr))
            .await?;
        installation
            .fail_check_run(
                &pr.repo,
                run,
                "clobbercheck could not run",
                &error.for_users(),
            )
            .await
    }
    .await;
    if let Err(e) = result {
        tracing::error!(repo = pr.repo, pr = pr.number, error = %e, "cannot report the failure on the check run");
    }
}

async fn analyze_pr(
    state: &AppState,
    app: &Configured,
    id: i64,
    pr: &PullRequestJob,
) -> Result<Outcome, JobError> {
    let queue = Arc::clone(&state.queue);
    if blocking(move || queue.is_superseded(id)).await? {
        return Ok(Outcome::Superseded);
    }
    let installation = app.github.installation(pr.installation_id);
    let run = installation
        .start_check_run(&pr.repo, &pr.head_sha, &external_id(pr))
        .await?;
    let publication = compute(state, &installation, pr).await?;
    installation
        .complete_check_run(&pr.repo, run, &publication.check)
        .await?;
    let queue = Arc::clone(&state.queue);
    if blocking(move || queue.is_superseded(id)).await? {
        // The check run is right for its commit; the PR's review and comment belong to the newer one.
        return Ok(Outcome::Superseded);
    }
    if let Some(review) = &publication.review {
        installation
            .post_review(&pr.repo, pr.number, &pr.head_sha, review)
            .await?;
    }
    installation
        .upsert_summary_comment(&pr.repo, pr.number, &publication.comment)
        .await?;
    Ok(Outcome::Done)
}

/// Fetches both commits and runs the shared analysis on them, off the async threads.
async fn compute(
    state: &AppState,
    installation: &Installation,
    pr: &PullRequestJob,
) -> Result<Publication, JobError> {
    let token = installation.token().await?;
    let state = state.clone();
    let pr = pr.clone();
    tokio::task::spawn_blocking(move || -> Result<Publication, JobError> {
        let head_ref = if pr.fork {
            format!("refs/pull/{}/head", pr.number)
        } else {
            format!("refs/heads/{}", pr.head_ref)
        };
        let request = FetchRequest {
            repo: &pr.repo,
            clone_url: &pr.clone_url,
            token: &token,
            commits: [&pr.base_sha, &pr.head_sha],
            refs: vec![format!("refs/heads/{}", pr.base_ref), head_ref],
            fallback_refs: if pr.fork {
                Vec::new()
            } else {
                vec![format!("refs/pull/{}/head", pr.number)]
            },
        };
        let started = Instant::now();
        let cached = state.cache.checkout(&request)?;
        let fetched = started.elapsed();
        let base = GitRevision::open(cached.path(), &pr.base_sha).map_err(AnalysisError::from)?;
        let head = GitRevision::open(cached.path(), &pr.head_sha).map_err(AnalysisError::from)?;
        let analysis = analyze(&base, &head, None, &state.parse_cache(&pr.repo))?;
        let analysed = started.elapsed();
        let publication = output::publication(&analysis, &pr.head_sha, &state.templates)?;
        tracing::info!(
            repo = pr.repo,
            pr = pr.number,
            errors = analysis.report.summary.errors,
            objects = analysis.report.objects.objects.len(),
            fetch_ms = fetched.as_millis() as u64,
            analyse_ms = (analysed - fetched).as_millis() as u64,
            output_ms = (started.elapsed() - analysed).as_millis() as u64,
            "analysed"
        );
        Ok(publication)
    })
    .await
    .map_err(|e| JobError::Task(e.to_string()))?
}

async fn acknowledge(app: &Configured, ack: &AcknowledgeJob) -> Result<Outcome, JobError> {
    app.github
        .installation(ack.installation_id)
        .acknowledge(&ack.repo, ack.check_run_id, &ack.login)
        .await?;
    Ok(Outcome::Done)
}
