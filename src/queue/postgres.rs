//! The shared queue: one PostgreSQL database for several `clobbercheck serve` replicas.
//!
//! Driver: the blocking `postgres` 0.19 crate behind an `r2d2` pool. The [`Queue`] trait is
//! blocking and every caller already runs it on tokio's blocking pool, so an async driver would
//! only be blocked on again; `postgres` is the synchronous face of `tokio-postgres` (same
//! protocol code, maintained together), and TLS comes from `postgres-native-tls`, the same
//! native-tls the GitHub client uses.
//!
//! How each SQLite guarantee holds across processes (PostgreSQL docs: "The Locking Clause",
//! <https://www.postgresql.org/docs/15/sql-select.html#SQL-FOR-UPDATE-SHARE>, and "Advisory
//! Locks", <https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS>):
//! - a delivery is stored once: `deliveries.id` is the primary key, inserted with
//!   `ON CONFLICT DO NOTHING` (a concurrent insert of the same id waits for the first to commit);
//! - the same analysis merges: enqueue takes a transaction advisory lock on the analysis key
//!   before looking for it, so two replicas storing two deliveries of one push make one job;
//! - a job is claimed once: `FOR UPDATE SKIP LOCKED` picks a row no other claim holds, under a
//!   lease (`claimed_by`, `lease_until`) renewed by the worker's heartbeat; a replica that dies
//!   stops renewing and another claims the job once the lease ends (the database's clock decides,
//!   so replicas' clocks need not agree);
//! - one job runs per pull request: the claim takes a transaction advisory lock on the job's
//!   [`Job::pull_request_key`] and checks that no other job of it is running under a live lease;
//! - the check-run ledger (`check_run`, `annotations_sent`) is a column of the job, as in SQLite.
//!
//! Schema changes are [`MIGRATIONS`], applied in order at start under a session advisory lock so
//! replicas starting together do not race; the list is append-only. Idle workers are woken by
//! `NOTIFY` ([`Queue::listen`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::{Client, Config, Transaction};
use postgres_native_tls::MakeTlsConnector;
use r2d2_postgres::{PostgresConnectionManager, r2d2};

use super::sqlite::{findings_from, findings_json};
use super::{Acknowledgement, Claimed, Delivery, Enqueued, Finished, Job, Queue, QueueError, Wake};

/// The schema, one step per entry, applied in order and recorded in `schema_migrations`.
/// Append only: an entry that shipped is never edited, a change is a new entry.
pub const MIGRATIONS: &[&str] = &[
    // 1: deliveries and jobs, as in SQLite, plus the lease holder. Times are milliseconds since
    // the Unix epoch on the database's clock.
    "CREATE TABLE deliveries (
        id TEXT PRIMARY KEY,
        event TEXT NOT NULL,
        received_at BIGINT NOT NULL
    );
    CREATE TABLE jobs (
        id BIGSERIAL PRIMARY KEY,
        delivery TEXT NOT NULL,
        supersede_key TEXT,
        pr_key TEXT,
        head_sha TEXT,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        run_after BIGINT NOT NULL,
        lease_until BIGINT,
        claimed_by TEXT,
        last_error TEXT,
        created_at BIGINT NOT NULL,
        check_run BIGINT,
        annotations_sent BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX jobs_runnable ON jobs (state, run_after);
    CREATE INDEX jobs_key ON jobs (supersede_key, state);
    CREATE INDEX jobs_pr ON jobs (pr_key, state);
    CREATE INDEX jobs_delivery ON jobs (delivery);",
    // 2: acknowledgements per pull request (issue 12), as in SQLite's second schema step: the
    // error findings of each completed run, and who acknowledged which run. Never pruned.
    "CREATE TABLE run_findings (
        repo TEXT NOT NULL,
        check_run BIGINT NOT NULL,
        pr BIGINT NOT NULL,
        head_sha TEXT NOT NULL,
        findings TEXT NOT NULL,
        recorded_at BIGINT NOT NULL,
        PRIMARY KEY (repo, check_run)
    );
    CREATE TABLE acknowledgements (
        id BIGSERIAL PRIMARY KEY,
        repo TEXT NOT NULL,
        pr BIGINT NOT NULL,
        login TEXT NOT NULL,
        at BIGINT NOT NULL,
        check_run BIGINT NOT NULL,
        head_sha TEXT NOT NULL,
        findings TEXT NOT NULL,
        UNIQUE (repo, check_run, login)
    );
    CREATE INDEX acknowledgements_pr ON acknowledgements (repo, pr);",
];

