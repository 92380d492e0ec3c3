//! CLIP model packs recorded in a store (`kiln model add|list|remove`).
//!
//! A pack stays where the user keeps it; the store records its folder, its
//! shape (embedding length, image size, context length) and the SHA-256 of
//! every file kiln reads from it (the *pin*), in the store's database
//! (`Engine::put_setting`, under `model/<name>`). Every later load hashes
//! the files again and refuses a pack that changed: embeddings made by
//! another model would be compared with the stored ones as if they were
//! alike. Nothing is read from anywhere but the recorded folder.

use crate::Kiln;
use crate::semantic::{SEMANTIC_STAGE, SemanticStage};
use kiln_clip::{Clip, ClipError, FileStamp, Pack, PackFile};
use kiln_engine::{AssetId, Engine, EngineError, Priority};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The prefix of the store's model records.
const KEY_PREFIX: &str = "model/";
/// The longest model name.
pub const MAX_NAME_LEN: usize = 64;
/// The largest record read back (a record is a few hundred bytes).
const MAX_RECORD_BYTES: usize = 64 << 10;

/// One file of a recorded pack and the hash it was pinned with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedFile {
    /// The path inside the pack, `/`-separated.
    pub name: String,
    /// Its size in bytes when pinned.
    pub bytes: u64,
    /// Its SHA-256 when pinned, lowercase hex.
    pub sha256: String,
    /// Its modification time when pinned (nanoseconds since the Unix
    /// epoch), if the file system said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_ns: Option<u64>,
}

/// A model pack recorded in a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRecord {
    /// The name the store knows it by.
    pub name: String,
    /// The pack's folder (absolute).
    pub dir: PathBuf,
    /// The embedding's length.
    pub dim: usize,
    /// The image model's input side, in pixels.
    pub image_size: u32,
    /// The text model's context length, in tokens.
    pub context_length: usize,
    /// Every file kiln reads, pinned.
    pub files: Vec<PinnedFile>,
}

/// How one pinned file compares with what is on disk now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinCheck {
    /// Same bytes.
    Same,
    /// Different bytes (a new SHA-256).
    Changed {
        /// The hash on disk now.
        sha256: String,
    },
    /// Cannot be read now.
    Unreadable {
        /// Why.
        reason: String,
    },
}

/// Why a model operation failed. Every message names the model, the pack's
/// folder or the file at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The pack is refused (missing or invalid file, a model ONNX Runtime
    /// cannot run), or ONNX Runtime is not available.
    #[error("the model pack in {} cannot be used: {source}", dir.display())]
    Pack {
        /// The pack's folder.
        dir: PathBuf,
        /// What is wrong.
        source: ClipError,
    },
    /// A name kiln does not take.
    #[error(
        "{name:?} is not a usable model name: give one of 1 to {MAX_NAME_LEN} letters, digits, '.', '_' or '-' (with --name)"
    )]
    BadName {
        /// The name given or derived from the folder.
        name: String,
    },
    /// The store has a model already (a store uses one).
    #[error("the store already has the model {name:?} (in {}), and uses one model at a time: remove it first with `kiln model remove {name}`", dir.display())]
    Exists {
        /// The recorded model's name.
        name: String,
        /// The recorded pack's folder.
        dir: PathBuf,
    },
    /// No model of that name.
    #[error("the store has no model named {name:?} (see `kiln model list`)")]
    Unknown {
        /// The name.
        name: String,
    },
    /// The store has no model at all.
    #[error("the store has no model: add a CLIP pack with `kiln model add DIR`")]
    NoModel,
    /// Several models and none named.
    #[error("the store has several models ({}): name one with --model", names.join(", "))]
    Ambiguous {
        /// Their names.
        names: Vec<String>,
    },
    /// A recorded pack whose files are no longer the ones pinned.
    #[error(
        "the model {name:?} in {} changed since it was added ({}): embeddings from it would not match the stored ones; restore the pack, or `kiln model remove {name}` and add it again",
        dir.display(),
        files.join("; ")
    )]
    Changed {
        /// The model's name.
        name: String,
        /// The pack's folder.
        dir: PathBuf,
        /// What changed, file by file.
        files: Vec<String>,
    },
    /// A stored record kiln cannot read.
    #[error("the store's record of model {key:?} cannot be read: {reason}")]
    Record {
        /// The record's key.
        key: String,
        /// Why.
        reason: String,
    },
    /// Reading or writing the store failed.
    #[error(transparent)]
    Store(#[from] EngineError),
    /// A `~` term the query language does not take.
    #[error("{0}")]
    Query(String),
    /// The model failed on the query's text.
    #[error("cannot embed the query's text: {0}")]
    Embed(ClipError),
}

