//! Workers: claim a job, run it, record how it ended.
//!
//! An analysis marks its check run `in_progress`, fetches both commits into the repository
//! cache, runs exactly the analysis `clobbercheck check` runs, and publishes. Transient failures
//! (GitHub down or rate limited, network) put the job back with a doubling delay; after the last
//! attempt, or at once for permanent failures, the check run says the check could not run —
//! never a silent drop.
//!
//! A job runs to completion once: the queue remembers the check run a job started, so an
//! attempt after a crash or a failed publication finds the run it already completed and only
//! posts what is missing (review and comment are found again by their markers). The end of a job
//! is recorded even if the database is locked or full for a while: the worker waits for it
//! rather than leave the job to run again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::{AppState, Configured};
use crate::analysis::{AnalysisError, Options, analyze_with};
use crate::deploy::repository::ThisRepository;
use crate::fetch::{FetchError, FetchRequest};
use crate::github::output::{self, Publication};
use crate::github::publish::{self, Published, Target};
use crate::github::{GitHubError, Installation};
use crate::queue::{AcknowledgeJob, Claimed, Finished, Job, PullRequestJob, QueueError};
use crate::report::markdown::TemplateError;
use crate::revision::GitRevision;

/// How long a claimed job is reserved; renewed every third of it while the job runs.
pub const LEASE: Duration = Duration::from_secs(120);
/// Longest pause between two tries to record a job's end in an unavailable database.
const RECORD_RETRY_MAX: Duration = Duration::from_secs(30);

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
            Ok(Ok(Some(job))) => {
                // A job that panics takes its own task down, not this worker.
                let (s, a) = (state.clone(), Arc::clone(&app));
                if let Err(e) = tokio::spawn(async move { process(&s, &a, job).await }).await {
                    tracing::error!(worker = n, error = %e, "job task failed; the job runs again when its lease ends");
                }
            }
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

/// The first retry delay doubles with each attempt, up to 32 times itself (16 min by default):
/// a job given many attempts keeps trying at that pace instead of waiting for days.
fn retry_delay(state: &AppState, attempts: u32) -> Duration {
    state.settings.retry_delay * 2u32.pow(attempts.min(5))
}

