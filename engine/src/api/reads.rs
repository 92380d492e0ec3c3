//! Reading the store: status, assets, failures and metrics.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Engine;
use crate::error::EngineError;
use crate::model::AssetId;
use crate::views::assets::{self, AssetDetail, AssetSummary};
use crate::views::failures::{self, DeadLetter, RetryingJob};
use crate::views::metrics::{Metrics, queue_metrics};
use crate::views::status::{self, Status};

impl Engine {
    /// Counts of assets, files, jobs by state and tier, and every import.
    pub fn status(&self) -> Result<Status, EngineError> {
        status::status(&self.inner.read()?)
    }

    /// Every asset with its first path and state.
    pub fn assets(&self) -> Result<Vec<AssetSummary>, EngineError> {
        assets::assets(
            &self.inner.read()?,
            &self.inner.graph.current(),
            &self.inner.store.blobs,
        )
    }

    /// Ids of the assets that are duplicates of another or were superseded
    /// by a changed file. Cheaper than [`Engine::assets`]: no facts are read.
    pub fn inactive_assets(&self) -> Result<Vec<AssetId>, EngineError> {
        assets::inactive_assets(&self.inner.read()?)
    }

    /// Everything about one asset, or `None` if there is no such asset.
    pub fn asset(&self, asset_id: AssetId) -> Result<Option<AssetDetail>, EngineError> {
        assets::asset(
            &self.inner.read()?,
            &self.inner.graph.current(),
            &self.inner.store.blobs,
            asset_id.get(),
        )
    }

    /// The asset a path belongs to (after deduplication, the surviving asset).
    pub fn asset_by_path(&self, path: impl AsRef<Path>) -> Result<Option<AssetId>, EngineError> {
        let path = path.as_ref();
        let txn = self.inner.read()?;
        if let Some(found) = path
            .to_str()
            .map(|p| assets::asset_by_path(&txn, p))
            .transpose()?
            .flatten()
        {
            return Ok(Some(found));
        }
        match std::fs::canonicalize(path)
            .ok()
            .and_then(|p| p.to_str().map(str::to_owned))
        {
            Some(canonical) => assets::asset_by_path(&txn, &canonical),
            None => Ok(None),
        }
    }

    /// Every dead letter.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, EngineError> {
        failures::dead_letters(&self.inner.read()?)
    }

    /// Every job waiting for a retry.
    pub fn retrying(&self) -> Result<Vec<RetryingJob>, EngineError> {
        failures::retrying(&self.inner.read()?)
    }

    /// Queue depth by priority, tier and stage, commit and worker figures.
    pub fn metrics(&self) -> Result<Metrics, EngineError> {
        let mut metrics = queue_metrics(&self.inner.read()?)?;
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
