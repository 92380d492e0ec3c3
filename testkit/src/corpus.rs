//! Benchmark corpora: folders of PNG files shaped like a generator's output
//! folder, built from real images or generated.
//!
//! Every file of a corpus has distinct content (one unique `tEXt` chunk
//! each), so the hash stage never merges two of them and every file costs a
//! full decode, exactly like a folder of fresh renders.
//!
//! ```no_run
//! use kiln_testkit::corpus::{self, GeneratedKind};
//! # fn main() -> Result<(), kiln_testkit::corpus::CorpusError> {
//! let out = std::path::Path::new("/tmp/kiln-corpus");
//! // 500 files cycled from real PNGs...
//! let built = corpus::from_png_folder("/path/to/real".as_ref(), out, 500)?;
//! // ...or generated ones when there is no folder.
//! let built = corpus::generated(out, 500, GeneratedKind::RealSize)?;
//! println!("{} files, {} bytes", built.files.len(), built.total_bytes);
//! # Ok(()) }
//! ```

use kiln_stages::metadata::write;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The `tEXt` keyword that makes each corpus file unique.
pub const UNIQUE_KEYWORD: &str = "kiln-corpus";

/// Why a corpus could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CorpusError {
    /// Reading the source folder or writing the corpus failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The source folder holds no PNG file to cycle.
    #[error("no PNG files in {0}: pass a folder of .png images or omit it to generate a corpus")]
    NoPngs(PathBuf),
    /// A generated image could not be encoded.
    #[error("encoding a generated image failed: {0}")]
    Encode(String),
    /// A source PNG could not take the unique text chunk.
    #[error("cannot tag {path} with a unique chunk: {reason}")]
    Tag {
        /// The source file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// What kind of images [`generated`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GeneratedKind {
    /// 1024x1024 RGB with smooth shapes and fine grain, about 1.3 MB as a
    /// PNG: decodes like a real render.
    RealSize,
    /// Small RGB images of the given side, for runs with very many files.
    Small {
        /// Width and height in pixels.
        side: u32,
    },
}

/// The files of a built corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    /// Every file written, in order.
    pub files: Vec<PathBuf>,
    /// Their total size in bytes.
    pub total_bytes: u64,
}

/// Builds `count` files in `out_dir` by cycling the PNG files of `source_dir`
/// (sorted by name; other files are skipped), each copy with one unique
/// `tEXt` chunk so that every file's hash differs.
///
/// # Errors
///
/// [`CorpusError::NoPngs`] when the folder holds no PNG, otherwise I/O errors.
pub fn from_png_folder(
    source_dir: &Path,
    out_dir: &Path,
    count: usize,
) -> Result<Corpus, CorpusError> {
    let sources = png_files(source_dir)?;
    if sources.is_empty() {
        return Err(CorpusError::NoPngs(source_dir.to_path_buf()));
    }
    let mut originals = Vec::with_capacity(sources.len());
    for path in &sources {
        let bytes = fs::read(path).map_err(|source| CorpusError::Io {
            action: "cannot read",
            path: path.clone(),
            source,
        })?;
        originals.push((path.clone(), bytes));
    }
    write_cycled(&originals, out_dir, count)
}

/// Builds `count` generated PNG files in `out_dir`.
///
/// A handful of distinct images is generated and then cycled with unique
/// text chunks, which keeps building a large corpus quick.
///
/// # Errors
///
/// I/O errors while writing, or an encoder failure.
pub fn generated(out_dir: &Path, count: usize, kind: GeneratedKind) -> Result<Corpus, CorpusError> {
    const DISTINCT: u32 = 8;
    let side = match kind {
        GeneratedKind::RealSize => 1024,
        GeneratedKind::Small { side } => side.max(1),
    };
    let distinct = DISTINCT
        .min(u32::try_from(count).unwrap_or(DISTINCT))
        .max(1);
    let mut originals = Vec::with_capacity(distinct as usize);
    for variant in 0..distinct {
        let png = encode_png(&render(side, side, variant))?;
        originals.push((PathBuf::from(format!("generated-{variant}.png")), png));
    }
    write_cycled(&originals, out_dir, count)
}

