//! Re-running stages where their facts are outdated: one stage on request
//! ([`Rerun`]), or every registered stage when stages are registered
//! ([`EnqueueOutdated`]); and re-running one stage whatever its facts
//! ([`Force`]).
//!
//! A stage is outdated for an active asset when its stored facts were
//! written by another version of it, or when it never ran although every
//! stage of its `after` is done (a stage registered after the asset went
//! through the others). A job of the asset's stage that exists already,
//! live (ready, leased, retrying) or a dead letter, is never doubled: a
//! dead letter runs again only when it is retried; one that was purged
//! only on a re-run by name or at a new version. A stage of a guarded
//! tier asks the enrichment gate as a completion would (see
//! [`enrich_gate::admits`]).

use std::collections::BTreeMap;

use kiln_plugin_api::StageInfo;
use redb::ReadableTable;

use super::intake::create_import;
use super::{Op, Tx, enrich_gate};
use crate::error::{EngineError, GraphError};
use crate::model::{ImportId, Outdated, Priority};
use crate::store::tables::{AssetRecord, AssetStatus, decode, fact_version, meta};

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

/// Enqueues every registered stage where it is outdated (see
/// [`enqueue_outdated`]).
#[derive(Debug)]
pub(crate) struct EnqueueOutdated {
    pub(crate) priority: Priority,
}

impl Op for EnqueueOutdated {
    type Output = Outdated;

    fn apply(self, tx: &mut Tx<'_>) -> Result<Outdated, EngineError> {
        // The first primary that knows the stages counts the files of a
        // store made before file counters.
        super::file_counts::ensure_built(tx)?;
        super::browsable::ensure_built(tx)?;
        enqueue_outdated(tx, self.priority.as_u8())
    }
}

/// Enqueues `stage` again for the given active assets (every active asset
/// when `None`), whatever version wrote their facts (see [`force`]);
/// outputs the new import's id and how many jobs were enqueued.
#[derive(Debug)]
pub(crate) struct Force {
    pub(crate) stage: String,
    pub(crate) assets: Option<Vec<u64>>,
    pub(crate) priority: Priority,
}

impl Op for Force {
    type Output = (u64, u64);

    fn apply(self, tx: &mut Tx<'_>) -> Result<(u64, u64), EngineError> {
        force(
            tx,
            &self.stage,
            self.assets.as_deref(),
            self.priority.as_u8(),
        )
    }
}

/// Enqueues `stage` for every active asset (of `assets`, when given) in a
/// new import named `rerun:<stage>`. An asset is skipped when a job of
/// that stage exists for it already (live, or a dead letter, which runs
/// again only when retried), when its `after` stages are not all done (the
/// stage runs anyway once they are), or when the gate keeps it from the
/// stage's tier. The job's completion overwrites the stored facts, so the
/// old ones are superseded. Ids that are not active assets are ignored.
fn force(
    tx: &mut Tx<'_>,
    stage: &str,
    assets: Option<&[u64]>,
    priority: u8,
) -> Result<(u64, u64), EngineError> {
    let info = registered(tx, stage)?;
    let import_id = create_import(tx, &format!("rerun:{stage}"), priority, true, None)?;
    let mut enqueued = 0;
    for (asset_id, asset) in active_assets(tx)? {
        if assets.is_some_and(|ids| !ids.contains(&asset_id)) {
            continue;
        }
        let key = (asset_id, info.name.as_str());
        if tx.asset_jobs.get(key)?.is_some() || !tx.all_done(asset_id, &info.after)? {
            continue;
        }
        if enrich_gate::admits(tx, asset_id, asset.import_id, info.tier)? {
            enqueue(tx, asset_id, &asset, import_id, priority, &info)?;
            enqueued += 1;
        }
    }
    Ok((import_id, enqueued))
}

/// Enqueues `stage` for every active asset where it is outdated, in a new
/// import named `rerun:<stage>`. Returns the import's id and how many jobs
/// were enqueued.
fn rerun_outdated(tx: &mut Tx<'_>, stage: &str, priority: u8) -> Result<(u64, u64), EngineError> {
    let info = registered(tx, stage)?;
    let import_id = create_import(tx, &format!("rerun:{stage}"), priority, true, None)?;
    let mut enqueued = 0;
    for (asset_id, asset) in active_assets(tx)? {
        if is_outdated(tx, asset_id, &asset, &info, Purged::Rerun)? {
            enqueue(tx, asset_id, &asset, import_id, priority, &info)?;
            enqueued += 1;
        }
    }
    Ok((import_id, enqueued))
}

