//! Applying the enrichment gate (its rule and types are in `model::gate`)
//! inside a completion or a re-run.

use std::collections::BTreeMap;

use kiln_plugin_api::Value;
use redb::{ReadableTable, ReadableTableMetadata};

use super::Tx;
use crate::error::EngineError;
use crate::model::GateRecord;
use crate::store::facts::fact_records;
use crate::store::tables::{JobRecord, decode, encode};

/// Whether the gate holds back the guarded tiers of `job`'s asset: a rule
/// is configured, or the asset's import has a budget.
pub(crate) fn active(tx: &Tx<'_>, job: &JobRecord) -> Result<bool, EngineError> {
    active_for(tx, job.asset_id, Owner::OfAsset(job.import_id))
}

/// The import that owns an asset's budget: the one that created it.
#[derive(Debug, Clone, Copy)]
enum Owner {
    /// Known to the caller, who has the asset record.
    Known(u64),
    /// Read from the asset record when needed; the job's import should the
    /// record be missing.
    OfAsset(u64),
}

impl Owner {
    fn import(self, tx: &Tx<'_>, asset_id: u64) -> Result<u64, EngineError> {
        Ok(match self {
            Owner::Known(import_id) => import_id,
            Owner::OfAsset(fallback) => tx.asset(asset_id)?.map_or(fallback, |a| a.import_id),
        })
    }
}

/// [`active`] for an asset whose budget `owner` holds.
fn active_for(tx: &Tx<'_>, asset_id: u64, owner: Owner) -> Result<bool, EngineError> {
    if tx.config.gate.rule.is_some() {
        return Ok(true);
    }
    // No import has a budget (the usual case without a rule): no need to
    // read the asset for its import.
    if tx.import_budgets.is_empty()? {
        return Ok(false);
    }
    let import_id = owner.import(tx, asset_id)?;
    Ok(tx.import_budgets.get(import_id)?.is_some())
}

/// Whether every stage below the gate has facts for the asset.
fn below_gate_done(tx: &Tx<'_>, asset_id: u64) -> Result<bool, EngineError> {
    let gate_tier = tx.config.gate.tier.number();
    for entry in tx.graph.entries().filter(|e| e.info.tier < gate_tier) {
        if tx
            .facts
            .get((asset_id, entry.info.name.as_str()))?
            .is_none()
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The stored decision for the asset, or a new one, stored now; the second
/// value says whether it is new.
fn decision(
    tx: &mut Tx<'_>,
    asset_id: u64,
    owner: Owner,
) -> Result<(GateRecord, bool), EngineError> {
    Ok(match stored_decision(tx, asset_id)? {
        Some(decision) => (decision, false),
        None => (decide_and_store(tx, asset_id, owner)?, true),
    })
}

/// A new decision for the asset, stored in the same transaction.
fn decide_and_store(
    tx: &mut Tx<'_>,
    asset_id: u64,
    owner: Owner,
) -> Result<GateRecord, EngineError> {
    let decision = decide(tx, asset_id, owner)?;
    let bytes = encode("gate_decisions", &decision)?;
    tx.gate_decisions.insert(asset_id, bytes.as_slice())?;
    Ok(decision)
}

/// Called after `job` (of a tier below the gate) completed. When every
/// stage below the gate is now done for the asset, the gate decides (once)
/// and the guarded stages are enqueued or counted as skipped.
pub(crate) fn cross(tx: &mut Tx<'_>, job: &JobRecord) -> Result<(), EngineError> {
    if !below_gate_done(tx, job.asset_id)? {
        return Ok(());
    }
    let graph = tx.graph;
    match decision(tx, job.asset_id, Owner::OfAsset(job.import_id))? {
        (GateRecord::Passed, _) => enqueue_guarded(tx, job),
        (GateRecord::Skipped { tier, .. }, fresh) => {
            if fresh {
                for entry in graph.entries().filter(|e| e.info.tier >= tier) {
                    let key = (job.asset_id, entry.info.name.as_str());
                    if tx.facts.get(key)?.is_none() && tx.asset_jobs.get(key)?.is_none() {
                        tx.count_gated(
                            job.import_id,
                            job.asset_id,
                            entry.info.tier,
                            &entry.info.name,
                        );
                    }
                }
            }
            Ok(())
        }
    }
}

/// Whether a job of a stage in `tier` may be created for the asset outside
/// a completion (a re-run), `import_id` being the asset's import. An asset
/// the gate has not decided on, because its lower tiers finished while the
/// gate was not active, is decided now, as a completion would, its budget
/// included; one whose lower tiers are not all done waits for them. A re-run
/// counts nothing as skipped: it only enqueues fewer jobs.
pub(crate) fn admits(
    tx: &mut Tx<'_>,
    asset_id: u64,
    import_id: u64,
    tier: u8,
) -> Result<bool, EngineError> {
    if tier < tx.config.gate.tier.number() {
        return Ok(true);
    }
    let owner = Owner::Known(import_id);
    let decision = match stored_decision(tx, asset_id)? {
        Some(decision) => decision,
        None if !active_for(tx, asset_id, owner)? => return Ok(true),
        None if !below_gate_done(tx, asset_id)? => return Ok(false),
        None => decide_and_store(tx, asset_id, owner)?,
    };
    Ok(match decision {
        GateRecord::Passed => true,
        GateRecord::Skipped { tier: from, .. } => tier < from,
    })
}

/// The gate's decision for the asset, if it has made one.
fn stored_decision(tx: &Tx<'_>, asset_id: u64) -> Result<Option<GateRecord>, EngineError> {
    match tx.gate_decisions.get(asset_id)? {
        Some(bytes) => Ok(Some(decode("gate_decisions", bytes.value())?)),
        None => Ok(None),
    }
}

fn decide(tx: &mut Tx<'_>, asset_id: u64, owner: Owner) -> Result<GateRecord, EngineError> {
    let tier = tx.config.gate.tier.number();
    if let Some(rule) = tx.config.gate.rule.clone() {
        let facts = asset_facts(tx, asset_id)?;
        if let Some(reason) = rule.skip_reason(&facts) {
            return Ok(GateRecord::Skipped { tier, reason });
        }
    }
    let import_id = owner.import(tx, asset_id)?;
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
    Ok(fact_records(&tx.facts, asset_id)?
        .into_iter()
        .map(|(stage, record)| (stage, record.facts))
        .collect())
}

/// Enqueues every guarded stage of the asset whose predecessors are all
/// done, unless it is done or queued already.
fn enqueue_guarded(tx: &mut Tx<'_>, job: &JobRecord) -> Result<(), EngineError> {
    let gate_tier = tx.config.gate.tier.number();
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
