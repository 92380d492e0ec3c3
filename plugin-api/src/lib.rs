//! The stable surface for kiln stage authors.
//!
//! A *stage* is one step of enrichment that kiln runs for every asset: hashing,
//! thumbnailing, metadata extraction, embedding, scoring. Built-in stages and
//! plugin stages implement the same [`Stage`] trait; the engine only ever sees
//! that trait, which is what makes every stage swappable.
//!
//! What an author uses:
//! - the [`Stage`] trait and its messages: [`StageInfo`] (with [`CostClass`]),
//!   [`StageInput`], [`StageOutput`] (with [`Artifact`]), [`StageError`], and
//!   the [`Value`] fact tree;
//! - [`export_stage!`] to build a stage as a plugin (a `cdylib`);
//! - the ids kiln hands out ([`AssetId`], [`ImportId`], [`JobId`]);
//! - the tier and artifact constants ([`TIER_ENRICHED`], [`PROXY_ARTIFACT`], …);
//! - [`builtin`]: the names of kiln's built-in stages and the facts each one
//!   writes, which is what a stage that runs after them reads;
//! - [`log`]: logging that reaches the host's user from inside a plugin.
//!
//! The binary contract both sides of the plugin boundary share is in
//! [`abi`] (entry symbol, vtable layout, status codes) and [`envelope`]
//! (the versioned postcard messages); an author never needs them, since
//! [`export_stage!`] speaks them. The host side of the boundary (loading a
//! library, calling its vtable) is the engine's, in `kiln-engine`'s `plugin`
//! module.
//!
//! This crate depends on nothing heavier than `serde` and `postcard`, and its
//! types change only by adding: the message structs are `#[non_exhaustive]`
//! and built through constructors, so a new field never breaks a stage.
//! Messages that cross the plugin boundary are postcard-encoded, which is not
//! self-describing: no type here uses `#[serde(default)]`,
//! `skip_serializing_if` or internally tagged enums, and a message that gains
//! a field gets a new [`envelope`] version.
//!
//! ```
//! use kiln_plugin_api::{Stage, StageInfo, StageInput, StageOutput, StageError, Value, CostClass, builtin};
//!
//! /// Tags every asset with the length of its path. Not useful, but complete.
//! struct PathLength;
//!
//! impl Stage for PathLength {
//!     fn info(&self) -> StageInfo {
//!         StageInfo::new("path-length", 1, 3).after([builtin::HASH]).cost(CostClass::Io)
//!     }
//!
//!     fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
//!         let facts = Value::map([("length", Value::from(input.path.len() as u64))]);
//!         Ok(StageOutput::facts(facts))
//!     }
//! }
//!
//! let out = PathLength.process(&StageInput::for_path(7, "/tmp/a.png")).unwrap();
//! assert_eq!(out.facts.get("length").and_then(Value::as_u64), Some(10));
//! ```
#![deny(missing_docs)]

pub mod abi;
pub mod builtin;
pub mod envelope;
mod error;
mod ffi;
mod ids;
mod info;
mod input;
pub mod log;
mod output;
mod value;

pub use error::StageError;
pub use ids::{AssetId, ImportId, JobId};
pub use info::{CostClass, StageInfo};
pub use input::StageInput;
pub use output::{Artifact, StageOutput};
pub use value::Value;

/// What [`export_stage!`] expands to needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::ffi::export_entry;
}

/// The lowest tier: the asset is browsable (it has a thumbnail).
pub const TIER_BROWSABLE: u8 = 1;
/// The middle tier: the asset is searchable (its generation parameters are known).
pub const TIER_SEARCHABLE: u8 = 2;
/// The highest tier: the asset is enriched (similarity, quality, sessions).
pub const TIER_ENRICHED: u8 = 3;

/// The name of the artifact that holds an asset's proxy image.
///
/// A stage that produces an artifact with this name makes its path available
/// to later stages as [`StageInput::proxy_path`], so they never re-decode the
/// original file.
pub const PROXY_ARTIFACT: &str = "proxy";

/// The name of the artifact that holds an asset's browsing thumbnail.
pub const THUMBNAIL_ARTIFACT: &str = "thumbnail";

/// One step of enrichment, run by the engine once per asset.
///
/// Implementations must be cheap to call concurrently unless
/// [`StageInfo::concurrent`] is false.
///
/// # Errors
///
/// Return [`StageError::Transient`] for what waiting may fix (the engine
/// retries with backoff, then dead-letters the job after its last attempt)
/// and [`StageError::Permanent`] for what it cannot (the job is
/// dead-lettered at once, with the message).
///
/// # Panics
///
/// `process` must not panic on any input. If it panics anyway, the engine
/// treats the panic as a permanent failure of that one job, for a built-in
/// stage and a plugin stage alike: the job is dead-lettered at once, without
/// a retry (the same input would panic the same way again), and its dead
/// letter names the stage and keeps the panic message; every other job goes
/// on. A plugin's panic never unwinds across the plugin boundary
/// ([`export_stage!`] catches it). A stage that aborts the whole process
/// cannot be caught: the job is charged an attempt each time the process
/// dies with it and is dead-lettered once its attempts run out.
pub trait Stage: Send + Sync + 'static {
    /// What the stage declares about itself. Called once, at registration.
    fn info(&self) -> StageInfo;

    /// Processes one asset.
    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError>;
}
