//! Failing a leased job: a retry after backoff, or a dead letter.

use kiln_plugin_api::StageError;

use super::complete::fenced;
use super::{Op, Tx};
use crate::config::backoff_delay;
use crate::error::EngineError;
use crate::model::{Failure, JobState};

/// Records a failed attempt for the lease `(job_id, token)` (see [`fail`]).
#[derive(Debug)]
pub(crate) struct Fail {
    pub(crate) job_id: u64,
    pub(crate) token: u64,
    pub(crate) error: StageError,
}

impl Op for Fail {
    type Output = Failure;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Failure, EngineError> {
        fail(tx, self.job_id, self.token, &self.error)
    }
}

/// Records a failed attempt: a retry after backoff, or a dead letter.
fn fail(
    tx: &mut Tx<'_>,
    job_id: u64,
    token: u64,
    error: &StageError,
) -> Result<Failure, EngineError> {
    let mut job = fenced(tx, job_id, token)?;
    tx.leases.remove(job_id)?;
    if !error.is_transient() || job.attempts >= tx.config.max_attempts {
        let message = if error.is_transient() {
            format!(
                "{} (gave up after {} attempts)",
                error.message(),
                job.attempts
            )
        } else {
            error.message().to_owned()
        };
        tx.bury(job_id, &mut job, message)?;
        return Ok(Failure::Dead);
    }
    tx.record_attempt(&mut job, error.message().to_owned());
    let delay = backoff_delay(tx.config, job_id, job.attempts);
    let run_at_ns = tx
        .now
        .saturating_add(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX));
    job.state = JobState::Retrying;
    job.run_at_ns = run_at_ns;
    tx.put_job(job_id, &job)?;
    tx.retrying.insert((run_at_ns, job_id), ())?;
    tx.count(&job, Some(JobState::Running), Some(JobState::Retrying));
    Ok(Failure::Retrying { run_at_ns })
}