/// The session advisory lock held while migrating (any constant both sides agree on).
const MIGRATION_LOCK: i64 = 0x0063_6c6f_6262_6572;
/// The `NOTIFY` channel a stored job is announced on.
const CHANNEL: &str = "clobbercheck_jobs";
/// Now on the database's clock, in milliseconds since the Unix epoch.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";
/// How long the workers' operations and the start wait for a connection.
const CONNECTION_WAIT: Duration = Duration::from_secs(10);
/// How long `ping` waits (`/readyz` must answer quickly).
const PING_WAIT: Duration = Duration::from_secs(2);
/// How long a new connection may take before the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the start waits for an unreachable database before giving up.
const START_WAIT: Duration = Duration::from_secs(60);
/// Connections kept per process beyond the workers: deliveries, metrics, readiness.
const SPARE_CONNECTIONS: u32 = 6;

type Pool = r2d2::Pool<PostgresConnectionManager<MakeTlsConnector>>;

/// The PostgreSQL [`Queue`].
pub struct PostgresQueue {
    pool: Pool,
    config: Config,
    tls: MakeTlsConnector,
    /// This process, as recorded in `claimed_by`: host, pid and start time.
    replica: String,
    /// Set on drop: the `LISTEN` thread stops.
    closed: Arc<AtomicBool>,
}

fn db_error(
    operation: &'static str,
    job: Option<i64>,
) -> impl FnOnce(::postgres::Error) -> QueueError {
    move |e| QueueError::Database {
        operation,
        job,
        message: describe(&e),
    }
}

/// The server's message where there is one (the driver's `Display` says only "db error").
fn describe(e: &::postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{e}: {}", db.message()),
        None => e.to_string(),
    }
}

