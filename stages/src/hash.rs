//! The `hash` stage: a streaming blake3 digest of the file, which the engine
//! uses as the asset's content identity (duplicate files become one asset).

use kiln_plugin_api::{CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, Value};
use std::io::{self, Read};
use std::path::Path;

/// Bytes read per call while hashing. Large enough that syscalls are cheap,
/// small enough that hashing a huge file never holds more than this in memory.
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// The stage name the engine and later stages refer to
/// ([`builtin::HASH`](kiln_plugin_api::builtin::HASH), where its facts are
/// described).
pub use kiln_plugin_api::builtin::HASH as HASH_STAGE_NAME;

/// Tier-1 stage that establishes an asset's content identity.
///
/// Facts written: `size` (bytes hashed, `u64`) and `hash` (lower-case hex of
/// the blake3 digest). The digest is also returned as
/// [`StageOutput::content_hash`], so the engine can merge duplicates.
#[derive(Debug, Clone, Copy, Default)]
pub struct HashStage;

impl HashStage {
    /// A hash stage.
    pub fn new() -> Self {
        HashStage
    }
}

/// The blake3 digest and the length of everything read from `path`.
///
/// Reads through a fixed buffer, so memory use does not depend on the file's
/// size.
///
/// # Errors
///
/// Any I/O error from opening or reading the file.
pub fn hash_file(path: &Path) -> io::Result<([u8; 32], u64)> {
    let mut file = crate::file::open_regular(path)?;
    hash_reader(&mut file)
}

/// The blake3 digest and length of everything `reader` yields until its end.
///
/// # Errors
///
/// Any I/O error except [`io::ErrorKind::Interrupted`], which is retried.
pub fn hash_reader(reader: &mut impl Read) -> io::Result<([u8; 32], u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; READ_BUFFER_BYTES];
    let mut total: u64 = 0;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buffer.get(..read).unwrap_or(&buffer);
        hasher.update(chunk);
        total = total.saturating_add(read as u64);
    }
    Ok((*hasher.finalize().as_bytes(), total))
}

/// Lower-case hexadecimal of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Classifies a file-access error for a stage: a file that is gone, is a
/// directory, or may not be read will not get better by waiting, everything
/// else (interrupted reads, a busy network share, an I/O hiccup) might.
pub(crate) fn io_stage_error(action: &str, path: &str, error: &io::Error) -> StageError {
    use io::ErrorKind as K;
    match error.kind() {
        K::NotFound => StageError::permanent(format!(
            "{action} {path}: the file no longer exists (deleted or moved after it was found); \
             re-import its new location"
        )),
        K::PermissionDenied => StageError::permanent(format!(
            "{action} {path}: permission denied; make the file readable and retry it"
        )),
        K::IsADirectory | K::InvalidInput | K::InvalidData | K::Unsupported => {
            StageError::permanent(format!("{action} {path}: {error}"))
        }
        _ => StageError::transient(format!("{action} {path}: {error} (will retry)")),
    }
}

impl Stage for HashStage {
    fn info(&self) -> StageInfo {
        StageInfo::new(HASH_STAGE_NAME, 1, kiln_plugin_api::TIER_BROWSABLE).cost(CostClass::Io)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let (digest, size) = hash_file(Path::new(&input.path))
            .map_err(|e| io_stage_error("cannot hash", &input.path, &e))?;
        let facts = Value::map([
            ("size", Value::from(size)),
            ("hash", Value::from(to_hex(&digest))),
        ]);
        Ok(StageOutput::facts(facts).with_content_hash(digest))
    }
}
