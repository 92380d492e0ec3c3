//! Search, similarity and sessions over a store: the glue between the
//! engine's read API and `kiln-search`, which never sees the engine.
//!
//! The index lives in the store folder (`search/`) and is derived data:
//! - [`register_search`] (called by [`crate::open_store`]) opens it,
//!   registers the stages that keep it current, and on a primary handle
//!   [`catch_up`]s on whatever the store recorded but the index missed (a
//!   process killed between the store's commit and the index's);
//! - [`rebuild`] re-creates it from the store (`kiln reindex`);
//! - [`finish`] commits what is pending; call it when you stop the engine.
//!
//! Sessions are derived when read ([`sessions`]) from the session features
//! the index holds as fast fields, so listing them, resolving a `session:`
//! search term ([`search`]) or finding one asset's session for `show`
//! ([`enrichment`]) never decodes the facts of the whole store.

use crate::OpenError;
use kiln_engine::{AssetDetail, AssetState, Engine, EngineError, StageState};
use kiln_plugin_api::{Stage, Value};
use kiln_search::{
    AssetDoc, IndexedState, Neighbour, SEARCH_ENRICH_STAGE, SEARCH_INDEX_STAGE, SearchEnrichStage,
    SearchError, SearchIndex, SearchIndexStage, SessionEntry, index_dir, parse_query,
};
use kiln_stages::cluster::{CLUSTER_STAGE_NAME, Session, SessionFeatures, assign_sessions};
use kiln_stages::embed::hamming;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

pub use kiln_search::{Hit, SearchResults, SortBy};
pub use kiln_stages::embed::NEAR_DUPLICATE_BITS;

/// Why a search operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SearchOpError {
    /// The index failed.
    #[error(transparent)]
    Index(#[from] SearchError),
    /// Reading the store failed.
    #[error("cannot read the store: {0}")]
    Store(#[from] EngineError),
}

/// One index per store folder per process: the stages and the commands of
/// one process share it, so there is only ever one writer.
fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<SearchIndex>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Weak<SearchIndex>>>> = OnceLock::new();
    REGISTRY.get_or_init(Mutex::default)
}

/// The search index of a store folder, opened once per process.
pub fn search_index(store_dir: &Path) -> Result<Arc<SearchIndex>, SearchError> {
    let dir = index_dir(&std::fs::canonicalize(store_dir).unwrap_or_else(|_| store_dir.into()));
    let mut map = registry().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(index) = map.get(&dir).and_then(Weak::upgrade) {
        return Ok(index);
    }
    let index = Arc::new(SearchIndex::open(&dir)?);
    map.insert(dir, Arc::downgrade(&index));
    Ok(index)
}

/// Opens the store's index, registers the `search-index` and
/// `search-enrich` stages, and (on a primary handle) catches up.
pub fn register_search(engine: &Engine) -> Result<Arc<SearchIndex>, OpenError> {
    let index = search_index(engine.store_dir())?;
    let stages: [Arc<dyn Stage>; 2] = [
        Arc::new(SearchIndexStage::new(index.clone())),
        Arc::new(SearchEnrichStage::new(index.clone())),
    ];
    for stage in stages {
        let name = stage.info().name;
        engine
            .register_stage(stage)
            .map_err(|source| OpenError::Stage {
                stage: name,
                plugin: None,
                source,
            })?;
    }
    if engine.is_primary() {
        match catch_up(engine, &index) {
            Ok(_) | Err(SearchOpError::Index(SearchError::Locked { .. })) => {}
            Err(SearchOpError::Index(e)) => return Err(e.into()),
            Err(SearchOpError::Store(source)) => {
                return Err(OpenError::Store {
                    dir: engine.store_dir().to_path_buf(),
                    source,
                });
            }
        }
    }
    Ok(index)
}

/// Commits pending index writes and releases the index writer.
pub fn finish(engine: &Engine) -> Result<(), SearchError> {
    search_index(engine.store_dir())?.close_writer()
}

fn facts_of(detail: &AssetDetail) -> BTreeMap<String, Value> {
    detail
        .stages
        .iter()
        .filter_map(|(name, s)| s.facts.clone().map(|f| (name.clone(), f)))
        .collect()
}

/// Duplicate and superseded assets own no paths and are never indexed.
fn is_active(state: AssetState) -> bool {
    !matches!(state, AssetState::Duplicate { .. } | AssetState::Superseded)
}

fn stage_done(detail: &AssetDetail, stage: &str) -> bool {
    detail
        .stages
        .get(stage)
        .is_some_and(|s| s.state == StageState::Done)
}

/// The document of an asset, from its stored facts.
pub fn document(detail: &AssetDetail) -> AssetDoc {
    let path = detail.paths.first().cloned().unwrap_or_default();
    AssetDoc::from_facts(detail.id, &path, &facts_of(detail))
}

