//! Workers: claim a job, run it, record how it ended.
//!
//! An analysis first asks GitHub whether its pull request is still open with this head and base
//! (deliveries come in any order), creates a new check run of its own, fetches both commits into
//! the repository cache, runs exactly the analysis `clobbercheck check` runs, and publishes
//! through [`crate::github::publish`]. Transient failures
//! (GitHub down or rate limited, network) put the job back with a doubling delay; after the last
//! attempt, or at once for permanent failures, the check run says the check could not run —
//! never a silent drop.
//!
//! A job runs to completion once: the queue remembers the check run a job started and how many
//! of its annotations GitHub took, so an attempt after a crash resumes that run after the last
//! batch sent, or finds it completed and only posts what is missing (review and comment are
//! found again by their markers). The end of a job
//! is recorded even if the database is locked or full for a while: the worker waits for it
//! rather than leave the job to run again.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tracing::Instrument;

use super::{AppState, Configured, merge_queue};
use crate::acknowledge::acknowledged_by;
use crate::analysis::{AnalysisError, Options, analyze_with};
use crate::deploy::repository::ThisRepository;
use crate::fetch::{FetchError, FetchRequest};
use crate::github::output::{self, Publication};
use crate::github::publish::{AnnotationLedger, LedgerError, PublishError, Target, publish};
use crate::github::{GitHubError, Installation};
use crate::queue::{AcknowledgeJob, Claimed, Finished, Job, PullRequestJob, QueueError, RerunJob};
use crate::report::markdown::TemplateError;
use crate::revision::GitRevision;

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
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("job task: {0}")]
    Task(String),
}

