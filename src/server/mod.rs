//! `clobbercheck serve`: the GitHub App (DESIGN.md §4.4).
//!
//! Routes receive and queue; workers fetch, analyse and publish. The environment is the contract:
//! [`Settings::from_env`] reads it, [`app`] builds the router (tests drive it without a socket),
//! and [`run`] puts it all together.

pub mod merge_queue;
pub mod metrics;
pub mod setup;
pub mod storing;
pub mod webhook;
pub mod worker;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use minijinja::Environment;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tower_http::timeout::TimeoutLayer;

use crate::fetch::RepoCache;
use crate::github::{AppCredentials, GitHub, GitHubError, RetryPolicy, Secret};
use crate::queue::{PostgresQueue, Queue, QueueError, SqliteQueue};
use crate::report::markdown::{self, TemplateError};
use crate::snapshot::ParseCache;
use metrics::Metrics;

/// GitHub's largest webhook payload; larger bodies are answered 413.
pub const MAX_PAYLOAD: usize = 25 * 1024 * 1024;
/// The file the manifest flow writes the App's credentials to, inside the data directory.
pub const CREDENTIALS_FILE: &str = "app-credentials.json";

/// Why the server could not start; names the setting or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{name}: {message}")]
    Setting { name: &'static str, message: String },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: String, message: String },
    #[error("cannot start the {name} thread: {message}")]
    Thread { name: &'static str, message: String },
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// The App's identity and webhook secret, from the environment or the manifest flow's file.
#[derive(Clone, Serialize, Deserialize)]
pub struct AppSecrets {
    pub app_id: u64,
    pub private_key: String,
    pub webhook_secret: String,
}

impl std::fmt::Debug for AppSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppSecrets")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

/// Where the queue lives: `CLOBBERCHECK_DATABASE_URL`.
#[derive(Clone)]
pub enum Database {
    /// A SQLite file (the default, `<data dir>/queue.sqlite`, or `sqlite://<path>`): one replica.
    Sqlite(PathBuf),
    /// A `postgres://` (or `postgresql://`) URL: several replicas share its queue.
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            // The URL may hold a password.
            Database::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

impl Database {
    /// Reads `CLOBBERCHECK_DATABASE_URL` (`None`: the SQLite file in `data_dir`).
    fn from_url(url: Option<String>, data_dir: &Path) -> Result<Self, ServerError> {
        let Some(url) = url else {
            return Ok(Database::Sqlite(data_dir.join("queue.sqlite")));
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url));
        }
        match url
            .strip_prefix("sqlite://")
            .or(url.strip_prefix("sqlite:"))
        {
            Some(path) => Ok(Database::Sqlite(PathBuf::from(path))),
            None => Err(ServerError::Setting {
                name: "CLOBBERCHECK_DATABASE_URL",
                message: format!(
                    "'{}': expected sqlite://<path> (e.g. sqlite://{}/queue.sqlite) or postgres://user:password@host/database",
                    url.split('@').next_back().unwrap_or_default(),
                    data_dir.display()
                ),
            }),
        }
    }

    /// Opens the queue; `workers` sizes a PostgreSQL pool.
    pub fn open(&self, workers: usize) -> Result<Arc<dyn Queue>, QueueError> {
        Ok(match self {
            Database::Sqlite(path) => Arc::new(SqliteQueue::open(path)?),
            Database::Postgres(url) => Arc::new(PostgresQueue::open(url, workers)?),
        })
    }
}

/// Everything `serve` reads from its environment (DESIGN.md §4.4, plus tuning knobs).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `None` until the App is registered: the server then shows the setup page.
    pub secrets: Option<AppSecrets>,
    pub api_url: String,
    /// Where repositories are cloned from: the only host the installation token is sent to for
    /// git. `CLOBBERCHECK_GIT_URL`, by default GitHub's web address for `api_url`.
    pub git_url: String,
    pub listen: String,
    pub data_dir: PathBuf,
    pub database: Database,
    /// How long a claimed job is reserved for its worker (`CLOBBERCHECK_LEASE_MS`, default
    /// 30 s); the worker renews it every third of that. A replica that dies holds its jobs
    /// this long before another replica takes them over.
    pub lease: Duration,
    /// Jobs run at once.
    pub workers: usize,
    /// Upper bound of the repository cache on disk.
    pub cache_max_bytes: u64,
    /// Directory overriding the embedded templates.
    pub templates: Option<PathBuf>,
    /// A job is tried this many times before its check run reports the failure.
    pub max_attempts: u32,
    /// Delay before a job's first retry; doubles each time.
    pub retry_delay: Duration,
    /// Retry rules of single GitHub calls.
    pub api_retry: RetryPolicy,
    /// Public base URL for the App manifest; by default taken from the request's Host.
    pub public_url: Option<String>,
    /// How long running jobs may go on after SIGTERM before the process exits
    /// (`CLOBBERCHECK_SHUTDOWN_GRACE_MS`, default 25 s: within Kubernetes' default 30 s
    /// termination grace period). A job cut off then resumes at the next start.
    pub shutdown_grace: Duration,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ServerError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Reads the settings through `get`, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ServerError> {
        fn parse<T: std::str::FromStr>(
            name: &'static str,
            value: Option<String>,
            default: T,
        ) -> Result<T, ServerError>
        where
            T::Err: std::fmt::Display,
        {
            match value {
                None => Ok(default),
                Some(v) => v.parse().map_err(|e: T::Err| ServerError::Setting {
                    name,
                    message: format!("'{v}': {e}"),
                }),
            }
        }
        let data_dir =
            PathBuf::from(get("CLOBBERCHECK_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database = Database::from_url(get("CLOBBERCHECK_DATABASE_URL"), &data_dir)?;
        let private_key = match (
            get("CLOBBERCHECK_PRIVATE_KEY"),
            get("CLOBBERCHECK_PRIVATE_KEY_PATH"),
        ) {
            (Some(pem), _) => Some(pem),
            (None, Some(path)) => Some(read_private(Path::new(&path))?),
            (None, None) => None,
        };
        let app_id = get("CLOBBERCHECK_APP_ID");
        let secret = get("CLOBBERCHECK_WEBHOOK_SECRET");
        let secrets = match (app_id, private_key, secret) {
            (Some(id), Some(private_key), Some(webhook_secret)) => Some(AppSecrets {
                app_id: parse("CLOBBERCHECK_APP_ID", Some(id), 0)?,
                private_key,
                webhook_secret,
            }),
            (None, None, None) => read_credentials(&data_dir.join(CREDENTIALS_FILE))?,
            _ => {
                return Err(ServerError::Setting {
                    name: "CLOBBERCHECK_APP_ID",
                    message: "set CLOBBERCHECK_APP_ID, CLOBBERCHECK_PRIVATE_KEY (or _PATH) and CLOBBERCHECK_WEBHOOK_SECRET together, or none of them to use the setup page".into(),
                });
            }
        };
        let api_url =
            get("CLOBBERCHECK_GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
        let api_retry = RetryPolicy {
            base_delay: Duration::from_millis(parse(
                "CLOBBERCHECK_API_RETRY_MS",
                get("CLOBBERCHECK_API_RETRY_MS"),
                1000,
            )?),
            ..RetryPolicy::default()
        };
        Ok(Self {
            secrets,
            git_url: get("CLOBBERCHECK_GIT_URL").unwrap_or_else(|| setup::web_url(&api_url)),
            api_url,
            listen: get("CLOBBERCHECK_LISTEN").unwrap_or_else(|| "0.0.0.0:3000".into()),
            database,
            lease: Duration::from_millis(
                parse(
                    "CLOBBERCHECK_LEASE_MS",
                    get("CLOBBERCHECK_LEASE_MS"),
                    30_000u64,
                )?
                .max(300),
            ),
            workers: parse("CLOBBERCHECK_WORKERS", get("CLOBBERCHECK_WORKERS"), 2)?.max(1),
            cache_max_bytes: parse(
                "CLOBBERCHECK_CACHE_MAX_BYTES",
                get("CLOBBERCHECK_CACHE_MAX_BYTES"),
                5 * 1024 * 1024 * 1024,
            )?,
            templates: get("CLOBBERCHECK_TEMPLATES").map(PathBuf::from),
            max_attempts: parse(
                "CLOBBERCHECK_MAX_ATTEMPTS",
                get("CLOBBERCHECK_MAX_ATTEMPTS"),
                5,
            )?
            .max(1),
            retry_delay: Duration::from_millis(parse(
                "CLOBBERCHECK_RETRY_MS",
                get("CLOBBERCHECK_RETRY_MS"),
                30_000,
            )?),
            api_retry,
            public_url: get("CLOBBERCHECK_PUBLIC_URL"),
            shutdown_grace: Duration::from_millis(parse(
                "CLOBBERCHECK_SHUTDOWN_GRACE_MS",
                get("CLOBBERCHECK_SHUTDOWN_GRACE_MS"),
                25_000,
            )?),
            data_dir,
        })
    }
}

/// Reads a file holding the App's private key, refusing it (as ssh does) when its mode lets the
/// group or others read it: a key others can read is no longer the App's alone. The mode is
/// taken from the opened file, so it is the file actually read.
pub fn read_private(path: &Path) -> Result<String, ServerError> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let error = |message: String| ServerError::File {
        path: path.to_path_buf(),
        message,
    };
    let mut file = std::fs::File::open(path).map_err(|e| error(format!("cannot read: {e}")))?;
    let mode = file
        .metadata()
        .map_err(|e| error(format!("cannot read: {e}")))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(error(format!(
            "holds the App's private key but has mode {:04o}, readable by group or others; \
             refusing to use it: chmod 600 it",
            mode & 0o7777
        )));
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| error(format!("cannot read: {e}")))?;
    Ok(text)
}

fn read_credentials(path: &Path) -> Result<Option<AppSecrets>, ServerError> {
    if !path.exists() {
        return Ok(None);
    }
    let text = read_private(path)?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ServerError::File {
            path: path.to_path_buf(),
            message: format!("not valid App credentials: {e}"),
        })
}

