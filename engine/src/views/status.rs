//! Read-only views of a store's counters: status, imports (and the earlier
//! imports each resumed), and READY depth.
//!
//! Each call reads one consistent snapshot. Any handle can read, including a
//! client in another process while the engine runs.

use std::collections::{BTreeMap, BTreeSet};

use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, ReadableTableMetadata};

use crate::error::EngineError;
use crate::model::{ImportId, JobState, Priority, Tier};
use crate::store::tables::{
    ASSETS, AssetRecord, AssetStatus, FILES, IMPORT_BUDGETS, IMPORT_COUNTS, IMPORT_RESUMES,
    IMPORTS, ImportRecord, READY, UNREADABLE_FOLDERS, decode,
};

/// Job counts by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Waiting to be claimed.
    pub ready: u64,
    /// Claimed under a lease and running (or about to).
    pub running: u64,
    /// Waiting for a retry after a transient error.
    pub retrying: u64,
    /// Dead letters.
    pub dead: u64,
    /// Finished.
    pub done: u64,
    /// Will not run: their asset turned out to be a duplicate, or the gate
    /// kept it from the guarded tiers.
    pub skipped: u64,
}

impl JobCounts {
    /// Jobs not yet finished one way or another: ready, running or retrying.
    pub fn pending(&self) -> u64 {
        self.ready + self.running + self.retrying
    }

    /// Every job counted.
    pub fn total(&self) -> u64 {
        self.pending() + self.dead + self.done + self.skipped
    }

    /// The count of jobs in `state`.
    pub fn get(&self, state: JobState) -> u64 {
        match state {
            JobState::Ready => self.ready,
            JobState::Running => self.running,
            JobState::Retrying => self.retrying,
            JobState::Dead => self.dead,
            JobState::Done => self.done,
            JobState::Skipped => self.skipped,
        }
    }

    /// Adds `n` jobs in the state stored as `byte` (an unknown byte, which
    /// only a newer kiln could have written, counts as skipped).
    fn add(&mut self, byte: u8, n: u64) {
        let slot = match JobState::from_stored(byte).unwrap_or(JobState::Skipped) {
            JobState::Ready => &mut self.ready,
            JobState::Running => &mut self.running,
            JobState::Retrying => &mut self.retrying,
            JobState::Dead => &mut self.dead,
            JobState::Done => &mut self.done,
            JobState::Skipped => &mut self.skipped,
        };
        *slot += n;
    }

    /// Adds another set of counts to these.
    pub(crate) fn absorb(&mut self, other: &JobCounts) {
        self.ready += other.ready;
        self.running += other.running;
        self.retrying += other.retrying;
        self.dead += other.dead;
        self.done += other.done;
        self.skipped += other.skipped;
    }
}

/// Where an import stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportState {
    /// Its folder is still being walked.
    Walking,
    /// Walked; jobs remain.
    Running,
    /// Every job done or dead.
    Done,
}

impl ImportState {
    /// `walking`, `running` or `done`.
    pub fn name(self) -> &'static str {
        match self {
            ImportState::Walking => "walking",
            ImportState::Running => "running",
            ImportState::Done => "done",
        }
    }
}

/// One import and its jobs by tier.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportInfo {
    /// The import's id.
    pub id: ImportId,
    /// The folder or file imported (or `rerun:<stage>`).
    pub root: String,
    /// The priority it was submitted at.
    pub priority: Priority,
    /// Where it stands.
    pub state: ImportState,
    /// When it was created (clock nanoseconds).
    pub created_ns: u64,
    /// Files intake has seen so far.
    pub files_seen: u64,
    /// Of those, files already imported and unchanged.
    pub files_unchanged: u64,
    /// Jobs by tier (only tiers that have jobs).
    pub tiers: BTreeMap<Tier, JobCounts>,
    /// The gate budget `(limit, spent)`, when the import has one.
    pub budget: Option<(u64, u64)>,
    /// Folders its walk could not read (their files were not taken in),
    /// by path.
    pub unreadable_folders: Vec<UnreadableFolder>,
}

/// A folder an import's walk could not read, or not to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableFolder {
    /// The folder.
    pub path: String,
    /// Why (the operating system's error).
    pub reason: String,
}

impl ImportInfo {
    /// Its jobs of every tier together.
    pub fn jobs(&self) -> JobCounts {
        let mut all = JobCounts::default();
        for counts in self.tiers.values() {
            all.absorb(counts);
        }
        all
    }
}

/// What `kiln status` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// Distinct assets (duplicates and superseded ones excluded).
    pub assets: u64,
    /// Known file paths.
    pub files: u64,
    /// All jobs by state.
    pub jobs: JobCounts,
    /// Jobs by tier (every tier).
    pub tiers: BTreeMap<Tier, JobCounts>,
    /// Every import, oldest first.
    pub imports: Vec<ImportInfo>,
}

