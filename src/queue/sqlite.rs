//! The embedded queue: one SQLite database file in the data directory.
//!
//! WAL journal with `synchronous=FULL`, so a delivery answered 202 is on disk. One server owns
//! the file: opening it returns jobs left `running` by a killed process to the queue at once
//! (a shared backend would rely on lease expiry instead).
//!
//! Deliveries are stored through their own connection, which waits at most the wait it is
//! given ([`super::DELIVERY_WAIT`] from the webhook) for a database locked by another process:
//! the webhook then answers 503 while GitHub still listens (it gives up after 10 s), instead of
//! queueing behind workers.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::{
    Acknowledgement, Claimed, DELIVERY_WAIT, Delivery, Enqueued, Finished, Job, Queue, QueueError,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery TEXT NOT NULL,
    supersede_key TEXT,
    head_sha TEXT,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    run_after INTEGER NOT NULL,
    lease_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    check_run INTEGER,
    annotations_sent INTEGER NOT NULL DEFAULT 0,
    pr_key TEXT
);
CREATE INDEX IF NOT EXISTS jobs_runnable ON jobs (state, run_after);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs (supersede_key, state);
";

/// The second schema step (issue 12): acknowledgements per pull request, and the error findings
/// of each completed run an Acknowledge click refers to. Appended, never merged into [`SCHEMA`],
/// so databases of either age reach the same tables.
const ACKNOWLEDGEMENT_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS run_findings (
    repo TEXT NOT NULL,
    check_run INTEGER NOT NULL,
    pr INTEGER NOT NULL,
    head_sha TEXT NOT NULL,
    findings TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (repo, check_run)
);
CREATE TABLE IF NOT EXISTS acknowledgements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo TEXT NOT NULL,
    pr INTEGER NOT NULL,
    login TEXT NOT NULL,
    at INTEGER NOT NULL,
    check_run INTEGER NOT NULL,
    head_sha TEXT NOT NULL,
    findings TEXT NOT NULL,
    UNIQUE (repo, check_run, login)
);
CREATE INDEX IF NOT EXISTS acknowledgements_pr ON acknowledgements (repo, pr);
";

