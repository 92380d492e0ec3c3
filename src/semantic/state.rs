//! What a [`Kiln`](crate::Kiln) handle keeps in memory for semantic
//! search, shared by its queries and its `semantic` stage: the model,
//! loaded once; the store's vectors, read once and then kept current; the
//! embeddings of recent query texts (and, on disk, of the texts asked
//! before: `text_cache`).
//!
//! Keeping the vectors current:
//! - on the primary handle, whose workers run the stage, the stage puts
//!   each vector it makes into the table as it makes it, and nothing is
//!   read again;
//! - on a client handle (another process runs the workers), the table is
//!   read again when the store's count of finished `semantic` jobs moved,
//!   looked at most every [`CLIENT_RECHECK`].

use super::text_cache::TextCache;
use super::vectors::VectorTable;
use super::{Quantised, SEMANTIC_STAGE, version_of};
use crate::models::{ModelError, ModelRecord};
use kiln_clip::Clip;
use kiln_engine::{AssetId, Engine};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// How often a client handle asks the store whether vectors were added.
pub(crate) const CLIENT_RECHECK: Duration = Duration::from_secs(2);

/// How many query texts keep their embedding (a page of results and the
/// pages after it embed their text once).
const RECENT_TEXTS: usize = 64;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A query text's embedding by the model at a version of the stage.
type RecentText = (u32, String, Arc<Vec<f32>>);

/// The vectors of one model version, and how current they are.
#[derive(Debug)]
struct Loaded {
    /// The `semantic` stage's version the vectors were made at.
    version: u32,
    /// The vectors.
    table: VectorTable,
    /// Whether the store's vectors were read (else only the stage's own
    /// are in the table).
    complete: bool,
    /// The store's count of finished `semantic` jobs when read.
    done_count: u64,
    /// When a client last compared that count.
    checked: Instant,
}

impl Loaded {
    fn empty(version: u32, dims: usize) -> Self {
        Loaded {
            version,
            table: VectorTable::new(dims),
            complete: false,
            done_count: 0,
            checked: Instant::now(),
        }
    }
}

/// A handle's semantic state (see the module's documentation).
#[derive(Debug)]
pub(crate) struct SemanticState {
    threads: usize,
    primary: bool,
    model: Mutex<Option<(ModelRecord, Arc<Clip>)>>,
    /// The text side alone, loaded for queries while the whole model is
    /// not (a process that only searches); dropped once it is.
    text_model: Mutex<Option<(ModelRecord, Arc<Clip>)>>,
    vectors: RwLock<Option<Loaded>>,
    /// Serialises reading the store's vectors.
    reading: Mutex<()>,
    texts: Mutex<VecDeque<RecentText>>,
}

impl SemanticState {
    /// The state of a handle whose model runs with `threads` threads;
    /// `primary` when the handle's own workers run the stage.
    pub(crate) fn new(threads: usize, primary: bool) -> Self {
        SemanticState {
            threads: threads.max(1),
            primary,
            model: Mutex::new(None),
            text_model: Mutex::new(None),
            vectors: RwLock::new(None),
            reading: Mutex::new(()),
            texts: Mutex::new(VecDeque::new()),
        }
    }

    /// The model of `record`, loaded (its pins checked) on first use and
    /// kept.
    pub(crate) fn clip(&self, record: &ModelRecord) -> Result<Arc<Clip>, ModelError> {
        let mut model = lock(&self.model);
        if let Some((loaded, clip)) = model.as_ref()
            && loaded == record
        {
            return Ok(clip.clone());
        }
        let clip = Arc::new(record.load_for_workers(self.threads)?);
        *model = Some((record.clone(), clip.clone()));
        *lock(&self.text_model) = None;
        Ok(clip)
    }

    /// A model that embeds texts for `record`: the whole model when it is
    /// loaded, else its text side, loaded on first use and kept.
    fn text_clip(&self, record: &ModelRecord) -> Result<Arc<Clip>, ModelError> {
        if let Some((loaded, clip)) = lock(&self.model).as_ref()
            && loaded == record
        {
            return Ok(clip.clone());
        }
        let mut text_model = lock(&self.text_model);
        if let Some((loaded, clip)) = text_model.as_ref()
            && loaded == record
        {
            return Ok(clip.clone());
        }
        let clip = Arc::new(record.load_text(self.threads)?);
        *text_model = Some((record.clone(), clip.clone()));
        Ok(clip)
    }

    /// Keeps `clip` as `record`'s model (one just added and checked).
    pub(crate) fn set_clip(&self, record: &ModelRecord, clip: Arc<Clip>) {
        *lock(&self.text_model) = None;
        *lock(&self.model) = Some((record.clone(), clip));
    }

