//! An application's own records in the store (`settings`).

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
