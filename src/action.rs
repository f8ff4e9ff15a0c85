//! `clobbercheck github-action`: the check inside a GitHub Actions workflow, with no server.
//!
//! It reads what the runner provides (the event file at `GITHUB_EVENT_PATH`, `GITHUB_REPOSITORY`,
//! `GITHUB_API_URL`, `GITHUB_SERVER_URL`, `GITHUB_WORKSPACE`, a token from `INPUT_TOKEN` or
//! `GITHUB_TOKEN`; GitHub's list: "Variables reference", docs.github.com/en/actions/reference/
//! workflows-and-actions/variables), takes base and head from the event — a pull request's base
//! and head commits, never the merge commit `GITHUB_SHA` names — and runs the analysis
//! `clobbercheck check` runs. Commits a shallow checkout lacks are fetched with the token through
//! the App's own [`RepoCache`] (git objects only: nothing from the pull request is executed
//! outside the render sandboxes). The result is published through [`crate::github::publish`],
//! the App's code, with the workflow's token.
//!
//! When the token cannot write (GitHub makes it read-only for a fork's `pull_request`), the
//! findings become workflow commands (`::error file=…,line=…::`, at most the 10 per kind and step
//! that GitHub shows — community discussion #68471) and the step summary still has the report:
//! the step never fails for want of a comment, only by the findings, like `check`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::analysis::{AnalysisError, Options, analyze_with};
use crate::config::Config;
use crate::fetch::{FetchError, FetchRequest, RepoCache};
use crate::github::output::{self, Publication};
use crate::github::publish::{self, Forgetful, PublishError, Target};
use crate::github::{GitHub, GitHubError, RetryPolicy, Secret};
use crate::report::markdown::{self, TemplateError};
use crate::report::{Format, Shape, json};
use crate::revision::{GitRevision, RevisionError};
use crate::snapshot::ParseCache;

/// Annotations of one level GitHub shows per step; further workflow commands are dropped
/// silently by GitHub, so they are counted in one notice instead.
pub const ANNOTATIONS_PER_LEVEL: usize = 10;
/// Most bytes the fetch cache may keep in the runner's temporary directory.
const CACHE_BYTES: u64 = 4 << 30;

/// Why the Action could not run (exit status 2); names the variable, file or call concerned.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("{0} is not set: run `clobbercheck github-action` inside a GitHub Actions workflow")]
    Missing(&'static str),
    #[error("event file {path}: {message}")]
    Event { path: String, message: String },
    #[error(
        "event `{0}` is not supported: use pull_request, pull_request_target, merge_group or push"
    )]
    UnsupportedEvent(String),
    #[error("{0}")]
    NoBase(String),
    #[error("{what} {path}: {message}")]
    Io {
        what: &'static str,
        path: String,
        message: String,
    },
    #[error("GITHUB_SERVER_URL {url}: {message}")]
    ServerUrl { url: String, message: String },
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Revision(#[from] RevisionError),
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
}

/// Which findings fail the step (the `fail-on` input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Any error-severity finding (as `check`).
    Error,
    /// Any error or warning.
    Warning,
    /// Never: report only.
    Never,
}

/// The subcommand's own settings, from its flags or the action's inputs.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// A base revision overriding the event's (a sha or a ref of the workspace repository).
    pub base: Option<String>,
    /// Configuration file (relative to the workspace) instead of the base revision's.
    pub config: Option<PathBuf>,
    pub fail_on: FailOn,
    /// The report printed on standard output (the step's log).
    pub format: Format,
    /// Templates overriding the embedded Markdown templates.
    pub templates: Option<PathBuf>,
}

/// What the event says to compare and where to publish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTarget {
    pub event: String,
    pub base_sha: String,
    pub head_sha: String,
    /// The pull request number; `None` for merge groups and pushes.
    pub pull_request: Option<u64>,
    /// Remote refs that hold the commits, fetched when the checkout lacks them.
    pub refs: Vec<String>,
    pub clone_url: Option<String>,
}

