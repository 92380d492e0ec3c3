//! Imports and the intake of files: file records, provisional assets, root jobs.

use redb::ReadableTable;

use super::{Op, Tx};
use crate::error::EngineError;
use crate::model::{FileEntry, JobState};
use crate::store::tables::{
    AssetRecord, AssetStatus, AttemptRecord, FileRecord, INTAKE_STAGE, ImportRecord, JobRecord,
    encode, meta,
};

/// Creates an import (see [`create_import`]); outputs its id.
#[derive(Debug)]
pub(crate) struct CreateImport {
    /// What the import is named by: a folder, a file, `rerun:STAGE`.
    pub(crate) root: String,
    pub(crate) priority: u8,
    /// Whether no folder walk will add files to it.
    pub(crate) walk_done: bool,
    /// The import's gate budget, when it has one.
    pub(crate) budget: Option<u64>,
}

impl Op for CreateImport {
    type Output = u64;

    fn apply(self, tx: &mut Tx<'_>) -> Result<u64, EngineError> {
        create_import(tx, &self.root, self.priority, self.walk_done, self.budget)
    }
}

/// Takes in files for an import (see [`intake`]).
#[derive(Debug)]
pub(crate) struct Intake {
    pub(crate) import_id: u64,
    pub(crate) files: Vec<FileEntry>,
}

impl Op for Intake {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), EngineError> {
        intake(tx, self.import_id, &self.files)
    }
}

/// Marks an import's folder walk as finished.
#[derive(Debug)]
pub(crate) struct FinishWalk {
    pub(crate) import_id: u64,
}

impl Op for FinishWalk {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), EngineError> {
        finish_walk(tx, self.import_id)
    }
}

/// Records a folder the walk of `import_id` could not read, with why.
pub(crate) struct NoteUnreadable {
    pub(crate) import_id: u64,
    pub(crate) folder: String,
    pub(crate) reason: String,
}

impl Op for NoteUnreadable {
    type Output = ();

    fn apply(self, tx: &mut Tx<'_>) -> Result<(), EngineError> {
        tx.unreadable_folders
            .insert((self.import_id, self.folder.as_str()), self.reason.as_str())?;
        Ok(())
    }
}

/// Creates an import record, with its gate budget when it has one.
pub(super) fn create_import(
    tx: &mut Tx<'_>,
    root: &str,
    priority: u8,
    walk_done: bool,
    budget: Option<u64>,
) -> Result<u64, EngineError> {
    let import_id = tx.next_id(meta::NEXT_IMPORT)?;
    let record = ImportRecord {
        root: root.to_owned(),
        priority,
        created_ns: tx.now,
        walk_done,
        files_seen: 0,
        files_unchanged: 0,
    };
    tx.put_import(import_id, &record)?;
    if let Some(limit) = budget {
        tx.import_budgets.insert(import_id, (limit, 0))?;
    }
    Ok(import_id)
}

/// Marks an import's walk as finished.
fn finish_walk(tx: &mut Tx<'_>, import_id: u64) -> Result<(), EngineError> {
    if let Some(mut record) = tx.import(import_id)? {
        record.walk_done = true;
        tx.put_import(import_id, &record)?;
    }
    Ok(())
}