/// A 1024-or-any-size RGB picture with the statistics of a render: broad
/// smooth gradients and blobs that deflate well, plus a little grain that
/// keeps the file from compressing unrealistically small.
pub fn render(width: u32, height: u32, variant: u32) -> image::RgbImage {
    let mut state =
        0x9e37_79b9_7f4a_7c15_u64 ^ u64::from(variant).wrapping_mul(0x2545_f491_4f6c_dd1d);
    let phase = variant as f32 * 0.7;
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    image::RgbImage::from_fn(width, height, |x, y| {
        let (u, v) = (x as f32 / w, y as f32 / h);
        let blob = ((u * 6.0 + phase).sin() * (v * 5.0 - phase).cos()).abs();
        let ring = (((u - 0.5).powi(2) + (v - 0.45).powi(2)).sqrt() * 18.0 + phase).sin();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let grain = (state & 0x7) as f32 - 3.5;
        let channel = |base: f32| (base + grain).clamp(0.0, 255.0) as u8;
        image::Rgb([
            channel(40.0 + 150.0 * blob + 30.0 * ring),
            channel(60.0 + 120.0 * u + 40.0 * ring),
            channel(90.0 + 100.0 * v + 50.0 * blob),
        ])
    })
}

fn encode_png(image: &image::RgbImage) -> Result<Vec<u8>, CorpusError> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Default, FilterType::Adaptive)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| CorpusError::Encode(e.to_string()))?;
    Ok(out)
}

fn png_files(dir: &Path) -> Result<Vec<PathBuf>, CorpusError> {
    let entries = fs::read_dir(dir).map_err(|source| CorpusError::Io {
        action: "cannot list",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let is_png = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("png"));
        if is_png && fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() > 0) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn write_cycled(
    originals: &[(PathBuf, Vec<u8>)],
    out_dir: &Path,
    count: usize,
) -> Result<Corpus, CorpusError> {
    fs::create_dir_all(out_dir).map_err(|source| CorpusError::Io {
        action: "cannot create",
        path: out_dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::with_capacity(count);
    let mut total_bytes = 0u64;
    // PNGs that refuse the chunk (malformed sources) are skipped, so one odd
    // file in a folder of real images does not stop the corpus.
    let usable: Vec<&(PathBuf, Vec<u8>)> = originals
        .iter()
        .filter(|(_, bytes)| write::insert_png_text(bytes, UNIQUE_KEYWORD, "probe").is_ok())
        .collect();
    let Some(first) = originals.first() else {
        return Ok(Corpus { files, total_bytes });
    };
    if usable.is_empty() {
        return Err(CorpusError::Tag {
            path: first.0.clone(),
            reason: "no source file is a well-formed PNG".to_string(),
        });
    }
    for index in 0..count {
        let Some((source, bytes)) = usable.get(index % usable.len()).copied() else {
            break;
        };
        let tagged = write::insert_png_text(bytes, UNIQUE_KEYWORD, &format!("copy {index}"))
            .map_err(|e| CorpusError::Tag {
                path: source.clone(),
                reason: e.to_string(),
            })?;
        let stem = source
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("image");
        let path = out_dir.join(format!("{index:06}-{stem}.png"));
        fs::write(&path, &tagged).map_err(|source| CorpusError::Io {
            action: "cannot write",
            path: path.clone(),
            source,
        })?;
        total_bytes += tagged.len() as u64;
        files.push(path);
    }
    Ok(Corpus { files, total_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn distinct_contents(files: &[PathBuf]) -> usize {
        let contents: HashSet<Vec<u8>> = files
            .iter()
            .map(|p| fs::read(p).expect("corpus files are readable"))
            .collect();
        contents.len()
    }

    #[test]
    fn generated_corpus_has_distinct_decodable_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let built = generated(dir.path(), 12, GeneratedKind::Small { side: 48 }).expect("corpus");
        assert_eq!(built.files.len(), 12);
        assert_eq!(distinct_contents(&built.files), 12);
        for file in &built.files {
            let image = image::open(file).expect("a corpus file decodes");
            assert_eq!((image.width(), image.height()), (48, 48));
        }
    }

    #[test]
    fn folder_corpus_cycles_its_pngs_and_skips_other_files() {
        let source = tempfile::tempdir().expect("temp dir");
        for variant in 0..2 {
            let png = encode_png(&render(40, 30, variant)).expect("encode");
            fs::write(source.path().join(format!("{variant}.png")), png).expect("write");
        }
        fs::write(source.path().join("notes.txt"), "not an image").expect("write");
        let out = tempfile::tempdir().expect("temp dir");
        let built = from_png_folder(source.path(), out.path(), 5).expect("corpus");
        assert_eq!(built.files.len(), 5);
        assert_eq!(distinct_contents(&built.files), 5);
        assert!(built.files.iter().all(|p| image::open(p).is_ok()));

        let empty = tempfile::tempdir().expect("temp dir");
        let err = from_png_folder(empty.path(), out.path(), 5).expect_err("no PNGs");
        assert!(matches!(err, CorpusError::NoPngs(_)), "{err}");
    }
}
