//! The scheduler: a feeder task on tokio that claims jobs in batches, and
//! worker threads that run stages off the async threads.
//!
//! Claimed jobs wait in a local heap ordered like READY, so an interactive job
//! claimed later still runs before batch jobs claimed earlier. One extra worker
//! (the lane) only ever takes interactive jobs, so urgent work never waits
//! for a batch job to finish, and while an interactive job runs batch workers
//! start no new batch job. A full heap still claims work that sorts before
//! the worst job it holds (interactive work, the next stage of an asset in a
//! lower tier): at once on a wake-up, otherwise once per poll period.
//!
//! Workers do not wait for their completion to be durable before taking the
//! next job: they leave the artifacts' fsync and rename to the blob syncer,
//! which hands the completion to the writer once they are durable, and the
//! writer acknowledges it later.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kiln_plugin_api::{CostClass, StageError};

use crate::blobs::{BlobSyncer, stage_output};
use crate::config::Priority;
use redb::{ReadableDatabase, ReadableTable};

use crate::engine::Shared;
use crate::error::EngineError;
use crate::input::fill_inputs;
use crate::lease::Claimed;
use crate::writer::{OpKind, Reply};

/// A claimed job with the outcome of reading its input.
struct Queued(Claimed, Result<(), String>);

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.0.lease.order_key() == other.0.lease.order_key()
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.lease.order_key().cmp(&other.0.lease.order_key())
    }
}

/// State shared by the feeder and the workers.
pub(crate) struct SchedState {
    queue: Mutex<BinaryHeap<Reverse<Queued>>>,
    queue_changed: Condvar,
    /// Jobs taken by a worker whose result is not yet durable.
    in_flight: AtomicUsize,
    stop: AtomicBool,
    feeder_wake: tokio::sync::Notify,
    cpu_slots: Mutex<usize>,
    cpu_freed: Condvar,
    /// Moving average of one stage call, in nanoseconds.
    job_ns: AtomicU64,
    /// Makes artifacts durable off the workers, before their completion is sent.
    syncer: BlobSyncer,
    /// Interactive jobs being worked on now. While there are any, batch
    /// workers finish their current job but start no new batch job, so the
    /// urgent one does not share the cores with them.
    interactive_running: AtomicUsize,
}

