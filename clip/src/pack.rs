//! A CLIP model pack in Immich's layout: its files, its configuration and
//! their checks before any model is loaded.
//!
//! ```text
//! config.json                 open_clip config: embed_dim, vision_cfg.image_size, text_cfg.context_length
//! visual/model.onnx           "image" f32 [N,3,S,S] -> "embedding" [N,D]
//! visual/preprocess_cfg.json  size, mean, std, interpolation, resize_mode, fill_color
//! textual/model.onnx          "text" i32 [N,C] -> "embedding" [N,D]
//! textual/tokenizer.json      Hugging Face tokenizer (CLIP BPE)
//! textual/tokenizer_config.json  pad_token (optional: without it, padding is 0)
//! ```

use crate::error::{ClipError, Result};
use serde::Deserialize;
use sha2::Digest;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The pack's configuration file.
pub const CONFIG: &str = "config.json";
/// The image model.
pub const VISUAL_MODEL: &str = "visual/model.onnx";
/// The image preprocessing.
pub const PREPROCESS: &str = "visual/preprocess_cfg.json";
/// The text model.
pub const TEXTUAL_MODEL: &str = "textual/model.onnx";
/// The tokenizer.
pub const TOKENIZER: &str = "textual/tokenizer.json";
/// The tokenizer's settings (its padding token).
pub const TOKENIZER_CONFIG: &str = "textual/tokenizer_config.json";

const REQUIRED: [&str; 5] = [CONFIG, VISUAL_MODEL, PREPROCESS, TEXTUAL_MODEL, TOKENIZER];

/// The largest JSON settings file read (config and preprocessing).
const MAX_SETTINGS_BYTES: u64 = 1 << 20;
/// The largest tokenizer file read.
pub(crate) const MAX_TOKENIZER_BYTES: u64 = 64 << 20;
/// The largest image side a pack may ask for.
const MAX_IMAGE_SIZE: u32 = 4096;
/// The largest context length a pack may ask for.
const MAX_CONTEXT_LENGTH: usize = 4096;
/// The largest embedding a pack may declare.
const MAX_EMBED_DIM: usize = 65536;

/// A pack's files and settings, read and checked (the models themselves are
/// checked when loaded, by [`crate::Clip::load`]).
#[derive(Debug, Clone)]
pub struct Pack {
    dir: PathBuf,
    config: PackConfig,
    preprocess: Preprocess,
}

/// What `config.json` says that kiln uses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PackConfig {
    /// The embedding's length, D.
    pub embed_dim: usize,
    /// The image model's square input side, S (`vision_cfg.image_size`).
    pub image_size: u32,
    /// The text model's token count (`text_cfg.context_length`, 77 when not
    /// stated, as open_clip).
    pub context_length: usize,
    /// How many token ids the text model knows (`text_cfg.vocab_size`), when
    /// stated.
    pub vocab_size: Option<usize>,
}

/// How an image becomes the model's input (`visual/preprocess_cfg.json`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Preprocess {
    /// The square side, S.
    pub size: u32,
    /// Per-channel mean (R, G, B) subtracted from values in 0..=1.
    pub mean: [f32; 3],
    /// Per-channel standard deviation (R, G, B) divided by.
    pub std: [f32; 3],
    /// The resampling filter.
    pub interpolation: Interpolation,
    /// How the image is fitted to S × S.
    pub resize_mode: ResizeMode,
    /// The 8-bit value the `longest` mode pads with.
    pub fill: u8,
}

/// Pillow's antialiased resampling filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interpolation {
    /// Cubic convolution, a = −0.5, support 2.
    Bicubic,
    /// Triangle filter, support 1.
    Bilinear,
}

/// How an image is fitted to the model's square input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResizeMode {
    /// The shorter side becomes S, then an S × S centre crop.
    Shortest,
    /// Straight to S × S, whatever the aspect ratio.
    Squash,
    /// The longer side becomes S, then centred on an S × S canvas of `fill`.
    Longest,
}

/// One file of a pack and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackFile {
    /// The path inside the pack, `/`-separated.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
    /// When it was last modified, in nanoseconds since the Unix epoch, as
    /// the file system said before it was hashed (`None` where it does
    /// not say).
    pub modified_ns: Option<u64>,
}

/// A file of a pack as the file system describes it, without reading it:
/// enough to tell cheaply that it was not replaced since it was hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    /// The path inside the pack, `/`-separated.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was last modified (see [`PackFile::modified_ns`]).
    pub modified_ns: Option<u64>,
}

impl Preprocess {
    /// The image model's input for `image`: 3 × S × S values, channels
    /// first, as open_clip's eval transform computes them.
    ///
    /// # Errors
    /// [`ClipError::Image`] for an empty image.
    pub fn input(&self, image: &image::RgbImage) -> Result<Vec<f32>> {
        if image.width() == 0 || image.height() == 0 {
            return Err(ClipError::Image(format!(
                "it is {} × {} pixels",
                image.width(),
                image.height()
            )));
        }
        let size = self.size as usize;
        let mut input = vec![0f32; 3 * size * size];
        crate::preprocess::write_input(image, self, &mut input);
        Ok(input)
    }
}