fn pool_error(operation: &'static str, job: Option<i64>) -> impl FnOnce(r2d2::Error) -> QueueError {
    move |e| QueueError::Database {
        operation,
        job,
        message: format!("no database connection: {e}"),
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Reads an `acknowledgements` row selected as
/// `repo, pr, login, at, check_run, head_sha, findings`.
fn acknowledgement_row(row: &::postgres::Row) -> Result<Acknowledgement, QueueError> {
    let pr: i64 = row.get(1);
    let check_run: i64 = row.get(4);
    let findings: String = row.get(6);
    Ok(Acknowledgement {
        repo: row.get(0),
        pr: u64::try_from(pr).unwrap_or(0),
        login: row.get(2),
        at_unix_ms: row.get(3),
        check_run: u64::try_from(check_run).unwrap_or(0),
        head_sha: row.get(5),
        findings: findings_from(&findings)?,
    })
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

impl PostgresQueue {
    /// Connects to `url` (`postgres://user:password@host:port/database?sslmode=require`, or any
    /// form libpq-style `Config` parsing accepts) and applies the pending [`MIGRATIONS`].
    /// `workers` sizes the pool. An unreachable database is waited for up to a minute (replicas
    /// may start before it); `sslmode=require` verifies the server's certificate against the
    /// system's trusted roots.
    ///
    /// Errors: [`QueueError::Open`] naming the URL without its password.
    pub fn open(url: &str, workers: usize) -> Result<Self, QueueError> {
        let open_error = |message: String| QueueError::Open {
            path: redact(url),
            message,
        };
        let mut config: Config = url
            .parse()
            .map_err(|e: ::postgres::Error| open_error(describe(&e)))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("clobbercheck");
        }
        let connector = native_tls::TlsConnector::new().map_err(|e| open_error(e.to_string()))?;
        let tls = MakeTlsConnector::new(connector);
        let manager = PostgresConnectionManager::new(config.clone(), tls.clone());
        let size = u32::try_from(workers)
            .unwrap_or(u32::MAX)
            .saturating_add(SPARE_CONNECTIONS);
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(0))
            .connection_timeout(CONNECTION_WAIT)
            .build_unchecked(manager);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let queue = Self {
            pool,
            config,
            tls,
            replica: format!("{host}:{}:{started}", std::process::id()),
            closed: Arc::new(AtomicBool::new(false)),
        };
        let deadline = Instant::now() + START_WAIT;
        loop {
            match queue.migrate() {
                Ok(()) => return Ok(queue),
                Err(e) if Instant::now() < deadline && e.is_unreachable() => {
                    tracing::warn!(database = %redact(url), error = %e.message, "database unreachable; trying again");
                    std::thread::sleep(Duration::from_secs(1));
                }
                Err(e) => return Err(open_error(e.message)),
            }
        }
    }

    /// This process's name in `claimed_by`.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    fn connection(
        &self,
        wait: Duration,
        operation: &'static str,
        job: Option<i64>,
    ) -> Result<r2d2::PooledConnection<PostgresConnectionManager<MakeTlsConnector>>, QueueError>
    {
        self.pool
            .get_timeout(wait)
            .map_err(pool_error(operation, job))
    }

    /// Applies the migrations this database lacks, holding [`MIGRATION_LOCK`].
    fn migrate(&self) -> Result<(), MigrateError> {
        let mut client = self
            .config
            .connect(self.tls.clone())
            .map_err(MigrateError::connect)?;
        client
            .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .map_err(MigrateError::query)?;
        let applied = apply_migrations(&mut client);
        let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
        applied?;
        unlocked.map_err(MigrateError::query)?;
        Ok(())
    }

    /// One claim attempt, skipping the jobs in `skip` (their pull request was being claimed by
    /// another transaction). `Ok(Err(id))`: job `id` lost that race; try another.
    fn claim_once(
        &self,
        client: &mut Client,
        lease: Duration,
        skip: &[i64],
    ) -> Result<Result<Option<Claimed>, i64>, QueueError> {
        let mut tx = client.transaction().map_err(db_error("claim", None))?;
        let runnable = format!(
            "SELECT id, pr_key FROM jobs AS j
             WHERE ((state = 'queued' AND run_after <= {NOW_MS})
                 OR (state = 'running' AND lease_until < {NOW_MS}))
               AND NOT (id = ANY($1))
               AND (pr_key IS NULL OR NOT EXISTS (
                    SELECT 1 FROM jobs AS other WHERE other.pr_key = j.pr_key
                       AND other.id <> j.id AND other.state = 'running'
                       AND other.lease_until >= {NOW_MS}))
             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
        );
        let Some(row) = tx
            .query_opt(&runnable, &[&skip])
            .map_err(db_error("claim", None))?
        else {
            return Ok(Ok(None));
        };
        let id: i64 = row.get(0);
        let pr_key: Option<String> = row.get(1);
        if let Some(key) = &pr_key {
            // Another claim of the same pull request may be deciding right now; whoever holds
            // this lock first commits its `running` row before the other looks again.
            let free: bool = tx
                .query_one("SELECT pg_try_advisory_xact_lock(hashtext($1))", &[key])
                .map_err(db_error("claim", Some(id)))?
                .get(0);
            let busy = !free
                || tx
                    .query_opt(
                        &format!(
                            "SELECT 1 FROM jobs WHERE pr_key = $1 AND id <> $2
                             AND state = 'running' AND lease_until >= {NOW_MS} LIMIT 1"
                        ),
                        &[key, &id],
                    )
                    .map_err(db_error("claim", Some(id)))?
                    .is_some();
            if busy {
                tx.rollback().map_err(db_error("claim", Some(id)))?;
                return Ok(Err(id));
            }
        }
        let row = tx
            .query_one(
                &format!(
                    "UPDATE jobs SET state = 'running', lease_until = {NOW_MS} + $2,
                     claimed_by = $3, attempts = attempts + 1
                     WHERE id = $1
                     RETURNING delivery, attempts - 1, payload, check_run, annotations_sent"
                ),
                &[&id, &ms(lease), &self.replica],
            )
            .map_err(db_error("claim", Some(id)))?;
        tx.commit().map_err(db_error("claim", Some(id)))?;
        let delivery: String = row.get(0);
        let attempts: i32 = row.get(1);
        let payload: String = row.get(2);
        let check_run: Option<i64> = row.get(3);
        let annotations_sent: i64 = row.get(4);
        let job = serde_json::from_str(&payload).map_err(|e| QueueError::Payload {
            job: id,
            message: e.to_string(),
        })?;
        Ok(Ok(Some(Claimed {
            id,
            delivery,
            attempts: u32::try_from(attempts).unwrap_or(0),
            job,
            check_run: check_run.and_then(|run| u64::try_from(run).ok()),
            annotations_sent: usize::try_from(annotations_sent).unwrap_or(0),
        })))
    }

    /// Runs one statement on a pooled connection; returns the rows it changed.
    fn execute(
        &self,
        operation: &'static str,
        job: Option<i64>,
        sql: &str,
        params: &[&(dyn ::postgres::types::ToSql + Sync)],
    ) -> Result<u64, QueueError> {
        self.connection(CONNECTION_WAIT, operation, job)?
            .execute(sql, params)
            .map_err(db_error(operation, job))
    }
}

