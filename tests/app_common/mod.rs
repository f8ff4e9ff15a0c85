//! Test support for the GitHub App: a fake GitHub API that enforces the platform rules of
//! DESIGN.md §5, a real `git http-backend` behind token authentication, repositories built with
//! the git command line, payloads built from the project's webhook fixtures, and the real binary
//! as a server.
//!
//! Shared by `tests/app_*.rs` and the `app_bench` example.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use sha2::Sha256;

pub const APP_ID: u64 = 4242;
pub const INSTALLATION: u64 = 77;
pub const SECRET: &str = "webhook secret for tests";

/// The project root, to find `tests/fixtures/` and `examples/`.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An RSA key pair made by the openssl command line for this run.
pub struct KeyPair {
    pub private_pem: String,
    pub public_pem: String,
}

pub fn keypair() -> KeyPair {
    let private = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl genpkey");
    assert!(private.status.success());
    let mut child = Command::new("openssl")
        .args(["pkey", "-pubout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl pkey");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&private.stdout)
        .unwrap();
    let public = child.wait_with_output().unwrap();
    KeyPair {
        private_pem: String::from_utf8(private.stdout).unwrap(),
        public_pem: String::from_utf8(public.stdout).unwrap(),
    }
}

/// A canned answer the fake gives instead of (or after) acting on a request.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: &'static str,
    /// Matches when the path ends with this.
    pub path_suffix: String,
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub message: String,
    /// Act on the request, then answer with the fault (a lost answer).
    pub apply_first: bool,
    /// Wait this long, then act normally (no fault answer).
    pub delay: Option<Duration>,
    /// Never answer (with `apply_first`: act, then never answer, as a connection lost after
    /// GitHub did the work).
    pub hang: bool,
    pub times: usize,
    /// Let this many matching requests through first.
    pub after: usize,
}

