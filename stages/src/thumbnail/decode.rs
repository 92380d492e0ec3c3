//! Decoding the pixels of one image, exactly once, under resource limits.
//!
//! The format is sniffed from the content (never the file name), the declared
//! size is checked against [`DecodeLimits`] before any pixel buffer is
//! allocated, and decoder failures become [`ThumbnailError`]s that say what is
//! wrong with the file in words a person understands.

use super::ThumbnailError;
use crate::memory;
use image::codecs::gif::GifDecoder;
use image::codecs::jpeg::JpegDecoder;
use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::error::ImageFormatHint;
use image::error::LimitErrorKind;
use image::metadata::Orientation;
use image::{ColorType, DynamicImage, ImageBuffer, ImageDecoder, ImageError, ImageFormat, Limits};
use std::cell::Cell;
use std::io::Cursor;

/// Upper bounds a file must respect before its pixels are decoded.
///
/// A decompression bomb declares a huge size in a tiny file; checking the
/// declared size first makes it fail in microseconds without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Widest image accepted, in pixels.
    pub max_width: u32,
    /// Tallest image accepted, in pixels.
    pub max_height: u32,
    /// Most bytes the decoded pixels of one image may take.
    pub max_alloc: u64,
}

impl Default for DecodeLimits {
    /// 16384 pixels a side and 512 MiB of decoded pixels: every real render
    /// and photo fits, while two workers can never exhaust a small machine.
    /// Between images, each thread also keeps its last pixel buffer of up to
    /// 32 MiB for the next decode.
    fn default() -> Self {
        DecodeLimits {
            max_width: 16_384,
            max_height: 16_384,
            max_alloc: 512 * 1024 * 1024,
        }
    }
}

impl DecodeLimits {
    fn to_image_limits(self) -> Limits {
        let mut limits = Limits::default();
        limits.max_image_width = Some(self.max_width);
        limits.max_image_height = Some(self.max_height);
        limits.max_alloc = Some(self.max_alloc);
        limits
    }

    /// Rejects a declared size that exceeds the limits.
    pub(crate) fn check(
        self,
        width: u32,
        height: u32,
        bytes_per_pixel: u64,
    ) -> Result<(), ThumbnailError> {
        let bytes = u64::from(width)
            .saturating_mul(u64::from(height))
            .saturating_mul(bytes_per_pixel);
        if width > self.max_width || height > self.max_height || bytes > self.max_alloc {
            return Err(ThumbnailError::TooLarge {
                width,
                height,
                limits: self,
            });
        }
        Ok(())
    }
}

/// The image formats kiln decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceFormat {
    /// PNG (and APNG, first frame).
    Png,
    /// JPEG.
    Jpeg,
    /// WebP, lossy or lossless (animated: first frame).
    WebP,
    /// GIF (animated: first frame).
    Gif,
    /// An MP4, MOV or M4V video: its frame comes from `ffmpeg`.
    Mp4,
    /// A Matroska or WebM video: its frame comes from `ffmpeg`.
    Matroska,
}

