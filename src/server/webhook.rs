//! `POST /webhook`: verify, parse, queue, answer — in that order, and nothing more.
//!
//! The signature is checked on the raw bytes in constant time before anything else; the payload
//! is read with `serde_path_to_error`, so a malformed one names the field; the answer is 202 only
//! once the jobs are durably queued (GitHub delivers once and expects an answer within 10 s).

use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde::de::{DeserializeOwned, Error as _, Unexpected};
use serde::{Deserialize, Deserializer};
use sha2::Sha256;

use super::storing::StoreError;
use super::{AppState, MAX_PAYLOAD};
use crate::github::api::{ACKNOWLEDGE_ACTION, CHECK_NAME};
use crate::queue::{
    AcknowledgeJob, Delivery, Enqueued, Job, MergeGroupJob, PullRequestJob, RerunJob,
    merge_group_key,
};

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`, compared in
/// constant time.
pub fn verify_signature(secret: &[u8], header: Option<&str>, body: &[u8]) -> bool {
    let Some(hex_digest) = header.and_then(|h| h.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The events the App acts on; everything else is acknowledged and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    PullRequest,
    CheckSuite,
    CheckRun,
    MergeGroup,
    Installation,
    Ping,
    Other,
}

impl Event {
    /// Maps `X-GitHub-Event`.
    pub fn from_header(name: &str) -> Self {
        match name {
            "pull_request" => Event::PullRequest,
            "check_suite" => Event::CheckSuite,
            "check_run" => Event::CheckRun,
            "merge_group" => Event::MergeGroup,
            "installation" => Event::Installation,
            "ping" => Event::Ping,
            _ => Event::Other,
        }
    }

    /// The event's name, from a fixed set, for metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Event::PullRequest => "pull_request",
            Event::CheckSuite => "check_suite",
            Event::CheckRun => "check_run",
            Event::MergeGroup => "merge_group",
            Event::Installation => "installation",
            Event::Ping => "ping",
            Event::Other => "other",
        }
    }
}

/// Why a payload of a handled event could not be read; names the field.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("{event} payload: at {path}: {message}")]
    Field {
        event: &'static str,
        path: String,
        message: String,
    },
    #[error("{event} payload has no installation.id; is it from the App's webhook?")]
    NoInstallation { event: &'static str },
}

/// A string a job is made of (a repository, a commit, a branch, a login): an empty one is
/// refused where it is, naming the field, instead of queueing a job no worker can run.
fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Err(D::Error::invalid_value(
            Unexpected::Str(&text),
            &"a non-empty string",
        ));
    }
    Ok(text)
}

#[derive(Deserialize)]
struct Repository {
    #[serde(deserialize_with = "non_empty")]
    full_name: String,
    #[serde(deserialize_with = "non_empty")]
    clone_url: String,
    html_url: Option<String>,
    ssh_url: Option<String>,
    git_url: Option<String>,
}

impl Repository {
    /// The URLs besides `clone_url` an Application may name this repository by.
    fn aliases(&self) -> Vec<String> {
        [&self.html_url, &self.ssh_url, &self.git_url]
            .into_iter()
            .flatten()
            .filter(|u| !u.is_empty())
            .cloned()
            .collect()
    }
}

#[derive(Deserialize)]
struct InstallationRef {
    id: u64,
}

#[derive(Deserialize)]
struct RepoRef {
    full_name: Option<String>,
    id: Option<u64>,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(deserialize_with = "non_empty")]
    sha: String,
    #[serde(rename = "ref", deserialize_with = "non_empty")]
    name: String,
    repo: Option<RepoRef>,
}

#[derive(Deserialize)]
struct PullRequest {
    head: Branch,
    base: Branch,
}

#[derive(Deserialize)]
struct PullRequestEvent {
    action: String,
    number: u64,
    pull_request: PullRequest,
    repository: Repository,
    installation: Option<InstallationRef>,
    changes: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct PrRef {
    number: u64,
    head: Branch,
    base: Branch,
}

#[derive(Deserialize)]
struct CheckSuite {
    #[serde(deserialize_with = "non_empty")]
    head_sha: String,
    pull_requests: Vec<PrRef>,
}

#[derive(Deserialize)]
struct CheckSuiteEvent {
    action: String,
    check_suite: CheckSuite,
    repository: Repository,
    installation: Option<InstallationRef>,
}

#[derive(Deserialize)]
struct CheckRun {
    id: u64,
    name: String,
    external_id: Option<String>,
    #[serde(deserialize_with = "non_empty")]
    head_sha: String,
    pull_requests: Vec<PrRef>,
}

#[derive(Deserialize)]
struct RequestedAction {
    identifier: String,
}

#[derive(Deserialize)]
struct Sender {
    #[serde(deserialize_with = "non_empty")]
    login: String,
}

#[derive(Deserialize)]
struct CheckRunEvent {
    action: String,
    check_run: CheckRun,
    requested_action: Option<RequestedAction>,
    sender: Sender,
    repository: Repository,
    installation: Option<InstallationRef>,
}

/// The fields of `merge_group` the App reads; refs are full (`refs/heads/main`). Source: the
/// `merge_group` webhook schema of GitHub's REST API description (octokit/webhooks,
/// `merge-group-checks-requested`).
#[derive(Deserialize)]
struct MergeGroup {
    #[serde(deserialize_with = "non_empty")]
    head_sha: String,
    #[serde(deserialize_with = "non_empty")]
    head_ref: String,
    #[serde(deserialize_with = "non_empty")]
    base_sha: String,
    #[serde(deserialize_with = "non_empty")]
    base_ref: String,
}

#[derive(Deserialize)]
struct MergeGroupEvent {
    action: String,
    merge_group: MergeGroup,
    repository: Repository,
    installation: Option<InstallationRef>,
}

#[derive(Deserialize)]
struct InstallationEvent {
    action: String,
    installation: InstallationRef,
}

fn read<T: DeserializeOwned>(event: &'static str, body: &[u8]) -> Result<T, PayloadError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| PayloadError::Field {
        event,
        path: field_path(e.path()),
        message: e.inner().to_string(),
    })
}

/// Refuses a `repository.full_name` that is not `owner/name` in GitHub's characters: it becomes
/// part of API paths and of the cache folder's name, so it must not carry `/..`, `?` or `#`.
fn check_repository(event: &'static str, repository: &Repository) -> Result<(), PayloadError> {
    let valid_part = |part: &str| {
        !part.is_empty()
            && !part.starts_with('.')
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match repository.full_name.split_once('/') {
        Some((owner, name)) if valid_part(owner) && valid_part(name) => Ok(()),
        _ => Err(PayloadError::Field {
            event,
            path: "repository.full_name".into(),
            message: format!("'{}' is not owner/name", repository.full_name),
        }),
    }
}

/// The field an error is at, as `pull_request.head.sha` or `pull_requests[0]`; a key that is
/// empty or holds a separator is quoted, so every field has a visible, unambiguous name.
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        let key = match segment {
            Segment::Seq { index } => {
                out.push_str(&format!("[{index}]"));
                continue;
            }
            Segment::Map { key } | Segment::Enum { variant: key } => key.as_str(),
            Segment::Unknown => "?",
        };
        if !out.is_empty() {
            out.push('.');
        }
        if key.is_empty() || key.contains(['.', '[', ']', '"', ' ']) {
            out.push_str(&format!("{key:?}"));
        } else {
            out.push_str(key);
        }
    }
    if out.is_empty() {
        out.push_str("the top level");
    }
    out
}

