//! The [`Kiln`] handle: one store with its stages and its search index,
//! opened together and shut down together.

use crate::search::{self, CatchUp, Enrichment, Error, IndexHealth};
use crate::semantic::SemanticStage;
use crate::semantic::state::SemanticState;
use crate::wiring::{self, OpenError, StageSource};
use kiln_engine::plugin::{PluginError, load_plugin};
use kiln_engine::{
    AssetDetail, AssetId, Config, Engine, EngineError, ImportId, ImportOptions, Priority, Until,
    catch_panics,
};
use kiln_plugin_api::Stage;
use kiln_search::{
    After, Neighbour, SearchError, SearchIndex, SearchResults, SortBy, Unusable, index_dir,
};
use kiln_stages::cluster::Session;
use kiln_stages::embed::EnrichmentCriteria;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to open a store: which plugins to load, which built-in stages they
/// replace, which assets tier-3 work is spent on, and the engine's
/// configuration. Made by [`Kiln::builder`].
#[derive(Clone)]
#[must_use]
pub struct KilnBuilder {
    dir: PathBuf,
    stages: Vec<Arc<dyn Stage>>,
    plugins: Vec<PathBuf>,
    replace: Vec<String>,
    enrichment: Option<EnrichmentCriteria>,
    config: Config,
}

impl std::fmt::Debug for KilnBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stages: Vec<String> = self.stages.iter().map(|s| s.info().name).collect();
        f.debug_struct("KilnBuilder")
            .field("dir", &self.dir)
            .field("stages", &stages)
            .field("plugins", &self.plugins)
            .field("replace", &self.replace)
            .field("enrichment", &self.enrichment)
            .field("config", &self.config)
            .finish()
    }
}

impl KilnBuilder {
    /// Adds a stage of the app's own, registered after the built-in
    /// stages (whose names it may name in `after`); with its name in
    /// [`replace`](Self::replace) it replaces the built-in stage instead.
    pub fn stage(mut self, stage: Arc<dyn Stage>) -> Self {
        self.stages.push(stage);
        self
    }

