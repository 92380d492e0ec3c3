//! Driving jobs by hand: claim, complete, fail and release leases directly,
//! through a [`Manual`] handle.
//!
//! For embedders that run stages themselves, and for tests of ordering and
//! fencing. Jobs are claimed either by the engine's workers or by hand,
//! never both: [`Engine::manual`] refuses while the workers run, and
//! [`Engine::start`] refuses while a `Manual` handle is alive.

use std::sync::Arc;

use kiln_plugin_api::{StageError, StageOutput};

use super::{Engine, Inner};
use crate::error::EngineError;
use crate::model::{ClaimedJob, Completion, Failure, Lease};
use crate::store::blobs::store_output;
use crate::store::facts::fill_inputs;
use crate::txn::claim::{Claim, Release};
use crate::txn::complete::Complete;
use crate::txn::fail::Fail;

/// Claims and records jobs by hand on a primary engine whose workers are
/// not running. While one is alive, [`Engine::start`] fails with
/// [`EngineError::ManualClaiming`]; drop it to let the workers start.
pub struct Manual {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Manual {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manual")
            .field("store", &self.inner.store.dir)
            .finish()
    }
}

impl Engine {
    /// A handle to claim and record jobs by hand. Primary only
    /// ([`EngineError::NotPrimary`]), and not while the workers run
    /// ([`EngineError::WorkersRunning`]; see [`Engine::stop`]).
    pub fn manual(&self) -> Result<Manual, EngineError> {
        if !self.is_primary() {
            return Err(EngineError::NotPrimary);
        }
        let mut drivers = self.inner.drivers.lock().map_err(|_| EngineError::Closed)?;
        if drivers.scheduler.is_some() {
            return Err(EngineError::WorkersRunning);
        }
        drivers.manual += 1;
        Ok(Manual {
            inner: self.inner.clone(),
        })
    }
}

impl Drop for Manual {
    fn drop(&mut self) {
        if let Ok(mut drivers) = self.inner.drivers.lock() {
            drivers.manual = drivers.manual.saturating_sub(1);
        }
    }
}

impl Manual {
    /// Leases up to `max` jobs in claim order without running them, each
    /// with the input its stage would be given.
    pub async fn claim(&self, max: usize) -> Result<Vec<ClaimedJob>, EngineError> {
        let mut list = self.inner.writer.call(Claim { max, below: None }).await?;
        let graph = self.inner.graph.current();
        self.inner
            .view(|txn| fill_inputs(txn, &self.inner.store.blobs, &graph, &mut list))?;
        Ok(list)
    }

    /// Records a stage's output for a lease: artifacts are stored in `blobs/`
    /// first, then facts, lease removal and dependent jobs commit together.
    /// A lease that is no longer current gives [`EngineError::StaleLease`].
    pub async fn complete(
        &self,
        lease: &Lease,
        output: StageOutput,
    ) -> Result<Completion, EngineError> {
        let op = Complete {
            job_id: lease.job_id,
            token: lease.token,
            output: store_output(&self.inner.store.blobs, output)?,
        };
        self.inner.writer.call(op).await
    }

    /// Records a failed attempt: transient errors retry after backoff,
    /// permanent ones (or the last attempt) become dead letters.
    pub async fn fail(&self, lease: &Lease, error: StageError) -> Result<Failure, EngineError> {
        let op = Fail {
            job_id: lease.job_id,
            token: lease.token,
            error,
        };
        self.inner.writer.call(op).await
    }

    /// Gives back leases that were never worked on, refunding their attempt.
    /// Returns how many were given back.
    pub async fn release(&self, leases: &[Lease]) -> Result<u64, EngineError> {
        let leases = leases.iter().map(|l| (l.job_id, l.token)).collect();
        let released = self.inner.writer.call(Release { leases }).await?;
        self.inner.wake.ring();
        Ok(released)
    }
}
