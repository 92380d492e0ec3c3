//! What a stage is given about one asset: [`StageInput`].

use crate::AssetId;
use crate::Value;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Everything a stage is given about one asset.
///
/// The host builds it with [`StageInput::for_path`] and the `with_*`
/// methods (so do tests); a stage reads the public fields. The struct is
/// `#[non_exhaustive]` so that a later version can add what a stage is
/// given without breaking any stage.
///
/// ```
/// use kiln_plugin_api::{StageInput, Value, builtin};
///
/// let input = StageInput::for_path(7, "/out/a.png")
///     .with_content_hash([1; 32])
///     .with_proxy_path("/store/blobs/ab/cd.jpg")
///     .with_stage_facts(builtin::HASH, Value::map([("size", Value::from(1024u64))]));
/// assert_eq!(input.path, "/out/a.png");
/// assert_eq!(input.proxy_path.as_deref(), Some("/store/blobs/ab/cd.jpg"));
/// assert_eq!(input.fact(builtin::HASH, ["size"]).and_then(Value::as_u64), Some(1024));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StageInput {
    /// The engine's id of the asset (as a type: [`StageInput::asset`]).
    pub asset_id: u64,
    /// The file the asset was imported from.
    pub path: String,
    /// blake3 of the file's content, once a stage has established it.
    pub content_hash: Option<[u8; 32]>,
    /// The proxy image of the asset, once a stage has produced one.
    pub proxy_path: Option<String>,
    /// Facts written by earlier stages for this asset, by stage name. The
    /// shapes of the built-in stages' facts are in [`builtin`](crate::builtin).
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

    /// The asset's id.
    pub fn asset(&self) -> AssetId {
        AssetId::new(self.asset_id)
    }

    /// Sets the content hash.
    pub fn with_content_hash(mut self, hash: [u8; 32]) -> Self {
        self.content_hash = Some(hash);
        self
    }

    /// Sets the proxy image's path.
    pub fn with_proxy_path(mut self, path: impl Into<String>) -> Self {
        self.proxy_path = Some(path.into());
        self
    }

    /// Replaces the facts of earlier stages, keyed by stage name.
    pub fn with_facts(mut self, facts: BTreeMap<String, Value>) -> Self {
        self.facts = facts;
        self
    }

    /// Adds (or replaces) the facts of one earlier stage.
    pub fn with_stage_facts(mut self, stage: impl Into<String>, facts: Value) -> Self {
        self.facts.insert(stage.into(), facts);
        self
    }

    /// The value at `path` inside the facts of `stage`, if both exist; see
    /// [`Value::path`] for how the path is followed. An empty path gives the
    /// stage's whole facts.
    ///
    /// ```
    /// use kiln_plugin_api::{StageInput, Value, builtin};
    ///
    /// let generation = Value::map([("seed", Value::from(42u64))]);
    /// let input = StageInput::for_path(1, "/a.png")
    ///     .with_stage_facts(builtin::METADATA, Value::map([("generation", generation)]));
    /// let seed = input.fact(builtin::METADATA, ["generation", "seed"]);
    /// assert_eq!(seed.and_then(Value::as_u64), Some(42));
    /// assert!(input.fact(builtin::THUMBNAIL, ["width"]).is_none());
    /// ```
    pub fn fact<I, K>(&self, stage: &str, path: I) -> Option<&Value>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        self.facts.get(stage)?.path(path)
    }
}
