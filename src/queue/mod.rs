//! The durable job queue between the webhook route and the workers.
//!
//! A delivery is answered only once its jobs are stored here, so GitHub's single delivery is never
//! lost to a crash; workers claim jobs with a lease, so a job whose worker died (even by
//! `kill -9`) is claimed again. The [`Queue`] trait is all the rest of the server knows, so a
//! PostgreSQL backend for several replicas can be added beside [`sqlite::SqliteQueue`] without
//! touching routes or workers.

pub mod sqlite;

use std::time::Duration;

use serde::{Deserialize, Serialize};

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
    Acknowledge(AcknowledgeJob),
}

impl Job {
    /// Jobs with the same key replace each other: a newer head commit of one PR supersedes a
    /// queued analysis of an older one.
    pub fn supersede_key(&self) -> Option<String> {
        match self {
            Job::Analyze(pr) => Some(format!("{}#{}", pr.repo, pr.number)),
            Job::Acknowledge(_) => None,
        }
    }

    /// The commit a job is about, to tell a newer push from a repeated one.
    pub fn head_sha(&self) -> Option<&str> {
        match self {
            Job::Analyze(pr) => Some(&pr.head_sha),
            Job::Acknowledge(_) => None,
        }
    }

    /// A short word for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Analyze(_) => "analyze",
            Job::Acknowledge(_) => "acknowledge",
        }
    }
}

/// What [`Queue::enqueue`] did with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Stored; `jobs` new jobs wait (jobs equal to one already waiting are merged into it).
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
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    Done,
    /// A newer head commit of the same PR arrived while it ran.
    Superseded,
    /// Gave up after retries; the check run says so.
    Failed,
}

/// The durable queue. Methods block (SQLite is local and fast); async callers run them on the
/// blocking pool.
pub trait Queue: Send + Sync {
    /// Stores a delivery and its jobs atomically, unless the delivery id was seen before.
    /// Queued analyses of the same PR with another head commit are marked superseded.
    fn enqueue(&self, delivery: &str, event: &str, jobs: &[Job]) -> Result<Enqueued, QueueError>;
    /// Takes the oldest runnable job (queued and due, or running with an expired lease).
    fn claim(&self, lease: Duration) -> Result<Option<Claimed>, QueueError>;
    /// Records that the job marked check run `check_run` in progress, before it goes on to
    /// complete it: an attempt after a crash then knows the run's completion is its own.
    fn started_check_run(&self, id: i64, check_run: u64) -> Result<(), QueueError>;
    /// Extends a running job's lease, so a long analysis is not claimed twice.
    fn heartbeat(&self, id: i64, lease: Duration) -> Result<(), QueueError>;
    /// Records how a job ended.
    fn finish(&self, id: i64, how: Finished, error: Option<&str>) -> Result<(), QueueError>;
    /// Puts a job back to run again after `delay`, keeping the error for operators.
    fn retry(&self, id: i64, delay: Duration, error: &str) -> Result<(), QueueError>;
    /// Whether a newer head commit of the job's PR has been queued since it was.
    fn is_superseded(&self, id: i64) -> Result<bool, QueueError>;
    /// Jobs waiting or running.
    fn depth(&self) -> Result<u64, QueueError>;
    /// Forgets finished jobs and delivery ids older than `age`, so the database stays bounded.
    /// A redelivery older than that is processed again (GitHub offers redelivery for 3 days).
    fn prune(&self, age: Duration) -> Result<u64, QueueError>;
}
