//! The real generator outputs some tests read: the folder named by
//! `KILN_REAL_FIXTURES` (in this project `../shared/fixtures/real`), and the
//! ComfyUI outputs built with custom node packs named by
//! `KILN_COMFY_FIXTURES` (`../shared/fixtures/comfy-custom`), and the CLIP
//! test pack named by `KILN_CLIP_PACK` (`../shared/fixtures/clip-tiny`).
//!
//! Without it a test that needs them skips with a printed line, except
//! under CI (`CI=true`), where a skip would hide a missing check: there the
//! test fails.

use std::path::PathBuf;

/// The variable that names the real fixtures folder.
pub const REAL_FIXTURES_VAR: &str = "KILN_REAL_FIXTURES";

/// The real fixtures folder, or `None` (after printing why the test is
/// skipped) when `KILN_REAL_FIXTURES` is not set.
///
/// # Panics
/// When the variable is not set and `CI=true`, and when it names something
/// that is not a folder.
pub fn real() -> Option<PathBuf> {
    folder(REAL_FIXTURES_VAR, "../shared/fixtures/real")
}

/// The variable that names the ComfyUI custom-node fixtures folder.
pub const COMFY_FIXTURES_VAR: &str = "KILN_COMFY_FIXTURES";

/// The ComfyUI custom-node fixtures folder, or `None` (after printing why
/// the test is skipped) when `KILN_COMFY_FIXTURES` is not set.
///
/// # Panics
/// As [`real`], for its own variable.
pub fn comfy_custom() -> Option<PathBuf> {
    folder(COMFY_FIXTURES_VAR, "../shared/fixtures/comfy-custom")
}

/// The variable that names the CLIP test pack.
pub const CLIP_PACK_VAR: &str = "KILN_CLIP_PACK";

/// The CLIP test pack's folder (a pack in Immich's layout with open_clip's
/// reference embeddings), or `None` (after printing why the test is
/// skipped) when `KILN_CLIP_PACK` is not set.
///
/// # Panics
/// As [`real`], for its own variable.
pub fn clip_pack() -> Option<PathBuf> {
    folder(CLIP_PACK_VAR, "../shared/fixtures/clip-tiny")
}

/// Says why a test cannot run and returns, so the caller returns too; under
/// CI (`CI=true`), where a skip would hide a missing check, fails instead.
///
/// # Panics
/// When `CI=true`.
pub fn skip(why: &str) {
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "CI=true and {why}: this test cannot run; fix the setup"
    );
    println!("skipped: {why}");
}

/// Copies the folder `from` (a fixture a test changes) to `to`, with
/// everything under it.
///
/// # Panics
/// When a file cannot be read or written.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("make the copy's folder");
    for entry in std::fs::read_dir(from).expect("list the folder") {
        let entry = entry.expect("a folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("its type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

fn folder(var: &str, usual: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os(var) else {
        skip(&format!("{var} is not set (it names {usual})"));
        return None;
    };
    let dir = PathBuf::from(dir);
    assert!(dir.is_dir(), "{var}={} is not a folder", dir.display());
    Some(dir)
}
