//! kiln's search index: generation parameters, paths and tier-3 results in a
//! tantivy index that is derived from the store and can always be rebuilt.
//!
//! - [`SearchIndex`] owns the index folder (inside the store folder, see
//!   [`index_dir`]): writing, committing and querying.
//! - [`AssetDoc`] is what one asset contributes, built from its stage facts
//!   by [`AssetDoc::from_facts`]; the same function serves the stage, a
//!   rebuild and the catch-up after a crash, so they cannot disagree.
//! - [`SearchIndexStage`] (tier 2, after `metadata`) indexes an asset as soon
//!   as it is searchable; [`SearchEnrichStage`] (tier 3, after `embed`,
//!   `score` and `cluster`) re-indexes it with its quality score, embedding
//!   and session features.
//! - [`parse_query`] turns `neon city model:juggernaut steps:>=30 -blurry`
//!   into a query; [`VectorSet`] answers nearest-neighbour questions over
//!   the embeddings.
//!
//! This crate depends on `kiln-plugin-api` and tantivy only: it never sees
//! the engine. Whoever wires it (the `kiln` package) decides when to commit,
//! rebuild and catch up.
#![deny(missing_docs)]

mod doc;
mod error;
mod index;
mod query;
mod similar;
mod stage;

pub use doc::{AssetDoc, DATE_FACT};
pub use error::SearchError;
pub use index::{
    After, Hit, IndexedState, OWNER_FILE, SearchIndex, SearchResults, SessionEntry, SortBy,
    Unusable, index_dir,
};
pub use query::{CurationTerm, ParsedQuery, QueryError, Resolved, parse_query};
pub use similar::{Neighbour, VectorSet};
pub use stage::{SEARCH_ENRICH_STAGE, SEARCH_INDEX_STAGE, SearchEnrichStage, SearchIndexStage};
