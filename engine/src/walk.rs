//! The lazy directory walk of an import, paced by the READY watermark.
//!
//! The walk holds one open directory per level and one small chunk of entries,
//! so a folder of a million files costs what a thousand do. Before each chunk
//! it checks READY depth (an O(1) `len`); above the high mark it waits until
//! depth falls under the low mark.

use std::collections::HashSet;
use std::fs::{self, Metadata, ReadDir};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

use redb::{ReadableDatabase, ReadableTableMetadata};

use crate::engine::Shared;
use crate::tables::READY;
use crate::txn::intake::FileEntry;
use crate::writer::OpKind;

/// Files sent to the writer per intake operation.
const CHUNK: usize = 64;

/// `(size, mtime_ns)` of a file: what intake compares to tell an unchanged
/// file from a changed one.
pub fn stat_of(meta: &Metadata) -> (u64, u64) {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    (meta.len(), mtime)
}

/// Whether intake ignores a file or folder by its name: hidden entries and
/// the names other programs give files they are still writing (`.tmp`,
/// `.part`, …). Folder walks apply it; a folder watcher applies it too, so
/// both take in the same files.
pub fn is_ignored(name: &str) -> bool {
    const TEMP_SUFFIXES: [&str; 6] = [".tmp", ".temp", ".part", ".partial", ".crdownload", "~"];
    let lower = name.to_ascii_lowercase();
    name.starts_with('.') || TEMP_SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// The intake entry for one path.
pub(crate) fn entry_for(path: &Path) -> FileEntry {
    let stat = fs::metadata(path)
        .map_err(|e| format!("cannot read file: {e}"))
        .and_then(|m| {
            if m.is_file() {
                Ok(stat_of(&m))
            } else {
                Err("not a regular file".to_owned())
            }
        });
    match path.to_str() {
        Some(s) => FileEntry {
            path: Ok(s.to_owned()),
            stat,
        },
        None => FileEntry {
            path: Err(path.to_string_lossy().into_owned()),
            stat,
        },
    }
}

/// A depth-first walk that follows symlinks but enters each directory once.
struct Walk {
    stack: Vec<ReadDir>,
    seen: HashSet<(u64, u64)>,
    exclude: Option<PathBuf>,
}

#[cfg(unix)]
fn identity(meta: &Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity(meta: &Metadata) -> (u64, u64) {
    (0, stat_of(meta).1)
}

impl Walk {
    fn new(root: &Path, exclude: Option<PathBuf>) -> Result<Walk, std::io::Error> {
        let meta = fs::metadata(root)?;
        let mut seen = HashSet::new();
        seen.insert(identity(&meta));
        Ok(Walk {
            stack: vec![fs::read_dir(root)?],
            seen,
            exclude,
        })
    }
}

impl Iterator for Walk {
    type Item = FileEntry;

    fn next(&mut self) -> Option<FileEntry> {
        loop {
            let top = self.stack.last_mut()?;
            let Some(entry) = top.next() else {
                self.stack.pop();
                continue;
            };
            let Ok(entry) = entry else {
                continue;
            };
            let name = entry.file_name();
            if name.to_str().is_some_and(is_ignored) {
                continue;
            }
            let path = entry.path();
            if self.exclude.as_deref() == Some(path.as_path()) {
                continue;
            }
            match fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => {
                    if self.seen.insert(identity(&meta))
                        && let Ok(dir) = fs::read_dir(&path)
                    {
                        self.stack.push(dir);
                    }
                }
                Ok(meta) if meta.is_file() => {
                    let mut file = entry_for(&path);
                    file.stat = Ok(stat_of(&meta));
                    return Some(file);
                }
                Ok(_) => continue,
                Err(_) => return Some(entry_for(&path)),
            }
        }
    }
}

/// Runs the walk of `import_id` under `root` on the calling thread.
pub(crate) fn run_walk(shared: Arc<Shared>, import_id: u64, root: PathBuf) {
    let exclude = fs::canonicalize(&shared.store.dir).ok();
    let walk = match Walk::new(&root, exclude) {
        Ok(walk) => Some(walk),
        Err(e) => {
            let mut entry = entry_for(&root);
            entry.stat = Err(format!("cannot read folder: {e}"));
            let _ = shared.writer.call_blocking(OpKind::Intake {
                import_id,
                files: vec![entry],
            });
            None
        }
    };
    let roots = shared.root_count().max(1) as u64;
    // A chunk adds at most a quarter of the high mark, so READY stays under it.
    let chunk_len = usize::try_from(shared.config.watermark_high / 4 / roots)
        .unwrap_or(CHUNK)
        .clamp(1, CHUNK);
    if let Some(walk) = walk {
        let mut chunk = Vec::with_capacity(chunk_len);
        for entry in walk {
            chunk.push(entry);
            if chunk.len() == chunk_len {
                if !wait_for_room(&shared, import_id, chunk_len as u64 * roots) {
                    return;
                }
                if !take_in(&shared, import_id, std::mem::take(&mut chunk)) {
                    return;
                }
            }
        }
        if !chunk.is_empty() {
            let n = chunk.len() as u64;
            if !wait_for_room(&shared, import_id, n * roots) {
                return;
            }
            if !take_in(&shared, import_id, std::mem::take(&mut chunk)) {
                return;
            }
        }
    }
    let _ = shared
        .writer
        .call_blocking(OpKind::FinishWalk { import_id });
}

/// Commits one chunk of the walk and wakes the scheduler, so its jobs start
/// at once instead of at the scheduler's next poll. False when the writer is
/// gone.
fn take_in(shared: &Shared, import_id: u64, files: Vec<FileEntry>) -> bool {
    let taken = shared
        .writer
        .call_blocking(OpKind::Intake { import_id, files })
        .is_ok();
    if taken {
        shared.wake();
    }
    taken
}

/// The number of READY jobs.
pub(crate) fn ready_depth(shared: &Shared) -> u64 {
    shared
        .store
        .db
        .begin_read()
        .ok()
        .and_then(|txn| txn.open_table(READY).ok())
        .and_then(|t| t.len().ok())
        .unwrap_or(0)
}

/// Waits until `adding` more READY jobs stay under the high watermark.
/// Returns false when the engine is shutting down.
fn wait_for_room(shared: &Shared, import_id: u64, adding: u64) -> bool {
    let high = shared.config.watermark_high;
    let low = shared.config.watermark_low.min(high);
    if ready_depth(shared) + adding <= high {
        return true;
    }
    set_paused(shared, import_id, true);
    let room = loop {
        if shared.closing.load(Ordering::SeqCst) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(5));
        let depth = ready_depth(shared);
        if depth <= low && depth + adding <= high.max(adding) {
            break true;
        }
    };
    set_paused(shared, import_id, false);
    room
}

fn set_paused(shared: &Shared, import_id: u64, paused: bool) {
    if let Ok(mut set) = shared.paused_walks.lock() {
        if paused {
            set.insert(import_id);
        } else {
            set.remove(&import_id);
        }
    }
}
