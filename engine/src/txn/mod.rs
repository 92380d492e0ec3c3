//! Every write of the engine, as a typed operation over one store
//! transaction.
//!
//! An operation ([`Op`]) says what it returns: the writer thread applies it
//! inside a group commit and answers its caller with exactly that output, or
//! with the error that stopped it, once the commit is durable. Every
//! operation first reads and validates, then writes, so a rejected operation
//! (a stale lease, an unknown stage) leaves the shared transaction untouched.
//! Counter changes are summed in memory and written once per commit.

pub(crate) mod browsable;
pub(crate) mod claim;
pub(crate) mod complete;
pub(crate) mod curation;
pub(crate) mod dead_letters;
mod enrich_gate;
pub(crate) mod fail;
mod file_counts;
pub(crate) mod intake;
pub(crate) mod rerun;
pub(crate) mod settings;
mod tx;

pub(crate) use tx::Tx;

use crate::error::EngineError;

/// One write, applied inside a shared write transaction.
pub(crate) trait Op: Send + 'static {
    /// What the caller gets once the commit holding the operation is durable.
    type Output: Send + 'static;

    /// Applies the operation. An error that is a clean rejection (see
    /// [`is_clean_rejection`]) must leave the transaction untouched.
    fn apply(self, tx: &mut Tx<'_>) -> Result<Self::Output, EngineError>;
}

/// Whether an operation's error happened before it wrote anything, so the
/// shared transaction may still commit the other operations.
pub(crate) fn is_clean_rejection(error: &EngineError) -> bool {
    matches!(
        error,
        EngineError::StaleLease(_) | EngineError::Graph(_) | EngineError::Curation(_)
    )
}
