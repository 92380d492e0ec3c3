//! Taking files in: one file, a list of files, or a folder walked on its
//! own thread.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Engine, absolute};
use crate::error::EngineError;
use crate::model::{FileEntry, ImportId, ImportOptions, Priority, entry_for};
use crate::store::is_store_file;
use crate::txn::intake::{CreateImport, Intake};
use crate::views::status::{self, ImportState};

impl Engine {
    /// Submits one file as its own import. Returns the import id once the
    /// import and the file's root jobs are durable. An unreadable file is
    /// recorded as a dead letter of stage `intake`, not returned as an error.
    pub async fn submit_file(
        &self,
        path: impl AsRef<Path>,
        priority: Priority,
    ) -> Result<ImportId, EngineError> {
        self.validate()?;
        self.intake_file(path.as_ref(), priority, None).await
    }

    /// Takes in one file as its own import, named by its absolute path.
    async fn intake_file(
        &self,
        path: &Path,
        priority: Priority,
        budget: Option<u64>,
    ) -> Result<ImportId, EngineError> {
        let path = absolute(path);
        if self.is_own_file(&path) {
            return Err(EngineError::Intake {
                path,
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "it is one of the store's own files, never taken in",
                ),
            });
        }
        let root = path.to_string_lossy().into_owned();
        self.intake_import(root, vec![entry_for(&path)], priority, budget)
            .await
    }

    /// Whether `path` is one of the store's own files (see
    /// [`is_store_file`]).
    fn is_own_file(&self, path: &Path) -> bool {
        match (
            std::fs::canonicalize(&self.inner.store.dir),
            std::fs::canonicalize(path),
        ) {
            (Ok(store), Ok(path)) => is_store_file(&store, &path),
            _ => false,
        }
    }

    /// Submits several files as one import, each taken in as
    /// [`Engine::submit_file`] takes one: stored by absolute path, a no-op
    /// when unchanged since its last intake, a dead letter of stage `intake`
    /// when unreadable; the store's own files (see [`is_store_file`]) are
    /// left out. `root` names the import in status listings (a watched
    /// folder, say). Returns the import id once the import and every file's
    /// root jobs are durable.
    pub async fn submit_files(
        &self,
        root: impl AsRef<Path>,
        paths: &[PathBuf],
        priority: Priority,
    ) -> Result<ImportId, EngineError> {
        self.validate()?;
        let files = paths
            .iter()
            .map(|path| absolute(path))
            .filter(|path| !self.is_own_file(path))
            .map(|path| entry_for(&path))
            .collect();
        let root = root.as_ref().to_string_lossy().into_owned();
        self.intake_import(root, files, priority, None).await
    }

    /// Creates an import named `root` (with its gate budget, when given)
    /// whose walk is already done, takes in `files` and wakes the scheduler.
    /// Returns the import id once the import and every file's root jobs are
    /// durable.
    async fn intake_import(
        &self,
        root: String,
        files: Vec<FileEntry>,
        priority: Priority,
        budget: Option<u64>,
    ) -> Result<ImportId, EngineError> {
        let import_id = self
            .create_budgeted_import(root, priority, true, budget)
            .await?;
        self.inner
            .writer
            .call(Intake {
                import_id: import_id.get(),
                files,
            })
            .await?;
        self.inner.wake.ring();
        Ok(import_id)
    }

    /// Imports a folder (recursively, lazily, skipping hidden and temporary
    /// files, entering each directory once) or a single file. Returns the import
    /// id at once; the walk continues on its own thread, pausing while READY is
    /// above the high watermark. An interrupted walk resumes when a primary
    /// engine starts.
    pub async fn import_dir(
        &self,
        path: impl AsRef<Path>,
        priority: Priority,
    ) -> Result<ImportId, EngineError> {
        self.import_with(path, ImportOptions::new(priority)).await
    }

    /// Imports a folder or a single file as [`Engine::import_dir`] does,
    /// with the import's gate budget recorded in the same transaction that
    /// creates the import, so no asset of it can pass the gate before the
    /// budget is known.
    pub async fn import_with(
        &self,
        path: impl AsRef<Path>,
        options: ImportOptions,
    ) -> Result<ImportId, EngineError> {
        let path = path.as_ref();
        self.validate()?;
        if !path.is_dir() {
            return self
                .intake_file(path, options.priority, options.budget)
                .await;
        }
        let root = std::fs::canonicalize(path)
            .map_err(|source| EngineError::Intake {
                path: path.to_path_buf(),
                source,
            })?
            .to_string_lossy()
            .into_owned();
        let import_id = self
            .create_budgeted_import(root.clone(), options.priority, false, options.budget)
            .await?;
        self.spawn_walk(import_id, root);
        Ok(import_id)
    }

    /// Creates an import whose gate budget (when given) is durable with it,
    /// before any of its files is taken in.
    async fn create_budgeted_import(
        &self,
        root: String,
        priority: Priority,
        walk_done: bool,
        budget: Option<u64>,
    ) -> Result<ImportId, EngineError> {
        let id = self
            .inner
            .writer
            .call(CreateImport {
                root,
                priority: priority.as_u8(),
                walk_done,
                budget,
            })
            .await?;
        Ok(ImportId::new(id))
    }

    /// Starts the folder walk of `import_id`, unless it runs already.
    pub(super) fn spawn_walk(&self, import_id: ImportId, root: String) {
        self.inner
            .walks
            .spawn(self.inner.walker(), import_id.get(), root);
    }

    /// Waits until the folder walk of `import_id` has finished, or is paused
    /// at the high watermark, or is not running in this process (an
    /// interrupted walk resumes when a primary starts). Returns whether the
    /// walk has finished. `kiln import --detach` uses this before exiting.
    pub async fn wait_intake(&self, import_id: ImportId) -> Result<bool, EngineError> {
        let walked = || -> Result<bool, EngineError> {
            let imports = self.inner.view(status::imports)?;
            Ok(imports
                .iter()
                .find(|i| i.id == import_id)
                .is_none_or(|i| i.state != ImportState::Walking))
        };
        loop {
            if walked()? {
                return Ok(true);
            }
            let alive = self.inner.walks.is_running(import_id.get());
            let paused = self
                .inner
                .paused_walks
                .lock()
                .map(|p| p.contains(&import_id.get()))
                .unwrap_or(false);
            if !alive || paused {
                // A walk that ended between the read above and this look
                // has finished: read again.
                return walked();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
