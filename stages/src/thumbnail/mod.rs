//! The `thumbnail` stage: decodes an image once, shrinks it to a proxy
//! (about 512 px, read by later stages instead of the original) and a
//! browsing thumbnail (256 px, made from the proxy), and records what the
//! pixels are. Only a PNG that leaves shrink-on-load (`stream`) part way is
//! decoded again, whole.

mod decode;
mod encode;
mod halve;
mod jpeg;
mod resize;
mod stream;
mod video;

/// Deterministic noise bytes (xorshift32 from `seed`, which must not be
/// zero) for the unit tests of the stage's parts.
#[cfg(test)]
fn test_noise(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect()
}

pub(crate) use decode::is_iso_video;
pub use decode::{DecodeLimits, SourceFormat};
pub use encode::ArtifactEncoding;
pub use video::ffmpeg;

use crate::hash::io_stage_error;
use kiln_plugin_api::{
    CostClass, PROXY_ARTIFACT, Stage, StageError, StageInfo, StageInput, StageOutput,
    THUMBNAIL_ARTIFACT, TIER_BROWSABLE, Value, builtin,
};
use std::io::Read;

/// The stage name the engine and later stages refer to
/// ([`builtin::THUMBNAIL`](kiln_plugin_api::builtin::THUMBNAIL), where its
/// facts are described).
pub use kiln_plugin_api::builtin::THUMBNAIL as THUMBNAIL_STAGE_NAME;

/// Why an image could not be thumbnailed. Every variant is permanent for
/// the file's current content: retrying the same bytes gives the same result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ThumbnailError {
    /// The file has no bytes at all.
    #[error("empty file (0 bytes): there is no image to decode")]
    Empty,
    /// The content carries no known image signature.
    #[error(
        "not an image: no PNG, JPEG, WebP, GIF, MP4 or Matroska signature; the file starts with {starts_with}"
    )]
    NotAnImage {
        /// The first bytes, as text or hex.
        starts_with: String,
    },
    /// The content is an image format kiln does not decode.
    #[error(
        "unsupported image format {format}: kiln decodes PNG, JPEG, WebP and GIF, and takes video frames from ffmpeg"
    )]
    UnsupportedFormat {
        /// The format that was recognised.
        format: String,
    },
    /// The declared size exceeds the limits (a decompression bomb or a
    /// gigapixel scan); nothing was allocated.
    #[error(
        "image too large: declares {width}x{height}, limit {}x{} and {} MiB of pixels",
        limits.max_width, limits.max_height, limits.max_alloc / (1024 * 1024)
    )]
    TooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// The limits in force.
        limits: DecodeLimits,
    },
    /// The decoder itself refused to allocate what the file asks for.
    #[error(
        "image too large: decoding this {format} would exceed the limit of {}x{} and {} MiB of pixels",
        limits.max_width, limits.max_height, limits.max_alloc / (1024 * 1024)
    )]
    LimitExceeded {
        /// The format being decoded.
        format: &'static str,
        /// The limits in force.
        limits: DecodeLimits,
    },
    /// The file ends before its image data does (an interrupted copy or download).
    #[error("truncated {format}: {detail}; the file is incomplete, copy it again")]
    Truncated {
        /// The format being decoded.
        format: &'static str,
        /// What the decoder reported.
        detail: String,
    },
    /// The image data is malformed.
    #[error("corrupt {format}: {detail}")]
    Corrupt {
        /// The format being decoded.
        format: &'static str,
        /// What the decoder reported.
        detail: String,
    },
    /// A valid file using a feature the decoder lacks.
    #[error("unsupported {format} variant: {detail}")]
    UnsupportedFeature {
        /// The format being decoded.
        format: &'static str,
        /// What the decoder reported.
        detail: String,
    },
    /// The file is larger than any image kiln will read.
    #[error("file too large to be an image kiln decodes: {bytes} bytes, limit {limit}")]
    FileTooLarge {
        /// The file's size.
        bytes: u64,
        /// The largest file accepted.
        limit: u64,
    },
    /// Decoding the image needs more memory than the whole decoding budget
    /// (see [`crate::memory`]).
    #[error(
        "a {width}x{height} image needs about {} MiB to decode, more than the whole decoding memory budget of {} MiB; give kiln more with --memory",
        needed >> 20,
        budget >> 20
    )]
    OverBudget {
        /// The image's width.
        width: u32,
        /// The image's height.
        height: u32,
        /// Bytes its decoding needs at its peak.
        needed: u64,
        /// The whole budget.
        budget: u64,
    },
    /// Resizing failed (an internal error, not a property of the file).
    #[error("resizing failed: {0}")]
    Resize(String),
    /// Encoding the proxy or thumbnail failed.
    #[error("encoding the thumbnail failed: {0}")]
    Encode(String),
}