impl Drop for PostgresQueue {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

/// Why migrating failed, and whether the database was simply not there (then the start waits).
struct MigrateError {
    message: String,
    unreachable: bool,
}

impl MigrateError {
    fn connect(e: ::postgres::Error) -> Self {
        Self {
            unreachable: e.as_db_error().is_none() || transient(&e),
            message: describe(&e),
        }
    }

    fn query(e: ::postgres::Error) -> Self {
        Self {
            unreachable: e.is_closed() || transient(&e),
            message: describe(&e),
        }
    }

    fn is_unreachable(&self) -> bool {
        self.unreachable
    }
}

/// Whether the server answered but cannot serve yet, or is going away: SQLSTATE class 08
/// (connection exception) and `57P01`–`57P03` (admin or crash shutdown, "the database system is
/// starting up" / "not yet accepting connections"), as PostgreSQL's appendix A lists them. A
/// replica started while PostgreSQL restarts waits for it instead of exiting.
fn transient(e: &::postgres::Error) -> bool {
    use ::postgres::error::SqlState;
    e.code().is_some_and(|code| {
        code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
            ]
            .contains(code)
    })
}

fn apply_migrations(client: &mut Client) -> Result<(), MigrateError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )",
        )
        .map_err(MigrateError::query)?;
    let current: i32 = client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .map_err(MigrateError::query)?
        .get(0);
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        if version <= current {
            continue;
        }
        let mut tx = client.transaction().map_err(MigrateError::query)?;
        tx.batch_execute(sql).map_err(|e| MigrateError {
            unreachable: false,
            message: format!("migration {version}: {}", describe(&e)),
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .map_err(MigrateError::query)?;
        tx.commit().map_err(MigrateError::query)?;
        tracing::info!(version, "database migration applied");
    }
    Ok(())
}

impl Queue for PostgresQueue {
    fn enqueue_batch(
        &self,
        deliveries: &[Delivery],
        wait: Duration,
    ) -> Result<Vec<Enqueued>, QueueError> {
        if deliveries.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.connection(wait, "enqueue", None)?;
        let mut tx = client.transaction().map_err(db_error("enqueue", None))?;
        let stored = enqueue_batch_in(&mut tx, deliveries)?;
        tx.commit().map_err(db_error("enqueue", None))?;
        Ok(stored)
    }

    fn claim(&self, lease: Duration) -> Result<Option<Claimed>, QueueError> {
        let mut client = self.connection(CONNECTION_WAIT, "claim", None)?;
        let mut skip = Vec::new();
        // Each lost race skips one job; a handful bounds the work of one call.
        for _ in 0..8 {
            match self.claim_once(&mut client, lease, &skip)? {
                Ok(claimed) => return Ok(claimed),
                Err(id) => skip.push(id),
            }
        }
        Ok(None)
    }

    fn started_check_run(&self, id: i64, check_run: u64) -> Result<(), QueueError> {
        let run = i64::try_from(check_run).unwrap_or(i64::MAX);
        self.execute(
            "started_check_run",
            Some(id),
            "UPDATE jobs SET check_run = $2 WHERE id = $1",
            &[&id, &run],
        )?;
        Ok(())
    }