fn installation(
    event: &'static str,
    installation: Option<InstallationRef>,
) -> Result<u64, PayloadError> {
    installation
        .map(|i| i.id)
        .ok_or(PayloadError::NoInstallation { event })
}

/// The jobs a delivery asks for (none for events and actions the App does not act on).
pub fn jobs(event: Event, body: &[u8]) -> Result<Vec<Job>, PayloadError> {
    match event {
        Event::PullRequest => {
            let e: PullRequestEvent = read("pull_request", body)?;
            let wanted = match e.action.as_str() {
                "opened" | "synchronize" | "reopened" | "ready_for_review" => true,
                "edited" => e.changes.as_ref().is_some_and(|c| c.get("base").is_some()),
                _ => false,
            };
            // What a push triggers (`opened`, `synchronize`) is one analysis with the
            // `check_suite` it also triggers; the other actions ask to analyse again.
            let rerun = !matches!(e.action.as_str(), "opened" | "synchronize");
            if !wanted {
                return Ok(Vec::new());
            }
            check_repository("pull_request", &e.repository)?;
            let installation_id = installation("pull_request", e.installation)?;
            let fork = e
                .pull_request
                .head
                .repo
                .as_ref()
                .and_then(|r| r.full_name.as_deref())
                != Some(e.repository.full_name.as_str());
            Ok(vec![Job::Analyze(PullRequestJob {
                aliases: e.repository.aliases(),
                repo: e.repository.full_name,
                clone_url: e.repository.clone_url,
                installation_id,
                number: e.number,
                base_sha: e.pull_request.base.sha,
                base_ref: e.pull_request.base.name,
                head_sha: e.pull_request.head.sha,
                head_ref: e.pull_request.head.name,
                fork,
                rerun,
            })])
        }
        Event::CheckSuite => {
            let e: CheckSuiteEvent = read("check_suite", body)?;
            if !matches!(e.action.as_str(), "requested" | "rerequested") {
                return Ok(Vec::new());
            }
            check_repository("check_suite", &e.repository)?;
            let installation_id = installation("check_suite", e.installation)?;
            Ok(pr_jobs(
                &e.repository,
                installation_id,
                &e.check_suite.head_sha,
                e.check_suite.pull_requests,
                e.action == "rerequested",
            ))
        }
        Event::CheckRun => {
            let e: CheckRunEvent = read("check_run", body)?;
            if e.check_run.name != CHECK_NAME {
                return Ok(Vec::new());
            }
            check_repository("check_run", &e.repository)?;
            match e.action.as_str() {
                "rerequested" if e.check_run.pull_requests.is_empty() => {
                    // A fork PR's run lists no pull request: the run names it in its external id.
                    let installation_id = installation("check_run", e.installation)?;
                    Ok(e.check_run
                        .external_id
                        .as_deref()
                        .and_then(pull_request_of)
                        .map(|number| {
                            Job::Rerun(RerunJob {
                                repo: e.repository.full_name,
                                clone_url: e.repository.clone_url,
                                installation_id,
                                number,
                                head_sha: e.check_run.head_sha,
                            })
                        })
                        .into_iter()
                        .collect())
                }
                "rerequested" => {
                    let installation_id = installation("check_run", e.installation)?;
                    Ok(pr_jobs(
                        &e.repository,
                        installation_id,
                        &e.check_run.head_sha,
                        e.check_run.pull_requests,
                        true,
                    ))
                }
                "requested_action"
                    if e.requested_action.as_ref().map(|a| a.identifier.as_str())
                        == Some(ACKNOWLEDGE_ACTION) =>
                {
                    let installation_id = installation("check_run", e.installation)?;
                    Ok(vec![Job::Acknowledge(AcknowledgeJob {
                        repo: e.repository.full_name,
                        installation_id,
                        check_run_id: e.check_run.id,
                        login: e.sender.login,
                    })])
                }
                _ => Ok(Vec::new()),
            }
        }
        Event::MergeGroup => {
            let e: MergeGroupEvent = read("merge_group", body)?;
            if e.action != "checks_requested" {
                return Ok(Vec::new());
            }
            check_repository("merge_group", &e.repository)?;
            let installation_id = installation("merge_group", e.installation)?;
            Ok(vec![Job::MergeGroup(MergeGroupJob {
                repo: e.repository.full_name,
                clone_url: e.repository.clone_url,
                installation_id,
                base_sha: e.merge_group.base_sha,
                base_ref: e.merge_group.base_ref,
                head_sha: e.merge_group.head_sha,
                head_ref: e.merge_group.head_ref,
            })])
        }
        Event::Installation => {
            let e: InstallationEvent = read("installation", body)?;
            tracing::info!(
                action = e.action,
                installation = e.installation.id,
                "installation event"
            );
            Ok(Vec::new())
        }
        Event::Ping | Event::Other => Ok(Vec::new()),
    }
}

