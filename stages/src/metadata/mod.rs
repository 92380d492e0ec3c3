//! Metadata extraction (tier 2): EXIF and generation parameters read from
//! the file bytes, plus the writers that put such metadata into images.
//!
//! [`extract`] is a pure function of the bytes: the metadata stage, the
//! search index and `kiln show` all call it. It reads container chunks
//! without decoding pixels, recognises the generator formats listed in
//! `DESIGN.md` by their content (never by file name or extension), and maps
//! them to one [`Generation`] shape. Hostile or broken metadata never fails
//! an extraction: it is skipped and listed in [`Extraction::problems`].
//!
//! ```
//! use kiln_stages::metadata::{extract, write};
//!
//! # let mut png = std::io::Cursor::new(Vec::new());
//! # image::RgbImage::new(2, 2).write_to(&mut png, image::ImageFormat::Png).unwrap();
//! let infotext = "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x768";
//! let bytes = write::insert_png_text(png.get_ref(), "parameters", infotext).unwrap();
//! let found = extract(&bytes, None).unwrap();
//! assert_eq!(found.generation.generator.as_deref(), Some("a1111"));
//! assert_eq!(found.generation.positive_prompt.as_deref(), Some("a cat"));
//! assert_eq!((found.generation.seed, found.generation.width), (Some(42), Some(512)));
//! assert!(found.problems.is_empty());
//! ```

mod c2pa;
mod container;
mod exif;
mod formats;
mod model;
mod stage;
mod stealth;
mod text;
pub mod write;

pub use container::{Animation, ImageFormat};
pub use exif::ExifSummary;
pub use model::{C2pa, CharacterPrompt, Generation, GraphText, Hires, Lora, SamplingPass};
pub use stage::{MetadataStage, extraction_to_value};

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Seek};

/// Everything read from one file's metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extraction {
    /// The container format.
    pub format: Option<ImageFormat>,
    /// The pixel size the image header states (not decoded); for a video,
    /// its first video track's.
    pub pixel_size: Option<(u32, u32)>,
    /// Frames, duration and frame rate of a video or an animated image, as
    /// the container states them.
    pub animation: Option<Animation>,
    /// Normalised generation parameters.
    pub generation: Generation,
    /// The node classes and literal strings of an embedded node graph.
    pub graph: Option<GraphText>,
    /// The EXIF summary, when the file has an EXIF block.
    pub exif: Option<ExifSummary>,
    /// Every metadata text as found, keyed by where it was: `tEXt:prompt`,
    /// `iTXt:parameters`, `EXIF:UserComment`, `COM`, `XMP`. A key seen twice
    /// gets a `#2` suffix, and so on.
    pub raw: BTreeMap<String, String>,
    /// What was wrong with the metadata. None of it fails the extraction.
    pub problems: Vec<Problem>,
}

/// Something wrong with a file's metadata, recorded instead of failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: a chunk or tag, e.g. `PNG tEXt` or `tEXt:prompt`.
    pub location: String,
    /// What was wrong, and what was done about it.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            location: location.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Why no extraction could be made: the bytes are not an image at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// The file has no bytes.
    #[error("the file is empty (0 bytes); it is not an image")]
    Empty,
    /// The first bytes match no image format kiln reads metadata from.
    #[error(
        "not a PNG, JPEG or WebP image (first bytes {magic}); check that the file is an image and not mis-named"
    )]
    UnknownFormat {
        /// The first bytes, in hex.
        magic: String,
    },
    /// The file could not be read.
    #[error("the file could not be read: {0}")]
    Io(#[from] std::io::Error),
}

// The most problems listed for one file; hostile files can have thousands.
use container::MAX_PROBLEMS;

/// The most pixels decoded to look for stealth metadata: generator outputs
/// are a few megapixels; a larger image without metadata is a photo or a
/// bomb, not worth a full decode in an I/O-bound stage.
const MAX_STEALTH_PIXELS: u64 = 16 << 20;

/// The largest file decoded to look for stealth metadata.
const MAX_STEALTH_FILE: u64 = 256 << 20;

