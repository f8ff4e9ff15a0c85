//! The GitHub REST client: App and installation authentication, and the retry rules.
//!
//! Reads and updates are retried on 5xx and on transport errors; any call rate-limited (429, or
//! 403 with a rate-limit sign) waits as GitHub says (`retry-after`, else `x-ratelimit-reset`, else
//! a minute) and is sent again, since GitHub did not act on it. A call that must happen once (a
//! create, or completing a check run) and fails with 5xx, no answer or an answer cut short is
//! **not** re-sent here: it may have happened, so callers look for it first
//! ([`Installation::create_once`], [`Installation::patch_once`]). Pagination follows `next` links
//! by path on the configured base URL, so the token is sent to the same host, with the same
//! header, every time.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::auth::{AppCredentials, Secret};
use crate::server::metrics::Metrics;

/// Why a GitHub call failed; names the call, never the token.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("github app {app_id}: unusable private key: {message}")]
    Key { app_id: u64, message: String },
    #[error("github api url {url}: {message}")]
    BaseUrl { url: String, message: String },
    #[error("github {method} {path}: no answer: {message}")]
    Transport {
        method: Method,
        path: String,
        message: String,
    },
    #[error("github {method} {path}: {status}: {message}")]
    Status {
        method: Method,
        path: String,
        status: u16,
        message: String,
    },
    #[error("github {method} {path}: rate limited for {wait_secs} s more")]
    RateLimited {
        method: Method,
        path: String,
        wait_secs: u64,
    },
    #[error("github {method} {path}: may or may not have been applied ({reason})")]
    Ambiguous {
        method: Method,
        path: String,
        reason: String,
    },
    #[error("github {method} {path}: unexpected answer: {message}")]
    Decode {
        method: Method,
        path: String,
        message: String,
    },
}

impl GitHubError {
    /// Whether trying the job again later may succeed (GitHub down, rate limit, network).
    pub fn is_transient(&self) -> bool {
        match self {
            GitHubError::Transport { .. }
            | GitHubError::RateLimited { .. }
            | GitHubError::Ambiguous { .. } => true,
            GitHubError::Status { status, .. } => *status >= 500 || *status == 429,
            GitHubError::Key { .. } | GitHubError::BaseUrl { .. } | GitHubError::Decode { .. } => {
                false
            }
        }
    }

    /// The HTTP status GitHub answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// How hard to insist on one call.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Sends of one call at most (the first included).
    pub attempts: u32,
    /// First back-off after a 5xx or transport error; doubles each time.
    pub base_delay: Duration,
    /// Longest rate-limit wait taken inside one call; longer ones fail the call as transient,
    /// and the job is retried later by the queue.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            base_delay: Duration::from_secs(1),
            max_wait: Duration::from_secs(15 * 60),
        }
    }
}

/// Installation tokens live an hour; one is reused until this long before that.
const TOKEN_REUSE: Duration = Duration::from_secs(50 * 60);
/// Wait after a rate-limit answer that gives no time (GitHub: at least a minute).
const RATE_LIMIT_FALLBACK: Duration = Duration::from_secs(60);
/// Pages followed at most for one list, against runaway pagination.
const MAX_PAGES: usize = 100;

#[derive(Default)]
struct TokenSlot {
    token: Option<(Secret, Instant)>,
}

/// Who the client acts as: the App (a JWT, exchanged for installation tokens), or the holder of
/// one token given from outside (a workflow's `GITHUB_TOKEN`, for `clobbercheck github-action`).
enum Identity {
    App(AppCredentials),
    Token(Secret),
}

/// The App's connection to one GitHub (github.com or an Enterprise Server).
pub struct GitHub {
    http: reqwest::Client,
    api: reqwest::Url,
    identity: Identity,
    tokens: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<TokenSlot>>>>,
    metrics: Arc<Metrics>,
    retry: RetryPolicy,
}

enum Auth<'a> {
    App,
    Token(&'a Secret),
}

struct Answer {
    body: Value,
    headers: HeaderMap,
}

impl GitHub {
    /// A client for the API at `api_url` (e.g. `https://api.github.com`).
    pub fn new(
        api_url: &str,
        credentials: AppCredentials,
        metrics: Arc<Metrics>,
        retry: RetryPolicy,
    ) -> Result<Self, GitHubError> {
        Self::build(api_url, Identity::App(credentials), metrics, retry)
    }

    /// A client acting with one given token (a workflow's `GITHUB_TOKEN`); every installation
    /// handle uses it, and no JWT is ever made.
    pub fn with_token(
        api_url: &str,
        token: Secret,
        metrics: Arc<Metrics>,
        retry: RetryPolicy,
    ) -> Result<Self, GitHubError> {
        Self::build(api_url, Identity::Token(token), metrics, retry)
    }