/// Reads base, head, pull request and refs from the event payload of `event`.
pub fn read_event(event: &str, payload: &Value, path: &str) -> Result<EventTarget, ActionError> {
    let text = |pointer: &str| -> Result<String, ActionError> {
        payload
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| ActionError::Event {
                path: path.to_string(),
                message: format!("no `{}` in the `{event}` payload", &pointer[1..]),
            })
    };
    let clone_url = payload
        .pointer("/repository/clone_url")
        .and_then(Value::as_str)
        .map(String::from);
    let target = match event {
        "pull_request" | "pull_request_target" => {
            let number = payload
                .pointer("/pull_request/number")
                .or_else(|| payload.get("number"))
                .and_then(Value::as_u64)
                .ok_or_else(|| ActionError::Event {
                    path: path.to_string(),
                    message: "no `pull_request/number` in the payload".into(),
                })?;
            EventTarget {
                event: event.into(),
                base_sha: text("/pull_request/base/sha")?,
                head_sha: text("/pull_request/head/sha")?,
                pull_request: Some(number),
                refs: vec![
                    format!("refs/heads/{}", text("/pull_request/base/ref")?),
                    format!("refs/pull/{number}/head"),
                ],
                clone_url,
            }
        }
        "merge_group" => EventTarget {
            event: event.into(),
            base_sha: text("/merge_group/base_sha")?,
            head_sha: text("/merge_group/head_sha")?,
            pull_request: None,
            refs: vec![
                text("/merge_group/base_ref")?,
                text("/merge_group/head_ref")?,
            ],
            clone_url,
        },
        "push" => EventTarget {
            event: event.into(),
            base_sha: text("/before")?,
            head_sha: text("/after")?,
            pull_request: None,
            refs: vec![text("/ref")?],
            clone_url,
        },
        other => return Err(ActionError::UnsupportedEvent(other.to_string())),
    };
    Ok(target)
}

/// How the run ended, for the exit status and the step outputs.
#[derive(Debug)]
pub struct Outcome {
    pub errors: usize,
    pub warnings: usize,
    /// Whether the findings fail the step under `fail-on`.
    pub failed: bool,
    /// Where the JSON report was written.
    pub report: PathBuf,
    /// Where the review was written as one self-contained HTML page (action.yml uploads it as
    /// the `clobbercheck-review` artifact).
    pub html: PathBuf,
}

