//! Dead-letter retry and purge, and re-running a stage whose version changed.

use redb::ReadableTable;

use super::Tx;
use super::intake::{FileEntry, create_import, intake};
use crate::error::EngineError;
use crate::tables::{AssetRecord, AssetStatus, FactRecord, INTAKE_STAGE, decode, state};

/// Puts dead letters back in READY with fresh attempts. `None` retries all.
/// Returns how many were retried.
pub(crate) fn retry(tx: &mut Tx<'_>, only: Option<u64>) -> Result<u64, EngineError> {
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
            tx.count(&job, Some(state::DEAD), None);
            let stat = std::fs::metadata(&job.path)
                .map(|m| crate::walk::stat_of(&m))
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
        job.state = state::READY;
        job.enqueue_ns = tx.now;
        tx.put_job(job_id, &job)?;
        tx.ready.insert(job.ready_key(job_id), ())?;
        tx.count(&job, Some(state::DEAD), Some(state::READY));
        retried += 1;
    }
    Ok(retried)
}

/// Deletes every dead letter. Returns how many.
pub(crate) fn purge(tx: &mut Tx<'_>) -> Result<u64, EngineError> {
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
                tx.asset_jobs.remove((job.asset_id, job.stage.as_str()))?;
            }
            tx.count(&job, Some(state::DEAD), None);
        }
    }
    Ok(ids.len() as u64)
}

/// Enqueues `stage` for every active asset whose stored facts come from another
/// version of it (or that never ran it although its predecessors are done).
/// Returns the new import's id and how many jobs were enqueued.
pub(crate) fn rerun_outdated(
    tx: &mut Tx<'_>,
    stage: &str,
    priority: u8,
) -> Result<(u64, u64), EngineError> {
    let graph = tx.graph;
    let Some(entry) = graph.get(stage) else {
        return Err(crate::error::GraphError::NotRegistered(stage.to_owned()).into());
    };
    let info = entry.info.clone();
    let import_id = create_import(tx, &format!("rerun:{stage}"), priority, true, None)?;
    let assets: Vec<(u64, AssetRecord)> = tx
        .assets
        .iter()?
        .map(|entry| {
            let (k, v) = entry?;
            Ok((k.value(), decode::<AssetRecord>("assets", v.value())?))
        })
        .collect::<Result<_, EngineError>>()?;
    let mut enqueued = 0;
    for (asset_id, asset) in assets {
        if asset.status != AssetStatus::Active {
            continue;
        }
        if tx.asset_jobs.get((asset_id, stage))?.is_some() {
            continue;
        }
        let stored = match tx.facts.get((asset_id, stage))? {
            Some(bytes) => Some(decode::<FactRecord>("facts", bytes.value())?),
            None => None,
        };
        match stored {
            Some(record) if record.version == info.version => continue,
            Some(_) => {}
            None if !tx.all_done(asset_id, &info.after)? => continue,
            None => {}
        }
        if !super::gate::admits(tx, asset_id, asset.import_id, info.tier)? {
            continue;
        }
        let path = asset.paths.first().cloned().unwrap_or_default();
        tx.enqueue(asset_id, import_id, priority, stage, info.tier, &path)?;
        enqueued += 1;
    }
    Ok((import_id, enqueued))
}