fn import_counts(
    table: &ReadOnlyTable<(u64, u8, u8), u64>,
    import_id: u64,
) -> Result<BTreeMap<Tier, JobCounts>, EngineError> {
    let mut tiers: BTreeMap<Tier, JobCounts> = BTreeMap::new();
    for entry in table.range((import_id, 0u8, 0u8)..=(import_id, u8::MAX, u8::MAX))? {
        let (key, value) = entry?;
        let (_, tier, s) = key.value();
        tiers
            .entry(Tier::from_stored(tier))
            .or_default()
            .add(s, value.value());
    }
    Ok(tiers)
}

pub(crate) fn imports(txn: &ReadTransaction) -> Result<Vec<ImportInfo>, EngineError> {
    let table = txn.open_table(IMPORTS)?;
    let counts = txn.open_table(IMPORT_COUNTS)?;
    let budgets = txn.open_table(IMPORT_BUDGETS)?;
    let unreadable = txn.open_table(UNREADABLE_FOLDERS)?;
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (key, value) = entry?;
        let id = key.value();
        let record: ImportRecord = decode("imports", value.value())?;
        let tiers = import_counts(&counts, id)?;
        let pending: u64 = tiers.values().map(JobCounts::pending).sum();
        let state = if !record.walk_done {
            ImportState::Walking
        } else if pending > 0 {
            ImportState::Running
        } else {
            ImportState::Done
        };
        out.push(ImportInfo {
            id: ImportId::new(id),
            root: record.root,
            priority: Priority::from_u8(record.priority),
            state,
            created_ns: record.created_ns,
            files_seen: record.files_seen,
            files_unchanged: record.files_unchanged,
            tiers,
            budget: budgets.get(id)?.map(|v| v.value()),
            unreadable_folders: unreadable_folders(&unreadable, id)?,
        });
    }
    Ok(out)
}

fn unreadable_folders(
    table: &ReadOnlyTable<(u64, &'static str), &'static str>,
    import_id: u64,
) -> Result<Vec<UnreadableFolder>, EngineError> {
    let next = import_id.saturating_add(1);
    table
        .range((import_id, "")..(next, ""))?
        .map(|entry| {
            let (key, reason) = entry?;
            Ok(UnreadableFolder {
                path: key.value().1.to_owned(),
                reason: reason.value().to_owned(),
            })
        })
        .collect()
}

/// `imports` with every import they resumed, directly or through another:
/// the imports that still had work queued for files these found unchanged.
pub(crate) fn with_resumed(
    txn: &ReadTransaction,
    imports: &[ImportId],
) -> Result<BTreeSet<ImportId>, EngineError> {
    let table = txn.open_table(IMPORT_RESUMES)?;
    let mut found: BTreeSet<ImportId> = imports.iter().copied().collect();
    let mut pending: Vec<ImportId> = imports.to_vec();
    while let Some(import) = pending.pop() {
        for entry in table.range((import.get(), 0)..=(import.get(), u64::MAX))? {
            let (key, _) = entry?;
            let earlier = ImportId::new(key.value().1);
            if found.insert(earlier) {
                pending.push(earlier);
            }
        }
    }
    Ok(found)
}

pub(crate) fn status(txn: &ReadTransaction) -> Result<Status, EngineError> {
    let imports = imports(txn)?;
    let mut tiers: BTreeMap<Tier, JobCounts> = Tier::ALL.map(|t| (t, JobCounts::default())).into();
    let mut jobs = JobCounts::default();
    for import in &imports {
        for (tier, counts) in &import.tiers {
            tiers.entry(*tier).or_default().absorb(counts);
            jobs.absorb(counts);
        }
    }
    let assets_table = txn.open_table(ASSETS)?;
    let mut assets = 0;
    for entry in assets_table.iter()? {
        let (_, value) = entry?;
        let record: AssetRecord = decode("assets", value.value())?;
        if record.status == AssetStatus::Active {
            assets += 1;
        }
    }
    let files = txn.open_table(FILES)?.len()?;
    Ok(Status {
        assets,
        files,
        jobs,
        tiers,
        imports,
    })
}

/// READY jobs by `(priority, tier)`.
pub(crate) fn ready_by_priority_tier(
    txn: &ReadTransaction,
) -> Result<BTreeMap<(Priority, Tier), u64>, EngineError> {
    let table = txn.open_table(READY)?;
    let mut out = BTreeMap::new();
    for entry in table.iter()? {
        let (key, _) = entry?;
        let (p, tier, _, _) = key.value();
        *out.entry((Priority::from_u8(p), Tier::from_stored(tier)))
            .or_insert(0) += 1;
    }
    Ok(out)
}
