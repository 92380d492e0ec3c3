//! The redb tables of a store and the records they hold.
//!
//! Keys are tuples of fixed-width integers (and names), which redb orders
//! numerically, so a range scan over READY yields work in claim order. Values
//! are postcard-encoded records. No table is cached in memory across
//! transactions: another process may write the store between two of ours.

use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::model::{ArtifactRecord, JobState};

/// `(priority, tier, enqueue_ns, job_id)`: the claim order.
pub(crate) type ReadyKey = (u8, u8, u64, u64);

/// Counters and id sequences, by name.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Every job not yet done, by id.
pub(crate) const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");
/// Jobs waiting to be claimed.
pub(crate) const READY: TableDefinition<ReadyKey, ()> = TableDefinition::new("ready");
/// Leased jobs: `job_id -> (token, leased_at_ns, attempts)`. The attempt count
/// lives here while a job is leased, so a claim writes no job record; the
/// record's own `attempts` and `state` are brought up to date when the lease ends.
pub(crate) const LEASES: TableDefinition<u64, (u64, u64, u32)> = TableDefinition::new("leases");
/// Jobs waiting for a retry: `(run_at_ns, job_id)`. The table keeps its
/// stored name, `delayed`, so existing stores open unchanged.
pub(crate) const RETRYING: TableDefinition<(u64, u64), ()> = TableDefinition::new("delayed");
/// Dead letters: `job_id`; the job record keeps the details.
pub(crate) const DEAD: TableDefinition<u64, ()> = TableDefinition::new("dead");
/// Assets by id.
pub(crate) const ASSETS: TableDefinition<u64, &[u8]> = TableDefinition::new("assets");
/// Files by path.
pub(crate) const FILES: TableDefinition<&str, &[u8]> = TableDefinition::new("files");
/// Content hash to asset.
pub(crate) const HASHES: TableDefinition<&[u8], u64> = TableDefinition::new("hashes");
/// Facts of a finished stage: `(asset_id, stage)`.
pub(crate) const FACTS: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("facts");
/// The live (not done) job of an asset's stage: `(asset_id, stage) -> job_id`.
pub(crate) const ASSET_JOBS: TableDefinition<(u64, &str), u64> = TableDefinition::new("asset_jobs");
/// Imports by id.
pub(crate) const IMPORTS: TableDefinition<u64, &[u8]> = TableDefinition::new("imports");
/// Jobs per `(import_id, tier, state)`.
pub(crate) const IMPORT_COUNTS: TableDefinition<(u64, u8, u8), u64> =
    TableDefinition::new("import_counts");
/// The jobs of one file in one tier of one import, by class:
/// `(import_id, asset_id, tier) -> (ready, running, retrying, dead,
/// finished)`, finished being done or skipped (a gate-skipped stage counts
/// as one finished job though no job was made). Kept in the transactions
/// that move the jobs; a file with no job left in the tier has no record.
/// Files intake could not read (no asset) have no record: their one dead
/// job is their state.
pub(crate) const FILE_TIERS: TableDefinition<(u64, u64, u8), FileTier> =
    TableDefinition::new("file_tiers");

/// A file's jobs in one tier by class: ready, running, retrying, dead,
/// finished (done or skipped).
pub(crate) type FileTier = (u32, u32, u32, u32, u32);
/// Files per `(import_id, tier, state)`, the state stored as a
/// `JobState` byte: the file's state in the tier (see
/// `views::progress::TierProgress`).
pub(crate) const FILE_COUNTS: TableDefinition<(u64, u8, u8), u64> =
    TableDefinition::new("file_counts");
/// Jobs per `(stage, state)`.
pub(crate) const STAGE_COUNTS: TableDefinition<(&str, u8), u64> =
    TableDefinition::new("stage_counts");

/// The gate's decision per asset: a `model::GateRecord`.
pub(crate) const GATE_DECISIONS: TableDefinition<u64, &[u8]> =
    TableDefinition::new("gate_decisions");
/// Enrichment-gate budgets per import: `import_id -> (limit, spent)`.
pub(crate) const IMPORT_BUDGETS: TableDefinition<u64, (u64, u64)> =
    TableDefinition::new("import_budgets");

