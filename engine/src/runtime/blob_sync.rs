//! The blob-sync thread: makes the blobs workers wrote durable, in the order
//! they arrive, and only then hands each job's completion on.

use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use crate::error::EngineError;
use crate::store::blobs::{PendingBlob, finish_all};

/// What runs once a job's blobs are durable (or could not be made so).
pub(crate) type AfterSync = Box<dyn FnOnce(Result<(), EngineError>) + Send>;

/// One job for the syncer: its blobs and what runs after them.
type SyncJob = (Vec<PendingBlob>, AfterSync);

/// Jobs waiting for the syncer; a full queue makes workers wait, which
/// bounds the open temporary files.
const SYNC_QUEUE: usize = 64;

/// A thread that makes staged blobs durable in the order they arrive and
/// then runs each job's continuation.
#[derive(Debug)]
pub(crate) struct BlobSyncer {
    sender: Mutex<Option<SyncSender<SyncJob>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl BlobSyncer {
    /// Starts the thread.
    pub(crate) fn start() -> BlobSyncer {
        let (sender, receiver) = mpsc::sync_channel(SYNC_QUEUE);
        let thread = std::thread::Builder::new()
            .name("kiln-blob-sync".into())
            .spawn(move || run_syncer(receiver))
            .ok();
        let sender = if thread.is_some() { Some(sender) } else { None };
        BlobSyncer {
            sender: Mutex::new(sender),
            thread: Mutex::new(thread),
        }
    }

    /// Makes `pending` durable, then runs `then` with the outcome. With
    /// nothing pending, or when the thread is gone, runs it on this thread.
    pub(crate) fn submit(&self, pending: Vec<PendingBlob>, then: AfterSync) {
        if pending.is_empty() {
            then(Ok(()));
            return;
        }
        let sender = self.sender.lock().ok().and_then(|s| s.clone());
        let unsent = match sender {
            Some(sender) => match sender.send((pending, then)) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => (pending, then),
        };
        let (pending, then) = unsent;
        then(finish_all(pending));
    }

    /// Finishes every queued job and stops the thread.
    pub(crate) fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

fn run_syncer(receiver: Receiver<SyncJob>) {
    for (pending, then) in receiver {
        then(finish_all(pending));
    }
}
