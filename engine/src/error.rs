//! Error types, one enum per concern.

use crate::model::{LabelProblem, MAX_RATING, MAX_TAGS, Tier};
use std::path::PathBuf;

/// A curation change the store refused; nothing of it was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CurationError {
    /// A rating above the highest.
    #[error("rating {0} is out of range: give 0 (none) to {MAX_RATING}")]
    BadRating(u8),
    /// A tag or collection name that cannot be stored.
    #[error("`{label}` cannot be a tag or collection name: {problem}")]
    BadLabel {
        /// The label as given (shortened when long).
        label: String,
        /// What is wrong with it.
        problem: LabelProblem,
    },
    /// An asset would carry more tags than allowed: the content hash.
    #[error("content {0} would carry more than {MAX_TAGS} tags")]
    TooManyTags(String),
    /// No collection has this name.
    #[error("there is no collection named `{0}`; see `kiln collection list`")]
    NoSuchCollection(String),
    /// A collection of this name exists already.
    #[error("a collection named `{0}` exists already")]
    CollectionExists(String),
    /// Content named in a collection it is not a member of.
    #[error("content {content} is not in the collection `{collection}`")]
    NotAMember {
        /// The collection's name.
        collection: String,
        /// The content hash, in hex.
        content: String,
    },
    /// Members were to be placed next to one of themselves.
    #[error("members cannot be placed before or after one of themselves")]
    PlacedBesideItself,
}

impl CurationError {
    /// The error for a label refused for `problem`, quoting at most 120
    /// characters of it.
    pub(crate) fn bad_label(label: &str, problem: LabelProblem) -> CurationError {
        let mut shown: String = label.chars().take(120).collect();
        if shown.len() < label.len() {
            shown.push('…');
        }
        CurationError::BadLabel {
            label: shown,
            problem,
        }
    }
}

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
        tier: Tier,
        /// The stage it follows.
        after: String,
        /// That stage's tier.
        after_tier: Tier,
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
    #[error("store database error: {0}")]
    Database(#[from] redb::Error),
    /// The database file is damaged: a page redb cannot read, or a record
    /// that contradicts its own structure.
    #[error(
        "the store database {file} is damaged: a page cannot be read ({detail}); `kiln check` reports what is affected, and re-importing the source folders into a new store recovers everything derived from the files"
    )]
    Damaged {
        /// The database file.
        file: PathBuf,
        /// What redb found.
        detail: String,
    },
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
    /// The disk under `path` is full. No file is charged an attempt for it;
    /// the workers stopped.
    #[error(
        "no space left on device on {path}; free some space there, then `kiln run` continues where this stopped (no file was charged an attempt for it)"
    )]
    DiskFull {
        /// The file or folder that could not be written.
        path: PathBuf,
    },
    /// A blob could not be written.
    #[error("cannot write blob {path}: {source}")]
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
    /// Jobs cannot be claimed by hand while this engine's workers run
    /// (see [`Engine::manual`](crate::Engine::manual)).
    #[error(
        "the engine's workers are running; stop them before claiming jobs by hand (Engine::manual)"
    )]
    WorkersRunning,
    /// The workers cannot start while jobs are claimed by hand: a
    /// [`Manual`](crate::Manual) handle of this engine is alive.
    #[error(
        "jobs are being claimed by hand (a Manual handle is alive); drop it before starting the workers"
    )]
    ManualClaiming,
    /// The async runtime is missing.
    #[error("the engine needs a multi-threaded tokio runtime: {0}")]
    Runtime(String),
    /// A curation change was refused (nothing of it was written).
    #[error(transparent)]
    Curation(#[from] CurationError),
}

impl EngineError {
    pub(crate) fn corrupt(table: &'static str, detail: impl ToString) -> EngineError {
        EngineError::Corrupt {
            table,
            detail: detail.to_string(),
        }
    }
}

