//! The stages that keep the index current as assets move through the tiers.

use crate::doc::{AssetDoc, DATE_FACT};
use crate::index::SearchIndex;
use kiln_plugin_api::{
    CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, TIER_ENRICHED,
    TIER_SEARCHABLE, Value, builtin,
};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

/// The name of the tier-3 re-indexing stage
/// ([`builtin::SEARCH_ENRICH`](kiln_plugin_api::builtin::SEARCH_ENRICH),
/// where its facts are described).
pub use kiln_plugin_api::builtin::SEARCH_ENRICH as SEARCH_ENRICH_STAGE;
/// The name of the tier-2 indexing stage
/// ([`builtin::SEARCH_INDEX`](kiln_plugin_api::builtin::SEARCH_INDEX), where
/// its facts are described).
pub use kiln_plugin_api::builtin::SEARCH_INDEX as SEARCH_INDEX_STAGE;

fn modified_seconds(path: &str) -> Option<i64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    let seconds = modified.duration_since(UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(seconds).ok()
}

fn index_error(e: crate::SearchError) -> StageError {
    // A locked or failing index is worth retrying: the asset's facts are
    // already safe in the store, only the derived index is behind.
    StageError::transient(e.to_string())
}

/// Tier 2, after `metadata`: adds the asset to the index. Its facts record
/// the file's date (see [`DATE_FACT`]) so rebuilds need not touch the file.
///
/// Documents are committed in batches ([`SearchIndex::commit_if_due`]);
/// whoever runs the engine commits the rest when it stops. Between the
/// store's commit and the index's, a crash loses index entries but no
/// facts: the catch-up on the next open re-adds them.
#[derive(Debug, Clone)]
pub struct SearchIndexStage {
    index: Arc<SearchIndex>,
}

impl SearchIndexStage {
    /// Bump when the document built from the same facts changes.
    pub const VERSION: u32 = 1;

    /// A stage writing to `index`.
    pub fn new(index: Arc<SearchIndex>) -> Self {
        SearchIndexStage { index }
    }
}

impl Stage for SearchIndexStage {
    fn info(&self) -> StageInfo {
        StageInfo::new(SEARCH_INDEX_STAGE, Self::VERSION, TIER_SEARCHABLE)
            .after([builtin::METADATA])
            .cost(CostClass::Io)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let date = modified_seconds(&input.path);
        let facts = Value::map([
            ("indexed", Value::from(true)),
            (DATE_FACT, date.map_or(Value::Null, Value::from)),
        ]);
        let mut all = input.facts.clone();
        all.insert(SEARCH_INDEX_STAGE.to_owned(), facts.clone());
        let doc = AssetDoc::from_facts(input.asset(), &input.path, &all);
        self.index.upsert(&doc).map_err(index_error)?;
        self.index.commit_if_due().map_err(index_error)?;
        Ok(StageOutput::facts(facts))
    }
}

/// Tier 3, after `embed`, `score`, `cluster` and `search-index`: re-indexes
/// the asset with its quality score, embedding and session features.
#[derive(Debug, Clone)]
pub struct SearchEnrichStage {
    index: Arc<SearchIndex>,
}

impl SearchEnrichStage {
    /// Bump when the document built from the same facts changes.
    pub const VERSION: u32 = 2;

    /// A stage writing to `index`.
    pub fn new(index: Arc<SearchIndex>) -> Self {
        SearchEnrichStage { index }
    }
}

impl Stage for SearchEnrichStage {
    fn info(&self) -> StageInfo {
        StageInfo::new(SEARCH_ENRICH_STAGE, Self::VERSION, TIER_ENRICHED)
            .after([
                builtin::EMBED,
                builtin::SCORE,
                builtin::CLUSTER,
                builtin::SEARCH_INDEX,
            ])
            .cost(CostClass::Io)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let doc = AssetDoc::from_facts(input.asset(), &input.path, &input.facts);
        self.index.upsert(&doc).map_err(index_error)?;
        self.index.commit_if_due().map_err(index_error)?;
        Ok(StageOutput::facts(Value::map([(
            "indexed",
            Value::from(true),
        )])))
    }
}
