//! The webhook's storing thread: group commit for a burst of deliveries.
//!
//! A webhook answers 202 only once its delivery is stored. Each delivery handed to
//! [`Storing::store`] waits on a channel; one thread stores whatever waits as one batch
//! ([`Queue::enqueue_batch`], one transaction), so the deliveries arriving while a batch commits
//! go together in the next. A burst then costs one commit (one fsync) per batch and no blocking
//! thread per delivery: with a thread per delivery, a burst of 200 spent most of its answer
//! time waiting for a thread's turn (`cargo bench --bench app_bench`, README "Figures").

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::queue::{DELIVERY_WAIT, Delivery, Enqueued, Queue, QueueError};

/// Deliveries stored in one transaction at most: bounds one commit's work and wait.
const MAX_BATCH: usize = 256;
/// Deliveries waiting for the storing thread at most; one more waits for room (within its own
/// deadline), so a flood costs bounded memory.
const WAITING: usize = 4096;

/// Why a delivery was not stored; the webhook answers 503 for each, and GitHub's redelivery of
/// a delivery that was stored after all is recognised as a duplicate.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("delivery {delivery}: no answer from the storing thread within {within:?}")]
    TimedOut { delivery: String, within: Duration },
    #[error("delivery {delivery}: the storing thread has stopped")]
    Stopped { delivery: String },
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// The sending side of the storing thread; the thread ends when this is dropped.
pub struct Storing {
    requests: mpsc::Sender<Request>,
}

struct Request {
    delivery: Delivery,
    /// When the webhook asked: the batch's wait for a busy database counts from here.
    arrived: Instant,
    reply: oneshot::Sender<Result<Enqueued, QueueError>>,
}

impl Storing {
    /// Starts the storing thread, which stores into `queue`.
    ///
    /// # Errors
    /// The operating system refused a thread.
    pub fn start(queue: Arc<dyn Queue>) -> std::io::Result<Self> {
        let (requests, mut waiting) = mpsc::channel::<Request>(WAITING);
        std::thread::Builder::new()
            .name("storing".into())
            .spawn(move || {
                while let Some(first) = waiting.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match waiting.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    // A panic (none is known) drops this batch's replies, so its webhooks
                    // answer 503; the thread goes on storing the next batches.
                    let stored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        store_batch(queue.as_ref(), batch)
                    }));
                    if stored.is_err() {
                        tracing::error!("storing a batch of deliveries panicked; answered 503");
                    }
                }
            })?;
        Ok(Self { requests })
    }

    /// Stores `delivery`; waits at most `within` for the answer.
    ///
    /// # Errors
    /// The database stayed busy or failed ([`StoreError::Queue`], nothing of the batch stored),
    /// or `within` passed first ([`StoreError::TimedOut`]: the delivery may still be stored).
    pub async fn store(
        &self,
        delivery: Delivery,
        within: Duration,
    ) -> Result<Enqueued, StoreError> {
        let id = delivery.id.clone();
        let (reply, answer) = oneshot::channel();
        let request = Request {
            delivery,
            arrived: Instant::now(),
            reply,
        };
        let stored = tokio::time::timeout(within, async {
            self.requests.send(request).await.ok()?;
            answer.await.ok()
        })
        .await;
        match stored {
            Ok(Some(result)) => Ok(result?),
            Ok(None) => Err(StoreError::Stopped { delivery: id }),
            Err(_) => Err(StoreError::TimedOut {
                delivery: id,
                within,
            }),
        }
    }
}

/// Stores `batch` in one transaction and answers each request.
fn store_batch(queue: &dyn Queue, batch: Vec<Request>) {
    // The oldest delivery whose webhook still waits bounds the batch's wait, so its 503 reaches
    // GitHub in time; one whose webhook gave up is stored all the same (GitHub does not
    // redeliver on its own, and a manual redelivery of it is then a duplicate).
    let waited = batch
        .iter()
        .filter(|r| !r.reply.is_closed())
        .map(|r| r.arrived.elapsed())
        .max()
        .unwrap_or_default();
    let (deliveries, replies): (Vec<Delivery>, Vec<_>) =
        batch.into_iter().map(|r| (r.delivery, r.reply)).unzip();
    match queue.enqueue_batch(&deliveries, DELIVERY_WAIT.saturating_sub(waited)) {
        Ok(stored) if stored.len() == replies.len() => {
            for (reply, enqueued) in replies.into_iter().zip(stored) {
                let _ = reply.send(Ok(enqueued));
            }
        }
        Ok(stored) => answer_all(
            replies,
            &format!(
                "{} answers for a batch of {} deliveries",
                stored.len(),
                deliveries.len()
            ),
        ),
        Err(e) => answer_all(replies, &e.to_string()),
    }
}

