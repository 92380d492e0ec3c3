//! The browsable counter (`meta::BROWSABLE`): how many assets are active
//! with every tier-1 stage done, kept in the transactions that change it so
//! that the gallery's total costs one read, not a scan of the store.
//!
//! Only two things change it: a tier-1 stage storing its first facts for an
//! active asset (`complete`), and an active asset leaving that state — a
//! duplicate merged into another (`complete`) or superseded by a changed
//! file (`intake`). Facts are never deleted. The count holds for the set of
//! tier-1 stages it was made with (`meta::BROWSABLE_STAGES`); a store made
//! before the counter, or whose tier-1 stages changed, has it rebuilt once
//! by the next primary that registers its stages.

use redb::ReadableTable;

use super::Tx;
use crate::error::EngineError;
use crate::graph::Graph;
use crate::store::tables::{AssetRecord, AssetStatus, decode, meta};

/// Whether every tier-1 stage of the graph stored its facts for `asset_id`.
pub(crate) fn tier1_done(tx: &Tx<'_>, asset_id: u64) -> Result<bool, EngineError> {
    for stage in tx.graph.browsable_stages() {
        if tx.facts.get((asset_id, stage))?.is_none() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Adds `delta` to the counter, when it is kept for this graph's stages
/// (otherwise it is rebuilt as a whole later and the change is in that).
pub(crate) fn adjust(tx: &mut Tx<'_>, delta: i64) -> Result<(), EngineError> {
    if delta == 0 || !counted_for(tx, tx.graph)? {
        return Ok(());
    }
    let now = tx.meta.get(meta::BROWSABLE)?.map_or(0, |v| v.value());
    tx.meta
        .insert(meta::BROWSABLE, now.saturating_add_signed(delta))?;
    Ok(())
}

fn counted_for(tx: &Tx<'_>, graph: &Graph) -> Result<bool, EngineError> {
    Ok(tx.meta.get(meta::BROWSABLE_STAGES)?.map(|v| v.value())
        == Some(graph.browsable_fingerprint()))
}

/// Counts the browsable assets anew unless the counter is kept for the
/// graph's tier-1 stages already. Does nothing while no stage is
/// registered.
pub(crate) fn ensure_built(tx: &mut Tx<'_>) -> Result<(), EngineError> {
    if tx.graph.entries().next().is_none() || counted_for(tx, tx.graph)? {
        return Ok(());
    }
    let count = count(&tx.assets, &tx.facts, &tx.graph.browsable_stages())?;
    tx.meta.insert(meta::BROWSABLE, count)?;
    tx.meta
        .insert(meta::BROWSABLE_STAGES, tx.graph.browsable_fingerprint())?;
    Ok(())
}

/// The browsable count as stored, when it is kept for `graph`'s stages.
pub(crate) fn stored(
    meta_table: &impl ReadableTable<&'static str, u64>,
    graph: &Graph,
) -> Result<Option<u64>, EngineError> {
    if meta_table.get(meta::BROWSABLE_STAGES)?.map(|v| v.value())
        != Some(graph.browsable_fingerprint())
    {
        return Ok(None);
    }
    Ok(Some(
        meta_table.get(meta::BROWSABLE)?.map_or(0, |v| v.value()),
    ))
}

/// Counts the browsable assets by reading every asset record (no facts are
/// decoded): the cost of the store's size.
pub(crate) fn count(
    assets: &impl ReadableTable<u64, &'static [u8]>,
    facts: &impl ReadableTable<(u64, &'static str), &'static [u8]>,
    tier1: &[&str],
) -> Result<u64, EngineError> {
    if assets.len()? == 0 {
        return Ok(0);
    }
    let mut count = 0;
    'assets: for row in assets.iter()? {
        let (key, value) = row?;
        let record: AssetRecord = decode("assets", value.value())?;
        if record.status != AssetStatus::Active {
            continue;
        }
        let id = key.value();
        for stage in tier1 {
            if facts.get((id, *stage))?.is_none() {
                continue 'assets;
            }
        }
        count += 1;
    }
    Ok(count)
}
