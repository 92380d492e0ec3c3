//! Read-only views of a store: status, imports, assets and their stages.
//!
//! Each call reads one consistent snapshot. Any handle can read, including a
//! client in another process while the engine runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_plugin_api::Value;
use redb::{ReadOnlyTable, ReadTransaction, ReadableTable, ReadableTableMetadata};

use crate::blobs::blob_path;
use crate::config::Priority;
use crate::error::EngineError;
use crate::graph::Graph;
use crate::tables::{
    ASSET_JOBS, ASSETS, AssetRecord, AssetStatus, FACTS, FILES, FactRecord, GATE_DECISIONS,
    GateRecord, IMPORT_BUDGETS, IMPORT_COUNTS, IMPORTS, ImportRecord, JOBS, JobRecord, READY,
    decode, state,
};

/// Job counts by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    /// Waiting to be claimed.
    pub ready: u64,
    /// Claimed and running (or about to).
    pub leased: u64,
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
    /// Jobs not yet finished one way or another: ready, leased or retrying.
    pub fn pending(&self) -> u64 {
        self.ready + self.leased + self.retrying
    }

    /// Every job counted.
    pub fn total(&self) -> u64 {
        self.pending() + self.dead + self.done + self.skipped
    }

    fn add(&mut self, s: u8, n: u64) {
        match s {
            state::READY => self.ready += n,
            state::LEASED => self.leased += n,
            state::DELAYED => self.retrying += n,
            state::DEAD => self.dead += n,
            state::DONE => self.done += n,
            _ => self.skipped += n,
        }
    }

    /// Adds another set of counts to these.
    pub(crate) fn absorb(&mut self, other: &JobCounts) {
        self.ready += other.ready;
        self.leased += other.leased;
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
    pub id: u64,
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
    /// Jobs by tier (1, 2, 3).
    pub tiers: BTreeMap<u8, JobCounts>,
    /// The gate budget `(limit, spent)`, when the import has one.
    pub budget: Option<(u64, u64)>,
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
    /// Jobs by tier (1, 2, 3).
    pub tiers: BTreeMap<u8, JobCounts>,
    /// Every import, oldest first.
    pub imports: Vec<ImportInfo>,
}

/// Where one asset stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssetState {
    /// Some stage has not finished yet.
    Pending,
    /// Every registered stage finished.
    Done,
    /// Some stage is a dead letter.
    Dead,
    /// Same content as another asset, which now owns its paths.
    Duplicate {
        /// The asset that owns the content.
        of: u64,
    },
    /// Its file changed; a newer asset took over the path.
    Superseded,
}

impl AssetState {
    /// `pending`, `done`, `dead`, `duplicate` or `superseded`.
    pub fn name(self) -> &'static str {
        match self {
            AssetState::Pending => "pending",
            AssetState::Done => "done",
            AssetState::Dead => "dead",
            AssetState::Duplicate { .. } => "duplicate",
            AssetState::Superseded => "superseded",
        }
    }
}

/// One line of `kiln assets`.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetSummary {
    /// The asset's id.
    pub id: u64,
    /// The first path it was found at.
    pub first_path: String,
    /// Where it stands.
    pub state: AssetState,
}

/// Where one stage stands for one asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StageState {
    /// Finished; facts are recorded.
    Done,
    /// Queued, running, retrying or not yet enqueued (its predecessors run first).
    Pending,
    /// A dead letter.
    Dead,
    /// Will not run (the asset is a duplicate or superseded, or its dead letter was purged).
    NotScheduled,
    /// Will not run: the gate kept the asset from this stage's tier; the
    /// reason is in [`StageDetail::reason`].
    Skipped,
}

impl StageState {
    /// `done`, `pending`, `dead`, `not_scheduled` or `skipped`.
    pub fn name(self) -> &'static str {
        match self {
            StageState::Done => "done",
            StageState::Pending => "pending",
            StageState::Dead => "dead",
            StageState::NotScheduled => "not_scheduled",
            StageState::Skipped => "skipped",
        }
    }
}

/// One stage of `kiln show`.
#[derive(Debug, Clone, PartialEq)]
pub struct StageDetail {
    /// Where it stands.
    pub state: StageState,
    /// The stage version that wrote the facts.
    pub version: Option<u32>,
    /// The facts, when done.
    pub facts: Option<Value>,
    /// Artifact name to blob file.
    pub artifacts: BTreeMap<String, PathBuf>,
    /// The live job, when there is one.
    pub job_id: Option<u64>,
    /// Why the stage was skipped, when it was.
    pub reason: Option<String>,
}

