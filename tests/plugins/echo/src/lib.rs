//! A plugin stage that returns a small fact set about its input at once. It
//! does no real work, so calling it through the plugin boundary versus
//! in-process measures the boundary's own cost.
//!
//! It is also the proof that kiln-plugin-api changes only by adding: it is
//! written exactly as plugins were before the message types became
//! `#[non_exhaustive]` (root imports, `StageInfo::new(..).after(..)`,
//! `StageOutput::facts(..)`, reading `input.path`, `input.proxy_path` and
//! `input.facts` as fields, string stage names), and the engine's loader
//! tests load it. Do not modernise it; write new style in other plugins.

use kiln_plugin_api::{
    Stage, StageError, StageInfo, StageInput, StageOutput, TIER_ENRICHED, Value, export_stage,
};

/// The stage; see the crate documentation.
#[derive(Debug, Default)]
pub struct EchoStage;

impl Stage for EchoStage {
    fn info(&self) -> StageInfo {
        StageInfo::new("test-echo", 1, TIER_ENRICHED).after(["hash"])
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let extension = input
            .path
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase());
        Ok(StageOutput::facts(Value::map([
            ("asset_id", Value::from(input.asset_id)),
            ("extension", Value::from(extension)),
            ("has_proxy", Value::from(input.proxy_path.is_some())),
            ("earlier_stages", Value::from(input.facts.len() as u64)),
        ])))
    }
}

export_stage!(EchoStage);
