//! Reading stored facts back: an asset's fact records, and a stage's input
//! built from committed state: path, content hash, proxy
//! and the facts of every stage already done for the asset.
//!
//! Workers build inputs in their own read transactions after the claim has
//! committed, which keeps the decoding of earlier facts off the writer thread.

use std::collections::BTreeMap;
use std::path::Path;

use redb::{ReadTransaction, ReadableTable};

use super::blobs::blob_path;
use super::tables::{ASSETS, AssetRecord, FACTS, FactRecord, decode};
use crate::error::EngineError;
use crate::model::ClaimedJob;

/// Completes the inputs of claimed jobs (which carry only asset id and path).
pub(crate) fn fill_inputs(
    txn: &ReadTransaction,
    blobs: &Path,
    jobs: &mut [ClaimedJob],
) -> Result<(), EngineError> {
    let assets = txn.open_table(ASSETS)?;
    let facts_table = txn.open_table(FACTS)?;
    for job in jobs {
        let input = &mut job.input;
        let asset_id = input.asset_id;
        if let Some(bytes) = assets.get(asset_id)? {
            let asset: AssetRecord = decode("assets", bytes.value())?;
            if let Some(first) = asset.paths.first() {
                input.path = first.clone();
            }
            input.content_hash = asset.content_hash;
        }
        let mut facts = BTreeMap::new();
        for (stage, record) in fact_records(&facts_table, asset_id)? {
            for artifact in &record.artifacts {
                if artifact.name == kiln_plugin_api::PROXY_ARTIFACT {
                    input.proxy_path = Some(
                        blob_path(blobs, &artifact.blob)
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
            facts.insert(stage, record.facts);
        }
        input.facts = facts;
    }
    Ok(())
}

/// Every fact record of `asset_id`, by stage name, from the FACTS table of
/// a read or a write transaction.
pub(crate) fn fact_records(
    table: &impl ReadableTable<(u64, &'static str), &'static [u8]>,
    asset_id: u64,
) -> Result<Vec<(String, FactRecord)>, EngineError> {
    let mut out = Vec::new();
    for entry in table.range((asset_id, "")..(asset_id.saturating_add(1), ""))? {
        let (key, value) = entry?;
        out.push((key.value().1.to_owned(), decode("facts", value.value())?));
    }
    Ok(out)
}
