//! File identity as intake sees it: a path, its size and modification time,
//! and which names intake ignores.

use std::fs::{self, Metadata};
use std::path::Path;
use std::time::UNIX_EPOCH;

/// One file found by intake, with what `stat` said about it.
#[derive(Debug, Clone)]
pub(crate) struct FileEntry {
    /// The path as UTF-8, or its lossy rendering when it is not UTF-8.
    pub(crate) path: Result<String, String>,
    /// `(size, mtime_ns)`, or why the file could not be examined.
    pub(crate) stat: Result<(u64, u64), String>,
}

/// `(size, mtime_ns)` of a file: what intake compares to tell an unchanged
/// file from a changed one.
pub fn stat_of(meta: &Metadata) -> (u64, u64) {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    (meta.len(), mtime)
}

/// Whether intake ignores a file or folder by its name: hidden entries,
/// the names other programs give files they are still writing (`.tmp`,
/// `.part`, …) and XMP sidecars (`image.png.xmp`, which describe another
/// file and are read as its curation). Folder walks apply it; a folder
/// watcher applies it too, so both take in the same files.
pub fn is_ignored(name: &str) -> bool {
    const SUFFIXES: [&str; 7] = [
        ".tmp",
        ".temp",
        ".part",
        ".partial",
        ".crdownload",
        "~",
        ".xmp",
    ];
    let lower = name.to_ascii_lowercase();
    name.starts_with('.') || SUFFIXES.iter().any(|s| lower.ends_with(s))
}

/// The intake entry for one path.
pub(crate) fn entry_for(path: &Path) -> FileEntry {
    let stat = fs::metadata(path)
        .map_err(|e| format!("cannot read file: {e}"))
        .and_then(|m| {
            if m.is_file() {
                Ok(stat_of(&m))
            } else {
                Err("not a regular file".to_owned())
            }
        });
    match path.to_str() {
        Some(s) => FileEntry {
            path: Ok(s.to_owned()),
            stat,
        },
        None => FileEntry {
            path: Err(path.to_string_lossy().into_owned()),
            stat,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::is_ignored;

    #[test]
    fn hidden_partial_and_sidecar_files_are_ignored() {
        for name in [
            ".hidden.png",
            "a.png.part",
            "b.PNG.crdownload",
            "c.png.xmp",
            "d.XMP",
        ] {
            assert!(is_ignored(name), "{name}");
        }
        for name in ["a.png", "xmp.png", "b.webp", "c.jpg"] {
            assert!(!is_ignored(name), "{name}");
        }
    }
}
