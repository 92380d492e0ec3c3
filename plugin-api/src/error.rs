//! Why a stage could not process an asset: [`StageError`].

use serde::{Deserialize, Serialize};

/// Why a stage could not process an asset.
///
/// A panic is not a `StageError` a stage returns, but the engine treats it
/// as a [`StageError::Permanent`] with the panic message: see
/// [`Stage`](crate::Stage#panics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StageError {
    /// Worth retrying later (a file still being written, a busy resource).
    Transient(String),
    /// Retrying cannot help (a corrupt file, an unsupported format). The job
    /// goes straight to the dead-letter table with this message.
    Permanent(String),
}

impl StageError {
    /// A transient error with a message.
    pub fn transient(message: impl Into<String>) -> Self {
        StageError::Transient(message.into())
    }

    /// A permanent error with a message.
    pub fn permanent(message: impl Into<String>) -> Self {
        StageError::Permanent(message.into())
    }

    /// The message a person reads.
    pub fn message(&self) -> &str {
        match self {
            StageError::Transient(m) | StageError::Permanent(m) => m,
        }
    }

    /// Whether retrying may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, StageError::Transient(_))
    }
}

impl std::fmt::Display for StageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StageError::Transient(m) => write!(f, "transient: {m}"),
            StageError::Permanent(m) => write!(f, "permanent: {m}"),
        }
    }
}

impl std::error::Error for StageError {}
