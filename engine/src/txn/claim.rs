//! Claiming (leasing) jobs, reclaiming a dead process's leases, releasing unstarted ones.

use kiln_plugin_api::StageInput;
use redb::ReadableTable;

use super::{Op, Tx};
use crate::error::EngineError;
use crate::model::{Claimed, JobState, Lease, Priority, Tier};
use crate::store::tables;

/// Leases up to `max` jobs in READY order (see [`claim`]).
#[derive(Debug)]
pub(crate) struct Claim {
    pub(crate) max: usize,
    /// Only jobs whose `(priority, tier)` sorts before this.
    pub(crate) below: Option<(u8, u8)>,
}

impl Op for Claim {
    type Output = Vec<Claimed>;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Vec<Claimed>, EngineError> {
        claim(tx, self.max, self.below)
    }
}

/// Puts back every lease of a process that is gone (see [`reclaim_all`]);
/// outputs how many.
#[derive(Debug)]
pub(crate) struct ReclaimAll;

impl Op for ReclaimAll {
    type Output = usize;

    fn apply(self, tx: &mut Tx<'_>) -> Result<usize, EngineError> {
        reclaim_all(tx)
    }
}

/// Gives back unstarted leases, `(job_id, token)` each (see [`release`]);
/// outputs how many were released.
#[derive(Debug)]
pub(crate) struct Release {
    pub(crate) leases: Vec<(u64, u64)>,
}

impl Op for Release {
    type Output = u64;

    fn apply(self, tx: &mut Tx<'_>) -> Result<u64, EngineError> {
        Ok(release(tx, &self.leases)? as u64)
    }
}

/// Moves retries whose time has come from RETRYING back to READY.
fn promote_due(tx: &mut Tx<'_>) -> Result<usize, EngineError> {
    let due: Vec<(u64, u64)> = tx
        .retrying
        .range(..=(tx.now, u64::MAX))?
        .take(10_000)
        .map(|entry| entry.map(|(k, _)| k.value()))
        .collect::<Result<_, _>>()?;
    for &(run_at, job_id) in &due {
        tx.retrying.remove((run_at, job_id))?;
        let Some(mut job) = tx.job(job_id)? else {
            continue;
        };
        job.state = JobState::Ready;
        tx.put_job(job_id, &job)?;
        tx.ready.insert(job.ready_key(job_id), ())?;
        tx.count(&job, Some(JobState::Retrying), Some(JobState::Ready));
    }
    Ok(due.len())
}

/// Leases up to `max` jobs in READY order, counting an attempt for each.
///
/// A job that already used `max_attempts` goes to dead letter instead. A
/// suspect job (one that was leased when a process died) is only handed out
/// alone, so if it kills the process again no other job is charged for it.
///
/// With `below`, only jobs whose `(priority, tier)` sorts before it are
/// taken, so a busy engine can look for work that should run before what it
/// already holds (an interactive job, the next stage of an asset in a lower
/// tier) without claiming more of the same.
fn claim(
    tx: &mut Tx<'_>,
    max: usize,
    below: Option<(u8, u8)>,
) -> Result<Vec<Claimed>, EngineError> {
    promote_due(tx)?;
    let mut out = Vec::new();
    if max == 0 {
        return Ok(out);
    }
    let mut token = tx
        .meta
        .get(tables::meta::NEXT_TOKEN)?
        .map(|v| v.value())
        .unwrap_or(1);
    while out.len() < max {
        let Some(key) = tx.ready.pop_first()?.map(|(k, _)| k.value()) else {
            break;
        };
        if below.is_some_and(|bound| (key.0, key.1) >= bound) {
            tx.ready.insert(key, ())?;
            break;
        }
        let job_id = key.3;
        let Some(mut job) = tx.job(job_id)? else {
            continue;
        };
        if job.attempts >= tx.config.max_attempts {
            let message = format!(
                "gave up after {} attempts; the last one never finished (the process died or was killed while running it)",
                job.attempts
            );
            tx.bury(job_id, &mut job, message)?;
            continue;
        }
        if job.suspect && !out.is_empty() {
            tx.ready.insert(key, ())?;
            break;
        }
        let alone = job.suspect;
        job.attempts += 1;
        tx.leases.insert(job_id, (token, tx.now, job.attempts))?;
        tx.count(&job, Some(JobState::Ready), Some(JobState::Running));
        // The rest of the input (facts, hash, proxy) is read by the worker,
        // off the writer thread, once this claim is committed.
        let input = StageInput::for_path(job.asset_id, job.path.as_str());
        out.push(Claimed {
            lease: Lease {
                job_id,
                token,
                asset_id: job.asset_id,
                stage: job.stage.clone(),
                tier: Tier::from_stored(job.tier),
                priority: Priority::from_u8(job.priority),
                attempt: job.attempts,
                enqueue_ns: job.enqueue_ns,
                suspect: alone,
            },
            input,
        });
        token += 1;
        if alone {
            break;
        }
    }
    tx.sequence_at_least(tables::meta::NEXT_TOKEN, token);
    Ok(out)
}

/// Puts back every lease held by a process that is gone, marking the jobs suspect.
fn reclaim_all(tx: &mut Tx<'_>) -> Result<usize, EngineError> {
    let leased: Vec<(u64, u32)> = tx
        .leases
        .iter()?
        .map(|entry| entry.map(|(k, v)| (k.value(), v.value().2)))
        .collect::<Result<_, _>>()?;
    for &(job_id, attempts) in &leased {
        tx.leases.remove(job_id)?;
        let Some(mut job) = tx.job(job_id)? else {
            continue;
        };
        job.attempts = attempts;
        job.state = JobState::Ready;
        job.suspect = true;
        tx.put_job(job_id, &job)?;
        tx.ready.insert(job.ready_key(job_id), ())?;
        tx.count(&job, Some(JobState::Running), Some(JobState::Ready));
    }
    Ok(leased.len())
}

/// Gives back leases whose jobs never started, refunding their attempt.
fn release(tx: &mut Tx<'_>, leases: &[(u64, u64)]) -> Result<usize, EngineError> {
    let mut released = 0;
    for &(job_id, token) in leases {
        let held = tx.leases.get(job_id)?.map(|v| v.value().0);
        if held != Some(token) {
            continue;
        }
        let Some(job) = tx.job(job_id)? else {
            continue;
        };
        // The record still holds the attempts from before the claim: the refund is free.
        tx.leases.remove(job_id)?;
        tx.ready.insert(job.ready_key(job_id), ())?;
        tx.count(&job, Some(JobState::Running), Some(JobState::Ready));
        released += 1;
    }
    Ok(released)
}
