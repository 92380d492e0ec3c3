//! An example kiln stage plugin: the dominant-colour palette of every asset,
//! and tags for its size, aspect ratio and orientation.
//!
//! It reads the proxy image the `thumbnail` stage made (a small JPEG), so it
//! never decodes a full-size original when the proxy exists; without one it
//! falls back to the original file. Its facts look like this:
//!
//! ```text
//! palette:      [{hex: "#1d2a44", share: 0.412}, {hex: "#e8c9a0", share: 0.233}, …]
//! dominant:     "#1d2a44"
//! brightness:   0.43            (mean OKLab lightness, 0 black … 1 white)
//! colorfulness: 0.071           (mean OKLab chroma; below 0.02 reads as grey)
//! monochrome:   false
//! width, height, megapixels, aspect_ratio, aspect_label ("2:3"),
//! orientation ("portrait" | "landscape" | "square"),
//! size_class ("tiny" | "small" | "medium" | "large" | "huge"),
//! colors_from:  "proxy" | "original"
//! ```
//!
//! The crate is a `cdylib` that kiln loads with `kiln --plugin <file>`; the
//! single [`export_stage!`] line at the bottom is all the plugin plumbing.
#![deny(missing_docs)]

mod color;
mod palette;
mod shape;

use color::SrgbDecoder;
use image::{ImageReader, Limits};
use kiln_plugin_api::{
    CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, TIER_ENRICHED, Value,
    builtin, export_stage,
};
use shape::round_to;
use std::collections::BTreeMap;

/// The stage's name, under which its facts are stored.
pub const PALETTE_STAGE_NAME: &str = "palette";

/// Samples taken from an image at most; a 512-pixel proxy is sampled on a
/// grid, so the palette costs the same for every image size.
const MAX_SAMPLES: u64 = 6_400;

/// Pixels with less alpha than this are ignored (they are not seen).
const MIN_ALPHA: u8 = 128;

/// Below this mean chroma an image reads as black and white.
const MONOCHROME_CHROMA: f32 = 0.02;

/// The palette and shape stage: tier 3, after `thumbnail`, reads the proxy.
#[derive(Debug, Clone)]
pub struct PaletteStage {
    colors: usize,
}

impl Default for PaletteStage {
    fn default() -> Self {
        PaletteStage { colors: 6 }
    }
}

impl PaletteStage {
    /// A stage that finds up to six colours.
    pub fn new() -> Self {
        PaletteStage::default()
    }

    /// A stage that finds up to `colors` colours (at least one).
    pub fn with_colors(colors: usize) -> Self {
        PaletteStage {
            colors: colors.max(1),
        }
    }
}

impl Stage for PaletteStage {
    fn info(&self) -> StageInfo {
        StageInfo::new(PALETTE_STAGE_NAME, 1, TIER_ENRICHED)
            .after([builtin::THUMBNAIL])
            .cost(CostClass::Cpu)
            .needs_proxy(true)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let (image, colors_from) = decode_for_colors(input)?;
        let mut facts = BTreeMap::new();
        facts.extend(color_facts(&image, self.colors));
        facts.insert("colors_from".to_owned(), Value::from(colors_from));
        let (width, height, dimensions_from) = dimensions(input, &image, colors_from);
        facts.insert("width".to_owned(), Value::from(width));
        facts.insert("height".to_owned(), Value::from(height));
        facts.insert("dimensions_from".to_owned(), Value::from(dimensions_from));
        if let Some(shape) = shape::shape(width, height) {
            facts.insert("aspect_ratio".to_owned(), Value::from(shape.aspect_ratio));
            facts.insert("aspect_label".to_owned(), Value::from(shape.aspect_label));
            facts.insert("orientation".to_owned(), Value::from(shape.orientation));
            facts.insert("megapixels".to_owned(), Value::from(shape.megapixels));
            facts.insert("size_class".to_owned(), Value::from(shape.size_class));
        }
        Ok(StageOutput::facts(Value::Map(facts)))
    }
}

