//! The real generator outputs some tests read: the folder named by
//! `KILN_REAL_FIXTURES` (in this project `../shared/fixtures/real`).
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
    let Some(dir) = std::env::var_os(REAL_FIXTURES_VAR) else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "{REAL_FIXTURES_VAR} is not set and CI=true: this test needs the real fixtures; \
                 set {REAL_FIXTURES_VAR} to their folder (../shared/fixtures/real)"
            );
        }
        println!("skipped: {REAL_FIXTURES_VAR} not set");
        return None;
    };
    let dir = PathBuf::from(dir);
    assert!(
        dir.is_dir(),
        "{REAL_FIXTURES_VAR}={} is not a folder",
        dir.display()
    );
    Some(dir)
}
