//! The claim policy: the feeder task that decides how much to claim and
//! when, claims in batches, reads the claimed jobs' inputs and queues them
//! for the workers.

use std::cmp::Reverse;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redb::{ReadableDatabase, ReadableTable};

use super::state::{Handles, Queued, SchedState, queue_len};
use crate::error::EngineError;
use crate::model::{Claimed, Priority};
use crate::store::damage;
use crate::store::facts::fill_inputs;
use crate::store::tables::{READY, RETRYING};
use crate::txn::claim::Claim;

/// Fewest claimed jobs kept queued per worker. A refill costs a claim commit
/// (often behind one already in progress) and a read of the inputs, and a
/// run of fast jobs (hashing) empties a short queue before it arrives: with
/// two per worker, 500-image imports left each worker idle for about 2% of
/// the time; with eight, under 1%.
const MIN_QUEUED_PER_WORKER: u64 = 8;

/// How many claimed jobs to keep queued: enough to keep the workers busy for
/// a few group commits, never more than `claim_batch`. Slow stages thus keep a
/// short queue (fewer leases held, fewer suspects after a crash, fresher
/// priorities); fast stages claim in large batches that share commits.
pub(super) fn buffer_target(handles: &Handles, state: &SchedState) -> usize {
    let lanes = handles.config.workers.max(1) + 1;
    let max = handles.config.claim_batch.max(1);
    let stats = &handles.writer.stats;
    let commits = stats.commits.load(Ordering::Relaxed).max(1);
    let commit_ns = stats.commit_ns.load(Ordering::Relaxed) / commits;
    let job_ns = state.job_ns.load(Ordering::Relaxed);
    if job_ns == 0 {
        return max.min(lanes * 2);
    }
    let per_lane = (commit_ns.saturating_mul(4) / job_ns).max(MIN_QUEUED_PER_WORKER);
    let wanted = usize::try_from(per_lane)
        .unwrap_or(usize::MAX)
        .saturating_mul(lanes);
    wanted.clamp(lanes.min(max), max)
}

pub(super) async fn feeder(handles: Arc<Handles>, state: Arc<SchedState>) {
    let idle = handles.config.idle_poll;
    let lane_claim = handles.config.workers.max(1) + 1;
    let mut last_peek = Instant::now();
    while !state.stop.load(Ordering::SeqCst) {
        if handles.halt.is_raised() {
            // A full disk: claim nothing until the workers are started again.
            tokio::time::sleep(idle).await;
            continue;
        }
        let target = buffer_target(&handles, &state);
        let len = queue_len(&state);
        let (max, below) = if len * 2 > target {
            // The queue is full of claimed work. Still take work that should
            // run before the worst of it: interactive jobs (possibly queued
            // by another process), and the next stage of an asset in a lower
            // tier than queued work, which would otherwise wait behind it.
            let since = last_peek.elapsed();
            let waited = since < idle;
            if waited {
                let woken = tokio::time::timeout(idle - since, state.feeder_wake.notified())
                    .await
                    .is_ok();
                if !woken {
                    continue;
                }
            }
            // Taken after the wait: the queue may have changed meanwhile.
            let bound = jumps_ahead_of(&state);
            // A wake-up (a submission, or a commit that queued another stage)
            // claims such work at once when some is waiting; otherwise the
            // periodic look suffices.
            if waited && !ready_before(&handles, bound) {
                continue;
            }
            (lane_claim, Some(bound))
        } else {
            (target.saturating_sub(len).max(1), None)
        };
        last_peek = Instant::now();
        let claimed = match handles.writer.call(Claim { max, below }).await {
            Ok(list) => list,
            Err(_) => {
                tokio::time::sleep(idle).await;
                continue;
            }
        };
        let claimed = fill(&handles, claimed).await;
        if claimed.is_empty() {
            if below.is_none() {
                idle_wait(&handles, &state).await;
            }
            continue;
        }
        let suspect = claimed.iter().any(|c| c.0.lease.suspect);
        if suspect {
            // A job that was running when a process died runs alone.
            wait_drained(&state).await;
        }
        handles.metrics.claimed(claimed.len());
        if let Ok(mut q) = state.queue.lock() {
            for c in claimed {
                q.push(Reverse(c));
            }
        }
        state.queue_changed.notify_all();
        if suspect {
            wait_drained(&state).await;
        }
    }
}