/// Decodes the proxy if there is a readable one, else the original.
fn decode_for_colors(input: &StageInput) -> Result<(image::RgbaImage, &'static str), StageError> {
    if let Some(proxy) = &input.proxy_path
        && let Ok(image) = decode(proxy)
    {
        return Ok((image, "proxy"));
    }
    decode(&input.path).map(|image| (image, "original"))
}

fn decode(path: &str) -> Result<image::RgbaImage, StageError> {
    let reader = ImageReader::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            StageError::permanent(format!("{path}: the file no longer exists"))
        }
        _ => StageError::transient(format!("{path}: cannot read the file: {e}")),
    })?;
    let mut reader = reader
        .with_guessed_format()
        .map_err(|e| StageError::transient(format!("{path}: cannot read the file: {e}")))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(30_000);
    limits.max_image_height = Some(30_000);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| StageError::permanent(format!("{path}: cannot decode the image: {e}")))?;
    Ok(image.into_rgba8())
}

/// Palette, brightness and colourfulness facts of an image.
fn color_facts(image: &image::RgbaImage, colors: usize) -> Vec<(String, Value)> {
    let decoder = SrgbDecoder::new();
    let pixels = u64::from(image.width()) * u64::from(image.height());
    // Sample on a square grid with about MAX_SAMPLES points.
    let step = (pixels as f64 / MAX_SAMPLES as f64).sqrt().ceil().max(1.0) as usize;
    let grid = |keep_transparent: bool| {
        image
            .rows()
            .step_by(step)
            .flat_map(|row| row.step_by(step))
            .filter(move |p| keep_transparent || p.0[3] >= MIN_ALPHA)
            .map(|p| decoder.to_lab([p.0[0], p.0[1], p.0[2]]))
            .collect::<Vec<_>>()
    };
    let mut samples = grid(false);
    if samples.is_empty() {
        // Entirely transparent: describe the hidden colours rather than nothing.
        samples = grid(true);
    }
    let swatches = palette::extract(&samples, colors);
    let count = samples.len().max(1) as f32;
    let brightness = samples.iter().map(|s| s.l).sum::<f32>() / count;
    let colorfulness = samples.iter().map(|s| s.chroma()).sum::<f32>() / count;
    let palette: Vec<Value> = swatches
        .iter()
        .map(|s| {
            Value::map([
                ("hex", Value::from(s.hex())),
                ("share", Value::from(round_to(s.share, 3))),
            ])
        })
        .collect();
    let dominant = swatches.first().map(palette::Swatch::hex);
    vec![
        ("palette".to_owned(), Value::List(palette)),
        ("dominant".to_owned(), Value::from(dominant)),
        (
            "brightness".to_owned(),
            Value::from(round_to(f64::from(brightness), 3)),
        ),
        (
            "colorfulness".to_owned(),
            Value::from(round_to(f64::from(colorfulness), 3)),
        ),
        (
            "monochrome".to_owned(),
            Value::from(colorfulness < MONOCHROME_CHROMA),
        ),
    ]
}

/// The asset's displayed size: from the thumbnail stage's facts when present
/// (they account for EXIF rotation), else from the original's header, else
/// from the decoded image.
fn dimensions(
    input: &StageInput,
    decoded: &image::RgbaImage,
    colors_from: &str,
) -> (u32, u32, &'static str) {
    // The shapes of the built-in stages' facts are in `kiln_plugin_api::builtin`.
    let side = |key: &str| {
        let value = input.fact(builtin::THUMBNAIL, [key])?.as_u64()?;
        u32::try_from(value).ok()
    };
    let from_facts = side("width").zip(side("height"));
    if let Some((width, height)) = from_facts {
        return (width, height, "thumbnail");
    }
    if colors_from == "original" {
        return (decoded.width(), decoded.height(), "original");
    }
    match image::image_dimensions(&input.path) {
        Ok((width, height)) => (width, height, "original"),
        Err(_) => (decoded.width(), decoded.height(), "proxy"),
    }
}

export_stage!(PaletteStage::new());