impl SourceFormat {
    /// The usual short name, e.g. `"PNG"`.
    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::Png => "PNG",
            SourceFormat::Jpeg => "JPEG",
            SourceFormat::WebP => "WebP",
            SourceFormat::Gif => "GIF",
            SourceFormat::Mp4 => "MP4",
            SourceFormat::Matroska => "Matroska",
        }
    }

    /// Whether this is a video container (decoded by `ffmpeg`, not here).
    pub fn is_video(self) -> bool {
        matches!(self, SourceFormat::Mp4 | SourceFormat::Matroska)
    }

    /// Identifies the format from the first bytes of a file.
    ///
    /// # Errors
    ///
    /// [`ThumbnailError::Empty`] for no bytes, [`ThumbnailError::UnsupportedFormat`]
    /// for a known image format kiln does not decode, and
    /// [`ThumbnailError::NotAnImage`] for anything else.
    pub fn sniff(bytes: &[u8]) -> Result<SourceFormat, ThumbnailError> {
        if bytes.is_empty() {
            return Err(ThumbnailError::Empty);
        }
        if is_iso_video(bytes) {
            return Ok(SourceFormat::Mp4);
        }
        if bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
            return Ok(SourceFormat::Matroska);
        }
        match image::guess_format(bytes) {
            Ok(ImageFormat::Png) => Ok(SourceFormat::Png),
            Ok(ImageFormat::Jpeg) => Ok(SourceFormat::Jpeg),
            Ok(ImageFormat::WebP) => Ok(SourceFormat::WebP),
            Ok(ImageFormat::Gif) => Ok(SourceFormat::Gif),
            Ok(other) => Err(ThumbnailError::UnsupportedFormat {
                format: format!("{other:?}"),
            }),
            Err(_) => match signature_prefix_of(bytes) {
                Some(format) => Err(ThumbnailError::Truncated {
                    format: format.name(),
                    detail: format!(
                        "the file is only {} byte(s) long, shorter than its signature",
                        bytes.len()
                    ),
                }),
                None => Err(ThumbnailError::NotAnImage {
                    starts_with: describe_start(bytes),
                }),
            },
        }
    }
}

/// An image decoded once, with what was learnt while decoding it.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// The pixels as stored, before any orientation is applied.
    pub(crate) image: DynamicImage,
    pub(crate) format: SourceFormat,
    pub(crate) orientation: Orientation,
    pub(crate) animated: bool,
    /// Whether the file is shorter than its container says; some decoders
    /// (JPEG) still return the part that is there.
    pub(crate) cut: bool,
    /// The decoding memory held while the pixels live.
    pub(crate) _memory: memory::Reservation,
}

/// What decoding an image of this size needs at its peak: the decoded
/// pixels, and an 8-bit RGBA copy the resizing works from.
fn decode_peak(width: u32, height: u32, bytes_per_pixel: u64) -> u64 {
    let pixels = u64::from(width).saturating_mul(u64::from(height));
    pixels.saturating_mul(bytes_per_pixel.saturating_add(4))
}

/// Decodes `bytes` (the whole file) into pixels, enforcing `limits`.
pub(crate) fn decode(bytes: &[u8], limits: DecodeLimits) -> Result<Decoded, ThumbnailError> {
    let format = SourceFormat::sniff(bytes)?;
    if format == SourceFormat::Png {
        // The PNG decoder checks limits while constructing itself and then
        // reports no dimensions; reading IHDR first gives a precise message.
        if let Some((width, height)) = png_declared_size(bytes) {
            limits.check(width, height, 1)?;
        }
    }
    // Third-party decoders see hostile input here; a panic inside one must
    // fail this file, not the worker that runs it.
    let outcome = std::panic::catch_unwind(|| decode_format(bytes, format, limits));
    match outcome {
        Ok(result) => result,
        Err(_) => Err(ThumbnailError::Corrupt {
            format: format.name(),
            detail: "the decoder failed on malformed data".to_string(),
        }),
    }
}

