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

mod claiming;
mod pool;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::Notify;

use super::blob_sync::BlobSyncer;
use super::metrics::MetricsState;
use super::writer::Writer;
use crate::config::Config;
use crate::graph::GraphCell;
use crate::model::Claimed;
use crate::store::Store;
use crate::txn::claim::Release;

/// What the feeder and the workers use of the engine.
#[derive(Debug, Clone)]
pub(crate) struct Handles {
    pub(crate) store: Arc<Store>,
    pub(crate) writer: Arc<Writer>,
    pub(crate) config: Arc<Config>,
    pub(crate) graph: Arc<GraphCell>,
    pub(crate) metrics: Arc<MetricsState>,
}

/// Wakes the feeder of the running scheduler, if there is one: new work
/// may be waiting (a submission, a chunk of a folder walk, a re-run).
#[derive(Debug, Default)]
pub(crate) struct Wake(Mutex<Option<Arc<Notify>>>);

impl Wake {
    /// Wakes the feeder now, or does nothing when no scheduler runs.
    pub(crate) fn ring(&self) {
        if let Ok(slot) = self.0.lock()
            && let Some(notify) = slot.as_ref()
        {
            notify.notify_one();
        }
    }

    fn attach(&self, notify: Arc<Notify>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(notify);
        }
    }

    fn detach(&self) {
        if let Ok(mut slot) = self.0.lock() {
            slot.take();
        }
    }
}

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
struct SchedState {
    queue: Mutex<BinaryHeap<Reverse<Queued>>>,
    queue_changed: Condvar,
    /// Jobs taken by a worker whose result is not yet durable.
    in_flight: AtomicUsize,
    stop: AtomicBool,
    feeder_wake: Arc<Notify>,
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
    pub(crate) fn start(
        handles: Arc<Handles>,
        wake: &Wake,
        runtime: &tokio::runtime::Handle,
    ) -> Scheduler {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let state = Arc::new(SchedState {
            queue: Mutex::new(BinaryHeap::new()),
            queue_changed: Condvar::new(),
            in_flight: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            feeder_wake: Arc::new(Notify::new()),
            cpu_slots: Mutex::new(cores),
            cpu_freed: Condvar::new(),
            job_ns: AtomicU64::new(0),
            syncer: BlobSyncer::start(),
            interactive_running: AtomicUsize::new(0),
        });
        let general = handles.config.workers.max(1);
        let mut workers = Vec::with_capacity(general + 1);
        for index in 0..=general {
            let lane = index == general;
            let handles = handles.clone();
            let state = state.clone();
            let name = if lane {
                "kiln-lane".to_owned()
            } else {
                format!("kiln-worker-{index}")
            };
            if let Ok(handle) = std::thread::Builder::new()
                .name(name)
                .spawn(move || pool::worker(handles, state, lane))
            {
                workers.push(handle);
            }
        }
        let feeder = runtime.spawn(claiming::feeder(handles, state.clone()));
        wake.attach(state.feeder_wake.clone());
        Scheduler {
            state,
            feeder,
            workers,
        }
    }

    /// Stops claiming, lets running jobs finish and become durable, and
    /// releases the claimed jobs that never started.
    pub(crate) async fn stop(self, writer: &Writer, wake: &Wake) {
        wake.detach();
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
            let _ = writer.call(Release { leases: leftover }).await;
        }
        while self.state.in_flight.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

fn queue_len(state: &SchedState) -> usize {
    state.queue.lock().map(|q| q.len()).unwrap_or(0)
}
