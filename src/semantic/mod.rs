//! The tier-3 `semantic` stage: the CLIP image embedding of an asset's
//! proxy, made with the store's model (see [`crate::models`]).
//!
//! The stage exists on a handle only when the store records a model; its
//! version is derived from the model's pinned hashes, so a store that
//! changes its model has every asset's vector made again by the engine's
//! re-run of outdated stages. The model is loaded (and its pins checked) on
//! the first asset, not when the store opens, so commands that never embed
//! pay nothing for it.
//!
//! Facts: `{"model": Text, "dims": UInt, "vector": Bytes, "scale": Float}`:
//! the unit-length embedding quantised to one signed byte per dimension,
//! `value = byte as i8 × scale` (D + 4 bytes per asset in memory).

pub(crate) mod state;
pub(crate) mod text_cache;
pub mod vectors;

use crate::models::ModelRecord;
use kiln_clip::Clip;
use kiln_plugin_api::{
    CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, TIER_ENRICHED, Value, builtin,
};
use state::SemanticState;
use std::sync::{Arc, OnceLock};

/// The name the stage's facts are stored under.
pub const SEMANTIC_STAGE: &str = "semantic";

/// The widest proxy the stage decodes (kiln's proxies are far smaller).
const MAX_PROXY_SIDE: u32 = 8192;
/// The most memory decoding one proxy may take.
const MAX_PROXY_ALLOC: u64 = 256 << 20;

/// A vector quantised to signed bytes with one scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantised {
    /// One byte per dimension (`i8` stored as `u8`).
    pub bytes: Vec<u8>,
    /// What one step is worth.
    pub scale: f32,
}

impl Quantised {
    /// Quantises `vector`: the largest magnitude maps to 127.
    pub fn new(vector: &[f32]) -> Self {
        let max = vector.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 && max.is_finite() {
            max / 127.0
        } else {
            1.0
        };
        let bytes = vector
            .iter()
            .map(|v| ((v / scale).round().clamp(-127.0, 127.0) as i8) as u8)
            .collect();
        Quantised { bytes, scale }
    }

    /// The values back, unit length.
    pub fn to_unit(&self) -> Vec<f32> {
        let mut out: Vec<f32> = self
            .bytes
            .iter()
            .map(|b| f32::from(*b as i8) * self.scale)
            .collect();
        let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            out.iter_mut().for_each(|v| *v /= norm);
        }
        out
    }

    /// The stage's facts for this vector made by `model`.
    pub fn to_value(&self, model: &str) -> Value {
        Value::map([
            ("model", Value::from(model.to_owned())),
            ("dims", Value::from(self.bytes.len() as u64)),
            ("vector", Value::Bytes(self.bytes.clone())),
            ("scale", Value::Float(f64::from(self.scale))),
        ])
    }

    /// Reads the stage's facts back; `None` when they are not such facts.
    pub fn from_value(facts: &Value) -> Option<Self> {
        let Some(Value::Bytes(bytes)) = facts.get("vector") else {
            return None;
        };
        let scale = match facts.get("scale") {
            Some(Value::Float(f)) if f.is_finite() && *f > 0.0 => *f as f32,
            _ => return None,
        };
        (!bytes.is_empty()).then(|| Quantised {
            bytes: bytes.clone(),
            scale,
        })
    }
}

/// The stage's version for a model: from its pinned hashes, so another
/// model (or the same name on other files) is another version.
pub fn version_of(record: &ModelRecord) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for file in &record.files {
        for b in file.name.bytes().chain(file.sha256.bytes()) {
            hash ^= u32::from(b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    // Never 0, and clear of small hand-written versions.
    hash | 0x8000_0000
}

/// The `semantic` stage for one recorded model.
#[derive(Debug)]
pub struct SemanticStage {
    record: ModelRecord,
    version: u32,
    state: Arc<SemanticState>,
    /// Why the model cannot be loaded, once that is known: every later
    /// asset is told the same without hashing the pack again.
    failed: OnceLock<String>,
}

impl SemanticStage {
    /// The stage for `record`, with the model and vectors its handle
    /// keeps in `state`.
    pub(crate) fn new(record: ModelRecord, state: Arc<SemanticState>) -> Self {
        SemanticStage {
            version: version_of(&record),
            record,
            state,
            failed: OnceLock::new(),
        }
    }

    /// The stage for `record` sharing `kiln`'s model and vectors: what the
    /// handle registers when its store records a model, for an app that
    /// runs the stage itself.
    pub fn of(kiln: &crate::Kiln, record: ModelRecord) -> Self {
        Self::new(record, kiln.semantic_state().clone())
    }

    /// The model, loaded (and its pins checked) on first use; a model that
    /// cannot be loaded is a transient error for every asset, so nothing is
    /// lost once the pack is restored.
    fn clip(&self) -> Result<Arc<Clip>, StageError> {
        let refuse = |e: &str| StageError::transient(format!("{SEMANTIC_STAGE}: {e}"));
        if let Some(e) = self.failed.get() {
            return Err(refuse(e));
        }
        self.state.clip(&self.record).map_err(|e| {
            let e = self.failed.get_or_init(|| e.to_string());
            refuse(e)
        })
    }
}

fn decode_proxy(input: &StageInput) -> Result<image::RgbImage, StageError> {
    let Some(proxy) = input.proxy_path.as_deref() else {
        return Err(StageError::permanent(format!(
            "{SEMANTIC_STAGE}: no proxy image for {} (the thumbnail stage makes it; re-run it)",
            input.path
        )));
    };
    let mut reader = image::ImageReader::open(proxy)
        .and_then(image::ImageReader::with_guessed_format)
        .map_err(|e| {
            StageError::transient(format!(
                "{SEMANTIC_STAGE}: cannot read the proxy image {proxy} of {}: {e}",
                input.path
            ))
        })?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PROXY_SIDE);
    limits.max_image_height = Some(MAX_PROXY_SIDE);
    limits.max_alloc = Some(MAX_PROXY_ALLOC);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| {
        StageError::permanent(format!(
            "{SEMANTIC_STAGE}: cannot decode the proxy image {proxy} of {}: {e}; re-run the thumbnail stage",
            input.path
        ))
    })?;
    Ok(image.to_rgb8())
}