/// Imports that took in, unchanged, files whose work an earlier import
/// still had queued: `(import_id, earlier_import_id)`. Waiting for an
/// import waits for the earlier imports it resumed, too.
pub(crate) const IMPORT_RESUMES: TableDefinition<(u64, u64), ()> =
    TableDefinition::new("import_resumes");

/// Folders an import's walk could not read (or finish reading), with why:
/// `(import_id, folder) -> reason`. Their files were not taken in.
pub(crate) const UNREADABLE_FOLDERS: TableDefinition<(u64, &str), &str> =
    TableDefinition::new("unreadable_folders");

/// Dead letters that were purged, by `(asset_id, stage)`, with the stage
/// version registered when they were: registering the stage again at that
/// version does not bring them back (see `txn::rerun`).
pub(crate) const PURGED: TableDefinition<(u64, &str), u32> = TableDefinition::new("purged");

/// Records an application keeps in the store beside the engine's own
/// (`Engine::setting`), by key: opaque bytes the engine never reads.
pub(crate) const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");

/// Curation by content hash (32 bytes): a [`CurationRecord`]. A record
/// stays when its parts are cleared (its change times decide merges) and
/// goes only when purged.
pub(crate) const CURATION: TableDefinition<&[u8], &[u8]> = TableDefinition::new("curation");
/// Tags: `(folded tag, content hash)`, kept with [`CURATION`] in the same
/// transactions; what `tag:` terms read.
pub(crate) const CURATION_TAGS: TableDefinition<(&str, &[u8]), ()> =
    TableDefinition::new("curation_tags");
/// Ratings of 1 and more: `(rating, content hash)`.
pub(crate) const CURATION_RATINGS: TableDefinition<(u8, &[u8]), ()> =
    TableDefinition::new("curation_ratings");
/// Favorites: content hashes.
pub(crate) const CURATION_FAVORITES: TableDefinition<&[u8], ()> =
    TableDefinition::new("curation_favorites");
/// Collections by folded name: a [`CollectionRecord`].
pub(crate) const COLLECTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("collections");
/// A collection's members in order: `(collection id, position) -> content
/// hash`.
pub(crate) const COLLECTION_ITEMS: TableDefinition<(u64, u64), &[u8]> =
    TableDefinition::new("collection_items");
/// A collection's members by hash: `(collection id, content hash) ->
/// position`.
pub(crate) const COLLECTION_MEMBERS: TableDefinition<(u64, &[u8]), u64> =
    TableDefinition::new("collection_members");

/// Meta keys.
pub(crate) mod meta {
    pub(crate) const NEXT_JOB: &str = "next_job_id";
    pub(crate) const NEXT_ASSET: &str = "next_asset_id";
    pub(crate) const NEXT_IMPORT: &str = "next_import_id";
    pub(crate) const NEXT_TOKEN: &str = "next_lease_token";
    /// A random number written when the database is created: what tells
    /// this database from another one (or from an emptied one made anew)
    /// at the same path, for data derived from it.
    pub(crate) const STORE_ID: &str = "store_id";
    /// Present once `FILE_TIERS` and `FILE_COUNTS` hold every file: a store
    /// made before they existed has them built once, by the first primary
    /// that knows its stages (`txn::file_counts`).
    pub(crate) const FILE_COUNTS_BUILT: &str = "file_counts_built";
    /// How many assets are browsable (active, every tier-1 stage done),
    /// kept by the transactions that change it…
    pub(crate) const BROWSABLE: &str = "browsable_assets";
    /// …for the set of tier-1 stages with this fingerprint
    /// (`Graph::browsable_fingerprint`); absent or different, the count is
    /// rebuilt by the next primary that knows its stages (`txn::browsable`).
    pub(crate) const BROWSABLE_STAGES: &str = "browsable_stages";
    pub(crate) const NEXT_COLLECTION: &str = "next_collection_id";
    /// What the last full look for outdated stages saw
    /// (`txn::rerun::outdated_fingerprint`): while the stages, the gate and
    /// the sizes of the tables it reads are the same, another look would
    /// find nothing, and is skipped.
    pub(crate) const OUTDATED_CHECKED: &str = "outdated_checked";
}