/// Reads the whole file again and looks for stealth metadata in its alpha
/// channel.
fn read_stealth<R: Read + Seek>(source: &mut R) -> Result<Option<String>, String> {
    let error = |e: std::io::Error| format!("cannot re-read the file for stealth metadata: {e}");
    source.seek(std::io::SeekFrom::Start(0)).map_err(error)?;
    let mut bytes = Vec::new();
    source
        .take(MAX_STEALTH_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(error)?;
    if bytes.len() as u64 > MAX_STEALTH_FILE {
        return Err("file too large to look for stealth metadata".to_owned());
    }
    stealth::read(&bytes)
}

/// The pixel size and duration a video's container states, read without
/// decoding anything; `(None, None)` when the file cannot be read.
pub(crate) fn video_shape(path: &std::path::Path) -> (Option<(u32, u32)>, Option<f64>) {
    let Ok(file) = crate::file::open_regular(path) else {
        return (None, None);
    };
    let mut reader = std::io::BufReader::new(file);
    match container::read(&mut reader) {
        Ok(found) => (found.pixel_size, found.animation.and_then(|a| a.duration)),
        Err(_) => (None, None),
    }
}

/// Extracts metadata from the bytes of an image file.
///
/// `file_name` (the name only, e.g. `ComfyUI_00012_.png`) helps choose
/// between several output branches of a ComfyUI graph; it is never used to
/// guess the format. Fails only when the bytes are not an image.
pub fn extract(bytes: &[u8], file_name: Option<&str>) -> Result<Extraction, ExtractError> {
    extract_from_reader(&mut Cursor::new(bytes), file_name)
}

/// Like [`extract`], reading from a seekable source (a file): only the
/// metadata chunks are read, image data is skipped with seeks.
pub fn extract_from_reader<R: Read + Seek>(
    source: &mut R,
    file_name: Option<&str>,
) -> Result<Extraction, ExtractError> {
    let mut found = container::read(source)?;
    let mut problems = std::mem::take(&mut found.problems);
    let mut exif_summary = None;
    if let Some(tiff) = found.exif.take() {
        match exif::read(tiff, &mut found.texts) {
            Ok((summary, notes)) => {
                exif_summary = Some(summary);
                problems.extend(notes.into_iter().map(|n| Problem::new("EXIF", n)));
            }
            Err(message) => problems.push(Problem::new("EXIF", message)),
        }
    }
    let before_formats = problems.len();
    let mut graph = None;
    let mut generation = formats::interpret(
        &found.texts,
        file_name,
        found.pixel_size,
        &mut problems,
        &mut graph,
    );
    if generation.generator.is_none() && found.has_alpha && found.c2pa.is_none() {
        let pixels = found
            .pixel_size
            .map_or(u64::MAX, |(w, h)| u64::from(w) * u64::from(h));
        let outcome = if pixels <= MAX_STEALTH_PIXELS {
            read_stealth(source)
        } else {
            Err(format!(
                "{pixels} pixels is more than the {MAX_STEALTH_PIXELS} decoded to look for stealth metadata; not looked for"
            ))
        };
        match outcome {
            Ok(Some(text)) => {
                found.texts.push(container::RawText {
                    key: "stealth:alpha".to_owned(),
                    text,
                });
                // The texts are interpreted again with the stealth text
                // added; the first pass's problems would otherwise be listed
                // twice.
                problems.truncate(before_formats);
                generation = formats::interpret(
                    &found.texts,
                    file_name,
                    found.pixel_size,
                    &mut problems,
                    &mut graph,
                );
            }
            Ok(None) => {}
            Err(message) => problems.push(Problem::new("stealth", message)),
        }
    }
    if let Some(manifest) = &found.c2pa {
        let provenance = c2pa::summarise(manifest);
        if generation.generator.is_none() {
            generation.generator = Some("c2pa-only".to_owned());
            generation.metadata_format = Some("c2pa".to_owned());
        }
        generation.c2pa = Some(provenance);
    }
    let dropped = found.problems_dropped;
    if problems.len() > MAX_PROBLEMS || dropped > 0 {
        let more = problems.len().saturating_sub(MAX_PROBLEMS) as u64 + dropped;
        problems.truncate(MAX_PROBLEMS);
        problems.push(Problem::new(
            "metadata",
            format!("{more} more problems not listed"),
        ));
    }
    let mut raw = BTreeMap::new();
    for entry in found.texts {
        let mut key = entry.key;
        if raw.contains_key(&key) {
            let base = key.clone();
            let mut n = 2;
            while raw.contains_key(&key) {
                key = format!("{base}#{n}");
                n += 1;
            }
        }
        raw.insert(key, entry.text);
    }
    Ok(Extraction {
        format: found.format,
        pixel_size: found.pixel_size,
        animation: found.animation,
        generation,
        graph,
        exif: exif_summary,
        raw,
        problems,
    })
}