/// Runs the Action with the environment `env` (a lookup, so tests need no process
/// environment), writing the report in `inputs.format` and any workflow commands to `out`.
pub fn run(
    env: &dyn Fn(&str) -> Option<String>,
    inputs: &Inputs,
    out: &mut dyn std::io::Write,
) -> Result<Outcome, ActionError> {
    let var = |name: &'static str| {
        env(name)
            .filter(|v| !v.is_empty())
            .ok_or(ActionError::Missing(name))
    };
    let event_name = var("GITHUB_EVENT_NAME")?;
    let event_path = var("GITHUB_EVENT_PATH")?;
    let repo = var("GITHUB_REPOSITORY")?;
    let workspace = PathBuf::from(var("GITHUB_WORKSPACE")?);
    let api_url = env("GITHUB_API_URL")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "https://api.github.com".into());
    let server_url = env("GITHUB_SERVER_URL")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "https://github.com".into());
    let token = env("INPUT_TOKEN")
        .filter(|v| !v.is_empty())
        .or_else(|| env("GITHUB_TOKEN").filter(|v| !v.is_empty()))
        .map(Secret::new);
    let payload = std::fs::read(&event_path).map_err(|e| ActionError::Event {
        path: event_path.clone(),
        message: e.to_string(),
    })?;
    let payload: Value = serde_json::from_slice(&payload).map_err(|e| ActionError::Event {
        path: event_path.clone(),
        message: e.to_string(),
    })?;
    let mut target = read_event(&event_name, &payload, &event_path)?;
    if let Some(base) = &inputs.base {
        target.base_sha = base.clone();
    } else if target.base_sha.bytes().all(|b| b == b'0') {
        return Err(ActionError::NoBase(format!(
            "the `{event_name}` event creates its branch: there is no earlier commit to compare with; give the `base` input"
        )));
    }
    let clone_url = target
        .clone_url
        .clone()
        .unwrap_or_else(|| format!("{}/{repo}.git", server_url.trim_end_matches('/')));
    let temp = env("RUNNER_TEMP")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);

    let config = match &inputs.config {
        Some(path) => Some(load_config(&workspace.join(path))?),
        None => None,
    };
    let (base, head) = open_commits(
        &workspace,
        &temp,
        &repo,
        &clone_url,
        &server_url,
        &target,
        token.as_ref(),
    )?;
    let cache = ParseCache::default();
    let analysis = analyze_with(&base, &head, config, &cache, Options::default())?;
    let env_templates = markdown::environment(inputs.templates.as_deref())?;
    let mut publication = output::publication(&analysis, &target.head_sha, &env_templates)?;
    let report = &analysis.report;

    let html_path = temp.join("clobbercheck-review.html");
    let page = Format::Html.render(&analysis, &env_templates, false, &Shape::default())?;
    std::fs::write(&html_path, page).map_err(|e| io_error("review page", &html_path, e))?;
    if let Some(url) = artifact_url(env) {
        // The check run points at the page: the workflow run that holds it as an artifact.
        publication.check.summary = output::truncate(
            &format!(
                "[The whole review as one page]({url}) (artifact `{REVIEW_ARTIFACT}` of this workflow run)\n\n{}",
                publication.check.summary
            ),
            output::MAX_OUTPUT,
        );
    }

    let report_path = temp.join("clobbercheck-report.json");
    let written = std::fs::File::create(&report_path).and_then(|mut file| {
        json::write(report, &mut file)?;
        file.flush()
    });
    written.map_err(|e| io_error("report", &report_path, e))?;

    out.write_all(
        inputs
            .format
            .render(&analysis, &env_templates, false, &Shape::default())?
            .as_bytes(),
    )
    .map_err(|e| io_error("standard output", Path::new("-"), e))?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| io_error("async runtime", Path::new("-"), e))?;
    let published = match &token {
        Some(token) => {
            runtime.block_on(publish_with(&api_url, token, &repo, &target, &publication))
        }
        None => Err(PublishFailure::NoToken),
    };
    let mut summary = publication.comment.clone();
    if let Err(failure) = published {
        let line = failure.explain();
        // The one line saying why the findings are shown this way.
        writeln!(out, "::notice title=clobbercheck::{}", escape_data(&line))
            .map_err(|e| io_error("standard output", Path::new("-"), e))?;
        tracing::warn!("{line}");
        for command in workflow_commands(&publication) {
            writeln!(out, "{command}")
                .map_err(|e| io_error("standard output", Path::new("-"), e))?;
        }
        summary = format!("> {line}\n\n{summary}");
    }
    if let Some(path) = env("GITHUB_STEP_SUMMARY").filter(|v| !v.is_empty()) {
        append(Path::new(&path), "step summary", &format!("{summary}\n"))?;
    }
    let outcome = Outcome {
        errors: report.summary.errors,
        warnings: report.summary.warnings,
        failed: match inputs.fail_on {
            FailOn::Error => report.summary.errors > 0,
            FailOn::Warning => report.summary.errors + report.summary.warnings > 0,
            FailOn::Never => false,
        },
        report: report_path,
        html: html_path,
    };
    if let Some(path) = env("GITHUB_OUTPUT").filter(|v| !v.is_empty()) {
        append(
            Path::new(&path),
            "output file",
            &format!(
                "errors={}\nwarnings={}\nreport={}\nhtml={}\n",
                outcome.errors,
                outcome.warnings,
                outcome.report.display(),
                outcome.html.display()
            ),
        )?;
    }
    Ok(outcome)
}

/// The artifact action.yml uploads the review page as.
pub const REVIEW_ARTIFACT: &str = "clobbercheck-review";