/// The longest an idle feeder sleeps for a retry: a clock set back while
/// it sleeps holds the retry no longer than this.
const LONGEST_RETRY_SLEEP: Duration = Duration::from_secs(60);

/// Waits, with nothing to claim, until there may be: a wake-up (a
/// submission or a finished job of this process, another process's commit
/// through the store's doorbell) or the due time of the next retry. Nothing
/// else wakes an idle feeder; without the doorbell it looks again every
/// `idle_poll`, for work other processes queued.
async fn idle_wait(handles: &Handles, state: &SchedState) {
    let mut wait = next_retry_in(handles);
    if let Some(due) = wait.as_mut()
        && !handles.config.clock.follows_real_time()
    {
        *due = (*due).min(handles.config.idle_poll);
    }
    if !handles.listening.get() {
        let poll = handles.config.idle_poll;
        wait = Some(wait.map_or(poll, |w| w.min(poll)));
    }
    match wait {
        Some(wait) => {
            let _ = tokio::time::timeout(wait, state.feeder_wake.notified()).await;
        }
        None => state.feeder_wake.notified().await,
    }
}

/// How long until the first job waiting for a retry is due (zero when it
/// is), `None` when no job waits for one.
fn next_retry_in(handles: &Handles) -> Option<Duration> {
    let first = || -> Result<Option<u64>, EngineError> {
        let txn = handles.store.db.begin_read()?;
        let retrying = txn.open_table(RETRYING)?;
        Ok(retrying.first()?.map(|(key, _)| key.value().0))
    };
    match damage::contain(handles.store.database_file(), first) {
        Ok(Some(run_at)) => {
            let now = handles.config.clock.now_ns();
            let due = Duration::from_nanos(run_at.saturating_sub(now));
            Some(due.clamp(Duration::from_millis(1), LONGEST_RETRY_SLEEP))
        }
        Ok(None) => None,
        // Unreadable now: look again a little later.
        Err(_) => Some(handles.config.idle_poll),
    }
}

/// Reads the inputs of freshly claimed jobs in one read transaction, off the
/// writer thread and off the async threads.
async fn fill(handles: &Arc<Handles>, claimed: Vec<Claimed>) -> Vec<Queued> {
    if claimed.is_empty() {
        return Vec::new();
    }
    let reader = handles.clone();
    let task = tokio::task::spawn_blocking(move || {
        let mut claimed = claimed;
        let filled = damage::contain(reader.store.database_file(), || {
            let txn = reader.store.db.begin_read()?;
            let graph = reader.graph.current();
            fill_inputs(&txn, &reader.store.blobs, &graph, &mut claimed)
        })
        .map_err(|e| e.to_string());
        claimed
            .into_iter()
            .map(|c| Queued(c, filled.clone()))
            .collect::<Vec<_>>()
    });
    task.await.unwrap_or_default()
}

/// The `(priority, tier)` a job must sort before to be claimed into a full
/// queue: that of the worst job queued, and never less than every
/// interactive job.
fn jumps_ahead_of(state: &SchedState) -> (u8, u8) {
    let worst = state.queue.lock().ok().and_then(|q| {
        q.iter()
            .map(|Reverse(Queued(c, _))| {
                let key = c.lease.order_key();
                (key.0, key.1)
            })
            .max()
    });
    let interactive = (Priority::Interactive.as_u8() + 1, 0);
    worst.map_or(interactive, |w| w.max(interactive))
}

/// Whether READY holds a job whose `(priority, tier)` sorts before `bound`:
/// one read of its first key, cheap enough to ask on every wake-up.
fn ready_before(handles: &Handles, bound: (u8, u8)) -> bool {
    let first = || -> Result<bool, EngineError> {
        let txn = handles.store.db.begin_read()?;
        let ready = txn.open_table(READY)?;
        let first = ready.first()?.map(|(key, _)| key.value());
        Ok(first.is_some_and(|key| (key.0, key.1) < bound))
    };
    damage::contain(handles.store.database_file(), first).unwrap_or(false)
}

async fn wait_drained(state: &SchedState) {
    while (queue_len(state) > 0 || state.in_flight.load(Ordering::SeqCst) > 0)
        && !state.stop.load(Ordering::SeqCst)
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
