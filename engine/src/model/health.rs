//! What a check of a store's database file found (plain data; the check
//! itself is `store::check_database`).

use std::path::PathBuf;

/// What a check of the database file found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatabaseState {
    /// Every page of the committed trees verified.
    Sound,
    /// redb found damage and rolled the file back to its last sound commit.
    Repaired,
    /// The file cannot be read as a whole: what redb said.
    Damaged(String),
}

/// What [`Engine::check_database`](crate::Engine::check_database) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseHealth {
    /// The database file.
    pub file: PathBuf,
    /// Whether it is sound.
    pub state: DatabaseState,
    /// Jobs leased when the check ran (known when the file could be read).
    pub leases: u64,
    /// Whether a kiln process runs the engine on the store (holds its lock);
    /// if none does, the leases were left by a process that stopped, and
    /// the next primary reclaims them.
    pub engine_running: bool,
}
