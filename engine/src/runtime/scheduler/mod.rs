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
//! Idle, nothing wakes: workers wait on the queue's condition variable, the
//! feeder waits for a wake-up (a local submission or commit, another
//! process's commit through the store's doorbell) or for the due time of the
//! next retry, whichever comes first.
//!
//! Workers do not wait for their completion to be durable before taking the
//! next job: they leave the artifacts' fsync and rename to the blob syncer,
//! which hands the completion to the writer once they are durable, and the
//! writer acknowledges it later.
//!
//! Read bottom-up: `state` (what the parts share), `claiming` (the claim
//! policy and the feeder), `pool` (the workers); this module starts and
//! stops them.

mod claiming;
mod pool;
mod state;

pub(crate) use state::Handles;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::Notify;

use super::blob_sync::BlobSyncer;
use super::doorbell::Doorbell;
use super::writer::Writer;
use crate::txn::claim::Release;
use state::{Queued, SchedState};

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

/// A running scheduler.
pub(crate) struct Scheduler {
    state: Arc<SchedState>,
    feeder: tokio::task::JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
    /// Other processes' commits wake the feeder through it.
    doorbell: Option<Doorbell>,
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
        let feeder_wake = state.feeder_wake.clone();
        let commits = handles.writer.commits.clone();
        let doorbell = Doorbell::listen(&handles.store.dir, handles.listening.clone(), move || {
            feeder_wake.notify_one();
            commits.send_modify(|n| *n += 1);
        });
        let feeder = runtime.spawn(claiming::feeder(handles, state.clone()));
        wake.attach(state.feeder_wake.clone());
        Scheduler {
            state,
            feeder,
            workers,
            doorbell,
        }
    }

    /// Stops claiming, lets running jobs finish and become durable, and
    /// releases the claimed jobs that never started.
    pub(crate) async fn stop(self, writer: &Writer, wake: &Wake) {
        wake.detach();
        if let Some(doorbell) = self.doorbell {
            let _ = tokio::task::spawn_blocking(move || doorbell.close()).await;
        }
        self.state.stop.store(true, Ordering::SeqCst);
        self.state.feeder_wake.notify_one();
        // Under the queue's lock, so no worker between its check of `stop`
        // and its wait misses this.
        drop(self.state.queue.lock());
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