/// How long the workers' operations wait for a locked database (they have no deadline but their
/// lease).
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// The SQLite [`Queue`].
pub struct SqliteQueue {
    conn: Mutex<Connection>,
    /// Stores deliveries only, so the webhook never waits behind a worker's operation.
    deliveries: Mutex<Connection>,
    /// Cancels a destroyed merge group's jobs, so a delivery never waits behind a cancellation
    /// that waits for a locked database (a `Mutex` wait has no deadline).
    cancels: Mutex<Connection>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The stored form of a run's finding keys: a JSON array, sorted, each once (shared with the
/// PostgreSQL queue).
pub(super) fn findings_json(findings: &[String]) -> String {
    let mut sorted = findings.to_vec();
    sorted.sort();
    sorted.dedup();
    serde_json::Value::from(sorted).to_string()
}

/// Reads what [`findings_json`] stored.
pub(super) fn findings_from(text: &str) -> Result<Vec<String>, QueueError> {
    serde_json::from_str(text).map_err(|e| QueueError::Database {
        operation: "acknowledgements",
        job: None,
        message: format!("stored findings are unreadable: {e}"),
    })
}

/// Reads an `acknowledgements` row selected as
/// `repo, pr, login, at, check_run, head_sha, findings`.
fn acknowledgement_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Acknowledgement, String)> {
    let pr: i64 = row.get(1)?;
    let check_run: i64 = row.get(4)?;
    Ok((
        Acknowledgement {
            repo: row.get(0)?,
            pr: u64::try_from(pr).unwrap_or(0),
            login: row.get(2)?,
            at_unix_ms: row.get(3)?,
            check_run: u64::try_from(check_run).unwrap_or(0),
            head_sha: row.get(5)?,
            findings: Vec::new(),
        },
        row.get(6)?,
    ))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn db_error(
    operation: &'static str,
    job: Option<i64>,
) -> impl FnOnce(rusqlite::Error) -> QueueError {
    move |e| QueueError::Database {
        operation,
        job,
        message: e.to_string(),
    }
}

impl SqliteQueue {
    /// Opens (creating if needed) the database at `path` and returns interrupted jobs to the
    /// queue.
    pub fn open(path: &Path) -> Result<Self, QueueError> {
        let open_error = |e: rusqlite::Error| QueueError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let connect = |busy: Duration| {
            let conn = Connection::open(path)?;
            conn.busy_timeout(busy)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            Ok::<_, rusqlite::Error>(conn)
        };
        let conn = connect(BUSY_WAIT).map_err(open_error)?;
        conn.execute_batch(SCHEMA).map_err(open_error)?;
        // Columns added since the first schema, added in place to a database that lacks them.
        for (column, declaration) in [
            ("check_run", "INTEGER"),
            ("annotations_sent", "INTEGER NOT NULL DEFAULT 0"),
            ("pr_key", "TEXT"),
        ] {
            let has: bool = conn
                .query_row(
                    "SELECT COUNT(*) > 0 FROM pragma_table_info('jobs') WHERE name = ?1",
                    params![column],
                    |row| row.get(0),
                )
                .map_err(open_error)?;
            if !has {
                conn.execute(
                    &format!("ALTER TABLE jobs ADD COLUMN {column} {declaration}"),
                    [],
                )
                .map_err(open_error)?;
            }
        }
        conn.execute_batch(ACKNOWLEDGEMENT_SCHEMA)
            .map_err(open_error)?;
        conn.execute(
            "UPDATE jobs SET state = 'queued', lease_until = NULL WHERE state = 'running'",
            [],
        )
        .map_err(open_error)?;
        let deliveries = connect(DELIVERY_WAIT).map_err(open_error)?;
        let cancels = connect(DELIVERY_WAIT).map_err(open_error)?;
        Ok(Self {
            conn: Mutex::new(conn),
            deliveries: Mutex::new(deliveries),
            cancels: Mutex::new(cancels),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Queue for SqliteQueue {
    fn enqueue_batch(
        &self,
        deliveries: &[Delivery],
        wait: Duration,
    ) -> Result<Vec<Enqueued>, QueueError> {
        let asked = std::time::Instant::now();
        let mut conn = self.deliveries.lock().unwrap_or_else(|p| p.into_inner());
        // The wait for the connection (a cancellation holding it) counts against `wait`.
        conn.busy_timeout(wait.saturating_sub(asked.elapsed()))
            .map_err(db_error("enqueue", None))?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error("enqueue", None))?;
        let mut stored = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            stored.push(enqueue_in(&tx, &d.id, &d.event, &d.jobs)?);
        }
        tx.commit().map_err(db_error("enqueue", None))?;
        Ok(stored)
    }

    fn claim(&self, lease: Duration) -> Result<Option<Claimed>, QueueError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error("claim", None))?;
        let now = now_ms();
        type Row = (i64, String, u32, String, Option<i64>, i64);
        let row: Option<Row> = tx
            .query_row(
                "SELECT id, delivery, attempts, payload, check_run, annotations_sent FROM jobs
                 WHERE ((state = 'queued' AND run_after <= ?1)
                    OR (state = 'running' AND lease_until < ?1))
                   AND (pr_key IS NULL OR NOT EXISTS (
                        SELECT 1 FROM jobs AS other WHERE other.pr_key = jobs.pr_key
                           AND other.id <> jobs.id AND other.state = 'running'
                           AND other.lease_until >= ?1))
                 ORDER BY id LIMIT 1",
                params![now],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                },
            )
            .optional()
            .map_err(db_error("claim", None))?;
        let Some((id, delivery, attempts, payload, check_run, annotations_sent)) = row else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE jobs SET state = 'running', lease_until = ?2, attempts = attempts + 1
             WHERE id = ?1",
            params![id, now + ms(lease)],
        )
        .map_err(db_error("claim", Some(id)))?;
        tx.commit().map_err(db_error("claim", Some(id)))?;
        let job = serde_json::from_str(&payload).map_err(|e| QueueError::Payload {
            job: id,
            message: e.to_string(),
        })?;
        Ok(Some(Claimed {
            id,
            delivery,
            attempts,
            job,
            check_run: check_run.and_then(|run| u64::try_from(run).ok()),
            annotations_sent: usize::try_from(annotations_sent).unwrap_or(0),
        }))
    }

    fn started_check_run(&self, id: i64, check_run: u64) -> Result<(), QueueError> {
        self.lock()
            .execute(
                "UPDATE jobs SET check_run = ?2 WHERE id = ?1",
                params![id, i64::try_from(check_run).unwrap_or(i64::MAX)],
            )
            .map_err(db_error("started_check_run", Some(id)))?;
        Ok(())
    }

    fn sent_annotations(&self, id: i64, count: usize) -> Result<(), QueueError> {
        self.lock()
            .execute(
                "UPDATE jobs SET annotations_sent = ?2 WHERE id = ?1",
                params![id, i64::try_from(count).unwrap_or(i64::MAX)],
            )
            .map_err(db_error("sent_annotations", Some(id)))?;
        Ok(())
    }

    fn cancel(&self, analysis_key: &str) -> Result<u64, QueueError> {
        // A webhook waits for this (merge group destroyed): a connection of the webhook's, with
        // what is left of the delivery's wait, not a worker's 10 s.
        let arrived = std::time::Instant::now();
        let conn = self.cancels.lock().unwrap_or_else(|p| p.into_inner());
        conn.busy_timeout(DELIVERY_WAIT.saturating_sub(arrived.elapsed()))
            .map_err(db_error("cancel", None))?;
        let n = conn
            .execute(
                "UPDATE jobs SET state = 'superseded'
                 WHERE supersede_key = ?1 AND state = 'queued' AND check_run IS NULL",
                params![analysis_key],
            )
            .map_err(db_error("cancel", None))?;
        Ok(n as u64)
    }

    fn heartbeat(&self, id: i64, lease: Duration) -> Result<(), QueueError> {
        self.lock()
            .execute(
                "UPDATE jobs SET lease_until = ?2 WHERE id = ?1 AND state = 'running'",
                params![id, now_ms() + ms(lease)],
            )
            .map_err(db_error("heartbeat", Some(id)))?;
        Ok(())
    }

    fn finish(&self, id: i64, how: Finished, error: Option<&str>) -> Result<(), QueueError> {
        let state = match how {
            Finished::Done => "done",
            Finished::Superseded => "superseded",
            Finished::Failed => "failed",
        };
        self.lock()
            .execute(
                "UPDATE jobs SET state = ?2, lease_until = NULL, last_error = ?3 WHERE id = ?1",
                params![id, state, error],
            )
            .map_err(db_error("finish", Some(id)))?;
        Ok(())
    }

    fn retry(&self, id: i64, delay: Duration, error: &str) -> Result<(), QueueError> {
        self.lock()
            .execute(
                "UPDATE jobs SET state = 'queued', lease_until = NULL, run_after = ?2,
                 last_error = ?3 WHERE id = ?1",
                params![id, now_ms() + ms(delay), error],
            )
            .map_err(db_error("retry", Some(id)))?;
        Ok(())
    }

    fn depth(&self) -> Result<u64, QueueError> {
        let n: i64 = self
            .lock()
            .query_row(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')",
                [],
                |row| row.get(0),
            )
            .map_err(db_error("depth", None))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn oldest_waiting(&self) -> Result<Option<Duration>, QueueError> {
        let now = now_ms();
        let oldest: Option<i64> = self
            .lock()
            .query_row(
                "SELECT MIN(created_at) FROM jobs WHERE state = 'queued' AND run_after <= ?1",
                params![now],
                |row| row.get(0),
            )
            .map_err(db_error("oldest_waiting", None))?;
        Ok(oldest.map(|created| Duration::from_millis(u64::try_from(now - created).unwrap_or(0))))
    }

    fn ping(&self) -> Result<(), QueueError> {
        self.lock()
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(db_error("ping", None))
    }

    fn listen(&self, _wake: super::Wake) -> bool {
        false
    }

    fn record_run_findings(
        &self,
        repo: &str,
        pr: u64,
        head_sha: &str,
        check_run: u64,
        findings: &[String],
    ) -> Result<(), QueueError> {
        self.lock()
            .execute(
                "INSERT INTO run_findings (repo, check_run, pr, head_sha, findings, recorded_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (repo, check_run) DO UPDATE SET pr = ?3, head_sha = ?4,
                 findings = ?5, recorded_at = ?6",
                params![
                    repo,
                    to_i64(check_run),
                    to_i64(pr),
                    head_sha,
                    findings_json(findings),
                    now_ms()
                ],
            )
            .map_err(db_error("record_run_findings", None))?;
        Ok(())
    }

    fn acknowledge(
        &self,
        repo: &str,
        check_run: u64,
        login: &str,
    ) -> Result<Option<Acknowledgement>, QueueError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error("acknowledge", None))?;
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO acknowledgements
                 (repo, pr, login, at, check_run, head_sha, findings)
                 SELECT repo, pr, ?3, ?4, check_run, head_sha, findings FROM run_findings
                 WHERE repo = ?1 AND check_run = ?2",
                params![repo, to_i64(check_run), login, now_ms()],
            )
            .map_err(db_error("acknowledge", None))?;
        let row = tx
            .query_row(
                "SELECT repo, pr, login, at, check_run, head_sha, findings FROM acknowledgements
                 WHERE repo = ?1 AND check_run = ?2 AND login = ?3",
                params![repo, to_i64(check_run), login],
                acknowledgement_row,
            )
            .optional()
            .map_err(db_error("acknowledge", None))?;
        tx.commit().map_err(db_error("acknowledge", None))?;
        tracing::debug!(repo, check_run, login, inserted, "acknowledgement stored");
        row.map(|(ack, findings)| {
            Ok(Acknowledgement {
                findings: findings_from(&findings)?,
                ..ack
            })
        })
        .transpose()
    }

    fn acknowledgements(&self, repo: &str, pr: u64) -> Result<Vec<Acknowledgement>, QueueError> {
        let conn = self.lock();
        let mut statement = conn
            .prepare(
                "SELECT repo, pr, login, at, check_run, head_sha, findings FROM acknowledgements
                 WHERE repo = ?1 AND pr = ?2 ORDER BY id",
            )
            .map_err(db_error("acknowledgements", None))?;
        let rows = statement
            .query_map(params![repo, to_i64(pr)], acknowledgement_row)
            .map_err(db_error("acknowledgements", None))?;
        let mut acknowledgements = Vec::new();
        for row in rows {
            let (ack, findings) = row.map_err(db_error("acknowledgements", None))?;
            acknowledgements.push(Acknowledgement {
                findings: findings_from(&findings)?,
                ..ack
            });
        }
        Ok(acknowledgements)
    }

    fn prune(&self, age: Duration) -> Result<u64, QueueError> {
        let cutoff = now_ms() - ms(age);
        let conn = self.lock();
        let jobs = conn
            .execute(
                "DELETE FROM jobs WHERE state IN ('done', 'superseded', 'failed')
                 AND created_at < ?1",
                params![cutoff],
            )
            .map_err(db_error("prune", None))?;
        let deliveries = conn
            .execute(
                "DELETE FROM deliveries WHERE received_at < ?1
                 AND id NOT IN (SELECT delivery FROM jobs)",
                params![cutoff],
            )
            .map_err(db_error("prune", None))?;
        Ok((jobs + deliveries) as u64)
    }
}