impl Fault {
    pub fn status(method: &'static str, path_suffix: &str, status: u16) -> Self {
        Self {
            method,
            path_suffix: path_suffix.to_string(),
            status,
            headers: Vec::new(),
            message: "fault".into(),
            apply_first: false,
            delay: None,
            hang: false,
            times: 1,
            after: 0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct CheckRun {
    pub id: u64,
    pub repo: String,
    pub name: String,
    pub head_sha: String,
    pub external_id: Option<String>,
    pub status: String,
    pub conclusion: Option<String>,
    pub title: String,
    pub summary: String,
    pub text: String,
    pub annotations: Vec<Value>,
    pub actions: Vec<Value>,
    pub created_at: Instant,
    pub completed_at: Option<Instant>,
}

impl CheckRun {
    fn json(&self) -> Value {
        json!({
            "id": self.id, "name": self.name, "head_sha": self.head_sha,
            "external_id": self.external_id, "status": self.status, "conclusion": self.conclusion,
            "output": {"title": self.title, "summary": self.summary, "text": self.text,
                       "annotations_count": self.annotations.len()},
            "app": {"id": APP_ID},
        })
    }
}

/// A pull request of the fake: what GitHub says it is now, whatever deliveries said.
#[derive(Clone, Debug)]
pub struct FakePr {
    pub base_sha: String,
    pub base_ref: String,
    pub head_sha: String,
    pub head_ref: String,
    /// `full_name` of the head's repository (another one for a fork).
    pub head_repo: String,
    /// `open` or `closed`.
    pub state: String,
}

#[derive(Clone, Debug)]
pub struct Review {
    pub id: u64,
    pub repo: String,
    pub number: u64,
    pub commit_id: String,
    pub body: String,
    pub comments: Vec<Value>,
}

#[derive(Clone, Debug)]
pub struct Comment {
    pub id: u64,
    pub repo: String,
    pub number: u64,
    pub body: String,
}

#[derive(Clone, Debug)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub at: Instant,
}

#[derive(Default)]
pub struct Inner {
    pub tokens: HashSet<String>,
    /// Apps registered through the manifest page: (organization, manifest).
    pub registrations: Vec<(Option<String>, Value)>,
    /// Tokens that may read but not write, as a fork's `pull_request` workflow token.
    pub read_only: HashSet<String>,
    pub check_runs: Vec<CheckRun>,
    pub reviews: Vec<Review>,
    pub comments: Vec<Comment>,
    pub comment_edits: usize,
    pub permissions: HashMap<String, String>,
    pub faults: Vec<Fault>,
    pub log: Vec<Logged>,
    /// (repo, number) → the pull request as `GET /pulls/{n}` shows it; its base sha computes
    /// the PR diff for review comments.
    pub prs: HashMap<(String, u64), FakePr>,
    /// Every 4xx the fake gave for a rule violation, with why.
    pub violations: Vec<String>,
    /// Random faults drawn for calls no scripted fault matches (a soak).
    pub chaos: Option<Chaos>,
    /// Check run id → PATCHes carrying a conclusion that the fake applied.
    pub completions: HashMap<u64, usize>,
    next_id: u64,
    token_count: u64,
}

pub struct FakeState {
    pub decoding: DecodingKey,
    pub git_root: PathBuf,
    pub manifest_pem: String,
    pub inner: Mutex<Inner>,
}

/// The fake GitHub, serving on loopback from the test's runtime.
pub struct Fake {
    pub url: String,
    pub state: Arc<FakeState>,
}

impl Fake {
    pub async fn start(keys: &KeyPair, git_root: &Path) -> Fake {
        let state = Arc::new(FakeState {
            decoding: DecodingKey::from_rsa_pem(keys.public_pem.as_bytes()).unwrap(),
            git_root: git_root.to_path_buf(),
            manifest_pem: keys.private_pem.clone(),
            inner: Mutex::new(Inner::default()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Fake { url, state }
    }

    pub fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.inner.lock().unwrap()
    }

    pub fn fault(&self, fault: Fault) {
        self.inner().faults.push(fault);
    }

    /// Makes pull request `number` open with this base and head (pushing to it moves the head).
    pub fn register_pr(&self, repo: &str, number: u64, base_sha: &str, head_sha: &str) {
        self.inner().prs.insert(
            (repo.to_string(), number),
            FakePr {
                base_sha: base_sha.to_string(),
                base_ref: "main".into(),
                head_sha: head_sha.to_string(),
                head_ref: "feature".into(),
                head_repo: repo.to_string(),
                state: "open".into(),
            },
        );
    }

    /// Changes what GitHub says pull request `number` is now.
    pub fn update_pr(&self, repo: &str, number: u64, f: impl FnOnce(&mut FakePr)) {
        f(self
            .inner()
            .prs
            .get_mut(&(repo.to_string(), number))
            .expect("a registered pull request"));
    }

    /// The newest check run on `head_sha`, once it and every other run on it completed: the one
    /// branch protection reads.
    pub async fn newest_completed(&self, head_sha: &str) -> CheckRun {
        self.wait_for(&format!("every check run on {head_sha} completed"), |i| {
            let mut runs = i.check_runs.iter().filter(|c| c.head_sha == head_sha);
            runs.clone().count() > 0 && runs.all(|c| c.status == "completed")
        })
        .await;
        self.check_runs_for(head_sha).pop().unwrap()
    }

    pub fn clone_url(&self, repo: &str) -> String {
        format!("{}/git/{repo}.git", self.url)
    }

    pub fn count(&self, method: &str, path_suffix: &str) -> usize {
        self.inner()
            .log
            .iter()
            .filter(|l| l.method == method && l.path.ends_with(path_suffix))
            .count()
    }

    /// Waits until `f` holds of the fake's state.
    pub async fn wait_for(&self, what: &str, f: impl Fn(&Inner) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if f(&self.inner()) {
                return;
            }
            if Instant::now() > deadline {
                let inner = self.inner();
                panic!(
                    "timed out waiting for {what}; log: {:#?}; violations: {:?}",
                    inner
                        .log
                        .iter()
                        .map(|l| format!("{} {} {}", l.method, l.path, l.status))
                        .collect::<Vec<_>>(),
                    inner.violations
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn check_runs_for(&self, head_sha: &str) -> Vec<CheckRun> {
        self.inner()
            .check_runs
            .iter()
            .filter(|c| c.head_sha == head_sha)
            .cloned()
            .collect()
    }

    /// Waits for the completed check run of `head_sha` and returns it.
    pub async fn completed(&self, head_sha: &str) -> CheckRun {
        self.wait_for(&format!("completed check run on {head_sha}"), |i| {
            i.check_runs
                .iter()
                .any(|c| c.head_sha == head_sha && c.status == "completed")
        })
        .await;
        self.check_runs_for(head_sha)
            .into_iter()
            .find(|c| c.status == "completed")
            .unwrap()
    }
}

fn reply(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn violation(inner: &mut Inner, status: u16, why: String) -> Response {
    inner.violations.push(why.clone());
    reply(status, json!({"message": why}))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn handle(
    State(state): State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let fault = {
        let mut inner = state.inner.lock().unwrap();
        let found = inner.faults.iter().position(|f| {
            f.times > 0 && f.method == method.as_str() && path.ends_with(&f.path_suffix)
        });
        let found = found.filter(|&i| {
            let fault = &mut inner.faults[i];
            let passes = fault.after > 0;
            fault.after = fault.after.saturating_sub(1);
            !passes
        });
        found
            .map(|i| {
                inner.faults[i].times -= 1;
                inner.faults[i].clone()
            })
            .or_else(|| inner.chaos.as_mut().and_then(|c| c.draw(&path)))
    };
    if let Some(fault) = &fault {
        if fault.hang && !fault.apply_first {
            log(&state, &method, &path, 0);
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if let Some(delay) = fault.delay {
            tokio::time::sleep(delay).await;
        }
    }
    let response = {
        let act = !matches!(&fault, Some(f) if f.delay.is_none() && !f.apply_first);
        let acted = if !act {
            reply(500, json!({}))
        } else if path.starts_with("/git/") {
            git(&state, &method, &uri, &headers, body).await
        } else {
            api(
                &state,
                &method,
                &path,
                uri.query().unwrap_or(""),
                &headers,
                &body,
            )
        };
        if let Some(f) = &fault
            && f.hang
        {
            log(&state, &method, &path, 0);
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        match &fault {
            Some(f) if f.delay.is_none() => {
                let mut response = reply(f.status, json!({"message": f.message}));
                for (k, v) in &f.headers {
                    response.headers_mut().insert(*k, v.parse().unwrap());
                }
                response
            }
            _ => acted,
        }
    };
    log(&state, &method, &path, response.status().as_u16());
    response
}

fn log(state: &FakeState, method: &Method, path: &str, status: u16) {
    state.inner.lock().unwrap().log.push(Logged {
        method: method.to_string(),
        path: path.to_string(),
        status,
        at: Instant::now(),
    });
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or(value.strip_prefix("token "))
        .map(String::from)
}

#[derive(serde::Deserialize)]
struct Claims {
    iat: u64,
    exp: u64,
}

fn api(
    state: &FakeState,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let mut inner = state.inner.lock().unwrap();
    let inner = &mut *inner;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let Some(response) = register_app(inner, method, &segments, query, body) {
        return response;
    }
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let ["app-manifests", _code, "conversions"] = segments.as_slice() {
        return reply(
            201,
            json!({"id": APP_ID, "slug": "clobbercheck-test", "pem": state.manifest_pem,
            "webhook_secret": SECRET, "html_url": "https://github.invalid/apps/clobbercheck-test"}),
        );
    }
    if let ["app", "installations", id, "access_tokens"] = segments.as_slice() {
        let Some(jwt) = bearer(headers) else {
            return violation(inner, 401, "access_tokens without a JWT".into());
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[APP_ID.to_string()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        let claims = match jsonwebtoken::decode::<Claims>(&jwt, &state.decoding, &validation) {
            Ok(data) => data.claims,
            Err(e) => return violation(inner, 401, format!("bad JWT: {e}")),
        };
        let now = now();
        if claims.iat > now + 1
            || claims.exp > now + 600
            || claims.exp <= now
            || claims.exp - claims.iat > 600
        {
            return violation(
                inner,
                401,
                format!("JWT times iat={} exp={} now={now}", claims.iat, claims.exp),
            );
        }
        if *id != INSTALLATION.to_string() {
            return violation(inner, 404, format!("no installation {id}"));
        }
        inner.token_count += 1;
        let token = format!("ghs_test{}x{}", inner.token_count, now);
        inner.tokens.insert(token.clone());
        return reply(
            201,
            json!({"token": token, "expires_at": "2099-01-01T00:00:00Z"}),
        );
    }
    if segments.first() != Some(&"repos") || segments.len() < 4 {
        return reply(404, json!({"message": "Not Found"}));
    }
    match bearer(headers) {
        Some(token) if inner.read_only.contains(&token) && method != Method::GET => {
            return reply(
                403,
                json!({"message": "Resource not accessible by integration"}),
            );
        }
        Some(token) if inner.tokens.contains(&token) => {}
        _ => {
            return violation(
                inner,
                401,
                format!("{method} {path} without an installation token"),
            );
        }
    }
    let repo = format!("{}/{}", segments[1], segments[2]);
    let rest = &segments[3..];
    let page = |items: Vec<Value>| -> Response {
        let params: HashMap<&str, usize> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
            .collect();
        let per_page = params.get("per_page").copied().unwrap_or(30).clamp(1, 100);
        let page = params.get("page").copied().unwrap_or(1).max(1);
        let chunk: Vec<Value> = items
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .cloned()
            .collect();
        let mut response = reply(200, Value::Array(chunk));
        if page * per_page < items.len() {
            // Absolute link on another host name, as GitHub Enterprise gives: clients must
            // follow it by path.
            let link = format!(
                "<http://github-enterprise.invalid{path}?per_page={per_page}&page={}>; rel=\"next\"",
                page + 1
            );
            response.headers_mut().insert("link", link.parse().unwrap());
        }
        response
    };
    match (method.as_str(), rest) {
        ("GET", ["commits", sha, "check-runs"]) => {
            let runs: Vec<Value> = inner
                .check_runs
                .iter()
                .filter(|c| c.repo == repo && c.head_sha == *sha)
                .filter(|c| {
                    !query.contains("check_name=")
                        || query.contains(&format!("check_name={}", c.name))
                })
                .map(CheckRun::json)
                .collect();
            reply(200, json!({"total_count": runs.len(), "check_runs": runs}))
        }
        ("POST", ["check-runs"]) => {
            let (Some(name), Some(head_sha)) = (body["name"].as_str(), body["head_sha"].as_str())
            else {
                return violation(inner, 422, "check run without name or head_sha".into());
            };
            if let Err(why) = check_output(&body) {
                return violation(inner, 422, why);
            }
            inner.next_id += 1;
            let mut run = CheckRun {
                id: inner.next_id,
                repo: repo.clone(),
                name: name.into(),
                head_sha: head_sha.into(),
                external_id: body["external_id"].as_str().map(String::from),
                status: "queued".into(),
                conclusion: None,
                title: String::new(),
                summary: String::new(),
                text: String::new(),
                annotations: Vec::new(),
                actions: Vec::new(),
                created_at: Instant::now(),
                completed_at: None,
            };
            apply_check(&mut run, &body);
            let json = run.json();
            inner.check_runs.push(run);
            reply(201, json)
        }
        ("GET", ["check-runs", id]) => {
            match inner.check_runs.iter().find(|c| c.id.to_string() == *id) {
                Some(run) => reply(200, run.json()),
                None => reply(404, json!({"message": "Not Found"})),
            }
        }
        ("PATCH", ["check-runs", id]) => {
            if let Err(why) = check_output(&body) {
                return violation(inner, 422, why);
            }
            match inner
                .check_runs
                .iter_mut()
                .find(|c| c.id.to_string() == *id)
            {
                Some(run)
                    if run.status == "completed"
                        && matches!(body["status"].as_str(), Some("queued" | "in_progress")) =>
                {
                    let why = format!(
                        "check run {} is completed: it cannot be moved back to {}",
                        run.id, body["status"]
                    );
                    violation(inner, 422, why)
                }
                Some(run) => {
                    apply_check(run, &body);
                    if body.get("conclusion").is_some() {
                        *inner.completions.entry(run.id).or_default() += 1;
                    }
                    reply(200, run.json())
                }
                None => reply(404, json!({"message": "Not Found"})),
            }
        }
        ("GET", ["pulls", n]) => match inner.prs.get(&(repo.clone(), n.parse().unwrap_or(0))) {
            Some(pr) => reply(
                200,
                json!({"number": n.parse::<u64>().unwrap_or(0), "state": pr.state,
                       "head": {"sha": pr.head_sha, "ref": pr.head_ref,
                                "repo": {"full_name": pr.head_repo}},
                       "base": {"sha": pr.base_sha, "ref": pr.base_ref,
                                "repo": {"full_name": repo}}}),
            ),
            None => reply(404, json!({"message": "Not Found"})),
        },
        ("GET", ["pulls", n, "reviews"]) => {
            let items = inner
                .reviews
                .iter()
                .filter(|r| r.repo == repo && r.number.to_string() == *n)
                .map(|r| json!({"id": r.id, "body": r.body, "commit_id": r.commit_id}))
                .collect();
            page(items)
        }
        ("POST", ["pulls", n, "reviews"]) => {
            let number: u64 = n.parse().unwrap();
            let text = body["body"].as_str().unwrap_or("");
            if text.chars().count() > 65_536 {
                return violation(inner, 422, "review body over 65536".into());
            }
            let Some(commit_id) = body["commit_id"].as_str() else {
                return violation(inner, 422, "review without commit_id".into());
            };
            let Some(base) = inner
                .prs
                .get(&(repo.clone(), number))
                .map(|pr| pr.base_sha.clone())
            else {
                return violation(inner, 422, format!("no PR {repo}#{number} registered"));
            };
            let hunks = diff_hunks(
                &state.git_root.join(format!("{repo}.git")),
                &base,
                commit_id,
            );
            let comments = body["comments"].as_array().cloned().unwrap_or_default();
            if comments.len() > MAX_REVIEW_COMMENTS {
                return violation(
                    inner,
                    422,
                    format!(
                        "{} comments in one review (max {MAX_REVIEW_COMMENTS})",
                        comments.len()
                    ),
                );
            }
            for c in &comments {
                let (Some(p), Some(line)) = (c["path"].as_str(), c["line"].as_u64()) else {
                    return violation(inner, 422, format!("review comment without path/line: {c}"));
                };
                if c["side"] != "RIGHT"
                    || c["body"]
                        .as_str()
                        .is_none_or(|b| b.chars().count() > 65_536)
                {
                    return violation(inner, 422, format!("bad review comment {c}"));
                }
                let inside = hunks
                    .get(p)
                    .is_some_and(|ranges| ranges.iter().any(|(a, b)| (*a..=*b).contains(&line)));
                if !inside {
                    return violation(
                        inner,
                        422,
                        format!(
                            "Unprocessable Entity: pull_request_review_thread.line {p}:{line} must be part of the diff"
                        ),
                    );
                }
            }
            if body["event"] != "COMMENT" {
                return violation(inner, 422, "review event must be COMMENT".into());
            }
            inner.next_id += 1;
            let review = Review {
                id: inner.next_id,
                repo: repo.clone(),
                number,
                commit_id: commit_id.into(),
                body: text.into(),
                comments,
            };
            inner.reviews.push(review.clone());
            reply(200, json!({"id": review.id, "body": review.body}))
        }
        ("GET", ["issues", n, "comments"]) => {
            let items = inner
                .comments
                .iter()
                .filter(|c| c.repo == repo && c.number.to_string() == *n)
                .map(|c| json!({"id": c.id, "body": c.body}))
                .collect();
            page(items)
        }
        ("POST", ["issues", n, "comments"]) => {
            let text = body["body"].as_str().unwrap_or("").to_string();
            if text.chars().count() > 65_536 {
                return violation(inner, 422, "comment body over 65536".into());
            }
            inner.next_id += 1;
            let comment = Comment {
                id: inner.next_id,
                repo: repo.clone(),
                number: n.parse().unwrap(),
                body: text,
            };
            inner.comments.push(comment.clone());
            reply(201, json!({"id": comment.id, "body": comment.body}))
        }
        ("PATCH", ["issues", "comments", id]) => {
            let text = body["body"].as_str().unwrap_or("").to_string();
            if text.chars().count() > 65_536 {
                return violation(inner, 422, "comment body over 65536".into());
            }
            inner.comment_edits += 1;
            match inner.comments.iter_mut().find(|c| c.id.to_string() == *id) {
                Some(c) => {
                    c.body = text;
                    reply(200, json!({"id": c.id, "body": c.body}))
                }
                None => reply(404, json!({"message": "Not Found"})),
            }
        }
        ("GET", ["collaborators", login, "permission"]) => match inner.permissions.get(*login) {
            Some(p) => reply(
                200,
                json!({"permission": p, "role_name": p, "user": {"login": login}}),
            ),
            None => reply(404, json!({"message": "Not Found"})),
        },
        _ => reply(
            404,
            json!({"message": format!("fake has no {method} {path}")}),
        ),
    }
}

/// GitHub's web page that registers an App from a manifest (a browser posts the form to
/// `/settings/apps/new` or `/organizations/{org}/settings/apps/new`): records the owner and
/// manifest, and sends the browser to the manifest's `redirect_url` with a code and the state.
fn register_app(
    inner: &mut Inner,
    method: &Method,
    segments: &[&str],
    query: &str,
    body: &[u8],
) -> Option<Response> {
    let owner = match segments {
        ["settings", "apps", "new"] => None,
        ["organizations", org, "settings", "apps", "new"] => Some(org.to_string()),
        _ => return None,
    };
    if method != Method::POST {
        return Some(reply(405, json!({"message": "post the manifest form"})));
    }
    let form =
        reqwest::Url::parse(&format!("http://form/?{}", String::from_utf8_lossy(body))).unwrap();
    let manifest: Option<Value> = form
        .query_pairs()
        .find(|(k, _)| k == "manifest")
        .and_then(|(_, v)| serde_json::from_str(&v).ok());
    let Some(manifest) = manifest else {
        return Some(violation(inner, 422, "no manifest in the form".into()));
    };
    let state = reqwest::Url::parse(&format!("http://q/?{query}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let redirect = format!(
        "{}?code=abc123&state={state}",
        manifest["redirect_url"].as_str().unwrap_or_default()
    );
    inner.registrations.push((owner, manifest));
    let mut response = StatusCode::FOUND.into_response();
    response
        .headers_mut()
        .insert("location", redirect.parse().unwrap());
    Some(response)
}
/// Inline comments one review may carry: above it the fake answers 422, as a review too large
/// for GitHub to take.
pub const MAX_REVIEW_COMMENTS: usize = 50;

/// DESIGN.md §5 limits on a check run's output and actions.
fn check_output(body: &Value) -> Result<(), String> {
    if let Some(output) = body.get("output") {
        for field in ["title", "summary", "text"] {
            if output[field]
                .as_str()
                .is_some_and(|s| s.chars().count() > 65_535)
            {
                return Err(format!("output.{field} over 65535 characters"));
            }
        }
        if output.get("title").is_none() || output.get("summary").is_none() {
            return Err("output needs title and summary".into());
        }
        if let Some(annotations) = output["annotations"].as_array() {
            if annotations.len() > 50 {
                return Err(format!(
                    "{} annotations in one request (max 50)",
                    annotations.len()
                ));
            }
            for a in annotations {
                let level = a["annotation_level"].as_str().unwrap_or("");
                if a["path"].as_str().is_none()
                    || a["start_line"].as_u64().is_none()
                    || a["end_line"].as_u64().is_none()
                    || a["message"].as_str().is_none()
                    || !["notice", "warning", "failure"].contains(&level)
                {
                    return Err(format!("bad annotation {a}"));
                }
            }
        }
    }
    if let Some(actions) = body.get("actions").and_then(Value::as_array) {
        if actions.len() > 3 {
            return Err("more than 3 actions".into());
        }
        for a in actions {
            let len = |k: &str| a[k].as_str().map_or(usize::MAX, |s| s.chars().count());
            if len("label") > 20 || len("description") > 40 || len("identifier") > 20 {
                return Err(format!("action fields too long: {a}"));
            }
        }
    }
    Ok(())
}

fn apply_check(run: &mut CheckRun, body: &Value) {
    if let Some(s) = body["status"].as_str() {
        run.status = s.into();
    }
    if let Some(c) = body["conclusion"].as_str() {
        run.conclusion = Some(c.into());
        run.status = "completed".into();
        run.completed_at.get_or_insert_with(Instant::now);
    }
    if let Some(output) = body.get("output") {
        run.title = output["title"].as_str().unwrap_or("").into();
        run.summary = output["summary"].as_str().unwrap_or("").into();
        if let Some(text) = output["text"].as_str() {
            run.text = text.into();
        }
        if let Some(a) = output["annotations"].as_array() {
            run.annotations.extend(a.iter().cloned());
        }
    }
    if let Some(actions) = body["actions"].as_array() {
        run.actions = actions.clone();
    }
}

/// New-side line ranges of `git diff -U3 base head`, per path: what GitHub shows.
pub fn diff_hunks(git_dir: &Path, base: &str, head: &str) -> HashMap<String, Vec<(u64, u64)>> {
    let out = Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["diff", "-U3", "--no-renames", base, head])
        .output()
        .unwrap();
    let mut hunks: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
    let mut current = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(p) = line.strip_prefix("+++ ") {
            current = p.strip_prefix("b/").map(String::from);
        } else if let Some(rest) = line.strip_prefix("@@ ") {
            let new = rest.split(' ').nth(1).unwrap().trim_start_matches('+');
            let (start, count) = match new.split_once(',') {
                Some((s, c)) => (s.parse::<u64>().unwrap(), c.parse::<u64>().unwrap()),
                None => (new.parse().unwrap(), 1),
            };
            if let (Some(path), true) = (&current, count > 0) {
                hunks
                    .entry(path.clone())
                    .or_default()
                    .push((start, start + count - 1));
            }
        }
    }
    hunks
}

/// Serves git smart HTTP through `git http-backend`, requiring an installation token.
async fn git(
    state: &FakeState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("x-access-token:").map(String::from))
        .is_some_and(|token| state.inner.lock().unwrap().tokens.contains(&token));
    if !authorized {
        let mut response = (StatusCode::UNAUTHORIZED, "token required").into_response();
        response
            .headers_mut()
            .insert("www-authenticate", "Basic realm=\"git\"".parse().unwrap());
        return response;
    }
    let exec_path = String::from_utf8(
        Command::new("git")
            .arg("--exec-path")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let mut command = Command::new(Path::new(exec_path.trim()).join("git-http-backend"));
    command
        .env_clear()
        .env("GIT_PROJECT_ROOT", &state.git_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", uri.path().trim_start_matches("/git"))
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("REQUEST_METHOD", method.as_str())
        .env("REMOTE_USER", "x-access-token")
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (header, var) in [
        ("content-type", "CONTENT_TYPE"),
        ("git-protocol", "GIT_PROTOCOL"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
    ] {
        if let Some(v) = headers.get(header).and_then(|v| v.to_str().ok()) {
            command.env(var, v);
        }
    }
    let output = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&body);
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        output.stdout
    })
    .await
    .unwrap();
    let split = output
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| output.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, sep)) = split else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "bad cgi output").into_response();
    };
    let head = String::from_utf8_lossy(&output[..end]).to_string();
    let mut status = StatusCode::OK;
    let mut response_headers = Vec::new();
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if k.eq_ignore_ascii_case("status") {
            status = StatusCode::from_u16(v.trim()[..3].parse().unwrap()).unwrap();
        } else {
            response_headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut response = (status, output[end + sep..].to_vec()).into_response();
    for (k, v) in response_headers {
        response.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    response
}

/// A git repository built with the command line, mirrored to the fake's git root.
pub struct Repo {
    pub name: String,
    pub work: PathBuf,
    pub bare: PathBuf,
}

pub fn git_cmd(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

impl Repo {
    pub fn new(tmp: &Path, git_root: &Path, name: &str) -> Repo {
        let work = tmp.join("work").join(name);
        std::fs::create_dir_all(&work).unwrap();
        git_cmd(&work, &["init", "-q", "-b", "main"]);
        let bare = git_root.join(format!("{name}.git"));
        std::fs::create_dir_all(bare.parent().unwrap()).unwrap();
        git_cmd(git_root, &["init", "-q", "--bare", bare.to_str().unwrap()]);
        Repo {
            name: name.into(),
            work,
            bare,
        }
    }

    /// Replaces the working tree by `files` on `branch` (created from `from`), commits, pushes.
    pub fn commit(&self, from: Option<&str>, branch: &str, files: &[(String, String)]) -> String {
        match from {
            Some(from) => git_cmd(&self.work, &["checkout", "-q", "-B", branch, from]),
            None => git_cmd(&self.work, &["checkout", "-q", "--orphan", branch]),
        };
        git_cmd(&self.work, &["rm", "-rq", "--ignore-unmatch", "."]);
        for (path, content) in files {
            let full = self.work.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, content).unwrap();
        }
        git_cmd(&self.work, &["add", "-A"]);
        git_cmd(&self.work, &["commit", "-q", "--allow-empty", "-m", branch]);
        let sha = git_cmd(&self.work, &["rev-parse", "HEAD"]);
        git_cmd(
            &self.work,
            &[
                "push",
                "-q",
                "-f",
                self.bare.to_str().unwrap(),
                &format!("{branch}:refs/heads/{branch}"),
            ],
        );
        sha
    }

    /// Makes `sha` reachable only as `refs/pull/<n>/head`, as a fork's head is.
    pub fn pull_ref(&self, number: u64, sha: &str) {
        git_cmd(
            &self.work,
            &[
                "push",
                "-q",
                "-f",
                self.bare.to_str().unwrap(),
                &format!("{sha}:refs/pull/{number}/head"),
            ],
        );
    }

    pub fn delete_branch(&self, branch: &str) {
        git_cmd(
            &self.bare,
            &["update-ref", "-d", &format!("refs/heads/{branch}")],
        );
    }
}

/// Every file under `dir`, as (relative path, content).
pub fn files_of(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e
                    .path()
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read_to_string(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A webhook payload from the project's own fixtures (`tests/fixtures/github-webhooks/`, built
/// from GitHub's documented schema; `src/server/webhook.rs` also runs GitHub's real examples
/// where the shared corpus is present).
pub fn webhook_payload(name: &str) -> Value {
    let path = root().join("tests/fixtures/github-webhooks").join(name);
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// What a pull_request delivery is about.
pub struct PrSpec<'a> {
    pub repo: &'a str,
    pub clone_url: String,
    pub number: u64,
    pub base_sha: &'a str,
    pub base_ref: &'a str,
    pub head_sha: &'a str,
    pub head_ref: &'a str,
    /// `full_name` of the head repository when it is a fork.
    pub fork: Option<&'a str>,
}

/// A pull_request payload built from the fixture of `action`.
pub fn pr_payload(action: &str, spec: &PrSpec<'_>) -> Value {
    let file = match action {
        "ready_for_review" => {
            "pull_request.ready_for_review.with-installation.payload.json".to_string()
        }
        other => format!("pull_request.{other}.payload.json"),
    };
    let mut p = webhook_payload(&file);
    p["action"] = json!(action);
    p["number"] = json!(spec.number);
    p["pull_request"]["number"] = json!(spec.number);
    p["pull_request"]["base"]["sha"] = json!(spec.base_sha);
    p["pull_request"]["base"]["ref"] = json!(spec.base_ref);
    p["pull_request"]["base"]["repo"]["full_name"] = json!(spec.repo);
    p["pull_request"]["head"]["sha"] = json!(spec.head_sha);
    p["pull_request"]["head"]["ref"] = json!(spec.head_ref);
    p["pull_request"]["head"]["repo"]["full_name"] = json!(spec.fork.unwrap_or(spec.repo));
    p["repository"]["full_name"] = json!(spec.repo);
    p["repository"]["clone_url"] = json!(spec.clone_url);
    p["installation"] = json!({"id": INSTALLATION});
    p
}

/// A check_run.requested_action payload for the Acknowledge button.
pub fn acknowledge_payload(repo: &str, clone_url: &str, run: &CheckRun, login: &str) -> Value {
    let mut p = webhook_payload("check_run.requested_action.payload.json");
    p["check_run"]["id"] = json!(run.id);
    p["check_run"]["name"] = json!(run.name);
    p["check_run"]["head_sha"] = json!(run.head_sha);
    p["requested_action"] = json!({"identifier": "acknowledge"});
    p["sender"]["login"] = json!(login);
    p["repository"]["full_name"] = json!(repo);
    p["repository"]["clone_url"] = json!(clone_url);
    p["installation"] = json!({"id": INSTALLATION});
    p
}

pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The real binary running `serve`.
pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub data_dir: PathBuf,
    env: Vec<(String, String)>,
    pub client: reqwest::Client,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts `clobbercheck serve` against `fake` with the App configured from `keys`.
    pub async fn start(
        fake: &Fake,
        keys: &KeyPair,
        data_dir: &Path,
        extra: &[(&str, &str)],
    ) -> Server {
        let mut env: Vec<(String, String)> = vec![
            ("CLOBBERCHECK_APP_ID".into(), APP_ID.to_string()),
            ("CLOBBERCHECK_PRIVATE_KEY".into(), keys.private_pem.clone()),
            ("CLOBBERCHECK_WEBHOOK_SECRET".into(), SECRET.into()),
        ];
        env.extend(Self::base_env(fake));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Self::start_with(data_dir, env).await
    }

    /// The environment every test server gets, without App credentials.
    pub fn base_env(fake: &Fake) -> Vec<(String, String)> {
        vec![
            ("CLOBBERCHECK_GITHUB_API_URL".into(), fake.url.clone()),
            ("CLOBBERCHECK_API_RETRY_MS".into(), "100".into()),
            ("CLOBBERCHECK_RETRY_MS".into(), "200".into()),
            ("CLOBBERCHECK_LOG".into(), "clobbercheck=debug".into()),
        ]
    }

    pub async fn start_with(data_dir: &Path, env: Vec<(String, String)>) -> Server {
        let mut server = Server {
            child: None,
            url: String::new(),
            data_dir: data_dir.to_path_buf(),
            env,
            client: reqwest::Client::new(),
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        let port = free_port();
        self.url = format!("http://127.0.0.1:{port}");
        std::fs::create_dir_all(&self.data_dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.join("server.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_clobbercheck"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CLOBBERCHECK_LISTEN", format!("127.0.0.1:{port}"))
            .env("CLOBBERCHECK_DATA_DIR", &self.data_dir)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self
                .client
                .get(format!("{}/healthz", self.url))
                .send()
                .await
                && r.status().is_success()
            {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("server exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "server did not start: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    pub async fn restart(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        self.spawn().await;
    }

    /// Sends a delivery signed with `secret`; returns the status and body.
    pub async fn deliver_signed(
        &self,
        event: &str,
        delivery: &str,
        body: Vec<u8>,
        signature: &str,
    ) -> (u16, String) {
        let response = self
            .client
            .post(format!("{}/webhook", self.url))
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", delivery)
            .header("X-Hub-Signature-256", signature)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    pub async fn deliver(&self, event: &str, delivery: &str, payload: &Value) -> (u16, String) {
        let body = serde_json::to_vec(payload).unwrap();
        let signature = sign(SECRET, &body);
        self.deliver_signed(event, delivery, body, &signature).await
    }

    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A small seeded generator (splitmix64): a soak prints its seed, so its fault rates and
/// schedule can be replayed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Random faults of the fake GitHub API (git paths are left to a [`Cutter`]): each call no
/// scripted [`Fault`] matches draws one, as a GitHub having a bad day answers.
#[derive(Debug)]
pub struct Chaos {
    rng: Rng,
    /// Share of calls answered 500, 502 or 503; half of them after acting (a lost answer).
    pub server_errors: f64,
    /// Share of calls answered 429, and again the share answered 403 "secondary rate limit",
    /// both with `retry-after: 1`.
    pub rate_limits: f64,
    /// How many of each kind were injected.
    pub injected: std::collections::BTreeMap<&'static str, usize>,
}

impl Chaos {
    pub fn new(seed: u64, server_errors: f64, rate_limits: f64) -> Chaos {
        Chaos {
            rng: Rng::new(seed),
            server_errors,
            rate_limits,
            injected: Default::default(),
        }
    }

    fn draw(&mut self, path: &str) -> Option<Fault> {
        if path.starts_with("/git/") {
            return None;
        }
        let roll = self.rng.unit();
        let (kind, fault) = if roll < self.server_errors {
            let status = [500, 502, 503][self.rng.below(3) as usize];
            let mut fault = Fault::status("", path, status);
            fault.apply_first = self.rng.unit() < 0.5;
            let kind = if fault.apply_first {
                "5xx after acting (answer lost)"
            } else {
                "5xx"
            };
            (kind, fault)
        } else if roll < self.server_errors + self.rate_limits {
            let mut fault = Fault::status("", path, 429);
            fault.headers = vec![("retry-after", "1".into())];
            fault.message = "API rate limit exceeded".into();
            ("429 retry-after", fault)
        } else if roll < self.server_errors + 2.0 * self.rate_limits {
            let mut fault = Fault::status("", path, 403);
            fault.headers = vec![("retry-after", "1".into())];
            fault.message = "You have exceeded a secondary rate limit".into();
            ("403 secondary rate limit", fault)
        } else {
            return None;
        };
        *self.injected.entry(kind).or_default() += 1;
        Some(fault)
    }
}

/// A loopback TCP proxy that breaks connections the way networks do: a share of connections is
/// cut (reset) after a random number of answer bytes, in the headers or the body; while it is
/// down, every new connection is reset at once, as a server that is not there.
pub struct Cutter {
    pub url: String,
    state: Arc<CutterState>,
}

struct CutterState {
    upstream: std::net::SocketAddr,
    cut_share: f64,
    rng: Mutex<Rng>,
    down_until: Mutex<Option<Instant>>,
    cuts: std::sync::atomic::AtomicUsize,
    refused: std::sync::atomic::AtomicUsize,
}

/// Connections chosen for cutting are cut within this many answer bytes.
const CUT_WITHIN: u64 = 3000;

impl Cutter {
    /// Proxies to `upstream` (`http://host:port`), cutting `cut_share` of the connections.
    pub async fn start(upstream: &str, cut_share: f64, seed: u64) -> Cutter {
        let upstream = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("upstream host:port");
        let state = Arc::new(CutterState {
            upstream,
            cut_share,
            rng: Mutex::new(Rng::new(seed)),
            down_until: Mutex::new(None),
            cuts: Default::default(),
            refused: Default::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepting = Arc::clone(&state);
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let down = accepting
                    .down_until
                    .lock()
                    .unwrap()
                    .is_some_and(|until| Instant::now() < until);
                if down {
                    accepting
                        .refused
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let _ = client.set_zero_linger();
                    drop(client);
                    continue;
                }
                tokio::spawn(pipe(client, Arc::clone(&accepting)));
            }
        });
        Cutter { url, state }
    }

    /// Resets every new connection for `duration` from now.
    pub fn down_for(&self, duration: Duration) {
        *self.state.down_until.lock().unwrap() = Some(Instant::now() + duration);
    }

    /// Connections cut in the middle of an answer.
    pub fn cuts(&self) -> usize {
        self.state.cuts.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Connections reset at once while down.
    pub fn refused(&self) -> usize {
        self.state.refused.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn pipe(client: tokio::net::TcpStream, state: Arc<CutterState>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(upstream) = tokio::net::TcpStream::connect(state.upstream).await else {
        return;
    };
    let cut_at = {
        let mut rng = state.rng.lock().unwrap();
        (rng.unit() < state.cut_share).then(|| 1 + rng.below(CUT_WITHIN) as usize)
    };
    if cut_at.is_some() {
        // Closing sends a reset, not an orderly end.
        let _ = client.set_zero_linger();
    }
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let requests = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut upstream_write).await;
        let _ = upstream_write.shutdown().await;
        client_read
    });
    let mut sent = 0;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match upstream_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(at) = cut_at
            && sent + n >= at
        {
            let _ = client_write.write_all(&buf[..at - sent]).await;
            state.cuts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            requests.abort();
            client_write.forget();
            return;
        }
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
        sent += n;
    }
    let _ = client_write.shutdown().await;
    let _ = requests.await;
}

impl Server {
    /// How the server process ended, if it ended by itself ([`Server::kill9`] takes it away).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok()?
    }

    /// Sends SIGTERM (as Kubernetes does) and waits up to `within` for the server to drain and
    /// exit; `None` when it did not.
    pub async fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {}", self.pid());
        let deadline = Instant::now() + within;
        loop {
            if let Some(exit) = self.exited() {
                return Some(exit);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The annotations a run should carry for `findings` (`clobbercheck check --format json`), as
/// sorted `(path, line, level)`: a finding sent twice shows as a repeated entry.
pub fn expected_annotations(findings: &[Value]) -> Vec<(String, u64, String)> {
    let mut keys: Vec<_> = findings
        .iter()
        .filter(|f| f["line"].is_u64())
        .map(|f| {
            let level = match f["severity"].as_str().unwrap() {
                "error" => "failure",
                other => other,
            };
            (
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
                level.to_string(),
            )
        })
        .collect();
    keys.sort();
    keys
}

/// A run's annotations as sorted `(path, line, level)`, to compare with [`expected_annotations`].
pub fn annotations(run: &CheckRun) -> Vec<(String, u64, String)> {
    let mut keys: Vec<_> = run
        .annotations
        .iter()
        .map(|a| {
            (
                a["path"].as_str().unwrap().to_string(),
                a["start_line"].as_u64().unwrap(),
                a["annotation_level"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    keys.sort();
    keys
}

/// The findings `clobbercheck check` reports for two commits of the repository at `work`.
pub fn cli_findings_in(work: &Path, base: &str, head: &str) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_clobbercheck"))
        .args([
            "check", "--format", "json", "--base", base, "--head", head, "--repo",
        ])
        .arg(work)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "check {base}..{head}: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    report["findings"].as_array().unwrap().clone()
}

/// The repository every App test works on.
pub const REPO: &str = "acme/gitops";

/// A new Application named by the convention: a pull request adding it has no finding.
pub const APP02: &str = "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: app02-cluster01
  namespace: argocd
spec:
  project: default
  destination:
    server: https://cluster01.example.com
    namespace: app02
";

/// A fake GitHub, a repository on it, and a data directory; dropped together.
pub struct World {
    pub tmp: tempfile::TempDir,
    pub keys: KeyPair,
    pub fake: Fake,
    pub repo: Repo,
    pub data_dir: PathBuf,
}

impl World {
    pub async fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let git_root = tmp.path().join("git");
        std::fs::create_dir_all(&git_root).unwrap();
        let keys = keypair();
        let fake = Fake::start(&keys, &git_root).await;
        let repo = Repo::new(tmp.path(), &git_root, REPO);
        let data_dir = tmp.path().join("data");
        World {
            tmp,
            keys,
            fake,
            repo,
            data_dir,
        }
    }

    pub async fn server(&self, extra: &[(&str, &str)]) -> Server {
        Server::start(&self.fake, &self.keys, &self.data_dir, extra).await
    }

    /// The incident example's base, as `main`.
    pub fn base(&self) -> String {
        self.repo.commit(
            None,
            "main",
            &files_of(&root().join("examples/incident/base")),
        )
    }

    /// The incident example: base on `main`, the misnamed app02 on `app02`.
    pub fn incident(&self) -> (String, String) {
        let base = self.base();
        let head = self.repo.commit(
            Some(&base),
            "app02",
            &files_of(&root().join("examples/incident/head")),
        );
        (base, head)
    }

    /// A head on `branch` adding one new Application (no finding), told apart by `note`.
    pub fn clean_head(&self, base: &str, branch: &str, note: &str) -> String {
        let mut files = files_of(&root().join("examples/incident/base"));
        files.push((
            "rendered/cluster01/app02.yaml".into(),
            format!("# {note}\n{APP02}"),
        ));
        self.repo.commit(Some(base), branch, &files)
    }

    /// A pull request with no finding: the base and a head adding a well-named app02.
    pub fn clean(&self) -> (String, String) {
        let base = self.base();
        let head = self.clean_head(&base, "add-app02", "clean");
        (base, head)
    }

    pub fn spec<'a>(
        &self,
        number: u64,
        base: &'a str,
        head: &'a str,
        head_ref: &'a str,
    ) -> PrSpec<'a> {
        self.fake.register_pr(REPO, number, base, head);
        self.fake
            .update_pr(REPO, number, |pr| pr.head_ref = head_ref.to_string());
        PrSpec {
            repo: REPO,
            clone_url: self.fake.clone_url(REPO),
            number,
            base_sha: base,
            base_ref: "main",
            head_sha: head,
            head_ref,
            fork: None,
        }
    }

    /// The findings `clobbercheck check` reports for the same two commits: one code path.
    pub fn cli_findings(&self, base: &str, head: &str) -> Vec<Value> {
        cli_findings_in(&self.repo.work, base, head)
    }
}

/// The `pull_requests[]` entry GitHub puts in check_run and check_suite payloads.
pub fn pr_ref(number: u64, base: &str, head: &str, head_ref: &str) -> Value {
    json!({
        "number": number,
        "head": {"ref": head_ref, "sha": head, "repo": {"id": 1}},
        "base": {"ref": "main", "sha": base, "repo": {"id": 1}},
    })
}

/// A `pull_request` delivery with the fields GitHub sends and the App reads (the webhook schema's
/// `pull_request` event), built here so these tests need nothing outside the repository.
pub fn pr_event(action: &str, spec: &PrSpec<'_>) -> Value {
    let side = |sha: &str, name: &str, repo: &str| json!({"sha": sha, "ref": name, "repo": {"full_name": repo, "id": 1}});
    json!({
        "action": action,
        "number": spec.number,
        "pull_request": {
            "number": spec.number,
            "state": "open",
            "head": side(spec.head_sha, spec.head_ref, spec.fork.unwrap_or(spec.repo)),
            "base": side(spec.base_sha, spec.base_ref, spec.repo),
        },
        "repository": {"full_name": spec.repo, "clone_url": spec.clone_url},
        "installation": {"id": INSTALLATION},
    })
}

/// Puts the test repository (cloned from `clone_url`) and installation into a payload.
pub fn with_repository(mut p: Value, clone_url: &str) -> Value {
    p["repository"]["full_name"] = json!(REPO);
    p["repository"]["clone_url"] = json!(clone_url);
    p["installation"] = json!({"id": INSTALLATION});
    p
}

/// A `check_suite` delivery (`requested`, `rerequested`) for `head`.
pub fn check_suite_payload(
    clone_url: &str,
    action: &str,
    head: &str,
    pull_requests: Value,
) -> Value {
    let p = json!({
        "action": action,
        "check_suite": {"head_sha": head, "pull_requests": pull_requests},
        "repository": {},
    });
    with_repository(p, clone_url)
}

/// A `merge_group` delivery: the shape of GitHub's webhook schema (octokit/webhooks
/// `merge-group-checks-requested`, `merge-group-destroyed`), refs in full.
pub fn merge_group_payload(
    clone_url: &str,
    action: &str,
    base: &str,
    head: &str,
    head_ref: &str,
) -> Value {
    with_repository(
        json!({
            "action": action,
            "merge_group": {
                "head_sha": head,
                "head_ref": head_ref,
                "base_sha": base,
                "base_ref": "refs/heads/main",
                "head_commit": {"id": head, "tree_id": head, "message": "merge group",
                                "timestamp": "2026-01-01T00:00:00Z",
                                "author": {"name": "a", "email": "a@example.com"},
                                "committer": {"name": "a", "email": "a@example.com"}},
            },
            "repository": {},
            "sender": {"login": "github-merge-queue[bot]"},
        }),
        clone_url,
    )
}
