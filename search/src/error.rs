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
    #[error(
        "search index {action} failed in {dir}: {message}; if it persists, `kiln reindex` rebuilds the index from the store"
    )]
    Index {
        /// What was being done.
        action: &'static str,
        /// The index folder.
        dir: PathBuf,
        /// What tantivy reported.
        message: String,
    },
    /// The disk holding the index is full.
    #[error(
        "no space left on device on {dir}; free some space there, then `kiln run` continues where this stopped (the index catches up with the store)"
    )]
    DiskFull {
        /// The index folder.
        dir: PathBuf,
    },
    /// Reading the index stopped on damaged files.
    #[error(
        "the search index in {dir} is damaged ({detail}); `kiln reindex` rebuilds it from the store"
    )]
    Damaged {
        /// The index folder.
        dir: PathBuf,
        /// What the reader said.
        detail: String,
    },
    /// The index cannot be used and this process may not rebuild it: it
    /// is not the store's primary, whose index another process has open.
    #[error(
        "the search index in {dir} cannot be used: {why}; the kiln process running on this store rebuilds it when it next opens the store, or stop that process and run `kiln reindex`"
    )]
    Unusable {
        /// The index folder.
        dir: PathBuf,
        /// Why.
        why: crate::Unusable,
    },
    /// The query could not be understood.
    #[error(transparent)]
    Query(#[from] crate::query::QueryError),
}
