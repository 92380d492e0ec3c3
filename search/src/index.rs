//! The index folder: opening, writing, committing, querying.

use crate::doc::{AssetDoc, Fields, vector_from_bytes};
use crate::error::SearchError;
use crate::query::{ParsedQuery, parse_query};
use crate::similar::VectorSet;
use kiln_plugin_api::AssetId;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tantivy::collector::{Count, FilterCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{AllQuery, Query};
use tantivy::schema::Value as _;
use tantivy::{
    DocAddress, DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, Searcher,
    SegmentReader, Term,
};

/// The folder of the index inside a store folder.
pub fn index_dir(store_dir: &Path) -> PathBuf {
    store_dir.join("search")
}

const WRITER_MEMORY: usize = 32 << 20;
/// Uncommitted documents are committed once this many are waiting…
const COMMIT_EVERY_DOCS: u64 = 2000;
/// …or once the oldest has waited this long.
const COMMIT_EVERY: Duration = Duration::from_secs(2);

/// How search results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SortBy {
    /// Best text match first (BM25); filters alone rank equally.
    #[default]
    Relevance,
    /// Newest file first.
    Date,
    /// Highest quality score first.
    Score,
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The asset id.
    pub id: AssetId,
    /// Its first path.
    pub path: String,
    /// The ranking value: BM25 relevance, the date (seconds) or the quality
    /// score. Never NaN: a hit without a date or a quality score (not
    /// enriched yet, or skipped by the gate) has `f64::NEG_INFINITY`, below
    /// every real value, as it is ranked last.
    pub score: f64,
}

/// Where a page of hits continues: after the hit with this ranking value
/// and id, the last of the page before. Hits are ordered by ranking value,
/// then by id, both descending, so a listing read page by page misses and
/// repeats nothing even where values tie, and a deep page costs what the
/// first one does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct After {
    /// The [`Hit::score`] of the last hit before the page.
    pub score: f64,
    /// Its id.
    pub id: AssetId,
}

impl From<&Hit> for After {
    fn from(hit: &Hit) -> After {
        After {
            score: hit.score,
            id: hit.id,
        }
    }
}

/// A page of results and how many matched in all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchResults {
    /// Every matching asset, not only those returned.
    pub total: usize,
    /// The best `limit` hits.
    pub hits: Vec<Hit>,
}

/// One asset's session features as the index holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEntry {
    /// The asset id.
    pub id: AssetId,
    /// Seconds since the Unix epoch, when known.
    pub time: Option<i64>,
    /// Generator and model, lowercased (`comfyui|juggernautxl`).
    pub family: String,
}

/// What the index holds for one asset: whether tier-3 results are in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexedState {
    /// Score or embedding present.
    pub enriched: bool,
}

/// What a search ranks by: a sort of the index's own, or a value per
/// asset given by the caller.
enum Ranking {
    Sort(SortBy),
    Given(Arc<dyn Fn(AssetId) -> Option<f64> + Send + Sync>),
}

struct PendingWrites {
    writer: Option<IndexWriter>,
    docs: u64,
    since: Option<Instant>,
}

/// The search index of one store. Share it behind an `Arc`: writes are
/// serialised inside, reads are concurrent.
pub struct SearchIndex {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    fields: Fields,
    pending: Mutex<PendingWrites>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("dir", &self.dir)
            .finish()
    }
}

/// The file in an index folder naming the store the index was derived
/// from (the store id, in decimal).
pub const OWNER_FILE: &str = "kiln-store-id";

/// Why [`SearchIndex::open_for`] found the index folder unusable, so that
/// it must be started afresh and rebuilt from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unusable {
    /// It was derived from another store (or from a database since emptied
    /// or replaced): its ids mean other assets.
    OtherStore,
    /// Its files cannot be read.
    Damaged(String),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::OtherStore => f.write_str("it was built from another database"),
            Unusable::Damaged(why) => write!(f, "its files are damaged: {why}"),
        }
    }
}

