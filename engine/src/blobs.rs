//! The content-addressed blob folder beside the database.
//!
//! A blob is named by the blake3 hash of its bytes and written to a temporary
//! file that is renamed into place, so a reader never sees a partial blob and
//! writing the same bytes twice is harmless. Blobs are written before the
//! transaction that records them commits; a crash in between leaves an
//! unreferenced blob, never a reference to a missing one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use kiln_plugin_api::StageOutput;

use crate::error::EngineError;
use crate::tables::ArtifactRecord;
use crate::txn::complete::StoredOutput;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The hex name of a blob.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Where the blob with hex name `name` lives under `blobs_dir`.
pub(crate) fn blob_path(blobs_dir: &Path, name: &str) -> PathBuf {
    let prefix = name.get(..2).unwrap_or("00");
    blobs_dir.join(prefix).join(name)
}

/// Stores a stage's artifacts as blobs, ready for the transaction that records them.
pub(crate) fn store_output(
    blobs_dir: &Path,
    output: StageOutput,
) -> Result<StoredOutput, EngineError> {
    let mut artifacts = Vec::with_capacity(output.artifacts.len());
    for artifact in &output.artifacts {
        artifacts.push(ArtifactRecord {
            name: artifact.name.clone(),
            media_type: artifact.media_type.clone(),
            blob: write_blob(blobs_dir, &artifact.bytes)?,
        });
    }
    Ok(StoredOutput {
        facts: output.facts,
        artifacts,
        content_hash: output.content_hash,
    })
}

/// Stores `bytes` and returns the blob's hex name.
fn write_blob(blobs_dir: &Path, bytes: &[u8]) -> Result<String, EngineError> {
    let name = hex(blake3::hash(bytes).as_bytes());
    let path = blob_path(blobs_dir, &name);
    if path.exists() {
        return Ok(name);
    }
    let fail = |source| EngineError::Blob {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(fail)?;
    }
    let temp = path.with_extension(format!(
        "tmp{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = fs::File::create(&temp).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    drop(file);
    fs::rename(&temp, &path).map_err(fail)?;
    Ok(name)
}