/// Answers every request of a batch with the same error.
fn answer_all(replies: Vec<oneshot::Sender<Result<Enqueued, QueueError>>>, message: &str) {
    tracing::warn!(
        deliveries = replies.len(),
        error = message,
        "batch of deliveries not stored"
    );
    for reply in replies {
        let _ = reply.send(Err(QueueError::Database {
            operation: "enqueue",
            job: None,
            message: message.to_string(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Job, PullRequestJob, SqliteQueue};

    /// A delivery of `1 + number % 3` jobs, so each answer tells whose it is.
    fn delivery(id: &str, number: u64) -> Delivery {
        let job = |n: u64| {
            Job::Analyze(PullRequestJob {
                aliases: Vec::new(),
                repo: "o/r".into(),
                clone_url: "http://x/o/r.git".into(),
                installation_id: 1,
                number: n,
                base_sha: "b".into(),
                base_ref: "main".into(),
                head_sha: "h".into(),
                head_ref: "feature".into(),
                fork: false,
                rerun: false,
            })
        };
        Delivery {
            id: id.into(),
            event: "pull_request".into(),
            jobs: (0..=number % 3).map(|j| job(number * 10 + j)).collect(),
        }
    }

    fn sqlite() -> (tempfile::TempDir, Arc<SqliteQueue>) {
        let dir = tempfile::tempdir().unwrap();
        let queue = Arc::new(SqliteQueue::open(&dir.path().join("queue.db")).unwrap());
        (dir, queue)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_is_stored_each_delivery_once() {
        let (_dir, queue) = sqlite();
        let storing = Arc::new(Storing::start(queue.clone()).unwrap());
        // 300 deliveries at once, each sent twice (a redelivery inside the same burst): each
        // answer is its own delivery's (its job count), and each delivery is stored once.
        let tasks: Vec<_> = (0..600u64)
            .map(|i| {
                let storing = Arc::clone(&storing);
                tokio::spawn(async move {
                    let n = i % 300;
                    let answer = storing
                        .store(delivery(&format!("d{n}"), n), Duration::from_secs(30))
                        .await
                        .unwrap();
                    (n, answer)
                })
            })
            .collect();
        let mut queued = vec![0; 300];
        for task in tasks {
            match task.await.unwrap() {
                (n, Enqueued::Queued { jobs }) => {
                    assert_eq!(jobs as u64, 1 + n % 3, "delivery d{n}");
                    queued[n as usize] += 1;
                }
                (_, Enqueued::Duplicate) => {}
            }
        }
        assert!(queued.iter().all(|&q| q == 1), "{queued:?}");
        assert_eq!(queue.depth().unwrap(), 600);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deliveries_behind_a_locked_database_are_answered_in_time() {
        let (dir, queue) = sqlite();
        let storing = Arc::new(Storing::start(queue.clone()).unwrap());
        let locker = rusqlite::Connection::open(dir.path().join("queue.db")).unwrap();
        locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
        // Deliveries keep arriving while the first batch waits for the lock: each is answered
        // (with the database's error) within its own DELIVERY_WAIT, not after the batches
        // queued before it have each waited theirs.
        let tasks: Vec<_> = (0..12u64)
            .map(|i| {
                let storing = Arc::clone(&storing);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(400 * i)).await;
                    let asked = Instant::now();
                    let answer = storing
                        .store(delivery(&format!("d{i}"), i), Duration::from_secs(30))
                        .await;
                    (asked.elapsed(), answer)
                })
            })
            .collect();
        for task in tasks {
            let (waited, answer) = task.await.unwrap();
            let error = answer.unwrap_err().to_string();
            assert!(error.contains("locked"), "{error}");
            assert!(
                waited < DELIVERY_WAIT + Duration::from_millis(500),
                "{waited:?}"
            );
        }
        locker.execute_batch("ROLLBACK").unwrap();
        assert_eq!(
            storing
                .store(delivery("d1", 1), Duration::from_secs(30))
                .await
                .unwrap(),
            Enqueued::Queued { jobs: 2 }
        );
        assert_eq!(queue.depth().unwrap(), 2);
    }
}
