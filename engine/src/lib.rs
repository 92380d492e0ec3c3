//! kiln's durable job engine: store, queue, leases, scheduler, intake and plugin host.
//!
//! # The model
//!
//! A *store* is a directory holding one redb database (`kiln.redb`), a
//! content-addressed blob folder (`blobs/`) and an engine lock file. Files are
//! taken in by *imports* (a folder walk or one submitted file); each new or
//! changed file becomes a provisional *asset* and gets one *job* per root
//! stage (a stage with no `after`). A job is one stage for one asset.
//!
//! Jobs wait in a READY table keyed `(priority, tier, enqueue_ns, job_id)`,
//! so a range scan yields them in claim order: interactive before batch
//! before background, lower tiers first, oldest first. A stage that follows
//! another of the same tier keeps its asset's place in line, so an asset
//! goes through its tier's stages together.
//!
//! * **Claiming is leasing.** A claim moves jobs from READY to the lease
//!   table and counts an attempt in the same durable transaction. A job that
//!   kills the process is therefore charged, and after `max_attempts` it is
//!   dead-lettered instead of crash-looping. Jobs leased when a process died
//!   are *suspect* after the restart and run alone, so only the culprit is
//!   charged again.
//! * **Completion is one transaction**: facts written, lease removed,
//!   dependent stages enqueued (those whose `after` stages are all done). The
//!   lease's token fences it: a stale result is rejected, never applied twice.
//! * **What a stage is given**: the asset's path and content hash, the
//!   facts of exactly the stages it runs after (the transitive closure of
//!   its `after`, all done before it runs, so what it sees never depends on
//!   timing) and, only if it declared `needs_proxy`, the proxy one of them
//!   produced.
//! * **Identity.** A stage output with a content hash establishes the asset:
//!   if another asset already has that hash, this file's path joins that asset
//!   and no later stage runs for the duplicate.
//! * **Group commit.** One writer thread applies every write; callers are
//!   answered only after the commit that contains their operation is durable.
//! * **Restart.** Opening a store reclaims all leases of a previous process at
//!   once; interrupted folder walks resume when the engine starts. An import
//!   that finds a file unchanged whose jobs an earlier import still has
//!   queued (an import killed part way and taken in again) records that it
//!   resumed that import, and waiting for it waits for that import too.
//! * **Registration.** Registering a stage, or a new version of one, on a
//!   store that already has assets calls for work:
//!   [`Engine::enqueue_outdated`] (which [`Engine::start`] calls) enqueues
//!   each stage for the active assets whose facts another version wrote, or
//!   that never ran it though its `after` stages are done, never doubling a
//!   live job or reviving a dead letter, and asking the gate as a re-run
//!   does. [`Engine::rerun_outdated`] does the same for one stage on request.
//! * **Enrichment gate.** Stages of the guarded tiers (3 by default) of an asset are
//!   enqueued only once its lower tiers are done and the [`EnrichmentGate`] let it
//!   through: a rule over its facts, then its import's budget. The decision
//!   and the spent budget are written in that completion's transaction; a
//!   turned-away asset's guarded stages count as skipped.
//! * **Retries.** Transient errors retry with exponential backoff and jitter;
//!   permanent errors, and the last attempt, go to the dead-letter table,
//!   which can be listed, retried and purged.
//! * **Backpressure.** Folder walks are lazy and pause while READY is above
//!   the high watermark.
//! * **Two processes.** The store is opened in redb's multi-writer mode. The
//!   process holding `engine.lock` is the primary: it reclaims leases on open
//!   and may run workers. Another process gets a client handle that reads,
//!   submits (the primary's poll picks the new READY rows up, and a busy
//!   primary still looks for interactive rows once per poll period) and waits;
//!   if the primary exits first, a waiting client takes over
//!   ([`Engine::try_promote`]). Multi-process modes make redb use a two-phase
//!   commit (two fsyncs per commit); `engine_bench` measures what that costs
//!   against [`Sharing::Exclusive`].
//!
//! # Tables
//!
//! `ready (priority, tier, enqueue_ns, job_id)`, `leases job_id -> (token,
//! leased_at, attempts)`, `delayed (run_at_ns, job_id)` (jobs retrying), `dead job_id`,
//! `jobs job_id -> record` (every job not yet done), `assets`, `files path ->
//! asset`, `hashes content -> asset`, `facts (asset, stage) -> version, facts,
//! artifact blobs`, `asset_jobs (asset, stage) -> live job`, `imports`,
//! `gate_decisions asset -> passed | skipped (tier, reason)`,
//! `import_budgets import -> (limit, spent)`, `import_resumes (import,
//! earlier_import)` (the imports an import resumed), `unreadable_folders
//! (import, folder) -> reason` (folders a walk could not read), `purged (asset, stage)
//! -> version` (purged dead letters, not revived at that version), and
//! job counters per `(import, tier, state)` and `(stage, state)` that move in
//! the same transaction as the jobs they count. Leases are keyed by job rather
//! than by expiry: only the primary holds leases and it reclaims all of them
//! when it opens, so nothing ever waits for a lease to expire.
//!
//! ```no_run
//! # async fn demo(stage: std::sync::Arc<dyn kiln_plugin_api::Stage>) -> Result<(), kiln_engine::EngineError> {
//! use kiln_engine::{Config, Engine, Priority, Tier, Until};
//! let engine = Engine::open("kiln-store", Config::default())?;
//! engine.register_stage(stage)?;
//! let import = engine.import_dir("outputs", Priority::Batch).await?;
//! engine.run_until(Until::Tier { tier: Tier::Browsable, imports: Some(vec![import]) }).await?;
//! println!("{:?}", engine.status()?);
//! engine.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

// The modules form layers: each uses only the layers below it. The order
// is stated in ARCHITECTURE.md and checked by `engine/tests/layers.rs`.
mod api;
mod config;
mod error;
mod graph;
mod model;
pub mod plugin;
mod runtime;
mod store;
mod txn;
mod views;

pub use api::{Engine, Manual};
pub use config::{Clock, Config, ManualClock, Sharing, SystemClock, backoff_delay};
pub use error::{CurationError, EngineError, GraphError};
pub use model::{
    AssetId, ClaimedJob, CollectionImport, CollectionInfo, CollectionPlace, Completion,
    ContentHash, Curation, CurationEdit, CurationExport, CurationFilter, CurationImport,
    DatabaseHealth, DatabaseState, EnrichmentGate, EnrichmentRule, Failure, ImportId,
    ImportOptions, JobId, JobState, LabelProblem, Lease, MAX_LABEL_CHARS, MAX_RATING, MAX_TAGS,
    MergeReport, Outdated, Priority, Tier, Until, fold_label, is_ignored, normalize_label, stat_of,
};
pub use runtime::walk::{FoundFile, find_files};
pub use store::damage::{catch_panics, panic_is_contained};
pub use store::tables::INTAKE_STAGE;
pub use store::{BLOBS_DIR, CACHE_DIR, DATABASE_FILE, LOCK_FILE, is_store_file};
pub use views::assets::{AssetDetail, AssetState, AssetSummary, StageDetail, StageState};
pub use views::browse::{BrowseCursor, BrowseEntry, BrowseOrder, BrowsePage};
pub use views::failures::{AttemptInfo, DeadLetter, RetryingJob};
pub use views::health::{BlobHealth, BlobProblem};
pub use views::metrics::{JobMetrics, Metrics};
pub use views::progress::{ImportProgress, Progress, TierProgress};
pub use views::status::{ImportInfo, ImportState, JobCounts, Status, UnreadableFolder};
