//! Opening a store directory: the redb file, the blob folder and the engine lock.

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Builder, ConcurrencyMode, Database, Durability};

use crate::config::{Config, Sharing};
use crate::error::EngineError;
use crate::tables::{
    ASSET_JOBS, ASSETS, DEAD, DELAYED, FACTS, FILES, HASHES, IMPORT_COUNTS, IMPORTS, JOBS, LEASES,
    META, READY, STAGE_COUNTS,
};

/// The database file inside a store directory.
pub const DATABASE_FILE: &str = "kiln.redb";
/// The lock file held by the process that runs the engine.
pub const LOCK_FILE: &str = "engine.lock";
/// The folder of content-addressed artifacts.
pub const BLOBS_DIR: &str = "blobs";

/// An open store.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) db: Arc<Database>,
    pub(crate) dir: PathBuf,
    pub(crate) blobs: PathBuf,
    /// Held by the primary for as long as it lives; `None` for a client.
    pub(crate) lock: Option<File>,
}

pub(crate) fn open(dir: &Path, config: &Config) -> Result<Store, EngineError> {
    let dir_error = |source| EngineError::StoreDir {
        path: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(dir_error)?;
    let blobs = dir.join(BLOBS_DIR);
    fs::create_dir_all(&blobs).map_err(dir_error)?;
    let lock_file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(dir_error)?;
    let lock = match lock_file.try_lock() {
        Ok(()) => Some(lock_file),
        Err(TryLockError::WouldBlock) => None,
        Err(TryLockError::Error(e)) => return Err(dir_error(e)),
    };
    let mode = match config.sharing {
        Sharing::MultiProcess => ConcurrencyMode::MultiWriter,
        Sharing::Exclusive => ConcurrencyMode::ExclusiveWriter,
    };
    let db = match Builder::new()
        .set_concurrency_mode(mode)
        .create(dir.join(DATABASE_FILE))
    {
        Ok(db) => db,
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
            return Err(EngineError::StoreInUse(dir.to_path_buf()));
        }
        Err(e) => return Err(e.into()),
    };
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)
        .map_err(redb::Error::from)?;
    {
        txn.open_table(META)?;
        txn.open_table(JOBS)?;
        txn.open_table(READY)?;
        txn.open_table(LEASES)?;
        txn.open_table(DELAYED)?;
        txn.open_table(DEAD)?;
        txn.open_table(ASSETS)?;
        txn.open_table(FILES)?;
        txn.open_table(HASHES)?;
        txn.open_table(FACTS)?;
        txn.open_table(ASSET_JOBS)?;
        txn.open_table(IMPORTS)?;
        txn.open_table(IMPORT_COUNTS)?;
        txn.open_table(STAGE_COUNTS)?;
    }
    txn.commit()?;
    Ok(Store {
        db: Arc::new(db),
        dir: dir.to_path_buf(),
        blobs,
        lock,
    })
}