    fn build(
        api_url: &str,
        identity: Identity,
        metrics: Arc<Metrics>,
        retry: RetryPolicy,
    ) -> Result<Self, GitHubError> {
        let base_error = |message: String| GitHubError::BaseUrl {
            url: api_url.to_string(),
            message,
        };
        let api = reqwest::Url::parse(api_url.trim_end_matches('/'))
            .map_err(|e| base_error(e.to_string()))?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("clobbercheck/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| base_error(e.to_string()))?;
        Ok(Self {
            http,
            api,
            identity,
            tokens: Mutex::new(HashMap::new()),
            metrics,
            retry,
        })
    }

    /// The App's id, to recognise its own check runs; `None` when acting with a given token
    /// (whose runs belong to whatever App issued it, `github-actions` in a workflow).
    pub fn app_id(&self) -> Option<u64> {
        match &self.identity {
            Identity::App(credentials) => Some(credentials.app_id),
            Identity::Token(_) => None,
        }
    }

    /// A handle acting as one installation; cheap, shares the token cache.
    pub fn installation(self: &Arc<Self>, id: u64) -> Installation {
        Installation {
            github: Arc::clone(self),
            id,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.api.as_str().trim_end_matches('/'), path)
    }

    /// Turns a pagination link into a path under the configured base URL, whatever host it
    /// names, so the next request goes where the token belongs.
    fn relative(&self, link: &str) -> Option<String> {
        let base = self.api.as_str().trim_end_matches('/');
        if let Some(rest) = link.strip_prefix(base) {
            return Some(rest.to_string());
        }
        let url = reqwest::Url::parse(link).ok()?;
        let prefix = self.api.path().trim_end_matches('/');
        let path = url.path().strip_prefix(prefix).unwrap_or(url.path());
        Some(match url.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        })
    }

    async fn token(&self, installation: u64) -> Result<Secret, GitHubError> {
        if let Identity::Token(token) = &self.identity {
            return Ok(token.clone());
        }
        let slot = {
            let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(tokens.entry(installation).or_default())
        };
        let mut slot = slot.lock().await;
        if let Some((token, issued)) = &slot.token
            && issued.elapsed() < TOKEN_REUSE
        {
            return Ok(token.clone());
        }
        let path = format!("/app/installations/{installation}/access_tokens");
        let answer = self
            .call(Method::POST, &path, None, Auth::App, false)
            .await?;
        let token = answer
            .body
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| GitHubError::Decode {
                method: Method::POST,
                path: path.clone(),
                message: "no token in the answer".into(),
            })?;
        let token = Secret::new(token);
        slot.token = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    /// Sends one call with the retry rules; `once` for a call that must not be repeated blindly
    /// (a lost or cut answer is then [`GitHubError::Ambiguous`]).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        auth: Auth<'_>,
        once: bool,
    ) -> Result<Answer, GitHubError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let bearer = match (&auth, &self.identity) {
                (Auth::App, Identity::App(credentials)) => credentials.jwt()?,
                (Auth::App, Identity::Token(token)) => token.clone(),
                (Auth::Token(token), _) => (*token).clone(),
            };
            let mut request = self
                .http
                .request(method.clone(), self.url(path))
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
                .bearer_auth(bearer.expose());
            if let Some(body) = body {
                request = request.json(body);
            }
            let last = attempt >= self.retry.attempts;
            // An answer cut in the middle of its body is as lost as no answer: GitHub may have
            // acted on the call.
            let answer = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    self.metrics.api_call(status.as_str());
                    let headers = response.headers().clone();
                    match response.text().await {
                        Ok(text) => Ok((status, headers, text)),
                        Err(e) => Err(format!("{status} cut short: {}", without_url(&e))),
                    }
                }
                Err(e) => {
                    self.metrics.api_call("error");
                    Err(without_url(&e))
                }
            };
            let (status, headers, text) = match answer {
                Ok(answer) => answer,
                Err(message) => {
                    tracing::warn!(%method, path, attempt, error = %message, "github call failed");
                    if once {
                        return Err(GitHubError::Ambiguous {
                            method,
                            path: path.to_string(),
                            reason: message,
                        });
                    }
                    if last {
                        return Err(GitHubError::Transport {
                            method,
                            path: path.to_string(),
                            message,
                        });
                    }
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
            };
            tracing::debug!(%method, path, status = status.as_u16(), attempt, "github call");
            if status.is_success() {
                let body = if text.trim().is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).map_err(|e| GitHubError::Decode {
                        method: method.clone(),
                        path: path.to_string(),
                        message: e.to_string(),
                    })?
                };
                return Ok(Answer { body, headers });
            }
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(String::from))
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string());
            if let Some(wait) = rate_limit_wait(status, &headers, &message) {
                tracing::warn!(%method, path, wait_secs = wait.as_secs(), "github rate limit");
                if wait > self.retry.max_wait || last {
                    return Err(GitHubError::RateLimited {
                        method,
                        path: path.to_string(),
                        wait_secs: wait.as_secs(),
                    });
                }
                tokio::time::sleep(wait).await;
                continue;
            }
            if status.is_server_error() {
                tracing::warn!(%method, path, status = status.as_u16(), attempt, "github server error");
                if once {
                    return Err(GitHubError::Ambiguous {
                        method,
                        path: path.to_string(),
                        reason: format!("{}: {message}", status.as_u16()),
                    });
                }
                if !last {
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
            }
            return Err(GitHubError::Status {
                method,
                path: path.to_string(),
                status: status.as_u16(),
                message,
            });
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        self.retry.base_delay * 2u32.saturating_pow(attempt.saturating_sub(1))
    }
}