/// Everything known about one asset.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetDetail {
    /// The asset's id.
    pub id: u64,
    /// Every path with this content.
    pub paths: Vec<String>,
    /// blake3 of the content, once established.
    pub content_hash: Option<[u8; 32]>,
    /// Where it stands.
    pub state: AssetState,
    /// Per stage (registered stages and stages with stored facts).
    pub stages: BTreeMap<String, StageDetail>,
}

impl AssetDetail {
    /// The blob file of an artifact by name, from whichever stage made it.
    pub fn artifact(&self, name: &str) -> Option<&Path> {
        self.stages
            .values()
            .find_map(|s| s.artifacts.get(name).map(PathBuf::as_path))
    }
}

fn import_counts(
    table: &ReadOnlyTable<(u64, u8, u8), u64>,
    import_id: u64,
) -> Result<BTreeMap<u8, JobCounts>, EngineError> {
    let mut tiers: BTreeMap<u8, JobCounts> = BTreeMap::new();
    for entry in table.range((import_id, 0u8, 0u8)..=(import_id, u8::MAX, u8::MAX))? {
        let (key, value) = entry?;
        let (_, tier, s) = key.value();
        tiers.entry(tier).or_default().add(s, value.value());
    }
    Ok(tiers)
}

pub(crate) fn imports(txn: &ReadTransaction) -> Result<Vec<ImportInfo>, EngineError> {
    let table = txn.open_table(IMPORTS)?;
    let counts = txn.open_table(IMPORT_COUNTS)?;
    let budgets = txn.open_table(IMPORT_BUDGETS)?;
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
            id,
            root: record.root,
            priority: Priority::from_u8(record.priority),
            state,
            created_ns: record.created_ns,
            files_seen: record.files_seen,
            files_unchanged: record.files_unchanged,
            tiers,
            budget: budgets.get(id)?.map(|v| v.value()),
        });
    }
    Ok(out)
}

pub(crate) fn status(txn: &ReadTransaction) -> Result<Status, EngineError> {
    let imports = imports(txn)?;
    let mut tiers: BTreeMap<u8, JobCounts> = (1..=3).map(|t| (t, JobCounts::default())).collect();
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

/// The jobs table as opened in a read transaction.
pub(crate) type JobsTable = ReadOnlyTable<u64, &'static [u8]>;

pub(crate) fn job_record(jobs: &JobsTable, job_id: u64) -> Result<Option<JobRecord>, EngineError> {
    match jobs.get(job_id)? {
        Some(bytes) => Ok(Some(decode("jobs", bytes.value())?)),
        None => Ok(None),
    }
}

fn stage_details(
    txn: &ReadTransaction,
    graph: &Graph,
    blobs: &Path,
    asset_id: u64,
    with_facts: bool,
) -> Result<BTreeMap<String, StageDetail>, EngineError> {
    let mut stages: BTreeMap<String, StageDetail> = graph
        .entries()
        .map(|e| {
            (
                e.info.name.clone(),
                StageDetail {
                    state: StageState::Pending,
                    version: None,
                    facts: None,
                    artifacts: BTreeMap::new(),
                    job_id: None,
                    reason: None,
                },
            )
        })
        .collect();
    let facts = txn.open_table(FACTS)?;
    for entry in facts.range((asset_id, "")..(asset_id.saturating_add(1), ""))? {
        let (key, value) = entry?;
        let name = key.value().1.to_owned();
        let record: FactRecord = decode("facts", value.value())?;
        let detail = stages.entry(name).or_insert_with(|| StageDetail {
            state: StageState::Done,
            version: None,
            facts: None,
            artifacts: BTreeMap::new(),
            job_id: None,
            reason: None,
        });
        detail.state = StageState::Done;
        detail.version = Some(record.version);
        detail.artifacts = record
            .artifacts
            .iter()
            .map(|a| (a.name.clone(), blob_path(blobs, &a.blob)))
            .collect();
        if with_facts {
            detail.facts = Some(record.facts);
        }
    }
    let live = txn.open_table(ASSET_JOBS)?;
    let jobs = txn.open_table(JOBS)?;
    for entry in live.range((asset_id, "")..(asset_id.saturating_add(1), ""))? {
        let (key, value) = entry?;
        let name = key.value().1.to_owned();
        let job_id = value.value();
        let dead = job_record(&jobs, job_id)?.is_some_and(|j| j.state == state::DEAD);
        if let Some(detail) = stages.get_mut(&name) {
            detail.job_id = Some(job_id);
            if dead {
                detail.state = StageState::Dead;
            } else if detail.state != StageState::Done {
                detail.state = StageState::Pending;
            }
        }
    }
    let gates = txn.open_table(GATE_DECISIONS)?;
    if let Some(bytes) = gates.get(asset_id)?
        && let GateRecord::Skipped { tier, reason } =
            decode::<GateRecord>("gate_decisions", bytes.value())?
    {
        for entry in graph.entries().filter(|e| e.info.tier >= tier) {
            if let Some(detail) = stages.get_mut(&entry.info.name)
                && detail.state == StageState::Pending
                && detail.job_id.is_none()
            {
                detail.state = StageState::Skipped;
                detail.reason = Some(reason.clone());
            }
        }
    }
    Ok(stages)
}

fn asset_state(record: &AssetRecord, stages: &BTreeMap<String, StageDetail>) -> AssetState {
    match record.status {
        AssetStatus::Duplicate(of) => AssetState::Duplicate { of },
        AssetStatus::Superseded => AssetState::Superseded,
        AssetStatus::Active => {
            if stages.values().any(|s| s.state == StageState::Dead) {
                AssetState::Dead
            } else if stages
                .values()
                .all(|s| matches!(s.state, StageState::Done | StageState::Skipped))
            {
                AssetState::Done
            } else {
                AssetState::Pending
            }
        }
    }
}

pub(crate) fn assets(
    txn: &ReadTransaction,
    graph: &Graph,
    blobs: &Path,
) -> Result<Vec<AssetSummary>, EngineError> {
    let table = txn.open_table(ASSETS)?;
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (key, value) = entry?;
        let id = key.value();
        let record: AssetRecord = decode("assets", value.value())?;
        let stages = stage_details(txn, graph, blobs, id, false)?;
        out.push(AssetSummary {
            id,
            first_path: record.paths.first().cloned().unwrap_or_default(),
            state: asset_state(&record, &stages),
        });
    }
    Ok(out)
}

