//! The queue's behaviour, the same tests against both backends: SQLite (a file in a temporary
//! directory) and PostgreSQL (a throwaway server, `tests/common/postgres.rs`; SKIPPED where none
//! is installed). `both_backends!` generates `sqlite::<test>` and `postgres::<test>` from each
//! test function, which takes a [`Fixture`]: the queue, and a way to open another handle on the
//! same queue as a second replica would.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clobbercheck::queue::{
    DELIVERY_WAIT, Delivery, Enqueued, Finished, Job, PostgresQueue, PullRequestJob, Queue,
    SqliteQueue,
};
use common::postgres::PgServer;

/// One backend's queue for one test.
struct Fixture {
    queue: Arc<dyn Queue>,
    /// Opens another handle on the same queue (another replica for PostgreSQL; the same handle
    /// for SQLite, which one process owns).
    reopen: Box<dyn Fn() -> Arc<dyn Queue>>,
    /// Whether a second handle is a separate process's view (PostgreSQL).
    shared: bool,
    /// Keeps the temporary directory or server alive.
    _keep: Box<dyn std::any::Any>,
}

impl Fixture {
    fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let queue: Arc<dyn Queue> =
            Arc::new(SqliteQueue::open(&dir.path().join("queue.db")).unwrap());
        let same = Arc::clone(&queue);
        Fixture {
            queue,
            reopen: Box::new(move || Arc::clone(&same)),
            shared: false,
            _keep: Box::new(dir),
        }
    }

    fn postgres(test: &str) -> Option<Fixture> {
        let server = PgServer::start(test)?;
        let url = server.database("queue");
        let queue: Arc<dyn Queue> = Arc::new(PostgresQueue::open(&url, 2).unwrap());
        Some(Fixture {
            queue,
            reopen: Box::new(move || Arc::new(PostgresQueue::open(&url, 2).unwrap())),
            shared: true,
            _keep: Box::new(server),
        })
    }
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name(super::Fixture::sqlite());
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                if let Some(fixture) = super::Fixture::postgres(concat!("postgres::", stringify!($name))) {
                    super::$name(fixture);
                }
            })*
        }
    };
}

both_backends!(
    redelivery_is_stored_once,
    concurrent_deliveries_are_all_stored_and_a_redelivery_in_the_same_burst_once,
    a_batch_answers_each_delivery_in_order,
    batches_of_two_replicas_sharing_analyses_all_store,
    the_same_analysis_merges_and_no_delivery_supersedes_another_head,
    cancel_ends_only_waiting_jobs_of_the_key,
    prune_forgets_only_old_finished_work,
    retry_waits_for_its_delay,
    a_job_whose_lease_ran_out_is_claimed_again_with_its_ledger,
    a_heartbeat_keeps_the_job,
    one_job_runs_per_pull_request,
    concurrent_claims_hand_each_job_out_once,
    the_oldest_waiting_job_is_measured,
    the_database_answers_a_ping,
    a_queued_job_wakes_listeners,
    an_acknowledgement_records_the_clicked_runs_findings_for_its_pull_request,
    a_run_without_recorded_findings_cannot_be_acknowledged,
    recording_a_run_again_replaces_its_findings,
    acknowledgements_survive_pruning,
);

const MINUTE: Duration = Duration::from_secs(60);

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

fn rerun(job: Job) -> Job {
    match job {
        Job::Analyze(pr) => Job::Analyze(PullRequestJob { rerun: true, ..pr }),
        other => other,
    }
}

fn redelivery_is_stored_once(f: Fixture) {
    let q = &f.queue;
    assert_eq!(
        q.enqueue("d1", "pull_request", &[pr(1, "a")]).unwrap(),
        Enqueued::Queued { jobs: 1 }
    );
    // Another replica receiving the redelivery stores nothing either.
    let other = (f.reopen)();
    assert_eq!(
        other.enqueue("d1", "pull_request", &[pr(1, "a")]).unwrap(),
        Enqueued::Duplicate
    );
    assert_eq!(q.depth().unwrap(), 1);
}

