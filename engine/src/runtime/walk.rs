//! The lazy directory walk of an import, paced by the READY watermark.
//!
//! The walk holds one open directory per level and one small chunk of entries,
//! so a folder of a million files costs what a thousand do. Before each chunk
//! it checks READY depth (an O(1) `len`); above the high mark it waits until
//! depth falls under the low mark.

use std::collections::{HashMap, HashSet};
use std::fs::{self, Metadata, ReadDir};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use redb::{ReadableDatabase, ReadableTableMetadata};

use super::scheduler::Wake;
use super::writer::Writer;
use crate::config::Config;
use crate::graph::GraphCell;
use crate::model::{FileEntry, entry_for, is_ignored, stat_of};
use crate::store::tables::READY;
use crate::store::{Store, is_store_file};
use crate::txn::intake::{FinishWalk, Intake, NoteUnreadable};

/// Files sent to the writer per intake operation.
const CHUNK: usize = 64;

/// A depth-first walk that follows symlinks but enters each directory once,
/// skipping hidden and temporary folders ([`is_ignored`]) and yielding the
/// files whose names `take` accepts.
struct Walk {
    /// The open directories, with their paths, outermost first.
    stack: Vec<(PathBuf, ReadDir)>,
    seen: HashSet<(u64, u64)>,
    /// The store's directory, whose own files are never taken in.
    exclude: Option<PathBuf>,
    /// Folders that could not be read (or read to the end), with why, not
    /// yet handed on by [`Walk::take_problems`].
    problems: Vec<(String, String)>,
    /// Which files by name; a plain file it refuses is never `stat`ed.
    take: fn(&std::ffi::OsStr) -> bool,
}

/// The files intake takes in: any not [`is_ignored`].
fn intake_takes(name: &std::ffi::OsStr) -> bool {
    !name.to_str().is_some_and(is_ignored)
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
    fn new(
        root: &Path,
        exclude: Option<PathBuf>,
        take: fn(&std::ffi::OsStr) -> bool,
    ) -> Result<Walk, std::io::Error> {
        let meta = fs::metadata(root)?;
        let mut seen = HashSet::new();
        seen.insert(identity(&meta));
        Ok(Walk {
            stack: vec![(root.to_path_buf(), fs::read_dir(root)?)],
            seen,
            exclude,
            problems: Vec::new(),
            take,
        })
    }

    /// Notes that `folder` could not be read, or not to its end.
    fn problem(&mut self, folder: &Path, error: &std::io::Error) {
        let folder = folder.to_string_lossy().into_owned();
        if !self.problems.iter().any(|(f, _)| *f == folder) {
            self.problems.push((folder, error.to_string()));
        }
    }

    /// The folders found unreadable since the last call.
    fn take_problems(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.problems)
    }
}

impl Iterator for Walk {
    type Item = FileEntry;

    fn next(&mut self) -> Option<FileEntry> {
        loop {
            let (folder, top) = self.stack.last_mut()?;
            let Some(entry) = top.next() else {
                self.stack.pop();
                continue;
            };
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    // A directory that fails part way may fail again at
                    // once: leave it rather than spin on it.
                    let folder = folder.clone();
                    self.stack.pop();
                    self.problem(&folder, &e);
                    continue;
                }
            };
            let name = entry.file_name();
            let ignored = name.to_str().is_some_and(is_ignored);
            let kind = entry.file_type().ok();
            if (kind.is_some_and(|k| k.is_file()) && !(self.take)(&name))
                || (kind.is_some_and(|k| k.is_dir()) && ignored)
            {
                continue;
            }
            let path = entry.path();
            if self
                .exclude
                .as_deref()
                .is_some_and(|store| is_store_file(store, &path))
            {
                continue;
            }
            match fs::metadata(&path) {
                Ok(meta) if meta.is_dir() => {
                    if !ignored && self.seen.insert(identity(&meta)) {
                        match fs::read_dir(&path) {
                            Ok(dir) => self.stack.push((path, dir)),
                            Err(e) => self.problem(&path, &e),
                        }
                    }
                }
                Ok(meta) if meta.is_file() => {
                    if !(self.take)(&name) {
                        continue;
                    }
                    let mut file = entry_for(&path);
                    file.stat = Ok(stat_of(&meta));
                    return Some(file);
                }
                Ok(_) => continue,
                Err(_) if (self.take)(&name) => return Some(entry_for(&path)),
                Err(_) => continue,
            }
        }
    }
}

/// A file [`find_files`] found: its path, and its `(size, mtime_ns)` or
/// why it could not be examined.
pub type FoundFile = (PathBuf, Result<(u64, u64), String>);

/// The files under the folder `root` whose names `take` accepts, found as an
/// import's walk finds files: hidden and temporary folders skipped,
/// symlinks followed, each folder entered once, nothing inside the store
/// directory `store` (canonical). Each file comes with its `(size,
/// mtime_ns)` or why it could not be examined; folders that cannot be read
/// are passed over. For files intake leaves alone, such as XMP sidecars.
///
/// # Errors
/// When `root` cannot be read as a folder.
pub fn find_files(
    root: &Path,
    store: Option<PathBuf>,
    take: fn(&std::ffi::OsStr) -> bool,
) -> Result<impl Iterator<Item = FoundFile>, std::io::Error> {
    Ok(Walk::new(root, store, take)?
        .filter_map(|entry| Some((PathBuf::from(entry.path.ok()?), entry.stat))))
}

