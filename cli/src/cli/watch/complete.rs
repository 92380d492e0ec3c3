//! Whether a file an event named is complete: unchanged between two looks
//! and, for a PNG, ended with its IEND chunk.

use kiln::engine::stat_of;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

/// A file that starts like a PNG but has not ended with IEND, and has not
/// changed for this long, is submitted anyway: its stages then say what is
/// wrong with it instead of the watch waiting for it forever.
const PNG_PATIENCE: Duration = Duration::from_secs(30);
/// The first bytes of every PNG.
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
/// The last bytes of every complete PNG: the empty IEND chunk and its CRC.
const PNG_END: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82];

/// `(size, mtime_ns)` of a file, as intake records it.
pub(super) type Stat = (u64, u64);

/// A path some event named, waiting to be complete.
pub(super) struct Candidate {
    /// What the last look saw.
    last: Option<Stat>,
    /// When the last look first saw `last`.
    since: Instant,
}

/// What one look at a candidate decided.
pub(super) enum Verdict {
    /// Still being written, or not yet seen twice the same.
    Wait {
        /// Whether it changed since the previous look.
        changed: bool,
    },
    /// Complete: submit it (`None` when it could not be examined; intake
    /// records why as a dead letter).
    Ready(Option<Stat>),
    /// Deleted before it was taken in.
    Gone,
    /// A folder appeared: import it as a folder.
    Folder,
    /// Nothing to take in (unchanged since submitted, not a regular file).
    Drop,
}

impl Candidate {
    /// A path not looked at yet.
    pub(super) fn new() -> Candidate {
        Candidate {
            last: None,
            since: Instant::now(),
        }
    }

    /// Looks at the file once more: gone, a folder, still changing, or
    /// complete. `submitted` is what it looked like when it was last
    /// submitted, if it was.
    pub(super) fn judge(&mut self, path: &Path, submitted: Option<&Stat>) -> Verdict {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Verdict::Gone,
            Err(_) => return Verdict::Ready(None),
        };
        if meta.is_dir() {
            return Verdict::Folder;
        }
        if !meta.is_file() {
            return Verdict::Drop;
        }
        let stat = stat_of(&meta);
        if submitted == Some(&stat) {
            return Verdict::Drop;
        }
        if self.last != Some(stat) {
            self.last = Some(stat);
            self.since = Instant::now();
            return Verdict::Wait { changed: true };
        }
        if png_complete(path, stat.0) || self.since.elapsed() >= PNG_PATIENCE {
            return Verdict::Ready(Some(stat));
        }
        Verdict::Wait { changed: false }
    }
}

/// Whether a file is complete as far as its format tells: a file that starts
/// like a PNG must end with the IEND chunk; any other file is complete once
/// it stops changing. A file too short to tell is not complete yet.
fn png_complete(path: &Path, size: u64) -> bool {
    let Ok(mut file) = File::open(path) else {
        // Unreadable: intake records why.
        return true;
    };
    let mut head = [0u8; 8];
    if file.read_exact(&mut head).is_err() {
        return false;
    }
    if head != PNG_SIGNATURE {
        return true;
    }
    let mut tail = [0u8; 12];
    size >= (PNG_SIGNATURE.len() + PNG_END.len()) as u64
        && file.seek(SeekFrom::End(-(PNG_END.len() as i64))).is_ok()
        && file.read_exact(&mut tail).is_ok()
        && tail == PNG_END
}
