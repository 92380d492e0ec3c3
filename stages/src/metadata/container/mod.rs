//! Reading metadata out of image and video containers (PNG, JPEG, WebP,
//! GIF, MP4, Matroska/WebM) without decoding pixels: chunks, segments,
//! boxes and elements are walked one by one, metadata is read and
//! everything else is skipped with a seek.

mod gif;
mod jpeg;
mod matroska;
mod mp4;
mod png;
mod webp;

use super::{ExtractError, Problem};
use std::io::{self, Read, Seek, SeekFrom};

/// The largest single metadata payload read (a text chunk, an EXIF block,
/// an inflated `zTXt`). Real ComfyUI workflows reach a few megabytes; a
/// bigger payload is skipped and recorded as a problem.
pub(crate) const MAX_PAYLOAD: u64 = 16 << 20;

/// The most metadata bytes kept for one file, all payloads together.
pub(crate) const MAX_TOTAL: u64 = 64 << 20;

/// The most problems kept while walking one file (the extraction lists
/// at most this many too, and counts the rest).
pub(crate) const MAX_PROBLEMS: usize = 64;

/// The most metadata texts kept from one file.
const MAX_TEXTS: usize = 4096;

/// The container formats kiln reads metadata from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImageFormat {
    /// Portable Network Graphics.
    Png,
    /// JPEG (JFIF or EXIF).
    Jpeg,
    /// WebP (simple or extended RIFF).
    WebP,
    /// GIF (87a or 89a).
    Gif,
    /// An ISO base media file: MP4, MOV, M4V.
    Mp4,
    /// Matroska, including WebM.
    Matroska,
}

impl ImageFormat {
    /// The lowercase name, e.g. `"png"`.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::WebP => "webp",
            ImageFormat::Gif => "gif",
            ImageFormat::Mp4 => "mp4",
            ImageFormat::Matroska => "matroska",
        }
    }

    /// Whether the format is a video container.
    pub fn is_video(self) -> bool {
        matches!(self, ImageFormat::Mp4 | ImageFormat::Matroska)
    }
}

/// The length of a video or animation as its container states it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct Animation {
    /// Frames (a video track's samples, an animation's frames); for
    /// Matroska, the duration times the frame rate.
    pub frames: Option<u64>,
    /// Seconds.
    pub duration: Option<f64>,
    /// Frames per second.
    pub fps: Option<f64>,
}

/// One metadata text found in the container, under a key that says where it
/// was: `tEXt:parameters`, `iTXt:prompt`, `COM`, `XMP`, `EXIF:UserComment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawText {
    pub(crate) key: String,
    pub(crate) text: String,
}

/// What the container walk found.
#[derive(Debug, Default)]
pub(crate) struct Container {
    pub(crate) format: Option<ImageFormat>,
    /// The pixel size stated by the image header.
    pub(crate) pixel_size: Option<(u32, u32)>,
    /// Whether the header declares an alpha channel (where stealth
    /// metadata may hide).
    pub(crate) has_alpha: bool,
    pub(crate) texts: Vec<RawText>,
    /// A TIFF block (EXIF), without any `Exif\0\0` prefix.
    pub(crate) exif: Option<Vec<u8>>,
    /// C2PA manifest bytes (JUMBF), possibly cut at [`MAX_PAYLOAD`].
    pub(crate) c2pa: Option<Vec<u8>>,
    /// Frames and duration of a video or an animated image.
    pub(crate) animation: Option<Animation>,
    pub(crate) problems: Vec<Problem>,
    /// Payload bytes kept so far, checked against [`MAX_TOTAL`].
    kept: u64,
    /// Whether texts past [`MAX_TEXTS`] were dropped.
    texts_dropped: bool,
    /// Problems past [`MAX_PROBLEMS`], counted but not kept.
    pub(crate) problems_dropped: u64,
}

impl Container {
    /// Records a problem; past [`MAX_PROBLEMS`] a file of many broken
    /// parts is only counted, not listed part by part.
    pub(crate) fn problem(&mut self, location: impl Into<String>, message: impl Into<String>) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem::new(location, message));
        } else {
            self.problems_dropped += 1;
        }
    }

    /// Keeps a text; past [`MAX_TEXTS`] (empty or tiny ones pass the byte
    /// limits) the rest are dropped with one problem.
    pub(crate) fn push_text(&mut self, key: String, text: String) {
        if self.texts.len() < MAX_TEXTS {
            self.texts.push(RawText { key, text });
        } else if !self.texts_dropped {
            self.texts_dropped = true;
            self.problem(
                "file",
                format!("more than {MAX_TEXTS} metadata texts; the rest are skipped"),
            );
        }
    }

    /// Whether a payload of `len` bytes may be read; records why not.
    fn admit(&mut self, location: &str, len: u64) -> bool {
        if len > MAX_PAYLOAD {
            self.problem(
                location,
                format!("payload of {len} bytes exceeds the {MAX_PAYLOAD}-byte limit; skipped"),
            );
            return false;
        }
        if self.kept.saturating_add(len) > MAX_TOTAL {
            self.problem(
                location,
                format!("metadata in this file exceeds {MAX_TOTAL} bytes in total; skipped"),
            );
            return false;
        }
        self.kept += len;
        true
    }
}