/// What a catch-up or rebuild did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// Assets (re-)added to the index.
    pub indexed: u64,
    /// Documents removed (duplicate or superseded assets).
    pub removed: u64,
    /// Whether every asset of the store had to be read (the cheaper checks
    /// could not prove the index current).
    pub read_every_asset: bool,
}

/// Brings the index up to what the store recorded: removes documents of
/// assets that are no longer active, adds assets whose `search-index` stage
/// is done but which the index lacks, refreshes those whose `search-enrich`
/// stage is done but whose document lacks tier-3 results.
///
/// Cheap first: the asset records (not their facts) name the duplicate and
/// superseded assets, whose documents are removed; then the stages' done
/// counts are compared with the index's document counts, once as they are
/// and once without the completions of inactive assets (which stay counted
/// although their documents go). Only when neither proves the index
/// current is every asset read. No full rebuild.
pub fn catch_up(engine: &Engine, index: &SearchIndex) -> Result<CatchUp, SearchOpError> {
    let mut indexed = index.indexed()?;
    let mut result = CatchUp::default();
    let inactive = engine.inactive_assets()?;
    for id in &inactive {
        if indexed.remove(id).is_some() {
            index.remove(*id)?;
            result.removed += 1;
        }
    }
    let metrics = engine.metrics()?;
    let done = |stage: &str| {
        metrics
            .by_stage
            .get(stage)
            .and_then(|m| m.get("done"))
            .copied()
            .unwrap_or(0)
    };
    let (done_indexed, done_enriched) = (done(SEARCH_INDEX_STAGE), done(SEARCH_ENRICH_STAGE));
    let current = |indexed: &HashMap<u64, IndexedState>, gone: (u64, u64)| {
        let enriched = indexed.values().filter(|s| s.enriched).count() as u64;
        done_indexed.saturating_sub(gone.0) == indexed.len() as u64
            && done_enriched.saturating_sub(gone.1) <= enriched
    };
    let mut proven = current(&indexed, (0, 0));
    if !proven && !inactive.is_empty() {
        let mut gone = (0, 0);
        for id in &inactive {
            if let Some(detail) = engine.asset(*id)? {
                gone.0 += u64::from(stage_done(&detail, SEARCH_INDEX_STAGE));
                gone.1 += u64::from(stage_done(&detail, SEARCH_ENRICH_STAGE));
            }
        }
        proven = current(&indexed, gone);
    }
    if !proven {
        result.read_every_asset = true;
        for asset in engine.assets()? {
            let present = indexed.get(&asset.id);
            if !is_active(asset.state) || present.is_some_and(|s| s.enriched) {
                continue;
            }
            let Some(detail) = engine.asset(asset.id)? else {
                continue;
            };
            let wanted = match present {
                None => stage_done(&detail, SEARCH_INDEX_STAGE),
                Some(_) => stage_done(&detail, SEARCH_ENRICH_STAGE),
            };
            if wanted {
                index.upsert(&document(&detail))?;
                result.indexed += 1;
            }
        }
    }
    if result.removed > 0 || result.indexed > 0 {
        index.commit()?;
    }
    Ok(result)
}

/// Re-creates the index from the store: every active asset whose
/// `search-index` stage is done.
pub fn rebuild(engine: &Engine, index: &SearchIndex) -> Result<CatchUp, SearchOpError> {
    index.clear()?;
    let mut result = CatchUp::default();
    for asset in engine.assets()? {
        if !is_active(asset.state) {
            continue;
        }
        let Some(detail) = engine.asset(asset.id)? else {
            continue;
        };
        if stage_done(&detail, SEARCH_INDEX_STAGE) {
            index.upsert(&document(&detail))?;
            result.indexed += 1;
        }
    }
    index.commit()?;
    Ok(result)
}

/// Runs a query in kiln's syntax. `session:ID` terms are resolved here:
/// sessions are derived when read, from the session features the index
/// holds, and the term becomes the session's asset ids.
pub fn search(
    index: &SearchIndex,
    query: &str,
    sort: SortBy,
    limit: usize,
) -> Result<SearchResults, SearchOpError> {
    let mut parsed = parse_query(query).map_err(SearchError::from)?;
    if !parsed.session_ids().is_empty() {
        let all = assign_sessions(&indexed_features(index, None)?);
        parsed.resolve_sessions(|id| {
            all.iter()
                .find(|s| s.id == id)
                .map(|s| s.assets.clone())
                .unwrap_or_default()
        });
    }
    Ok(index.search_parsed(&parsed, sort, limit)?)
}

/// The assets nearest to `asset_id` by embedding, nearest first.
pub fn similar(
    index: &SearchIndex,
    asset_id: u64,
    limit: usize,
) -> Result<Option<Vec<Neighbour>>, SearchOpError> {
    let vectors = index.vectors()?;
    let Some((vector, phash)) = vectors.get(asset_id) else {
        return Ok(None);
    };
    Ok(Some(vectors.nearest(vector, phash, limit, Some(asset_id))))
}

