//! Tier 1 on real generator outputs (the folder in `KILN_REAL_FIXTURES`):
//! every file hashes, and either thumbnails or gets a clear permanent error.

use kiln_plugin_api::{PROXY_ARTIFACT, Stage, StageInput, THUMBNAIL_ARTIFACT, Value};
use kiln_stages::hash::HashStage;
use kiln_stages::thumbnail::ThumbnailStage;
use kiln_testkit::fixtures;
use std::path::PathBuf;

fn image_files(dir: &PathBuf) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("test setup and valid inputs must succeed")
        .map(|e| e.expect("test setup and valid inputs must succeed").path())
        .filter(|p| {
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_ascii_lowercase();
            matches!(ext.as_str(), "png" | "jpg" | "jpeg" | "webp")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_fixture_thumbnails_or_fails_clearly() {
    let Some(dir) = fixtures::real() else { return };
    let files = image_files(&dir);
    assert!(
        files.len() >= 50,
        "expected the real fixtures in {}",
        dir.display()
    );
    let (hash, thumbnail) = (HashStage::new(), ThumbnailStage::new());
    let mut made = 0;
    for path in &files {
        let mut input = StageInput::for_path(1, path.to_string_lossy());
        let hashed = hash
            .process(&input)
            .expect("test setup and valid inputs must succeed");
        input.content_hash = hashed.content_hash;
        let size = std::fs::metadata(path)
            .expect("test setup and valid inputs must succeed")
            .len();
        match thumbnail.process(&input) {
            Ok(out) => {
                made += 1;
                for name in [THUMBNAIL_ARTIFACT, PROXY_ARTIFACT] {
                    let artifact = out
                        .artifacts
                        .iter()
                        .find(|a| a.name == name)
                        .expect("test setup and valid inputs must succeed");
                    let decoded = image::load_from_memory(&artifact.bytes)
                        .expect("test setup and valid inputs must succeed");
                    let side = if name == PROXY_ARTIFACT { 512 } else { 256 };
                    assert!(
                        decoded.width().max(decoded.height()) <= side,
                        "{}",
                        path.display()
                    );
                }
                let width = out
                    .facts
                    .get("width")
                    .and_then(Value::as_u64)
                    .expect("test setup and valid inputs must succeed");
                assert!(width > 0, "{}", path.display());
            }
            Err(e) => {
                assert!(!e.is_transient(), "{}: {e}", path.display());
                assert!(e.message().contains(&*path.to_string_lossy()), "{e}");
                // Only files with no image in them may fail.
                assert_eq!(
                    size,
                    0,
                    "{} failed although it is a real image: {e}",
                    path.display()
                );
                assert!(e.message().contains("empty file"), "{e}");
            }
        }
    }
    assert!(
        made + 2 >= files.len(),
        "only {made} of {} thumbnailed",
        files.len()
    );
}