/// The pull request number in a check run's `external_id` (`pr-<n>:…`, written by the worker).
pub fn pull_request_of(external_id: &str) -> Option<u64> {
    external_id
        .strip_prefix("pr-")?
        .split(':')
        .next()?
        .parse()
        .ok()
}

/// The [`Job::analysis_key`] of the queued work a delivery cancels: a merge group GitHub
/// `destroyed` (merged, or dequeued) needs no check any more.
pub fn cancelled(event: Event, body: &[u8]) -> Result<Option<String>, PayloadError> {
    if event != Event::MergeGroup {
        return Ok(None);
    }
    let e: MergeGroupEvent = read("merge_group", body)?;
    if e.action != "destroyed" {
        return Ok(None);
    }
    check_repository("merge_group", &e.repository)?;
    Ok(Some(merge_group_key(
        &e.repository.full_name,
        &e.merge_group.head_sha,
    )))
}

fn pr_jobs(
    repository: &Repository,
    installation_id: u64,
    head_sha: &str,
    prs: Vec<PrRef>,
    rerun: bool,
) -> Vec<Job> {
    prs.into_iter()
        .map(|pr| {
            let fork = match (
                pr.head.repo.as_ref().and_then(|r| r.id),
                pr.base.repo.as_ref().and_then(|r| r.id),
            ) {
                (Some(head), Some(base)) => head != base,
                _ => false,
            };
            Job::Analyze(PullRequestJob {
                aliases: repository.aliases(),
                repo: repository.full_name.clone(),
                clone_url: repository.clone_url.clone(),
                installation_id,
                number: pr.number,
                base_sha: pr.base.sha,
                base_ref: pr.base.name,
                head_sha: head_sha.to_string(),
                head_ref: pr.head.name,
                fork,
                rerun,
            })
        })
        .collect()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// How much of a refused body is still read (and discarded) after the 413 is sent, and for how
/// long: a client that writes its whole body before reading the answer (most HTTP libraries do)
/// then sees the 413 instead of a broken pipe, while a body of any size costs no memory and at
/// most this much reading.
const LINGER_BYTES: u64 = 2 * MAX_PAYLOAD as u64;
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a delivery waits for its answer from the storing thread (`server::storing`). A
/// batch waits at most 4 s for its database ([`crate::queue::DELIVERY_WAIT`], counted from its
/// oldest delivery), so the answer normally comes within that; this bounds a commit that hangs,
/// and still answers within GitHub's 10 s.
const STORE_WAIT: std::time::Duration = std::time::Duration::from_secs(7);

async fn next_data(body: &mut Body) -> Option<Result<Bytes, axum::Error>> {
    loop {
        let frame =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await?;
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(e) => return Some(Err(e)),
        }
    }
}