/// How the stage shrinks, limits and stores images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThumbnailConfig {
    /// Longest side of the proxy image, in pixels.
    pub proxy_side: u32,
    /// Longest side of the thumbnail, in pixels.
    pub thumbnail_side: u32,
    /// Limits enforced before decoding.
    pub limits: DecodeLimits,
    /// Largest file read, in bytes.
    pub max_file_bytes: u64,
    /// Encoding of the proxy artifact.
    pub proxy_encoding: ArtifactEncoding,
    /// Encoding of the thumbnail artifact.
    pub thumbnail_encoding: ArtifactEncoding,
}

impl Default for ThumbnailConfig {
    fn default() -> Self {
        ThumbnailConfig {
            proxy_side: 512,
            thumbnail_side: 256,
            limits: DecodeLimits::default(),
            max_file_bytes: 256 * 1024 * 1024,
            proxy_encoding: ArtifactEncoding::Jpeg { quality: 80 },
            thumbnail_encoding: ArtifactEncoding::Jpeg { quality: 80 },
        }
    }
}

/// What was learnt about an image's pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFacts {
    /// The detected format.
    pub format: SourceFormat,
    /// Width as displayed, after orientation.
    pub width: u32,
    /// Height as displayed, after orientation.
    pub height: u32,
    /// The EXIF orientation value that was applied (1 = none, up to 8).
    pub orientation: u8,
    /// Whether the decoded pixels carry an alpha channel.
    pub has_alpha: bool,
    /// Whether some pixel is not fully opaque.
    pub uses_alpha: bool,
    /// Whether the file is animated (the first frame was used).
    pub animated: bool,
    /// The decoded colour type, e.g. `"Rgba8"` or `"Rgb16"`.
    pub color_type: String,
    /// Whether the file is shorter than its format says (a JPEG cut short
    /// still decodes, its missing part grey): worth copying again.
    pub truncated: bool,
}

impl ImageFacts {
    /// The facts as the value tree the stage writes.
    pub fn to_value(&self) -> Value {
        Value::map([
            ("format", Value::from(self.format.name())),
            ("width", Value::from(self.width)),
            ("height", Value::from(self.height)),
            ("orientation", Value::from(u32::from(self.orientation))),
            ("orientation_applied", Value::from(self.orientation != 1)),
            ("has_alpha", Value::from(self.has_alpha)),
            ("uses_alpha", Value::from(self.uses_alpha)),
            ("animated", Value::from(self.animated)),
            ("color_type", Value::from(self.color_type.as_str())),
            ("truncated", Value::from(self.truncated)),
        ])
    }
}

/// One encoded image: bytes, media type and pixel size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedImage {
    /// The encoded bytes.
    pub bytes: Vec<u8>,
    /// Their media type, e.g. `image/jpeg`.
    pub media_type: &'static str,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// The result of thumbnailing one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnails {
    /// The proxy image (longest side ≤ [`ThumbnailConfig::proxy_side`]).
    pub proxy: EncodedImage,
    /// The thumbnail (longest side ≤ [`ThumbnailConfig::thumbnail_side`]).
    pub thumbnail: EncodedImage,
    /// What the pixels are.
    pub facts: ImageFacts,
}