fn decode_format(
    bytes: &[u8],
    format: SourceFormat,
    limits: DecodeLimits,
) -> Result<Decoded, ThumbnailError> {
    let failed = |e: ImageError| classify(format, e, limits, bytes);
    let cursor = Cursor::new(bytes);
    match format {
        SourceFormat::Png => {
            let decoder =
                PngDecoder::with_limits(cursor, limits.to_image_limits()).map_err(failed)?;
            let animated = decoder.is_apng().unwrap_or(false);
            finish(decoder, format, animated, 0, limits, bytes)
        }
        SourceFormat::Jpeg => {
            let decoder = JpegDecoder::new(cursor).map_err(failed)?;
            finish(decoder, format, false, 0, limits, bytes)
        }
        SourceFormat::WebP => {
            let decoder = WebPDecoder::new(cursor).map_err(failed)?;
            let animated = decoder.has_animation();
            finish(decoder, format, animated, 0, limits, bytes)
        }
        SourceFormat::Gif => {
            let frames = gif_frames(bytes);
            // The decoder draws the first frame into a buffer of its own
            // when it does not cover the screen exactly; a frame may even
            // be larger than the screen it is drawn on.
            let extra = match frames.first {
                Some((width, height, exact)) if !exact => {
                    limits.check(width, height, 4)?;
                    decode_peak(width, height, 0)
                }
                _ => 0,
            };
            let decoder = GifDecoder::new(cursor).map_err(failed)?;
            finish(decoder, format, frames.several, extra, limits, bytes)
        }
        SourceFormat::Mp4 | SourceFormat::Matroska => Err(ThumbnailError::UnsupportedFormat {
            format: format!("{} video (its frame comes from ffmpeg)", format.name()),
        }),
    }
}

/// Decodes the first frame; `extra` is memory the decoder needs beyond the
/// pixels it returns.
fn finish(
    mut decoder: impl ImageDecoder,
    format: SourceFormat,
    animated: bool,
    extra: u64,
    limits: DecodeLimits,
    bytes: &[u8],
) -> Result<Decoded, ThumbnailError> {
    let failed = |e: ImageError| classify(format, e, limits, bytes);
    let (width, height) = decoder.dimensions();
    let bytes_per_pixel = u64::from(decoder.color_type().bytes_per_pixel());
    limits.check(width, height, bytes_per_pixel)?;
    // Waits while other large images hold the budget.
    let peak = decode_peak(width, height, bytes_per_pixel).saturating_add(extra);
    let reserved = memory::reserve(peak).map_err(|over| ThumbnailError::OverBudget {
        width,
        height,
        needed: over.needed,
        budget: over.budget,
    })?;
    decoder
        .set_limits(limits.to_image_limits())
        .map_err(failed)?;
    // Broken orientation metadata must not cost the asset its thumbnail:
    // the image is shown as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let image = match decoder.color_type() {
        ColorType::L8 | ColorType::La8 | ColorType::Rgb8 | ColorType::Rgba8 => {
            read_into_scratch(decoder).map_err(failed)?
        }
        _ => DynamicImage::from_decoder(decoder).map_err(failed)?,
    };
    Ok(Decoded {
        image,
        format,
        orientation,
        animated,
        cut: container_is_cut(format, bytes),
        _memory: reserved,
    })
}

/// What a GIF's block stream says before any frame is decoded.
#[derive(Debug, Default, PartialEq)]
struct GifFrames {
    /// The first frame's right and bottom edges, and whether it covers the
    /// logical screen exactly.
    first: Option<(u32, u32, bool)>,
    /// Whether a second frame follows.
    several: bool,
}

/// Walks a GIF's blocks (no decompression) up to its second frame. A cut or
/// malformed stream ends the walk with what was seen.
fn gif_frames(bytes: &[u8]) -> GifFrames {
    let mut found = GifFrames::default();
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let (Some(screen_w), Some(screen_h), Some(&packed)) = (u16_at(6), u16_at(8), bytes.get(10))
    else {
        return found;
    };
    let table = |packed: u8| {
        if packed & 0x80 != 0 {
            3usize << ((packed & 0x07) + 1)
        } else {
            0
        }
    };
    // Each sub-block sequence ends at a zero length; returns where.
    let skip_sub_blocks = |mut at: usize| -> Option<usize> {
        loop {
            let len = usize::from(*bytes.get(at)?);
            at += 1 + len;
            if len == 0 {
                return Some(at);
            }
        }
    };
    let mut at = 13 + table(packed);
    loop {
        match bytes.get(at) {
            Some(0x2C) => {
                if found.first.is_some() {
                    found.several = true;
                    return found;
                }
                let (Some(left), Some(top), Some(w), Some(h), Some(&local)) = (
                    u16_at(at + 1),
                    u16_at(at + 3),
                    u16_at(at + 5),
                    u16_at(at + 7),
                    bytes.get(at + 9),
                ) else {
                    return found;
                };
                let right = u32::from(left) + u32::from(w);
                let bottom = u32::from(top) + u32::from(h);
                let exact = (left, top, w, h) == (0, 0, screen_w, screen_h);
                found.first = Some((right, bottom, exact));
                // Descriptor, local colour table, LZW minimum code size.
                match skip_sub_blocks(at + 10 + table(local) + 1) {
                    Some(next) => at = next,
                    None => return found,
                }
            }
            Some(0x21) => match skip_sub_blocks(at + 2) {
                Some(next) => at = next,
                None => return found,
            },
            _ => return found,
        }
    }
}