/// The stage name of dead letters for files intake could not read.
pub const INTAKE_STAGE: &str = "intake";

/// One failed attempt of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AttemptRecord {
    pub(crate) attempt: u32,
    pub(crate) at_ns: u64,
    pub(crate) error: String,
}

/// A job that is not done yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JobRecord {
    pub(crate) asset_id: u64,
    pub(crate) import_id: u64,
    pub(crate) stage: String,
    pub(crate) tier: u8,
    pub(crate) priority: u8,
    pub(crate) state: JobState,
    pub(crate) attempts: u32,
    pub(crate) enqueue_ns: u64,
    /// Leased when a previous process died; runs alone next time so that a job
    /// which kills the process is charged its attempts without its neighbours.
    pub(crate) suspect: bool,
    pub(crate) run_at_ns: u64,
    pub(crate) path: String,
    pub(crate) history: Vec<AttemptRecord>,
}

impl JobRecord {
    pub(crate) fn ready_key(&self, job_id: u64) -> ReadyKey {
        (self.priority, self.tier, self.enqueue_ns, job_id)
    }
}

/// What became of an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum AssetStatus {
    Active,
    Duplicate(u64),
    Superseded,
}

/// An asset: one distinct content, with every path it was found at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AssetRecord {
    pub(crate) paths: Vec<String>,
    pub(crate) content_hash: Option<[u8; 32]>,
    pub(crate) status: AssetStatus,
    pub(crate) import_id: u64,
    pub(crate) created_ns: u64,
}

/// A file seen by intake.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FileRecord {
    pub(crate) asset_id: u64,
    pub(crate) size: u64,
    pub(crate) mtime_ns: u64,
}

/// What a finished stage produced for an asset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FactRecord {
    pub(crate) version: u32,
    pub(crate) done_ns: u64,
    pub(crate) facts: kiln_plugin_api::Value,
    pub(crate) artifacts: Vec<ArtifactRecord>,
}

/// The version of a stored [`FactRecord`], read without decoding its facts:
/// the version is the record's first field.
pub(crate) fn fact_version(bytes: &[u8]) -> Result<u32, EngineError> {
    postcard::take_from_bytes::<u32>(bytes)
        .map(|(version, _)| version)
        .map_err(|e| EngineError::corrupt("facts", e))
}

/// An import: a directory walk or a single submitted file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ImportRecord {
    pub(crate) root: String,
    pub(crate) priority: u8,
    pub(crate) created_ns: u64,
    pub(crate) walk_done: bool,
    pub(crate) files_seen: u64,
    pub(crate) files_unchanged: u64,
}

/// The curation of one content hash. The record's format is its variant:
/// a later format is a new variant, and a kiln that does not know it
/// refuses the record as unreadable rather than misread it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum CurationRecord {
    V1(CurationV1),
}

/// The first format of [`CurationRecord`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CurationV1 {
    pub(crate) rating: u8,
    pub(crate) rating_ns: u64,
    pub(crate) favorite: bool,
    pub(crate) favorite_ns: u64,
    pub(crate) tags: Vec<String>,
    pub(crate) tags_ns: u64,
}

/// A collection, versioned as [`CurationRecord`] is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum CollectionRecord {
    V1(CollectionV1),
}

/// The first format of [`CollectionRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CollectionV1 {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) created_ns: u64,
    pub(crate) updated_ns: u64,
    /// The position the next member gets.
    pub(crate) next_position: u64,
    pub(crate) members: u64,
}

pub(crate) fn encode<T: Serialize>(table: &'static str, value: &T) -> Result<Vec<u8>, EngineError> {
    postcard::to_allocvec(value).map_err(|e| EngineError::corrupt(table, e))
}

pub(crate) fn decode<'a, T: Deserialize<'a>>(
    table: &'static str,
    bytes: &'a [u8],
) -> Result<T, EngineError> {
    postcard::from_bytes(bytes).map_err(|e| EngineError::corrupt(table, e))
}
