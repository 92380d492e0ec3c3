//! Whether the blobs a store's records name are there and sound.

use std::path::{Path, PathBuf};

use redb::{ReadTransaction, ReadableTable};

use crate::error::EngineError;
use crate::model::AssetId;
use crate::store::blobs::blob_path;
use crate::store::tables::{FACTS, FactRecord, decode};

/// A blob a record names that is missing or holds other bytes than its name
/// says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobProblem {
    /// The asset whose stage made it.
    pub asset: AssetId,
    /// The stage that made it (re-running it makes the blob again).
    pub stage: String,
    /// The artifact's name (`thumbnail`, `proxy`…).
    pub artifact: String,
    /// Where the blob should be.
    pub path: PathBuf,
}

/// What [`Engine::blob_health`](crate::Engine::blob_health) found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobHealth {
    /// Blobs named by records and looked at.
    pub checked: u64,
    /// Of those, missing from the blob folder.
    pub missing: Vec<BlobProblem>,
    /// Of those, present with bytes whose hash is not their name (only
    /// looked for by a deep check).
    pub corrupt: Vec<BlobProblem>,
}

impl BlobHealth {
    /// Whether every blob looked at is sound.
    pub fn is_sound(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty()
    }
}

/// Looks at every blob a fact record names; with `deep`, hashes each.
pub(crate) fn blob_health(
    txn: &ReadTransaction,
    blobs: &Path,
    deep: bool,
) -> Result<BlobHealth, EngineError> {
    let mut health = BlobHealth::default();
    let facts = txn.open_table(FACTS)?;
    for entry in facts.iter()? {
        let (key, value) = entry?;
        let (asset, stage) = key.value();
        let record: FactRecord = decode("facts", value.value())?;
        for artifact in &record.artifacts {
            health.checked += 1;
            let path = blob_path(blobs, &artifact.blob);
            let problem = || BlobProblem {
                asset: AssetId::new(asset),
                stage: stage.to_owned(),
                artifact: artifact.name.clone(),
                path: path.clone(),
            };
            if !path.is_file() {
                health.missing.push(problem());
            } else if deep && !hash_matches(&path, &artifact.blob) {
                health.corrupt.push(problem());
            }
        }
    }
    Ok(health)
}

/// Whether the blake3 hash of the file at `path` is `name`. A file that
/// cannot be read does not match.
fn hash_matches(path: &Path, name: &str) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(file).is_ok()
        && crate::store::blobs::hex(hasher.finalize().as_bytes()) == name
}
