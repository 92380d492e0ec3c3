//! What enqueueing outdated work did: the import it created and the jobs
//! per stage.

use std::collections::BTreeMap;

use super::ImportId;

/// The work [`Engine::enqueue_outdated`](crate::Engine::enqueue_outdated)
/// enqueued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outdated {
    /// The import holding the new jobs, named `stages:<names>`; `None` when
    /// nothing was enqueued (no import is created then).
    pub import: Option<ImportId>,
    /// Jobs enqueued per stage name; stages with none are left out.
    pub per_stage: BTreeMap<String, u64>,
}

impl Outdated {
    /// Jobs enqueued in all.
    pub fn total(&self) -> u64 {
        self.per_stage.values().sum()
    }
}
