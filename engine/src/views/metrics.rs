//! The metrics users read: queue depth by priority, tier and stage, and the
//! figures of this process's writer and workers.

use std::collections::BTreeMap;
use std::time::Duration;

use redb::{ReadTransaction, ReadableTable};

use crate::error::EngineError;
use crate::model::{JobState, Priority, Tier};
use crate::store::tables::STAGE_COUNTS;
use crate::views::status;

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
    /// READY jobs by `(priority, tier)`.
    pub ready_by_priority_tier: BTreeMap<(Priority, Tier), u64>,
    /// Jobs per stage and state.
    pub by_stage: BTreeMap<String, BTreeMap<JobState, u64>>,
    /// READY depth.
    pub ready: u64,
    /// Jobs running under a lease.
    pub running: u64,
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

/// The store's part of [`Metrics`]: READY depth and jobs per stage and
/// state. The caller adds this process's commit and worker figures.
pub(crate) fn queue_metrics(txn: &ReadTransaction) -> Result<Metrics, EngineError> {
    let mut metrics = Metrics {
        ready_by_priority_tier: status::ready_by_priority_tier(txn)?,
        ..Metrics::default()
    };
    let table = txn.open_table(STAGE_COUNTS)?;
    for entry in table.iter()? {
        let (key, value) = entry?;
        let (stage, s) = key.value();
        let n = value.value();
        let state = JobState::from_stored(s).unwrap_or(JobState::Skipped);
        match state {
            JobState::Ready => metrics.ready += n,
            JobState::Running => metrics.running += n,
            JobState::Retrying => metrics.retrying += n,
            JobState::Dead => metrics.dead += n,
            JobState::Done | JobState::Skipped => {}
        }
        *metrics
            .by_stage
            .entry(stage.to_owned())
            .or_default()
            .entry(state)
            .or_default() += n;
    }
    Ok(metrics)
}