/// Walks the container in `source` and collects its metadata.
///
/// Errors only when the bytes are not an image kiln knows (empty, unknown
/// signature) or cannot be read at all; damage after the signature is
/// recorded in [`Container::problems`].
pub(crate) fn read<R: Read + Seek>(source: &mut R) -> Result<Container, ExtractError> {
    let mut magic = [0u8; 12];
    let got = read_up_to(source, &mut magic)?;
    if got == 0 {
        return Err(ExtractError::Empty);
    }
    let magic = &magic[..got];
    source.seek(SeekFrom::Start(0))?;
    let mut container = Container::default();
    let outcome = if magic.starts_with(b"\x89PNG\r\n\x1a\n") {
        container.format = Some(ImageFormat::Png);
        png::read(source, &mut container)
    } else if magic.starts_with(&[0xFF, 0xD8, 0xFF]) {
        container.format = Some(ImageFormat::Jpeg);
        jpeg::read(source, &mut container)
    } else if magic.len() == 12 && magic.starts_with(b"RIFF") && magic.ends_with(b"WEBP") {
        container.format = Some(ImageFormat::WebP);
        webp::read(source, &mut container)
    } else if magic.starts_with(b"GIF87a") || magic.starts_with(b"GIF89a") {
        container.format = Some(ImageFormat::Gif);
        gif::read(source, &mut container)
    } else if crate::thumbnail::is_iso_video(magic) {
        container.format = Some(ImageFormat::Mp4);
        mp4::read(source, &mut container)
    } else if magic.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        container.format = Some(ImageFormat::Matroska);
        matroska::read(source, &mut container)
    } else {
        return Err(ExtractError::UnknownFormat {
            magic: magic.iter().map(|b| format!("{b:02x}")).collect(),
        });
    };
    if let Err(error) = outcome {
        let name = container.format.map_or("image", ImageFormat::name);
        if error.kind() == io::ErrorKind::UnexpectedEof {
            container.problem(name, "file is truncated; metadata after the cut is lost");
        } else {
            container.problem(name, format!("reading stopped: {error}"));
        }
    }
    Ok(container)
}

/// ComfyUI's video savers write `{"prompt": "<json>", "workflow": "<json>"}`
/// as the container's comment: its members are kept as texts of their own
/// (`mp4:prompt`, `mkv:workflow`), to be read like a PNG's chunks. Any other
/// comment is left as it is.
fn unwrap_comfy_comment(prefix: &str, text: &str, out: &mut Container) {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('{') {
        return;
    }
    let Ok(serde_json::Value::Object(map)) = crate::metadata::formats::json::parse(trimmed) else {
        return;
    };
    for key in ["prompt", "workflow"] {
        match map.get(key) {
            Some(serde_json::Value::String(inner)) => {
                out.push_text(format!("{prefix}:{key}"), inner.clone());
            }
            Some(inner @ serde_json::Value::Object(_)) => {
                out.push_text(format!("{prefix}:{key}"), inner.to_string());
            }
            _ => {}
        }
    }
}

/// Reads as many bytes as are available into `buf`, up to its length.
fn read_up_to<R: Read>(source: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads exactly `len` bytes (already admitted against the limits).
fn read_vec<R: Read>(source: &mut R, len: u64) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    source.take(len).read_to_end(&mut data)?;
    if (data.len() as u64) < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(data)
}

/// Skips `len` bytes forward.
fn skip<R: Seek>(source: &mut R, len: u64) -> io::Result<()> {
    let len = i64::try_from(len).map_err(|_| io::Error::other("chunk length overflows"))?;
    source.seek(SeekFrom::Current(len)).map(|_| ())
}

impl Container {
    /// Inflates a zlib stream, refusing output larger than [`MAX_PAYLOAD`]
    /// or than what is left of [`MAX_TOTAL`] (so many small compressed
    /// chunks cannot add up to a decompression bomb).
    pub(crate) fn inflate(&mut self, data: &[u8]) -> Result<Vec<u8>, String> {
        let left = MAX_TOTAL.saturating_sub(self.kept).min(MAX_PAYLOAD);
        let limit = usize::try_from(left).unwrap_or(usize::MAX);
        let text =
            miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(data, limit).map_err(|e| {
                if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput {
                    format!("compressed text inflates past the {left}-byte limit; skipped")
                } else {
                    format!("compressed text is corrupt ({:?}); skipped", e.status)
                }
            })?;
        self.kept = self.kept.saturating_add(text.len() as u64);
        Ok(text)
    }
}