    /// Forgets the model and every vector (the model was removed).
    pub(crate) fn clear(&self) {
        *lock(&self.model) = None;
        *lock(&self.text_model) = None;
        *self.vectors.write().unwrap_or_else(PoisonError::into_inner) = None;
        lock(&self.texts).clear();
    }

    /// The unit embedding of a query text by `record`'s model, kept in
    /// memory for the recent texts and on disk beside the store
    /// ([`TextCache`]); the model loads only for a text found in neither.
    pub(crate) fn text(
        &self,
        engine: &Engine,
        record: &ModelRecord,
        text: &str,
    ) -> Result<Arc<Vec<f32>>, ModelError> {
        let version = version_of(record);
        if let Some((_, _, found)) = lock(&self.texts)
            .iter()
            .find(|(v, t, _)| *v == version && t == text)
        {
            return Ok(found.clone());
        }
        // Asked before, maybe by another process: the model need not load.
        let cache = TextCache::new(engine.store_dir(), version, record.dim);
        let embedding = match cache.get(text) {
            Some(found) => Arc::new(found),
            None => {
                let clip = self.text_clip(record)?;
                let made = clip.embed_text(text).map_err(ModelError::Embed)?;
                cache.put(text, &made);
                Arc::new(made)
            }
        };
        let mut texts = lock(&self.texts);
        if texts.len() >= RECENT_TEXTS {
            texts.pop_front();
        }
        texts.push_back((version, text.to_owned(), embedding.clone()));
        Ok(embedding)
    }

    /// Puts a vector the stage just made into the table.
    pub(crate) fn made(&self, version: u32, dims: usize, id: AssetId, vector: &Quantised) {
        let mut vectors = self.vectors.write().unwrap_or_else(PoisonError::into_inner);
        let loaded = match vectors.as_mut() {
            Some(loaded) if loaded.version == version => loaded,
            _ => vectors.insert(Loaded::empty(version, dims)),
        };
        loaded.table.insert(id, vector);
    }

    /// Runs `read` on the vectors of `record`'s model, read from the store
    /// the first time (and, on a client handle, again once the store has
    /// more).
    pub(crate) fn with_vectors<R>(
        &self,
        engine: &Engine,
        record: &ModelRecord,
        read: impl FnOnce(&VectorTable) -> R,
    ) -> Result<R, ModelError> {
        let version = version_of(record);
        if !self.is_current(engine, version)? {
            let _reading = lock(&self.reading);
            // Another query may have read them while this one waited.
            if !self.is_current(engine, version)? {
                self.read_store(engine, record, version)?;
            }
        }
        let vectors = self.vectors.read().unwrap_or_else(PoisonError::into_inner);
        Ok(match vectors.as_ref().filter(|l| l.version == version) {
            Some(loaded) => read(&loaded.table),
            // Cleared in between: the model was removed.
            None => read(&VectorTable::new(record.dim)),
        })
    }

    /// Reads every vector of `version` from the store into the table.
    fn read_store(
        &self,
        engine: &Engine,
        record: &ModelRecord,
        version: u32,
    ) -> Result<(), ModelError> {
        // The count first: a vector finished after it is read again later.
        let done_count = engine.stage_done_count(SEMANTIC_STAGE)?;
        let mut fresh = Loaded::empty(version, record.dim);
        engine.each_stage_fact(SEMANTIC_STAGE, |id, stage_version, facts| {
            if stage_version == version
                && let Some(vector) = Quantised::from_value(&facts)
            {
                fresh.table.insert(id, &vector);
            }
        })?;
        fresh.complete = true;
        fresh.done_count = done_count;
        let mut vectors = self.vectors.write().unwrap_or_else(PoisonError::into_inner);
        // On the primary, what the stage put in meanwhile is at least as
        // new as what was read: it stays.
        if self.primary
            && let Some(old) = vectors.take().filter(|l| l.version == version)
        {
            fresh.table.absorb(&old.table);
        }
        *vectors = Some(fresh);
        Ok(())
    }

    /// Whether the table is complete for `version` and current enough.
    fn is_current(&self, engine: &Engine, version: u32) -> Result<bool, ModelError> {
        let (done_count, checked) = {
            let vectors = self.vectors.read().unwrap_or_else(PoisonError::into_inner);
            match vectors.as_ref() {
                Some(l) if l.version == version && l.complete => (l.done_count, l.checked),
                _ => return Ok(false),
            }
        };
        if self.primary || checked.elapsed() < CLIENT_RECHECK {
            return Ok(true);
        }
        if engine.stage_done_count(SEMANTIC_STAGE)? != done_count {
            return Ok(false);
        }
        let mut vectors = self.vectors.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = vectors.as_mut().filter(|l| l.version == version) {
            l.checked = Instant::now();
        }
        Ok(true)
    }
}