/// Whether kiln takes `name` as a model name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name != "."
        && name != ".."
}

fn pack_error(dir: &Path, source: ClipError) -> ModelError {
    ModelError::Pack {
        dir: dir.to_path_buf(),
        source,
    }
}

impl ModelRecord {
    fn new(name: String, clip: &Clip, files: Vec<PackFile>) -> Self {
        let config = clip.pack().config();
        ModelRecord {
            name,
            dir: clip.pack().dir().to_path_buf(),
            dim: config.embed_dim,
            image_size: config.image_size,
            context_length: config.context_length,
            files: files
                .into_iter()
                .map(|f| PinnedFile {
                    name: f.name,
                    bytes: f.bytes,
                    sha256: f.sha256,
                    modified_ns: f.modified_ns,
                })
                .collect(),
        }
    }

    /// Hashes the pack's files again and compares each with its pin.
    /// Reads every byte of the models.
    pub fn check_pins(&self) -> Vec<(String, PinCheck)> {
        let now = Pack::open(&self.dir).and_then(|pack| pack.files());
        self.files
            .iter()
            .map(|pinned| {
                let check = match &now {
                    Err(e) => PinCheck::Unreadable {
                        reason: e.to_string(),
                    },
                    Ok(files) => match files.iter().find(|f| f.name == pinned.name) {
                        None => PinCheck::Unreadable {
                            reason: "no longer part of the pack".to_owned(),
                        },
                        Some(f) if f.sha256 == pinned.sha256 => PinCheck::Same,
                        Some(f) => PinCheck::Changed {
                            sha256: f.sha256.clone(),
                        },
                    },
                };
                (pinned.name.clone(), check)
            })
            .collect()
    }

    /// The pack's files compared with the pins: `Ok` when all are the
    /// same (and no file was added to what kiln reads).
    fn verify(&self, now: &[PackFile]) -> Result<(), ModelError> {
        let mut changes = Vec::new();
        for pinned in &self.files {
            match now.iter().find(|f| f.name == pinned.name) {
                None => changes.push(format!("{} is gone", pinned.name)),
                Some(f) if f.sha256 != pinned.sha256 => changes.push(format!(
                    "{} has SHA-256 {}, pinned {}",
                    pinned.name, f.sha256, pinned.sha256
                )),
                Some(_) => {}
            }
        }
        for f in now {
            if !self.files.iter().any(|p| p.name == f.name) {
                changes.push(format!("{} was added", f.name));
            }
        }
        if changes.is_empty() {
            Ok(())
        } else {
            Err(ModelError::Changed {
                name: self.name.clone(),
                dir: self.dir.clone(),
                files: changes,
            })
        }
    }

    /// Whether every file kiln reads has the size and modification time
    /// it was pinned with (and there is no other), as the file system says
    /// without reading them.
    pub fn stamps_match(&self, now: &[FileStamp]) -> bool {
        now.len() == self.files.len()
            && now.iter().all(|stamp| {
                self.files.iter().any(|pinned| {
                    pinned.name == stamp.name
                        && pinned.bytes == stamp.bytes
                        && pinned.modified_ns.is_some()
                        && pinned.modified_ns == stamp.modified_ns
                })
            })
    }

    /// Loads the recorded pack with `threads` threads per model, after
    /// checking its files against their pins: by size and modification
    /// time when those are as pinned (a replaced file has another), else
    /// by hashing every byte again. `kiln model list` and
    /// [`ModelRecord::check_pins`] always hash.
    ///
    /// # Errors
    /// [`ModelError::Changed`] for a pack whose files are not the pinned
    /// ones; [`ModelError::Pack`] when it no longer loads.
    pub fn load(&self, threads: usize) -> Result<Clip, ModelError> {
        self.check()?;
        Clip::load(&self.dir, threads).map_err(|e| pack_error(&self.dir, e))
    }

    /// Like [`ModelRecord::load`], for `workers` threads embedding images
    /// at once (see [`Clip::load_for_workers`]).
    ///
    /// # Errors
    /// As [`ModelRecord::load`].
    pub fn load_for_workers(&self, workers: usize) -> Result<Clip, ModelError> {
        self.check()?;
        Clip::load_for_workers(&self.dir, workers).map_err(|e| pack_error(&self.dir, e))
    }

    /// Loads the text side of the pack only (for queries), checking the
    /// pins as [`ModelRecord::load_for_workers`] does.
    ///
    /// # Errors
    /// As [`ModelRecord::load_for_workers`].
    pub fn load_text(&self, threads: usize) -> Result<Clip, ModelError> {
        self.check()?;
        Clip::load_text(&self.dir, threads).map_err(|e| pack_error(&self.dir, e))
    }

