//! Dead-letter maintenance, stage re-runs and the work registration calls
//! for.

use super::Engine;
use crate::error::EngineError;
use crate::model::{AssetId, ImportId, JobId, Outdated, Priority};
use crate::txn::dead_letters::{PurgeDead, RetryDead};
use crate::txn::rerun::{EnqueueOutdated, Force, Rerun};

impl Engine {
    /// Puts one dead letter back in the queue with fresh attempts. Returns
    /// false if there is no such dead letter.
    pub async fn retry_dead(&self, job_id: JobId) -> Result<bool, EngineError> {
        let retried = self
            .inner
            .writer
            .call(RetryDead {
                only: Some(job_id.get()),
            })
            .await?;
        self.inner.wake.ring();
        Ok(retried > 0)
    }

    /// Puts every dead letter back in the queue. Returns how many.
    pub async fn retry_all_dead(&self) -> Result<u64, EngineError> {
        let retried = self.inner.writer.call(RetryDead { only: None }).await?;
        self.inner.wake.ring();
        Ok(retried)
    }

    /// Deletes every dead letter. Returns how many.
    pub async fn purge_dead(&self) -> Result<u64, EngineError> {
        let purged = self.inner.writer.call(PurgeDead).await?;
        self.inner.wake.ring();
        Ok(purged)
    }

    /// Enqueues `stage` for every asset whose facts for it were written by a
    /// different version (or that never ran it though its predecessors are
    /// done). Only that stage re-runs. A stage of a guarded tier re-runs only
    /// for assets the gate lets through; an asset it has not decided on is
    /// decided now, and may spend its import's budget (see [`crate::EnrichmentGate`]).
    /// Returns `(import_id, jobs enqueued)`.
    pub async fn rerun_outdated(
        &self,
        stage: &str,
        priority: Priority,
    ) -> Result<(ImportId, u64), EngineError> {
        let rerun = Rerun {
            stage: stage.to_owned(),
            priority,
        };
        let (import, count) = self.inner.writer.call(rerun).await?;
        self.inner.wake.ring();
        Ok((ImportId::new(import), count))
    }

    /// Enqueues `stage` again for the given active assets (every active
    /// asset when `assets` is `None`), whatever version wrote their facts:
    /// a forced re-run. An asset is skipped when a job of that stage exists
    /// for it (live, or a dead letter: see [`Engine::retry_dead`]), when the
    /// stage's `after` stages are not all done for it (it runs then
    /// anyway), or when the gate keeps it from the stage's tier, as with
    /// [`Engine::rerun_outdated`]. Each job's completion replaces the
    /// stage's stored facts. Returns `(import_id, jobs enqueued)`; the
    /// import is named `rerun:<stage>`.
    pub async fn rerun(
        &self,
        stage: &str,
        assets: Option<&[AssetId]>,
        priority: Priority,
    ) -> Result<(ImportId, u64), EngineError> {
        let force = Force {
            stage: stage.to_owned(),
            assets: assets.map(|ids| ids.iter().map(|id| id.get()).collect()),
            priority,
        };
        let (import, count) = self.inner.writer.call(force).await?;
        self.inner.wake.ring();
        Ok((ImportId::new(import), count))
    }

    /// [`Engine::enqueue_outdated`] for a caller that is not async (opening
    /// a store): blocks the calling thread until the work is enqueued.
    pub fn enqueue_outdated_blocking(&self, priority: Priority) -> Result<Outdated, EngineError> {
        self.validate()?;
        let outdated = self
            .inner
            .writer
            .call_blocking(EnqueueOutdated { priority })?;
        Ok(self.enqueued_outdated(outdated))
    }

    /// Enqueues, for every registered stage, the work registration calls
    /// for on a store that already has assets: the stage for every active
    /// asset whose facts for it were written by another version, or that
    /// never ran it though its `after` stages are done (a stage registered
    /// after the asset went through the others). As with
    /// [`Engine::rerun_outdated`], a stage of a guarded tier runs only for
    /// assets the gate lets through. A job that exists already for the
    /// asset's stage, live or a dead letter, is left as it is: a dead
    /// letter runs again only through [`Engine::retry_dead`].
    ///
    /// The jobs go into one new import named `stages:<names>`, created only
    /// when something is enqueued. [`Engine::start`] calls this on the
    /// primary before the workers start, so registering a new stage or
    /// version and running the engine is enough; call it right after
    /// registering to have [`Engine::status`] count the work at once.
    pub async fn enqueue_outdated(&self, priority: Priority) -> Result<Outdated, EngineError> {
        self.validate()?;
        let outdated = self.inner.writer.call(EnqueueOutdated { priority }).await?;
        Ok(self.enqueued_outdated(outdated))
    }

    /// Notes that the current graph's outdated work is enqueued and wakes
    /// the workers if there is any.
    fn enqueued_outdated(&self, outdated: Outdated) -> Outdated {
        self.inner
            .outdated_checked
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if outdated.import.is_some() {
            self.inner.wake.ring();
        }
        outdated
    }
}
