//! A plugin stage that takes the name of the built-in `metadata` stage, so
//! tests can show that a plugin replaces a built-in only when asked to, and
//! that its different version makes kiln re-run it on existing assets.

use kiln_plugin_api::{
    CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, TIER_SEARCHABLE, Value,
    builtin, export_stage,
};

/// The version this replacement declares; the built-in is version 1.
pub const SWAP_VERSION: u32 = 99;

/// The stage; see the crate documentation.
#[derive(Debug, Default)]
pub struct SwapStage;

impl Stage for SwapStage {
    fn info(&self) -> StageInfo {
        StageInfo::new(builtin::METADATA, SWAP_VERSION, TIER_SEARCHABLE)
            .after([builtin::HASH])
            .cost(CostClass::Io)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        Ok(StageOutput::facts(Value::map([
            ("replaced_by_plugin", Value::from(true)),
            ("path", Value::from(input.path.as_str())),
        ])))
    }
}

export_stage!(SwapStage);
