//! An application's own records, kept in the store's database beside the
//! engine's: durable with it, written through the writer like every other
//! change, never read by the engine itself.

use super::Engine;
use crate::error::EngineError;
use crate::store::tables::SETTINGS;
use crate::txn::settings::{DropFacts, PutSetting};

impl Engine {
    /// The record stored under `key`, if any.
    pub fn setting(&self, key: &str) -> Result<Option<Vec<u8>>, EngineError> {
        self.inner.view(|txn| {
            let table = txn.open_table(SETTINGS)?;
            Ok(table.get(key)?.map(|v| v.value().to_vec()))
        })
    }

    /// Every record whose key starts with `prefix`, in key order.
    pub fn settings(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, EngineError> {
        self.inner.view(|txn| {
            let table = txn.open_table(SETTINGS)?;
            let mut out = Vec::new();
            for entry in table.range(prefix..)? {
                let (key, value) = entry?;
                let key = key.value();
                if !key.starts_with(prefix) {
                    break;
                }
                out.push((key.to_owned(), value.value().to_vec()));
            }
            Ok(out)
        })
    }

    /// Stores `value` under `key` (replacing what was there), durably
    /// before it returns. Returns whether a record was replaced.
    pub async fn put_setting(&self, key: &str, value: Vec<u8>) -> Result<bool, EngineError> {
        self.inner
            .writer
            .call(PutSetting {
                key: key.to_owned(),
                value: Some(value),
            })
            .await
    }

    /// Removes the record under `key`, durably before it returns. Returns
    /// whether there was one.
    pub async fn remove_setting(&self, key: &str) -> Result<bool, EngineError> {
        self.inner
            .writer
            .call(PutSetting {
                key: key.to_owned(),
                value: None,
            })
            .await
    }

    /// Deletes every asset's facts of `stage` and skips its queued, retrying,
    /// running or dead jobs, durably before it returns; returns how many
    /// assets had facts. For a stage the application stops running (a
    /// tier-1 stage's facts must never be dropped: they make an asset
    /// browsable).
    pub async fn drop_stage_facts(&self, stage: &str) -> Result<u64, EngineError> {
        self.inner
            .writer
            .call(DropFacts {
                stage: stage.to_owned(),
            })
            .await
    }
}
