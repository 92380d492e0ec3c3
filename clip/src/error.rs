//! The errors of this crate: each names the file or input it is about and,
//! where the user can act, what to do.

use std::path::PathBuf;

/// What went wrong loading ONNX Runtime, opening a pack or embedding.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClipError {
    /// No ONNX Runtime library was found, or it could not be loaded.
    #[error("ONNX Runtime is not available: {reason}. {HOW_TO_GET_ORT}")]
    Runtime {
        /// Why the library could not be used.
        reason: String,
    },
    /// A file of the pack is missing or cannot be read.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file of the pack was read but says something unusable.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// ONNX Runtime refused a model or failed running it.
    #[error("{}: ONNX Runtime: {reason}", path.display())]
    Model {
        /// The model file.
        path: PathBuf,
        /// ONNX Runtime's message.
        reason: String,
    },
    /// An image the model cannot take (empty, too large).
    #[error("image not usable: {0}")]
    Image(String),
}

/// How to get the library, said with every [`ClipError::Runtime`].
pub const HOW_TO_GET_ORT: &str = "Install it with `pip install onnxruntime` (kiln finds the library \
inside the Python package), or set ORT_DYLIB_PATH to a libonnxruntime shared library";

/// This crate's result.
pub type Result<T, E = ClipError> = std::result::Result<T, E>;

impl ClipError {
    pub(crate) fn file(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Self::File {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Self::Invalid {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn model(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Self::Model {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}
