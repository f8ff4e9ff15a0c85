//! The durable job queue between the webhook route and the workers.
//!
//! A delivery is answered only once its jobs are stored here, so GitHub's single delivery is never
//! lost to a crash; workers claim jobs with a lease, so a job whose worker died (even by
//! `kill -9`) is claimed again. The [`Queue`] trait is all the rest of the server knows: the
//! embedded [`sqlite::SqliteQueue`] serves one replica, [`postgres::PostgresQueue`] several
//! sharing one database, and the same behaviour tests (`tests/queue.rs`) run against both.

pub mod postgres;
pub mod sqlite;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use postgres::PostgresQueue;
pub use sqlite::SqliteQueue;

/// Why the queue could not store or hand out a job; names the operation and the job.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue database {path}: {message}")]
    Open { path: String, message: String },
    #[error("queue {operation} (job {job:?}): {message}")]
    Database {
        operation: &'static str,
        job: Option<i64>,
        message: String,
    },
    #[error("queue: job {job} holds an unreadable payload: {message}")]
    Payload { job: i64, message: String },
}

/// The pull request a job analyses, with everything needed to fetch both commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestJob {
    /// `owner/name` of the base repository.
    pub repo: String,
    pub clone_url: String,
    pub installation_id: u64,
    pub number: u64,
    pub base_sha: String,
    pub base_ref: String,
    pub head_sha: String,
    pub head_ref: String,
    /// The head lives in another repository: fetch `refs/pull/<n>/head` from the base one.
    pub fork: bool,
    /// The repository's other URLs from the payload (`html_url`, `ssh_url`, `git_url`): an
    /// Application naming any of them deploys from this repository. Absent in jobs queued
    /// before issue 10.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// An explicit request to analyse again (Re-run button, `rerequested`, `ready_for_review`,
    /// `reopened`): it gets a new check run even when this analysis already ran, where a
    /// `synchronize` and the `check_suite` `requested` of the same push make one.
    #[serde(default)]
    pub rerun: bool,
}

/// A Re-run of a check run whose payload names no pull request (GitHub sends
/// `pull_requests: []` for a fork's): the PR number comes from the run's `external_id`, and the
/// worker asks GitHub for the rest before it analyses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RerunJob {
    pub repo: String,
    pub clone_url: String,
    pub installation_id: u64,
    pub number: u64,
    /// The commit the re-run check run was on: if the PR moved on, there is nothing to re-run.
    pub head_sha: String,
}

/// A merge queue's `checks_requested`: judge `base_sha..head_sha` of the temporary branch GitHub
/// built, and report on `head_sha` (no review, no comment: a merge group is not a pull request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeGroupJob {
    pub repo: String,
    pub clone_url: String,
    pub installation_id: u64,
    pub base_sha: String,
    /// The full ref of the target branch, `refs/heads/main`.
    pub base_ref: String,
    pub head_sha: String,
    /// The full ref of the merge group's branch, `refs/heads/gh-readonly-queue/main/pr-…`.
    pub head_ref: String,
}

/// A click on the Acknowledge button of a check run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcknowledgeJob {
    pub repo: String,
    pub installation_id: u64,
    pub check_run_id: u64,
    pub login: String,
}

/// What a worker has to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    Analyze(PullRequestJob),
    Rerun(RerunJob),
    MergeGroup(MergeGroupJob),
    Acknowledge(AcknowledgeJob),
}

impl Job {
    /// What a job analyses — `(repository, PR, base sha, head sha)`, or the merge group's
    /// `(repository, head sha)` — so deliveries describing the same analysis make one job and a
    /// merge group's `destroyed` finds its queued work. `None` for jobs that analyse nothing.
    pub fn analysis_key(&self) -> Option<String> {
        match self {
            Job::Analyze(pr) => Some(format!(
                "{}#{}@{}..{}",
                pr.repo, pr.number, pr.base_sha, pr.head_sha
            )),
            Job::Rerun(rerun) => Some(format!(
                "{}#{}@?..{}",
                rerun.repo, rerun.number, rerun.head_sha
            )),
            Job::MergeGroup(group) => Some(merge_group_key(&group.repo, &group.head_sha)),
            Job::Acknowledge(_) => None,
        }
    }

    /// Whether the job must run even when the same analysis already ran (a re-run request).
    pub fn is_rerun(&self) -> bool {
        matches!(
            self,
            Job::Analyze(PullRequestJob { rerun: true, .. }) | Job::Rerun(_)
        )
    }

