//! The calls the server makes for a pull request: the `clobbercheck` check run, the review, the
//! summary comment, and the Acknowledge button.
//!
//! Each create first looks for what an earlier, interrupted attempt may have left (the check run
//! by `external_id`, the review and comment by hidden markers), so retries and restarts edit
//! instead of duplicating.

use serde_json::{Value, json};

use super::client::{GitHubError, Installation};
use super::output::{
    CheckRunOutput, MAX_OUTPUT, ReviewPlan, SUMMARY_MARKER, review_marker, truncate,
};
use super::publish::{AnnotationLedger, PublishError};

/// The check run's name: stable, since a required status check is matched by it.
pub const CHECK_NAME: &str = "clobbercheck";
/// The Acknowledge button's identifier, as `check_run.requested_action` reports it.
pub const ACKNOWLEDGE_ACTION: &str = "acknowledge";
/// Annotations per request GitHub accepts.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;

/// The permissions that may acknowledge a failed check.
const WRITERS: &[&str] = &["admin", "maintain", "write"];

fn actions() -> Value {
    json!([{
        "label": "Acknowledge",
        "description": "Accept these overwrites as intended",
        "identifier": ACKNOWLEDGE_ACTION,
    }])
}

/// How many annotations GitHub holds for a check run (`output.annotations_count`).
fn annotations_count(run: &Value) -> Option<usize> {
    run.pointer("/output/annotations_count")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
}

fn id_of(value: &Value, path: &str) -> Result<u64, GitHubError> {
    value
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| GitHubError::Decode {
            method: reqwest::Method::POST,
            path: path.to_string(),
            message: "no id in the answer".into(),
        })
}

/// A pull request as GitHub has it now ([`Installation::pull_request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestNow {
    pub open: bool,
    pub head_sha: String,
    pub head_ref: String,
    /// `owner/name` of the head's repository; `None` when that repository was deleted.
    pub head_repo: Option<String>,
    pub base_sha: String,
    /// The base branch's name (`main`): a base change moves it.
    pub base_ref: String,
}

impl Installation {
    /// This App's `clobbercheck` check run on `head_sha` with `external_id`, if one exists.
    pub async fn find_check_run(
        &self,
        repo: &str,
        head_sha: &str,
        external_id: &str,
    ) -> Result<Option<Value>, GitHubError> {
        let runs = self
            .get_all(
                &format!(
                    "/repos/{repo}/commits/{head_sha}/check-runs?check_name={CHECK_NAME}&filter=all"
                ),
                Some("check_runs"),
            )
            .await?;
        let app_id = self.github().app_id();
        Ok(runs.into_iter().find(|run| {
            run.get("external_id").and_then(Value::as_str) == Some(external_id)
                && app_id.is_none_or(|app_id| {
                    run.pointer("/app/id")
                        .and_then(Value::as_u64)
                        .is_none_or(|id| id == app_id)
                })
        }))
    }

    /// Creates a new `in_progress` check run for one analysis and returns its id. Every analysis
    /// gets its own run (a completed run is never moved back to `in_progress`, and GitHub appends
    /// annotations on every update); `external_id` names the analysis, so the run an interrupted
    /// attempt of the same analysis created is found and returned instead of a second one.
    pub async fn create_check_run(
        &self,
        repo: &str,
        head_sha: &str,
        external_id: &str,
    ) -> Result<u64, GitHubError> {
        let path = format!("/repos/{repo}/check-runs");
        if let Some(run) = self.find_check_run(repo, head_sha, external_id).await? {
            return id_of(&run, &path);
        }
        let body = json!({
            "name": CHECK_NAME,
            "head_sha": head_sha,
            "external_id": external_id,
            "status": "in_progress",
            "output": {"title": "Comparing objects", "summary": "clobbercheck is comparing base and head object by object."},
        });
        let run = self
            .create_once(&path, &body, || {
                self.find_check_run(repo, head_sha, external_id)
            })
            .await?;
        id_of(&run, &path)
    }