impl Pack {
    /// Reads a pack's settings and checks that its files are there.
    ///
    /// # Errors
    /// [`ClipError::File`] naming a missing or unreadable file,
    /// [`ClipError::Invalid`] naming a settings file that cannot be used
    /// (bad JSON, a missing field, a size that disagrees with another file).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(ClipError::file(
                &dir,
                "not a folder (a CLIP model pack is a folder)",
            ));
        }
        for name in REQUIRED {
            let path = dir.join(name);
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => {}
                Ok(_) => return Err(ClipError::file(path, "not a file")),
                Err(e) => {
                    return Err(ClipError::file(
                        path,
                        format!(
                            "missing from the pack ({e}); a pack needs {}",
                            REQUIRED.join(", ")
                        ),
                    ));
                }
            }
        }
        let config = read_config(&dir.join(CONFIG))?;
        let preprocess = read_preprocess(&dir.join(PREPROCESS))?;
        if preprocess.size != config.image_size {
            return Err(ClipError::invalid(
                dir.join(PREPROCESS),
                format!(
                    "size {} disagrees with {CONFIG}'s vision_cfg.image_size {}",
                    preprocess.size, config.image_size
                ),
            ));
        }
        Ok(Self {
            dir,
            config,
            preprocess,
        })
    }

    /// The pack's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The pack's name: its folder's name.
    pub fn name(&self) -> String {
        self.dir.file_name().map_or_else(
            || self.dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// What `config.json` says.
    pub fn config(&self) -> &PackConfig {
        &self.config
    }

    /// What `visual/preprocess_cfg.json` says.
    pub fn preprocess(&self) -> &Preprocess {
        &self.preprocess
    }

    /// The path of one of the pack's files.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Every file kiln reads from the pack, with its SHA-256: what pins a
    /// pack. Reads every byte of the models.
    ///
    /// # Errors
    /// [`ClipError::File`] naming a file that cannot be read.
    pub fn files(&self) -> Result<Vec<PackFile>> {
        self.names()
            .into_iter()
            .map(|name| {
                let path = self.dir.join(name);
                let modified_ns = stamp(&path)?.1;
                let (bytes, sha256) = sha256_file(&path)?;
                Ok(PackFile {
                    name: name.to_owned(),
                    bytes,
                    sha256,
                    modified_ns,
                })
            })
            .collect()
    }

    /// The size and modification time of every file [`Pack::files`]
    /// hashes, in the same order, without reading them.
    ///
    /// # Errors
    /// [`ClipError::File`] for a file whose metadata cannot be read.
    pub fn stamps(&self) -> Result<Vec<FileStamp>> {
        self.names()
            .into_iter()
            .map(|name| {
                let (bytes, modified_ns) = stamp(&self.dir.join(name))?;
                Ok(FileStamp {
                    name: name.to_owned(),
                    bytes,
                    modified_ns,
                })
            })
            .collect()
    }

    /// The names of the files kiln reads, sorted.
    fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<&str> = REQUIRED.to_vec();
        if self.dir.join(TOKENIZER_CONFIG).is_file() {
            names.push(TOKENIZER_CONFIG);
        }
        names.sort_unstable();
        names
    }
}

/// A file's size and modification time (nanoseconds since the epoch).
fn stamp(path: &Path) -> Result<(u64, Option<u64>)> {
    let meta = std::fs::metadata(path).map_err(|e| ClipError::file(path, e))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| u64::try_from(d.as_nanos()).ok());
    Ok((meta.len(), modified))
}

fn sha256_file(path: &Path) -> Result<(u64, String)> {
    let mut file = std::fs::File::open(path).map_err(|e| ClipError::file(path, e))?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| ClipError::file(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    let digest = hasher.finalize();
    let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok((total, hex))
}

/// Reads a file of at most `limit` bytes.
pub(crate) fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| ClipError::file(path, e))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ClipError::file(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(ClipError::invalid(
            path,
            format!("larger than {limit} bytes; not a file of a CLIP pack"),
        ));
    }
    Ok(bytes)
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path, limit: u64) -> Result<T> {
    let bytes = read_limited(path, limit)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ClipError::invalid(path, format!("not usable JSON: {e}")))
}

/// A side given as one number or as `[height, width]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Side {
    One(u32),
    Two([u32; 2]),
}

impl Side {
    fn square(&self, path: &Path, field: &str) -> Result<u32> {
        let side = match *self {
            Side::One(s) => s,
            Side::Two([h, w]) if h == w => h,
            Side::Two([h, w]) => {
                return Err(ClipError::invalid(
                    path,
                    format!("{field} is {h} × {w}: only square model inputs are supported"),
                ));
            }
        };
        if side == 0 || side > MAX_IMAGE_SIZE {
            return Err(ClipError::invalid(
                path,
                format!("{field} {side} is outside 1..={MAX_IMAGE_SIZE}"),
            ));
        }
        Ok(side)
    }
}

