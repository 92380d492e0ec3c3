//! The file-system events `kiln watch` acts on: writes, renames and
//! removals, never reads.

use notify_debouncer_mini::notify::event::{AccessKind, AccessMode};
use notify_debouncer_mini::notify::{
    self, Event, EventHandler, EventKind, RecommendedWatcher, RecursiveMode, Watcher, WatcherKind,
};
use std::path::Path;

/// The platform's watcher, passing on only the events that can change what a
/// file holds or where it is. Reading a file (the watch's own completeness
/// check, kiln's stages, an image viewer) raises open and close events, which
/// would otherwise bring every file that is read back as a candidate, and
/// the reads that look at it would raise more. An overflowed event queue is
/// passed on as an error, so the watch scans its folders again instead of
/// missing files.
pub(super) struct WriteWatcher(RecommendedWatcher);

impl Watcher for WriteWatcher {
    fn new<F: EventHandler>(mut handler: F, config: notify::Config) -> notify::Result<Self> {
        let filter = move |event: notify::Result<Event>| match event {
            Ok(event) if event.need_rescan() => handler.handle_event(Err(notify::Error::generic(
                "the file system's event queue overflowed",
            ))),
            Ok(event) if !changes_a_file(&event.kind) => {}
            other => handler.handle_event(other),
        };
        RecommendedWatcher::new(filter, config).map(WriteWatcher)
    }

    fn watch(&mut self, path: &Path, recursive_mode: RecursiveMode) -> notify::Result<()> {
        self.0.watch(path, recursive_mode)
    }

    fn unwatch(&mut self, path: &Path) -> notify::Result<()> {
        self.0.unwatch(path)
    }

    fn configure(&mut self, option: notify::Config) -> notify::Result<bool> {
        self.0.configure(option)
    }

    fn kind() -> WatcherKind {
        RecommendedWatcher::kind()
    }
}

/// Whether an event may mean a file was created, written, renamed or
/// removed. Of the access events only closing a file opened for writing
/// counts.
fn changes_a_file(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}