    /// Completes the check run with its output, sending each annotation once: in batches of 50
    /// (GitHub's limit per request), the last with the conclusion. A run an earlier attempt
    /// started resumes after what GitHub already holds (its `output.annotations_count`, else
    /// what `ledger` recorded), and each batch is recorded in `ledger` once GitHub took it.
    pub async fn complete_check_run<L: AnnotationLedger>(
        &self,
        repo: &str,
        id: u64,
        output: &CheckRunOutput,
        ledger: &L,
    ) -> Result<(), PublishError> {
        let path = format!("/repos/{repo}/check-runs/{id}");
        let total = output.annotations.len();
        let mut sent = 0;
        if let Some(recorded) = ledger.resumed() {
            let run = self.get(&path).await?;
            if run.get("status").and_then(Value::as_str) == Some("completed") {
                return Ok(());
            }
            sent = annotations_count(&run).unwrap_or(recorded).min(total);
            tracing::info!(
                check_run = id,
                sent,
                total,
                "resuming the check run's annotations"
            );
        }
        loop {
            let batch = &output.annotations[sent..total.min(sent + ANNOTATIONS_PER_REQUEST)];
            let last = sent + batch.len() == total;
            let mut body = json!({
                "output": {
                    "title": output.title,
                    "summary": output.summary,
                    "text": output.text,
                    "annotations": batch,
                },
            });
            if last {
                body["status"] = json!("completed");
                body["conclusion"] = json!(output.conclusion);
                // The button's click is delivered to the App's webhook; a run made with a
                // workflow's token has no one to receive it.
                body["actions"] =
                    if output.conclusion == "failure" && self.github().app_id().is_some() {
                        actions()
                    } else {
                        json!([])
                    };
                self.patch_once(&path, &body, || self.completed_check_run(repo, id))
                    .await?;
                return Ok(());
            }
            let expected = sent + batch.len();
            // A batch whose answer was lost is looked up by count, not sent twice.
            let run_path = &path;
            self.patch_once(&path, &body, || async move {
                let run = self.get(run_path).await?;
                Ok(annotations_count(&run)
                    .is_some_and(|n| n >= expected)
                    .then_some(run))
            })
            .await?;
            sent = expected;
            ledger.record(sent).await?;
        }
    }

    /// The check run `id` if it is completed, to tell whether a completion whose answer was lost
    /// took effect, or whether an earlier attempt of a job completed it.
    pub async fn completed_check_run(
        &self,
        repo: &str,
        id: u64,
    ) -> Result<Option<Value>, GitHubError> {
        let run = self.get(&format!("/repos/{repo}/check-runs/{id}")).await?;
        Ok((run.get("status").and_then(Value::as_str) == Some("completed")).then_some(run))
    }

    /// Completes the check run as a failure saying why clobbercheck could not run.
    pub async fn fail_check_run(
        &self,
        repo: &str,
        id: u64,
        title: &str,
        summary: &str,
    ) -> Result<(), GitHubError> {
        self.patch_once(
            &format!("/repos/{repo}/check-runs/{id}"),
            &json!({
                "status": "completed",
                "conclusion": "failure",
                "output": {"title": title, "summary": truncate(summary, MAX_OUTPUT)},
            }),
            || self.completed_check_run(repo, id),
        )
        .await?;
        Ok(())
    }

    /// Whether `login` may acknowledge a failed check of `repo`: only people with write access
    /// (role or permission `admin`, `maintain` or `write`, from
    /// `GET /repos/{repo}/collaborators/{login}/permission`); an unknown login may not.
    pub async fn may_acknowledge(&self, repo: &str, login: &str) -> Result<bool, GitHubError> {
        let permission = match self
            .get(&format!("/repos/{repo}/collaborators/{login}/permission"))
            .await
        {
            Ok(answer) => answer,
            Err(e) if e.status() == Some(404) => return Ok(false),
            Err(e) => return Err(e),
        };
        let role = permission.get("role_name").and_then(Value::as_str);
        let level = permission.get("permission").and_then(Value::as_str);
        let may = WRITERS
            .iter()
            .any(|w| Some(*w) == role || Some(*w) == level);
        if !may {
            tracing::info!(repo, login, "acknowledge refused: no write permission");
        }
        Ok(may)
    }