/// The page of this workflow run, which lists its artifacts, when action.yml says it uploads the
/// review page (`CLOBBERCHECK_REVIEW_ARTIFACT`) and GitHub names the run; `None` otherwise, so a
/// bare `github-action` run never links to an artifact that does not exist.
fn artifact_url(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    var("CLOBBERCHECK_REVIEW_ARTIFACT").filter(|name| name == REVIEW_ARTIFACT)?;
    Some(format!(
        "{}/{}/actions/runs/{}",
        var("GITHUB_SERVER_URL")?.trim_end_matches('/'),
        var("GITHUB_REPOSITORY")?,
        var("GITHUB_RUN_ID")?
    ))
}

fn io_error(what: &'static str, path: &Path, e: std::io::Error) -> ActionError {
    ActionError::Io {
        what,
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn append(path: &Path, what: &'static str, text: &str) -> Result<(), ActionError> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| io_error(what, path, e))
}

fn load_config(path: &Path) -> Result<Config, ActionError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error("configuration", path, e))?;
    Ok(Config::parse(&text, &path.display().to_string()).map_err(AnalysisError::from)?)
}

/// Opens both commits in the workspace's repository when it has them (a full checkout), else
/// in a cache repository fetched with the token from the repository's own host.
fn open_commits(
    workspace: &Path,
    temp: &Path,
    repo: &str,
    clone_url: &str,
    server_url: &str,
    target: &EventTarget,
    token: Option<&Secret>,
) -> Result<(GitRevision, GitRevision), ActionError> {
    if let (Ok(base), Ok(head)) = (
        GitRevision::open(workspace, &target.base_sha),
        GitRevision::open(workspace, &target.head_sha),
    ) {
        return Ok((base, head));
    }
    let Some(token) = token else {
        // Without a token the workspace must have them; its error names the missing one.
        return Ok((
            GitRevision::open(workspace, &target.base_sha)?,
            GitRevision::open(workspace, &target.head_sha)?,
        ));
    };
    let origin = reqwest::Url::parse(server_url).map_err(|e| ActionError::ServerUrl {
        url: server_url.to_string(),
        message: e.to_string(),
    })?;
    tracing::info!(
        repo,
        "the checkout lacks the base or head commit; fetching them"
    );
    let cache = RepoCache::new(temp.join("clobbercheck-git"), CACHE_BYTES, origin);
    let cached = cache.checkout(&FetchRequest {
        repo,
        clone_url,
        token,
        commits: [&target.base_sha, &target.head_sha],
        refs: target.refs.clone(),
        fallback_refs: Vec::new(),
    })?;
    Ok((
        GitRevision::open(cached.path(), &target.base_sha)?,
        GitRevision::open(cached.path(), &target.head_sha)?,
    ))
}

/// Why the findings were not published on GitHub.
enum PublishFailure {
    NoToken,
    GitHub(GitHubError),
    Other(String),
}

impl PublishFailure {
    fn explain(&self) -> String {
        match self {
            PublishFailure::NoToken => {
                "no token (INPUT_TOKEN or GITHUB_TOKEN): findings are shown as workflow annotations and in the step summary".into()
            }
            PublishFailure::GitHub(e) if matches!(e.status(), Some(401 | 403 | 404)) => format!(
                "the token cannot write checks or pull request comments ({e}; a fork's pull_request gets a read-only token): findings are shown as workflow annotations and in the step summary"
            ),
            PublishFailure::GitHub(e) => format!(
                "could not publish on GitHub ({e}): findings are shown as workflow annotations and in the step summary"
            ),
            PublishFailure::Other(e) => format!(
                "could not publish on GitHub ({e}): findings are shown as workflow annotations and in the step summary"
            ),
        }
    }
}

