//! Dead-letter maintenance and stage re-runs.

use crate::config::Priority;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::writer::{OpKind, Reply};

impl Engine {
    /// Puts one dead letter back in the queue with fresh attempts. Returns
    /// false if there is no such dead letter.
    pub async fn retry_dead(&self, job_id: u64) -> Result<bool, EngineError> {
        Ok(self
            .count_op(OpKind::RetryDead { only: Some(job_id) })
            .await?
            > 0)
    }

    /// Puts every dead letter back in the queue. Returns how many.
    pub async fn retry_all_dead(&self) -> Result<u64, EngineError> {
        self.count_op(OpKind::RetryDead { only: None }).await
    }

    /// Deletes every dead letter. Returns how many.
    pub async fn purge_dead(&self) -> Result<u64, EngineError> {
        self.count_op(OpKind::PurgeDead).await
    }

    /// Enqueues `stage` for every asset whose facts for it were written by a
    /// different version (or that never ran it though its predecessors are
    /// done). Only that stage re-runs. A stage of a guarded tier re-runs only
    /// for assets the gate lets through; an asset it has not decided on is
    /// decided now, and may spend its import's budget (see [`crate::Gate`]).
    /// Returns `(import_id, jobs enqueued)`.
    pub async fn rerun_outdated(
        &self,
        stage: &str,
        priority: Priority,
    ) -> Result<(u64, u64), EngineError> {
        match self
            .shared
            .writer
            .call(OpKind::Rerun {
                stage: stage.to_owned(),
                priority: priority.as_u8(),
            })
            .await?
        {
            Reply::Rerun(import, count) => {
                self.shared.wake();
                Ok((import, count))
            }
            _ => Err(EngineError::Closed),
        }
    }
}