/// A registered App: what verifies deliveries and talks to GitHub.
pub struct Configured {
    pub webhook_secret: Secret,
    pub github: Arc<GitHub>,
}

/// Shared by routes and workers.
pub struct Shared {
    pub settings: Settings,
    app: RwLock<Option<Arc<Configured>>>,
    pub queue: Arc<dyn Queue>,
    pub metrics: Arc<Metrics>,
    /// Wakes idle workers when a job is queued (by this replica's webhook, or by any replica
    /// through the queue's [`Queue::listen`]).
    pub wake: Notify,
    /// How long an idle worker waits for a wake before it looks again (for due retries and
    /// expired leases): short when only this replica's webhook wakes it, longer when the
    /// database announces every job.
    pub idle_poll: Duration,
    /// Set on SIGTERM: workers take no new job.
    pub draining: std::sync::atomic::AtomicBool,
    pub cache: RepoCache,
    pub templates: Environment<'static>,
    /// Stores deliveries in batches, on one thread of its own (group commit).
    pub storing: storing::Storing,
    /// Setup state values handed out by `/`, checked by `/setup`.
    pub setup_states: std::sync::Mutex<Vec<String>>,
    /// The one-time code that opens the setup page, while no App is configured (see
    /// [`setup`]); `None` once configured.
    pub setup_code: std::sync::Mutex<Option<Secret>>,
    /// Parsed blobs per repository, shared by its jobs: consecutive PRs share almost every blob.
    parse_caches: std::sync::Mutex<Vec<(String, Arc<ParseCache>)>>,
}