    fn sent_annotations(&self, id: i64, count: usize) -> Result<(), QueueError> {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        self.execute(
            "sent_annotations",
            Some(id),
            "UPDATE jobs SET annotations_sent = $2 WHERE id = $1",
            &[&id, &count],
        )?;
        Ok(())
    }

    fn cancel(&self, analysis_key: &str) -> Result<u64, QueueError> {
        self.execute(
            "cancel",
            None,
            "UPDATE jobs SET state = 'superseded'
             WHERE supersede_key = $1 AND state = 'queued' AND check_run IS NULL",
            &[&analysis_key],
        )
    }

    fn heartbeat(&self, id: i64, lease: Duration) -> Result<(), QueueError> {
        self.execute(
            "heartbeat",
            Some(id),
            &format!(
                "UPDATE jobs SET lease_until = {NOW_MS} + $2
                 WHERE id = $1 AND state = 'running' AND claimed_by = $3"
            ),
            &[&id, &ms(lease), &self.replica],
        )?;
        Ok(())
    }

    fn finish(&self, id: i64, how: Finished, error: Option<&str>) -> Result<(), QueueError> {
        let state = match how {
            Finished::Done => "done",
            Finished::Superseded => "superseded",
            Finished::Failed => "failed",
        };
        self.execute(
            "finish",
            Some(id),
            "UPDATE jobs SET state = $2, lease_until = NULL, last_error = $3 WHERE id = $1",
            &[&id, &state, &error],
        )?;
        Ok(())
    }

    fn retry(&self, id: i64, delay: Duration, error: &str) -> Result<(), QueueError> {
        self.execute(
            "retry",
            Some(id),
            &format!(
                "UPDATE jobs SET state = 'queued', lease_until = NULL, claimed_by = NULL,
                 run_after = {NOW_MS} + $2, last_error = $3 WHERE id = $1"
            ),
            &[&id, &ms(delay), &error],
        )?;
        Ok(())
    }

    fn depth(&self) -> Result<u64, QueueError> {
        let n: i64 = self
            .connection(CONNECTION_WAIT, "depth", None)?
            .query_one(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')",
                &[],
            )
            .map_err(db_error("depth", None))?
            .get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn oldest_waiting(&self) -> Result<Option<Duration>, QueueError> {
        let age: Option<i64> = self
            .connection(CONNECTION_WAIT, "oldest_waiting", None)?
            .query_one(
                &format!(
                    "SELECT {NOW_MS} - MIN(created_at) FROM jobs
                     WHERE state = 'queued' AND run_after <= {NOW_MS}"
                ),
                &[],
            )
            .map_err(db_error("oldest_waiting", None))?
            .get(0);
        Ok(age.map(|age| Duration::from_millis(u64::try_from(age).unwrap_or(0))))
    }

    fn ping(&self) -> Result<(), QueueError> {
        self.connection(PING_WAIT, "ping", None)?
            .simple_query("SELECT 1")
            .map_err(db_error("ping", None))?;
        Ok(())
    }

    fn listen(&self, wake: Wake) -> bool {
        let (config, tls, closed) = (
            self.config.clone(),
            self.tls.clone(),
            Arc::clone(&self.closed),
        );
        let spawned = std::thread::Builder::new()
            .name("clobbercheck-listen".into())
            .spawn(move || listen_loop(&config, &tls, &closed, &wake));
        match spawned {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the LISTEN thread; idle workers poll");
                false
            }
        }
    }

    fn record_run_findings(
        &self,
        repo: &str,
        pr: u64,
        head_sha: &str,
        check_run: u64,
        findings: &[String],
    ) -> Result<(), QueueError> {
        self.execute(
            "record_run_findings",
            None,
            &format!(
                "INSERT INTO run_findings (repo, check_run, pr, head_sha, findings, recorded_at)
                 VALUES ($1, $2, $3, $4, $5, {NOW_MS})
                 ON CONFLICT (repo, check_run) DO UPDATE SET pr = $3, head_sha = $4,
                 findings = $5, recorded_at = {NOW_MS}"
            ),
            &[
                &repo,
                &to_i64(check_run),
                &to_i64(pr),
                &head_sha,
                &findings_json(findings),
            ],
        )?;
        Ok(())
    }