/// Ids of the assets that are duplicates or superseded, read from the
/// asset records alone (no facts are decoded).
pub(crate) fn inactive_assets(txn: &ReadTransaction) -> Result<Vec<u64>, EngineError> {
    let table = txn.open_table(ASSETS)?;
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (key, value) = entry?;
        let record: AssetRecord = decode("assets", value.value())?;
        if record.status != AssetStatus::Active {
            out.push(key.value());
        }
    }
    Ok(out)
}

pub(crate) fn asset(
    txn: &ReadTransaction,
    graph: &Graph,
    blobs: &Path,
    asset_id: u64,
) -> Result<Option<AssetDetail>, EngineError> {
    let table = txn.open_table(ASSETS)?;
    let Some(bytes) = table.get(asset_id)? else {
        return Ok(None);
    };
    let record: AssetRecord = decode("assets", bytes.value())?;
    let mut stages = stage_details(txn, graph, blobs, asset_id, true)?;
    if record.status != AssetStatus::Active {
        for detail in stages.values_mut() {
            if detail.state == StageState::Pending {
                detail.state = StageState::NotScheduled;
            }
        }
    }
    Ok(Some(AssetDetail {
        id: asset_id,
        state: asset_state(&record, &stages),
        paths: record.paths,
        content_hash: record.content_hash,
        stages,
    }))
}

pub(crate) fn asset_by_path(txn: &ReadTransaction, path: &str) -> Result<Option<u64>, EngineError> {
    let table = txn.open_table(FILES)?;
    match table.get(path)? {
        Some(bytes) => Ok(Some(
            decode::<crate::tables::FileRecord>("files", bytes.value())?.asset_id,
        )),
        None => Ok(None),
    }
}

pub(crate) fn ready_by_priority_tier(
    txn: &ReadTransaction,
) -> Result<BTreeMap<(String, u8), u64>, EngineError> {
    let table = txn.open_table(READY)?;
    let mut out = BTreeMap::new();
    for entry in table.iter()? {
        let (key, _) = entry?;
        let (p, tier, _, _) = key.value();
        *out.entry((Priority::from_u8(p).name().to_owned(), tier))
            .or_insert(0) += 1;
    }
    Ok(out)
}
