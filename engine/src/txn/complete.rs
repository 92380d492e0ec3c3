//! Completing and failing leased jobs, each in one transaction with its effects.

use kiln_plugin_api::{StageError, Value};
use redb::ReadableTable;

use super::Tx;
use crate::config::backoff_delay;
use crate::error::EngineError;
use crate::lease::{Completion, Failure};
use crate::tables::{
    ArtifactRecord, AssetRecord, AssetStatus, FactRecord, JobRecord, encode, state,
};

/// A stage's result with its artifacts already stored as blobs.
#[derive(Debug)]
pub(crate) struct StoredOutput {
    pub(crate) facts: Value,
    pub(crate) artifacts: Vec<ArtifactRecord>,
    pub(crate) content_hash: Option<[u8; 32]>,
}

/// Checks the fence and returns the job, or `StaleLease`.
/// The job comes back with the lease's attempt count and state `LEASED`.
fn fenced(tx: &Tx<'_>, job_id: u64, token: u64) -> Result<JobRecord, EngineError> {
    let Some((held, _, attempts)) = tx.leases.get(job_id)?.map(|v| v.value()) else {
        return Err(EngineError::StaleLease(job_id));
    };
    if held != token {
        return Err(EngineError::StaleLease(job_id));
    }
    let mut job = tx.job(job_id)?.ok_or(EngineError::StaleLease(job_id))?;
    job.attempts = attempts;
    job.state = state::LEASED;
    Ok(job)
}

/// Records a stage's result: facts, lease removed, dependents enqueued.
pub(crate) fn complete(
    tx: &mut Tx<'_>,
    job_id: u64,
    token: u64,
    output: StoredOutput,
) -> Result<Completion, EngineError> {
    let job = fenced(tx, job_id, token)?;
    // Every job of a duplicate or superseded asset was cancelled together with
    // its lease, so a job that passed the fence belongs to an active asset.
    let mut merged_into = None;
    if let Some(hash) = output.content_hash {
        let Some(mut asset) = tx.asset(job.asset_id)? else {
            tx.skip(job_id, &job)?;
            return Ok(Completion::Skipped);
        };
        if asset.status != AssetStatus::Active {
            tx.skip(job_id, &job)?;
            return Ok(Completion::Skipped);
        }
        let owner = tx.hashes.get(hash.as_slice())?.map(|v| v.value());
        let owner_asset = match owner {
            Some(other) if other != job.asset_id => tx.asset(other)?.map(|a| (other, a)),
            _ => None,
        };
        match owner_asset {
            Some((other, other_asset)) if other_asset.status == AssetStatus::Active => {
                merged_into = Some((other, other_asset, asset));
            }
            _ => {
                tx.hashes.insert(hash.as_slice(), job.asset_id)?;
                asset.content_hash = Some(hash);
                tx.put_asset(job.asset_id, &asset)?;
            }
        }
    }
    let version = tx
        .graph
        .get(&job.stage)
        .map(|e| e.info.version)
        .unwrap_or(0);
    let record = FactRecord {
        version,
        done_ns: tx.now,
        facts: output.facts,
        artifacts: output.artifacts,
    };
    let bytes = encode("facts", &record)?;
    tx.facts
        .insert((job.asset_id, job.stage.as_str()), bytes.as_slice())?;
    tx.leases.remove(job_id)?;
    tx.jobs.remove(job_id)?;
    tx.asset_jobs.remove((job.asset_id, job.stage.as_str()))?;
    tx.count(&job, Some(state::LEASED), Some(state::DONE));

    if let Some((other, other_asset, asset)) = merged_into {
        merge_duplicate(tx, job.asset_id, asset, other, other_asset)?;
        return Ok(Completion::Duplicate { of: other });
    }
    enqueue_dependents(tx, &job)?;
    Ok(Completion::Done)
}

/// Makes `dup` another set of paths of `keep` and cancels dup's remaining work.
fn merge_duplicate(
    tx: &mut Tx<'_>,
    dup_id: u64,
    mut dup: AssetRecord,
    keep_id: u64,
    mut keep: AssetRecord,
) -> Result<(), EngineError> {
    for path in &dup.paths {
        if !keep.paths.contains(path) {
            keep.paths.push(path.clone());
        }
        if let Some(mut file) = tx.file(path)?
            && file.asset_id == dup_id
        {
            file.asset_id = keep_id;
            let bytes = encode("files", &file)?;
            tx.files.insert(path.as_str(), bytes.as_slice())?;
        }
    }
    dup.status = AssetStatus::Duplicate(keep_id);
    tx.put_asset(keep_id, &keep)?;
    tx.put_asset(dup_id, &dup)?;
    tx.cancel_asset_jobs(dup_id)?;
    Ok(())
}

/// Enqueues every stage that follows `job`'s stage and now has all its
/// predecessors done for the asset, unless it is done or queued already.
///
/// While the gate is active, stages of the guarded tiers are left to
/// [`super::gate::cross`], which enqueues them once the gate let the asset
/// through.
pub(crate) fn enqueue_dependents(tx: &mut Tx<'_>, job: &JobRecord) -> Result<(), EngineError> {
    let graph = tx.graph;
    let import_priority = tx.import_priority(job.import_id)?;
    let gate_tier = tx.config.gate.tier;
    let gated = job.tier < gate_tier && super::gate::active(tx, job)?;
    if gated {
        super::gate::cross(tx, job)?;
    }
    for next in graph.dependents(&job.stage) {
        if gated && next.tier >= gate_tier {
            continue;
        }
        // Within a tier the next stage keeps the asset's place in line, so
        // an asset goes through its stages one after another (its thumbnail
        // follows its hash while the file is still cached, and the first
        // assets become browsable first) rather than every asset waiting
        // for every other asset's first stage.
        let in_line = if next.tier == job.tier {
            job.enqueue_ns
        } else {
            tx.now
        };
        tx.enqueue_if_ready(job, next, import_priority, in_line)?;
    }
    Ok(())
}

/// Records a failed attempt: a retry after backoff, or a dead letter.
pub(crate) fn fail(
    tx: &mut Tx<'_>,
    job_id: u64,
    token: u64,
    error: &StageError,
) -> Result<Failure, EngineError> {
    let mut job = fenced(tx, job_id, token)?;
    tx.leases.remove(job_id)?;
    if !error.is_transient() || job.attempts >= tx.config.max_attempts {
        let message = if error.is_transient() {
            format!(
                "{} (gave up after {} attempts)",
                error.message(),
                job.attempts
            )
        } else {
            error.message().to_owned()
        };
        tx.bury(job_id, &mut job, message)?;
        return Ok(Failure::Dead);
    }
    tx.record_attempt(&mut job, error.message().to_owned());
    let delay = backoff_delay(tx.config, job_id, job.attempts);
    let run_at_ns = tx
        .now
        .saturating_add(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX));
    job.state = state::DELAYED;
    job.run_at_ns = run_at_ns;
    tx.put_job(job_id, &job)?;
    tx.delayed.insert((run_at_ns, job_id), ())?;
    tx.count(&job, Some(state::LEASED), Some(state::DELAYED));
    Ok(Failure::Retry { run_at_ns })
}