    /// The commit a job is about.
    pub fn head_sha(&self) -> Option<&str> {
        match self {
            Job::Analyze(pr) => Some(&pr.head_sha),
            Job::Rerun(rerun) => Some(&rerun.head_sha),
            Job::MergeGroup(group) => Some(&group.head_sha),
            Job::Acknowledge(_) => None,
        }
    }

    /// The pull request (or merge group) a job works on, `owner/name#number`: the queue runs
    /// at most one job per key at a time, so two heads of one PR never publish side by side.
    /// `None` for jobs that publish no analysis.
    pub fn pull_request_key(&self) -> Option<String> {
        match self {
            Job::Analyze(pr) => Some(format!("{}#{}", pr.repo, pr.number)),
            Job::Rerun(rerun) => Some(format!("{}#{}", rerun.repo, rerun.number)),
            Job::MergeGroup(group) => Some(merge_group_key(&group.repo, &group.head_sha)),
            Job::Acknowledge(_) => None,
        }
    }

    /// A short word for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Analyze(_) | Job::Rerun(_) => "analyze",
            Job::MergeGroup(_) => "merge_group",
            Job::Acknowledge(_) => "acknowledge",
        }
    }
}

/// The [`Job::analysis_key`] of a merge group, for [`Queue::cancel`] on `destroyed`.
pub fn merge_group_key(repo: &str, head_sha: &str) -> String {
    format!("{repo}@merge-group:{head_sha}")
}

/// An Acknowledge click as the queue keeps it: it applies to every later analysis of its pull
/// request (any head) and to merge groups containing it, for exactly the error findings it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// `owner/name` of the base repository.
    pub repo: String,
    pub pr: u64,
    /// The GitHub login that clicked.
    pub login: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_unix_ms: i64,
    /// The check run whose button was clicked, and the head it judged.
    pub check_run: u64,
    pub head_sha: String,
    /// The run's error findings, each as its stable key
    /// ([`crate::acknowledge::finding_key`]: rule and identity), sorted.
    pub findings: Vec<String>,
}

/// What [`Queue::enqueue`] did with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Stored; `jobs` new jobs wait. A job describing an analysis that is waiting, running or
    /// done is merged into it; a re-run only into one still waiting.
    Queued { jobs: usize },
    /// This `X-GitHub-Delivery` was stored before: a redelivery, processed once.
    Duplicate,
}

/// A job handed to a worker, leased until it finishes or the lease runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub id: i64,
    pub delivery: String,
    /// How many times it was claimed before this one.
    pub attempts: u32,
    pub job: Job,
    /// The check run an earlier attempt marked in progress ([`Queue::started_check_run`]): if it
    /// is completed now, that attempt completed it, and it must not be completed again.
    pub check_run: Option<u64>,
    /// How many of that check run's annotations earlier attempts sent ([`Queue::sent_annotations`]).
    pub annotations_sent: usize,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    Done,
    /// The PR's head or base moved on, the PR closed, or the merge group was destroyed: the
    /// analysis is no longer wanted.
    Superseded,
    /// Gave up after retries; the check run says so.
    Failed,
}

/// How long storing deliveries waits for a busy database by default: the webhook must answer
/// within GitHub's 10 s, and a 503 in time beats a 202 GitHub no longer waits for.
pub const DELIVERY_WAIT: Duration = Duration::from_secs(4);

/// One webhook delivery to store: GitHub's `X-GitHub-Delivery` id, the event name and the jobs
/// it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub event: String,
    pub jobs: Vec<Job>,
}

/// Called by a queue when jobs may have become claimable (see [`Queue::listen`]).
pub type Wake = std::sync::Arc<dyn Fn() + Send + Sync>;

