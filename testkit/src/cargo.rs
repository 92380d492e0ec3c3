//! Builds workspace crates a test runs but does not link (the plugin crates,
//! examples) with cargo, into the target directory and profile the running
//! test binary was built with, once per test binary, and finds what they
//! produce.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Every plugin crate a test may load; built together in one cargo run.
pub const PLUGIN_PACKAGES: [&str; 7] = [
    "kiln-palette-plugin",
    "kiln-test-plugin-panic",
    "kiln-test-plugin-abort",
    "kiln-test-plugin-wrong-abi",
    "kiln-test-plugin-no-entry",
    "kiln-test-plugin-echo",
    "kiln-test-plugin-swap",
];

/// The workspace root: this crate lives in `<root>/testkit`.
fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the test kit lives inside the workspace")
}

/// Where the running test binary was built: it lives in
/// `<target>/<profile dir>/deps/`.
struct TargetLayout {
    target: PathBuf,
    profile_dir: PathBuf,
    /// The cargo profile that builds into `profile_dir` (`debug` is `dev`).
    profile: String,
}

fn target_layout() -> TargetLayout {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in <target>/<profile>/deps")
        .to_path_buf();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(other) => other.to_owned(),
        None => panic!("the profile directory has no UTF-8 name"),
    };
    let target = profile_dir
        .parent()
        .expect("the profile directory is inside the target directory")
        .to_path_buf();
    TargetLayout {
        target,
        profile_dir,
        profile,
    }
}

/// Runs `cargo build ARGS` for the workspace into the test's own target
/// directory and profile, failing the test with cargo's errors.
fn cargo_build(layout: &TargetLayout, args: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--quiet", "--manifest-path"])
        .arg(workspace_root().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&layout.target)
        .args(["--profile", &layout.profile])
        .args(args)
        .output()
        .expect("cargo starts");
    assert!(
        output.status.success(),
        "cargo build {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The shared library of a plugin package (one of [`PLUGIN_PACKAGES`]);
/// all of them are built on first use.
pub fn plugin_library(package: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    assert!(
        PLUGIN_PACKAGES.contains(&package),
        "{package} is not a plugin crate"
    );
    let dir = BUILT.get_or_init(|| {
        let layout = target_layout();
        let mut args = Vec::new();
        for package in PLUGIN_PACKAGES {
            args.extend(["-p", package]);
        }
        cargo_build(&layout, &args);
        layout.profile_dir
    });
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

/// The executable of example `name` of workspace package `package`, built
/// on first use.
pub fn example(package: &str, name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let key = format!("{package}/{name}");
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(k, _)| *k == key) {
        return path.clone();
    }
    let layout = target_layout();
    cargo_build(&layout, &["-p", package, "--example", name]);
    let path = layout
        .profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(path.is_file(), "{} was not built", path.display());
    built.push((key, path.clone()));
    path
}
