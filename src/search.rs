//! Search, similarity and sessions over a store: the glue between the
//! engine's read API and `kiln-search`, which never sees the engine.
//!
//! The index lives in the store folder (`search/`), is owned by the
//! [`Kiln`](crate::Kiln) handle, and is derived data:
//! - opening a handle opens it, registers the stages that keep it current,
//!   and on a primary handle catches up on whatever the store recorded but
//!   the index missed (a process killed between the store's commit and the
//!   index's);
//! - [`Kiln::reindex`](crate::Kiln::reindex) re-creates it from the store
//!   (`kiln reindex`);
//! - [`Kiln::shutdown`](crate::Kiln::shutdown) commits what is pending.
//!
//! Sessions are derived when read from the session features the index
//! holds as fast fields, so listing them, resolving a `session:` search
//! term or finding one asset's session for `show` never decodes the facts
//! of the whole store.

use crate::OpenError;
use kiln_engine::{
    AssetDetail, AssetId, AssetState, CurationFilter, Engine, EngineError, JobState, MAX_RATING,
    StageState, normalize_label,
};
use kiln_plugin_api::{Stage, Value};
use kiln_search::{
    AssetDoc, CurationTerm, IndexedState, Resolved, SEARCH_ENRICH_STAGE, SEARCH_INDEX_STAGE,
    SearchEnrichStage, SearchIndexStage, SessionEntry, parse_query,
};
use kiln_stages::cluster::{CLUSTER_STAGE_NAME, assign_sessions};
use kiln_stages::embed::hamming;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub use kiln_search::{
    After, Hit, Neighbour, QueryError, SearchError, SearchIndex, SearchResults, SortBy,
};
pub use kiln_stages::cluster::{Session, SessionFeatures};
pub use kiln_stages::embed::NEAR_DUPLICATE_BITS;

