//! Counters this process's workers keep, read into [`JobMetrics`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::EngineError;
use crate::model::{Completion, Failure};
use crate::views::metrics::JobMetrics;

/// What a worker's result came to, once the writer answered.
#[derive(Debug)]
pub(crate) enum Finished {
    /// A completion was recorded.
    Completed(Completion),
    /// A failed attempt was recorded.
    Failed(Failure),
    /// The job was given back unrun (the disk was full): no attempt counts.
    Released,
}

/// Live counters of this process's engine.
#[derive(Debug, Default)]
pub(crate) struct MetricsState {
    claimed: AtomicU64,
    completed: AtomicU64,
    duplicates: AtomicU64,
    retries: AtomicU64,
    dead: AtomicU64,
    stale: AtomicU64,
    errors: AtomicU64,
    latency_ns_total: AtomicU64,
    latency_ns_max: AtomicU64,
}

impl MetricsState {
    pub(crate) fn claimed(&self, n: usize) {
        self.claimed.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn finished(&self, reply: &Result<Finished, EngineError>, latency: Duration) {
        let counter = match reply {
            Ok(Finished::Released) => return,
            Ok(Finished::Completed(Completion::Duplicate { .. })) => &self.duplicates,
            Ok(Finished::Completed(_)) => &self.completed,
            Ok(Finished::Failed(Failure::Retrying { .. })) => &self.retries,
            Ok(Finished::Failed(_)) => &self.dead,
            Err(EngineError::StaleLease(_)) => &self.stale,
            Err(_) => &self.errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency_ns_total.fetch_add(ns, Ordering::Relaxed);
        self.latency_ns_max.fetch_max(ns, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> JobMetrics {
        let finished = self.completed.load(Ordering::Relaxed)
            + self.duplicates.load(Ordering::Relaxed)
            + self.retries.load(Ordering::Relaxed)
            + self.dead.load(Ordering::Relaxed)
            + self.stale.load(Ordering::Relaxed)
            + self.errors.load(Ordering::Relaxed);
        let total = self.latency_ns_total.load(Ordering::Relaxed);
        JobMetrics {
            claimed: self.claimed.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            dead: self.dead.load(Ordering::Relaxed),
            stale: self.stale.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            mean_latency: Duration::from_nanos(total.checked_div(finished).unwrap_or(0)),
            max_latency: Duration::from_nanos(self.latency_ns_max.load(Ordering::Relaxed)),
        }
    }
}
