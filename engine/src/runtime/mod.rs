//! What runs while the engine is open: the group-commit writer thread, the
//! blob-sync thread, the store's doorbell (how other processes wake an idle
//! primary), the scheduler (its claim policy in `scheduler::claiming`,
//! its worker pool in `scheduler::pool`), folder walks, the progress
//! publisher and this process's worker counters. Each piece is given the
//! handles it uses when it starts.

pub(crate) mod blob_sync;
pub(crate) mod doorbell;
pub(crate) mod halt;
pub(crate) mod metrics;
pub(crate) mod progress;
pub(crate) mod scheduler;
pub(crate) mod walk;
pub(crate) mod writer;
