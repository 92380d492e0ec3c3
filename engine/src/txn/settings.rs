//! An application's own records in the store (`settings`).

use redb::ReadableTable;

use super::{Op, Tx};
use crate::error::EngineError;

/// Writes one record (`Some`) or removes it (`None`); outputs whether a
/// record was there before.
#[derive(Debug)]
pub(crate) struct PutSetting {
    pub(crate) key: String,
    pub(crate) value: Option<Vec<u8>>,
}

impl Op for PutSetting {
    type Output = bool;

    fn apply(self, tx: &mut Tx<'_>) -> Result<bool, EngineError> {
        let before = match &self.value {
            Some(value) => tx.settings.insert(self.key.as_str(), value.as_slice())?,
            None => tx.settings.remove(self.key.as_str())?,
        };
        Ok(before.is_some())
    }
}

/// Deletes every asset's facts of one stage and skips its live jobs (a
/// leased one loses its lease, so its result is never applied); outputs
/// how many assets had facts. For a stage an application no longer runs.
#[derive(Debug)]
pub(crate) struct DropFacts {
    pub(crate) stage: String,
}

impl Op for DropFacts {
    type Output = u64;

    fn apply(self, tx: &mut Tx<'_>) -> Result<u64, EngineError> {
        let mut assets = Vec::new();
        for entry in tx.facts.iter()? {
            let (key, _) = entry?;
            let (asset, stage) = key.value();
            if stage == self.stage {
                assets.push(asset);
            }
        }
        for asset in &assets {
            tx.facts.remove((*asset, self.stage.as_str()))?;
        }
        let mut live = Vec::new();
        for entry in tx.asset_jobs.iter()? {
            let (key, job_id) = entry?;
            if key.value().1 == self.stage {
                live.push(job_id.value());
            }
        }
        for job_id in live {
            if let Some(job) = tx.job(job_id)? {
                tx.skip(job_id, &job)?;
            }
        }
        Ok(assets.len() as u64)
    }
}