/// A transport error's text without the URL (it is already named by the path).
fn without_url(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    if let Some(url) = error.url() {
        message = message.replace(url.as_str(), "");
    }
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        message = format!("{message}: {inner}");
        source = inner.source();
    }
    message
}

/// How long to wait before re-sending a rate-limited call, or `None` if it was not rate limited.
fn rate_limit_wait(status: StatusCode, headers: &HeaderMap, message: &str) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::trim)
    };
    let limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && (header("retry-after").is_some()
                || header("x-ratelimit-remaining") == Some("0")
                || message.to_ascii_lowercase().contains("rate limit")));
    if !limited {
        return None;
    }
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Duration::from_secs(secs));
    }
    if let Some(reset) = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok()) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        return Some(Duration::from_secs(reset.saturating_sub(now).max(1)));
    }
    Some(RATE_LIMIT_FALLBACK)
}

/// Acting as one installation of the App: every repository call goes through here, with that
/// installation's token.
#[derive(Clone)]
pub struct Installation {
    github: Arc<GitHub>,
    id: u64,
}

impl Installation {
    /// The installation id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The client this installation belongs to.
    pub fn github(&self) -> &GitHub {
        &self.github
    }

    /// The installation token (cached), for git fetches.
    pub async fn token(&self) -> Result<Secret, GitHubError> {
        self.github.token(self.id).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        once: bool,
    ) -> Result<Answer, GitHubError> {
        let token = self.token().await?;
        self.github
            .call(method, path, body, Auth::Token(&token), once)
            .await
    }

    /// GET one resource.
    pub async fn get(&self, path: &str) -> Result<Value, GitHubError> {
        Ok(self.send(Method::GET, path, None, false).await?.body)
    }