/// Reads the rest of a refused body in the background, discarding it, within the linger bounds.
fn linger(mut body: Body) {
    tokio::spawn(async move {
        let drained = tokio::time::timeout(LINGER_TIME, async {
            let mut read = 0u64;
            while let Some(Ok(data)) = next_data(&mut body).await {
                read += data.len() as u64;
                if read > LINGER_BYTES {
                    break;
                }
            }
            read
        })
        .await;
        tracing::debug!(?drained, "refused body drained");
    });
}

/// The body, read up to [`MAX_PAYLOAD`]: a larger declared length is refused before a byte of
/// it is kept, a longer stream as soon as it passes the limit; memory never holds more.
async fn body_within_limit(headers: &HeaderMap, body: Body) -> Result<Bytes, (StatusCode, String)> {
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("payload above {MAX_PAYLOAD} bytes\n"),
        )
    };
    let declared = header(headers, "content-length").and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_PAYLOAD as u64) {
        linger(body);
        return Err(too_large());
    }
    let mut body = body;
    let mut out = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(data) = next_data(&mut body).await {
        let data = data.map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}\n"),
            )
        })?;
        if out.len() + data.len() > MAX_PAYLOAD {
            linger(body);
            return Err(too_large());
        }
        out.extend_from_slice(&data);
    }
    Ok(Bytes::from(out))
}