impl Stage for SemanticStage {
    fn info(&self) -> StageInfo {
        StageInfo::new(SEMANTIC_STAGE, self.version, TIER_ENRICHED)
            .after([builtin::THUMBNAIL, builtin::METADATA])
            .cost(CostClass::Cpu)
            .needs_proxy(true)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let clip = self.clip()?;
        let image = decode_proxy(input)?;
        let vector = clip.embed_rgb(&image).map_err(|e| {
            StageError::permanent(format!(
                "{SEMANTIC_STAGE}: the model {} cannot take {}: {e}",
                self.record.name, input.path
            ))
        })?;
        if vector.len() != self.record.dim || vector.iter().any(|v| !v.is_finite()) {
            return Err(StageError::permanent(format!(
                "{SEMANTIC_STAGE}: the model {} gave no usable embedding for {}",
                self.record.name, input.path
            )));
        }
        let quantised = Quantised::new(&vector);
        self.state
            .made(self.version, self.record.dim, input.asset(), &quantised);
        Ok(StageOutput::facts(quantised.to_value(&self.record.name)))
    }
}

/// The longest text a `~"..."` term may hold, in bytes.
pub const MAX_QUERY_TEXT: usize = 4096;

/// A query's semantic term taken out: `~"a lighthouse at dusk"` (or
/// `~word`), and the rest of the query, which filters as usual.
///
/// # Errors
/// A text for the user: an unclosed quote, more than one `~` term, an
/// empty or over-long text.
pub fn split_semantic(query: &str) -> Result<(Option<String>, String), String> {
    let mut text: Option<String> = None;
    let mut rest = String::with_capacity(query.len());
    let mut chars = query.char_indices().peekable();
    let mut at_term_start = true;
    while let Some((i, c)) = chars.next() {
        if c == '~' && at_term_start {
            let body = &query[i + 1..];
            let (found, used) = if let Some(quoted) = body.strip_prefix('"') {
                let end = quoted
                    .find('"')
                    .ok_or_else(|| "`~\"` has no closing `\"`".to_owned())?;
                (&quoted[..end], end + 2)
            } else {
                let end = body.find(char::is_whitespace).unwrap_or(body.len());
                (&body[..end], end)
            };
            if text.is_some() {
                return Err("a query takes one `~\"...\"` term".to_owned());
            }
            if found.trim().is_empty() {
                return Err("`~` needs a text, as in `~\"a lighthouse at dusk\"`".to_owned());
            }
            if found.len() > MAX_QUERY_TEXT {
                return Err(format!(
                    "the `~` text is longer than {MAX_QUERY_TEXT} bytes"
                ));
            }
            text = Some(found.to_owned());
            // Skip what the term used.
            let stop = i + 1 + used;
            while chars.peek().is_some_and(|(j, _)| *j < stop) {
                chars.next();
            }
            rest.push(' ');
            at_term_start = true;
            continue;
        }
        at_term_start = c.is_whitespace();
        rest.push(c);
    }
    Ok((text, rest.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::{Quantised, split_semantic};

    #[test]
    fn the_semantic_term_is_taken_out_of_the_query() {
        let split = |q: &str| split_semantic(q);
        assert_eq!(
            split(r#"~"rainy street" model:x steps:>=20 -blurry"#),
            Ok((
                Some("rainy street".to_owned()),
                "model:x steps:>=20 -blurry".to_owned()
            ))
        );
        assert_eq!(
            split("cat ~dog -x"),
            Ok((Some("dog".to_owned()), "cat   -x".to_owned()))
        );
        assert_eq!(split("a~b"), Ok((None, "a~b".to_owned())));
        assert_eq!(split("model:x"), Ok((None, "model:x".to_owned())));
        assert!(split(r#"~"open"#).is_err());
        assert!(split(r#"~"a" ~"b""#).is_err());
        assert!(split(r#"~"  ""#).is_err());
        assert!(split(&format!("~\"{}\"", "a".repeat(5000))).is_err());
    }

    #[test]
    fn quantised_vectors_keep_their_direction() {
        let v: Vec<f32> = (0..512)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 400.0)
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let unit: Vec<f32> = v.iter().map(|x| x / norm).collect();
        let q = Quantised::new(&unit);
        assert_eq!(q.bytes.len(), 512);
        let back = q.to_unit();
        let cos: f32 = unit.iter().zip(&back).map(|(a, b)| a * b).sum();
        assert!(cos > 0.9999, "{cos}");
        let facts = q.to_value("m");
        assert_eq!(Quantised::from_value(&facts), Some(q));
        assert_eq!(Quantised::new(&[0.0; 4]).to_unit(), vec![0.0; 4]);
    }
}