impl SearchIndex {
    /// Opens the index in `dir` for the store whose id is `owner`, creating
    /// it (stamped with `owner`) if needed. `Ok(Err(_))` says why the index
    /// there may not be used: derived from another store, or unreadable;
    /// [`SearchIndex::create_fresh`] then starts it afresh. An index written
    /// before indexes were stamped is taken as the store's own and stamped.
    pub fn open_for(dir: &Path, owner: u64) -> Result<Result<SearchIndex, Unusable>, SearchError> {
        let stamp = dir.join(OWNER_FILE);
        match std::fs::read_to_string(&stamp) {
            Ok(text) if text.trim() != owner.to_string() => return Ok(Err(Unusable::OtherStore)),
            _ => {}
        }
        let index = match SearchIndex::open(dir) {
            Ok(index) => index,
            Err(SearchError::Open { message, .. }) => {
                return Ok(Err(Unusable::Damaged(message)));
            }
            Err(other) => return Err(other),
        };
        if !stamp.exists() {
            write_stamp(dir, owner)?;
        }
        Ok(Ok(index))
    }

    /// Removes whatever `dir` holds and creates an empty index there,
    /// stamped with `owner`. The index is derived data: the store rebuilds
    /// it.
    pub fn create_fresh(dir: &Path, owner: u64) -> Result<SearchIndex, SearchError> {
        let open_err = |message: String| SearchError::Open {
            dir: dir.to_path_buf(),
            message,
        };
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(open_err(format!("cannot remove the old index: {e}"))),
        }
        let index = SearchIndex::open(dir)?;
        write_stamp(dir, owner)?;
        Ok(index)
    }

    /// Opens the index in `dir`, creating it if needed. Several processes
    /// may open one index; only one at a time writes. An index written with
    /// another schema is cleared (it is derived data); check
    /// [`SearchIndex::len`] and rebuild from the store when it is empty.
    pub fn open(dir: &Path) -> Result<SearchIndex, SearchError> {
        let open_err = |message: String| SearchError::Open {
            dir: dir.to_path_buf(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let (schema, fields) = Fields::schema();
        let open = || -> Result<Index, tantivy::TantivyError> {
            let directory = MmapDirectory::open(dir)?;
            Index::open_or_create(directory, schema.clone())
        };
        let index = match open() {
            Ok(index) => index,
            // Written with another schema: derived data, so start afresh.
            Err(tantivy::TantivyError::SchemaError(_)) => {
                std::fs::remove_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
                std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
                open().map_err(|e| open_err(e.to_string()))?
            }
            Err(e) => return Err(open_err(e.to_string())),
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e: tantivy::TantivyError| open_err(e.to_string()))?;
        Ok(SearchIndex {
            dir: dir.to_path_buf(),
            index,
            reader,
            fields,
            pending: Mutex::new(PendingWrites {
                writer: None,
                docs: 0,
                since: None,
            }),
        })
    }

    /// The index folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(&self, action: &'static str, e: impl std::fmt::Display) -> SearchError {
        let message = e.to_string();
        // tantivy wraps the I/O error in its own types and keeps only its
        // text: a full disk is known by what the operating system said.
        if message.contains("StorageFull") || message.contains("No space left on device") {
            return SearchError::DiskFull {
                dir: self.dir.clone(),
            };
        }
        SearchError::Index {
            action,
            dir: self.dir.clone(),
            message,
        }
    }

    fn with_writer<T>(
        &self,
        f: impl FnOnce(&mut PendingWrites) -> Result<T, SearchError>,
    ) -> Result<T, SearchError> {
        let mut pending = self
            .pending
            .lock()
            .map_err(|_| self.err("locking", "a writer thread panicked"))?;
        if pending.writer.is_none() {
            let writer = self
                .index
                .writer_with_num_threads(1, WRITER_MEMORY)
                .map_err(|e| match e {
                    tantivy::TantivyError::LockFailure(..) => SearchError::Locked {
                        dir: self.dir.clone(),
                    },
                    other => self.err("opening the writer", other),
                })?;
            pending.writer = Some(writer);
        }
        f(&mut pending)
    }

    /// Adds or replaces the document of `doc.id`. Not visible to searches
    /// until committed; [`SearchIndex::commit_if_due`] commits in batches.
    pub fn upsert(&self, doc: &AssetDoc) -> Result<(), SearchError> {
        let document = self.fields.document(doc);
        self.with_writer(|p| {
            let Some(writer) = p.writer.as_ref() else {
                return Err(self.err("writing", "no writer"));
            };
            writer.delete_term(Term::from_field_u64(self.fields.id, doc.id.get()));
            writer
                .add_document(document)
                .map_err(|e| self.err("adding a document", e))?;
            p.docs += 1;
            p.since.get_or_insert_with(Instant::now);
            Ok(())
        })
    }

    /// Removes an asset's document (a duplicate or superseded asset).
    pub fn remove(&self, id: AssetId) -> Result<(), SearchError> {
        self.with_writer(|p| {
            if let Some(writer) = p.writer.as_ref() {
                writer.delete_term(Term::from_field_u64(self.fields.id, id.get()));
                p.docs += 1;
                p.since.get_or_insert_with(Instant::now);
            }
            Ok(())
        })
    }

    /// Removes every document (before a rebuild).
    pub fn clear(&self) -> Result<(), SearchError> {
        self.with_writer(|p| {
            if let Some(writer) = p.writer.as_mut() {
                writer
                    .delete_all_documents()
                    .map_err(|e| self.err("clearing", e))?;
                p.docs += 1;
                p.since.get_or_insert_with(Instant::now);
            }
            Ok(())
        })
    }

    /// Commits pending writes when enough are waiting or the oldest has
    /// waited long enough. Returns whether it committed.
    pub fn commit_if_due(&self) -> Result<bool, SearchError> {
        let due = self
            .pending
            .lock()
            .map(|p| {
                p.docs >= COMMIT_EVERY_DOCS || p.since.is_some_and(|s| s.elapsed() >= COMMIT_EVERY)
            })
            .unwrap_or(false);
        if due {
            self.commit()?;
        }
        Ok(due)
    }

    /// Makes every pending write durable and visible. Cheap when nothing is
    /// pending.
    pub fn commit(&self) -> Result<(), SearchError> {
        let mut pending = self
            .pending
            .lock()
            .map_err(|_| self.err("locking", "a writer thread panicked"))?;
        if pending.docs == 0 {
            return Ok(());
        }
        if let Some(writer) = pending.writer.as_mut() {
            writer.commit().map_err(|e| self.err("commit", e))?;
        }
        pending.docs = 0;
        pending.since = None;
        drop(pending);
        self.reader.reload().map_err(|e| self.err("reload", e))
    }

    /// Releases the writer lock (after committing), so another process may write.
    pub fn close_writer(&self) -> Result<(), SearchError> {
        self.commit()?;
        if let Ok(mut p) = self.pending.lock()
            && let Some(writer) = p.writer.take()
        {
            writer
                .wait_merging_threads()
                .map_err(|e| self.err("merging", e))?;
        }
        Ok(())
    }

    fn searcher(&self) -> Result<Searcher, SearchError> {
        // Another process may have committed since this handle last looked.
        self.reader.reload().map_err(|e| self.err("reload", e))?;
        Ok(self.reader.searcher())
    }

    /// How many assets are indexed (committed).
    pub fn len(&self) -> Result<u64, SearchError> {
        Ok(self.searcher()?.num_docs())
    }

    /// Whether no asset is indexed.
    pub fn is_empty(&self) -> Result<bool, SearchError> {
        Ok(self.len()? == 0)
    }

    /// Every indexed asset id with what its document holds.
    pub fn indexed(&self) -> Result<HashMap<AssetId, IndexedState>, SearchError> {
        let mut out = HashMap::new();
        self.each_id_with("enriched", "reading enrichment flags", |id, enriched| {
            let enriched = enriched.unwrap_or(0) != 0;
            out.insert(id, IndexedState { enriched });
        })?;
        Ok(out)
    }

    /// Calls `each` with the id of every live document and the first value
    /// of its u64 fast field `field`; reads no document.
    fn each_id_with(
        &self,
        field: &str,
        action: &'static str,
        mut each: impl FnMut(AssetId, Option<u64>),
    ) -> Result<(), SearchError> {
        let searcher = self.searcher()?;
        for segment in searcher.segment_readers() {
            let fast = segment.fast_fields();
            let ids = fast.u64("id").map_err(|e| self.err("reading ids", e))?;
            let values = fast.u64(field).map_err(|e| self.err(action, e))?;
            for doc in segment.doc_ids_alive() {
                if let Some(id) = ids.first(doc) {
                    each(AssetId::new(id), values.first(doc));
                }
            }
        }
        Ok(())
    }

    /// Runs a query in kiln's syntax (see [`parse_query`]). A `session:`
    /// term matches nothing unless resolved first: see
    /// [`SearchIndex::search_parsed`].
    pub fn search(
        &self,
        query: &str,
        sort: SortBy,
        limit: usize,
    ) -> Result<SearchResults, SearchError> {
        self.search_parsed(&parse_query(query)?, sort, limit)
    }

    /// Runs a parsed query, e.g. one whose `session:` terms were resolved
    /// with [`ParsedQuery::resolve_sessions`].
    pub fn search_parsed(
        &self,
        parsed: &ParsedQuery,
        sort: SortBy,
        limit: usize,
    ) -> Result<SearchResults, SearchError> {
        self.search_page(parsed, sort, None, limit)
    }

    /// Like [`SearchIndex::search_parsed`], the hits ranked after `after`
    /// (see [`After`]): a page of a longer listing. `total` counts every
    /// match.
    pub fn search_page(
        &self,
        parsed: &ParsedQuery,
        sort: SortBy,
        after: Option<After>,
        limit: usize,
    ) -> Result<SearchResults, SearchError> {
        let searcher = self.searcher()?;
        let built = parsed.build(&self.index, &self.fields)?;
        self.run(&searcher, built.as_ref(), Ranking::Sort(sort), after, limit)
    }

    /// Like [`SearchIndex::search_page`], ranked by a value given from
    /// outside the index instead of a [`SortBy`]: `score(id)` for each
    /// asset the query matches (e.g. the cosine of its semantic vector to
    /// a text's), best first, ties by id descending. Assets for which
    /// `score` gives `None` are left out of the hits and of `total`.
    pub fn search_scored<F>(
        &self,
        parsed: &ParsedQuery,
        score: F,
        after: Option<After>,
        limit: usize,
    ) -> Result<SearchResults, SearchError>
    where
        F: Fn(AssetId) -> Option<f64> + Send + Sync + 'static,
    {
        let searcher = self.searcher()?;
        let built = parsed.build(&self.index, &self.fields)?;
        self.run(
            &searcher,
            built.as_ref(),
            Ranking::Given(Arc::new(score)),
            after,
            limit,
        )
    }

    /// The session features of every indexed asset whose `cluster` results
    /// are in its document; with `family`, only the assets of that family.
    /// Reads only fast fields (no document is loaded), so it stays cheap
    /// for a large store.
    pub fn session_entries(&self, family: Option<&str>) -> Result<Vec<SessionEntry>, SearchError> {
        let searcher = self.searcher()?;
        let mut out = Vec::new();
        for segment in searcher.segment_readers() {
            let fast = segment.fast_fields();
            let fail = |e: &dyn std::fmt::Display| self.err("reading session features", e);
            let ids = fast.u64("id").map_err(|e| fail(&e))?;
            let times = fast.i64("session_time").map_err(|e| fail(&e))?;
            let Some(families) = fast.str("family").map_err(|e| fail(&e))? else {
                continue;
            };
            let wanted = match family {
                Some(name) => match families.dictionary().term_ord(name).map_err(|e| fail(&e))? {
                    Some(ord) => Some(ord),
                    None => continue,
                },
                None => None,
            };
            let mut names: HashMap<u64, String> = HashMap::new();
            for doc in segment.doc_ids_alive() {
                let (Some(ord), Some(id)) = (families.ords().first(doc), ids.first(doc)) else {
                    continue;
                };
                if wanted.is_some_and(|w| w != ord) {
                    continue;
                }
                let name = match names.get(&ord) {
                    Some(name) => name.clone(),
                    None => {
                        let mut name = String::new();
                        families.ord_to_str(ord, &mut name).map_err(|e| fail(&e))?;
                        names.insert(ord, name.clone());
                        name
                    }
                };
                out.push(SessionEntry {
                    id: AssetId::new(id),
                    time: times.first(doc),
                    family: name,
                });
            }
        }
        Ok(out)
    }

    /// The perceptual hash of every indexed asset that has one, as
    /// `(id, hash)`. Reads two fast fields: a scan of 100,000 assets is a
    /// few milliseconds, and unlike a nearest-neighbour list it misses no
    /// asset whose hash is close.
    pub fn phashes(&self) -> Result<Vec<(AssetId, u64)>, SearchError> {
        let mut out = Vec::new();
        self.each_id_with("phash", "reading hashes", |id, hash| {
            if let Some(hash) = hash {
                out.push((id, hash));
            }
        })?;
        Ok(out)
    }

    /// Every indexed asset, in the given order.
    pub fn all(&self, sort: SortBy, limit: usize) -> Result<SearchResults, SearchError> {
        let searcher = self.searcher()?;
        self.run(&searcher, &AllQuery, Ranking::Sort(sort), None, limit)
    }

    fn run(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        ranking: Ranking,
        after: Option<After>,
        limit: usize,
    ) -> Result<SearchResults, SearchError> {
        // The collector allocates for `limit` hits: it may not ask for more
        // than the index holds (a limit from a request could be any number).
        let docs = usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX);
        let limit = limit.min(docs).max(1);
        let after = after.map(|a| (a.score, a.id.get()));
        let given = match &ranking {
            Ranking::Given(score) => Some(score.clone()),
            Ranking::Sort(_) => None,
        };
        let sort = match ranking {
            Ranking::Sort(sort) => Some(sort),
            Ranking::Given(_) => None,
        };
        // Every hit is ranked by (value, id): the id breaks ties, so that a
        // page can start exactly after the last hit of the one before.
        // Hits at or before `after` get no key and sort below all others.
        let ranked_by = given.clone();
        let top = TopDocs::with_limit(limit).tweak_score(move |segment: &SegmentReader| {
            let fast = segment.fast_fields();
            let ids = fast.u64("id").ok();
            let dates = matches!(sort, Some(SortBy::Date))
                .then(|| fast.i64("date").ok())
                .flatten();
            let quality = matches!(sort, Some(SortBy::Score))
                .then(|| fast.f64("quality").ok())
                .flatten();
            let given = ranked_by.clone();
            move |doc: DocId, relevance: Score| -> Option<(f64, u64)> {
                let id = ids.as_ref()?.first(doc)?;
                let value = match (&given, sort) {
                    (Some(score), _) => score(AssetId::new(id)),
                    (None, Some(SortBy::Date)) => {
                        dates.as_ref().and_then(|d| d.first(doc)).map(|d| d as f64)
                    }
                    (None, Some(SortBy::Score)) => quality.as_ref().and_then(|q| q.first(doc)),
                    (None, _) => Some(f64::from(relevance)),
                };
                let key = (
                    value.filter(|v| !v.is_nan()).unwrap_or(f64::NEG_INFINITY),
                    id,
                );
                match after {
                    Some(after) if key >= after => None,
                    _ => Some(key),
                }
            }
        });
        let (total, ranked) = match given {
            // Assets without a given value are not hits at all: counted
            // out as well as ranked out.
            Some(score) => searcher.search(
                query,
                &FilterCollector::new(
                    "id".to_owned(),
                    move |id: u64| score(AssetId::new(id)).is_some(),
                    (Count, top),
                ),
            ),
            None => searcher.search(query, &(Count, top)),
        }
        .map_err(|e| self.err("search", e))?;
        let ranked: Vec<(f64, DocAddress)> = ranked
            .into_iter()
            .filter_map(|(key, address)| Some((key?.0, address)))
            .collect();
        let mut hits = Vec::with_capacity(ranked.len());
        for (score, address) in ranked.into_iter().take(limit) {
            let doc: tantivy::TantivyDocument = searcher
                .doc(address)
                .map_err(|e| self.err("reading a hit", e))?;
            let id = doc.get_first(self.fields.id).and_then(|v| v.as_u64());
            let path = doc
                .get_first(self.fields.path)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned();
            if let Some(id) = id {
                hits.push(Hit {
                    id: AssetId::new(id),
                    path,
                    score,
                });
            }
        }
        Ok(SearchResults { total, hits })
    }

    /// Every indexed embedding, for nearest-neighbour queries.
    pub fn vectors(&self) -> Result<VectorSet, SearchError> {
        let searcher = self.searcher()?;
        let mut set = VectorSet::default();
        let mut buffer = Vec::new();
        for segment in searcher.segment_readers() {
            let fast = segment.fast_fields();
            let ids = fast.u64("id").map_err(|e| self.err("reading ids", e))?;
            let phashes = fast
                .u64("phash")
                .map_err(|e| self.err("reading hashes", e))?;
            let Some(vectors) = fast
                .bytes("embedding")
                .map_err(|e| self.err("reading embeddings", e))?
            else {
                continue;
            };
            for doc in segment.doc_ids_alive() {
                let (Some(id), Some(ord)) = (ids.first(doc), vectors.ords().first(doc)) else {
                    continue;
                };
                buffer.clear();
                vectors
                    .ord_to_bytes(ord, &mut buffer)
                    .map_err(|e| self.err("reading embeddings", e))?;
                set.insert(
                    AssetId::new(id),
                    &vector_from_bytes(&buffer),
                    phashes.first(doc),
                );
            }
        }
        Ok(set)
    }
}