/// Why an operation of a [`Kiln`](crate::Kiln) handle failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The search index failed.
    #[error(transparent)]
    Index(#[from] SearchError),
    /// Reading or running the store failed.
    #[error(transparent)]
    Store(#[from] EngineError),
    /// A `~"text"` term could not be run: no model, a model that does not
    /// load, a malformed term.
    #[error(transparent)]
    Semantic(Box<crate::models::ModelError>),
}

impl From<crate::models::ModelError> for Error {
    fn from(e: crate::models::ModelError) -> Error {
        match e {
            crate::models::ModelError::Store(inner) => Error::Store(inner),
            other => Error::Semantic(Box::new(other)),
        }
    }
}

/// Registers the `search-index` and `search-enrich` stages writing to
/// `index`, and (on a primary handle) catches up.
pub(crate) fn register_search(engine: &Engine, index: &Arc<SearchIndex>) -> Result<(), OpenError> {
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
        match catch_up(engine, index) {
            Ok(_) | Err(Error::Index(SearchError::Locked { .. })) => {}
            Err(Error::Index(e)) => return Err(e.into()),
            Err(Error::Semantic(e)) => return Err(OpenError::Semantic(e)),
            Err(Error::Store(source)) => {
                return Err(OpenError::Store {
                    dir: engine.store_dir().to_path_buf(),
                    source,
                });
            }
        }
    }
    Ok(())
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
pub(crate) fn document(detail: &AssetDetail) -> AssetDoc {
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
pub(crate) fn catch_up(engine: &Engine, index: &SearchIndex) -> Result<CatchUp, Error> {
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
            .and_then(|m| m.get(&JobState::Done))
            .copied()
            .unwrap_or(0)
    };
    let (done_indexed, done_enriched) = (done(SEARCH_INDEX_STAGE), done(SEARCH_ENRICH_STAGE));
    let current = |indexed: &HashMap<AssetId, IndexedState>, gone: (u64, u64)| {
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
pub(crate) fn rebuild(engine: &Engine, index: &SearchIndex) -> Result<CatchUp, Error> {
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

/// Whether the search index holds exactly the store's searchable assets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexHealth {
    /// Documents in the index.
    pub documents: u64,
    /// Active assets whose `search-index` stage is done but that the index
    /// lacks.
    pub missing: Vec<AssetId>,
    /// Documents of assets that are not active in the store (unknown ids,
    /// duplicates, superseded assets).
    pub extra: Vec<AssetId>,
}

impl IndexHealth {
    /// Whether the index matches the store.
    pub fn is_sound(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty()
    }
}

/// Compares the index with the store, asset by asset; changes nothing.
pub(crate) fn index_health(engine: &Engine, index: &SearchIndex) -> Result<IndexHealth, Error> {
    let mut indexed = index.indexed()?;
    let mut health = IndexHealth {
        documents: indexed.len() as u64,
        ..IndexHealth::default()
    };
    for asset in engine.assets()? {
        let present = indexed.remove(&asset.id).is_some();
        if !is_active(asset.state) {
            if present {
                health.extra.push(asset.id);
            }
            continue;
        }
        if !present
            && let Some(detail) = engine.asset(asset.id)?
            && stage_done(&detail, SEARCH_INDEX_STAGE)
        {
            health.missing.push(asset.id);
        }
    }
    health.extra.extend(indexed.into_keys());
    health.extra.sort_unstable();
    Ok(health)
}

/// Runs a query in kiln's syntax (see [`parse`]).
pub(crate) fn search(
    engine: &Engine,
    index: &SearchIndex,
    query: &str,
    sort: SortBy,
    after: Option<After>,
    limit: usize,
) -> Result<SearchResults, Error> {
    Ok(index.search_page(&parse(engine, index, query)?, sort, after, limit)?)
}

/// A query in kiln's syntax parsed. `session:ID` terms are resolved here:
/// sessions are derived when read, from the session features the index
/// holds, and the term becomes the session's asset ids. Curation terms
/// (`rating:`, `favorite:`, `tag:`, `collection:`) are resolved against
/// the store's curation tables at this moment (see [`resolve_curation`]).
pub(crate) fn parse(
    engine: &Engine,
    index: &SearchIndex,
    query: &str,
) -> Result<kiln_search::ParsedQuery, Error> {
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
    parsed.resolve_curation(|term| resolve_curation(engine, term))?;
    Ok(parsed)
}

/// The assets a curation term selects, read from the store's curation
/// index tables now: always as fresh as the last commit of any process,
/// with nothing to re-index when a rating changes. A term most assets
/// match (a rating range that includes 0, unrated; `favorite:false`) is
/// resolved as its complement, the few assets it does not match.
pub(crate) fn resolve_curation(engine: &Engine, term: &CurationTerm) -> Result<Resolved, Error> {
    let select = |filter: CurationFilter| engine.curated_assets(&filter);
    Ok(match term {
        CurationTerm::Rating { min, max } if min > max => Resolved::Only(Vec::new()),
        CurationTerm::Rating { min: 0, max } => {
            if *max >= MAX_RATING {
                Resolved::AllBut(Vec::new())
            } else {
                Resolved::AllBut(select(CurationFilter::Rating {
                    min: max + 1,
                    max: MAX_RATING,
                })?)
            }
        }
        CurationTerm::Rating { min, max } => Resolved::Only(select(CurationFilter::Rating {
            min: *min,
            max: *max,
        })?),
        CurationTerm::Favorite(true) => Resolved::Only(select(CurationFilter::Favorite)?),
        CurationTerm::Favorite(false) => Resolved::AllBut(select(CurationFilter::Favorite)?),
        CurationTerm::Tag(tag) => match normalize_label(tag) {
            Ok(tag) => Resolved::Only(select(CurationFilter::Tag(tag))?),
            Err(_) => Resolved::Only(Vec::new()),
        },
        CurationTerm::Collection(name) => match normalize_label(name) {
            Ok(name) => Resolved::Only(select(CurationFilter::Collection(name))?),
            Err(_) => Resolved::Only(Vec::new()),
        },
    })
}

/// The assets nearest to `asset_id` by embedding, nearest first.
pub(crate) fn similar(
    index: &SearchIndex,
    asset_id: AssetId,
    limit: usize,
) -> Result<Option<Vec<Neighbour>>, Error> {
    let vectors = index.vectors()?;
    let Some((vector, phash)) = vectors.get(asset_id) else {
        return Ok(None);
    };
    Ok(Some(vectors.nearest(vector, phash, limit, Some(asset_id))))
}

/// The assets among `hashes` whose perceptual hash differs from `phash` in
/// at most [`NEAR_DUPLICATE_BITS`] bits, closest first, without `asset_id`.
fn hash_close(hashes: &[(AssetId, u64)], asset_id: AssetId, phash: u64) -> Vec<AssetId> {
    let mut close: Vec<(u32, AssetId)> = hashes
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
pub(crate) fn near_duplicates(
    index: &SearchIndex,
    asset_id: AssetId,
) -> Result<Vec<AssetId>, Error> {
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
) -> Result<Vec<SessionFeatures>, Error> {
    Ok(to_features(index.session_entries(family)?))
}

/// The session features of every asset in the store's index.
///
/// Sessions are a pure function of this set ([`assign_sessions`]), so they
/// do not depend on the order in which assets completed, and they change as
/// soon as the index holds a new asset's features. The index is derived
/// from the store and catches up when it is opened.
pub(crate) fn session_features(index: &SearchIndex) -> Result<Vec<SessionFeatures>, Error> {
    indexed_features(index, None)
}

/// Every session of the store, computed from what the index holds now.
pub(crate) fn sessions(index: &SearchIndex) -> Result<Vec<Session>, Error> {
    Ok(assign_sessions(&session_features(index)?))
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
    pub near_duplicates: Vec<AssetId>,
}

/// Quality, session and near-duplicates of an asset. Best effort: a part
/// that cannot be read (no index yet) is left empty.
///
/// Bounded work: the session reads the session features of the asset's
/// family from index fast fields, and the near-duplicates scan the
/// perceptual hashes (8 bytes per asset); no other asset's facts are
/// decoded and no embedding is loaded.
pub(crate) fn enrichment(index: &SearchIndex, detail: &AssetDetail) -> Enrichment {
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
    let session = session_of(index, detail);
    let near_duplicates = match phash {
        Some(phash) => index
            .phashes()
            .map(|hashes| hash_close(&hashes, detail.id, phash))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    Enrichment {
        quality,
        session,
        near_duplicates,
    }
}
