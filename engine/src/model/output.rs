//! A stage's output as the store records it: facts, content hash and the
//! artifacts already stored as blobs.

use kiln_plugin_api::Value;
use serde::{Deserialize, Serialize};

/// One artifact of a finished stage, stored in `blobs/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ArtifactRecord {
    pub(crate) name: String,
    pub(crate) media_type: String,
    pub(crate) blob: String,
}

/// A stage's result with its artifacts already stored as blobs.
#[derive(Debug)]
pub(crate) struct StoredOutput {
    pub(crate) facts: Value,
    pub(crate) artifacts: Vec<ArtifactRecord>,
    pub(crate) content_hash: Option<[u8; 32]>,
}
