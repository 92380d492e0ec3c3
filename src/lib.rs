//! kiln: ingest bulk outputs of generative image tools — browsable at once,
//! searchable right after, enriched in the background.
//!
//! This facade wires the engine (`kiln-engine`) to the built-in stages
//! (`kiln-stages`); neither of those crates depends on the other.
#![deny(missing_docs)]

pub use kiln_engine as engine;
pub use kiln_plugin_api as plugin_api;
pub use kiln_stages as stages;
pub mod corpus;
pub mod memory;
pub mod samples;
pub mod search;
mod wiring;

pub use wiring::{OpenError, StageSource, StoreOptions, builtin_stages, enrich_rule, open_store};