/// Stores one delivery and its jobs inside `tx`.
fn enqueue_in(
    tx: &Transaction<'_>,
    delivery: &str,
    event: &str,
    jobs: &[Job],
) -> Result<Enqueued, QueueError> {
    let now = now_ms();
    let inserted = tx
        .execute(
            "INSERT OR IGNORE INTO deliveries (id, event, received_at) VALUES (?1, ?2, ?3)",
            params![delivery, event, now],
        )
        .map_err(db_error("enqueue", None))?;
    if inserted == 0 {
        return Ok(Enqueued::Duplicate);
    }
    let mut queued = 0;
    for job in jobs {
        let key = job.analysis_key();
        let head = job.head_sha();
        if let Some(key) = &key {
            // The same analysis waiting, running or done is this one (a `synchronize` and the
            // `check_suite` of the same push); a re-run wants a new one unless one still waits.
            let merged_into = if job.is_rerun() {
                "SELECT id FROM jobs WHERE supersede_key = ?1 AND state = 'queued' LIMIT 1"
            } else {
                "SELECT id FROM jobs WHERE supersede_key = ?1
                     AND state IN ('queued', 'running', 'done') LIMIT 1"
            };
            let existing: Option<i64> = tx
                .query_row(merged_into, params![key], |row| row.get(0))
                .optional()
                .map_err(db_error("enqueue", None))?;
            if existing.is_some() {
                continue;
            }
        }
        let payload = serde_json::to_string(job).map_err(|e| QueueError::Database {
            operation: "enqueue",
            job: None,
            message: e.to_string(),
        })?;
        tx.execute(
            "INSERT INTO jobs (delivery, supersede_key, head_sha, payload, state, run_after,
                 created_at, pr_key) VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?5, ?6)",
            params![delivery, key, head, payload, now, job.pull_request_key()],
        )
        .map_err(db_error("enqueue", None))?;
        queued += 1;
    }
    Ok(Enqueued::Queued { jobs: queued })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::PullRequestJob;

    fn pr(number: u64, head: &str) -> Job {
        Job::Analyze(PullRequestJob {
            aliases: Vec::new(),
            repo: "o/r".into(),
            clone_url: "http://x/o/r.git".into(),
            installation_id: 1,
            number,
            base_sha: "b".into(),
            base_ref: "main".into(),
            head_sha: head.into(),
            head_ref: "feature".into(),
            fork: false,
            rerun: false,
        })
    }

    fn queue() -> (tempfile::TempDir, SqliteQueue) {
        let dir = tempfile::tempdir().unwrap();
        let q = SqliteQueue::open(&dir.path().join("queue.db")).unwrap();
        (dir, q)
    }

    #[test]
    fn interrupted_job_is_claimed_again_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        {
            let q = SqliteQueue::open(&path).unwrap();
            q.enqueue("d1", "pull_request", &[pr(1, "a")]).unwrap();
            q.claim(Duration::from_secs(600)).unwrap().unwrap();
            assert!(q.claim(Duration::from_secs(600)).unwrap().is_none());
        }
        let q = SqliteQueue::open(&path).unwrap();
        let again = q.claim(Duration::from_secs(600)).unwrap().unwrap();
        assert_eq!(again.attempts, 1);
    }

    #[test]
    fn the_started_check_run_is_remembered_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        {
            let q = SqliteQueue::open(&path).unwrap();
            q.enqueue("d1", "pull_request", &[pr(1, "a")]).unwrap();
            let first = q.claim(Duration::from_secs(600)).unwrap().unwrap();
            assert_eq!(first.check_run, None);
            q.started_check_run(first.id, 42).unwrap();
            q.sent_annotations(first.id, 150).unwrap();
        }
        let q = SqliteQueue::open(&path).unwrap();
        let again = q.claim(Duration::from_secs(600)).unwrap().unwrap();
        assert_eq!((again.check_run, again.annotations_sent), (Some(42), 150));
    }

    #[test]
    fn a_database_of_the_previous_schema_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        let previous = SCHEMA.replace(
            ",\n    check_run INTEGER,\n    annotations_sent INTEGER NOT NULL DEFAULT 0,\n    pr_key TEXT",
            "",
        );
        assert!(!previous.contains("check_run"));
        let old = Connection::open(&path).unwrap();
        old.execute_batch(&previous).unwrap();
        old.execute(
            "INSERT INTO jobs (delivery, payload, state, run_after, created_at)
             VALUES ('d0', ?1, 'queued', 0, 0)",
            params![serde_json::to_string(&pr(9, "z")).unwrap()],
        )
        .unwrap();
        drop(old);
        let q = SqliteQueue::open(&path).unwrap();
        let claimed = q.claim(Duration::from_secs(60)).unwrap().unwrap();
        assert_eq!((claimed.job, claimed.check_run), (pr(9, "z"), None));
        q.started_check_run(claimed.id, 7).unwrap();
        q.sent_annotations(claimed.id, 50).unwrap();
    }

    #[test]
    fn deliveries_give_up_on_a_locked_database_before_github_does() {
        let (dir, q) = queue();
        let q = std::sync::Arc::new(q);
        let locker = Connection::open(dir.path().join("queue.db")).unwrap();
        locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
        // A delivery arriving while another waits for the lock waits for the connection, and
        // that wait counts against its own: none waits longer than DELIVERY_WAIT in all.
        let threads: Vec<_> = (0..8u64)
            .map(|i| {
                let q = std::sync::Arc::clone(&q);
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(500 * i));
                    let started = std::time::Instant::now();
                    let err = q
                        .enqueue(&format!("d{i}"), "pull_request", &[pr(i, "a")])
                        .unwrap_err()
                        .to_string();
                    (started.elapsed(), err)
                })
            })
            .collect();
        for thread in threads {
            let (waited, err) = thread.join().unwrap();
            assert!(err.contains("locked"), "{err}");
            assert!(
                waited < DELIVERY_WAIT + Duration::from_millis(500),
                "{waited:?}"
            );
        }
        locker.execute_batch("ROLLBACK").unwrap();
        assert_eq!(
            q.enqueue("d1", "pull_request", &[pr(1, "a")]).unwrap(),
            Enqueued::Queued { jobs: 1 }
        );
    }

    fn keys(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn acknowledgements_survive_a_restart_and_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        {
            let q = SqliteQueue::open(&path).unwrap();
            q.record_run_findings("o/r", 7, "h1", 100, &keys(&["a y"]))
                .unwrap();
            q.acknowledge("o/r", 100, "alice").unwrap().unwrap();
            q.prune(Duration::ZERO).unwrap();
        }
        let q = SqliteQueue::open(&path).unwrap();
        let all = q.acknowledgements("o/r", 7).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].findings, keys(&["a y"]));
        // The run's findings are kept too: its button still works after the restart.
        assert_eq!(q.acknowledge("o/r", 100, "bob").unwrap().unwrap().pr, 7);
    }

    #[test]
    fn a_database_without_acknowledgement_tables_gets_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(SCHEMA).unwrap();
        drop(old);
        let q = SqliteQueue::open(&path).unwrap();
        q.record_run_findings("o/r", 7, "h1", 100, &keys(&["a y"]))
            .unwrap();
        assert!(q.acknowledge("o/r", 100, "alice").unwrap().is_some());
    }
}
