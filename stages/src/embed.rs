//! The `embed` stage: a compact perceptual embedding of the proxy image and a
//! 64-bit perceptual hash.
//!
//! This is *visual* similarity, not semantics: two images are close when
//! their colour layout, coarse structure and edge directions agree, which is
//! what re-encodes, resizes, upscales, small edits and same-seed re-runs
//! share. Two pictures of "a cat" painted in different palettes and poses are
//! not close. A CLIP-class embedder can replace this stage through the plugin
//! boundary; it only has to write the same facts shape.
//!
//! The vector has [`EMBEDDING_DIMS`] dimensions in three L2-normalised,
//! weighted blocks, and is L2-normalised as a whole, so the Euclidean
//! distance of two vectors lies in `0..=2`:
//! - colour layout (48): mean luma and chroma (YCbCr) of a 4×4 grid;
//! - structure (63): the 8×8 lowest-frequency DCT coefficients of a 32×32
//!   luma image, without the DC term (brightness-independent);
//! - edges (32): gradient-orientation histograms, 8 bins on a 2×2 grid.
//!
//! The perceptual hash is the classic DCT hash: each bit says whether one of
//! the 8×8 lowest-frequency coefficients lies above their median. A Hamming
//! distance of at most [`NEAR_DUPLICATE_BITS`] marks a near-duplicate.
//!
//! Facts: `{"vector": Bytes (little-endian f32 × dims), "dims": UInt,
//! "phash": UInt, "version": UInt}`.

use image::imageops::FilterType;
use kiln_plugin_api::{
    CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, TIER_ENRICHED, Value, builtin,
};
use std::collections::BTreeMap;

/// The stage name facts are stored under
/// ([`builtin::EMBED`](kiln_plugin_api::builtin::EMBED), where they are
/// described).
pub use kiln_plugin_api::builtin::EMBED as EMBED_STAGE_NAME;
/// Dimensions of the embedding vector.
pub const EMBEDDING_DIMS: usize = 48 + 63 + 32;
/// Perceptual hashes at most this many bits apart are near-duplicates.
pub const NEAR_DUPLICATE_BITS: u32 = 10;

const COLOUR_WEIGHT: f32 = 0.55;
const STRUCTURE_WEIGHT: f32 = 0.65;
const EDGE_WEIGHT: f32 = 0.5;

/// An image's embedding and perceptual hash.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// The L2-normalised vector of [`EMBEDDING_DIMS`] values.
    pub vector: Vec<f32>,
    /// The 64-bit DCT perceptual hash.
    pub phash: u64,
}

impl Embedding {
    /// The facts the stage writes.
    pub fn to_value(&self) -> Value {
        Value::map([
            ("vector", Value::Bytes(vector_to_bytes(&self.vector))),
            ("dims", Value::from(self.vector.len() as u64)),
            ("phash", Value::from(self.phash)),
            ("version", Value::from(u64::from(EmbedStage::VERSION))),
        ])
    }

    /// Reads an embedding back from the stage's facts.
    pub fn from_value(facts: &Value) -> Option<Embedding> {
        let Some(Value::Bytes(bytes)) = facts.get("vector") else {
            return None;
        };
        let phash = facts.get("phash").and_then(Value::as_u64)?;
        Some(Embedding {
            vector: vector_from_bytes(bytes),
            phash,
        })
    }
}

/// Encodes a vector as little-endian f32 bytes.
pub fn vector_to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Decodes little-endian f32 bytes; a trailing partial value is ignored.
pub fn vector_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Euclidean distance of two vectors (over their common length).
pub fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// Bits in which two perceptual hashes differ.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// A luma/chroma image with planes of `f32` in `0..=1` (chroma centred on 0).
#[derive(Debug, Clone)]
pub(crate) struct Planes {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) y: Vec<f32>,
    pub(crate) cb: Vec<f32>,
    pub(crate) cr: Vec<f32>,
}

impl Planes {
    pub(crate) fn from_rgb(image: &image::RgbImage) -> Planes {
        let (width, height) = (image.width() as usize, image.height() as usize);
        let n = width * height;
        let (mut y, mut cb, mut cr) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for p in image.pixels() {
            let [r, g, b] = p.0.map(|c| f32::from(c) / 255.0);
            y.push(luma(r, g, b));
            cb.push(-0.168_736 * r - 0.331_264 * g + 0.5 * b);
            cr.push(0.5 * r - 0.418_688 * g - 0.081_312 * b);
        }
        Planes {
            width,
            height,
            y,
            cb,
            cr,
        }
    }