/// An idle worker's look at the queue when nothing announces jobs.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// An idle worker's look at the queue when the database announces each job (`NOTIFY`): only
/// retries coming due and leases running out are found this way.
const IDLE_POLL_ANNOUNCED: Duration = Duration::from_secs(2);
/// Repositories whose parsed blobs are kept; the least recently used beyond this is dropped.
const PARSE_CACHE_REPOS: usize = 4;
/// Parsed blobs kept per repository before its cache starts afresh (bounds memory).
const PARSE_CACHE_BLOBS: usize = 100_000;

impl Shared {
    /// The parse cache of `repo`, most recently used first; bounded in repositories and blobs.
    pub fn parse_cache(&self, repo: &str) -> Arc<ParseCache> {
        let mut caches = self.parse_caches.lock().unwrap_or_else(|p| p.into_inner());
        let cache = match caches.iter().position(|(name, _)| name == repo) {
            Some(i) => caches.remove(i).1,
            None => Arc::new(ParseCache::default()),
        };
        let cache = if cache.len() > PARSE_CACHE_BLOBS {
            Arc::new(ParseCache::default())
        } else {
            cache
        };
        caches.insert(0, (repo.to_string(), Arc::clone(&cache)));
        caches.truncate(PARSE_CACHE_REPOS);
        cache
    }
}

