//! The store: one redb database, the content-addressed blob folder beside
//! it and the engine lock. This module opens (creating if needed) a store
//! directory; `tables` defines what the database holds, `blobs` the blob
//! folder, `facts` how stored facts are read back.

pub(crate) mod blobs;
pub(crate) mod damage;
pub(crate) mod facts;
pub(crate) mod tables;

use std::fs::{self, File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use redb::{
    Builder, ConcurrencyMode, Database, Durability, ReadableDatabase, ReadableTable,
    ReadableTableMetadata,
};

use crate::config::{Config, Sharing};
use crate::error::EngineError;
use crate::model::{DatabaseHealth, DatabaseState};
use tables::{
    ASSET_JOBS, ASSETS, COLLECTION_ITEMS, COLLECTION_MEMBERS, COLLECTIONS, CURATION,
    CURATION_FAVORITES, CURATION_RATINGS, CURATION_TAGS, DEAD, FACTS, FILE_COUNTS, FILE_TIERS,
    FILES, GATE_DECISIONS, HASHES, IMPORT_BUDGETS, IMPORT_COUNTS, IMPORT_RESUMES, IMPORTS, JOBS,
    LEASES, META, PURGED, READY, RETRYING, SETTINGS, STAGE_COUNTS, UNREADABLE_FOLDERS,
};

/// The database file inside a store directory.
pub const DATABASE_FILE: &str = "kiln.redb";
/// The lock file held by the process that runs the engine.
pub const LOCK_FILE: &str = "engine.lock";
/// The folder of content-addressed artifacts.
pub const BLOBS_DIR: &str = "blobs";
/// The folder of caches kept beside the database (query texts'
/// embeddings): derived data, never taken in.
pub const CACHE_DIR: &str = "cache";
/// The socket other processes wake the primary through (`runtime::doorbell`).
pub(crate) const DOORBELL_FILE: &str = "engine.wake";

/// Whether `path` is one of the store's own files, or lies inside one of
/// its own folders, for the store in `store_dir` (both canonical): the
/// database and the files of its creation, the engine lock, the doorbell,
/// the blob folder and the derived data kept beside them (the search index
/// in `search/`, caches in `cache/`). Nothing of these is ever taken in; anything else in the
/// store directory (an `uploads/` folder) is the user's, and is.
pub fn is_store_file(store_dir: &Path, path: &Path) -> bool {
    let Ok(inside) = path.strip_prefix(store_dir) else {
        return false;
    };
    let Some(first) = inside.components().next() else {
        return false;
    };
    let name = first.as_os_str().to_string_lossy();
    name.starts_with(DATABASE_FILE)
        || [LOCK_FILE, BLOBS_DIR, SEARCH_DIR, CACHE_DIR, DOORBELL_FILE].contains(&name.as_ref())
}

/// The folder of the search index, derived data the store keeps beside its
/// database (written by the `kiln-search` crate, named here so that intake
/// never takes it in).
const SEARCH_DIR: &str = "search";

/// An open store.
#[derive(Debug)]
pub(crate) struct Store {
    pub(crate) db: Arc<Database>,
    pub(crate) dir: PathBuf,
    /// The database file, named by errors that report damage to it.
    file: PathBuf,
    pub(crate) blobs: PathBuf,
    /// The engine lock, held by the primary for as long as it lives; `None`
    /// for a client, which may take it later (see `try_lock_engine`).
    pub(crate) lock: Mutex<Option<File>>,
}

impl Store {
    /// The database file.
    pub(crate) fn database_file(&self) -> &Path {
        &self.file
    }

    /// Whether this process holds the engine lock.
    pub(crate) fn holds_lock(&self) -> bool {
        self.lock.lock().map(|l| l.is_some()).unwrap_or(false)
    }

    /// Takes the engine lock if no other process holds it. Returns whether
    /// this process holds it now.
    pub(crate) fn try_lock_engine(&self) -> Result<bool, EngineError> {
        let mut slot = self.lock.lock().map_err(|_| EngineError::Closed)?;
        if slot.is_some() {
            return Ok(true);
        }
        *slot = take_lock(&self.dir)?;
        Ok(slot.is_some())
    }
}

fn take_lock(dir: &Path) -> Result<Option<File>, EngineError> {
    let dir_error = |source| EngineError::StoreDir {
        path: dir.to_path_buf(),
        source,
    };
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(dir_error)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(dir_error(e)),
    }
}

/// Checks the database of the store in `dir` without opening the store:
/// redb's integrity check (every page of the committed trees, with a
/// rollback to the last sound commit when that is possible), then the
/// leases it holds and whether a kiln process runs the engine. A panic of
/// redb on a damaged page is reported as damage.
pub(crate) fn check_database(dir: &Path, config: &Config) -> Result<DatabaseHealth, EngineError> {
    let file = dir.join(DATABASE_FILE);
    if !file.is_file() {
        return Err(EngineError::StoreDir {
            path: file,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "there is no store database here",
            ),
        });
    }
    let health = |state, leases, engine_running| DatabaseHealth {
        file: file.clone(),
        state,
        leases,
        engine_running,
    };
    let engine_running = take_lock(dir)?.is_none();
    let mode = concurrency_mode(config.sharing);
    let opened = damage::catch(&file, || {
        Builder::new().set_concurrency_mode(mode).open(&file)
    });
    let mut db = match opened {
        Ok(Ok(db)) => db,
        Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => {
            return Err(EngineError::StoreInUse(dir.to_path_buf()));
        }
        Ok(Err(e)) => {
            return Ok(health(
                DatabaseState::Damaged(e.to_string()),
                0,
                engine_running,
            ));
        }
        Err(EngineError::Damaged { detail, .. }) => {
            return Ok(health(DatabaseState::Damaged(detail), 0, engine_running));
        }
        Err(other) => return Err(other),
    };
    let state = match damage::catch(&file, || db.check_integrity()) {
        Ok(Ok(true)) => DatabaseState::Sound,
        Ok(Ok(false)) => DatabaseState::Repaired,
        Ok(Err(e)) => DatabaseState::Damaged(e.to_string()),
        Err(EngineError::Damaged { detail, .. }) => DatabaseState::Damaged(detail),
        Err(other) => return Err(other),
    };
    if let DatabaseState::Damaged(_) = state {
        return Ok(health(state, 0, engine_running));
    }
    let leases = damage::contain(&file, || {
        let txn = db.begin_read()?;
        Ok(txn.open_table(LEASES)?.len()?)
    })?;
    Ok(health(state, leases, engine_running))
}