/// Takes in files for an import: unchanged files are skipped (the import
/// is recorded as resuming the imports whose work on them is still
/// queued), new or changed ones get a provisional asset and their root
/// stages enqueued, unreadable ones become dead letters of the `intake`
/// stage.
pub(super) fn intake(
    tx: &mut Tx<'_>,
    import_id: u64,
    files: &[FileEntry],
) -> Result<(), EngineError> {
    let Some(mut import) = tx.import(import_id)? else {
        return Ok(());
    };
    for entry in files {
        import.files_seen += 1;
        let (path, (size, mtime_ns)) = match (&entry.path, &entry.stat) {
            (Ok(path), Ok(stat)) => (path, *stat),
            (Err(lossy), _) => {
                intake_error(
                    tx,
                    import_id,
                    lossy,
                    "the path is not valid UTF-8; rename the file".into(),
                )?;
                continue;
            }
            (Ok(path), Err(error)) => {
                intake_error(tx, import_id, path, error.clone())?;
                continue;
            }
        };
        let previous = tx.file(path)?;
        if let Some(previous) = &previous
            && previous.size == size
            && previous.mtime_ns == mtime_ns
        {
            import.files_unchanged += 1;
            depend_on_queued_work(tx, import_id, previous.asset_id)?;
            continue;
        }
        if let Some(previous) = previous {
            detach_path(tx, previous.asset_id, path)?;
        }
        let asset_id = tx.next_id(meta::NEXT_ASSET)?;
        let asset = AssetRecord {
            paths: vec![path.clone()],
            content_hash: None,
            status: AssetStatus::Active,
            import_id,
            created_ns: tx.now,
        };
        tx.put_asset(asset_id, &asset)?;
        let file = FileRecord {
            asset_id,
            size,
            mtime_ns,
        };
        let bytes = encode("files", &file)?;
        tx.files.insert(path.as_str(), bytes.as_slice())?;
        let graph = tx.graph;
        for root in graph.roots() {
            tx.enqueue(
                asset_id,
                import_id,
                import.priority,
                &root.name,
                root.tier,
                path,
            )?;
        }
    }
    tx.put_import(import_id, &import)?;
    Ok(())
}

/// Records that `import_id`, which found the file of `asset_id` unchanged,
/// resumed the imports whose jobs for the asset are still queued (ready,
/// leased or retrying; not dead letters): an import interrupted part way
/// and taken in again leaves its files' work with the first import, and
/// waiting for the second must wait for that work too.
fn depend_on_queued_work(
    tx: &mut Tx<'_>,
    import_id: u64,
    asset_id: u64,
) -> Result<(), EngineError> {
    let jobs: Vec<u64> = tx
        .asset_jobs
        .range((asset_id, "")..(asset_id.saturating_add(1), ""))?
        .map(|entry| entry.map(|(_, v)| v.value()))
        .collect::<Result<_, _>>()?;
    for job_id in jobs {
        if let Some(job) = tx.job(job_id)?
            && job.state != JobState::Dead
            && job.import_id != import_id
        {
            tx.import_resumes.insert((import_id, job.import_id), ())?;
        }
    }
    Ok(())
}

/// Removes `path` from an asset whose file changed; an asset left without
/// paths is superseded and its waiting work cancelled.
fn detach_path(tx: &mut Tx<'_>, asset_id: u64, path: &str) -> Result<(), EngineError> {
    let Some(mut asset) = tx.asset(asset_id)? else {
        return Ok(());
    };
    asset.paths.retain(|p| p != path);
    if asset.paths.is_empty() {
        if asset.status == AssetStatus::Active && super::browsable::tier1_done(tx, asset_id)? {
            super::browsable::adjust(tx, -1)?;
        }
        asset.status = AssetStatus::Superseded;
        if let Some(hash) = asset.content_hash
            && tx.hashes.get(hash.as_slice())?.map(|v| v.value()) == Some(asset_id)
        {
            tx.hashes.remove(hash.as_slice())?;
        }
        tx.cancel_asset_jobs(asset_id)?;
    }
    tx.put_asset(asset_id, &asset)?;
    Ok(())
}

/// Records a file intake could not take in as a dead letter of the `intake` stage.
fn intake_error(
    tx: &mut Tx<'_>,
    import_id: u64,
    path: &str,
    error: String,
) -> Result<(), EngineError> {
    let job_id = tx.next_id(meta::NEXT_JOB)?;
    let job = JobRecord {
        asset_id: 0,
        import_id,
        stage: INTAKE_STAGE.to_owned(),
        tier: kiln_plugin_api::TIER_BROWSABLE,
        priority: 0,
        state: JobState::Dead,
        attempts: 1,
        enqueue_ns: tx.now,
        suspect: false,
        run_at_ns: 0,
        path: path.to_owned(),
        history: vec![AttemptRecord {
            attempt: 1,
            at_ns: tx.now,
            error,
        }],
    };
    tx.put_job(job_id, &job)?;
    tx.dead.insert(job_id, ())?;
    tx.count(&job, None, Some(JobState::Dead));
    Ok(())
}
