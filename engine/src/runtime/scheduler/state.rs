//! What the scheduler's parts share: the handles they are given, the heap
//! of claimed jobs in claim order and the counters around it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::config::Config;
use crate::graph::GraphCell;
use crate::model::Claimed;
use crate::runtime::blob_sync::BlobSyncer;
use crate::runtime::doorbell::Listening;
use crate::runtime::halt::Halt;
use crate::runtime::metrics::MetricsState;
use crate::runtime::writer::Writer;
use crate::store::Store;

/// What the feeder and the workers use of the engine.
#[derive(Debug, Clone)]
pub(crate) struct Handles {
    pub(crate) store: Arc<Store>,
    pub(crate) writer: Arc<Writer>,
    pub(crate) config: Arc<Config>,
    pub(crate) graph: Arc<GraphCell>,
    pub(crate) metrics: Arc<MetricsState>,
    /// Raised when a worker found the disk full: claim nothing more.
    pub(crate) halt: Arc<Halt>,
    /// Whether other processes' commits ring this process (see
    /// `runtime::doorbell`); when they do not, an idle feeder polls.
    pub(crate) listening: Arc<Listening>,
}

/// A claimed job with the outcome of reading its input.
pub(super) struct Queued(pub(super) Claimed, pub(super) Result<(), String>);

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
pub(super) struct SchedState {
    pub(super) queue: Mutex<BinaryHeap<Reverse<Queued>>>,
    pub(super) queue_changed: Condvar,
    /// Jobs taken by a worker whose result is not yet durable.
    pub(super) in_flight: AtomicUsize,
    pub(super) stop: AtomicBool,
    pub(super) feeder_wake: Arc<Notify>,
    pub(super) cpu_slots: Mutex<usize>,
    pub(super) cpu_freed: Condvar,
    /// Moving average of one stage call, in nanoseconds.
    pub(super) job_ns: AtomicU64,
    /// Makes artifacts durable off the workers, before their completion is sent.
    pub(super) syncer: BlobSyncer,
    /// Interactive jobs being worked on now. While there are any, batch
    /// workers finish their current job but start no new batch job, so the
    /// urgent one does not share the cores with them.
    pub(super) interactive_running: AtomicUsize,
}

impl SchedState {
    pub(super) fn record_job_time(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let old = self.job_ns.load(Ordering::Relaxed);
        let next = if old == 0 { ns } else { old - old / 8 + ns / 8 };
        self.job_ns.store(next, Ordering::Relaxed);
    }
}

pub(super) fn queue_len(state: &SchedState) -> usize {
    state.queue.lock().map(|q| q.len()).unwrap_or(0)
}
