//! Read-only queries over one read transaction, and the public types they
//! return: status and imports, assets and their stages, the gallery's
//! pages of browsable assets, dead letters and retries, progress and
//! metrics.

pub(crate) mod assets;
pub(crate) mod browse;
pub(crate) mod curation;
pub(crate) mod failures;
pub(crate) mod health;
pub(crate) mod metrics;
pub(crate) mod progress;
pub(crate) mod status;