/// Decodes `bytes` (a whole image file) and makes its proxy and thumbnail:
/// once, unless a PNG leaves shrink-on-load part way. A pure function of
/// the bytes and the configuration.
///
/// # Errors
///
/// A [`ThumbnailError`] saying why the bytes are not a usable image.
pub fn make_thumbnails(
    bytes: &[u8],
    config: &ThumbnailConfig,
) -> Result<Thumbnails, ThumbnailError> {
    make_thumbnails_via(bytes, config, true)
}

/// [`make_thumbnails`], with the shrink-on-load path for PNGs (see
/// `stream`) allowed or not; both give the same result.
fn make_thumbnails_via(
    bytes: &[u8],
    config: &ThumbnailConfig,
    shrink_on_load: bool,
) -> Result<Thumbnails, ThumbnailError> {
    let streamed = shrink_on_load
        .then(|| stream::png_halved(bytes, config.limits, config.proxy_side))
        .flatten();
    let (reduced, source) = match streamed {
        Some(png) => {
            let reduced = resize::reduce_halved(
                png.halved,
                png.orientation,
                config.proxy_side,
                config.thumbnail_side,
            )?;
            let source = Source {
                format: SourceFormat::Png,
                width: png.width,
                height: png.height,
                color: png.color,
                orientation: png.orientation,
                animated: false,
                cut: decode::container_is_cut(SourceFormat::Png, bytes),
            };
            (reduced, source)
        }
        None => {
            let decoded = decode::decode(bytes, config.limits)?;
            let reduced = resize::reduce(
                &decoded.image,
                decoded.orientation,
                config.proxy_side,
                config.thumbnail_side,
            )?;
            let source = Source {
                format: decoded.format,
                width: decoded.image.width(),
                height: decoded.image.height(),
                color: decoded.image.color(),
                orientation: decoded.orientation,
                animated: decoded.animated,
                cut: decoded.cut,
            };
            decode::recycle(decoded.image);
            (reduced, source)
        }
    };
    let (mut width, mut height) = (source.width, source.height);
    if swaps_axes(source.orientation) {
        std::mem::swap(&mut width, &mut height);
    }
    let encode = |image: &image::DynamicImage, encoding: ArtifactEncoding| {
        encoding
            .encode(image)
            .map(|(bytes, media_type)| EncodedImage {
                bytes,
                media_type,
                width: image.width(),
                height: image.height(),
            })
    };
    let proxy = encode(&reduced.proxy, config.proxy_encoding)?;
    let thumbnail = encode(&reduced.thumbnail, config.thumbnail_encoding)?;
    Ok(Thumbnails {
        proxy,
        thumbnail,
        facts: ImageFacts {
            format: source.format,
            width,
            height,
            orientation: source.orientation.to_exif(),
            has_alpha: source.color.has_alpha(),
            uses_alpha: !reduced.opaque,
            animated: source.animated,
            color_type: format!("{:?}", source.color),
            truncated: source.cut,
        },
    })
}

/// What the facts say about the source, however it was decoded.
struct Source {
    format: SourceFormat,
    /// Width as stored, before orientation.
    width: u32,
    /// Height as stored, before orientation.
    height: u32,
    color: image::ColorType,
    orientation: image::metadata::Orientation,
    animated: bool,
    cut: bool,
}

fn swaps_axes(orientation: image::metadata::Orientation) -> bool {
    use image::metadata::Orientation as O;
    matches!(
        orientation,
        O::Rotate90 | O::Rotate270 | O::Rotate90FlipH | O::Rotate270FlipH
    )
}

/// The first bytes of a file, enough to tell its format.
fn read_limited_head(path: &str) -> Result<Vec<u8>, StageError> {
    let file = crate::file::open_regular(std::path::Path::new(path))
        .map_err(|e| io_stage_error("cannot open", path, &e))?;
    let mut head = Vec::with_capacity(32);
    file.take(32)
        .read_to_end(&mut head)
        .map_err(|e| io_stage_error("cannot read", path, &e))?;
    Ok(head)
}