/// Publishes with the App's code, acting with the workflow's token.
async fn publish_with(
    api_url: &str,
    token: &Secret,
    repo: &str,
    target: &EventTarget,
    publication: &Publication,
) -> Result<(), PublishFailure> {
    let github = GitHub::with_token(
        api_url,
        token.clone(),
        Arc::default(),
        RetryPolicy::default(),
    )
    .map_err(PublishFailure::GitHub)?;
    let installation = Arc::new(github).installation(0);
    let external_id = match target.pull_request {
        Some(number) => format!("pr-{number}"),
        None => format!("{}-{}", target.event, target.head_sha),
    };
    let target = Target {
        repo,
        head_sha: &target.head_sha,
        pull_request: target.pull_request,
    };
    let run = installation
        .create_check_run(repo, target.head_sha, &external_id)
        .await
        .map_err(PublishFailure::GitHub)?;
    // The Action runs once per workflow run: no earlier attempt to resume, so the ledger
    // remembers nothing; the workflow's own event is the pull request's current head.
    publish::publish(
        &installation,
        target,
        run,
        publication,
        &Forgetful,
        || async { Ok(true) },
    )
    .await
    .map_err(|e| match e {
        PublishError::GitHub(e) => PublishFailure::GitHub(e),
        // Forgetful records nothing, so it cannot fail; said plainly should that change.
        PublishError::Ledger(e) => PublishFailure::Other(e.to_string()),
    })?;
    Ok(())
}

/// The check run's annotations as workflow commands: the first [`ANNOTATIONS_PER_LEVEL`] of
/// each level, then one notice counting what GitHub would not show.
pub fn workflow_commands(publication: &Publication) -> Vec<String> {
    let mut shown = [0usize; 3];
    let mut left_out = 0;
    let mut commands = Vec::new();
    for a in &publication.check.annotations {
        let (slot, command) = match a.annotation_level {
            "failure" => (0, "error"),
            "warning" => (1, "warning"),
            _ => (2, "notice"),
        };
        if shown[slot] == ANNOTATIONS_PER_LEVEL {
            left_out += 1;
            continue;
        }
        shown[slot] += 1;
        commands.push(format!(
            "::{command} file={},line={},endLine={},title={}::{}",
            escape_property(&a.path),
            a.start_line,
            a.end_line,
            escape_property(&a.title),
            escape_data(&a.message)
        ));
    }
    if left_out > 0 {
        commands.push(format!(
            "::notice title=clobbercheck::{left_out} more finding(s) than GitHub shows per step; the step summary and the JSON report have all of them"
        ));
    }
    commands
}

/// Escapes a workflow command's message as the runner decodes it (actions/toolkit,
/// packages/core/src/command.ts `escapeData`).
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (`escapeProperty` in the same file).
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_request_base_and_head_come_from_the_event_not_the_merge_commit() {
        let payload = serde_json::json!({
            "number": 7,
            "pull_request": {"number": 7, "base": {"sha": "b".repeat(40), "ref": "main"},
                              "head": {"sha": "h".repeat(40), "ref": "feature"}},
            "repository": {"clone_url": "https://github.com/o/r.git"}
        });
        let target = read_event("pull_request", &payload, "event.json").unwrap();
        assert_eq!(target.base_sha, "b".repeat(40));
        assert_eq!(target.head_sha, "h".repeat(40));
        assert_eq!(target.pull_request, Some(7));
        assert_eq!(target.refs, ["refs/heads/main", "refs/pull/7/head"]);
    }

    #[test]
    fn merge_group_and_push_have_no_pull_request() {
        let mg = serde_json::json!({"merge_group": {"base_sha": "1", "head_sha": "2",
            "base_ref": "refs/heads/main", "head_ref": "refs/heads/gh-readonly-queue/main/pr-1"}});
        let t = read_event("merge_group", &mg, "e").unwrap();
        assert_eq!((t.base_sha.as_str(), t.pull_request), ("1", None));
        let push = serde_json::json!({"before": "3", "after": "4", "ref": "refs/heads/main"});
        let t = read_event("push", &push, "e").unwrap();
        assert_eq!((t.base_sha.as_str(), t.head_sha.as_str()), ("3", "4"));
        let err = read_event("issues", &push, "e").unwrap_err().to_string();
        assert!(err.contains("`issues` is not supported"), "{err}");
        let err = read_event("push", &serde_json::json!({}), "e.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("e.json") && err.contains("`before`"), "{err}");
    }

    #[test]
    fn workflow_command_values_are_escaped() {
        assert_eq!(escape_data("50%\nnext"), "50%25%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}
