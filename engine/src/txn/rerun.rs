//! Re-running a stage for the assets whose facts an older version wrote.

use redb::ReadableTable;

use super::intake::create_import;
use super::{Op, Tx, enrich_gate};
use crate::error::{EngineError, GraphError};
use crate::model::Priority;
use crate::store::tables::{AssetRecord, AssetStatus, FactRecord, decode};

/// Enqueues `stage` where its facts are outdated (see [`rerun_outdated`]);
/// outputs the new import's id and how many jobs were enqueued.
#[derive(Debug)]
pub(crate) struct Rerun {
    pub(crate) stage: String,
    pub(crate) priority: Priority,
}

impl Op for Rerun {
    type Output = (u64, u64);

    fn apply(self, tx: &mut Tx<'_>) -> Result<(u64, u64), EngineError> {
        rerun_outdated(tx, &self.stage, self.priority.as_u8())
    }
}

/// Enqueues `stage` for every active asset whose stored facts come from another
/// version of it (or that never ran it although its predecessors are done).
/// Returns the new import's id and how many jobs were enqueued.
fn rerun_outdated(tx: &mut Tx<'_>, stage: &str, priority: u8) -> Result<(u64, u64), EngineError> {
    let graph = tx.graph;
    let Some(entry) = graph.get(stage) else {
        return Err(GraphError::NotRegistered(stage.to_owned()).into());
    };
    let info = entry.info.clone();
    let import_id = create_import(tx, &format!("rerun:{stage}"), priority, true, None)?;
    let assets: Vec<(u64, AssetRecord)> = tx
        .assets
        .iter()?
        .map(|entry| {
            let (k, v) = entry?;
            Ok((k.value(), decode::<AssetRecord>("assets", v.value())?))
        })
        .collect::<Result<_, EngineError>>()?;
    let mut enqueued = 0;
    for (asset_id, asset) in assets {
        if asset.status != AssetStatus::Active {
            continue;
        }
        if tx.asset_jobs.get((asset_id, stage))?.is_some() {
            continue;
        }
        let stored = match tx.facts.get((asset_id, stage))? {
            Some(bytes) => Some(decode::<FactRecord>("facts", bytes.value())?),
            None => None,
        };
        match stored {
            Some(record) if record.version == info.version => continue,
            Some(_) => {}
            None if !tx.all_done(asset_id, &info.after)? => continue,
            None => {}
        }
        if !enrich_gate::admits(tx, asset_id, asset.import_id, info.tier)? {
            continue;
        }
        let path = asset.paths.first().cloned().unwrap_or_default();
        tx.enqueue(asset_id, import_id, priority, stage, info.tier, &path)?;
        enqueued += 1;
    }
    Ok((import_id, enqueued))
}