impl JobError {
    /// Whether a later attempt may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            JobError::GitHub(e) => e.is_transient(),
            JobError::Publish(e) => e.is_transient(),
            JobError::Fetch(FetchError::Fetch { .. }) | JobError::Queue(_) => true,
            JobError::Fetch(_)
            | JobError::Analysis(_)
            | JobError::Template(_)
            | JobError::Task(_) => false,
        }
    }

    /// The failed check run's title: it names the invalid configuration when that is why (a
    /// broken base configuration fails every PR but the one fixing it, issue 12).
    fn title(&self) -> String {
        match self {
            JobError::Analysis(e) => match e.config_file() {
                Some(path) => format!("Invalid configuration {path}: clobbercheck could not run"),
                None => "clobbercheck could not run".into(),
            },
            _ => "clobbercheck could not run".into(),
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

/// One worker's loop; runs until the server drains (SIGTERM), finishing the job it holds.
pub async fn run(state: AppState, n: usize) {
    loop {
        if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::info!(worker = n, "draining: no new job");
            return;
        }
        let Some(app) = state.configured() else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let (queue, lease) = (Arc::clone(&state.queue), state.settings.lease);
        let claimed = tokio::task::spawn_blocking(move || queue.claim(lease)).await;
        match claimed {
            Ok(Ok(Some(job))) => {
                // A job that panics takes its own task down, not this worker.
                let (s, a) = (state.clone(), Arc::clone(&app));
                if let Err(e) = tokio::spawn(async move { process(&s, &a, job).await }).await {
                    tracing::error!(worker = n, error = %e, "job task failed; the job runs again when its lease ends");
                }
            }
            Ok(Ok(None)) => {
                let _ = tokio::time::timeout(state.idle_poll, state.wake.notified()).await;
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
        let (queue, lease) = (Arc::clone(&state.queue), state.settings.lease);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                let queue = Arc::clone(&queue);
                let _ = tokio::task::spawn_blocking(move || queue.heartbeat(id, lease)).await;
            }
        })
    };
    let mut check_run = claimed.check_run;
    let result = match &claimed.job {
        Job::Acknowledge(ack) => acknowledge(state, app, ack).await,
        Job::Rerun(rerun) => match resolve(app, rerun).await {
            Ok(Some(job)) => analyze_job(state, app, &claimed, &job, &mut check_run).await,
            Ok(None) => Ok(Outcome::Superseded),
            Err(e) => Err(e),
        },
        job => analyze_job(state, app, &claimed, job, &mut check_run).await,
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
            let reported = report_failure(app, &claimed, check_run, &error).await;
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

/// The check run's external id: it names the analysis (the job), so an attempt after a crash
/// finds the run this job created, and a re-run of a fork PR — whose `check_run` payload lists no
/// pull request — finds the PR again ([`super::webhook`] reads the number back).
fn external_id(id: i64, job: &Job) -> String {
    match job {
        Job::Analyze(PullRequestJob { number, .. }) | Job::Rerun(RerunJob { number, .. }) => {
            format!("pr-{number}:job-{id}")
        }
        _ => format!("merge-group:job-{id}"),
    }
}

/// Completes the job's check run as a failure saying why (creating the run if the job had not),
/// unless this job already completed it (then the conclusion there is right, and only the
/// review or comment is missing).
async fn report_failure(
    app: &Configured,
    claimed: &Claimed,
    check_run: Option<u64>,
    error: &JobError,
) -> Result<(), GitHubError> {
    let (repo, installation_id, head_sha) = match &claimed.job {
        Job::Analyze(pr) => (&pr.repo, pr.installation_id, &pr.head_sha),
        Job::Rerun(rerun) => (&rerun.repo, rerun.installation_id, &rerun.head_sha),
        Job::MergeGroup(group) => (&group.repo, group.installation_id, &group.head_sha),
        Job::Acknowledge(_) => return Ok(()),
    };
    if check_run.is_none()
        && let JobError::GitHub(e) = error
        && matches!(e.status(), Some(401 | 403 | 404))
    {
        // GitHub refused this installation or repository before any run existed: creating one
        // to show the failure would be refused the same way.
        return Ok(());
    }
    let installation = app.github.installation(installation_id);
    let result = async {
        if let Some(run) = check_run
            && installation.completed_check_run(repo, run).await?.is_some()
        {
            tracing::warn!(
                repo = repo,
                check_run = run,
                "the check run is complete; only the review or summary comment could not be posted"
            );
            return Ok(());
        }
        let run = match check_run {
            Some(run) => run,
            None => {
                installation
                    .create_check_run(repo, head_sha, &external_id(claimed.id, &claimed.job))
                    .await?
            }
        };
        installation
            .fail_check_run(repo, run, &error.title(), &error.for_users())
            .await
    }
    .await;
    if let Err(e) = &result {
        tracing::error!(repo = repo, error = %e, "cannot report the failure on the check run");
    }
    result
}

/// The repository and refs an analysis job will fetch, for the webhook to announce them
/// ([`crate::fetch::RepoCache::announce`]) while the job waits in the queue.
pub(crate) fn fetched_refs(job: &Job) -> Option<(String, Vec<String>)> {
    let analysed = Analysed::of(job)?;
    Some((analysed.repo.to_string(), analysed.refs))
}

/// What an analysis job compares and where it fetches it from: a pull request or a merge group.
struct Analysed<'a> {
    repo: &'a str,
    clone_url: &'a str,
    installation_id: u64,
    base_sha: &'a str,
    head_sha: &'a str,
    /// Refs that hold the two commits; `fallback_refs` are tried when a ref is gone.
    refs: Vec<String>,
    fallback_refs: Vec<String>,
    pull_request: Option<u64>,
    /// A merge group's full branch ref, which names its last pull request.
    merge_group_ref: Option<&'a str>,
    /// This repository as Argo CD Applications name it (the payload's URLs), at the branch
    /// the change merges into.
    repository: ThisRepository,
}

impl<'a> Analysed<'a> {
    fn of(job: &'a Job) -> Option<Self> {
        match job {
            Job::Analyze(pr) => {
                let head_ref = if pr.fork {
                    format!("refs/pull/{}/head", pr.number)
                } else {
                    format!("refs/heads/{}", pr.head_ref)
                };
                Some(Analysed {
                    repo: &pr.repo,
                    clone_url: &pr.clone_url,
                    installation_id: pr.installation_id,
                    base_sha: &pr.base_sha,
                    head_sha: &pr.head_sha,
                    refs: vec![format!("refs/heads/{}", pr.base_ref), head_ref],
                    fallback_refs: if pr.fork {
                        Vec::new()
                    } else {
                        vec![format!("refs/pull/{}/head", pr.number)]
                    },
                    pull_request: Some(pr.number),
                    merge_group_ref: None,
                    repository: ThisRepository::new(
                        &[std::slice::from_ref(&pr.clone_url), pr.aliases.as_slice()].concat(),
                        &[&pr.base_ref],
                    ),
                })
            }
            Job::MergeGroup(group) => Some(Analysed {
                repo: &group.repo,
                clone_url: &group.clone_url,
                installation_id: group.installation_id,
                base_sha: &group.base_sha,
                head_sha: &group.head_sha,
                refs: vec![group.base_ref.clone(), group.head_ref.clone()],
                fallback_refs: Vec::new(),
                pull_request: None,
                merge_group_ref: Some(&group.head_ref),
                repository: ThisRepository::new(
                    &[&group.clone_url],
                    &[group
                        .base_ref
                        .strip_prefix("refs/heads/")
                        .unwrap_or(&group.base_ref)],
                ),
            }),
            Job::Rerun(_) | Job::Acknowledge(_) => None,
        }
    }
}

/// The queue's record of how many annotations of the job's check run GitHub took.
struct JobLedger {
    queue: Arc<dyn crate::queue::Queue>,
    id: i64,
    resumed: Option<usize>,
}

impl AnnotationLedger for JobLedger {
    fn resumed(&self) -> Option<usize> {
        self.resumed
    }

    async fn record(&self, sent: usize) -> Result<(), LedgerError> {
        let (queue, id) = (Arc::clone(&self.queue), self.id);
        blocking(move || queue.sent_annotations(id, sent))
            .await
            .map_err(|e| LedgerError(e.to_string()))
    }
}

/// Whether pull request `number` is open and still has `head_sha` on `base_ref`: deliveries
/// arrive in any order, so only GitHub knows which head is current. A PR GitHub does not show
/// counts as current.
async fn is_current(
    installation: &Installation,
    repo: &str,
    number: u64,
    head_sha: &str,
    base_ref: &str,
) -> Result<bool, GitHubError> {
    Ok(match installation.pull_request(repo, number).await? {
        Some(now) => {
            let current = now.open && now.head_sha == head_sha && now.base_ref == base_ref;
            if !current {
                tracing::info!(
                    repo,
                    pr = number,
                    open = now.open,
                    head = now.head_sha,
                    base = now.base_ref,
                    "the pull request moved on or closed; this analysis is not wanted"
                );
            }
            current
        }
        // GitHub shows no such PR to this installation: without a better answer, the analysis
        // the delivery asked for runs (a check that never comes would stall the PR for good).
        None => {
            tracing::warn!(
                repo,
                pr = number,
                "the pull request cannot be read; analysing as delivered"
            );
            true
        }
    })
}

/// The analysis a [`RerunJob`] asks for, from what GitHub says its pull request is now; `None`
/// when the PR is gone, closed or has another head (that head has its own check run).
async fn resolve(app: &Configured, rerun: &RerunJob) -> Result<Option<Job>, JobError> {
    let installation = app.github.installation(rerun.installation_id);
    let Some(now) = installation.pull_request(&rerun.repo, rerun.number).await? else {
        return Ok(None);
    };
    if !now.open || now.head_sha != rerun.head_sha {
        tracing::info!(
            repo = rerun.repo,
            pr = rerun.number,
            "the re-run check is not on the pull request's open head; nothing to re-run"
        );
        return Ok(None);
    }
    Ok(Some(Job::Analyze(PullRequestJob {
        repo: rerun.repo.clone(),
        clone_url: rerun.clone_url.clone(),
        installation_id: rerun.installation_id,
        number: rerun.number,
        fork: now.head_repo.as_deref() != Some(rerun.repo.as_str()),
        base_sha: now.base_sha,
        base_ref: now.base_ref,
        head_sha: now.head_sha,
        head_ref: now.head_ref,
        aliases: Vec::new(),
        rerun: true,
    })))
}

/// Analyses a pull request or merge group (`job`: the claimed one, or what a re-run resolved
/// to) and publishes; `check_run` is the run this job started (in an earlier attempt, or now),
/// kept by the queue.
async fn analyze_job(
    state: &AppState,
    app: &Configured,
    claimed: &Claimed,
    job: &Job,
    check_run: &mut Option<u64>,
) -> Result<Outcome, JobError> {
    let Some(analysis) = Analysed::of(job) else {
        return Ok(Outcome::Done);
    };
    let analysis = &analysis;
    let installation = app.github.installation(analysis.installation_id);
    let current = || async {
        match job {
            Job::Analyze(pr) => {
                is_current(
                    &installation,
                    &pr.repo,
                    pr.number,
                    &pr.head_sha,
                    &pr.base_ref,
                )
                .await
            }
            _ => Ok(true),
        }
    };
    // A run this job created must end completed, whatever happened to the PR since.
    if check_run.is_none() && !current().await? {
        return Ok(Outcome::Superseded);
    }
    let run = match *check_run {
        Some(run) => run,
        None => {
            let run = installation
                .create_check_run(
                    analysis.repo,
                    analysis.head_sha,
                    &external_id(claimed.id, job),
                )
                .await?;
            let (queue, id) = (Arc::clone(&state.queue), claimed.id);
            blocking(move || queue.started_check_run(id, run)).await?;
            *check_run = Some(run);
            run
        }
    };
    let (mut publication, pulls) = compute(state, &installation, analysis).await?;
    apply_acknowledgements(state, analysis.repo, &pulls, &mut publication).await?;
    if let Some(number) = analysis.pull_request {
        // Before the run completes, so a click on its button finds what it acknowledges.
        let (queue, repo, head) = (
            Arc::clone(&state.queue),
            analysis.repo.to_string(),
            analysis.head_sha.to_string(),
        );
        let errors = publication.errors.clone();
        blocking(move || queue.record_run_findings(&repo, number, &head, run, &errors)).await?;
    }
    let ledger = JobLedger {
        queue: Arc::clone(&state.queue),
        id: claimed.id,
        resumed: claimed.check_run.map(|_| claimed.annotations_sent),
    };
    let target = Target {
        repo: analysis.repo,
        head_sha: analysis.head_sha,
        pull_request: analysis.pull_request,
    };
    let published = publish(
        &installation,
        target,
        run,
        &publication,
        &ledger,
        || async { Ok(current().await?) },
    )
    .await?;
    Ok(if published || analysis.pull_request.is_none() {
        Outcome::Done
    } else {
        Outcome::Superseded
    })
}

/// Makes the run a success naming who acknowledged it when every error finding of
/// `publication` is held by an acknowledgement of one of `pulls` (the pull request, or those a
/// merge group holds).
async fn apply_acknowledgements(
    state: &AppState,
    repo: &str,
    pulls: &[u64],
    publication: &mut Publication,
) -> Result<(), JobError> {
    if publication.errors.is_empty() || pulls.is_empty() {
        return Ok(());
    }
    let (queue, repo_name, numbers) = (Arc::clone(&state.queue), repo.to_string(), pulls.to_vec());
    let acknowledgements = blocking(move || {
        let mut all = Vec::new();
        for number in numbers {
            all.extend(queue.acknowledgements(&repo_name, number)?);
        }
        Ok(all)
    })
    .await?;
    if let Some(logins) = acknowledged_by(&publication.errors, &acknowledgements) {
        publication.check.acknowledge(&logins);
        tracing::info!(
            repo,
            ?pulls,
            ?logins,
            "every error finding was acknowledged"
        );
    }
    Ok(())
}

/// Fetches both commits and runs the shared analysis on them, off the async threads. Returns
/// what to publish and the pull requests the analysis is of: the PR's number, or those a merge
/// group holds ([`merge_queue::pull_requests`]).
async fn compute(
    state: &AppState,
    installation: &Installation,
    analysis: &Analysed<'_>,
) -> Result<(Publication, Vec<u64>), JobError> {
    let token = installation.token().await?;
    let state = state.clone();
    let (repo, clone_url) = (analysis.repo.to_string(), analysis.clone_url.to_string());
    let (base_sha, head_sha) = (analysis.base_sha.to_string(), analysis.head_sha.to_string());
    let (refs, fallback_refs) = (analysis.refs.clone(), analysis.fallback_refs.clone());
    let repository = analysis.repository.clone();
    let pull_request = analysis.pull_request;
    let merge_group_ref = analysis.merge_group_ref.map(String::from);
    tokio::task::spawn_blocking(move || {
        in_analysis_pool(move || -> Result<(Publication, Vec<u64>), JobError> {
            let request = FetchRequest {
                repo: &repo,
                clone_url: &clone_url,
                token: &token,
                commits: [&base_sha, &head_sha],
                refs,
                fallback_refs,
            };
            let started = Instant::now();
            let cached = state.cache.checkout(&request)?;
            let fetched = started.elapsed();
            let base = GitRevision::open(cached.path(), &base_sha).map_err(AnalysisError::from)?;
            let head = GitRevision::open(cached.path(), &head_sha).map_err(AnalysisError::from)?;
            let options = Options {
                repository,
                ..Options::default()
            };
            let analysis = analyze_with(&base, &head, None, &state.parse_cache(&repo), options)?;
            let analysed = started.elapsed();
            let publication = output::publication(&analysis, &head_sha, &state.templates)?;
            tracing::info!(
                repo,
                head = head_sha,
                errors = analysis.report.summary.errors,
                objects = analysis.report.objects.objects().len(),
                fetch_ms = fetched.as_millis() as u64,
                analyse_ms = (analysed - fetched).as_millis() as u64,
                output_ms = (started.elapsed() - analysed).as_millis() as u64,
                "analysed"
            );
            let pulls = match (pull_request, merge_group_ref) {
                (Some(number), _) => vec![number],
                (None, Some(head_ref)) => {
                    let messages = merge_queue::commit_messages(cached.path(), &base_sha, &head_sha)
                        .unwrap_or_else(|error| {
                            tracing::warn!(repo, %error, "cannot read the merge group's commits; only the pull request its branch names counts");
                            Vec::new()
                        });
                    merge_queue::pull_requests(&head_ref, messages.iter().map(String::as_str))
                }
                (None, None) => Vec::new(),
            };
            Ok((publication, pulls))
        })
    })
    .await
    .map_err(|e| JobError::Task(e.to_string()))?
}

/// Runs `work` (an analysis and its publication) on the analysis threads: a rayon pool whose
/// threads run at a lower CPU priority (nice 10), so that on a busy replica the webhook's
/// answers, which GitHub times out after 10 s, are not queued behind analyses; the analysis's
/// own parallel steps run there too. Without the pool (it failed to start) `work` runs here.
fn in_analysis_pool<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("analysis-{i}"))
            // Linux keeps the nice value per thread: this lowers only the pool's own threads.
            .start_handler(|_| {
                // SAFETY: setpriority takes no pointers; 0 names the calling thread.
                unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, ANALYSIS_NICE) };
            })
            .build()
            .map_err(|error| tracing::warn!(%error, "cannot start the analysis threads; analysing on the worker's"))
            .ok()
    });
    match pool {
        Some(pool) => pool.install(work),
        None => work(),
    }
}

