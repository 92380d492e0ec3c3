//! Builds the plugin crates with cargo for integration tests, once per test
//! binary, into the same target directory and profile the test was built
//! with, and finds the shared libraries they produce.
//!
//! Include it with `#[path = ".../tests/plugins/cargo_build.rs"] mod cargo_build;`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Every plugin crate a test may load; built together in one cargo run.
const PLUGIN_PACKAGES: [&str; 7] = [
    "kiln-palette-plugin",
    "kiln-test-plugin-panic",
    "kiln-test-plugin-abort",
    "kiln-test-plugin-wrong-abi",
    "kiln-test-plugin-no-entry",
    "kiln-test-plugin-echo",
    "kiln-test-plugin-swap",
];

/// The workspace root: the nearest ancestor of the including crate that
/// holds this file.
fn workspace_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("tests/plugins/cargo_build.rs").is_file() {
        assert!(dir.pop(), "cannot find the kiln workspace root");
    }
    dir
}

/// `(target directory, profile directory name)` of the running test binary,
/// which lives in `<target>/<profile>/deps/`.
fn target_layout() -> (PathBuf, String) {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in <target>/<profile>/deps");
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("the profile directory has a UTF-8 name")
        .to_owned();
    let target = profile_dir
        .parent()
        .expect("the profile directory is inside the target directory")
        .to_path_buf();
    (target, profile)
}

fn build_all() -> PathBuf {
    let (target, profile) = target_layout();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target);
    if profile == "release" {
        command.arg("--release");
    }
    for package in PLUGIN_PACKAGES {
        command.args(["-p", package]);
    }
    let output = command.output().expect("cargo runs");
    assert!(
        output.status.success(),
        "building the plugin crates failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    target.join(profile)
}

/// The shared library of a plugin package, built on first use.
pub(crate) fn plugin_library(package: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    assert!(
        PLUGIN_PACKAGES.contains(&package),
        "{package} is not a plugin crate"
    );
    let dir = BUILT.get_or_init(build_all);
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    let path = dir.join(file);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}