    /// Loads stages from these shared libraries (added to any given before).
    pub fn plugins<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.plugins.extend(paths.into_iter().map(Into::into));
        self
    }

    /// Lets a plugin (or an app stage) replace the built-in stages of these
    /// names (added to any given before). Opening fails when no plugin or
    /// app stage provides one.
    pub fn replace<I, S>(mut self, stages: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.replace.extend(stages.into_iter().map(Into::into));
        self
    }

    /// The criteria deciding which assets go on to tier 3 (tiny images,
    /// files without generation parameters), for every tier-3 stage,
    /// plugins included. Without this call the handle uses
    /// `EnrichmentCriteria::default()`, as the `kiln` command does, unless
    /// the [`config`](Self::config) brings its own enrichment rule;
    /// [`EnrichmentCriteria::OPEN`] lets every asset through. Every process
    /// that runs workers on a store should use the same criteria.
    pub fn enrichment(mut self, criteria: EnrichmentCriteria) -> Self {
        self.enrichment = Some(criteria);
        self
    }

    /// The engine's configuration (workers, retries, watermarks, gate).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Opens (or creates) the store with the built-in stages, the search
    /// stages and the plugins, and its search index. On the primary handle
    /// the index catches up on whatever the store recorded but the index
    /// missed.
    pub fn open(self) -> Result<Kiln, OpenError> {
        let KilnBuilder {
            dir,
            mut stages,
            plugins,
            replace,
            enrichment,
            mut config,
        } = self;
        match enrichment {
            Some(rule) => config.gate.rule = Some(wiring::enrichment_rule(rule)),
            None if config.gate.rule.is_none() => {
                config.gate.rule = Some(wiring::enrichment_rule(EnrichmentCriteria::default()));
            }
            None => {}
        }
        // Plugins load first: a plugin that cannot be loaded leaves nothing
        // created on disk.
        let loaded = plugins
            .iter()
            .map(|path| Ok((path.clone(), load_plugin(path)?)))
            .collect::<Result<Vec<_>, PluginError>>()?;
        // The model runs with as many threads as the engine has workers.
        let model_threads = config.workers;
        let engine = Engine::open(&dir, config).map_err(|source| OpenError::Store {
            dir: dir.clone(),
            source,
        })?;
        let semantic = Arc::new(SemanticState::new(model_threads, engine.is_primary()));
        // With a model recorded, its stage runs in tier 3 (a record that
        // cannot be read leaves it out; `kiln model list` says why), unless
        // the app gave a stage of that name.
        let app_has_semantic = stages
            .iter()
            .any(|s| s.info().name == crate::semantic::SEMANTIC_STAGE);
        if !app_has_semantic
            && let Ok(Some(record)) = crate::models::stored(&engine).map(|m| m.into_iter().next())
        {
            stages.push(Arc::new(SemanticStage::new(record, semantic.clone())));
        }
        let (index, started_afresh) = open_index(&engine).map_err(|e| match e {
            Error::Index(e) => OpenError::Search(e),
            Error::Semantic(e) => OpenError::Semantic(e),
            Error::Store(source) => OpenError::Store {
                dir: dir.clone(),
                source,
            },
        })?;
        let index = Arc::new(index);
        let extra = wiring::ExtraStages {
            app: stages,
            plugins: loaded,
            replace: &replace,
        };
        let sources = wiring::register_stages(&engine, &index, extra)?;
        if engine.is_primary() {
            // A stage new to this store, or at a new version, owes work to
            // the assets already there: queue it now, so `status` counts it
            // and the next run does it.
            engine
                .enqueue_outdated_blocking(Priority::Batch)
                .map_err(|source| OpenError::Store {
                    dir: dir.clone(),
                    source,
                })?;
        }
        Ok(Kiln {
            engine,
            index,
            sources,
            started_afresh,
            semantic,
        })
    }
}

/// A store opened with its stages and its search index: what an app
/// embeds.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use kiln::engine::{Priority, Tier, Until};
/// use kiln::{Kiln, SortBy};
/// let kiln = Kiln::builder("kiln-store").open()?;
/// let import = kiln.import("outputs", Priority::Batch).await?;
/// kiln.run_until(Until::Tier { tier: Tier::Searchable, imports: Some(vec![import]) }).await?;
/// for hit in kiln.search("lighthouse", SortBy::Relevance, 10)?.hits {
///     println!("{}", hit.path);
/// }
/// kiln.shutdown().await?;
/// # Ok(()) }
/// ```
///
/// The handle owns the index: open one handle per store per process (a
/// second handle on the same store is a client of the first and cannot
/// write the index). Shut it down with [`Kiln::shutdown`], which stops the
/// workers and makes the index durable; dropping it without that leaves
/// the index to catch up on the next open.
#[derive(Debug)]
pub struct Kiln {
    engine: Engine,
    index: Arc<SearchIndex>,
    sources: Vec<(String, StageSource)>,
    started_afresh: Option<Unusable>,
    semantic: Arc<SemanticState>,
}

/// Opens the store's search index, or starts it afresh (to be rebuilt by
/// the primary's catch-up) when it was derived from another database or
/// cannot be read. Only the primary starts it afresh: a client's index
/// folder is the primary's too.
fn open_index(engine: &Engine) -> Result<(SearchIndex, Option<Unusable>), Error> {
    let dir = index_dir(engine.store_dir());
    let owner = engine.store_id()?;
    let opened = catch_panics(|| SearchIndex::open_for(&dir, owner))
        .unwrap_or_else(|said| Ok(Err(Unusable::Damaged(said))))?;
    match opened {
        Ok(index) => Ok((index, None)),
        Err(why) if engine.is_primary() => Ok((SearchIndex::create_fresh(&dir, owner)?, Some(why))),
        Err(why) => Err(SearchError::Unusable { dir, why }.into()),
    }
}