/// Enqueues every registered stage for every active asset where it is
/// outdated. The jobs go into one new import named `stages:<names>` (the
/// stages that got jobs), created only when there is a job to put in it.
fn enqueue_outdated(tx: &mut Tx<'_>, priority: u8) -> Result<Outdated, EngineError> {
    let graph = tx.graph;
    let stages: Vec<StageInfo> = graph.entries().map(|e| e.info.clone()).collect();
    if stages.is_empty() {
        return Ok(Outdated::default());
    }
    // Every open of a primary asks; at 100,000 assets a full look reads
    // about a million records, and finds nothing unless something changed.
    let seen = tx.meta.get(meta::OUTDATED_CHECKED)?.map(|v| v.value());
    if seen == Some(outdated_fingerprint(tx)?) {
        return Ok(Outdated::default());
    }
    let mut import = None;
    let mut per_stage: BTreeMap<String, u64> = BTreeMap::new();
    for (asset_id, asset) in active_assets(tx)? {
        for info in &stages {
            if !is_outdated(tx, asset_id, &asset, info, Purged::Keep)? {
                continue;
            }
            let import_id = match import {
                Some(id) => id,
                None => {
                    // Named once the stages are known, below.
                    let id = create_import(tx, "stages:", priority, true, None)?;
                    import = Some(id);
                    id
                }
            };
            enqueue(tx, asset_id, &asset, import_id, priority, info)?;
            *per_stage.entry(info.name.clone()).or_default() += 1;
        }
    }
    if let Some(import_id) = import
        && let Some(mut record) = tx.import(import_id)?
    {
        let names: Vec<&str> = per_stage.keys().map(String::as_str).collect();
        record.root = format!("stages:{}", names.join(","));
        tx.put_import(import_id, &record)?;
    }
    let fingerprint = outdated_fingerprint(tx)?;
    tx.meta.insert(meta::OUTDATED_CHECKED, fingerprint)?;
    Ok(Outdated {
        import: import.map(ImportId::new),
        per_stage,
    })
}

/// What a look for outdated stages depends on: every registered stage
/// (name, version, tier, `after`), the gate (its tier, whether a rule is
/// set), and how many assets, jobs, job records per asset, facts, gate
/// decisions and purge marks the store holds (each an O(1) count). With
/// all of them as they were after a full look, the pipeline's own
/// completions have enqueued whatever became due since, so a new look
/// would find nothing. (FNV-1a; never 0.)
pub(crate) fn outdated_fingerprint(tx: &Tx<'_>) -> Result<u64, EngineError> {
    use redb::ReadableTableMetadata;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    let mut stages: Vec<&StageInfo> = tx.graph.entries().map(|e| &e.info).collect();
    stages.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    for info in stages {
        feed(info.name.as_bytes());
        feed(&[0]);
        feed(&info.version.to_le_bytes());
        feed(&[info.tier]);
        for after in &info.after {
            feed(after.as_bytes());
            feed(&[1]);
        }
        feed(&[2]);
    }
    feed(&[
        tx.config.gate.tier.number(),
        u8::from(tx.config.gate.rule.is_some()),
    ]);
    for count in [
        tx.assets.len()?,
        tx.jobs.len()?,
        tx.asset_jobs.len()?,
        tx.facts.len()?,
        tx.gate_decisions.len()?,
        tx.purged.len()?,
    ] {
        feed(&count.to_le_bytes());
    }
    Ok(hash.max(1))
}

/// Every active asset (not a duplicate, not superseded), by id.
fn active_assets(tx: &Tx<'_>) -> Result<Vec<(u64, AssetRecord)>, EngineError> {
    let mut out = Vec::new();
    for entry in tx.assets.iter()? {
        let (k, v) = entry?;
        let asset: AssetRecord = decode("assets", v.value())?;
        if asset.status == AssetStatus::Active {
            out.push((k.value(), asset));
        }
    }
    Ok(out)
}

/// What to do with a stage that never ran for an asset because its dead
/// letter was purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purged {
    /// Run it again: a re-run asked for by name.
    Rerun,
    /// Leave it unless the stage's version changed since the purge: the
    /// user deleted that work, and registering the same stage again is no
    /// reason to bring it back.
    Keep,
}

/// Whether `info`'s stage should run (again) for the asset: it has no job
/// (live or dead), its facts come from another version or it never ran
/// though its `after` stages are done (and, with [`Purged::Keep`], was not
/// purged at this version), and the gate admits it. Asking the gate may
/// decide for an asset it has not decided on (see
/// [`enrich_gate::admits`]).
fn is_outdated(
    tx: &mut Tx<'_>,
    asset_id: u64,
    asset: &AssetRecord,
    info: &StageInfo,
    purged: Purged,
) -> Result<bool, EngineError> {
    let key = (asset_id, info.name.as_str());
    if tx.asset_jobs.get(key)?.is_some() {
        return Ok(false);
    }
    let stored = match tx.facts.get(key)? {
        Some(bytes) => Some(fact_version(bytes.value())?),
        None => None,
    };
    match stored {
        Some(version) if version == info.version => return Ok(false),
        Some(_) => {}
        None if !tx.all_done(asset_id, &info.after)? => return Ok(false),
        None if purged == Purged::Keep
            && tx.purged.get(key)?.map(|v| v.value()) == Some(info.version) =>
        {
            return Ok(false);
        }
        None => {}
    }
    enrich_gate::admits(tx, asset_id, asset.import_id, info.tier)
}

fn enqueue(
    tx: &mut Tx<'_>,
    asset_id: u64,
    asset: &AssetRecord,
    import_id: u64,
    priority: u8,
    info: &StageInfo,
) -> Result<(), EngineError> {
    let path = asset.paths.first().map(String::as_str).unwrap_or_default();
    tx.enqueue(asset_id, import_id, priority, &info.name, info.tier, path)?;
    Ok(())
}

/// What the registered stage `stage` declares, or `NotRegistered`.
fn registered(tx: &Tx<'_>, stage: &str) -> Result<StageInfo, EngineError> {
    tx.graph
        .get(stage)
        .map(|entry| entry.info.clone())
        .ok_or_else(|| GraphError::NotRegistered(stage.to_owned()).into())
}