fn concurrent_deliveries_are_all_stored_and_a_redelivery_in_the_same_burst_once(f: Fixture) {
    let queues = [Arc::clone(&f.queue), (f.reopen)()];
    let threads: Vec<_> = (0..40u64)
        .map(|i| {
            let q = Arc::clone(&queues[(i % 2) as usize]);
            std::thread::spawn(move || {
                let delivery = format!("d{}", i % 20);
                q.enqueue(&delivery, "pull_request", &[pr(i % 20, "a")])
                    .unwrap()
            })
        })
        .collect();
    let results: Vec<Enqueued> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let duplicates = results
        .iter()
        .filter(|r| **r == Enqueued::Duplicate)
        .count();
    assert_eq!(duplicates, 20);
    assert_eq!(f.queue.depth().unwrap(), 20);
}

fn delivery(id: &str, jobs: Vec<Job>) -> Delivery {
    Delivery {
        id: id.into(),
        event: "pull_request".into(),
        jobs,
    }
}

fn a_batch_answers_each_delivery_in_order(f: Fixture) {
    let q = &f.queue;
    q.enqueue("d0", "pull_request", &[pr(9, "z")]).unwrap();
    let batch = [
        delivery("d1", vec![pr(1, "a")]),
        // The same analysis as d1's, earlier in the same batch: merged into it.
        delivery("d2", vec![pr(1, "a")]),
        // A redelivery of a stored delivery, and of one earlier in the batch.
        delivery("d0", vec![pr(9, "z")]),
        delivery("d1", vec![pr(1, "a")]),
        delivery("d3", vec![pr(2, "a"), pr(3, "a")]),
    ];
    assert_eq!(
        q.enqueue_batch(&batch, DELIVERY_WAIT).unwrap(),
        [
            Enqueued::Queued { jobs: 1 },
            Enqueued::Queued { jobs: 0 },
            Enqueued::Duplicate,
            Enqueued::Duplicate,
            Enqueued::Queued { jobs: 2 },
        ]
    );
    assert_eq!(q.depth().unwrap(), 4);
    assert!(q.enqueue_batch(&[], DELIVERY_WAIT).unwrap().is_empty());
}