    fn acknowledge(
        &self,
        repo: &str,
        check_run: u64,
        login: &str,
    ) -> Result<Option<Acknowledgement>, QueueError> {
        let mut client = self.connection(CONNECTION_WAIT, "acknowledge", None)?;
        // One statement: the insert (or nothing, for a second click) and the row either way.
        let row = client
            .query_opt(
                &format!(
                    "WITH inserted AS (
                         INSERT INTO acknowledgements
                             (repo, pr, login, at, check_run, head_sha, findings)
                         SELECT repo, pr, $3, {NOW_MS}, check_run, head_sha, findings
                         FROM run_findings WHERE repo = $1 AND check_run = $2
                         ON CONFLICT (repo, check_run, login) DO NOTHING
                         RETURNING repo, pr, login, at, check_run, head_sha, findings)
                     SELECT * FROM inserted
                     UNION ALL
                     SELECT repo, pr, login, at, check_run, head_sha, findings
                     FROM acknowledgements WHERE repo = $1 AND check_run = $2 AND login = $3
                     LIMIT 1"
                ),
                &[&repo, &to_i64(check_run), &login],
            )
            .map_err(db_error("acknowledge", None))?;
        row.map(|row| acknowledgement_row(&row)).transpose()
    }

    fn acknowledgements(&self, repo: &str, pr: u64) -> Result<Vec<Acknowledgement>, QueueError> {
        self.connection(CONNECTION_WAIT, "acknowledgements", None)?
            .query(
                "SELECT repo, pr, login, at, check_run, head_sha, findings FROM acknowledgements
                 WHERE repo = $1 AND pr = $2 ORDER BY id",
                &[&repo, &to_i64(pr)],
            )
            .map_err(db_error("acknowledgements", None))?
            .iter()
            .map(acknowledgement_row)
            .collect()
    }

    fn prune(&self, age: Duration) -> Result<u64, QueueError> {
        let mut client = self.connection(CONNECTION_WAIT, "prune", None)?;
        let cutoff_sql = format!("{NOW_MS} - $1");
        let jobs = client
            .execute(
                &format!(
                    "DELETE FROM jobs WHERE state IN ('done', 'superseded', 'failed')
                     AND created_at < {cutoff_sql}"
                ),
                &[&ms(age)],
            )
            .map_err(db_error("prune", None))?;
        let deliveries = client
            .execute(
                &format!(
                    "DELETE FROM deliveries AS d WHERE received_at < {cutoff_sql}
                     AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.delivery = d.id)"
                ),
                &[&ms(age)],
            )
            .map_err(db_error("prune", None))?;
        Ok(jobs + deliveries)
    }
}