    /// Turns the failed `clobbercheck` run `check_run_id` into a success naming who acknowledged
    /// it ([`CheckRunOutput::acknowledge`]'s words). Returns whether it changed: a run of
    /// another name, or one that did not fail, is left alone.
    pub async fn mark_acknowledged(
        &self,
        repo: &str,
        check_run_id: u64,
        logins: &[String],
    ) -> Result<bool, GitHubError> {
        let path = format!("/repos/{repo}/check-runs/{check_run_id}");
        let run = self.get(&path).await?;
        if run.get("name").and_then(Value::as_str) != Some(CHECK_NAME)
            || run.get("conclusion").and_then(Value::as_str) != Some("failure")
        {
            return Ok(false);
        }
        let text = |pointer: &str| {
            run.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let mut output = CheckRunOutput {
            conclusion: "failure",
            title: text("/output/title"),
            summary: text("/output/summary"),
            text: String::new(),
            annotations: Vec::new(),
        };
        output.acknowledge(logins);
        self.patch(
            &path,
            &json!({
                "status": "completed",
                "conclusion": output.conclusion,
                "output": {"title": output.title, "summary": output.summary},
                "actions": [],
            }),
        )
        .await?;
        tracing::info!(repo, check_run_id, ?logins, "check run acknowledged");
        Ok(true)
    }

    /// What GitHub says pull request `number` is now, or `None` when it does not exist: GitHub
    /// does not promise delivery order, so only this tells whether a job's head is still the PR's.
    pub async fn pull_request(
        &self,
        repo: &str,
        number: u64,
    ) -> Result<Option<PullRequestNow>, GitHubError> {
        let path = format!("/repos/{repo}/pulls/{number}");
        let pr = match self.get(&path).await {
            Ok(pr) => pr,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        let text = |pointer: &str| {
            pr.pointer(pointer)
                .and_then(Value::as_str)
                .map(String::from)
                .ok_or_else(|| GitHubError::Decode {
                    method: reqwest::Method::GET,
                    path: path.clone(),
                    message: format!("no {pointer} in the pull request"),
                })
        };
        Ok(Some(PullRequestNow {
            open: text("/state")? == "open",
            head_sha: text("/head/sha")?,
            head_ref: text("/head/ref")?,
            head_repo: text("/head/repo/full_name").ok(),
            base_sha: text("/base/sha")?,
            base_ref: text("/base/ref")?,
        }))
    }

    async fn find_review(
        &self,
        repo: &str,
        number: u64,
        head_sha: &str,
    ) -> Result<Option<Value>, GitHubError> {
        let marker = review_marker(head_sha);
        let reviews = self
            .get_all(&format!("/repos/{repo}/pulls/{number}/reviews"), None)
            .await?;
        Ok(reviews.into_iter().find(|r| {
            r.get("body")
                .and_then(Value::as_str)
                .is_some_and(|b| b.contains(&marker))
        }))
    }

    /// Posts the review for `head_sha` unless one was posted already; returns whether it posted.
    pub async fn post_review(
        &self,
        repo: &str,
        number: u64,
        head_sha: &str,
        plan: &ReviewPlan,
    ) -> Result<bool, GitHubError> {
        if self.find_review(repo, number, head_sha).await?.is_some() {
            return Ok(false);
        }
        let body = json!({
            "commit_id": head_sha,
            "event": "COMMENT",
            "body": plan.body,
            "comments": plan.comments,
        });
        self.create_once(
            &format!("/repos/{repo}/pulls/{number}/reviews"),
            &body,
            || self.find_review(repo, number, head_sha),
        )
        .await?;
        Ok(true)
    }

    async fn find_summary_comment(
        &self,
        repo: &str,
        number: u64,
    ) -> Result<Option<Value>, GitHubError> {
        let comments = self
            .get_all(&format!("/repos/{repo}/issues/{number}/comments"), None)
            .await?;
        Ok(comments.into_iter().find(|c| {
            c.get("body")
                .and_then(Value::as_str)
                .is_some_and(|b| b.contains(SUMMARY_MARKER))
        }))
    }

    /// Edits the PR's summary comment in place, creating it the first time.
    pub async fn upsert_summary_comment(
        &self,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<(), GitHubError> {
        let payload = json!({"body": body});
        if let Some(existing) = self.find_summary_comment(repo, number).await? {
            let id = id_of(&existing, "issue comments")?;
            if existing.get("body").and_then(Value::as_str) != Some(body) {
                self.patch(&format!("/repos/{repo}/issues/comments/{id}"), &payload)
                    .await?;
            }
            return Ok(());
        }
        self.create_once(
            &format!("/repos/{repo}/issues/{number}/comments"),
            &payload,
            || self.find_summary_comment(repo, number),
        )
        .await?;
        Ok(())
    }
}
