//! Prometheus metrics of the server, served as text at `GET /metrics`.
//!
//! Operators need to see whether deliveries arrive, whether jobs succeed, how deep the queue is,
//! how long jobs take and how GitHub answers; these families say exactly that.
//!
//! Every label value comes from a fixed set written here, never from a request: prometheus-client
//! 0.24 writes label values as they are (no escaping in `encoding/text.rs`'s
//! `LabelValueEncoder`), so a quote from a stranger would break the page, and each new value
//! would be a new series kept forever.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::webhook::Event;

type Labels = Vec<(String, String)>;

/// Every metric the server exports, registered once and shared by routes, workers and the
/// GitHub client.
pub struct Metrics {
    registry: Registry,
    deliveries: Family<Labels, Counter>,
    rejected: Family<Labels, Counter>,
    jobs: Family<Labels, Counter>,
    queue_depth: Gauge,
    oldest_waiting: Gauge<f64, std::sync::atomic::AtomicU64>,
    job_duration: Histogram,
    api_calls: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let deliveries = Family::<Labels, Counter>::default();
        let rejected = Family::<Labels, Counter>::default();
        let jobs = Family::<Labels, Counter>::default();
        let queue_depth = Gauge::default();
        let oldest_waiting = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        let job_duration = Histogram::new(exponential_buckets(0.05, 2.0, 12));
        let api_calls = Family::<Labels, Counter>::default();
        registry.register(
            "clobbercheck_deliveries",
            "Signed webhook deliveries, by event (a fixed set; others as \"other\") and outcome",
            deliveries.clone(),
        );
        registry.register(
            "clobbercheck_webhook_rejected",
            "Webhook requests refused before their signature was verified, by reason",
            rejected.clone(),
        );
        registry.register(
            "clobbercheck_jobs",
            "Jobs finished, by kind and outcome",
            jobs.clone(),
        );
        registry.register(
            "clobbercheck_queue_depth",
            "Jobs waiting or running",
            queue_depth.clone(),
        );
        registry.register(
            "clobbercheck_queue_oldest_waiting_seconds",
            "How long the oldest job ready to run has waited (0 when none waits), from the shared database",
            oldest_waiting.clone(),
        );
        registry.register(
            "clobbercheck_job_duration_seconds",
            "Time from claiming a job to finishing it",
            job_duration.clone(),
        );
        registry.register(
            "clobbercheck_github_api_calls",
            "GitHub API responses, by HTTP status (\"error\" when no response came)",
            api_calls.clone(),
        );
        Self {
            registry,
            deliveries,
            rejected,
            jobs,
            queue_depth,
            oldest_waiting,
            job_duration,
            api_calls,
        }
    }
}

impl Metrics {
    /// Counts one delivery whose signature verified. Both labels come from fixed sets (the
    /// event names the App knows, else `other`; `queued`, `duplicate`, `cancelled`, `ignored`,
    /// `rejected`, `busy`), so a sender cannot add series or write into the page.
    pub fn delivery(&self, event: Event, outcome: &'static str) {
        self.deliveries
            .get_or_create(&vec![
                ("event".to_string(), event.name().to_string()),
                ("outcome".to_string(), outcome.to_string()),
            ])
            .inc();
    }

    /// Counts one request refused before its signature was known (`too_large`,
    /// `bad_signature`, `no_delivery_id`): nothing the sender wrote becomes a label.
    pub fn rejected(&self, reason: &'static str) {
        self.rejected
            .get_or_create(&vec![("reason".to_string(), reason.to_string())])
            .inc();
    }

    /// Counts one finished job and records how long it ran.
    pub fn job(&self, kind: &str, outcome: &str, duration: Duration) {
        self.jobs
            .get_or_create(&vec![
                ("kind".to_string(), kind.to_string()),
                ("outcome".to_string(), outcome.to_string()),
            ])
            .inc();
        self.job_duration.observe(duration.as_secs_f64());
    }

    /// Counts one GitHub API answer (`status` is the HTTP code, or `error`).
    pub fn api_call(&self, status: &str) {
        self.api_calls
            .get_or_create(&vec![("status".to_string(), status.to_string())])
            .inc();
    }

    /// The Prometheus text exposition, with the queue depth and the oldest waiting job's age
    /// measured in the database by the caller just before (with several replicas they are the
    /// whole queue's, not this replica's).
    pub fn render(&self, queue_depth: u64, oldest_waiting: Duration) -> String {
        self.queue_depth
            .set(i64::try_from(queue_depth).unwrap_or(i64::MAX));
        self.oldest_waiting.set(oldest_waiting.as_secs_f64());
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
