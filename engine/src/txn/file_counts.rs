//! Building the file counters (`FILE_TIERS`, `FILE_COUNTS`) once for a
//! store whose jobs were counted before they existed. Every later change
//! keeps them in the transaction that moves a job (`Tx::count`).

use std::collections::HashMap;

use redb::ReadableTable;

use super::Tx;
use super::tx::{class, file_state, pack};
use crate::error::EngineError;
use crate::model::{GateRecord, JobState};
use crate::store::tables::{FileTier, JobRecord, decode, meta};

/// Builds the file counters from the store's jobs, facts and gate
/// decisions, unless they are built already. Needs the registered stages
/// (a finished stage's tier is known only from them), so it does nothing
/// while none is registered.
pub(crate) fn ensure_built(tx: &mut Tx<'_>) -> Result<(), EngineError> {
    if tx.meta.get(meta::FILE_COUNTS_BUILT)?.is_some() || tx.graph.entries().next().is_none() {
        return Ok(());
    }
    let mut units: HashMap<(u64, u64, u8), [u32; 5]> = HashMap::new();
    let mut no_asset: HashMap<(u64, u8, JobState), u64> = HashMap::new();
    // Live jobs: ready, leased (running), retrying, dead.
    for entry in tx.jobs.iter()? {
        let (key, value) = entry?;
        let job: JobRecord = decode("jobs", value.value())?;
        let state = if tx.leases.get(key.value())?.is_some() {
            JobState::Running
        } else {
            job.state
        };
        if job.asset_id == 0 {
            let state = if state == JobState::Skipped {
                JobState::Done
            } else {
                state
            };
            *no_asset
                .entry((job.import_id, job.tier, state))
                .or_default() += 1;
        } else {
            units
                .entry((job.import_id, job.asset_id, job.tier))
                .or_default()[class(state)] += 1;
        }
    }
    // Finished stages, counted in the import that made the asset.
    let mut import_of: HashMap<u64, u64> = HashMap::new();
    let mut finished: Vec<(u64, u8)> = Vec::new();
    for entry in tx.facts.iter()? {
        let (key, _) = entry?;
        let (asset_id, stage) = key.value();
        if let Some(stage) = tx.graph.get(stage) {
            finished.push((asset_id, stage.info.tier));
        }
    }
    for (asset_id, tier) in finished {
        let Some(import) = asset_import(tx, &mut import_of, asset_id)? else {
            continue;
        };
        units.entry((import, asset_id, tier)).or_default()[class(JobState::Done)] += 1;
    }
    // Tiers the gate kept an asset from count as finished.
    let mut gated: Vec<(u64, u8)> = Vec::new();
    for entry in tx.gate_decisions.iter()? {
        let (key, value) = entry?;
        if let GateRecord::Skipped { tier, .. } = decode("gate_decisions", value.value())? {
            gated.push((key.value(), tier));
        }
    }
    let tiers: Vec<u8> = tx.graph.entries().map(|e| e.info.tier).collect();
    for (asset_id, from) in gated {
        let Some(import) = asset_import(tx, &mut import_of, asset_id)? else {
            continue;
        };
        for &tier in tiers.iter().filter(|t| **t >= from) {
            let unit = units.entry((import, asset_id, tier)).or_default();
            if *unit == [0; 5] {
                unit[class(JobState::Skipped)] = 1;
            }
        }
    }
    // Write them afresh.
    let stale: Vec<(u64, u64, u8)> = tx
        .file_tiers
        .iter()?
        .map(|e| e.map(|(k, _)| k.value()))
        .collect::<Result<_, _>>()?;
    for key in stale {
        tx.file_tiers.remove(key)?;
    }
    let stale: Vec<(u64, u8, u8)> = tx
        .file_counts
        .iter()?
        .map(|e| e.map(|(k, _)| k.value()))
        .collect::<Result<_, _>>()?;
    for key in stale {
        tx.file_counts.remove(key)?;
    }
    let mut counts: HashMap<(u64, u8, u8), u64> = HashMap::new();
    for ((import, tier, state), n) in no_asset {
        *counts.entry((import, tier, state.stored())).or_default() += n;
    }
    for (key, unit) in units {
        let Some(state) = file_state(unit) else {
            continue;
        };
        let (import, _, tier) = key;
        *counts.entry((import, tier, state.stored())).or_default() += 1;
        let record: FileTier = pack(unit);
        tx.file_tiers.insert(key, record)?;
    }
    for (key, n) in counts {
        tx.file_counts.insert(key, n)?;
    }
    tx.meta.insert(meta::FILE_COUNTS_BUILT, 1)?;
    tx.forget_file_deltas();
    Ok(())
}

/// The import that made `asset_id`, `None` for an asset with no record.
fn asset_import(
    tx: &Tx<'_>,
    cache: &mut HashMap<u64, u64>,
    asset_id: u64,
) -> Result<Option<u64>, EngineError> {
    if let Some(&import) = cache.get(&asset_id) {
        return Ok(Some(import));
    }
    let Some(asset) = tx.asset(asset_id)? else {
        return Ok(None);
    };
    cache.insert(asset_id, asset.import_id);
    Ok(Some(asset.import_id))
}
