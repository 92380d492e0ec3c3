//! The engine's plain data: priorities, leases and their outcomes, job
//! states, file identity, stored outputs, the gate's types and what
//! enqueueing outdated work did. Nothing here reads or writes the store,
//! and nothing here depends on another module of the crate.

mod file;
mod gate;
mod job;
mod lease;
mod outdated;
mod output;
mod priority;
mod until;

pub(crate) use file::{FileEntry, entry_for};
pub use file::{is_ignored, stat_of};
pub(crate) use gate::GateRecord;
pub use gate::{AssetGate, Gate, ImportOptions};
pub(crate) use job::state;
pub(crate) use lease::Claimed;
pub use lease::{ClaimedJob, Completion, Failure, Lease};
pub use outdated::Outdated;
pub(crate) use output::{ArtifactRecord, StoredOutput};
pub use priority::Priority;
pub use until::Until;
