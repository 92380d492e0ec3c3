//! Completing a leased job: facts written, lease removed, dependents
//! enqueued, all in one transaction.

use redb::ReadableTable;

use super::{Op, Tx, browsable, enrich_gate};
use crate::error::EngineError;
use crate::model::{AssetId, Completion, JobState, StoredOutput, Tier};
use crate::store::tables::{AssetRecord, AssetStatus, FactRecord, JobRecord, encode};

/// Records a stage's result for the lease `(job_id, token)` (see [`complete`]).
#[derive(Debug)]
pub(crate) struct Complete {
    pub(crate) job_id: u64,
    pub(crate) token: u64,
    pub(crate) output: StoredOutput,
}

impl Op for Complete {
    type Output = Completion;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Completion, EngineError> {
        complete(tx, self.job_id, self.token, self.output)
    }
}

/// Checks the fence and returns the job, or `StaleLease`.
/// The job comes back with the lease's attempt count and state `LEASED`.
pub(super) fn fenced(tx: &Tx<'_>, job_id: u64, token: u64) -> Result<JobRecord, EngineError> {
    let Some((held, _, attempts)) = tx.leases.get(job_id)?.map(|v| v.value()) else {
        return Err(EngineError::StaleLease(job_id));
    };
    if held != token {
        return Err(EngineError::StaleLease(job_id));
    }
    let mut job = tx.job(job_id)?.ok_or(EngineError::StaleLease(job_id))?;
    job.attempts = attempts;
    job.state = JobState::Running;
    Ok(job)
}

/// Records a stage's result: facts, lease removed, dependents enqueued.
fn complete(
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
    let key = (job.asset_id, job.stage.as_str());
    // A tier-1 stage's first facts may make the (active) asset browsable.
    let first_of_tier1 = tx
        .graph
        .get(&job.stage)
        .is_some_and(|e| e.tier == Tier::Browsable)
        && tx.facts.get(key)?.is_none();
    tx.facts.insert(key, bytes.as_slice())?;
    if first_of_tier1 && browsable::tier1_done(tx, job.asset_id)? {
        browsable::adjust(tx, 1)?;
    }
    tx.leases.remove(job_id)?;
    tx.jobs.remove(job_id)?;
    tx.asset_jobs.remove((job.asset_id, job.stage.as_str()))?;
    tx.count(&job, Some(JobState::Running), Some(JobState::Done));

    if let Some((other, other_asset, asset)) = merged_into {
        merge_duplicate(tx, job.asset_id, asset, other, other_asset)?;
        return Ok(Completion::Duplicate {
            of: AssetId::new(other),
        });
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
    if browsable::tier1_done(tx, dup_id)? {
        browsable::adjust(tx, -1)?;
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
/// [`enrich_gate::cross`], which enqueues them once the gate let the asset
/// through.
fn enqueue_dependents(tx: &mut Tx<'_>, job: &JobRecord) -> Result<(), EngineError> {
    let graph = tx.graph;
    let import_priority = tx.import_priority(job.import_id)?;
    let gate_tier = tx.config.gate.tier.number();
    let gated = job.tier < gate_tier && enrich_gate::active(tx, job)?;
    if gated {
        enrich_gate::cross(tx, job)?;
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