/// How redb shares the file for a store opened with `sharing`.
fn concurrency_mode(sharing: Sharing) -> ConcurrencyMode {
    match sharing {
        Sharing::MultiProcess => ConcurrencyMode::MultiWriter,
        Sharing::Exclusive => ConcurrencyMode::ExclusiveWriter,
    }
}

/// The name prefix of a database file being created.
const CREATING_PREFIX: &str = "kiln.redb.creating-";

/// Creates an empty database at `path` as one atomic step.
///
/// redb sizes a new file and marks it as a database only at the end of its
/// initialisation, so a process killed in between would leave a file every
/// later open rejects ("not a redb database"). The database is therefore made
/// under a temporary name and linked into place, which also fails cleanly when
/// another process got there first.
fn create_database_file(dir: &Path, path: &Path, mode: ConcurrencyMode) -> Result<(), EngineError> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temp = dir.join(format!("{CREATING_PREFIX}{}-{n}", std::process::id()));
    let _ = fs::remove_file(&temp);
    let created = Builder::new().set_concurrency_mode(mode).create(&temp);
    let linked = match created {
        Ok(db) => {
            drop(db);
            match fs::hard_link(&temp, path) {
                Ok(()) => Ok(()),
                // Another process created it first, or removed this
                // process's temporary file after doing so.
                Err(_) if path.exists() => Ok(()),
                Err(source) => Err(EngineError::StoreDir {
                    path: path.to_path_buf(),
                    source,
                }),
            }
        }
        Err(e) => Err(e.into()),
    };
    let _ = fs::remove_file(&temp);
    let _ = blobs::sync_dir(dir);
    linked
}

/// A random store id: the standard library's randomly keyed hasher, mixed
/// with the time and process, so two stores never share one in practice.
fn new_store_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.write_u32(std::process::id());
    hasher.finish().max(1)
}

/// Removes temporary files of database creations that were interrupted.
/// Called only once the database exists, so no process still needs them.
fn remove_interrupted_creations(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(CREATING_PREFIX))
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

pub(crate) fn open(dir: &Path, config: &Config) -> Result<Store, EngineError> {
    let dir_error = |source| EngineError::StoreDir {
        path: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(dir_error)?;
    let blobs = dir.join(BLOBS_DIR);
    fs::create_dir_all(&blobs).map_err(dir_error)?;
    let lock = take_lock(dir)?;
    let mode = concurrency_mode(config.sharing);
    let path = dir.join(DATABASE_FILE);
    if !path.exists() {
        create_database_file(dir, &path, mode)?;
    }
    if lock.is_some() {
        remove_interrupted_creations(dir);
    }
    let db = match Builder::new()
        .set_concurrency_mode(mode)
        .set_cache_size(config.cache_bytes)
        .create(&path)
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
        let mut ids = txn.open_table(META)?;
        if ids.get(tables::meta::STORE_ID)?.is_none() {
            ids.insert(tables::meta::STORE_ID, new_store_id())?;
        }
        // A store with no import yet has every file counted: none.
        let fresh = txn.open_table(IMPORTS)?.is_empty()?;
        if fresh && ids.get(tables::meta::FILE_COUNTS_BUILT)?.is_none() {
            ids.insert(tables::meta::FILE_COUNTS_BUILT, 1)?;
        }
        txn.open_table(JOBS)?;
        txn.open_table(READY)?;
        txn.open_table(LEASES)?;
        txn.open_table(RETRYING)?;
        txn.open_table(DEAD)?;
        txn.open_table(ASSETS)?;
        txn.open_table(FILES)?;
        txn.open_table(HASHES)?;
        txn.open_table(FACTS)?;
        txn.open_table(ASSET_JOBS)?;
        txn.open_table(IMPORTS)?;
        txn.open_table(IMPORT_COUNTS)?;
        txn.open_table(STAGE_COUNTS)?;
        txn.open_table(GATE_DECISIONS)?;
        txn.open_table(IMPORT_BUDGETS)?;
        txn.open_table(IMPORT_RESUMES)?;
        txn.open_table(PURGED)?;
        txn.open_table(UNREADABLE_FOLDERS)?;
        txn.open_table(FILE_TIERS)?;
        txn.open_table(FILE_COUNTS)?;
        txn.open_table(SETTINGS)?;
        txn.open_table(CURATION)?;
        txn.open_table(CURATION_TAGS)?;
        txn.open_table(CURATION_RATINGS)?;
        txn.open_table(CURATION_FAVORITES)?;
        txn.open_table(COLLECTIONS)?;
        txn.open_table(COLLECTION_ITEMS)?;
        txn.open_table(COLLECTION_MEMBERS)?;
    }
    txn.commit()?;
    Ok(Store {
        db: Arc::new(db),
        dir: dir.to_path_buf(),
        file: path,
        blobs,
        lock: Mutex::new(lock),
    })
}