fn read_config(path: &Path) -> Result<PackConfig> {
    #[derive(Deserialize)]
    struct Raw {
        embed_dim: Option<usize>,
        vision_cfg: Option<Vision>,
        text_cfg: Option<Text>,
    }
    #[derive(Deserialize)]
    struct Vision {
        image_size: Option<Side>,
    }
    #[derive(Deserialize)]
    struct Text {
        context_length: Option<usize>,
        vocab_size: Option<usize>,
    }
    let raw: Raw = read_json(path, MAX_SETTINGS_BYTES)?;
    let missing = |field: &str| {
        ClipError::invalid(
            path,
            format!("has no {field} (an open_clip model config has)"),
        )
    };
    let embed_dim = raw.embed_dim.ok_or_else(|| missing("embed_dim"))?;
    if embed_dim == 0 || embed_dim > MAX_EMBED_DIM {
        return Err(ClipError::invalid(
            path,
            format!("embed_dim {embed_dim} is outside 1..={MAX_EMBED_DIM}"),
        ));
    }
    let image_size = raw
        .vision_cfg
        .ok_or_else(|| missing("vision_cfg"))?
        .image_size
        .ok_or_else(|| missing("vision_cfg.image_size"))?
        .square(path, "vision_cfg.image_size")?;
    let text = raw.text_cfg.ok_or_else(|| missing("text_cfg"))?;
    let context_length = text.context_length.unwrap_or(77);
    if !(2..=MAX_CONTEXT_LENGTH).contains(&context_length) {
        return Err(ClipError::invalid(
            path,
            format!("text_cfg.context_length {context_length} is outside 2..={MAX_CONTEXT_LENGTH}"),
        ));
    }
    Ok(PackConfig {
        embed_dim,
        image_size,
        context_length,
        vocab_size: text.vocab_size,
    })
}

/// A per-channel setting given once for all channels or for each.
#[derive(Deserialize)]
#[serde(untagged)]
enum Channels {
    One(f32),
    Each(Vec<f32>),
}

fn read_preprocess(path: &Path) -> Result<Preprocess> {
    #[derive(Deserialize)]
    struct Raw {
        size: Option<Side>,
        mean: Option<Channels>,
        std: Option<Channels>,
        interpolation: Option<String>,
        resize_mode: Option<String>,
        fill_color: Option<serde_json::Value>,
        mode: Option<String>,
    }
    let raw: Raw = read_json(path, MAX_SETTINGS_BYTES)?;
    let missing = |field: &str| ClipError::invalid(path, format!("has no {field}"));
    let size = raw
        .size
        .ok_or_else(|| missing("size"))?
        .square(path, "size")?;
    let three = |values: Option<Channels>, field: &str| -> Result<[f32; 3]> {
        let values = match values.ok_or_else(|| missing(field))? {
            Channels::One(v) => vec![v; 3],
            Channels::Each(values) => values,
        };
        let arr: [f32; 3] = values.as_slice().try_into().map_err(|_| {
            ClipError::invalid(
                path,
                format!("{field} has {} values, not 3 (R, G, B)", values.len()),
            )
        })?;
        if arr.iter().any(|v| !v.is_finite()) {
            return Err(ClipError::invalid(path, format!("{field} is not finite")));
        }
        Ok(arr)
    };
    let mean = three(raw.mean, "mean")?;
    let std = three(raw.std, "std")?;
    if std.iter().any(|s| *s <= 0.0) {
        return Err(ClipError::invalid(
            path,
            "std has a value that is not positive",
        ));
    }
    if let Some(mode) = raw.mode.as_deref()
        && mode != "RGB"
    {
        return Err(ClipError::invalid(
            path,
            format!("mode {mode:?}: only RGB models are supported"),
        ));
    }
    let interpolation = match raw.interpolation.as_deref() {
        Some("bicubic") | None => Interpolation::Bicubic,
        Some("bilinear") => Interpolation::Bilinear,
        Some(other) => {
            return Err(ClipError::invalid(
                path,
                format!("interpolation {other:?} is not supported (bicubic or bilinear)"),
            ));
        }
    };
    let resize_mode = match raw.resize_mode.as_deref() {
        Some("shortest") | None => ResizeMode::Shortest,
        Some("squash") => ResizeMode::Squash,
        Some("longest") => ResizeMode::Longest,
        Some(other) => {
            return Err(ClipError::invalid(
                path,
                format!("resize_mode {other:?} is not supported (shortest, squash or longest)"),
            ));
        }
    };
    let fill = match raw.fill_color {
        None | Some(serde_json::Value::Null) => 0,
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .and_then(|v| u8::try_from(v).ok())
            .ok_or_else(|| ClipError::invalid(path, format!("fill_color {n} is not 0..=255")))?,
        Some(other) => {
            return Err(ClipError::invalid(
                path,
                format!("fill_color {other} is not a number 0..=255"),
            ));
        }
    };
    Ok(Preprocess {
        size,
        mean,
        std,
        interpolation,
        resize_mode,
        fill,
    })
}