/// Decoded 8-bit buffers up to this size are kept for the next image decoded
/// on the same thread; larger ones are freed.
const SCRATCH_KEEP_BYTES: usize = 32 * 1024 * 1024;

thread_local! {
    /// The last recycled pixel buffer of this thread. Decoding into memory
    /// that is already mapped saves faulting in and zeroing a fresh buffer
    /// for every image, which cost several percent of a PNG's decode when
    /// the allocator handed large freed blocks back to the kernel. Opaque
    /// PNGs large enough to halve are shrunk on load without it; JPEG,
    /// WebP and the other PNGs are decoded here.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A buffer of exactly `len` bytes, reusing this thread's scratch buffer when
/// it is large enough. Its contents are arbitrary: the decoder overwrites
/// every byte.
fn scratch(len: usize) -> Vec<u8> {
    let mut buffer = SCRATCH.with(Cell::take);
    if buffer.capacity() < len {
        // Fresh zeroed memory comes straight from the kernel, untouched.
        return vec![0; len];
    }
    if buffer.len() >= len {
        buffer.truncate(len);
    } else {
        buffer.resize(len, 0);
    }
    buffer
}

/// Gives an 8-bit image's pixel buffer back for the next decode on this
/// thread. Other images are simply dropped.
pub(crate) fn recycle(image: DynamicImage) {
    let buffer = match image {
        DynamicImage::ImageLuma8(pixels) => pixels.into_raw(),
        DynamicImage::ImageLumaA8(pixels) => pixels.into_raw(),
        DynamicImage::ImageRgb8(pixels) => pixels.into_raw(),
        DynamicImage::ImageRgba8(pixels) => pixels.into_raw(),
        _ => return,
    };
    if buffer.capacity() <= SCRATCH_KEEP_BYTES {
        SCRATCH.with(|cell| cell.set(buffer));
    }
}

/// Decodes an 8-bit image into this thread's scratch buffer.
fn read_into_scratch(decoder: impl ImageDecoder) -> Result<DynamicImage, ImageError> {
    let (width, height) = decoder.dimensions();
    let color = decoder.color_type();
    let too_large = || {
        ImageError::Limits(image::error::LimitError::from_kind(
            LimitErrorKind::InsufficientMemory,
        ))
    };
    let len = usize::try_from(decoder.total_bytes()).map_err(|_| too_large())?;
    let mut buffer = scratch(len);
    if let Err(e) = decoder.read_image(&mut buffer) {
        SCRATCH.with(|cell| cell.set(buffer));
        return Err(e);
    }
    let image = match color {
        ColorType::L8 => ImageBuffer::from_raw(width, height, buffer).map(DynamicImage::ImageLuma8),
        ColorType::La8 => {
            ImageBuffer::from_raw(width, height, buffer).map(DynamicImage::ImageLumaA8)
        }
        ColorType::Rgb8 => {
            ImageBuffer::from_raw(width, height, buffer).map(DynamicImage::ImageRgb8)
        }
        _ => ImageBuffer::from_raw(width, height, buffer).map(DynamicImage::ImageRgba8),
    };
    // The buffer holds exactly `total_bytes`, so this cannot fail; the
    // error keeps a broken decoder from becoming a panic.
    image.ok_or_else(|| {
        ImageError::Decoding(image::error::DecodingError::new(
            ImageFormatHint::Unknown,
            "the decoder's image size does not match its pixel buffer",
        ))
    })
}

/// Whether `head` starts an ISO base media file that is not a still image
/// or audio: `ftyp` with a major brand other than HEIF's, AVIF's, Canon
/// raw's or an audio book's.
pub(crate) fn is_iso_video(head: &[u8]) -> bool {
    const NOT_VIDEO: [&[u8; 4]; 12] = [
        b"avif", b"avis", b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1",
        b"crx ", b"M4A ",
    ];
    head.get(4..8) == Some(b"ftyp")
        && head
            .get(8..12)
            .is_some_and(|brand| !NOT_VIDEO.iter().any(|b| b.as_slice() == brand))
}

/// The format whose signature `bytes` is a strict beginning of: a file cut
/// within its first few bytes.
fn signature_prefix_of(bytes: &[u8]) -> Option<SourceFormat> {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    const JPEG: &[u8] = b"\xff\xd8\xff";
    let riff_webp = bytes.len() < 12
        && bytes.iter().zip(b"RIFF").all(|(a, b)| a == b)
        && bytes.iter().skip(8).zip(b"WEBP").all(|(a, b)| a == b);
    if bytes.len() < PNG.len() && PNG.starts_with(bytes) {
        Some(SourceFormat::Png)
    } else if bytes.len() < JPEG.len() && JPEG.starts_with(bytes) {
        Some(SourceFormat::Jpeg)
    } else if riff_webp {
        Some(SourceFormat::WebP)
    } else if bytes.len() < 6 && (b"GIF87a".starts_with(bytes) || b"GIF89a".starts_with(bytes)) {
        Some(SourceFormat::Gif)
    } else {
        None
    }
}

/// Whether the container says the file should be longer than it is: a WebP
/// whose RIFF header declares more bytes, or a JPEG without its end marker.
/// Used to tell a cut file from a damaged one when the decoder only says
/// "corrupt".
pub(crate) fn container_is_cut(format: SourceFormat, bytes: &[u8]) -> bool {
    match format {
        SourceFormat::WebP => bytes
            .get(4..8)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .is_some_and(|riff_len| u64::from(riff_len) + 8 > bytes.len() as u64),
        // Files often carry padding or appended data after their end marker,
        // so the marker is looked for near the end rather than at it.
        SourceFormat::Jpeg => !tail(bytes).windows(2).any(|w| w == b"\xff\xd9"),
        SourceFormat::Png => !tail(bytes).windows(4).any(|w| w == b"IEND"),
        // A GIF ends with its trailer byte, maybe followed by padding.
        SourceFormat::Gif => !tail(bytes).contains(&0x3B),
        SourceFormat::Mp4 | SourceFormat::Matroska => false,
    }
}

/// The last 64 KiB of a file, where its end marker should be.
fn tail(bytes: &[u8]) -> &[u8] {
    bytes
        .get(bytes.len().saturating_sub(64 * 1024)..)
        .unwrap_or(bytes)
}

/// Width and height from a PNG's IHDR chunk, when the file is long enough.
pub(crate) fn png_declared_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let chunk_type = bytes.get(12..16)?;
    if chunk_type != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(bytes.get(16..20)?.try_into().ok()?);
    let height = u32::from_be_bytes(bytes.get(20..24)?.try_into().ok()?);
    Some((width, height))
}

