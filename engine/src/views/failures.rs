//! Read-only views of the jobs that failed: dead letters and retries.

use redb::{ReadTransaction, ReadableTable};

use crate::error::EngineError;
use crate::model::{AssetId, JobId};
use crate::store::tables::{DEAD, JOBS, JobRecord, RETRYING};
use crate::views::assets::job_record;

/// One failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptInfo {
    /// Which attempt (from 1).
    pub attempt: u32,
    /// When it failed (clock nanoseconds).
    pub at_ns: u64,
    /// What went wrong.
    pub error: String,
}

/// A dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The job's id (pass it to `retry_dead`).
    pub job_id: JobId,
    /// The asset; `None` for a file intake could not read.
    pub asset_id: Option<AssetId>,
    /// The file.
    pub path: String,
    /// The stage that failed (`intake` for unreadable files).
    pub stage: String,
    /// Attempts used.
    pub attempts: u32,
    /// The last error.
    pub last_error: String,
    /// Failed attempts, oldest first (bounded).
    pub history: Vec<AttemptInfo>,
}

/// A job waiting for a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryingJob {
    /// The job's id.
    pub job_id: JobId,
    /// The asset.
    pub asset_id: AssetId,
    /// The file.
    pub path: String,
    /// The stage.
    pub stage: String,
    /// Attempts used so far.
    pub attempts: u32,
    /// When it becomes ready again (clock nanoseconds).
    pub run_at_ns: u64,
    /// The last error.
    pub last_error: String,
}

fn last_error(job: &JobRecord) -> String {
    job.history
        .last()
        .map(|a| a.error.clone())
        .unwrap_or_default()
}

pub(crate) fn dead_letters(txn: &ReadTransaction) -> Result<Vec<DeadLetter>, EngineError> {
    let table = txn.open_table(DEAD)?;
    let jobs = txn.open_table(JOBS)?;
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (key, _) = entry?;
        let job_id = key.value();
        let Some(job) = job_record(&jobs, job_id)? else {
            continue;
        };
        out.push(DeadLetter {
            job_id: JobId::new(job_id),
            asset_id: (job.asset_id != 0).then_some(AssetId::new(job.asset_id)),
            last_error: last_error(&job),
            history: job
                .history
                .iter()
                .map(|a| AttemptInfo {
                    attempt: a.attempt,
                    at_ns: a.at_ns,
                    error: a.error.clone(),
                })
                .collect(),
            path: job.path,
            stage: job.stage,
            attempts: job.attempts,
        });
    }
    Ok(out)
}

pub(crate) fn retrying(txn: &ReadTransaction) -> Result<Vec<RetryingJob>, EngineError> {
    let table = txn.open_table(RETRYING)?;
    let jobs = txn.open_table(JOBS)?;
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (key, _) = entry?;
        let (run_at_ns, job_id) = key.value();
        let Some(job) = job_record(&jobs, job_id)? else {
            continue;
        };
        out.push(RetryingJob {
            job_id: JobId::new(job_id),
            asset_id: AssetId::new(job.asset_id),
            last_error: last_error(&job),
            path: job.path,
            stage: job.stage,
            attempts: job.attempts,
            run_at_ns,
        });
    }
    Ok(out)
}
