//! Embedding kiln in an app: open a store with the built-in stages plus one
//! stage of your own, import a folder, follow progress, read the results.
//!
//! `cargo run --example embed -- samples`

use kiln::engine::{Config, Engine, Priority, Until};
use kiln::plugin_api::{
    CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, TIER_ENRICHED, Value,
};
use std::sync::Arc;

/// A tier-3 stage of the app's own: tags each asset by the length of its
/// positive prompt, from the facts the metadata stage wrote.
struct PromptLength;

impl Stage for PromptLength {
    fn info(&self) -> StageInfo {
        StageInfo::new("prompt-length", 1, TIER_ENRICHED)
            .after(["metadata"])
            .cost(CostClass::Io)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let prompt = input
            .facts
            .get("metadata")
            .and_then(|m| m.get("generation"))
            .and_then(|g| g.get("positive_prompt"))
            .and_then(Value::as_str);
        let words = prompt.map(|p| p.split_whitespace().count() as u64);
        Ok(StageOutput::facts(Value::map([(
            "words",
            Value::from(words),
        )])))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let folder = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "samples".to_owned());
    let store = tempfile_dir()?;

    let engine = Engine::open(&store, Config::default())?;
    for stage in kiln::builtin_stages() {
        engine.register_stage(stage)?;
    }
    engine.register_stage(Arc::new(PromptLength))?;

    let import = engine.import_dir(&folder, Priority::Batch).await?;
    let mut progress = engine.subscribe();
    let watcher = tokio::spawn(async move {
        while progress.changed().await.is_ok() {
            let p = progress.borrow_and_update().clone();
            if let Some(tier1) = p.tiers.get(&1) {
                println!("browsable: {}/{}", tier1.done + tier1.dead, tier1.total);
            }
        }
    });

    engine
        .run_until(Until::Tier {
            tier: TIER_ENRICHED,
            imports: Some(vec![import]),
        })
        .await?;
    watcher.abort();

    for summary in engine.assets()? {
        let Some(asset) = engine.asset(summary.id)? else {
            continue;
        };
        let words = asset
            .stages
            .get("prompt-length")
            .and_then(|s| s.facts.as_ref())
            .and_then(|f| f.get("words"))
            .and_then(Value::as_u64);
        println!(
            "{:<60} {:>10} {:?} words",
            summary.first_path,
            summary.state.name(),
            words
        );
    }
    engine.shutdown().await;
    std::fs::remove_dir_all(&store)?;
    Ok(())
}

/// A fresh store folder under the system temp directory.
fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("kiln-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