impl Kiln {
    /// How to open the store in `dir`; `Kiln::builder(dir).open()` opens
    /// it with the built-in stages and the default enrichment rule.
    pub fn builder(dir: impl Into<PathBuf>) -> KilnBuilder {
        KilnBuilder {
            dir: dir.into(),
            stages: Vec::new(),
            plugins: Vec::new(),
            replace: Vec::new(),
            enrichment: None,
            config: Config::default(),
        }
    }

    /// The engine: imports, progress, status, assets, dead letters.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// What this handle keeps in memory for semantic search.
    pub(crate) fn semantic_state(&self) -> &Arc<SemanticState> {
        &self.semantic
    }

    /// The store's search index.
    pub fn index(&self) -> &SearchIndex {
        &self.index
    }

    /// Why opening found the search index unusable and started it afresh
    /// (rebuilt from the store by the catch-up that opening runs), if it
    /// did.
    pub fn index_started_afresh(&self) -> Option<&Unusable> {
        self.started_afresh.as_ref()
    }

    /// Runs a read of the index with its panics (damaged index files)
    /// reported as [`SearchError::Damaged`].
    pub(crate) fn read_index<T>(
        &self,
        read: impl FnOnce() -> Result<T, Error>,
    ) -> Result<T, Error> {
        catch_panics(read).unwrap_or_else(|detail| {
            Err(SearchError::Damaged {
                dir: self.index.dir().to_path_buf(),
                detail,
            }
            .into())
        })
    }

    /// Every registered stage with where it came from, built-in stages
    /// first in dependency order, then plugins.
    pub fn stage_sources(&self) -> &[(String, StageSource)] {
        &self.sources
    }

    /// Imports a folder (recursively) or a file at `priority`; returns the
    /// import id at once. See [`Engine::import_with`] for more options.
    pub async fn import(
        &self,
        path: impl AsRef<Path>,
        priority: Priority,
    ) -> Result<ImportId, EngineError> {
        self.engine
            .import_with(path, ImportOptions::new(priority))
            .await
    }

    /// Runs the workers until `until` holds, then stops them (see
    /// [`Engine::run_until`]), and makes the index current: once this
    /// returns for tier 2 or above, a search sees every asset waited for.
    ///
    /// Waiting for an import includes the earlier imports whose queued jobs
    /// it resumed (an import that finds a file unchanged whose work an
    /// earlier, interrupted import still has queued): the engine records and
    /// follows those links.
    pub async fn run_until(&self, until: Until) -> Result<(), Error> {
        self.engine.run_until(until).await?;
        self.commit_index()
    }

    /// Waits, without running workers of its own, until `until` holds (see
    /// [`Engine::wait_until`]) and makes the index current as
    /// [`Kiln::run_until`] does.
    pub async fn wait_until(&self, until: Until) -> Result<(), Error> {
        self.engine.wait_until(until).await?;
        self.commit_index()
    }

    /// Makes every index write of this process durable and visible.
    pub(crate) fn commit_index(&self) -> Result<(), Error> {
        Ok(self.index.commit()?)
    }

    /// Runs a query in kiln's syntax (`neon city model:juggernaut
    /// steps:>=30 -blurry`; an empty query matches every asset) and returns
    /// the best `limit` hits. Sees every asset whose `search-index` stage
    /// this process has run; `session:ID` terms are resolved from the
    /// sessions the index holds now, and curation terms (`rating:>=4`,
    /// `favorite:true`, `tag:keeper`, `collection:"client A"`) from the
    /// store's curation as it is at the call, whichever process set it.
    ///
    /// A query with a `~"text"` term ranks by meaning instead of `sort`:
    /// the assets the rest of the query matches that have a vector of the
    /// store's model, by the cosine of their vector to the text's
    /// embedding (in [`Hit::score`](crate::Hit::score)), best first. The
    /// model and the vectors are loaded on the first such query and kept
    /// by the handle (see [`Kiln::semantic_page`]).
    pub fn search(&self, query: &str, sort: SortBy, limit: usize) -> Result<SearchResults, Error> {
        self.search_page(query, sort, None, limit)
    }

