//! Reading the store: status, assets, failures and metrics.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Engine;
use crate::config::Config;
use crate::error::EngineError;
use crate::model::{AssetId, DatabaseHealth};
use crate::store;
use crate::store::tables::{self, META};
use crate::views::assets::{self, AssetDetail, AssetSummary};
use crate::views::browse::{self, BrowseCursor, BrowseEntry, BrowseOrder, BrowsePage};
use crate::views::failures::{self, DeadLetter, RetryingJob};
use crate::views::health::{self, BlobHealth};
use crate::views::metrics::{Metrics, queue_metrics};
use crate::views::status::{self, Status};

impl Engine {
    /// Counts of assets, files, jobs by state and tier, and every import.
    pub fn status(&self) -> Result<Status, EngineError> {
        self.inner.view(status::status)
    }

    /// Every asset with its first path and state.
    pub fn assets(&self) -> Result<Vec<AssetSummary>, EngineError> {
        let graph = self.inner.graph.current();
        self.inner
            .view(|txn| assets::assets(txn, &graph, &self.inner.store.blobs))
    }

    /// A page of browsable assets (active, every tier-1 stage done) in
    /// `order`, starting after `cursor` (the page before's
    /// [`BrowsePage::next`]; `None` for the first page). Costs what it
    /// returns, not the size of the store.
    pub fn browse(
        &self,
        order: &BrowseOrder,
        cursor: Option<&BrowseCursor>,
        limit: usize,
    ) -> Result<BrowsePage, EngineError> {
        let graph = self.inner.graph.current();
        self.inner
            .view(|txn| browse::browse(txn, &graph, &self.inner.store.blobs, order, cursor, limit))
    }

    /// The gallery entry of each of `ids`, in order; `None` for one that is
    /// not browsable.
    pub fn browse_entries(&self, ids: &[AssetId]) -> Result<Vec<Option<BrowseEntry>>, EngineError> {
        let graph = self.inner.graph.current();
        self.inner
            .view(|txn| browse::entries(txn, &graph, &self.inner.store.blobs, ids))
    }

    /// How many assets are browsable: active, with every tier-1 stage
    /// done. One read: the store keeps the count in the transactions that
    /// change it (a store whose count is not built yet for the registered
    /// stages is counted by reading every asset record, until the primary
    /// builds it on start).
    pub fn browsable_count(&self) -> Result<u64, EngineError> {
        let graph = self.inner.graph.current();
        self.inner.view(|txn| browse::browsable_count(txn, &graph))
    }

    /// Ids of the assets that are duplicates of another or were superseded
    /// by a changed file. Cheaper than [`Engine::assets`]: no facts are read.
    pub fn inactive_assets(&self) -> Result<Vec<AssetId>, EngineError> {
        self.inner.view(assets::inactive_assets)
    }

    /// Calls `each` with the facts of `stage` of every active asset that
    /// has them, with the version of the stage that wrote them, in asset
    /// order, in one read transaction. Reads one fact record per asset,
    /// not the asset's others, and decodes one at a time: for an
    /// application that keeps one stage's results in memory (kiln's
    /// semantic vectors).
    pub fn each_stage_fact(
        &self,
        stage: &str,
        each: impl FnMut(AssetId, u32, kiln_plugin_api::Value),
    ) -> Result<(), EngineError> {
        self.inner
            .view(|txn| assets::each_stage_fact(txn, stage, each))
    }

    /// How many of `stage`'s jobs are done, from the store's running
    /// counts (one read): it changes whenever a job of the stage
    /// completes, so a process can tell cheaply whether results it keeps
    /// in memory may be out of date.
    pub fn stage_done_count(&self, stage: &str) -> Result<u64, EngineError> {
        self.inner.view(|txn| {
            let table = txn.open_table(tables::STAGE_COUNTS)?;
            let done = table.get((stage, crate::model::JobState::Done.stored()))?;
            Ok(done.map_or(0, |v| v.value()))
        })
    }

    /// Everything about one asset, or `None` if there is no such asset.
    pub fn asset(&self, asset_id: AssetId) -> Result<Option<AssetDetail>, EngineError> {
        let graph = self.inner.graph.current();
        self.inner
            .view(|txn| assets::asset(txn, &graph, &self.inner.store.blobs, asset_id.get()))
    }

    /// The asset a path belongs to (after deduplication, the surviving asset).
    pub fn asset_by_path(&self, path: impl AsRef<Path>) -> Result<Option<AssetId>, EngineError> {
        let path = path.as_ref();
        self.inner.view(|txn| {
            if let Some(found) = path
                .to_str()
                .map(|p| assets::asset_by_path(txn, p))
                .transpose()?
                .flatten()
            {
                return Ok(Some(found));
            }
            match std::fs::canonicalize(path)
                .ok()
                .and_then(|p| p.to_str().map(str::to_owned))
            {
                Some(canonical) => assets::asset_by_path(txn, &canonical),
                None => Ok(None),
            }
        })
    }

    /// The store's id: a random number written when its database was
    /// created. Data derived from the store (a search index) records it, to
    /// tell whether it was derived from this database or from another one
    /// at the same path (an emptied or replaced file).
    pub fn store_id(&self) -> Result<u64, EngineError> {
        self.inner.view(|txn| {
            let meta = txn.open_table(META)?;
            let id = meta.get(tables::meta::STORE_ID)?.map(|v| v.value());
            id.ok_or_else(|| EngineError::corrupt("meta", "the store id is missing"))
        })
    }

    /// Looks at every blob the store's records name: present, and with
    /// `deep`, holding the bytes its name (their blake3 hash) says.
    pub fn blob_health(&self, deep: bool) -> Result<BlobHealth, EngineError> {
        self.inner
            .view(|txn| health::blob_health(txn, &self.inner.store.blobs, deep))
    }

    /// Checks the database of the store in `dir` without opening the store
    /// (which a damaged database may not allow): redb's integrity check of
    /// every committed page, which rolls the file back to its last sound
    /// commit when it can, then the leases held and whether a kiln process
    /// runs the engine on it. Needs no other handle of this process open on
    /// the store.
    pub fn check_database(
        dir: impl AsRef<Path>,
        config: &Config,
    ) -> Result<DatabaseHealth, EngineError> {
        store::check_database(dir.as_ref(), config)
    }

    /// Every dead letter.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, EngineError> {
        self.inner.view(failures::dead_letters)
    }

    /// Every job waiting for a retry.
    pub fn retrying(&self) -> Result<Vec<RetryingJob>, EngineError> {
        self.inner.view(failures::retrying)
    }

    /// Queue depth by priority, tier and stage, commit and worker figures.
    pub fn metrics(&self) -> Result<Metrics, EngineError> {
        let mut metrics = self.inner.view(queue_metrics)?;
        let stats = &self.inner.writer.stats;
        metrics.commits = stats.commits.load(Ordering::Relaxed);
        metrics.commit_ops = stats.ops.load(Ordering::Relaxed);
        metrics.mean_commit = Duration::from_nanos(
            stats
                .commit_ns
                .load(Ordering::Relaxed)
                .checked_div(metrics.commits)
                .unwrap_or(0),
        );
        metrics.mean_sync = Duration::from_nanos(
            stats
                .sync_ns
                .load(Ordering::Relaxed)
                .checked_div(metrics.commits)
                .unwrap_or(0),
        );
        metrics.jobs = self.inner.metrics.snapshot();
        Ok(metrics)
    }
}
