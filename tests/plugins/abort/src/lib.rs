//! A plugin stage that aborts the whole process inside `process` for every
//! path containing `abort` (as a crashing decoder would) and returns a small
//! fact set otherwise. `catch_unwind` cannot contain an abort; the engine's
//! attempt counting across restarts must.

use kiln_plugin_api::{
    Stage, StageError, StageInfo, StageInput, StageOutput, TIER_ENRICHED, Value, export_stage,
};

/// The stage; see the crate documentation.
#[derive(Debug, Default)]
pub struct AbortStage;

impl Stage for AbortStage {
    fn info(&self) -> StageInfo {
        StageInfo::new("test-abort", 1, TIER_ENRICHED)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        if input.path.contains("abort") {
            std::process::abort();
        }
        Ok(StageOutput::facts(Value::map([(
            "survived",
            Value::from(true),
        )])))
    }
}

export_stage!(AbortStage);
