//! The content-addressed blob folder beside the database.
//!
//! A blob is named by the blake3 hash of its bytes and written to a temporary
//! file that is made durable and then renamed into place, so a reader never
//! sees a partial blob, a blob's name never exists before its bytes are on
//! disk, and writing the same bytes twice is harmless. Blobs, and the folder
//! entries naming them, are durable before the transaction that records
//! them commits; a crash in between leaves an unreferenced blob (or
//! temporary file), never a reference to a missing one.
//!
//! Workers only write the temporary files: the fsync and rename run on the
//! blob-sync thread (`runtime::blob_sync`), so a worker goes on to its next
//! image while the disk catches up, and the completion reaches the writer
//! only afterwards. Temporary files a dead process left behind are removed by
//! [`sweep_stale_temps`] when workers start.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use kiln_plugin_api::StageOutput;

use crate::error::EngineError;
use crate::model::{ArtifactRecord, StoredOutput};

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

/// Age from which a temporary blob file counts as left behind: its writer
/// renames or removes it within seconds, so an older one belongs to a
/// process that died in between.
pub(crate) const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);

/// A temporary blob file is named `<blob>.<TEMP_TAG><pid>-<n>`; blobs are
/// bare hex names.
const TEMP_TAG: &str = "tmp";

/// Removes the temporary files under `blobs_dir` last modified more than
/// `age` ago. Blobs themselves are never touched.
pub(crate) fn sweep_stale_temps(blobs_dir: &Path, age: Duration) {
    let Some(cutoff) = SystemTime::now().checked_sub(age) else {
        return;
    };
    let Ok(folders) = fs::read_dir(blobs_dir) else {
        return;
    };
    for folder in folders.flatten() {
        let Ok(entries) = fs::read_dir(folder.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let temporary = entry
                .file_name()
                .to_str()
                .and_then(|name| name.split_once('.'))
                .is_some_and(|(_, extension)| extension.starts_with(TEMP_TAG));
            let stale = temporary
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|modified| modified < cutoff);
            if stale {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// A blob whose bytes are written to a temporary file but are not yet
/// durable or visible under their name.
#[derive(Debug)]
pub(crate) struct PendingBlob {
    file: fs::File,
    temp: PathBuf,
    path: PathBuf,
}

impl PendingBlob {
    /// Makes the bytes durable, then gives the blob its name.
    fn finish(self) -> Result<(), EngineError> {
        let PendingBlob { file, temp, path } = self;
        let done = file.sync_data().and_then(|()| {
            drop(file);
            fs::rename(&temp, &path)
        });
        done.map_err(|source| {
            let _ = fs::remove_file(&temp);
            EngineError::Blob { path, source }
        })
    }

    /// Gives up the blob: closes and removes its temporary file.
    fn discard(self) {
        drop(self.file);
        let _ = fs::remove_file(&self.temp);
    }
}

/// A stage's output whose artifacts are written but not yet durable.
#[derive(Debug)]
pub(crate) struct StagedOutput {
    /// What the completion records once the blobs are durable.
    pub(crate) output: StoredOutput,
    /// The blobs to make durable first.
    pub(crate) pending: Vec<PendingBlob>,
}

impl StagedOutput {
    /// Makes every pending blob durable on this thread.
    pub(crate) fn finish(self) -> Result<StoredOutput, EngineError> {
        finish_all(self.pending)?;
        Ok(self.output)
    }
}

/// Makes every blob durable and named, then the folders holding the new
/// names, so a committed reference never outlives its blob's name.
pub(crate) fn finish_all(pending: Vec<PendingBlob>) -> Result<(), EngineError> {
    let mut first_error = None;
    let mut folders = BTreeSet::new();
    for blob in pending {
        let folder = blob.path.parent().map(Path::to_path_buf);
        match blob.finish() {
            Ok(()) => folders.extend(folder),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    for folder in folders {
        if let Err(source) = sync_dir(&folder) {
            first_error.get_or_insert(EngineError::Blob {
                path: folder,
                source,
            });
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Makes a folder's entries (names created or renamed in it) durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Stores a stage's artifacts durably, ready for the transaction that
/// records them.
pub(crate) fn store_output(
    blobs_dir: &Path,
    output: StageOutput,
) -> Result<StoredOutput, EngineError> {
    stage_output(blobs_dir, output)?.finish()
}

/// Writes a stage's artifacts to temporary files; the caller makes them
/// durable (directly or through the blob-sync thread) before recording them.
pub(crate) fn stage_output(
    blobs_dir: &Path,
    output: StageOutput,
) -> Result<StagedOutput, EngineError> {
    let mut artifacts = Vec::with_capacity(output.artifacts.len());
    let mut pending = Vec::new();
    for artifact in &output.artifacts {
        let (blob, written) = match write_blob(blobs_dir, &artifact.bytes) {
            Ok(written) => written,
            Err(e) => {
                // The output is not recorded, so the artifacts already
                // written would never be named: leave no temporary files.
                pending.into_iter().for_each(PendingBlob::discard);
                return Err(e);
            }
        };
        pending.extend(written);
        artifacts.push(ArtifactRecord {
            name: artifact.name.clone(),
            media_type: artifact.media_type.clone(),
            blob,
        });
    }
    Ok(StagedOutput {
        output: StoredOutput {
            facts: output.facts,
            artifacts,
            content_hash: output.content_hash,
        },
        pending,
    })
}

/// Writes `bytes` to a temporary file beside their blob; returns the blob's
/// hex name and the pending write (none when the blob already exists).
fn write_blob(
    blobs_dir: &Path,
    bytes: &[u8],
) -> Result<(String, Option<PendingBlob>), EngineError> {
    let name = hex(blake3::hash(bytes).as_bytes());
    let path = blob_path(blobs_dir, &name);
    if path.exists() {
        return Ok((name, None));
    }
    let fail = |source| EngineError::Blob {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent()
        && !parent.is_dir()
    {
        fs::create_dir_all(parent).map_err(fail)?;
        // The new folder's own name must be durable before blobs in it are.
        if let Some(above) = parent.parent() {
            sync_dir(above).map_err(fail)?;
        }
    }
    let temp = path.with_extension(format!(
        "{TEMP_TAG}{}-{}",
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = fs::File::create(&temp).map_err(fail)?;
    if let Err(source) = file.write_all(bytes) {
        drop(file);
        let _ = fs::remove_file(&temp);
        return Err(fail(source));
    }
    Ok((name, Some(PendingBlob { file, temp, path })))
}
