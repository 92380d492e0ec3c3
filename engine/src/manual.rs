//! Driving jobs by hand: claim, complete, fail and release leases directly.
//!
//! For embedders that run stages themselves, and for tests of ordering and
//! fencing. Do not mix with the scheduler of [`Engine::start`] on one engine.

use kiln_plugin_api::{StageError, StageOutput};

use redb::ReadableDatabase;

use crate::blobs::store_output;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::lease::{ClaimedJob, Completion, Failure, Lease};
use crate::writer::{OpKind, Reply};

impl Engine {
    /// Leases up to `max` jobs in claim order without running them: for
    /// embedders that drive stages themselves, and for tests. Primary only;
    /// do not mix with [`Engine::start`].
    pub async fn claim(&self, max: usize) -> Result<Vec<ClaimedJob>, EngineError> {
        if !self.is_primary() {
            return Err(EngineError::NotPrimary);
        }
        let op = OpKind::Claim { max, below: None };
        match self.shared.writer.call(op).await? {
            Reply::Claimed(mut list) => {
                let txn = self.shared.store.db.begin_read()?;
                crate::input::fill_inputs(&txn, &self.shared.store.blobs, &mut list)?;
                Ok(list)
            }
            _ => Err(EngineError::Closed),
        }
    }

    /// Records a stage's output for a lease: artifacts are stored in `blobs/`
    /// first, then facts, lease removal and dependent jobs commit together.
    /// A lease that is no longer current gives [`EngineError::StaleLease`].
    pub async fn complete(
        &self,
        lease: &Lease,
        output: StageOutput,
    ) -> Result<Completion, EngineError> {
        let op = OpKind::Complete {
            job_id: lease.job_id,
            token: lease.token,
            output: store_output(&self.shared.store.blobs, output)?,
        };
        match self.shared.writer.call(op).await? {
            Reply::Completed(c) => Ok(c),
            _ => Err(EngineError::Closed),
        }
    }

    /// Records a failed attempt: transient errors retry after backoff,
    /// permanent ones (or the last attempt) become dead letters.
    pub async fn fail(&self, lease: &Lease, error: StageError) -> Result<Failure, EngineError> {
        let op = OpKind::Fail {
            job_id: lease.job_id,
            token: lease.token,
            error,
        };
        match self.shared.writer.call(op).await? {
            Reply::Failed(f) => Ok(f),
            _ => Err(EngineError::Closed),
        }
    }

    /// Gives back leases that were never worked on, refunding their attempt.
    pub async fn release(&self, leases: &[Lease]) -> Result<u64, EngineError> {
        let leases = leases.iter().map(|l| (l.job_id, l.token)).collect();
        self.count_op(OpKind::Release { leases }).await
    }
}