/// Stores a batch of deliveries and their jobs inside `tx` in a fixed number of statements, each
/// a round trip (statement by statement, a burst of 200 waited up to 387 ms in `app_bench`), and
/// announces new jobs at commit. Same rules as SQLite's `enqueue_in`, applied in the batch's
/// order: a delivery id seen before (stored, or earlier in the batch) is a duplicate; a job whose
/// analysis is waiting, running or done (stored, or queued earlier in the batch) merges into it,
/// a re-run only into one still waiting.
fn enqueue_batch_in(
    tx: &mut Transaction<'_>,
    deliveries: &[Delivery],
) -> Result<Vec<Enqueued>, QueueError> {
    // Two replicas storing deliveries of one analysis take turns on its lock, so the second
    // sees the first's job; keys in one order, so two batches never wait for each other in a
    // cycle (which PostgreSQL would end by failing one). `unnest` yields the array's order.
    let mut keys: Vec<String> = deliveries
        .iter()
        .flat_map(|d| d.jobs.iter().filter_map(Job::analysis_key))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    if !keys.is_empty() {
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext(k)) FROM unnest($1::text[]) AS k",
            &[&keys],
        )
        .map_err(db_error("enqueue", None))?;
    }
    // Each id once (its first delivery's event), sorted: two replicas inserting the same ids
    // wait for each other's rows in one order too.
    let mut firsts: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    for d in deliveries {
        firsts.entry(d.id.as_str()).or_insert(d.event.as_str());
    }
    let (ids, events): (Vec<&str>, Vec<&str>) = firsts.into_iter().unzip();
    let new: std::collections::HashSet<String> = tx
        .query(
            &format!(
                "INSERT INTO deliveries (id, event, received_at)
                 SELECT id, event, {NOW_MS} FROM unnest($1::text[], $2::text[]) AS d(id, event)
                 ON CONFLICT (id) DO NOTHING RETURNING id"
            ),
            &[&ids, &events],
        )
        .map_err(db_error("enqueue", None))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    // The states the batch's analyses already have.
    let mut existing: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    if !keys.is_empty() {
        for row in tx
            .query(
                "SELECT supersede_key, state FROM jobs WHERE supersede_key = ANY($1)
                   AND state IN ('queued', 'running', 'done')",
                &[&keys],
            )
            .map_err(db_error("enqueue", None))?
        {
            existing.entry(row.get(0)).or_default().push(row.get(1));
        }
    }
    let mut answers = Vec::with_capacity(deliveries.len());
    let mut seen = std::collections::HashSet::new();
    let mut queued_keys = std::collections::HashSet::new();
    let mut rows: [Vec<Option<String>>; 5] = Default::default();
    for d in deliveries {
        if !seen.insert(d.id.as_str()) || !new.contains(&d.id) {
            answers.push(Enqueued::Duplicate);
            continue;
        }
        let mut queued = 0;
        for job in &d.jobs {
            let key = job.analysis_key();
            if let Some(key) = &key {
                let states = existing.get(key).map(Vec::as_slice).unwrap_or_default();
                let merged = queued_keys.contains(key)
                    || if job.is_rerun() {
                        states.iter().any(|s| s == "queued")
                    } else {
                        !states.is_empty()
                    };
                if merged {
                    continue;
                }
                queued_keys.insert(key.clone());
            }
            let payload = serde_json::to_string(job).map_err(|e| QueueError::Database {
                operation: "enqueue",
                job: None,
                message: e.to_string(),
            })?;
            rows[0].push(Some(d.id.clone()));
            rows[1].push(key);
            rows[2].push(job.pull_request_key());
            rows[3].push(job.head_sha().map(String::from));
            rows[4].push(Some(payload));
            queued += 1;
        }
        answers.push(Enqueued::Queued { jobs: queued });
    }
    if !rows[0].is_empty() {
        // Ids in the batch's order: workers claim the oldest first.
        tx.execute(
            &format!(
                "INSERT INTO jobs (delivery, supersede_key, pr_key, head_sha, payload, state,
                     run_after, created_at)
                 SELECT j.delivery, j.key, j.pr_key, j.head_sha, j.payload, 'queued',
                     {NOW_MS}, {NOW_MS}
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                     WITH ORDINALITY AS j(delivery, key, pr_key, head_sha, payload, n)
                 ORDER BY j.n"
            ),
            &[&rows[0], &rows[1], &rows[2], &rows[3], &rows[4]],
        )
        .map_err(db_error("enqueue", None))?;
        tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL])
            .map_err(db_error("enqueue", None))?;
    }
    Ok(answers)
}

/// Holds a connection that `LISTEN`s on [`CHANNEL`] and calls `wake` on each notification;
/// reconnects (and wakes, for what it may have missed) after the database went away. Ends when
/// the queue is dropped.
fn listen_loop(config: &Config, tls: &MakeTlsConnector, closed: &AtomicBool, wake: &Wake) {
    let mut backoff = Duration::from_millis(250);
    while !closed.load(Ordering::SeqCst) {
        let connected = config.connect(tls.clone()).and_then(|mut client| {
            client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
            Ok(client)
        });
        let mut client = match connected {
            Ok(client) => client,
            Err(e) => {
                tracing::debug!(error = %describe(&e), "LISTEN connection failed; trying again");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        backoff = Duration::from_millis(250);
        wake();
        while !closed.load(Ordering::SeqCst) {
            let mut woke = false;
            match client
                .notifications()
                .timeout_iter(Duration::from_secs(1))
                .next()
            {
                Ok(Some(_)) => woke = true,
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = %describe(&e), "LISTEN connection lost");
                    break;
                }
            }
            // Drain what else arrived, waking once for all of it.
            while let Ok(Some(_)) = client.notifications().iter().next() {
                woke = true;
            }
            if woke {
                wake();
            }
            if client.is_closed() {
                break;
            }
        }
    }
}