/// Reads a whole file, refusing files larger than `limit`.
pub(crate) fn read_limited(path: &str, limit: u64) -> Result<Vec<u8>, StageError> {
    let file = crate::file::open_regular(std::path::Path::new(path))
        .map_err(|e| io_stage_error("cannot open", path, &e))?;
    let length = file
        .metadata()
        .map_err(|e| io_stage_error("cannot inspect", path, &e))?
        .len();
    if length > limit {
        let error = ThumbnailError::FileTooLarge {
            bytes: length,
            limit,
        };
        return Err(StageError::permanent(format!("{path}: {error}")));
    }
    let capacity = usize::try_from(length).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    // The file may grow while it is read; the `take` keeps the limit true.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io_stage_error("cannot read", path, &e))?;
    if bytes.len() as u64 > limit {
        let error = ThumbnailError::FileTooLarge {
            bytes: bytes.len() as u64,
            limit,
        };
        return Err(StageError::permanent(format!("{path}: {error}")));
    }
    Ok(bytes)
}

/// Tier-1 stage that makes an asset browsable: a thumbnail and a proxy.
///
/// Facts written: `format`, `width`, `height` (as displayed),
/// `orientation`, `orientation_applied`, `has_alpha`, `uses_alpha`,
/// `animated`, `color_type`, and the pixel sizes of the two artifacts.
/// Artifacts: [`THUMBNAIL_ARTIFACT`] and [`PROXY_ARTIFACT`].
#[derive(Debug, Clone, Default)]
pub struct ThumbnailStage {
    config: ThumbnailConfig,
}

impl ThumbnailStage {
    /// A stage with the default configuration.
    pub fn new() -> Self {
        ThumbnailStage::default()
    }

    /// A stage with the given configuration.
    pub fn with_config(config: ThumbnailConfig) -> Self {
        ThumbnailStage { config }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ThumbnailConfig {
        &self.config
    }
}

/// Version 2: 2 × 2 area halving and the stage's own JPEG encoder make
/// slightly different proxy and thumbnail pixels than version 1 did.
const THUMBNAIL_VERSION: u32 = 2;

impl Stage for ThumbnailStage {
    fn info(&self) -> StageInfo {
        StageInfo::new(THUMBNAIL_STAGE_NAME, THUMBNAIL_VERSION, TIER_BROWSABLE)
            .after([builtin::HASH])
            .cost(CostClass::Cpu)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let head = read_limited_head(&input.path)?;
        let (thumbnails, note) = match SourceFormat::sniff(&head) {
            Ok(format) if format.is_video() => {
                let path = std::path::Path::new(&input.path);
                let shape = crate::metadata::video_shape(path);
                video::thumbnails(path, format, shape.0, shape.1, &self.config)?
            }
            _ => {
                let bytes = read_limited(&input.path, self.config.max_file_bytes)?;
                let made = make_thumbnails(&bytes, &self.config)
                    .map_err(|e| StageError::permanent(format!("{}: {e}", input.path)))?;
                (made, None)
            }
        };
        let mut facts = thumbnails.facts.to_value();
        if let Value::Map(map) = &mut facts {
            // Without a frame the images are a placeholder, which the
            // enrichment gate keeps out of tier 3.
            map.insert("placeholder".into(), Value::from(note.is_some()));
            map.insert("note".into(), Value::from(note));
            map.insert("proxy_width".into(), Value::from(thumbnails.proxy.width));
            map.insert("proxy_height".into(), Value::from(thumbnails.proxy.height));
            map.insert(
                "thumbnail_width".into(),
                Value::from(thumbnails.thumbnail.width),
            );
            map.insert(
                "thumbnail_height".into(),
                Value::from(thumbnails.thumbnail.height),
            );
        }
        Ok(StageOutput::facts(facts)
            .with_artifact(
                THUMBNAIL_ARTIFACT,
                thumbnails.thumbnail.media_type,
                thumbnails.thumbnail.bytes,
            )
            .with_artifact(
                PROXY_ARTIFACT,
                thumbnails.proxy.media_type,
                thumbnails.proxy.bytes,
            ))
    }
}
