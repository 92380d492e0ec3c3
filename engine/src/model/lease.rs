//! Leases: the proof that this engine claimed a job.

use kiln_plugin_api::StageInput;

use super::{AssetId, JobId, Priority, Tier};

/// A claimed job. Only claiming makes one, and only the holder of the current
/// token can complete or fail the job: a lease that was reclaimed in the meantime
/// is rejected, so a stale worker can never apply a result twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub(crate) job_id: u64,
    pub(crate) token: u64,
    pub(crate) asset_id: u64,
    pub(crate) stage: String,
    pub(crate) tier: Tier,
    pub(crate) priority: Priority,
    pub(crate) attempt: u32,
    pub(crate) enqueue_ns: u64,
    pub(crate) suspect: bool,
}

impl Lease {
    /// The job's id.
    pub fn job_id(&self) -> JobId {
        JobId::new(self.job_id)
    }
    /// The fencing token of this lease.
    pub fn token(&self) -> u64 {
        self.token
    }
    /// The asset the job works on.
    pub fn asset_id(&self) -> AssetId {
        AssetId::new(self.asset_id)
    }
    /// The stage to run.
    pub fn stage(&self) -> &str {
        &self.stage
    }
    /// The stage's tier.
    pub fn tier(&self) -> Tier {
        self.tier
    }
    /// The job's priority.
    pub fn priority(&self) -> Priority {
        self.priority
    }
    /// Which attempt this is, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
    /// When the job was enqueued (clock nanoseconds).
    pub fn enqueue_ns(&self) -> u64 {
        self.enqueue_ns
    }
    /// The claim order key: `(priority, tier, enqueue_ns, job_id)`.
    pub fn order_key(&self) -> (u8, u8, u64, u64) {
        (
            self.priority.as_u8(),
            self.tier.number(),
            self.enqueue_ns,
            self.job_id,
        )
    }
}

/// A lease together with the input the engine built for its stage.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The lease.
    pub lease: Lease,
    /// What the stage is given.
    pub input: StageInput,
}

pub(crate) type Claimed = ClaimedJob;

/// What became of a completed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Completion {
    /// Facts recorded and dependent stages enqueued.
    Done,
    /// The job established a content hash another asset already has: this
    /// asset's paths now belong to that asset and no later stage runs.
    Duplicate {
        /// The asset that already had the content.
        of: AssetId,
    },
    /// The asset had become a duplicate meanwhile; the result was dropped.
    Skipped,
}

/// What became of a failed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// A transient error: the job runs again at this clock time.
    Retrying {
        /// Clock nanoseconds at which the job becomes ready again.
        run_at_ns: u64,
    },
    /// A permanent error or the last attempt: the job is a dead letter.
    Dead,
}