impl EngineError {
    /// A copy of this error for another caller that shares its cause (the
    /// other operations of a group commit that failed). Every variant keeps
    /// its kind; an I/O error keeps its `ErrorKind` and message, and a redb
    /// error its variant where redb's type lets it be rebuilt.
    pub(crate) fn replica(&self) -> EngineError {
        let io = |e: &std::io::Error| std::io::Error::new(e.kind(), e.to_string());
        match self {
            EngineError::StoreDir { path, source } => EngineError::StoreDir {
                path: path.clone(),
                source: io(source),
            },
            EngineError::StoreInUse(path) => EngineError::StoreInUse(path.clone()),
            EngineError::Database(e) => EngineError::Database(replica_redb(e)),
            EngineError::Damaged { file, detail } => EngineError::Damaged {
                file: file.clone(),
                detail: detail.clone(),
            },
            EngineError::Corrupt { table, detail } => EngineError::Corrupt {
                table,
                detail: detail.clone(),
            },
            EngineError::DiskFull { path } => EngineError::DiskFull { path: path.clone() },
            EngineError::Blob { path, source } => EngineError::Blob {
                path: path.clone(),
                source: io(source),
            },
            EngineError::Graph(e) => EngineError::Graph(replica_graph(e)),
            EngineError::Intake { path, source } => EngineError::Intake {
                path: path.clone(),
                source: io(source),
            },
            EngineError::Closed => EngineError::Closed,
            EngineError::StaleLease(job) => EngineError::StaleLease(*job),
            EngineError::NotPrimary => EngineError::NotPrimary,
            EngineError::WorkersRunning => EngineError::WorkersRunning,
            EngineError::ManualClaiming => EngineError::ManualClaiming,
            EngineError::Runtime(message) => EngineError::Runtime(message.clone()),
            EngineError::Curation(e) => EngineError::Curation(e.clone()),
        }
    }
}

fn replica_graph(error: &GraphError) -> GraphError {
    match error {
        GraphError::Duplicate(s) => GraphError::Duplicate(s.clone()),
        GraphError::UnknownAfter { stage, missing } => GraphError::UnknownAfter {
            stage: stage.clone(),
            missing: missing.clone(),
        },
        GraphError::Cycle(s) => GraphError::Cycle(s.clone()),
        GraphError::TierOrder {
            stage,
            tier,
            after,
            after_tier,
        } => GraphError::TierOrder {
            stage: stage.clone(),
            tier: *tier,
            after: after.clone(),
            after_tier: *after_tier,
        },
        GraphError::BadTier { stage, tier } => GraphError::BadTier {
            stage: stage.clone(),
            tier: *tier,
        },
        GraphError::NotRegistered(s) => GraphError::NotRegistered(s.clone()),
        GraphError::Running => GraphError::Running,
    }
}

/// A redb error rebuilt variant for variant; the few variants that hold
/// what cannot be copied (a boxed backend error, a transaction) become an
/// I/O error with the same message.
fn replica_redb(error: &redb::Error) -> redb::Error {
    use redb::Error as E;
    match error {
        E::DatabaseAlreadyOpen => E::DatabaseAlreadyOpen,
        E::LockProtocolMismatch => E::LockProtocolMismatch,
        E::InvalidSavepoint => E::InvalidSavepoint,
        E::ImmediateDurabilityRequired => E::ImmediateDurabilityRequired,
        E::RepairAborted => E::RepairAborted,
        E::PersistentSavepointModified => E::PersistentSavepointModified,
        E::NonDurableCommitUnsupported => E::NonDurableCommitUnsupported,
        E::EphemeralSavepointUnsupported => E::EphemeralSavepointUnsupported,
        E::PersistentSavepointExists => E::PersistentSavepointExists,
        E::EphemeralSavepointExists => E::EphemeralSavepointExists,
        E::TransactionInProgress => E::TransactionInProgress,
        E::TransactionPoisoned => E::TransactionPoisoned,
        E::Corrupted(s) => E::Corrupted(s.clone()),
        E::UpgradeRequired(v) => E::UpgradeRequired(*v),
        E::ValueTooLarge(n) => E::ValueTooLarge(*n),
        E::UnorderedKey => E::UnorderedKey,
        E::TableIsMultimap(s) => E::TableIsMultimap(s.clone()),
        E::TableIsNotMultimap(s) => E::TableIsNotMultimap(s.clone()),
        E::TableDoesNotExist(s) => E::TableDoesNotExist(s.clone()),
        E::TableExists(s) => E::TableExists(s.clone()),
        E::TableAlreadyOpen(s, at) => E::TableAlreadyOpen(s.clone(), at),
        E::Io(e) => E::Io(std::io::Error::new(e.kind(), e.to_string())),
        E::Unsupported => E::Unsupported,
        E::DatabaseClosed => E::DatabaseClosed,
        E::PreviousIo => E::PreviousIo,
        E::LockPoisoned(at) => E::LockPoisoned(at),
        E::WouldBlock => E::WouldBlock,
        other => E::Io(std::io::Error::other(other.to_string())),
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