/// The webhook route.
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> (StatusCode, String) {
    let event_name = header(&headers, "x-github-event").unwrap_or("").to_string();
    let event = Event::from_header(&event_name);
    let body = match body_within_limit(&headers, body).await {
        Ok(body) => body,
        Err(refusal) => {
            state.metrics.rejected("too_large");
            tracing::warn!(event = event.name(), status = %refusal.0, "delivery body refused");
            return refusal;
        }
    };
    let Some(app) = state.configured() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the App is not set up yet: open / on this server\n".into(),
        );
    };
    if !verify_signature(
        app.webhook_secret.expose().as_bytes(),
        header(&headers, "x-hub-signature-256"),
        &body,
    ) {
        state.metrics.rejected("bad_signature");
        tracing::warn!(
            event = event.name(),
            "delivery with a bad or missing signature"
        );
        return (StatusCode::UNAUTHORIZED, "bad signature\n".into());
    }
    let Some(delivery) = header(&headers, "x-github-delivery").map(String::from) else {
        state.metrics.rejected("no_delivery_id");
        return (
            StatusCode::BAD_REQUEST,
            "missing X-GitHub-Delivery\n".into(),
        );
    };
    let jobs = match jobs(event, &body) {
        Ok(jobs) => jobs,
        Err(e) => {
            state.metrics.delivery(event, "rejected");
            tracing::warn!(delivery, error = %e, "unreadable payload");
            return (StatusCode::BAD_REQUEST, format!("{e}\n"));
        }
    };
    if jobs.is_empty() {
        return match cancelled(event, &body) {
            Ok(Some(key)) => {
                let queue = Arc::clone(&state.queue);
                match tokio::task::spawn_blocking(move || queue.cancel(&key)).await {
                    Ok(Ok(n)) => {
                        state.metrics.delivery(event, "cancelled");
                        tracing::info!(delivery, cancelled = n, "merge group destroyed");
                        (StatusCode::ACCEPTED, "cancelled\n".into())
                    }
                    Ok(Err(e)) => {
                        tracing::error!(delivery, error = %e, "cannot cancel queued work");
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "cannot cancel now\n".into(),
                        )
                    }
                    Err(e) => {
                        tracing::error!(delivery, error = %e, "cancel task failed");
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "cannot cancel now\n".into(),
                        )
                    }
                }
            }
            Ok(None) => {
                state.metrics.delivery(event, "ignored");
                (StatusCode::ACCEPTED, "ignored\n".into())
            }
            Err(e) => {
                state.metrics.delivery(event, "rejected");
                tracing::warn!(delivery, error = %e, "unreadable payload");
                (StatusCode::BAD_REQUEST, format!("{e}\n"))
            }
        };
    }
    let announced: Vec<(String, Vec<String>)> = jobs
        .iter()
        .filter_map(super::worker::fetched_refs)
        .collect();
    let stored = state
        .storing
        .store(
            Delivery {
                id: delivery.clone(),
                event: event.name().to_string(),
                jobs,
            },
            STORE_WAIT,
        )
        .await;
    match stored {
        Ok(Enqueued::Queued { jobs }) => {
            for (repo, refs) in &announced {
                state.cache.announce(repo, refs);
            }
            state.metrics.delivery(event, "queued");
            tracing::info!(delivery, event = event.name(), jobs, "delivery queued");
            state.wake.notify_waiters();
            (StatusCode::ACCEPTED, "queued\n".into())
        }
        Ok(Enqueued::Duplicate) => {
            state.metrics.delivery(event, "duplicate");
            tracing::info!(delivery, "redelivery of a stored delivery; processed once");
            (StatusCode::ACCEPTED, "duplicate delivery\n".into())
        }
        Err(e @ StoreError::TimedOut { .. }) => {
            state.metrics.delivery(event, "busy");
            tracing::warn!(delivery, error = %e, "storing is busy; answering 503");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "busy storing other deliveries\n".into(),
            )
        }
        Err(e) => {
            tracing::error!(delivery, error = %e, "cannot queue delivery");
            (StatusCode::SERVICE_UNAVAILABLE, "cannot queue now\n".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_test_vector() {
        let body = b"Hello, World!";
        let secret = b"It's a Secret to Everybody";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_signature(secret, Some(good), body));
        assert!(!verify_signature(secret, Some(good), b"Hello, World?"));
        assert!(!verify_signature(b"other", Some(good), body));
        assert!(!verify_signature(secret, None, body));
        assert!(!verify_signature(secret, Some(&good[7..]), body));
    }

    /// Reads a webhook payload from `dir` (`tests/fixtures/github-webhooks` or the corpus).
    fn load(dir: &std::path::Path, name: &str) -> serde_json::Value {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn fixtures() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/github-webhooks")
    }

    /// The octokit/webhooks examples in the shared folder (`$CLOBBERCHECK_SHARED`, else `../shared`,
    /// as `shared_dir` in `tests/common/mod.rs`), or `None` after one
    /// visible `SKIPPED` line (a panic under `CLOBBERCHECK_REQUIRE_ALL`, as in
    /// `tests/common/mod.rs`, which unit tests cannot reach).
    fn corpus(test: &str) -> Option<std::path::PathBuf> {
        use std::io::Write;
        let shared = std::env::var_os("CLOBBERCHECK_SHARED")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
        let dir = shared.join("corpus/github-webhooks");
        if dir.is_dir() {
            return Some(dir);
        }
        let why = "../shared/corpus is absent (it exists only beside this project's own checkouts)";
        if std::env::var_os("CLOBBERCHECK_REQUIRE_ALL").is_some_and(|v| !v.is_empty()) {
            panic!("{test} cannot run: {why} (CLOBBERCHECK_REQUIRE_ALL is set)");
        }
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
        None
    }

    fn pull_request_becomes_an_analysis(dir: &std::path::Path) {
        let payload = load(
            dir,
            "pull_request.ready_for_review.with-installation.payload.json",
        );
        let jobs = jobs(Event::PullRequest, &serde_json::to_vec(&payload).unwrap()).unwrap();
        let [Job::Analyze(pr)] = jobs.as_slice() else {
            panic!("{jobs:?}")
        };
        assert_eq!(pr.head_sha, payload["pull_request"]["head"]["sha"]);
        assert_eq!(pr.repo, payload["repository"]["full_name"]);
        assert!(!pr.fork);
    }

    #[test]
    fn every_url_of_the_repository_is_kept_for_argo_cd_sources() {
        let payload = serde_json::json!({
            "action": "opened", "number": 7,
            "pull_request": {
                "head": {"sha": "b".repeat(40), "ref": "feature", "repo": {"full_name": "o/r", "id": 1}},
                "base": {"sha": "a".repeat(40), "ref": "main", "repo": {"full_name": "o/r", "id": 1}}},
            "repository": {
                "full_name": "o/r", "clone_url": "https://github.com/o/r.git",
                "html_url": "https://github.com/o/r", "ssh_url": "git@github.com:o/r.git",
                "git_url": "git://github.com/o/r.git"},
            "installation": {"id": 3}
        });
        let jobs = jobs(Event::PullRequest, &serde_json::to_vec(&payload).unwrap()).unwrap();
        let [Job::Analyze(pr)] = jobs.as_slice() else {
            panic!("{jobs:?}")
        };
        assert_eq!(
            pr.aliases,
            [
                "https://github.com/o/r",
                "git@github.com:o/r.git",
                "git://github.com/o/r.git"
            ]
        );
    }

    fn closed_and_labeled_are_ignored_and_bad_fields_are_named(dir: &std::path::Path) {
        for name in [
            "pull_request.closed.payload.json",
            "pull_request.labeled.payload.json",
        ] {
            let body = serde_json::to_vec(&load(dir, name)).unwrap();
            assert!(jobs(Event::PullRequest, &body).unwrap().is_empty());
        }
        let mut payload = load(dir, "pull_request.opened.payload.json");
        payload["pull_request"]["head"]["sha"] = serde_json::json!(42);
        let err = jobs(Event::PullRequest, &serde_json::to_vec(&payload).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("pull_request.head.sha"), "{err}");
        let mut payload = load(dir, "pull_request.opened.payload.json");
        payload["installation"] = serde_json::json!({"id": 1});
        for bad in ["acme", "acme/../../app", "acme/x?y", "/x", "acme/"] {
            payload["repository"]["full_name"] = bad.into();
            let err = jobs(Event::PullRequest, &serde_json::to_vec(&payload).unwrap())
                .unwrap_err()
                .to_string();
            assert!(err.contains("repository.full_name"), "{bad}: {err}");
        }
    }

    fn empty_commits_and_names_are_refused_naming_the_field(dir: &std::path::Path) {
        let mut payload = load(dir, "pull_request.opened.payload.json");
        payload["pull_request"]["head"]["sha"] = " ".into();
        let err = jobs(Event::PullRequest, &serde_json::to_vec(&payload).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("at pull_request.head.sha: invalid value"),
            "{err}"
        );
    }

    fn edited_counts_only_with_a_base_change(dir: &std::path::Path) {
        let mut payload = load(
            dir,
            "pull_request.ready_for_review.with-installation.payload.json",
        );
        payload["action"] = "edited".into();
        let body = serde_json::to_vec(&payload).unwrap();
        assert!(jobs(Event::PullRequest, &body).unwrap().is_empty());
        payload["changes"] = serde_json::json!({"base": {"ref": {"from": "old"}}});
        let body = serde_json::to_vec(&payload).unwrap();
        assert_eq!(jobs(Event::PullRequest, &body).unwrap().len(), 1);
    }

    fn check_events(dir: &std::path::Path) {
        let body = |v: &serde_json::Value| serde_json::to_vec(v).unwrap();
        // A push with no pull request: nothing to analyse.
        let suite = load(dir, "check_suite.requested.payload.json");
        assert!(jobs(Event::CheckSuite, &body(&suite)).unwrap().is_empty());
        // Another App's check run is not ours to re-run or acknowledge.
        let mut action = load(dir, "check_run.requested_action.payload.json");
        assert!(jobs(Event::CheckRun, &body(&action)).unwrap().is_empty());
        action["check_run"]["name"] = CHECK_NAME.into();
        assert!(jobs(Event::CheckRun, &body(&action)).unwrap().is_empty());
        action["requested_action"]["identifier"] = ACKNOWLEDGE_ACTION.into();
        let acks = jobs(Event::CheckRun, &body(&action)).unwrap();
        let [Job::Acknowledge(ack)] = acks.as_slice() else {
            panic!("one acknowledge job expected")
        };
        assert_eq!(ack.check_run_id, action["check_run"]["id"]);
        assert_eq!(ack.login, action["sender"]["login"]);
        // A re-run of our check run re-analyses its pull requests with their base.
        let mut rerun = action.clone();
        rerun["action"] = "rerequested".into();
        let reruns = jobs(Event::CheckRun, &body(&rerun)).unwrap();
        let [Job::Analyze(pr)] = reruns.as_slice() else {
            panic!("one analysis expected")
        };
        let listed = &rerun["check_run"]["pull_requests"][0];
        assert_eq!(pr.number, listed["number"]);
        assert_eq!(pr.base_sha, listed["base"]["sha"]);
        assert_eq!(pr.head_sha, rerun["check_run"]["head_sha"]);
        assert!(!pr.fork);
        let installation = load(dir, "installation.created.payload.json");
        assert!(
            jobs(Event::Installation, &body(&installation))
                .unwrap()
                .is_empty()
        );
    }

    /// Every check above, on one folder of payloads.
    fn all_payload_checks(dir: &std::path::Path) {
        pull_request_becomes_an_analysis(dir);
        closed_and_labeled_are_ignored_and_bad_fields_are_named(dir);
        empty_commits_and_names_are_refused_naming_the_field(dir);
        edited_counts_only_with_a_base_change(dir);
        check_events(dir);
    }

    #[test]
    fn fixture_pull_request_becomes_an_analysis() {
        pull_request_becomes_an_analysis(&fixtures());
    }

    #[test]
    fn fixture_closed_and_labeled_are_ignored_and_bad_fields_are_named() {
        closed_and_labeled_are_ignored_and_bad_fields_are_named(&fixtures());
    }

    #[test]
    fn fixture_empty_commits_and_names_are_refused_naming_the_field() {
        empty_commits_and_names_are_refused_naming_the_field(&fixtures());
    }

    #[test]
    fn fixture_edited_counts_only_with_a_base_change() {
        edited_counts_only_with_a_base_change(&fixtures());
    }

    #[test]
    fn fixture_check_events() {
        check_events(&fixtures());
    }

    /// The extra layer: GitHub's real example payloads, where present, pass the same checks.
    #[test]
    fn corpus_payloads_become_the_right_jobs() {
        if let Some(dir) = corpus("corpus_payloads_become_the_right_jobs") {
            all_payload_checks(&dir);
        }
    }

    #[test]
    fn errors_at_unnamed_keys_and_the_top_level_name_them() {
        let err = |body: &[u8]| jobs(Event::Installation, body).unwrap_err().to_string();
        let at_empty_key = err(b"{\"action\": \"created\", \"\": x}");
        assert!(
            at_empty_key.contains("at \"\": expected value"),
            "{at_empty_key}"
        );
        let at_dotted_key = err(b"{\"a.b\": x}");
        assert!(at_dotted_key.contains("at \"a.b\": "), "{at_dotted_key}");
        let at_top = err(b"[");
        assert!(at_top.contains("at the top level: "), "{at_top}");
    }
}
