//! Counters the scheduler and writer keep, and the snapshot users read.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redb::ReadableTable;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::lease::{Completion, Failure};
use crate::read;
use crate::tables::{STAGE_COUNTS, state};
use crate::writer::Reply;

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

    pub(crate) fn finished(&self, reply: &Result<Reply, EngineError>, latency: Duration) {
        let counter = match reply {
            Ok(Reply::Completed(Completion::Duplicate { .. })) => &self.duplicates,
            Ok(Reply::Completed(_)) => &self.completed,
            Ok(Reply::Failed(Failure::Retry { .. })) => &self.retries,
            Ok(Reply::Failed(_)) => &self.dead,
            Ok(_) => &self.completed,
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

/// What this process's workers did since the engine opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobMetrics {
    /// Jobs leased.
    pub claimed: u64,
    /// Jobs completed.
    pub completed: u64,
    /// Jobs that found their asset to be a duplicate.
    pub duplicates: u64,
    /// Transient failures scheduled for a retry.
    pub retries: u64,
    /// Jobs that went to dead letter from a worker.
    pub dead: u64,
    /// Results rejected because their lease was no longer valid.
    pub stale: u64,
    /// Results that could not be recorded (store errors).
    pub errors: u64,
    /// Mean time from a worker taking a job to its result being sent.
    pub mean_latency: Duration,
    /// Longest such time.
    pub max_latency: Duration,
}

/// A snapshot of queue depth and engine activity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// READY jobs by `(priority name, tier)`.
    pub ready_by_priority_tier: BTreeMap<(String, u8), u64>,
    /// Jobs per stage and state name (`ready`, `leased`, `retrying`, `dead`, `done`, `skipped`).
    pub by_stage: BTreeMap<String, BTreeMap<String, u64>>,
    /// READY depth.
    pub ready: u64,
    /// Leased jobs.
    pub leased: u64,
    /// Jobs waiting for a retry.
    pub retrying: u64,
    /// Dead letters.
    pub dead: u64,
    /// Group commits made by this process.
    pub commits: u64,
    /// Operations in those commits.
    pub commit_ops: u64,
    /// Mean duration of one group commit (apply + fsync).
    pub mean_commit: Duration,
    /// Of that, the mean time in redb's commit itself (page writes and fsync).
    pub mean_sync: Duration,
    /// Worker activity of this process.
    pub jobs: JobMetrics,
}

impl Engine {
    /// Queue depth by priority, tier and stage, commit and worker figures.
    pub fn metrics(&self) -> Result<Metrics, EngineError> {
        let txn = self.shared.read()?;
        let mut metrics = Metrics {
            ready_by_priority_tier: read::ready_by_priority_tier(&txn)?,
            ..Metrics::default()
        };
        let table = txn.open_table(STAGE_COUNTS)?;
        for entry in table.iter()? {
            let (key, value) = entry?;
            let (stage, s) = key.value();
            let n = value.value();
            let name = match s {
                state::READY => "ready",
                state::LEASED => "leased",
                state::DELAYED => "retrying",
                state::DEAD => "dead",
                state::DONE => "done",
                _ => "skipped",
            };
            match s {
                state::READY => metrics.ready += n,
                state::LEASED => metrics.leased += n,
                state::DELAYED => metrics.retrying += n,
                state::DEAD => metrics.dead += n,
                _ => {}
            }
            metrics
                .by_stage
                .entry(stage.to_owned())
                .or_default()
                .insert(name.to_owned(), n);
        }
        let stats = &self.shared.writer.stats;
        metrics.commits = stats.commits.load(Ordering::Relaxed);
        metrics.commit_ops = stats.ops.load(Ordering::Relaxed);
        metrics.mean_commit = Duration::from_nanos(
            stats
                .commit_ns
                .load(Ordering::Relaxed)
                .checked_div(metrics.commits)
                .unwrap_or(0),
        );
        metrics.mean_sync = Duration::from_nanos(
            stats
                .sync_ns
                .load(Ordering::Relaxed)
                .checked_div(metrics.commits)
                .unwrap_or(0),
        );
        metrics.jobs = self.shared.metrics.snapshot();
        Ok(metrics)
    }
}
