//! A job's state: the one vocabulary for where a job stands, used by the
//! stored records, the counters, the views and the CLI.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a job stands. Stored as one byte in job records and counter keys
/// (the byte values are part of the store format and never change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum JobState {
    /// Waiting in the READY queue to be claimed.
    Ready,
    /// Claimed by a worker under a lease, and running (or about to).
    Running,
    /// Failed with a transient error; ready again at its retry time.
    Retrying,
    /// Failed permanently or out of attempts: a dead letter.
    Dead,
    /// Finished; its facts are recorded.
    Done,
    /// Will not run: its asset became a duplicate, or the gate kept the
    /// asset from the job's tier.
    Skipped,
}

impl JobState {
    /// Every state, in the order of their stored bytes.
    pub const ALL: [JobState; 6] = [
        JobState::Ready,
        JobState::Running,
        JobState::Retrying,
        JobState::Dead,
        JobState::Done,
        JobState::Skipped,
    ];

    /// `ready`, `running`, `retrying`, `dead`, `done` or `skipped`.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Ready => "ready",
            JobState::Running => "running",
            JobState::Retrying => "retrying",
            JobState::Dead => "dead",
            JobState::Done => "done",
            JobState::Skipped => "skipped",
        }
    }

    /// Whether the job is still to finish one way or another.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            JobState::Ready | JobState::Running | JobState::Retrying
        )
    }

    /// The byte stored for this state.
    pub(crate) fn stored(self) -> u8 {
        match self {
            JobState::Ready => 0,
            JobState::Running => 1,
            JobState::Retrying => 2,
            JobState::Dead => 3,
            JobState::Done => 4,
            JobState::Skipped => 5,
        }
    }

    /// The state a stored byte stands for, if any.
    pub(crate) fn from_stored(byte: u8) -> Option<JobState> {
        JobState::ALL.into_iter().find(|s| s.stored() == byte)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<JobState> for u8 {
    fn from(state: JobState) -> u8 {
        state.stored()
    }
}

impl TryFrom<u8> for JobState {
    type Error = String;

    fn try_from(byte: u8) -> Result<JobState, String> {
        JobState::from_stored(byte).ok_or_else(|| format!("unknown job state {byte}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_bytes_round_trip_and_stay_fixed() {
        let bytes: Vec<u8> = JobState::ALL.iter().map(|s| s.stored()).collect();
        assert_eq!(bytes, [0, 1, 2, 3, 4, 5]);
        for state in JobState::ALL {
            assert_eq!(JobState::from_stored(state.stored()), Some(state));
            let encoded = postcard::to_allocvec(&state).unwrap();
            assert_eq!(encoded, postcard::to_allocvec(&state.stored()).unwrap());
            assert_eq!(postcard::from_bytes::<JobState>(&encoded).unwrap(), state);
        }
        assert_eq!(JobState::from_stored(6), None);
        assert!(postcard::from_bytes::<JobState>(&[9]).is_err());
    }
}