/// The server state: a cheap clone of an `Arc`.
#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Builds the state: templates, cache, and the App if its credentials are known.
    pub fn new(settings: Settings, queue: Arc<dyn Queue>) -> Result<Self, ServerError> {
        let metrics = Arc::new(Metrics::default());
        let templates = markdown::environment(settings.templates.as_deref())?;
        let origin = reqwest::Url::parse(&settings.git_url).map_err(|e| ServerError::Setting {
            name: "CLOBBERCHECK_GIT_URL",
            message: format!("'{}': {e}", settings.git_url),
        })?;
        let storing =
            storing::Storing::start(Arc::clone(&queue)).map_err(|e| ServerError::Thread {
                name: "storing",
                message: e.to_string(),
            })?;
        let cache = RepoCache::new(
            settings.data_dir.join("repos"),
            settings.cache_max_bytes,
            origin,
        );
        let state = AppState(Arc::new_cyclic(|shared: &std::sync::Weak<Shared>| {
            let shared = shared.clone();
            let announced = queue.listen(Arc::new(move || {
                if let Some(shared) = shared.upgrade() {
                    shared.wake.notify_waiters();
                }
            }));
            Shared {
                app: RwLock::new(None),
                queue,
                metrics,
                wake: Notify::new(),
                idle_poll: if announced {
                    IDLE_POLL_ANNOUNCED
                } else {
                    IDLE_POLL
                },
                draining: std::sync::atomic::AtomicBool::new(false),
                cache,
                templates,
                storing,
                setup_states: std::sync::Mutex::new(Vec::new()),
                setup_code: std::sync::Mutex::new(None),
                parse_caches: std::sync::Mutex::new(Vec::new()),
                settings,
            }
        }));
        match state.settings.secrets.clone() {
            Some(secrets) => state.configure(&secrets)?,
            None => setup::new_code(&state)?,
        }
        Ok(state)
    }

    /// Installs the App's credentials (at start, or live after the manifest flow).
    pub fn configure(&self, secrets: &AppSecrets) -> Result<(), ServerError> {
        let credentials = AppCredentials::from_pem(secrets.app_id, secrets.private_key.as_bytes())?;
        let github = GitHub::new(
            &self.settings.api_url,
            credentials,
            Arc::clone(&self.metrics),
            self.settings.api_retry,
        )?;
        *self.app.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(Configured {
            webhook_secret: Secret::new(secrets.webhook_secret.clone()),
            github: Arc::new(github),
        }));
        setup::forget_code(self);
        tracing::info!(app_id = secrets.app_id, "github app configured");
        Ok(())
    }

    /// The App, once registered.
    pub fn configured(&self) -> Option<Arc<Configured>> {
        self.app.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The router: `fn app(state) -> Router`, so tests can drive it with `oneshot`.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/webhook", post(webhook::receive))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/", get(setup::index).post(setup::unlock))
        .route("/setup", get(setup::callback))
        .layer(DefaultBodyLimit::max(MAX_PAYLOAD))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 while the queue's database answers, 503 (with the reason) while it does not: a load
