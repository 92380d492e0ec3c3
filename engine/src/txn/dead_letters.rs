//! Dead letters: retrying them with fresh attempts, and purging them.

use redb::ReadableTable;

use super::intake::intake;
use super::{Op, Tx};
use crate::error::EngineError;
use crate::model::{FileEntry, JobState, stat_of};
use crate::store::tables::{AssetStatus, INTAKE_STAGE};

/// Puts dead letters back in READY: `only` one, or all (see [`retry`]);
/// outputs how many were retried.
#[derive(Debug)]
pub(crate) struct RetryDead {
    pub(crate) only: Option<u64>,
}

impl Op for RetryDead {
    type Output = u64;

    fn apply(self, tx: &mut Tx<'_>) -> Result<u64, EngineError> {
        retry(tx, self.only)
    }
}

/// Deletes every dead letter; outputs how many.
#[derive(Debug)]
pub(crate) struct PurgeDead;

impl Op for PurgeDead {
    type Output = u64;

    fn apply(self, tx: &mut Tx<'_>) -> Result<u64, EngineError> {
        purge(tx)
    }
}

/// Puts dead letters back in READY with fresh attempts. `None` retries all.
/// Returns how many were retried.
fn retry(tx: &mut Tx<'_>, only: Option<u64>) -> Result<u64, EngineError> {
    let ids: Vec<u64> = match only {
        Some(id) => {
            if tx.dead.get(id)?.is_some() {
                vec![id]
            } else {
                Vec::new()
            }
        }
        None => tx
            .dead
            .iter()?
            .map(|entry| entry.map(|(k, _)| k.value()))
            .collect::<Result<_, _>>()?,
    };
    let mut retried = 0;
    for job_id in ids {
        let Some(mut job) = tx.job(job_id)? else {
            tx.dead.remove(job_id)?;
            continue;
        };
        tx.dead.remove(job_id)?;
        if job.stage == INTAKE_STAGE {
            tx.jobs.remove(job_id)?;
            tx.count(&job, Some(JobState::Dead), None);
            let stat = std::fs::metadata(&job.path)
                .map(|m| stat_of(&m))
                .map_err(|e| format!("cannot read file: {e}"));
            let entry = FileEntry {
                path: Ok(job.path.clone()),
                stat,
            };
            intake(tx, job.import_id, std::slice::from_ref(&entry))?;
            retried += 1;
            continue;
        }
        let duplicate = matches!(
            tx.asset(job.asset_id)?.map(|a| a.status),
            Some(AssetStatus::Duplicate(_)) | Some(AssetStatus::Superseded) | None
        );
        if duplicate {
            tx.skip(job_id, &job)?;
            continue;
        }
        job.attempts = 0;
        job.suspect = false;
        job.state = JobState::Ready;
        job.enqueue_ns = tx.now;
        tx.put_job(job_id, &job)?;
        tx.ready.insert(job.ready_key(job_id), ())?;
        tx.count(&job, Some(JobState::Dead), Some(JobState::Ready));
        retried += 1;
    }
    Ok(retried)
}

/// Deletes every dead letter. Returns how many. Each purged job of an
/// asset is remembered with its stage's registered version, so that
/// [`super::rerun::EnqueueOutdated`] does not bring it back until the stage
/// changes version.
fn purge(tx: &mut Tx<'_>) -> Result<u64, EngineError> {
    let ids: Vec<u64> = tx
        .dead
        .iter()?
        .map(|entry| entry.map(|(k, _)| k.value()))
        .collect::<Result<_, _>>()?;
    for &job_id in &ids {
        tx.dead.remove(job_id)?;
        if let Some(job) = tx.job(job_id)? {
            tx.jobs.remove(job_id)?;
            if job.asset_id != 0 {
                let key = (job.asset_id, job.stage.as_str());
                tx.asset_jobs.remove(key)?;
                let version = tx.graph.get(&job.stage).map_or(0, |e| e.info.version);
                tx.purged.insert(key, version)?;
            }
            tx.count(&job, Some(JobState::Dead), None);
        }
    }
    Ok(ids.len() as u64)
}