/// What a folder walk uses of the engine.
#[derive(Debug, Clone)]
pub(crate) struct Walker {
    pub(crate) store: Arc<Store>,
    pub(crate) writer: Arc<Writer>,
    pub(crate) config: Arc<Config>,
    pub(crate) graph: Arc<GraphCell>,
    pub(crate) wake: Arc<Wake>,
    /// Set when the engine shuts down: a paused walk gives up.
    pub(crate) closing: Arc<AtomicBool>,
    /// Imports whose walk waits for READY to fall under the watermark.
    pub(crate) paused: Arc<Mutex<HashSet<u64>>>,
}

/// The folder walks running in this process, one thread per import.
#[derive(Debug, Default)]
pub(crate) struct Walks {
    threads: Mutex<HashMap<u64, JoinHandle<()>>>,
}

impl Walks {
    /// Starts the walk of `import_id` under `root` on its own thread,
    /// unless it already runs here.
    pub(crate) fn spawn(&self, walker: Walker, import_id: u64, root: String) {
        let Ok(mut threads) = self.threads.lock() else {
            return;
        };
        threads.retain(|_, h| !h.is_finished());
        if threads.contains_key(&import_id) {
            return;
        }
        if let Ok(handle) = std::thread::Builder::new()
            .name(format!("kiln-walk-{import_id}"))
            .spawn(move || run_walk(&walker, import_id, root.into()))
        {
            threads.insert(import_id, handle);
        }
    }

    /// Whether the walk of `import_id` runs in this process.
    pub(crate) fn is_running(&self, import_id: u64) -> bool {
        self.threads
            .lock()
            .map(|w| w.get(&import_id).is_some_and(|h| !h.is_finished()))
            .unwrap_or(false)
    }

    /// Whether any walk runs in this process.
    pub(crate) fn any_running(&self) -> bool {
        self.threads
            .lock()
            .map(|w| w.values().any(|h| !h.is_finished()))
            .unwrap_or(false)
    }

    /// Takes every walk's thread, to be joined.
    pub(crate) fn drain(&self) -> Vec<JoinHandle<()>> {
        self.threads
            .lock()
            .map(|mut w| w.drain().map(|(_, h)| h).collect())
            .unwrap_or_default()
    }
}

/// Runs the walk of `import_id` under `root` on the calling thread.
fn run_walk(walker: &Walker, import_id: u64, root: PathBuf) {
    let exclude = fs::canonicalize(&walker.store.dir).ok();
    let walk = match Walk::new(&root, exclude, intake_takes) {
        Ok(walk) => Some(walk),
        Err(e) => {
            let mut entry = entry_for(&root);
            entry.stat = Err(format!("cannot read folder: {e}"));
            let _ = walker.writer.call_blocking(Intake {
                import_id,
                files: vec![entry],
            });
            None
        }
    };
    let roots = walker.graph.current().roots().count().max(1) as u64;
    // A chunk adds at most a quarter of the high mark, so READY stays under it.
    let chunk_len = usize::try_from(walker.config.watermark_high / 4 / roots)
        .unwrap_or(CHUNK)
        .clamp(1, CHUNK);
    if let Some(mut walk) = walk {
        let mut chunk = Vec::with_capacity(chunk_len);
        while let Some(entry) = walk.next() {
            chunk.push(entry);
            if chunk.len() == chunk_len {
                if !wait_for_room(walker, import_id, chunk_len as u64 * roots) {
                    return;
                }
                if !take_in(walker, import_id, std::mem::take(&mut chunk))
                    || !note_problems(walker, import_id, walk.take_problems())
                {
                    return;
                }
            }
        }
        if !chunk.is_empty() {
            let n = chunk.len() as u64;
            if !wait_for_room(walker, import_id, n * roots) {
                return;
            }
            if !take_in(walker, import_id, std::mem::take(&mut chunk)) {
                return;
            }
        }
        if !note_problems(walker, import_id, walk.take_problems()) {
            return;
        }
    }
    let _ = walker.writer.call_blocking(FinishWalk { import_id });
}

/// Records the folders the walk could not read. False when the writer is
/// gone. A walk resumed after a crash reads them again and records them
/// again (the same key): nothing is lost or doubled.
fn note_problems(walker: &Walker, import_id: u64, problems: Vec<(String, String)>) -> bool {
    problems.into_iter().all(|(folder, reason)| {
        walker
            .writer
            .call_blocking(NoteUnreadable {
                import_id,
                folder,
                reason,
            })
            .is_ok()
    })
}

/// Commits one chunk of the walk and wakes the scheduler, so its jobs start
/// at once instead of at the scheduler's next poll. False when the writer is
/// gone.
fn take_in(walker: &Walker, import_id: u64, files: Vec<FileEntry>) -> bool {
    let taken = walker
        .writer
        .call_blocking(Intake { import_id, files })
        .is_ok();
    if taken {
        walker.wake.ring();
    }
    taken
}

/// The number of READY jobs.
fn ready_depth(walker: &Walker) -> u64 {
    walker
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
fn wait_for_room(walker: &Walker, import_id: u64, adding: u64) -> bool {
    let high = walker.config.watermark_high;
    let low = walker.config.watermark_low.min(high);
    if ready_depth(walker) + adding <= high {
        return true;
    }
    set_paused(walker, import_id, true);
    let room = loop {
        if walker.closing.load(Ordering::SeqCst) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(5));
        let depth = ready_depth(walker);
        if depth <= low && depth + adding <= high.max(adding) {
            break true;
        }
    };
    set_paused(walker, import_id, false);
    room
}

fn set_paused(walker: &Walker, import_id: u64, paused: bool) {
    if let Ok(mut set) = walker.paused.lock() {
        if paused {
            set.insert(import_id);
        } else {
            set.remove(&import_id);
        }
    }
}