/// Two replicas storing batches that hold the same analyses in opposite orders, many times at
/// once: each batch stores (none fails on a lock cycle) and each analysis makes one job.
fn batches_of_two_replicas_sharing_analyses_all_store(f: Fixture) {
    let queues = [Arc::clone(&f.queue), (f.reopen)()];
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let q = Arc::clone(&queues[(t % 2) as usize]);
            std::thread::spawn(move || {
                for round in 0..10u64 {
                    let mut batch: Vec<Delivery> = (0..6u64)
                        .map(|n| delivery(&format!("t{t}-r{round}-n{n}"), vec![pr(n, "a")]))
                        .collect();
                    if t % 2 == 1 {
                        batch.reverse();
                    }
                    let stored = q.enqueue_batch(&batch, DELIVERY_WAIT).unwrap();
                    assert_eq!(stored.len(), 6);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(f.queue.depth().unwrap(), 6);
}

fn the_same_analysis_merges_and_no_delivery_supersedes_another_head(f: Fixture) {
    let q = &f.queue;
    // A late delivery of an older head must not take the real head's job away.
    q.enqueue("d1", "pull_request", &[pr(1, "b")]).unwrap();
    assert_eq!(
        q.enqueue("d2", "pull_request", &[pr(1, "a")]).unwrap(),
        Enqueued::Queued { jobs: 1 }
    );
    // The `check_suite` of the same push describes the same analysis, even once it ran.
    let first = q.claim(MINUTE).unwrap().unwrap();
    assert_eq!(first.job, pr(1, "b"));
    q.finish(first.id, Finished::Done, None).unwrap();
    assert_eq!(
        q.enqueue("d3", "check_suite", &[pr(1, "b")]).unwrap(),
        Enqueued::Queued { jobs: 0 }
    );
    // A re-run of it is a new analysis, once.
    assert_eq!(
        q.enqueue("d4", "check_run", &[rerun(pr(1, "b"))]).unwrap(),
        Enqueued::Queued { jobs: 1 }
    );
    assert_eq!(
        q.enqueue("d5", "check_run", &[rerun(pr(1, "b"))]).unwrap(),
        Enqueued::Queued { jobs: 0 }
    );
    let second = q.claim(MINUTE).unwrap().unwrap();
    assert_eq!(second.job, pr(1, "a"));
    q.finish(second.id, Finished::Superseded, None).unwrap();
    let third = q.claim(MINUTE).unwrap().unwrap();
    assert_eq!(third.job, rerun(pr(1, "b")));
    assert!(q.claim(MINUTE).unwrap().is_none());
}

fn cancel_ends_only_waiting_jobs_of_the_key(f: Fixture) {
    let q = &f.queue;
    q.enqueue("d1", "pull_request", &[pr(1, "a"), pr(2, "a")])
        .unwrap();
    let key = pr(1, "a").analysis_key().unwrap();
    assert_eq!(q.cancel(&key).unwrap(), 1);
    assert_eq!(q.depth().unwrap(), 1);
    let other = q.claim(MINUTE).unwrap().unwrap();
    assert_eq!(other.job, pr(2, "a"));
    // A job waiting to retry after it started a check run keeps it: the run must end completed.
    q.started_check_run(other.id, 7).unwrap();
    q.retry(other.id, Duration::ZERO, "git server down")
        .unwrap();
    assert_eq!(q.cancel(&pr(2, "a").analysis_key().unwrap()).unwrap(), 0);
    let again = q.claim(MINUTE).unwrap().unwrap();
    assert_eq!((again.job, again.check_run), (pr(2, "a"), Some(7)));
}

fn prune_forgets_only_old_finished_work(f: Fixture) {
    let q = &f.queue;
    q.enqueue("d1", "pull_request", &[pr(1, "a")]).unwrap();
    q.enqueue("d2", "pull_request", &[pr(2, "a")]).unwrap();
    let first = q.claim(MINUTE).unwrap().unwrap();
    q.finish(first.id, Finished::Done, None).unwrap();
    assert_eq!(q.prune(Duration::from_secs(3600)).unwrap(), 0);
    std::thread::sleep(Duration::from_millis(5));
    // The finished job and its delivery go; the queued one and its delivery stay.
    assert_eq!(q.prune(Duration::ZERO).unwrap(), 2);
    assert_eq!(q.depth().unwrap(), 1);
    assert_eq!(
        q.enqueue("d2", "pull_request", &[pr(2, "a")]).unwrap(),
        Enqueued::Duplicate
    );
    assert_eq!(
        q.enqueue("d1", "pull_request", &[pr(1, "a")]).unwrap(),
        Enqueued::Queued { jobs: 1 }
    );
}

fn retry_waits_for_its_delay(f: Fixture) {
    let q = &f.queue;
    q.enqueue("d1", "pull_request", &[pr(1, "a")]).unwrap();
    let claimed = q.claim(MINUTE).unwrap().unwrap();
    q.retry(claimed.id, Duration::from_secs(3600), "boom")
        .unwrap();
    assert!(q.claim(MINUTE).unwrap().is_none());
    assert_eq!(q.depth().unwrap(), 1);
    q.finish(claimed.id, Finished::Failed, Some("boom"))
        .unwrap();
    assert_eq!(q.depth().unwrap(), 0);
}

fn a_job_whose_lease_ran_out_is_claimed_again_with_its_ledger(f: Fixture) {
    let q = &f.queue;
    let other = (f.reopen)();
    q.enqueue("d1", "pull_request", &[pr(1, "a")]).unwrap();
    let first = q.claim(Duration::from_secs(2)).unwrap().unwrap();
    assert_eq!((first.attempts, first.check_run), (0, None));
    q.started_check_run(first.id, 42).unwrap();
    q.sent_annotations(first.id, 150).unwrap();
    // The worker died: nothing renews the lease. While it runs, nobody else gets the job.
    assert!(other.claim(MINUTE).unwrap().is_none());
    std::thread::sleep(Duration::from_millis(2500));
    let again = other.claim(MINUTE).unwrap().unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(
        (again.attempts, again.check_run, again.annotations_sent),
        (1, Some(42), 150)
    );
    assert!(q.claim(MINUTE).unwrap().is_none());
}

fn a_heartbeat_keeps_the_job(f: Fixture) {
    let q = &f.queue;
    let other = (f.reopen)();
    q.enqueue("d1", "pull_request", &[pr(1, "a")]).unwrap();
    let claimed = q.claim(Duration::from_secs(2)).unwrap().unwrap();
    // Renewed every 0.5 s for 3 s: the 2 s lease never runs out.
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(500));
        q.heartbeat(claimed.id, Duration::from_secs(2)).unwrap();
        assert!(other.claim(MINUTE).unwrap().is_none());
    }
    q.finish(claimed.id, Finished::Done, None).unwrap();
    assert_eq!(q.depth().unwrap(), 0);
}

fn one_job_runs_per_pull_request(f: Fixture) {
    let q = &f.queue;
    q.enqueue("d1", "pull_request", &[pr(1, "a")]).unwrap();
    q.enqueue("d2", "pull_request", &[pr(1, "b")]).unwrap();
    q.enqueue("d3", "pull_request", &[pr(2, "a")]).unwrap();
    let first = q.claim(MINUTE).unwrap().unwrap();
    assert_eq!(first.job, pr(1, "a"));
    // PR 1's second head waits while its first runs; PR 2 does not.
    let other = (f.reopen)();
    assert_eq!(other.claim(MINUTE).unwrap().unwrap().job, pr(2, "a"));
    assert!(other.claim(MINUTE).unwrap().is_none());
    q.finish(first.id, Finished::Done, None).unwrap();
    assert_eq!(other.claim(MINUTE).unwrap().unwrap().job, pr(1, "b"));
}

fn concurrent_claims_hand_each_job_out_once(f: Fixture) {
    let jobs: Vec<Job> = (0..60).map(|n| pr(n, "a")).collect();
    f.queue.enqueue("d1", "pull_request", &jobs).unwrap();
    let queues: Vec<Arc<dyn Queue>> = (0..3).map(|_| (f.reopen)()).collect();
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let q = Arc::clone(&queues[t % 3]);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                while let Some(claimed) = q.claim(MINUTE).unwrap() {
                    mine.push(claimed.job.pull_request_key().unwrap());
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<String> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort();
    let claimed = all.len();
    all.dedup();
    assert_eq!((claimed, all.len()), (60, 60), "a job was handed out twice");
}

fn the_oldest_waiting_job_is_measured(f: Fixture) {
    let q = &f.queue;
    assert_eq!(q.oldest_waiting().unwrap(), None);
    q.enqueue("d1", "pull_request", &[pr(1, "a")]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    q.enqueue("d2", "pull_request", &[pr(2, "a")]).unwrap();
    let age = q.oldest_waiting().unwrap().unwrap();
    assert!(
        age >= Duration::from_millis(250) && age < Duration::from_secs(10),
        "{age:?}"
    );
    // A running job does not wait.
    let first = q.claim(MINUTE).unwrap().unwrap();
    assert_eq!(first.job, pr(1, "a"));
    assert!(q.oldest_waiting().unwrap().unwrap() < age);
}

fn the_database_answers_a_ping(f: Fixture) {
    f.queue.ping().unwrap();
}

fn a_queued_job_wakes_listeners(f: Fixture) {
    let woken = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&woken);
    let listening = f.queue.listen(Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    // SQLite is owned by one process, whose webhook wakes its own workers: nothing to hear.
    assert_eq!(listening, f.shared);
    if !listening {
        return;
    }
    // The listener wakes once when it connects; wait for that, then count what a job brings.
    let deadline = Instant::now() + Duration::from_secs(10);
    while woken.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the listener never connected");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let before = woken.load(Ordering::SeqCst);
    let other = (f.reopen)();
    other.enqueue("d1", "pull_request", &[pr(1, "a")]).unwrap();
    while woken.load(Ordering::SeqCst) == before {
        assert!(
            Instant::now() < deadline,
            "a job queued by another replica woke nobody"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn keys(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

fn an_acknowledgement_records_the_clicked_runs_findings_for_its_pull_request(f: Fixture) {
    let q = &f.queue;
    q.record_run_findings("o/r", 7, "h1", 100, &keys(&["b x", "a y", "a y"]))
        .unwrap();
    q.record_run_findings("o/r", 8, "h2", 101, &keys(&["c z"]))
        .unwrap();
    let ack = q.acknowledge("o/r", 100, "alice").unwrap().unwrap();
    assert_eq!(
        (ack.repo.as_str(), ack.pr, ack.login.as_str()),
        ("o/r", 7, "alice")
    );
    assert_eq!((ack.check_run, ack.head_sha.as_str()), (100, "h1"));
    // Sorted, once each: the key set is what a later run is compared with.
    assert_eq!(ack.findings, keys(&["a y", "b x"]));
    assert!(ack.at_unix_ms > 0);
    assert_eq!(q.acknowledgements("o/r", 7).unwrap(), vec![ack.clone()]);
    // Another PR's acknowledgements, and another repository's, are their own.
    assert!(q.acknowledgements("o/r", 8).unwrap().is_empty());
    assert!(q.acknowledgements("o/other", 7).unwrap().is_empty());
    // A second click by the same login on the same run (on another replica) is the first
    // acknowledgement.
    let other = (f.reopen)();
    assert_eq!(
        other.acknowledge("o/r", 100, "alice").unwrap().unwrap(),
        ack
    );
    // Another login's click on it, and a click on a later run of the PR, add to the list.
    q.record_run_findings("o/r", 7, "h3", 102, &keys(&["d w"]))
        .unwrap();
    q.acknowledge("o/r", 100, "bob").unwrap().unwrap();
    other.acknowledge("o/r", 102, "alice").unwrap().unwrap();
    let all = q.acknowledgements("o/r", 7).unwrap();
    let who: Vec<(&str, u64)> = all
        .iter()
        .map(|a| (a.login.as_str(), a.check_run))
        .collect();
    assert_eq!(who, [("alice", 100), ("bob", 100), ("alice", 102)]);
}

fn a_run_without_recorded_findings_cannot_be_acknowledged(f: Fixture) {
    let q = &f.queue;
    assert_eq!(q.acknowledge("o/r", 100, "alice").unwrap(), None);
    q.record_run_findings("o/r", 7, "h1", 100, &keys(&["a y"]))
        .unwrap();
    assert_eq!(q.acknowledge("o/other", 100, "alice").unwrap(), None);
    assert!(q.acknowledgements("o/r", 7).unwrap().is_empty());
}

fn recording_a_run_again_replaces_its_findings(f: Fixture) {
    let q = &f.queue;
    q.record_run_findings("o/r", 7, "h1", 100, &keys(&["a y"]))
        .unwrap();
    q.record_run_findings("o/r", 7, "h1", 100, &keys(&["b x"]))
        .unwrap();
    let ack = q.acknowledge("o/r", 100, "alice").unwrap().unwrap();
    assert_eq!(ack.findings, keys(&["b x"]));
}

fn acknowledgements_survive_pruning(f: Fixture) {
    let q = &f.queue;
    q.record_run_findings("o/r", 7, "h1", 100, &keys(&["a y"]))
        .unwrap();
    q.acknowledge("o/r", 100, "alice").unwrap().unwrap();
    q.prune(Duration::ZERO).unwrap();
    let all = (f.reopen)().acknowledgements("o/r", 7).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].findings, keys(&["a y"]));
    // The run's findings are kept too: its button still works.
    assert_eq!(q.acknowledge("o/r", 100, "bob").unwrap().unwrap().pr, 7);
}

#[test]
fn postgres_migrations_run_once_when_replicas_start_together() {
    let Some(server) = PgServer::start("postgres_migrations_run_once_when_replicas_start_together")
    else {
        return;
    };
    let url = server.database("queue");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PostgresQueue::open(&url, 1).map(|_| ()))
        })
        .collect();
    for thread in threads {
        thread.join().unwrap().unwrap();
    }
    let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let expected: Vec<i32> = (1..=clobbercheck::queue::postgres::MIGRATIONS.len() as i32).collect();
    assert_eq!(versions, expected);
}

#[test]
fn postgres_queue_survives_a_database_restart() {
    let Some(server) = PgServer::start("postgres_queue_survives_a_database_restart") else {
        return;
    };
    let url = server.database("queue");
    let q = PostgresQueue::open(&url, 2).unwrap();
    q.enqueue("d1", "pull_request", &[pr(1, "a")]).unwrap();
    server.stop();
    // Unreachable: an error naming the operation, soon (the webhook answers 503 within 10 s).
    let started = Instant::now();
    let err = q
        .enqueue("d2", "pull_request", &[pr(2, "a")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("enqueue"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(q.ping().is_err());
    server.start_again();
    // Recovers by itself: what was committed is there, and new work is taken.
    let deadline = Instant::now() + Duration::from_secs(20);
    while q.ping().is_err() {
        assert!(Instant::now() < deadline, "the queue did not reconnect");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        q.enqueue("d2", "pull_request", &[pr(2, "a")]).unwrap(),
        Enqueued::Queued { jobs: 1 }
    );
    assert_eq!(q.depth().unwrap(), 2);
}

#[test]
fn postgres_url_errors_name_the_database_without_the_password() {
    let err = PostgresQueue::open("postgres://u:hunter2@127.0.0.1:1/x?sslmode=bogus", 1)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("127.0.0.1:1/x"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