    /// The pack's files against their pins, cheaply when their size and
    /// modification time are unchanged.
    fn check(&self) -> Result<(), ModelError> {
        let pack = Pack::open(&self.dir).map_err(|e| pack_error(&self.dir, e))?;
        let stamps = pack.stamps().map_err(|e| pack_error(&self.dir, e))?;
        if !self.stamps_match(&stamps) {
            let before = pack.files().map_err(|e| pack_error(&self.dir, e))?;
            self.verify(&before)?;
        }
        Ok(())
    }
}

fn key(name: &str) -> String {
    format!("{KEY_PREFIX}{name}")
}

fn decode(key: &str, bytes: &[u8]) -> Result<ModelRecord, ModelError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(ModelError::Record {
            key: key.to_owned(),
            reason: format!("{} bytes, more than a record holds", bytes.len()),
        });
    }
    serde_json::from_slice(bytes).map_err(|e| ModelError::Record {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

/// Every model recorded in the engine's store, by name.
pub(crate) fn stored(engine: &Engine) -> Result<Vec<ModelRecord>, ModelError> {
    engine
        .settings(KEY_PREFIX)?
        .into_iter()
        .map(|(key, bytes)| decode(&key, &bytes))
        .collect()
}

impl Kiln {
    /// Checks the pack in `dir` (files, shapes, tokenizer, a test embedding
    /// on each side, with `threads` threads), pins its files by SHA-256 and
    /// records it under `name` (default: the folder's name). Returns the
    /// record and the loaded model. On the primary handle, unless its
    /// workers run, the `semantic` stage is registered at once and its work
    /// for the assets already in the store is queued; otherwise the next
    /// primary open does it (a running `kiln serve` or `kiln watch` picks
    /// the model up when it starts again).
    ///
    /// # Errors
    /// [`ModelError::Pack`] for a pack that does not load (or without ONNX
    /// Runtime), [`ModelError::BadName`], [`ModelError::Exists`] when the
    /// store has a model already (a store uses one at a time).
    pub async fn add_model(
        &self,
        dir: &Path,
        name: Option<&str>,
        threads: usize,
    ) -> Result<(ModelRecord, Arc<Clip>), ModelError> {
        let dir = std::fs::canonicalize(dir).map_err(|e| {
            pack_error(
                dir,
                ClipError::File {
                    path: dir.to_path_buf(),
                    reason: format!("cannot open the folder: {e}"),
                },
            )
        })?;
        let name = match name {
            Some(name) => name.to_owned(),
            None => dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        if !valid_name(&name) {
            return Err(ModelError::BadName { name });
        }
        // One model per store: its vectors are what search compares.
        if let Some(existing) = self.models()?.into_iter().next() {
            return Err(ModelError::Exists {
                name: existing.name,
                dir: existing.dir,
            });
        }
        let clip = Clip::load_for_workers(&dir, threads).map_err(|e| pack_error(&dir, e))?;
        let files = clip.pack().files().map_err(|e| pack_error(&dir, e))?;
        let record = ModelRecord::new(name, &clip, files);
        let bytes = serde_json::to_vec(&record).map_err(|e| ModelError::Record {
            key: key(&record.name),
            reason: e.to_string(),
        })?;
        self.engine().put_setting(&key(&record.name), bytes).await?;
        let clip = Arc::new(clip);
        self.semantic_state().set_clip(&record, clip.clone());
        let stage = SemanticStage::new(record.clone(), self.semantic_state().clone());
        // Only the process that runs the workers may queue the stage's
        // work: another one's workers would not know the stage.
        if self.engine().is_primary() && self.engine().register_stage(Arc::new(stage)).is_ok() {
            self.engine().enqueue_outdated(Priority::Batch).await?;
        }
        Ok((record, clip))
    }

    /// Every model recorded in the store, by name.
    pub fn models(&self) -> Result<Vec<ModelRecord>, ModelError> {
        stored(self.engine())
    }

    /// The model recorded under `name`.
    ///
    /// # Errors
    /// [`ModelError::Unknown`] when there is none.
    pub fn model(&self, name: &str) -> Result<ModelRecord, ModelError> {
        let key = key(name);
        match self.engine().setting(&key)? {
            Some(bytes) => decode(&key, &bytes),
            None => Err(ModelError::Unknown {
                name: name.to_owned(),
            }),
        }
    }

    /// The model named, or the store's only model when `name` is `None`.
    ///
    /// # Errors
    /// [`ModelError::NoModel`], [`ModelError::Ambiguous`] (several and
    /// none named), [`ModelError::Unknown`].
    pub fn choose_model(&self, name: Option<&str>) -> Result<ModelRecord, ModelError> {
        if let Some(name) = name {
            return self.model(name);
        }
        let mut all = self.models()?;
        match all.len() {
            0 => Err(ModelError::NoModel),
            1 => all.pop().ok_or(ModelError::NoModel),
            _ => Err(ModelError::Ambiguous {
                names: all.into_iter().map(|m| m.name).collect(),
            }),
        }
    }

    /// Forgets the model recorded under `name` and drops every asset's
    /// vector made with it; returns its record.
    ///
    /// # Errors
    /// [`ModelError::Unknown`] when there is none.
    pub async fn remove_model(&self, name: &str) -> Result<ModelRecord, ModelError> {
        let record = self.model(name)?;
        self.engine().remove_setting(&key(name)).await?;
        self.engine().drop_stage_facts(SEMANTIC_STAGE).await?;
        self.semantic_state().clear();
        crate::semantic::text_cache::TextCache::new(
            self.engine().store_dir(),
            crate::semantic::version_of(&record),
            record.dim,
        )
        .clear();
        Ok(record)
    }
}

/// Cosines by asset id, for ranking inside the index: a dense array when
/// the ids are (as the engine gives them, counting up from 1), else a map.
enum Scores {
    Dense(Vec<f32>),
    Sparse(std::collections::HashMap<AssetId, f32>),
}

impl Scores {
    fn new(cosines: Vec<(AssetId, f32)>) -> Self {
        let top = cosines.iter().map(|(id, _)| id.get()).max().unwrap_or(0);
        match usize::try_from(top) {
            Ok(top) if top <= 4 * cosines.len() + 4096 => {
                let mut dense = vec![f32::NAN; top + 1];
                for (id, cos) in cosines {
                    dense[id.get() as usize] = cos;
                }
                Scores::Dense(dense)
            }
            _ => Scores::Sparse(cosines.into_iter().collect()),
        }
    }

    fn get(&self, id: AssetId) -> Option<f32> {
        match self {
            Scores::Dense(dense) => usize::try_from(id.get())
                .ok()
                .and_then(|i| dense.get(i).copied())
                .filter(|c| !c.is_nan()),
            Scores::Sparse(map) => map.get(&id).copied(),
        }
    }
}

impl Kiln {
    /// One page of a query ranked by meaning: the assets `rest` matches
    /// (in kiln's query syntax; empty for every asset) that have a vector
    /// of the store's model, ranked by the cosine of their vector to the
    /// embedding of `text` (in `score`), best first, ties by asset id
    /// descending, continuing after `after`. `total` counts every such
    /// asset. What [`Kiln::search`] runs for a `~"text"` term.
    ///
    /// The handle keeps the model (loaded, pins checked, on the first
    /// query), the embeddings of recent texts, and every vector in memory
    /// (see [`crate::semantic::vectors`]); a query embeds its text once and
    /// scans the vectors, and the index ranks its matches by the result.
    ///
    /// # Errors
    /// [`crate::Error::Semantic`] without a model or with one that does
    /// not load; the errors of [`Kiln::search`].
    pub fn semantic_page(
        &self,
        text: &str,
        rest: &str,
        after: Option<crate::After>,
        limit: usize,
    ) -> Result<crate::SearchResults, crate::Error> {
        let record = self.choose_model(None)?;
        let state = self.semantic_state();
        let wanted = state.text(self.engine(), &record, text)?;
        let scores = state.with_vectors(self.engine(), &record, |table| {
            Scores::new(table.cosines(&wanted))
        })?;
        self.commit_index()?;
        let parsed = crate::search::parse(self.engine(), self.index(), rest)?;
        self.read_index(|| {
            Ok(self.index().search_scored(
                &parsed,
                move |id| scores.get(id).map(f64::from),
                after,
                limit,
            )?)
        })
    }

    /// The assets whose semantic vector is nearest to that of `asset_id`
    /// (by cosine, best first, the asset itself left out), or `None` when
    /// the asset has no semantic vector. A scan of the vectors the handle
    /// keeps in memory.
    pub fn similar_semantic(
        &self,
        asset_id: AssetId,
        limit: usize,
    ) -> Result<Option<Vec<(AssetId, f32)>>, ModelError> {
        let record = self.choose_model(None)?;
        self.semantic_state()
            .with_vectors(self.engine(), &record, |table| {
                let own = table.unit(asset_id)?;
                let mut scored = table.cosines(&own);
                scored.retain(|(id, _)| *id != asset_id);
                scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.0.cmp(&a.0)));
                scored.truncate(limit);
                Some(scored)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names_are_plain() {
        for good in ["ViT-B-32__openai", "clip-tiny", "a", "m.v2"] {
            assert!(valid_name(good), "{good}");
        }
        let long = "x".repeat(65);
        for bad in ["", ".", "..", "a b", "a/b", "é", "a\n", long.as_str()] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
