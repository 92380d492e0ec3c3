//! Read-only views of assets and their stages.
//!
//! Each call reads one consistent snapshot. Any handle can read, including a
//! client in another process while the engine runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_plugin_api::Value;
use redb::{ReadOnlyTable, ReadTransaction, ReadableTable};

use crate::error::EngineError;
use crate::graph::Graph;
use crate::model::{AssetId, GateRecord, JobId, JobState};
use crate::store::blobs::blob_path;
use crate::store::tables::{
    ASSET_JOBS, ASSETS, AssetRecord, AssetStatus, FACTS, FILES, FactRecord, FileRecord,
    GATE_DECISIONS, JOBS, JobRecord, decode,
};

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
        of: AssetId,
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
    pub id: AssetId,
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
    /// Whether the facts were written by another version than the one
    /// registered now: the stage will run again for the asset (see
    /// [`Engine::enqueue_outdated`](crate::Engine::enqueue_outdated)).
    /// False when the stage is not registered or has no facts.
    pub outdated: bool,
    /// The facts, when done.
    pub facts: Option<Value>,
    /// Artifact name to blob file.
    pub artifacts: BTreeMap<String, PathBuf>,
    /// The live job, when there is one.
    pub job_id: Option<JobId>,
    /// Why the stage was skipped, when it was.
    pub reason: Option<String>,
}

/// Everything known about one asset.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetDetail {
    /// The asset's id.
    pub id: AssetId,
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
                    outdated: false,
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
        let outdated = graph
            .get(&name)
            .is_some_and(|e| e.info.version != record.version);
        let detail = stages.entry(name).or_insert_with(|| StageDetail {
            state: StageState::Done,
            version: None,
            outdated: false,
            facts: None,
            artifacts: BTreeMap::new(),
            job_id: None,
            reason: None,
        });
        detail.state = StageState::Done;
        detail.version = Some(record.version);
        detail.outdated = outdated;
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
        let dead = job_record(&jobs, job_id)?.is_some_and(|j| j.state == JobState::Dead);
        if let Some(detail) = stages.get_mut(&name) {
            detail.job_id = Some(JobId::new(job_id));
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
        AssetStatus::Duplicate(of) => AssetState::Duplicate {
            of: AssetId::new(of),
        },
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
            id: AssetId::new(id),
            first_path: record.paths.first().cloned().unwrap_or_default(),
            state: asset_state(&record, &stages),
        });
    }
    Ok(out)
}

/// Ids of the assets that are duplicates or superseded, read from the
/// asset records alone (no facts are decoded).
pub(crate) fn inactive_assets(txn: &ReadTransaction) -> Result<Vec<AssetId>, EngineError> {
    let table = txn.open_table(ASSETS)?;
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (key, value) = entry?;
        let record: AssetRecord = decode("assets", value.value())?;
        if record.status != AssetStatus::Active {
            out.push(AssetId::new(key.value()));
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
        id: AssetId::new(asset_id),
        state: asset_state(&record, &stages),
        paths: record.paths,
        content_hash: record.content_hash,
        stages,
    }))
}

pub(crate) fn asset_by_path(
    txn: &ReadTransaction,
    path: &str,
) -> Result<Option<AssetId>, EngineError> {
    let table = txn.open_table(FILES)?;
    match table.get(path)? {
        Some(bytes) => Ok(Some(AssetId::new(
            decode::<FileRecord>("files", bytes.value())?.asset_id,
        ))),
        None => Ok(None),
    }
}

/// Calls `each` with the facts of `stage` of every active asset that has
/// them, as `(asset, the stage's version that wrote them, facts)`, in asset
/// order. One record per asset is read: the asset's own, and its fact of
/// `stage`; one fact is decoded at a time.
pub(crate) fn each_stage_fact(
    txn: &ReadTransaction,
    stage: &str,
    mut each: impl FnMut(AssetId, u32, Value),
) -> Result<(), EngineError> {
    let assets = txn.open_table(ASSETS)?;
    let facts = txn.open_table(FACTS)?;
    for entry in assets.iter()? {
        let (key, value) = entry?;
        let id = key.value();
        let Some(bytes) = facts.get((id, stage))? else {
            continue;
        };
        let record: AssetRecord = decode("assets", value.value())?;
        if record.status != AssetStatus::Active {
            continue;
        }
        let fact: FactRecord = decode("facts", bytes.value())?;
        each(AssetId::new(id), fact.version, fact.facts);
    }
    Ok(())
}
