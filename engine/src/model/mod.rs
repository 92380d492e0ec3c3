//! The engine's plain data: ids, tiers, priorities, leases and their outcomes, job
//! states, file identity, stored outputs, the gate's types and what
//! enqueueing outdated work did. Nothing here reads or writes the store,
//! and nothing here depends on another module of the crate.

mod curation;
mod file;
mod gate;
mod health;
mod job;
mod lease;
mod outdated;
mod output;
mod priority;
mod tier;
mod until;

pub use curation::{
    CollectionImport, CollectionInfo, CollectionPlace, ContentHash, Curation, CurationEdit,
    CurationExport, CurationFilter, CurationImport, LabelProblem, MAX_LABEL_CHARS, MAX_RATING,
    MAX_TAGS, MergeReport, fold_label, normalize_label,
};
pub(crate) use file::{FileEntry, entry_for};
pub use file::{is_ignored, stat_of};
pub(crate) use gate::GateRecord;
pub use gate::{EnrichmentGate, EnrichmentRule, ImportOptions};
pub use health::{DatabaseHealth, DatabaseState};
pub use job::JobState;
pub use kiln_plugin_api::{AssetId, ImportId, JobId};
pub(crate) use lease::Claimed;
pub use lease::{ClaimedJob, Completion, Failure, Lease};
pub use outdated::Outdated;
pub(crate) use output::{ArtifactRecord, StoredOutput};
pub use priority::Priority;
pub use tier::Tier;
pub use until::Until;