/// Records a job's end, trying again until the database takes it: a job whose end is not
/// recorded would run again after a restart.
async fn record(
    operation: &'static str,
    f: impl Fn() -> Result<(), QueueError> + Send + Sync + 'static,
) {
    let f = Arc::new(f);
    let mut pause = Duration::from_millis(250);
    loop {
        let attempt = Arc::clone(&f);
        match blocking(move || attempt()).await {
            Ok(()) => return,
            Err(error) => {
                tracing::error!(%error, operation, retry_in_ms = pause.as_millis() as u64, "cannot record the job's end; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RECORD_RETRY_MAX);
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
    let mut check_run = claimed.check_run;
    let result = match &claimed.job {
        Job::Analyze(pr) => analyze_pr(state, app, id, pr, &mut check_run).await,
        Job::Acknowledge(ack) => acknowledge(app, ack).await,
    };
    heartbeat.abort();
    let queue = Arc::clone(&state.queue);
    let kind = claimed.job.kind();
    match result {
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
            record("finish", move || queue.finish(id, how, None)).await;
        }
        Err(error)
            if error.is_transient() && claimed.attempts + 1 < state.settings.max_attempts =>
        {
            let delay = retry_delay(state, claimed.attempts);
            tracing::warn!(%error, attempt = claimed.attempts + 1, delay_ms = delay.as_millis() as u64, "job will be retried");
            state.metrics.job(kind, "retried", started.elapsed());
            let message = error.to_string();
            record("retry", move || queue.retry(id, delay, &message)).await;
        }
        Err(error) => {
            tracing::error!(%error, attempts = claimed.attempts + 1, "job failed");
            state.metrics.job(kind, "failed", started.elapsed());
            let reported = match &claimed.job {
                Job::Analyze(pr) => report_failure(app, pr, check_run, &error).await,
                Job::Acknowledge(_) => Ok(()),
            };
            let message = error.to_string();
            match reported {
                Err(e) if e.is_transient() => {
                    // A check run left in progress would block the pull request for good: the
                    // job stays queued until its end can be shown.
                    let delay = retry_delay(state, claimed.attempts);
                    tracing::warn!(error = %e, delay_ms = delay.as_millis() as u64, "the failure is not shown yet; the job will run again");
                    record("retry", move || queue.retry(id, delay, &message)).await;
                }
                reported => {
                    // A permanent refusal (unknown installation or repository, no permission)
                    // does not change by waiting: there is nothing to show and no run left open.
                    if let Err(e) = reported {
                        tracing::warn!(error = %e, "the failure cannot be shown on GitHub");
                    }
                    record("finish", move || {
                        queue.finish(id, Finished::Failed, Some(&message))
                    })
                    .await;
                }
            }
        }
    }
}

/// The check run's stable external id for a pull request, so a retry finds the run.
fn external_id(pr: &PullRequestJob) -> String {
    format!("pr-{}", pr.number)
}

/// Completes the check run as a failure saying why, unless this job already completed it (then
/// the conclusion there is right, and only the review or comment is missing).
async fn report_failure(
    app: &Configured,
    pr: &PullRequestJob,
    check_run: Option<u64>,
    error: &JobError,
) -> Result<(), GitHubError> {
    let installation = app.github.installation(pr.installation_id);
    let result = async {
        if let Some(run) = check_run
            && installation
                .completed_check_run(&pr.repo, run)
                .await?
                .is_some()
        {
            tracing::warn!(
                repo = pr.repo,
                pr = pr.number,
                check_run = run,
                "the check run is complete; only the review or summary comment could not be posted"
            );
            return Ok(());
        }
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
    if let Err(e) = &result {
        tracing::error!(repo = pr.repo, pr = pr.number, error = %e, "cannot report the failure on the check run");
    }
    result
}

/// Analyses a pull request and publishes; `check_run` is the run this job started (in an
/// earlier attempt, or now), kept by the queue.
async fn analyze_pr(
    state: &AppState,
    app: &Configured,
    id: i64,
    pr: &PullRequestJob,
    check_run: &mut Option<u64>,
) -> Result<Outcome, JobError> {
    let queue = Arc::clone(&state.queue);
    if blocking(move || queue.is_superseded(id)).await? {
        return Ok(Outcome::Superseded);
    }
    let installation = app.github.installation(pr.installation_id);
    let external_id = external_id(pr);
    let target = Target {
        repo: &pr.repo,
        head_sha: &pr.head_sha,
        external_id: &external_id,
        pull_request: Some(pr.number),
    };
    let started = publish::start(&installation, &target, *check_run).await?;
    if !started.completed {
        let (queue, run) = (Arc::clone(&state.queue), started.check_run);
        blocking(move || queue.started_check_run(id, run)).await?;
        *check_run = Some(run);
    }
    let publication = compute(state, &installation, pr).await?;
    let queue = Arc::clone(&state.queue);
    // A superseded PR's check run is right for its commit; the review and comment belong to
    // the newer one.
    let still_current =
        || async move { Ok::<_, JobError>(!blocking(move || queue.is_superseded(id)).await?) };
    match publish::publish(&installation, &target, started, &publication, still_current).await? {
        Published::Done => Ok(Outcome::Done),
        Published::Superseded => Ok(Outcome::Superseded),
    }
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
        // This repository as Argo CD Applications name it, at the branch the PR merges into.
        let mut urls = vec![pr.clone_url.clone()];
        urls.extend(pr.aliases.iter().cloned());
        let options = Options {
            repository: ThisRepository::new(&urls, &[&pr.base_ref]),
            ..Options::default()
        };
        let analysis = analyze_with(&base, &head, None, &state.parse_cache(&pr.repo), options)?;
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
