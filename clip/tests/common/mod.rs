//! What the tests of `kiln-clip` share: the pack named by `KILN_CLIP_PACK`
//! (in this project `../shared/fixtures/clip-tiny`), its `reference.json`,
//! and the real images of `KILN_REAL_FIXTURES`.
//!
//! Without the pack, or without ONNX Runtime, a test that needs them skips
//! with a printed line, except under CI (`CI=true`), where it fails: there a
//! skip would hide a missing check.
#![allow(dead_code, unreachable_pub)]

pub mod onnx;

use kiln_clip::{Clip, ClipError};
use serde_json::Value;
use std::path::{Path, PathBuf};

use kiln_testkit::fixtures::skip;

/// The test pack's folder, or `None` after printing why the test skips.
pub fn pack_dir() -> Option<PathBuf> {
    kiln_testkit::fixtures::clip_pack()
}

/// The real fixture images (through kiln-testkit, like every other test).
pub fn real_dir() -> Option<PathBuf> {
    kiln_testkit::fixtures::real()
}

/// The pack loaded with two threads, or `None` after printing why the test
/// skips (no pack, or no ONNX Runtime).
pub fn clip() -> Option<(PathBuf, Clip)> {
    let dir = pack_dir()?;
    let clip = load_or_skip(&dir)?;
    Some((dir, clip))
}

/// Loads `dir`, or `None` after printing that ONNX Runtime is missing.
///
/// # Panics
/// On any other error.
pub fn load_or_skip(dir: &Path) -> Option<Clip> {
    match Clip::load(dir, 2) {
        Ok(clip) => Some(clip),
        Err(ClipError::Runtime { reason }) => {
            skip(&format!("ONNX Runtime is not available ({reason})"));
            None
        }
        Err(e) => panic!("the pack in {} does not load: {e}", dir.display()),
    }
}

/// Whether ONNX Runtime can be loaded; prints why not (and fails under CI).
pub fn runtime_or_skip() -> bool {
    match kiln_clip::runtime() {
        Ok(_) => true,
        Err(e) => {
            skip(&format!("{e}"));
            false
        }
    }
}

/// The pack's `reference.json`.
pub fn reference(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("reference.json"))
        .expect("the test pack has reference.json");
    serde_json::from_str(&text).expect("reference.json is JSON")
}

/// A JSON array of numbers as `f32`s.
pub fn floats(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_f64().expect("a number") as f32)
        .collect()
}

/// A JSON array of token ids.
pub fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| u32::try_from(v.as_u64().expect("an id")).expect("an id"))
        .collect()
}

/// The cosine of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "vectors of different lengths");
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Copies the pack's files into a new temporary folder, to be changed.
pub fn copy_pack(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().expect("a temporary folder");
    for sub in ["", "visual", "textual"] {
        let from = dir.join(sub);
        let to = copy.path().join(sub);
        std::fs::create_dir_all(&to).expect("create folder");
        for entry in std::fs::read_dir(&from).expect("read the pack") {
            let path = entry.expect("read the pack").path();
            if path.is_file() {
                std::fs::copy(&path, to.join(path.file_name().expect("a name")))
                    .expect("copy a pack file");
            }
        }
    }
    copy
}