/// The nice value of the analysis threads (0 is the default, 19 the lowest priority).
const ANALYSIS_NICE: libc::c_int = 10;

/// An Acknowledge click: when `login` may write to the repository, records the acknowledgement
/// of the run's error findings for its pull request (so later analyses of the PR, and merge
/// groups holding it, pass while their errors are among them) and turns the run into a success.
async fn acknowledge(
    state: &AppState,
    app: &Configured,
    ack: &AcknowledgeJob,
) -> Result<Outcome, JobError> {
    let installation = app.github.installation(ack.installation_id);
    if !installation.may_acknowledge(&ack.repo, &ack.login).await? {
        return Ok(Outcome::Done);
    }
    let (queue, repo, run, login) = (
        Arc::clone(&state.queue),
        ack.repo.clone(),
        ack.check_run_id,
        ack.login.clone(),
    );
    match blocking(move || queue.acknowledge(&repo, run, &login)).await? {
        Some(recorded) => tracing::info!(
            repo = ack.repo,
            pr = recorded.pr,
            check_run = run,
            login = ack.login,
            findings = recorded.findings.len(),
            "acknowledgement recorded for the pull request"
        ),
        None => tracing::warn!(
            repo = ack.repo,
            check_run = run,
            login = ack.login,
            "no findings are recorded for this check run (a merge group's, or one completed \
             before acknowledgements were kept): only this run is acknowledged"
        ),
    }
    installation
        .mark_acknowledged(
            &ack.repo,
            ack.check_run_id,
            std::slice::from_ref(&ack.login),
        )
        .await?;
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analyses_run_on_the_analysis_threads_at_a_lower_priority() {
        let (name, nice) = in_analysis_pool(|| {
            // SAFETY: getpriority takes no pointers; 0 names the calling thread.
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            (std::thread::current().name().map(String::from), nice)
        });
        assert!(
            name.as_deref().is_some_and(|n| n.starts_with("analysis-")),
            "{name:?}"
        );
        // At least the pool's nice value: a test run started at a lower priority keeps it.
        assert!(nice >= ANALYSIS_NICE, "nice {nice}");
    }
}
