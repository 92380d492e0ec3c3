//! The benchmarks' scratch folder, the `kiln` binary they time, and
//! percentiles.

use std::path::{Path, PathBuf};

/// The scratch folder: one given on the command line (kept, so corpora and
/// stores are reused by the next run) or a temporary one (removed on drop).
#[derive(Debug)]
pub enum Work {
    /// A folder the user named.
    Kept(PathBuf),
    /// A temporary folder.
    Temporary(tempfile::TempDir),
}

impl Work {
    /// `dir` (created if needed), or a new temporary folder.
    pub fn open(dir: Option<&Path>) -> Result<Work, String> {
        match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                Ok(Work::Kept(dir.to_path_buf()))
            }
            None => tempfile::tempdir()
                .map(Work::Temporary)
                .map_err(|e| format!("cannot create a scratch folder: {e}")),
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        match self {
            Work::Kept(dir) => dir,
            Work::Temporary(dir) => dir.path(),
        }
    }
}

/// Removes `dir` if it exists, so that it can be made afresh; returns it.
pub fn fresh_dir(dir: PathBuf) -> Result<PathBuf, String> {
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    Ok(dir)
}

/// The `kiln` binary: `explicit` when given, else the one `cargo build
/// --release -p kiln-cli` puts next to the running benchmark.
pub fn kiln_binary(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = explicit {
        return Some(path.to_path_buf());
    }
    let exe = std::env::current_exe().ok()?;
    let candidate = exe.parent()?.join("kiln");
    candidate.is_file().then_some(candidate)
}

/// The value at `p` (0 to 1) of sorted values, nearest rank; 0 when there
/// are none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).copied().unwrap_or(0.0)
}

/// The median of some values (the upper one of an even count); NaN when
/// there are none.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Builds `count` real-size PNG files in `dir` (cleared first): cycled from
/// the PNG files of `from`, or generated (1024 px renders) without it.
/// Each file is unique (see `kiln_testkit::corpus`).
pub fn real_size_corpus(
    dir: &Path,
    count: usize,
    from: Option<&Path>,
) -> Result<kiln_testkit::corpus::Corpus, String> {
    use kiln_testkit::corpus::{self, GeneratedKind};
    fresh_dir(dir.to_path_buf())?;
    match from {
        Some(from) => corpus::from_png_folder(from, dir, count),
        None => corpus::generated(dir, count, GeneratedKind::RealSize),
    }
    .map_err(|e| format!("cannot build the corpus: {e}"))
}