/// The assets among `hashes` whose perceptual hash differs from `phash` in
/// at most [`NEAR_DUPLICATE_BITS`] bits, closest first, without `asset_id`.
fn hash_close(hashes: &[(u64, u64)], asset_id: u64, phash: u64) -> Vec<u64> {
    let mut close: Vec<(u32, u64)> = hashes
        .iter()
        .filter(|(id, _)| *id != asset_id)
        .map(|(id, h)| (hamming(*h, phash), *id))
        .filter(|(bits, _)| *bits <= NEAR_DUPLICATE_BITS)
        .collect();
    close.sort_unstable();
    close.into_iter().map(|(_, id)| id).collect()
}

/// Near-duplicates of an indexed asset: every indexed asset whose
/// perceptual hash differs in at most [`NEAR_DUPLICATE_BITS`] bits, closest
/// first. A scan of all hashes, so none is missed however far its
/// embedding lies.
pub fn near_duplicates(index: &SearchIndex, asset_id: u64) -> Result<Vec<u64>, SearchOpError> {
    let hashes = index.phashes()?;
    let Some(&(_, own)) = hashes.iter().find(|(id, _)| *id == asset_id) else {
        return Ok(Vec::new());
    };
    Ok(hash_close(&hashes, asset_id, own))
}

fn to_features(entries: Vec<SessionEntry>) -> Vec<SessionFeatures> {
    entries
        .into_iter()
        .map(|e| SessionFeatures {
            id: e.id,
            time: e.time,
            family: e.family,
        })
        .collect()
}

/// The session features the index holds (of assets whose `search-enrich`
/// stage recorded their `cluster` results), optionally of one family only.
fn indexed_features(
    index: &SearchIndex,
    family: Option<&str>,
) -> Result<Vec<SessionFeatures>, SearchOpError> {
    Ok(to_features(index.session_entries(family)?))
}

/// The session features of every asset in the store's index.
///
/// Sessions are a pure function of this set ([`assign_sessions`]), so they
/// do not depend on the order in which assets completed, and they change as
/// soon as the index holds a new asset's features. The index is derived
/// from the store and catches up when it is opened.
pub fn session_features(engine: &Engine) -> Result<Vec<SessionFeatures>, SearchOpError> {
    let index = search_index(engine.store_dir())?;
    indexed_features(&index, None)
}

/// Every session of the store, computed from what the index holds now.
pub fn sessions(engine: &Engine) -> Result<Vec<Session>, SearchOpError> {
    Ok(assign_sessions(&session_features(engine)?))
}

/// The session of one asset. Sessions never span families, so only the
/// asset's family is read from the index; the asset's own features come
/// from its facts, so a document the index has not committed yet still
/// finds its session.
fn session_of(index: &SearchIndex, detail: &AssetDetail) -> Option<String> {
    let own = detail
        .stages
        .get(CLUSTER_STAGE_NAME)
        .and_then(|s| s.facts.as_ref())
        .map(|facts| SessionFeatures::from_facts(detail.id, facts))?;
    let mut members = indexed_features(index, Some(&own.family)).ok()?;
    members.retain(|m| m.id != own.id);
    members.push(own);
    assign_sessions(&members)
        .into_iter()
        .find(|s| s.assets.contains(&detail.id))
        .map(|s| s.id)
}

/// The tier-3 view of one asset, as `show` presents it.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrichment {
    /// The `score` stage's facts (score and components), when done.
    pub quality: Option<Value>,
    /// The asset's session id, when its `cluster` stage is done.
    pub session: Option<String>,
    /// Assets whose perceptual hash is within [`NEAR_DUPLICATE_BITS`].
    pub near_duplicates: Vec<u64>,
}

/// Quality, session and near-duplicates of an asset. Best effort: a part
/// that cannot be read (no index yet) is left empty.
///
/// Bounded work: the session reads the session features of the asset's
/// family from index fast fields, and the near-duplicates scan the
/// perceptual hashes (8 bytes per asset); no other asset's facts are
/// decoded and no embedding is loaded.
pub fn enrichment(engine: &Engine, detail: &AssetDetail) -> Enrichment {
    let quality = detail
        .stages
        .get(kiln_stages::score::SCORE_STAGE_NAME)
        .and_then(|s| s.facts.clone());
    let phash = detail
        .stages
        .get(kiln_stages::embed::EMBED_STAGE_NAME)
        .and_then(|s| s.facts.as_ref())
        .and_then(|f| f.get("phash"))
        .and_then(Value::as_u64);
    let index = search_index(engine.store_dir()).ok();
    let session = index.as_ref().and_then(|i| session_of(i, detail));
    let near_duplicates = match (index.as_ref(), phash) {
        (Some(index), Some(phash)) => index
            .phashes()
            .map(|hashes| hash_close(&hashes, detail.id, phash))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    Enrichment {
        quality,
        session,
        near_duplicates,
    }
}