/// Turns a decoder error into a reason a person can act on.
fn classify(
    format: SourceFormat,
    error: ImageError,
    limits: DecodeLimits,
    bytes: &[u8],
) -> ThumbnailError {
    let name = format.name();
    match error {
        ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            ThumbnailError::Truncated {
                format: name,
                detail: "the file ends before the image data does".to_string(),
            }
        }
        ImageError::Limits(e) => match e.kind() {
            LimitErrorKind::DimensionError | LimitErrorKind::InsufficientMemory => {
                ThumbnailError::LimitExceeded {
                    format: name,
                    limits,
                }
            }
            _ => ThumbnailError::Corrupt {
                format: name,
                detail: e.to_string(),
            },
        },
        ImageError::Unsupported(e) => ThumbnailError::UnsupportedFeature {
            format: name,
            detail: e.to_string(),
        },
        other => {
            let detail = other.to_string().trim().to_string();
            if looks_truncated(&detail) || container_is_cut(format, bytes) {
                ThumbnailError::Truncated {
                    format: name,
                    detail,
                }
            } else {
                ThumbnailError::Corrupt {
                    format: name,
                    detail,
                }
            }
        }
    }
}

/// Decoders report running out of data in their own words.
fn looks_truncated(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    [
        "eof",
        "end of file",
        "unexpected end",
        "truncated",
        "no more data",
        "exhausted",
        "not enough bytes",
        "premature",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// The first bytes of a file as a person reads them: text if printable,
/// hex otherwise.
fn describe_start(bytes: &[u8]) -> String {
    let head = bytes.get(..16).unwrap_or(bytes);
    let printable = head
        .iter()
        .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\n' || *b == b'\r' || *b == b'\t');
    if printable {
        let text: String = head.iter().map(|&b| char::from(b)).collect();
        format!("text {:?}", text)
    } else {
        let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
        format!("bytes {}", hex.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A GIF of a `screen` with frames at the given (left, top, w, h); each
    /// frame's data is a minimal LZW stream, `loops` adds a NETSCAPE2.0
    /// extension.
    fn gif(screen: (u16, u16), frames: &[(u16, u16, u16, u16)], loops: bool) -> Vec<u8> {
        let mut out = b"GIF89a".to_vec();
        out.extend_from_slice(&screen.0.to_le_bytes());
        out.extend_from_slice(&screen.1.to_le_bytes());
        out.extend_from_slice(b"\x80\x00\x00\x00\x00\x00\xff\xff\xff");
        if loops {
            out.extend_from_slice(b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00");
        }
        for &(left, top, w, h) in frames {
            out.push(0x2C);
            for v in [left, top, w, h] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(b"\x00\x02\x02\x44\x01\x00");
        }
        out.push(0x3B);
        out
    }

    #[test]
    fn the_walk_finds_the_first_frame_and_a_second() {
        let one = gif((4, 4), &[(0, 0, 4, 4)], true);
        assert_eq!(
            gif_frames(&one),
            GifFrames {
                first: Some((4, 4, true)),
                several: false
            },
            "a looping extension alone is not an animation"
        );
        let two = gif((4, 4), &[(1, 1, 2, 2), (0, 0, 4, 4)], false);
        assert_eq!(
            gif_frames(&two),
            GifFrames {
                first: Some((3, 3, false)),
                several: true
            }
        );
        for cut in 0..two.len() {
            let _ = gif_frames(&two[..cut]);
        }
    }

    #[test]
    fn a_first_frame_far_larger_than_its_screen_is_refused_before_decoding() {
        let bytes = gif((1, 1), &[(0, 0, 60_000, 60_000)], false);
        match decode(&bytes, DecodeLimits::default()) {
            Err(ThumbnailError::TooLarge { width, height, .. }) => {
                assert_eq!((width, height), (60_000, 60_000));
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn a_single_frame_gif_is_not_animated_and_two_frames_are() {
        let one = gif((1, 1), &[(0, 0, 1, 1)], true);
        assert!(
            !decode(&one, DecodeLimits::default())
                .expect("decodes")
                .animated
        );
        let two = gif((1, 1), &[(0, 0, 1, 1), (0, 0, 1, 1)], false);
        assert!(
            decode(&two, DecodeLimits::default())
                .expect("decodes")
                .animated
        );
    }
}
