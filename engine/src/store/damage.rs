//! Damage to the database file, made an error instead of a crash.
//!
//! redb trusts the pages it wrote. A file altered behind its back (a disk
//! fault, a bad copy, another program) can make it return
//! `StorageError::Corrupted`, or panic on a page it cannot read. Every
//! engine call that reads or writes the database runs inside [`contain`]:
//! a panic there, and a `Corrupted` error, become [`EngineError::Damaged`],
//! which names the file. While a call is contained, [`panic_is_contained`]
//! is true on its thread, so a process-wide panic hook can stay silent for
//! a panic that is about to be reported as damage.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use crate::error::EngineError;

thread_local! {
    static CONTAINED: Cell<u32> = const { Cell::new(0) };
}

/// Whether the current thread is inside [`contain`]: a panic now is
/// caught and reported as damage to the store's database.
pub fn panic_is_contained() -> bool {
    CONTAINED.with(|c| c.get() > 0)
}

/// Runs `work` on the database at `file`; a panic in it, or a redb
/// `Corrupted` error, comes back as [`EngineError::Damaged`].
pub(crate) fn contain<T>(
    file: &Path,
    work: impl FnOnce() -> Result<T, EngineError>,
) -> Result<T, EngineError> {
    catch(file, work)?.map_err(|e| as_damage(file, e))
}

/// Runs `work` on the database at `file`; a panic in it comes back as
/// [`EngineError::Damaged`], whatever `work` returns is returned as it is.
pub(crate) fn catch<T>(file: &Path, work: impl FnOnce() -> T) -> Result<T, EngineError> {
    catch_panics(work).map_err(|said| EngineError::Damaged {
        file: file.to_path_buf(),
        detail: format!("redb: {said}"),
    })
}

/// Runs `work` with its panics caught: a panic comes back as what it said
/// (for a reader of damaged files: a search index, say), and
/// [`panic_is_contained`] is true while `work` runs, so a panic hook can
/// stay silent for it.
pub fn catch_panics<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    CONTAINED.with(|c| c.set(c.get() + 1));
    let outcome = catch_unwind(AssertUnwindSafe(work));
    CONTAINED.with(|c| c.set(c.get().saturating_sub(1)));
    outcome.map_err(|payload| panic_text(payload.as_ref()))
}

/// `error` as damage to `file` when it is one.
pub(crate) fn as_damage(file: &Path, error: EngineError) -> EngineError {
    match error {
        EngineError::Database(redb::Error::Corrupted(detail)) => EngineError::Damaged {
            file: file.to_path_buf(),
            detail,
        },
        other => other,
    }
}

/// What a panic said, without the "internal error" prefix of
/// `unreachable!`: the error is the damaged file's, not kiln's.
fn panic_text(payload: &(dyn Any + Send)) -> String {
    let Some(text) = panic_message(payload) else {
        return "stopped on unreadable data".to_owned();
    };
    text.strip_prefix("internal error: ")
        .unwrap_or(&text)
        .to_owned()
}

/// The text a panic was raised with, when it was raised with text.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}