/// balancer then sends deliveries to a replica that can store them.
async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    let queue = Arc::clone(&state.queue);
    match tokio::task::spawn_blocking(move || queue.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n".into()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "database unavailable\n".into(),
            )
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("readiness task: {e}\n"),
        ),
    }
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    let queue = Arc::clone(&state.queue);
    let measured = tokio::task::spawn_blocking(move || {
        Ok::<_, QueueError>((queue.depth()?, queue.oldest_waiting()?))
    })
    .await;
    let (depth, oldest) = match measured {
        Ok(Ok(measured)) => measured,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot measure the queue for /metrics");
            (0, None)
        }
        Err(e) => {
            tracing::warn!(error = %e, "queue measurement task failed");
            (0, None)
        }
    };
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(depth, oldest.unwrap_or_default()),
    )
}

/// Runs the server until SIGINT or SIGTERM: opens the queue, starts the workers, serves. On the
/// signal it stops answering, lets running jobs finish for up to [`Settings::shutdown_grace`]
/// while taking no new one, and returns; what was cut off is claimed again at the next start.
pub async fn run(settings: Settings) -> Result<(), ServerError> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| ServerError::File {
        path: settings.data_dir.clone(),
        message: e.to_string(),
    })?;
    // Opening PostgreSQL blocks (its client runs a runtime of its own): off the async threads.
    let (database, pool) = (settings.database.clone(), settings.workers);
    let queue = tokio::task::spawn_blocking(move || database.open(pool))
        .await
        .map_err(|e| QueueError::Open {
            path: "CLOBBERCHECK_DATABASE_URL".into(),
            message: format!("opening task failed: {e}"),
        })??;
    let listen = settings.listen.clone();
    let workers = settings.workers;
    let grace = settings.shutdown_grace;
    let state = AppState::new(settings, queue)?;
    let running: Vec<_> = (0..workers)
        .map(|n| tokio::spawn(worker::run(state.clone(), n)))
        .collect();
    tokio::spawn(prune(Arc::clone(&state.queue)));
    let listen_error = |e: std::io::Error| ServerError::Listen {
        addr: listen.clone(),
        message: e.to_string(),
    };
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(listen_error)?;
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    // The one start line, on stderr whatever CLOBBERCHECK_LOG says: where, which GitHub, and
    // whether an App is configured or how to configure it.
    let where_ = addr.map_or(listen.clone(), |a| a.to_string());
    let status = match state.configured() {
        Some(app) => format!(
            "configured as App {}",
            app.github.app_id().unwrap_or_default()
        ),
        None => format!(
            "awaiting setup: open / and enter the setup code {} (also in {})",
            setup::code(&state)
                .map(|c| c.expose().to_string())
                .unwrap_or_default(),
            state.settings.data_dir.join(setup::CODE_FILE).display()
        ),
    };
    eprintln!(
        "clobbercheck serve: listening on {where_}, GitHub {}, {status}",
        state.settings.api_url
    );
    axum::serve(listener, app(state.clone()))
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(listen_error)?;
    state
        .draining
        .store(true, std::sync::atomic::Ordering::SeqCst);
    state.wake.notify_waiters();
    let drained = tokio::time::timeout(grace, async {
        for worker in running {
            let _ = worker.await;
        }
    })
    .await;
    match drained {
        Ok(()) => tracing::info!("running jobs finished; exiting"),
        Err(_) => tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            "jobs still running after the grace period; they resume at the next start"
        ),
    }
    Ok(())
}

/// How long finished jobs and delivery ids are kept (GitHub lets users redeliver for 3 days).
const KEEP_FINISHED: Duration = Duration::from_secs(7 * 24 * 3600);

/// Prunes the queue hourly.
async fn prune(queue: Arc<dyn Queue>) {
    loop {
        let q = Arc::clone(&queue);
        match tokio::task::spawn_blocking(move || q.prune(KEEP_FINISHED)).await {
            Ok(Ok(removed)) => tracing::debug!(removed, "queue pruned"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot prune the queue"),
            Err(e) => tracing::warn!(error = %e, "prune task failed"),
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}
