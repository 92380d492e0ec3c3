//! kiln: ingest bulk outputs of generative image tools — browsable at once,
//! searchable right after, enriched in the background.
//!
//! Open a store with [`Kiln::builder`]: the handle wires the engine
//! (`kiln-engine`) to the built-in stages (`kiln-stages`), any plugins, and
//! the store's search index (`kiln-search`); the engine, the stages and
//! the index know nothing of each other.
#![deny(missing_docs)]

pub use kiln_engine as engine;
pub use kiln_plugin_api as plugin_api;
pub use kiln_stages as stages;
mod handle;
/// The CLIP crate (`kiln-clip`), for the models [`Kiln::add_model`] loads.
pub use kiln_clip as clip;
pub mod cull;
pub mod curation;
pub mod models;
/// The search index crate (`kiln-search`), for the types of
/// [`Kiln::index`].
pub use kiln_search as index;
pub mod search;
pub mod semantic;
mod wiring;
pub mod xmp;

pub use handle::{Kiln, KilnBuilder};
pub use kiln_search::Unusable;
pub use kiln_stages::embed::EnrichmentCriteria;
pub use models::{ModelError, ModelRecord, PinCheck, PinnedFile};
pub use search::{
    After, CatchUp, Enrichment, Error, Hit, IndexHealth, Neighbour, QueryError, SearchError,
    SearchIndex, SearchResults, Session, SortBy,
};
pub use wiring::{OpenError, StageSource, builtin_stages, enrichment_rule};