impl SchedState {
    fn record_job_time(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let old = self.job_ns.load(Ordering::Relaxed);
        let next = if old == 0 { ns } else { old - old / 8 + ns / 8 };
        self.job_ns.store(next, Ordering::Relaxed);
    }
}

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
fn buffer_target(shared: &Shared, state: &SchedState) -> usize {
    let lanes = shared.config.workers.max(1) + 1;
    let max = shared.config.claim_batch.max(1);
    let stats = &shared.writer.stats;
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

/// A running scheduler.
pub(crate) struct Scheduler {
    state: Arc<SchedState>,
    feeder: tokio::task::JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl Scheduler {
    pub(crate) fn start(shared: Arc<Shared>, runtime: &tokio::runtime::Handle) -> Scheduler {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let state = Arc::new(SchedState {
            queue: Mutex::new(BinaryHeap::new()),
            queue_changed: Condvar::new(),
            in_flight: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            feeder_wake: tokio::sync::Notify::new(),
            cpu_slots: Mutex::new(cores),
            cpu_freed: Condvar::new(),
            job_ns: AtomicU64::new(0),
            syncer: BlobSyncer::start(),
            interactive_running: AtomicUsize::new(0),
        });
        let general = shared.config.workers.max(1);
        let mut workers = Vec::with_capacity(general + 1);
        for index in 0..=general {
            let lane = index == general;
            let shared = shared.clone();
            let state = state.clone();
            let name = if lane {
                "kiln-lane".to_owned()
            } else {
                format!("kiln-worker-{index}")
            };
            if let Ok(handle) = std::thread::Builder::new()
                .name(name)
                .spawn(move || worker(shared, state, lane))
            {
                workers.push(handle);
            }
        }
        let feeder = runtime.spawn(feeder(shared, state.clone()));
        Scheduler {
            state,
            feeder,
            workers,
        }
    }

    /// Wakes the feeder: new work may be waiting.
    pub(crate) fn wake(&self) {
        self.state.feeder_wake.notify_one();
    }

    /// Stops claiming, lets running jobs finish and become durable, and
    /// releases the claimed jobs that never started.
    pub(crate) async fn stop(self, shared: &Shared) {
        self.state.stop.store(true, Ordering::SeqCst);
        self.state.feeder_wake.notify_one();
        self.state.queue_changed.notify_all();
        let _ = self.feeder.await;
        let workers = self.workers;
        let _ = tokio::task::spawn_blocking(move || {
            for w in workers {
                let _ = w.join();
            }
        })
        .await;
        // Every finished job's completion reaches the writer once the
        // syncer has made its blobs durable.
        self.state.syncer.close();
        let leftover: Vec<(u64, u64)> = match self.state.queue.lock() {
            Ok(mut q) => q
                .drain()
                .map(|Reverse(Queued(c, _))| (c.lease.job_id, c.lease.token))
                .collect(),
            Err(_) => Vec::new(),
        };
        // A prompt operation closes a commit of background completions at
        // once, so stopping never waits out the background window; its
        // answer comes after theirs, so the wait below is only a guard.
        if !leftover.is_empty() || self.state.in_flight.load(Ordering::SeqCst) > 0 {
            let _ = shared
                .writer
                .call(OpKind::Release { leases: leftover })
                .await;
        }
        while self.state.in_flight.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

fn queue_len(state: &SchedState) -> usize {
    state.queue.lock().map(|q| q.len()).unwrap_or(0)
}

async fn feeder(shared: Arc<Shared>, state: Arc<SchedState>) {
    let idle = shared.config.idle_poll;
    let lane_claim = shared.config.workers.max(1) + 1;
    let mut last_peek = Instant::now();
    while !state.stop.load(Ordering::SeqCst) {
        let target = buffer_target(&shared, &state);
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
            if waited && !ready_before(&shared, bound) {
                continue;
            }
            (lane_claim, Some(bound))
        } else {
            (target.saturating_sub(len).max(1), None)
        };
        last_peek = Instant::now();
        let claimed = match shared.writer.call(OpKind::Claim { max, below }).await {
            Ok(Reply::Claimed(list)) => list,
            Ok(_) => Vec::new(),
            Err(_) => {
                tokio::time::sleep(idle).await;
                continue;
            }
        };
        let claimed = fill(&shared, claimed).await;
        if claimed.is_empty() {
            if below.is_none() {
                let _ = tokio::time::timeout(idle, state.feeder_wake.notified()).await;
            }
            continue;
        }
        let suspect = claimed.iter().any(|c| c.0.lease.suspect);
        if suspect {
            // A job that was running when a process died runs alone.
            wait_drained(&state).await;
        }
        shared.metrics.claimed(claimed.len());
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

/// Reads the inputs of freshly claimed jobs in one read transaction, off the
/// writer thread and off the async threads.
async fn fill(shared: &Arc<Shared>, claimed: Vec<Claimed>) -> Vec<Queued> {
    if claimed.is_empty() {
        return Vec::new();
    }
    let reader = shared.clone();
    let task = tokio::task::spawn_blocking(move || {
        let mut claimed = claimed;
        let filled = reader
            .store
            .db
            .begin_read()
            .map_err(EngineError::from)
            .and_then(|txn| fill_inputs(&txn, &reader.store.blobs, &mut claimed))
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
fn ready_before(shared: &Shared, bound: (u8, u8)) -> bool {
    let first = || -> Result<bool, EngineError> {
        let txn = shared.read()?;
        let ready = txn.open_table(crate::tables::READY)?;
        let first = ready.first()?.map(|(key, _)| key.value());
        Ok(first.is_some_and(|key| (key.0, key.1) < bound))
    };
    first().unwrap_or(false)
}

async fn wait_drained(state: &SchedState) {
    while (queue_len(state) > 0 || state.in_flight.load(Ordering::SeqCst) > 0)
        && !state.stop.load(Ordering::SeqCst)
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn take_job(state: &SchedState, lane: bool) -> Option<Queued> {
    let mut q = state.queue.lock().ok()?;
    loop {
        if state.stop.load(Ordering::SeqCst) {
            return None;
        }
        let fits = match q.peek() {
            Some(Reverse(top)) if top.0.lease.priority == Priority::Interactive => true,
            Some(_) => !lane && state.interactive_running.load(Ordering::SeqCst) == 0,
            None => false,
        };
        if fits {
            let Reverse(job) = q.pop()?;
            state.in_flight.fetch_add(1, Ordering::SeqCst);
            return Some(job);
        }
        q = state
            .queue_changed
            .wait_timeout(q, Duration::from_millis(50))
            .ok()?
            .0;
    }
}

fn worker(shared: Arc<Shared>, state: Arc<SchedState>, lane: bool) {
    while let Some(job) = take_job(&state, lane) {
        if queue_len(&state) * 2 <= buffer_target(&shared, &state) {
            state.feeder_wake.notify_one();
        }
        run_job(&shared, &state, job, lane);
    }
}

/// Counts an interactive job as running until dropped, then lets waiting
/// batch workers go on.
struct Urgent<'a>(&'a SchedState);

impl<'a> Urgent<'a> {
    fn start(state: &'a SchedState) -> Urgent<'a> {
        state.interactive_running.fetch_add(1, Ordering::SeqCst);
        Urgent(state)
    }
}

impl Drop for Urgent<'_> {
    fn drop(&mut self) {
        self.0.interactive_running.fetch_sub(1, Ordering::SeqCst);
        // Take the queue lock so a worker between its check and its wait
        // cannot miss this notification.
        drop(self.0.queue.lock());
        self.0.queue_changed.notify_all();
    }
}

struct CpuSlot<'a>(&'a SchedState);

impl Drop for CpuSlot<'_> {
    fn drop(&mut self) {
        if let Ok(mut n) = self.0.cpu_slots.lock() {
            *n += 1;
        }
        self.0.cpu_freed.notify_one();
    }
}

fn cpu_slot(state: &SchedState) -> Option<CpuSlot<'_>> {
    let mut n = state.cpu_slots.lock().ok()?;
    while *n == 0 {
        n = state.cpu_freed.wait(n).ok()?;
    }
    *n -= 1;
    Some(CpuSlot(state))
}

fn run_job(shared: &Arc<Shared>, state: &Arc<SchedState>, job: Queued, lane: bool) {
    let started = Instant::now();
    let Queued(Claimed { lease, input }, filled) = job;
    let graph = shared.graph();
    let result = match filled.map(|()| graph.get(&lease.stage)) {
        Err(e) => Err(StageError::transient(format!(
            "cannot read the asset's earlier facts: {e}"
        ))),
        Ok(None) => Err(StageError::permanent(format!(
            "stage `{}` is not registered in this engine; register it and retry the dead letter",
            lease.stage
        ))),
        Ok(Some(entry)) => {
            // Counted before waiting for a CPU slot or the stage's lock, so
            // batch workers hold back while the urgent job waits, too.
            let _urgent = (lease.priority == Priority::Interactive).then(|| Urgent::start(state));
            // The lane may exceed the CPU limit by one so urgent work never waits.
            let _slot = if entry.info.cost == CostClass::Cpu && !lane {
                cpu_slot(state)
            } else {
                None
            };
            let _exclusive = if entry.info.concurrent {
                None
            } else {
                Some(entry.exclusive.lock())
            };
            let called = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(|| entry.stage.process(&input)));
            state.record_job_time(called.elapsed());
            match outcome {
                Ok(result) => result,
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "no message".to_owned());
                    Err(StageError::permanent(format!(
                        "stage `{}` panicked: {message}",
                        lease.stage
                    )))
                }
            }
        }
    };
    let (op, pending) = match result {
        Ok(output) => match stage_output(&shared.store.blobs, output) {
            Ok(staged) => (
                OpKind::Complete {
                    job_id: lease.job_id,
                    token: lease.token,
                    output: staged.output,
                },
                staged.pending,
            ),
            Err(e) => (blob_failure(&lease, &e), Vec::new()),
        },
        Err(error) => (
            OpKind::Fail {
                job_id: lease.job_id,
                token: lease.token,
                error,
            },
            Vec::new(),
        ),
    };
    let forward_state = state.clone();
    let forward_shared = shared.clone();
    let priority = lease.priority;
    state.syncer.submit(
        pending,
        Box::new(move |synced| {
            let op = match synced {
                Ok(()) => op,
                Err(e) => blob_failure(&lease, &e),
            };
            let metrics = forward_shared.metrics.clone();
            // A non-interactive completion may wait for a larger commit while
            // claimed work remains; once the queue is empty nothing else
            // would follow it soon, so it closes the commit.
            let background = priority != Priority::Interactive && queue_len(&forward_state) > 0;
            forward_shared.writer.send_with(
                op,
                Box::new(move |reply| {
                    metrics.finished(&reply, started.elapsed());
                    forward_state.in_flight.fetch_sub(1, Ordering::SeqCst);
                    forward_state.feeder_wake.notify_one();
                }),
                background,
            );
        }),
    );
}

/// A failed attempt for a job whose artifacts could not be stored: the disk
/// may recover, so it is retried.
fn blob_failure(lease: &crate::lease::Lease, error: &EngineError) -> OpKind {
    OpKind::Fail {
        job_id: lease.job_id,
        token: lease.token,
        error: StageError::transient(error.to_string()),
    }
}