    /// The luma plane alone, for measures that ignore colour: `cb` and `cr`
    /// stay empty, which spares two full-size planes per image.
    pub(crate) fn luma_from_rgb(image: &image::RgbImage) -> Planes {
        Planes {
            width: image.width() as usize,
            height: image.height() as usize,
            y: image
                .pixels()
                .map(|p| {
                    let [r, g, b] = p.0.map(|c| f32::from(c) / 255.0);
                    luma(r, g, b)
                })
                .collect(),
            cb: Vec::new(),
            cr: Vec::new(),
        }
    }
}

fn luma(r: f32, g: f32, b: f32) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

/// Reads the proxy image of a stage input as RGB, with a stage error that
/// names the file when it is missing or unreadable.
pub(crate) fn load_proxy(input: &StageInput, stage: &str) -> Result<image::RgbImage, StageError> {
    let Some(proxy) = input.proxy_path.as_deref() else {
        return Err(StageError::permanent(format!(
            "{stage}: no proxy image for {} (the thumbnail stage makes it; re-run it)",
            input.path
        )));
    };
    // Blobs are content-addressed and carry no extension: sniff the format.
    let image = image::ImageReader::open(proxy)
        .and_then(image::ImageReader::with_guessed_format)
        .map_err(|e| {
            StageError::transient(format!(
                "{stage}: cannot read the proxy image {proxy} of {}: {e}",
                input.path
            ))
        })?
        .decode()
        .map_err(|e| {
            StageError::permanent(format!(
                "{stage}: cannot decode the proxy image {proxy} of {}: {e}; re-run the thumbnail stage",
                input.path
            ))
        })?;
    Ok(image.to_rgb8())
}

/// Computes the embedding of an image.
pub fn embed_image(image: &image::RgbImage) -> Embedding {
    let small = image::imageops::resize(image, 32, 32, FilterType::Triangle);
    let planes = Planes::from_rgb(&small);
    let mut colour = colour_layout(&planes);
    let dct = dct_low(&planes.y, 32, 8);
    let mut structure: Vec<f32> = dct.iter().skip(1).copied().collect();
    let mut edges = edge_histogram(&planes);
    normalise(&mut colour, COLOUR_WEIGHT);
    normalise(&mut structure, STRUCTURE_WEIGHT);
    normalise(&mut edges, EDGE_WEIGHT);
    let mut vector = Vec::with_capacity(EMBEDDING_DIMS);
    vector.extend(colour);
    vector.extend(structure);
    vector.extend(edges);
    normalise(&mut vector, 1.0);
    Embedding {
        vector,
        phash: phash_from_dct(&dct),
    }
}

fn normalise(values: &mut [f32], weight: f32) {
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 1e-9 {
        for v in values.iter_mut() {
            *v *= weight / norm;
        }
    }
}

fn colour_layout(planes: &Planes) -> Vec<f32> {
    let mut out = Vec::with_capacity(48);
    let cell_w = planes.width / 4;
    let cell_h = planes.height / 4;
    for plane in [&planes.y, &planes.cb, &planes.cr] {
        for gy in 0..4 {
            for gx in 0..4 {
                let mut sum = 0.0;
                let mut count = 0.0;
                for y in gy * cell_h..(gy + 1) * cell_h {
                    for x in gx * cell_w..(gx + 1) * cell_w {
                        sum += plane.get(y * planes.width + x).copied().unwrap_or(0.0);
                        count += 1.0;
                    }
                }
                // Luma is centred so that the block measures layout, not
                // only overall brightness.
                let centre = if std::ptr::eq(plane, &planes.y) {
                    0.5
                } else {
                    0.0
                };
                out.push(if count > 0.0 {
                    sum / count - centre
                } else {
                    0.0
                });
            }
        }
    }
    out
}

/// The `keep`×`keep` lowest-frequency coefficients (row-major) of the 2-D
/// DCT-II of a `size`×`size` plane.
fn dct_low(plane: &[f32], size: usize, keep: usize) -> Vec<f32> {
    let basis: Vec<f32> = (0..keep)
        .flat_map(|k| {
            (0..size).map(move |n| {
                (std::f32::consts::PI / size as f32 * (n as f32 + 0.5) * k as f32).cos()
            })
        })
        .collect();
    // Rows first: size rows × keep coefficients.
    let mut rows = vec![0.0f32; size * keep];
    for y in 0..size {
        for k in 0..keep {
            let mut sum = 0.0;
            for x in 0..size {
                sum += plane.get(y * size + x).copied().unwrap_or(0.0)
                    * basis.get(k * size + x).copied().unwrap_or(0.0);
            }
            if let Some(slot) = rows.get_mut(y * keep + k) {
                *slot = sum;
            }
        }
    }
    let mut out = vec![0.0f32; keep * keep];
    for ky in 0..keep {
        for kx in 0..keep {
            let mut sum = 0.0;
            for y in 0..size {
                sum += rows.get(y * keep + kx).copied().unwrap_or(0.0)
                    * basis.get(ky * size + y).copied().unwrap_or(0.0);
            }
            if let Some(slot) = out.get_mut(ky * keep + kx) {
                *slot = sum / size as f32;
            }
        }
    }
    out
}