/// Records, durably, which store the index in `dir` is derived from.
fn write_stamp(dir: &Path, owner: u64) -> Result<(), SearchError> {
    let fail = |e: std::io::Error| SearchError::Open {
        dir: dir.to_path_buf(),
        message: format!("cannot write {OWNER_FILE}: {e}"),
    };
    // Another process opening the same new index may stamp it at the same
    // time, with the same id: each writes its own temporary file.
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temp = dir.join(format!("{OWNER_FILE}.{}-{n}.tmp", std::process::id()));
    std::fs::write(&temp, format!("{owner}\n")).map_err(fail)?;
    std::fs::File::open(&temp)
        .and_then(|f| f.sync_all())
        .map_err(fail)?;
    std::fs::rename(&temp, dir.join(OWNER_FILE)).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: u64, quality: Option<f64>, date: Option<i64>, prompt: &str) -> AssetDoc {
        AssetDoc {
            id: AssetId::new(id),
            path: format!("/images/{id}.png"),
            generator: None,
            prompt: Some(prompt.to_owned()),
            negative_prompt: None,
            model: None,
            loras: Vec::new(),
            sampler: None,
            scheduler: None,
            seed: None,
            steps: None,
            cfg: None,
            width: None,
            height: None,
            date,
            quality,
            embedding: None,
            phash: None,
            session_family: None,
            session_time: None,
            nodes: Vec::new(),
            graph_strings: Vec::new(),
        }
    }

    /// Reads a whole listing `page` hits at a time, each page starting after
    /// the last hit of the one before.
    fn by_pages(index: &SearchIndex, query: &str, sort: SortBy, page: usize) -> Vec<(u64, f64)> {
        let parsed = parse_query(query).unwrap();
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let found = index.search_page(&parsed, sort, after, page).unwrap();
            out.extend(found.hits.iter().map(|h| (h.id.get(), h.score)));
            match found.hits.last() {
                Some(last) if found.hits.len() == page => after = Some(After::from(last)),
                _ => return out,
            }
        }
    }

    #[test]
    fn pages_continue_after_the_last_hit_through_ties_and_missing_values() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::create_fresh(dir.path(), 1).unwrap();
        // Many ties on each value, some assets with no score or date, and
        // the documents written in an order unrelated to their ids.
        for n in 0..300u64 {
            let id = (n * 7919) % 300 + 1;
            let quality = (id % 5 != 0).then_some((id % 4) as f64 * 10.0);
            let date = (id % 6 != 0).then_some(1_700_000_000 + (id % 3) as i64);
            let prompt = if id % 2 == 0 {
                "lighthouse at dusk"
            } else {
                "red car"
            };
            index.upsert(&doc(id, quality, date, prompt)).unwrap();
            if n == 150 {
                index.commit().unwrap(); // two segments
            }
        }
        index.commit().unwrap();
        for (query, sort) in [
            ("", SortBy::Score),
            ("", SortBy::Date),
            ("", SortBy::Relevance),
            ("lighthouse", SortBy::Relevance),
            ("lighthouse", SortBy::Score),
        ] {
            let whole = by_pages(&index, query, sort, 1000);
            let expected = if query.is_empty() { 300 } else { 150 };
            assert_eq!(whole.len(), expected, "{query:?} {sort:?}");
            // Ranked by value, then id, both descending; no value ranks last.
            for pair in whole.windows(2) {
                let ((a, sa), (b, sb)) = (pair[0], pair[1]);
                assert!(
                    sa > sb || (sa == sb && a > b),
                    "{query:?} {sort:?}: {pair:?}"
                );
            }
            if sort == SortBy::Score {
                let missing = whole
                    .iter()
                    .filter(|(_, s)| *s == f64::NEG_INFINITY)
                    .count();
                assert_eq!(missing, whole.iter().filter(|(id, _)| id % 5 == 0).count());
            }
            for page in [1, 7, 50] {
                assert_eq!(
                    by_pages(&index, query, sort, page),
                    whole,
                    "{query:?} {sort:?} by {page}"
                );
            }
        }
    }
}
