//! Finding and loading the ONNX Runtime shared library, once per process.
//!
//! The library comes from `ORT_DYLIB_PATH` when set, else from an installed
//! `onnxruntime` Python package (`onnxruntime/capi/libonnxruntime.so.*`).
//! `ort` panics when its API is used without a loaded library, so every use
//! of `ort` in this crate goes through [`runtime`], which loads it under
//! `catch_unwind` and hands out a proof only when it worked.

use crate::error::{ClipError, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The variable that names the library directly.
pub const ORT_DYLIB_VAR: &str = "ORT_DYLIB_PATH";

/// How long asking `python3` where its `onnxruntime` package is may take.
const PYTHON_DEADLINE: Duration = Duration::from_secs(5);

/// The loaded ONNX Runtime library.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The shared library that was loaded.
    pub path: PathBuf,
    /// Its version (from the file name or its build information), when known.
    pub version: Option<String>,
}

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The ONNX Runtime library, loaded on first call.
///
/// # Errors
/// [`ClipError::Runtime`] when no library is found, or the one found does
/// not load or is older than ONNX Runtime 1.17; the message says how to get
/// one. The outcome is kept: a later call gives the same answer.
pub fn runtime() -> Result<&'static Runtime> {
    RUNTIME
        .get_or_init(load)
        .as_ref()
        .map_err(|reason| ClipError::Runtime {
            reason: reason.clone(),
        })
}

fn load() -> Result<Runtime, String> {
    let path = locate()?;
    let meta =
        std::fs::metadata(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    let loaded = std::panic::catch_unwind(|| -> Result<(), String> {
        let builder = ort::init_from(&path).map_err(|e| e.to_string())?;
        builder.with_name("kiln-clip").commit();
        // Resolving the API table and creating the environment are where
        // `ort` would panic on a library it cannot use; do both here.
        let _ = ort::api();
        ort::session::Session::builder().map_err(|e| e.to_string())?;
        Ok(())
    });
    match loaded {
        Ok(Ok(())) => Ok(Runtime {
            version: version_of(&path),
            path,
        }),
        Ok(Err(reason)) => Err(reason),
        Err(_) => Err(format!(
            "{} could not be used as ONNX Runtime (it needs version 1.{} or newer)",
            path.display(),
            ort::MINOR_VERSION
        )),
    }
}

/// The version in the file name (`libonnxruntime.so.1.32.0`), else in the
/// build information (`git-branch=rel-1.32.0`).
fn version_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    if let Some(v) = name.strip_prefix("libonnxruntime.so.") {
        return Some(v.to_owned());
    }
    let info = std::panic::catch_unwind(ort::info).ok()?;
    let rest = info.split("git-branch=rel-").nth(1)?;
    Some(rest.split([',', ' ']).next()?.to_owned())
}

fn locate() -> Result<PathBuf, String> {
    if let Some(value) = std::env::var_os(ORT_DYLIB_VAR).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(value);
        if !path.is_file() {
            return Err(format!("{ORT_DYLIB_VAR}={} is not a file", path.display()));
        }
        return Ok(path);
    }
    let mut looked = Vec::new();
    if let Some(dir) = python_package_dir() {
        if let Some(lib) = library_in(&dir.join("capi")) {
            return Ok(lib);
        }
        looked.push(dir.join("capi"));
    }
    for site in usual_site_packages() {
        let capi = site.join("onnxruntime").join("capi");
        if let Some(lib) = library_in(&capi) {
            return Ok(lib);
        }
    }
    if looked.is_empty() {
        Err(format!(
            "{ORT_DYLIB_VAR} is not set and no `onnxruntime` Python package was found"
        ))
    } else {
        Err(format!(
            "{ORT_DYLIB_VAR} is not set and {} holds no libonnxruntime",
            looked[0].display()
        ))
    }
}

/// The newest `libonnxruntime` shared library in a package's `capi` folder.
fn library_in(capi: &Path) -> Option<PathBuf> {
    let mut found: Vec<(Vec<u64>, PathBuf)> = std::fs::read_dir(capi)
        .ok()?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_str()?.to_owned();
            let version = library_version(&name)?;
            path.is_file().then_some((version, path))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, path)| path)
}

/// The version numbers in a library file name, or `None` when the name is
/// not ONNX Runtime's main library (`libonnxruntime_providers_shared.so` is
/// not).
fn library_version(name: &str) -> Option<Vec<u64>> {
    let rest = if let Some(rest) = name.strip_prefix("libonnxruntime.so") {
        rest.strip_prefix('.').unwrap_or(rest)
    } else if let Some(rest) = name.strip_prefix("libonnxruntime.") {
        rest.strip_suffix(".dylib")?
    } else {
        return None;
    };
    if rest.is_empty() {
        return Some(Vec::new());
    }
    rest.split('.').map(|part| part.parse().ok()).collect()
}

/// Where `python3` finds the `onnxruntime` package, without importing it,
/// or `None` when there is no `python3`, no package, or it takes too long.
fn python_package_dir() -> Option<PathBuf> {
    const ASK: &str = "import importlib.util as u\n\
        s = u.find_spec('onnxruntime')\n\
        print(list(s.submodule_search_locations)[0] if s and s.submodule_search_locations else '')";
    let mut child = Command::new("python3")
        .args(["-c", ASK])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < PYTHON_DEADLINE => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let output = child.wait_with_output().ok()?;
    let line = String::from_utf8(output.stdout).ok()?;
    let dir = PathBuf::from(line.trim());
    (!line.trim().is_empty() && dir.is_dir()).then_some(dir)
}

/// The site-packages folders Python installs usually use, for when
/// `python3` is not on the PATH.
fn usual_site_packages() -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = vec![
        PathBuf::from("/usr/lib"),
        PathBuf::from("/usr/local/lib"),
        PathBuf::from("/usr/lib64"),
    ];
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        roots.push(PathBuf::from(venv).join("lib"));
    }
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        roots.push(home.join(".local/lib"));
        if let Ok(versions) = std::fs::read_dir(home.join(".pyenv/versions")) {
            roots.extend(versions.flatten().map(|v| v.path().join("lib")));
        }
    }
    let mut sites = Vec::new();
    for root in roots {
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        let mut pythons: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("python3"))
            })
            .collect();
        pythons.sort();
        for python in pythons.into_iter().rev() {
            sites.push(python.join("site-packages"));
            sites.push(python.join("dist-packages"));
        }
    }
    sites
}

#[cfg(test)]
mod tests {
    use super::library_version;

    #[test]
    fn library_names() {
        assert_eq!(
            library_version("libonnxruntime.so.1.32.0"),
            Some(vec![1, 32, 0])
        );
        assert_eq!(library_version("libonnxruntime.so"), Some(vec![]));
        assert_eq!(
            library_version("libonnxruntime.1.20.1.dylib"),
            Some(vec![1, 20, 1])
        );
        assert_eq!(library_version("libonnxruntime_providers_shared.so"), None);
        assert_eq!(library_version("libonnxruntime.so.1.x"), None);
    }
}
