//! What a stage produces for one asset: [`StageOutput`] and its
//! [`Artifact`]s.

use crate::Value;
use serde::{Deserialize, Serialize};

/// Bytes a stage wants stored with the asset, content-addressed by the engine.
///
/// ```
/// use kiln_plugin_api::{Artifact, THUMBNAIL_ARTIFACT};
/// let artifact = Artifact::new(THUMBNAIL_ARTIFACT, "image/jpeg", vec![0xff, 0xd8]);
/// assert_eq!(artifact.media_type, "image/jpeg");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Artifact {
    /// What the bytes are, e.g. [`THUMBNAIL_ARTIFACT`](crate::THUMBNAIL_ARTIFACT)
    /// or [`PROXY_ARTIFACT`](crate::PROXY_ARTIFACT).
    pub name: String,
    /// The media type of the bytes, e.g. `image/webp`.
    pub media_type: String,
    /// The content.
    pub bytes: Vec<u8>,
}

impl Artifact {
    /// An artifact with its name, media type and content.
    pub fn new(name: impl Into<String>, media_type: impl Into<String>, bytes: Vec<u8>) -> Self {
        Artifact {
            name: name.into(),
            media_type: media_type.into(),
            bytes,
        }
    }
}

/// What a stage produced for one asset.
///
/// Built with [`StageOutput::facts`] and the `with_*` methods; the fields
/// stay public to read. The struct is `#[non_exhaustive]` so that a later
/// version can add to what a stage may return without breaking any stage.
///
/// ```
/// use kiln_plugin_api::{StageOutput, Value};
/// let out = StageOutput::facts(Value::map([("colours", Value::from(5u64))]))
///     .with_artifact("swatch", "image/png", vec![1, 2, 3]);
/// assert_eq!(out.artifacts[0].name, "swatch");
/// assert!(out.content_hash.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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
        self,
        name: impl Into<String>,
        media_type: impl Into<String>,
        bytes: Vec<u8>,
    ) -> Self {
        self.with(Artifact::new(name, media_type, bytes))
    }

    /// Adds an artifact made beforehand.
    pub fn with(mut self, artifact: Artifact) -> Self {
        self.artifacts.push(artifact);
        self
    }

    /// Declares the asset's content identity.
    pub fn with_content_hash(mut self, hash: [u8; 32]) -> Self {
        self.content_hash = Some(hash);
        self
    }
}