    /// [`Kiln::search`] from the hit after `after` on (see [`After`]):
    /// one page of a longer result list, as cheap deep in the list as at
    /// its start (`total` still counts every match).
    pub fn search_page(
        &self,
        query: &str,
        sort: SortBy,
        after: Option<After>,
        limit: usize,
    ) -> Result<SearchResults, Error> {
        if let (Some(text), rest) =
            crate::semantic::split_semantic(query).map_err(crate::models::ModelError::Query)?
        {
            return self.semantic_page(&text, &rest, after, limit);
        }
        self.commit_index()?;
        self.read_index(|| search::search(&self.engine, &self.index, query, sort, after, limit))
    }

    /// The assets nearest to `asset_id` by embedding, nearest first;
    /// `None` when the asset has no embedding (not enriched, or skipped by
    /// the gate).
    pub fn similar(
        &self,
        asset_id: AssetId,
        limit: usize,
    ) -> Result<Option<Vec<Neighbour>>, Error> {
        self.commit_index()?;
        self.read_index(|| search::similar(&self.index, asset_id, limit))
    }

    /// Near-duplicates of an indexed asset: every indexed asset whose
    /// perceptual hash differs in at most
    /// [`NEAR_DUPLICATE_BITS`](crate::search::NEAR_DUPLICATE_BITS) bits,
    /// closest first.
    pub fn near_duplicates(&self, asset_id: AssetId) -> Result<Vec<AssetId>, Error> {
        self.commit_index()?;
        self.read_index(|| search::near_duplicates(&self.index, asset_id))
    }

    /// Every session (assets made close together with the same generator
    /// and model), computed from what the index holds now. Sessions do not
    /// depend on the order in which assets completed.
    pub fn sessions(&self) -> Result<Vec<Session>, Error> {
        self.commit_index()?;
        self.read_index(|| search::sessions(&self.index))
    }

    /// Quality, session and near-duplicates of an asset, as `kiln show`
    /// presents them. Best effort: a part that cannot be read is left
    /// empty. Bounded work: no other asset's facts are decoded.
    pub fn enrichment(&self, detail: &AssetDetail) -> Enrichment {
        catch_panics(|| search::enrichment(&self.index, detail)).unwrap_or_else(|_| Enrichment {
            quality: detail
                .stages
                .get(kiln_stages::score::SCORE_STAGE_NAME)
                .and_then(|s| s.facts.clone()),
            session: None,
            near_duplicates: Vec::new(),
        })
    }

    /// Brings the index up to what the store recorded, reading every asset
    /// only when the cheap checks cannot prove it current. Opening a
    /// primary handle does this already.
    pub fn catch_up(&self) -> Result<CatchUp, Error> {
        self.read_index(|| search::catch_up(&self.engine, &self.index))
    }

    /// Compares the index with the store, asset by asset (`kiln check`);
    /// changes nothing.
    pub fn index_health(&self) -> Result<IndexHealth, Error> {
        self.commit_index()?;
        self.read_index(|| search::index_health(&self.engine, &self.index))
    }

    /// Re-creates the index from the store: every active asset whose
    /// `search-index` stage is done (`kiln reindex`).
    pub fn reindex(&self) -> Result<CatchUp, Error> {
        search::rebuild(&self.engine, &self.index)
    }

    /// Stops workers and folder walks, closes the store (every lease is
    /// released) and commits the index, releasing its writer so another
    /// process may write.
    pub async fn shutdown(self) -> Result<(), SearchError> {
        self.engine.shutdown().await;
        self.index.close_writer()
    }
}
