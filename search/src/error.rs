//! Errors of the search index.

use std::path::PathBuf;

/// Why a search-index operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// The index folder could not be opened or created.
    #[error(
        "cannot open the search index in {dir}: {message}; `kiln reindex` rebuilds it from the store"
    )]
    Open {
        /// The index folder.
        dir: PathBuf,
        /// What tantivy reported.
        message: String,
    },
    /// Another process is writing the index.
    #[error(
        "the search index in {dir} is being written by another kiln process; wait for it to finish"
    )]
    Locked {
        /// The index folder.
        dir: PathBuf,
    },
    /// A write, commit or read failed.
    #[error("search index {action} failed in {dir}: {message}")]
    Index {
        /// What was being done.
        action: &'static str,
        /// The index folder.
        dir: PathBuf,
        /// What tantivy reported.
        message: String,
    },
    /// The query could not be understood.
    #[error(transparent)]
    Query(#[from] crate::query::QueryError),
}