/// The durable queue. Methods block (SQLite is local, PostgreSQL is reached through a pool of
/// blocking connections); async callers run them on the blocking pool.
pub trait Queue: Send + Sync {
    /// Stores a delivery and its jobs atomically, unless the delivery id was seen before; a
    /// batch of one ([`Queue::enqueue_batch`]) waiting at most [`DELIVERY_WAIT`].
    fn enqueue(&self, delivery: &str, event: &str, jobs: &[Job]) -> Result<Enqueued, QueueError> {
        let one = Delivery {
            id: delivery.to_string(),
            event: event.to_string(),
            jobs: jobs.to_vec(),
        };
        let mut stored = self.enqueue_batch(std::slice::from_ref(&one), DELIVERY_WAIT)?;
        stored.pop().ok_or_else(|| QueueError::Database {
            operation: "enqueue",
            job: None,
            message: "the batch of one delivery returned no answer".into(),
        })
    }
    /// Stores deliveries in one transaction, one answer per delivery in their order: a burst
    /// costs one commit (one fsync), not one each (the webhook's storing thread,
    /// `server::storing`, groups what arrives while a batch is being stored). Each delivery is
    /// stored unless its id was seen before, in the database or earlier in the batch. Nothing is
    /// superseded here: GitHub does not promise delivery order, so only a worker asking the API
    /// knows which head is current.
    ///
    /// Waits at most `wait` for a busy database (locked, or every connection in use), then fails
    /// the whole batch with an error naming `enqueue`: nothing of it is stored.
    fn enqueue_batch(
        &self,
        deliveries: &[Delivery],
        wait: Duration,
    ) -> Result<Vec<Enqueued>, QueueError>;
    /// Takes the oldest runnable job (queued and due, or running with an expired lease) whose
    /// [`Job::pull_request_key`] has no other job running under a live lease.
    fn claim(&self, lease: Duration) -> Result<Option<Claimed>, QueueError>;
    /// Records that the job marked check run `check_run` in progress, before it goes on to
    /// complete it: an attempt after a crash then knows the run's completion is its own.
    fn started_check_run(&self, id: i64, check_run: u64) -> Result<(), QueueError>;
    /// Records that `count` annotations of the job's check run were sent, so an attempt after a
    /// crash sends only the rest (GitHub appends the annotations of every update).
    fn sent_annotations(&self, id: i64, count: usize) -> Result<(), QueueError>;
    /// Ends the waiting jobs with this [`Job::analysis_key`] as superseded (a merge group was
    /// destroyed); returns how many. A job waiting to retry after it started a check run is
    /// left to run: the run it created must end completed, or it stays in progress for good.
    fn cancel(&self, analysis_key: &str) -> Result<u64, QueueError>;
    /// Extends a running job's lease, so a long analysis is not claimed twice.
    fn heartbeat(&self, id: i64, lease: Duration) -> Result<(), QueueError>;
    /// Records how a job ended.
    fn finish(&self, id: i64, how: Finished, error: Option<&str>) -> Result<(), QueueError>;
    /// Puts a job back to run again after `delay`, keeping the error for operators.
    fn retry(&self, id: i64, delay: Duration, error: &str) -> Result<(), QueueError>;
    /// Jobs waiting or running.
    fn depth(&self) -> Result<u64, QueueError>;
    /// How long the oldest waiting (queued and due) job has waited; `None` when none waits.
    fn oldest_waiting(&self) -> Result<Option<Duration>, QueueError>;
    /// Answers when the database does (`GET /readyz`); the error says why it does not.
    fn ping(&self) -> Result<(), QueueError>;
    /// Calls `wake` whenever another process (or this one) queues a job, from a thread of the
    /// queue's own, and returns `true`; a queue that cannot tell returns `false` and idle workers
    /// poll. PostgreSQL uses `LISTEN`/`NOTIFY`; SQLite, owned by one process whose webhook wakes
    /// its own workers, returns `false`.
    fn listen(&self, wake: Wake) -> bool;
    /// Records the error findings (stable keys, [`crate::acknowledge::finding_key`]) of check run
    /// `check_run` of pull request `pr` on `head_sha` when the run completes, so a later click
    /// on its Acknowledge button knows what it acknowledges. Recording a run again replaces its
    /// findings.
    fn record_run_findings(
        &self,
        repo: &str,
        pr: u64,
        head_sha: &str,
        check_run: u64,
        findings: &[String],
    ) -> Result<(), QueueError>;
    /// Records `login`'s acknowledgement of check run `check_run` for its pull request, with the
    /// findings [`Queue::record_run_findings`] stored for it; `None` when no findings were
    /// recorded for that run (not a pull request's run, or one this App did not complete). A
    /// second click on the same run by the same login records nothing new and returns the first.
    fn acknowledge(
        &self,
        repo: &str,
        check_run: u64,
        login: &str,
    ) -> Result<Option<Acknowledgement>, QueueError>;
    /// Every acknowledgement of pull request `pr`, oldest first.
    fn acknowledgements(&self, repo: &str, pr: u64) -> Result<Vec<Acknowledgement>, QueueError>;
    /// Forgets finished jobs and delivery ids older than `age`, so the database stays bounded.
    /// A redelivery older than that is processed again (GitHub offers redelivery for 3 days).
    fn prune(&self, age: Duration) -> Result<u64, QueueError>;
}
