//! Reading stored facts back: an asset's fact records, and a stage's input
//! built from committed state: path, content hash, the facts of the stages
//! it runs after and, for a stage that asked for it, the proxy.
//!
//! Workers build inputs in their own read transactions after the claim has
//! committed, which keeps the decoding of earlier facts off the writer thread.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use redb::{ReadTransaction, ReadableTable};

use super::blobs::blob_path;
use super::tables::{ASSETS, AssetRecord, FACTS, FactRecord, decode};
use crate::error::EngineError;
use crate::graph::Graph;
use crate::model::ClaimedJob;

/// What a stage is given besides its asset: the stages whose facts it sees,
/// and whether it sees the proxy.
struct Sight {
    predecessors: BTreeSet<String>,
    needs_proxy: bool,
}

/// Completes the inputs of claimed jobs (which carry only asset id and path).
///
/// A stage is given the facts of exactly the stages it runs after, directly
/// or transitively ([`Graph::predecessors`]): all of them are done before
/// it runs, so what it sees does not depend on which other stages happen to
/// have finished. The proxy path is given only to a stage that declared
/// `needs_proxy`, once one of those stages produced a proxy. A stage this
/// engine does not know is given neither (its job fails as unregistered).
pub(crate) fn fill_inputs(
    txn: &ReadTransaction,
    blobs: &Path,
    graph: &Graph,
    jobs: &mut [ClaimedJob],
) -> Result<(), EngineError> {
    let assets = txn.open_table(ASSETS)?;
    let facts_table = txn.open_table(FACTS)?;
    let mut sights: HashMap<String, Sight> = HashMap::new();
    for job in jobs {
        let sight = sights
            .entry(job.lease.stage.clone())
            .or_insert_with(|| Sight {
                predecessors: graph.predecessors(&job.lease.stage),
                needs_proxy: graph
                    .get(&job.lease.stage)
                    .is_some_and(|e| e.info.needs_proxy),
            });
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
        for entry in facts_table.range((asset_id, "")..(asset_id.saturating_add(1), ""))? {
            let (key, value) = entry?;
            let stage = key.value().1;
            if !sight.predecessors.contains(stage) {
                continue;
            }
            let record: FactRecord = decode("facts", value.value())?;
            if sight.needs_proxy {
                for artifact in &record.artifacts {
                    if artifact.name == kiln_plugin_api::PROXY_ARTIFACT {
                        input.proxy_path = Some(
                            blob_path(blobs, &artifact.blob)
                                .to_string_lossy()
                                .into_owned(),
                        );
                    }
                }
            }
            facts.insert(stage.to_owned(), record.facts);
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
