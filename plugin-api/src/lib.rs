//! The stable surface for kiln stage authors.
//!
//! A *stage* is one step of enrichment that kiln runs for every asset: hashing,
//! thumbnailing, metadata extraction, embedding, scoring. Built-in stages and
//! plugin stages implement the same [`Stage`] trait; the engine only ever sees
//! that trait, which is what makes every stage swappable.
//!
//! This crate depends on nothing heavier than `serde` and `postcard`, and its
//! types change only by adding. Messages that cross the plugin boundary are
//! postcard-encoded, which is not self-describing: no type here uses
//! `#[serde(default)]`, `skip_serializing_if` or internally tagged enums.
//!
//! ```
//! use kiln_plugin_api::{Stage, StageInfo, StageInput, StageOutput, StageError, Value, CostClass};
//!
//! /// Tags every asset with the length of its path. Not useful, but complete.
//! struct PathLength;
//!
//! impl Stage for PathLength {
//!     fn info(&self) -> StageInfo {
//!         StageInfo::new("path-length", 1, 3).after(["hash"]).cost(CostClass::Io)
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
pub mod envelope;
pub mod ffi;
pub mod log;
mod value;

pub use ffi::{OpenError, PluginStage};
pub use value::Value;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// What a stage mostly spends: the engine limits concurrency per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CostClass {
    /// Mostly waiting on the file system; cheap on CPU.
    Io,
    /// CPU-bound (decoding, resizing, scoring); run at most one per core.
    Cpu,
}

/// What a stage declares about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageInfo {
    /// Unique name, e.g. `"thumbnail"`. A plugin with the same name as a
    /// built-in stage may replace it when asked to.
    pub name: String,
    /// Bumping the version lets kiln re-run only this stage on existing assets.
    pub version: u32,
    /// 1 browsable, 2 searchable, 3 enriched.
    pub tier: u8,
    /// Names of the stages that must have finished for an asset before this
    /// stage runs on it. A stage with no predecessors runs first.
    pub after: Vec<String>,
    /// Whether the stage is CPU- or I/O-bound.
    pub cost: CostClass,
    /// Whether the stage reads the proxy image made in tier 1.
    pub needs_proxy: bool,
    /// Whether one instance may process several inputs at the same time. When
    /// false the host never calls [`Stage::process`] concurrently.
    pub concurrent: bool,
}

impl StageInfo {
    /// A stage with no predecessors, CPU-bound, concurrent, not needing the proxy.
    pub fn new(name: impl Into<String>, version: u32, tier: u8) -> Self {
        StageInfo {
            name: name.into(),
            version,
            tier,
            after: Vec::new(),
            cost: CostClass::Cpu,
            needs_proxy: false,
            concurrent: true,
        }
    }

    /// Sets the stages this one runs after.
    pub fn after<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.after = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the cost class.
    pub fn cost(mut self, cost: CostClass) -> Self {
        self.cost = cost;
        self
    }

    /// Marks the stage as reading the proxy image.
    pub fn needs_proxy(mut self, needs_proxy: bool) -> Self {
        self.needs_proxy = needs_proxy;
        self
    }

    /// Marks whether one instance may process concurrently.
    pub fn concurrent(mut self, concurrent: bool) -> Self {
        self.concurrent = concurrent;
        self
    }
}

/// Everything a stage is given about one asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageInput {
    /// The engine's id of the asset.
    pub asset_id: u64,
    /// The file the asset was imported from.
    pub path: String,
    /// blake3 of the file's content, once a stage has established it.
    pub content_hash: Option<[u8; 32]>,
    /// The proxy image of the asset, once a stage has produced one.
    pub proxy_path: Option<String>,
    /// Facts written by earlier stages for this asset, by stage name.
    pub facts: BTreeMap<String, Value>,
}

impl StageInput {
    /// An input for a file with nothing known about it yet.
    pub fn for_path(asset_id: u64, path: impl Into<String>) -> Self {
        StageInput {
            asset_id,
            path: path.into(),
            content_hash: None,
            proxy_path: None,
            facts: BTreeMap::new(),
        }
    }
}

/// Bytes a stage wants stored with the asset, content-addressed by the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// What the bytes are, e.g. [`THUMBNAIL_ARTIFACT`] or [`PROXY_ARTIFACT`].
    pub name: String,
    /// The media type of the bytes, e.g. `image/webp`.
    pub media_type: String,
    /// The content.
    pub bytes: Vec<u8>,
}

/// What a stage produced for one asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageOutput {
    /// The facts, as a value tree (usually a map).
    pub facts: Value,
    /// Bytes to store with the asset.
    pub artifacts: Vec<Artifact>,
    /// The asset's content identity, when this stage establishes it (the hash
    /// stage does). The engine uses it to merge duplicates: a second file with
    /// the same content becomes another path of the existing asset and skips
    /// every later stage.
    pub content_hash: Option<[u8; 32]>,
}

impl StageOutput {
    /// An output with facts only.
    pub fn facts(facts: Value) -> Self {
        StageOutput {
            facts,
            artifacts: Vec::new(),
            content_hash: None,
        }
    }

    /// Adds an artifact.
    pub fn with_artifact(
        mut self,
        name: impl Into<String>,
        media_type: impl Into<String>,
        bytes: Vec<u8>,
    ) -> Self {
        self.artifacts.push(Artifact {
            name: name.into(),
            media_type: media_type.into(),
            bytes,
        });
        self
    }

    /// Declares the asset's content identity.
    pub fn with_content_hash(mut self, hash: [u8; 32]) -> Self {
        self.content_hash = Some(hash);
        self
    }
}

/// Why a stage could not process an asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum StageError {
    /// Worth retrying later (a file still being written, a busy resource).
    Transient(String),
    /// Retrying cannot help (a corrupt file, an unsupported format). The job
    /// goes straight to the dead-letter table with this message.
    Permanent(String),
}

impl StageError {
    /// A transient error with a message.
    pub fn transient(message: impl Into<String>) -> Self {
        StageError::Transient(message.into())
    }

    /// A permanent error with a message.
    pub fn permanent(message: impl Into<String>) -> Self {
        StageError::Permanent(message.into())
    }

    /// The message a person reads.
    pub fn message(&self) -> &str {
        match self {
            StageError::Transient(m) | StageError::Permanent(m) => m,
        }
    }

    /// Whether retrying may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, StageError::Transient(_))
    }
}

impl std::fmt::Display for StageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StageError::Transient(m) => write!(f, "transient: {m}"),
            StageError::Permanent(m) => write!(f, "permanent: {m}"),
        }
    }
}

impl std::error::Error for StageError {}

/// One step of enrichment, run by the engine once per asset.
///
/// Implementations must be cheap to call concurrently unless
/// [`StageInfo::concurrent`] is false. `process` must not panic on any input;
/// if it does anyway, the engine fails that job and keeps serving the others.
pub trait Stage: Send + Sync + 'static {
    /// What the stage declares about itself. Called once, at registration.
    fn info(&self) -> StageInfo;

    /// Processes one asset.
    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError>;
}