    /// GET every page of a list. `key` names the array inside an object answer
    /// (`check_runs`); `None` when the answer is the array itself.
    pub async fn get_all(&self, path: &str, key: Option<&str>) -> Result<Vec<Value>, GitHubError> {
        let mut items = Vec::new();
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{path}{separator}per_page=100"));
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            let answer = self.send(Method::GET, &path, None, false).await?;
            let list = match key {
                Some(key) => answer.body.get(key).cloned().unwrap_or(Value::Null),
                None => answer.body,
            };
            match list {
                Value::Array(page) => items.extend(page),
                _ => {
                    return Err(GitHubError::Decode {
                        method: Method::GET,
                        path,
                        message: "expected a list".into(),
                    });
                }
            }
            if pages < MAX_PAGES {
                next = next_link(&answer.headers).and_then(|link| self.github.relative(&link));
            }
        }
        Ok(items)
    }

    /// PATCH a resource (idempotent: retried on 5xx).
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, GitHubError> {
        Ok(self
            .send(Method::PATCH, path, Some(body), false)
            .await?
            .body)
    }

    /// POST a create, making sure it happens once: when the answer is lost or a 5xx, `lookup`
    /// is asked whether it happened after all before sending it again.
    pub async fn create_once<F, Fut>(
        &self,
        path: &str,
        body: &Value,
        lookup: F,
    ) -> Result<Value, GitHubError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<Value>, GitHubError>>,
    {
        self.send_once(Method::POST, path, body, lookup).await
    }

    /// PATCH a change that must happen once (completing a check run: GitHub announces each
    /// completion, and a repeated one could undo an acknowledgement made in between), with the
    /// same look-before-resending rule as [`Installation::create_once`].
    pub async fn patch_once<F, Fut>(
        &self,
        path: &str,
        body: &Value,
        lookup: F,
    ) -> Result<Value, GitHubError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<Value>, GitHubError>>,
    {
        self.send_once(Method::PATCH, path, body, lookup).await
    }

    async fn send_once<F, Fut>(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        lookup: F,
    ) -> Result<Value, GitHubError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<Value>, GitHubError>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > 1 {
                tokio::time::sleep(self.github.backoff(attempt - 1)).await;
                if let Some(found) = lookup().await? {
                    tracing::info!(%method, path, "call had taken effect after all; not sending it again");
                    return Ok(found);
                }
            }
            match self.send(method.clone(), path, Some(body), true).await {
                Ok(answer) => return Ok(answer.body),
                Err(GitHubError::Ambiguous { .. }) if attempt < self.github.retry.attempts => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// The `next` URL of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn rate_limit_waits_follow_github_headers() {
        let forbidden = StatusCode::FORBIDDEN;
        assert_eq!(
            rate_limit_wait(forbidden, &headers(&[("retry-after", "7")]), ""),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            rate_limit_wait(
                forbidden,
                &headers(&[]),
                "You have exceeded a secondary rate limit"
            ),
            Some(RATE_LIMIT_FALLBACK)
        );
        assert_eq!(
            rate_limit_wait(forbidden, &headers(&[]), "Resource not accessible"),
            None
        );
        let reset = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 30;
        let wait = rate_limit_wait(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("x-ratelimit-reset", &reset.to_string())]),
            "",
        )
        .unwrap();
        assert!(wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28));
    }

    #[test]
    fn next_links_are_found_and_kept_on_the_base_url() {
        let h = headers(&[(
            "link",
            "<https://ghe.example/api/v3/repos/o/r/issues/1/comments?page=2>; rel=\"next\", \
             <https://ghe.example/api/v3/repos/o/r/issues/1/comments?page=5>; rel=\"last\"",
        )]);
        let link = next_link(&h).unwrap();
        assert!(link.ends_with("page=2"));
        let gh = GitHub {
            http: reqwest::Client::new(),
            api: reqwest::Url::parse("http://127.0.0.1:9/api/v3").unwrap(),
            identity: Identity::App(test_credentials()),
            tokens: Mutex::default(),
            metrics: Arc::default(),
            retry: RetryPolicy::default(),
        };
        assert_eq!(
            gh.relative(&link).unwrap(),
            "/repos/o/r/issues/1/comments?page=2"
        );
    }

    /// A loopback HTTP server: installation tokens on request, and for every other request the
    /// next of `answers` (raw bytes, possibly cut short), each on its own connection. Returns
    /// its URL and the request lines it saw.
    async fn canned(answers: Vec<&'static str>) -> (String, Arc<Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            let mut answers = answers.into_iter();
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                let head_end = loop {
                    let n = socket.read(&mut buf).await.unwrap();
                    request.extend_from_slice(&buf[..n]);
                    if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&request[..head_end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                while request.len() < head_end + length {
                    let n = socket.read(&mut buf).await.unwrap();
                    request.extend_from_slice(&buf[..n]);
                }
                let line = head.lines().next().unwrap().to_string();
                let answer = if line.contains("/access_tokens") {
                    "HTTP/1.1 201 Created\r\nContent-Length: 13\r\n\r\n{\"token\":\"t\"}"
                } else {
                    log.lock().unwrap().push(line);
                    answers.next().expect("no more answers")
                };
                socket.write_all(answer.as_bytes()).await.unwrap();
                socket.shutdown().await.unwrap();
            }
        });
        (url, seen)
    }

    fn client(url: &str) -> Installation {
        let retry = RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(1),
            max_wait: Duration::from_secs(1),
        };
        let github = GitHub::new(url, test_credentials(), Arc::default(), retry).unwrap();
        Arc::new(github).installation(1)
    }

    /// Headers and the start of a body, then the connection ends.
    const CUT: &str =
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"id\": 1,";
    const WHOLE: &str =
        "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{\"id\": 1}";

    #[tokio::test]
    async fn an_answer_cut_mid_body_is_retried_not_read_as_empty() {
        let (url, seen) = canned(vec![CUT, WHOLE]).await;
        let answer = client(&url)
            .patch("/repos/o/r/check-runs/1", &serde_json::json!({}))
            .await
            .unwrap();
        assert_eq!(answer, serde_json::json!({"id": 1}));
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_once_call_whose_answer_was_cut_is_looked_up_not_sent_again() {
        let (url, seen) = canned(vec![CUT]).await;
        let looked = std::sync::atomic::AtomicUsize::new(0);
        let answer = client(&url)
            .patch_once(
                "/repos/o/r/check-runs/1",
                &serde_json::json!({"conclusion": "success"}),
                || async {
                    looked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(Some(serde_json::json!({"id": 1, "status": "completed"})))
                },
            )
            .await
            .unwrap();
        assert_eq!(answer["status"], "completed");
        assert_eq!(looked.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(
            *seen.lock().unwrap(),
            vec!["PATCH /repos/o/r/check-runs/1 HTTP/1.1".to_string()]
        );
    }

    fn test_credentials() -> AppCredentials {
        // Any syntactically valid key will do: this test never signs.
        let pem = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:1024",
            ])
            .output()
            .unwrap()
            .stdout;
        AppCredentials::from_pem(1, &pem).unwrap()
    }
}
