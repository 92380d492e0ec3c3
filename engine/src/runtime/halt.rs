//! A condition of the whole system that stops the workers: a full disk.
//!
//! A full disk is not one file's fault, so no job is charged an attempt for
//! it (the seed's failure isolation is per file). A worker that cannot store
//! a stage's output for want of space gives its lease back (with the
//! attempt refunded) and raises the halt; the feeder then claims nothing,
//! and `run_until`/`wait_until` return the condition as their error, so the
//! command can say what happened and that `kiln run` continues once there
//! is space. The database itself running out of space raises it too.

use std::path::Path;
use std::sync::Mutex;

use crate::error::EngineError;

/// The condition the workers stopped on, if any.
#[derive(Debug, Default)]
pub(crate) struct Halt(Mutex<Option<EngineError>>);

impl Halt {
    /// Raises the halt with `error`, unless one is raised already.
    pub(crate) fn raise(&self, error: EngineError) {
        if let Ok(mut slot) = self.0.lock()
            && slot.is_none()
        {
            *slot = Some(error);
        }
    }

    /// The condition, when the halt is raised.
    pub(crate) fn current(&self) -> Option<EngineError> {
        self.0.lock().ok()?.as_ref().map(EngineError::replica)
    }

    /// Whether the halt is raised.
    pub(crate) fn is_raised(&self) -> bool {
        self.0.lock().map(|s| s.is_some()).unwrap_or(false)
    }

    /// Lowers the halt: the next run tries again.
    pub(crate) fn lower(&self) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = None;
        }
    }
}

/// `error` as [`EngineError::DiskFull`] on `path` (the folder or file the
/// caller was writing) when it says the disk is full; `None` otherwise.
pub(crate) fn disk_full(error: &EngineError, path: &Path) -> Option<EngineError> {
    let full = |e: &std::io::Error| e.kind() == std::io::ErrorKind::StorageFull;
    let on = match error {
        EngineError::Blob { source, .. } if full(source) => path.to_path_buf(),
        EngineError::Database(redb::Error::Io(e)) if full(e) => path.to_path_buf(),
        EngineError::DiskFull { path } => path.clone(),
        _ => return None,
    };
    Some(EngineError::DiskFull { path: on })
}
