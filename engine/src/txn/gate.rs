//! Applying the enrichment gate (see [`crate::gate`]) inside a completion.

use std::collections::BTreeMap;

use kiln_plugin_api::Value;
use redb::{ReadableTable, ReadableTableMetadata};

use super::Tx;
use crate::error::EngineError;
use crate::tables::{GateRecord, JobRecord, decode, encode};

/// Whether the gate holds back the guarded tiers of `job`'s asset: a rule
/// is configured, or the asset's import has a budget.
pub(crate) fn active(tx: &Tx<'_>, job: &JobRecord) -> Result<bool, EngineError> {
    if tx.config.gate.rule.is_some() {
        return Ok(true);
    }
    // No import has a budget (the usual case without a rule): no need to
    // read the asset for its import.
    if tx.import_budgets.is_empty()? {
        return Ok(false);
    }
    let import_id = asset_import(tx, job)?;
    Ok(tx.import_budgets.get(import_id)?.is_some())
}

/// The asset's import (the one that created it), which owns the budget.
fn asset_import(tx: &Tx<'_>, job: &JobRecord) -> Result<u64, EngineError> {
    Ok(tx
        .asset(job.asset_id)?
        .map_or(job.import_id, |a| a.import_id))
}

/// Called after `job` (of a tier below the gate) completed. When every
/// stage below the gate is now done for the asset, the gate decides (once)
/// and the guarded stages are enqueued or counted as skipped.
pub(crate) fn cross(tx: &mut Tx<'_>, job: &JobRecord) -> Result<(), EngineError> {
    let gate_tier = tx.config.gate.tier;
    let graph = tx.graph;
    for entry in graph.entries() {
        if entry.info.tier < gate_tier
            && tx
                .facts
                .get((job.asset_id, entry.info.name.as_str()))?
                .is_none()
        {
            return Ok(());
        }
    }
    let (decision, fresh) = match stored_decision(tx, job.asset_id)? {
        Some(decision) => (decision, false),
        None => {
            let decision = decide(tx, job)?;
            let bytes = encode("gate_decisions", &decision)?;
            tx.gate_decisions.insert(job.asset_id, bytes.as_slice())?;
            (decision, true)
        }
    };
    match decision {
        GateRecord::Passed => enqueue_guarded(tx, job),
        GateRecord::Skipped { tier, .. } => {
            if fresh {
                for entry in graph.entries().filter(|e| e.info.tier >= tier) {
                    let key = (job.asset_id, entry.info.name.as_str());
                    if tx.facts.get(key)?.is_none() && tx.asset_jobs.get(key)?.is_none() {
                        tx.count_gated(job.import_id, entry.info.tier, &entry.info.name);
                    }
                }
            }
            Ok(())
        }
    }
}

/// Whether stage jobs of `tier` may be created for an asset: false when the
/// gate turned the asset away at or below `tier`.
pub(crate) fn allows(tx: &Tx<'_>, asset_id: u64, tier: u8) -> Result<bool, EngineError> {
    Ok(match stored_decision(tx, asset_id)? {
        None | Some(GateRecord::Passed) => true,
        Some(GateRecord::Skipped { tier: from, .. }) => tier < from,
    })
}

/// The gate's decision for the asset, if it has made one.
fn stored_decision(tx: &Tx<'_>, asset_id: u64) -> Result<Option<GateRecord>, EngineError> {
    match tx.gate_decisions.get(asset_id)? {
        Some(bytes) => Ok(Some(decode("gate_decisions", bytes.value())?)),
        None => Ok(None),
    }
}

fn decide(tx: &mut Tx<'_>, job: &JobRecord) -> Result<GateRecord, EngineError> {
    let tier = tx.config.gate.tier;
    if let Some(rule) = tx.config.gate.rule.clone() {
        let facts = asset_facts(tx, job.asset_id)?;
        if let Some(reason) = rule.skip_reason(&facts) {
            return Ok(GateRecord::Skipped { tier, reason });
        }
    }
    let import_id = asset_import(tx, job)?;
    let budget = tx.import_budgets.get(import_id)?.map(|v| v.value());
    if let Some((limit, spent)) = budget {
        if spent >= limit {
            return Ok(GateRecord::Skipped {
                tier,
                reason: format!(
                    "the import's enrichment budget of {limit} asset(s) is spent; re-import with a larger --enrich-budget"
                ),
            });
        }
        tx.import_budgets
            .insert(import_id, (limit, spent.saturating_add(1)))?;
    }
    Ok(GateRecord::Passed)
}

fn asset_facts(tx: &Tx<'_>, asset_id: u64) -> Result<BTreeMap<String, Value>, EngineError> {
    Ok(crate::input::fact_records(&tx.facts, asset_id)?
        .into_iter()
        .map(|(stage, record)| (stage, record.facts))
        .collect())
}

/// Enqueues every guarded stage of the asset whose predecessors are all
/// done, unless it is done or queued already.
fn enqueue_guarded(tx: &mut Tx<'_>, job: &JobRecord) -> Result<(), EngineError> {
    let gate_tier = tx.config.gate.tier;
    let graph = tx.graph;
    let import_priority = tx.import_priority(job.import_id)?;
    for entry in graph.entries().filter(|e| e.info.tier >= gate_tier) {
        // Root stages start with the file's intake, never after the gate.
        if !entry.info.after.is_empty() {
            tx.enqueue_if_ready(job, &entry.info, import_priority, tx.now)?;
        }
    }
    Ok(())
}