fn phash_from_dct(dct: &[f32]) -> u64 {
    let mut sorted: Vec<f32> = dct.iter().skip(1).copied().collect();
    sorted.sort_by(f32::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    dct.iter().take(64).enumerate().fold(
        0u64,
        |hash, (i, v)| if *v > median { hash | (1 << i) } else { hash },
    )
}

fn edge_histogram(planes: &Planes) -> Vec<f32> {
    let (w, h) = (planes.width, planes.height);
    let mut out = vec![0.0f32; 32];
    let at = |x: usize, y: usize| planes.y.get(y * w + x).copied().unwrap_or(0.0);
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let gx = at(x + 1, y) - at(x - 1, y);
            let gy = at(x, y + 1) - at(x, y - 1);
            let magnitude = (gx * gx + gy * gy).sqrt();
            if magnitude < 1e-4 {
                continue;
            }
            // Orientation modulo π: an edge and its mirror are one direction.
            let angle = gy.atan2(gx).rem_euclid(std::f32::consts::PI);
            let bin = ((angle / std::f32::consts::PI * 8.0) as usize).min(7);
            let cell = (y * 2 / h) * 2 + (x * 2 / w);
            if let Some(slot) = out.get_mut(cell * 8 + bin) {
                *slot += magnitude;
            }
        }
    }
    out
}

/// The built-in criteria deciding which assets tier-3 work is spent on:
/// the engine's enrichment gate applies them (see
/// `kiln_engine::EnrichmentGate`; the kiln crate wires them in as its rule)
/// once per asset, when tiers 1 and 2 are done, and shows the stages of an
/// asset it turns away as skipped, with the reason.
///
/// Duplicates never reach tier 3 (the engine drops every later stage of a
/// duplicate), and a per-import budget is counted by the engine, which sees
/// every asset of an import; this rule only judges one asset's own facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrichmentCriteria {
    /// Images whose shorter side is below this many pixels are skipped.
    pub min_side: u64,
    /// Skip files from which no generation parameters were extracted.
    pub require_generation: bool,
}

impl Default for EnrichmentCriteria {
    fn default() -> Self {
        EnrichmentCriteria {
            min_side: 128,
            require_generation: false,
        }
    }
}

impl EnrichmentCriteria {
    /// Lets everything through.
    pub const OPEN: EnrichmentCriteria = EnrichmentCriteria {
        min_side: 0,
        require_generation: false,
    };

    /// Why the asset is skipped, or `None` when it goes ahead, judged from
    /// the facts of its `thumbnail` (pixel size) and `metadata` (generation
    /// parameters) stages, keyed by stage name.
    pub fn skip_reason(&self, facts: &BTreeMap<String, Value>) -> Option<String> {
        let thumbnail = facts.get(builtin::THUMBNAIL);
        if thumbnail
            .and_then(|t| t.get("placeholder"))
            .and_then(Value::as_bool)
            == Some(true)
        {
            return Some("no frame to look at: its thumbnail is a placeholder".to_owned());
        }
        let side = |key: &str| thumbnail.and_then(|t| t.get(key)).and_then(Value::as_u64);
        if let (Some(w), Some(h)) = (side("width"), side("height"))
            && w.min(h) < self.min_side
        {
            return Some(format!("tiny image ({w}x{h}, below {} px)", self.min_side));
        }
        if self.require_generation {
            let generation = facts
                .get(builtin::METADATA)
                .and_then(|m| m.get("generation"));
            let known = ["positive_prompt", "model", "seed"].iter().any(|k| {
                generation
                    .and_then(|g| g.get(k))
                    .is_some_and(|v| !v.is_null())
            });
            if !known {
                return Some("no generation parameters".to_owned());
            }
        }
        None
    }
}

/// The built-in tier-3 embedding stage. Reads only the proxy image.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbedStage;

impl EmbedStage {
    /// Bump when the vector or hash changes for the same proxy.
    pub const VERSION: u32 = 1;
}

impl Stage for EmbedStage {
    fn info(&self) -> StageInfo {
        StageInfo::new(EMBED_STAGE_NAME, Self::VERSION, TIER_ENRICHED)
            .after([builtin::THUMBNAIL, builtin::METADATA])
            .cost(CostClass::Cpu)
            .needs_proxy(true)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let image = load_proxy(input, EMBED_STAGE_NAME)?;
        Ok(StageOutput::facts(embed_image(&image).to_value()))
    }
}
