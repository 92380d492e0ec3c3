//! Error types, one enum per concern.

use std::path::PathBuf;

/// The stage graph is not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// Two stages have the same name.
    #[error("stage `{0}` is registered twice; use Engine::replace_stage to swap a stage")]
    Duplicate(String),
    /// A stage runs after a stage nobody registered.
    #[error(
        "stage `{stage}` runs after `{missing}`, which is not registered; register it or fix `after`"
    )]
    UnknownAfter {
        /// The stage that names the missing one.
        stage: String,
        /// The missing name.
        missing: String,
    },
    /// The `after` relations form a cycle.
    #[error("stages form a cycle through `{0}`; remove one of the `after` links")]
    Cycle(String),
    /// A stage runs after a stage of a higher tier.
    #[error(
        "stage `{stage}` (tier {tier}) runs after `{after}` (tier {after_tier}); a stage may only follow stages of its own or a lower tier"
    )]
    TierOrder {
        /// The later stage.
        stage: String,
        /// Its tier.
        tier: u8,
        /// The stage it follows.
        after: String,
        /// That stage's tier.
        after_tier: u8,
    },
    /// A stage declares a tier outside 1..=3.
    #[error("stage `{stage}` declares tier {tier}; tiers are 1, 2 and 3")]
    BadTier {
        /// The stage.
        stage: String,
        /// The tier it declared.
        tier: u8,
    },
    /// Replacing a stage that is not registered.
    #[error("no stage named `{0}` to replace; register it instead")]
    NotRegistered(String),
    /// The graph cannot change while workers run.
    #[error("stages cannot change while the engine is running; stop it first")]
    Running,
}

/// Something failed in the engine or its store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The store directory could not be created or opened.
    #[error("cannot open store at {path}: {source}; check the path and its permissions")]
    StoreDir {
        /// The store directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another process holds the store in a mode that excludes this one.
    #[error(
        "the store at {0} is open in another process that does not share it (opened with Sharing::Exclusive); close that process or open both with Sharing::MultiProcess"
    )]
    StoreInUse(PathBuf),
    /// The redb database failed.
    #[error("store database error: {0}; if it persists, check free disk space")]
    Database(#[from] redb::Error),
    /// A stored record could not be decoded.
    #[error(
        "store record in table `{table}` is unreadable: {detail}; the store may be from a newer kiln"
    )]
    Corrupt {
        /// The table holding the record.
        table: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// A blob could not be written.
    #[error("cannot write blob {path}: {source}; check free disk space")]
    Blob {
        /// The blob file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The stage graph is invalid.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A path given to intake could not be read.
    #[error("cannot read {path}: {source}")]
    Intake {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The engine's writer thread has stopped.
    #[error("the engine has shut down; open the store again")]
    Closed,
    /// A completion or failure came from a lease the engine no longer honours.
    #[error(
        "lease of job {0} is no longer valid (the job was reclaimed); the result was discarded"
    )]
    StaleLease(u64),
    /// This handle is a client of another process's engine and cannot run workers.
    #[error(
        "another process is running the engine on this store; this handle can only read and submit"
    )]
    NotPrimary,
    /// The async runtime is missing.
    #[error("the engine needs a multi-threaded tokio runtime: {0}")]
    Runtime(String),
}

impl EngineError {
    pub(crate) fn corrupt(table: &'static str, detail: impl ToString) -> EngineError {
        EngineError::Corrupt {
            table,
            detail: detail.to_string(),
        }
    }
}

macro_rules! redb_from {
    ($($t:ty),*) => {$(
        impl From<$t> for EngineError {
            fn from(e: $t) -> Self {
                EngineError::Database(redb::Error::from(e))
            }
        }
    )*};
}

redb_from!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError
);
