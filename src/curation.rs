//! Curation files: the export of a store's curation (ratings, favorites,
//! tags, collections, by content hash) as JSON, and reading one back.
//!
//! The file (format 1):
//!
//! ```json
//! {
//!   "kiln_curation": 1,
//!   "exported_ns": 1764720000000000000,
//!   "assets": [
//!     {"hash": "<64 hex digits>", "path": "/where/it/was.png",
//!      "rating": 4, "rating_ns": 1764…, "favorite": true, "favorite_ns": 1764…,
//!      "tags": ["keeper"], "tags_ns": 1764…}
//!   ],
//!   "collections": [
//!     {"name": "client A", "created_ns": 1764…, "members": ["<hash>", …]}
//!   ]
//! }
//! ```
//!
//! `path` is for people reading the file; an import goes by `hash` only, so
//! a library rebuilt from its image folders finds its curation again
//! wherever the files are now (also when the file is imported before the
//! images). Every `*_ns` field is nanoseconds since the Unix epoch, the
//! time that part was set; the merge rules
//! ([`Engine::merge_curation`](kiln_engine::Engine::merge_curation)) use
//! them.
//!
//! A file to import is hostile until read: at most [`MAX_FILE_BYTES`],
//! JSON nesting bounded by the parser, every hash, rating and label
//! checked, and every error naming the file and the entry.

use std::io::Read;
use std::path::{Path, PathBuf};

use kiln_engine::{
    CollectionImport, ContentHash, CurationExport, CurationImport, MAX_RATING, MAX_TAGS,
    normalize_label,
};
use serde::{Deserialize, Serialize};

/// The format number written in `kiln_curation`.
pub const FORMAT: u32 = 1;
/// The largest curation file an import reads.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// A curation file that could not be read, naming the file and, where it
/// applies, the entry.
#[derive(Debug, thiserror::Error)]
#[error("{}: {detail}", file.display())]
pub struct FileError {
    /// The file.
    pub file: PathBuf,
    /// What is wrong.
    pub detail: String,
}

/// One asset's entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AssetEntry {
    hash: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    rating: Option<u8>,
    #[serde(default)]
    rating_ns: u64,
    #[serde(default)]
    favorite: Option<bool>,
    #[serde(default)]
    favorite_ns: u64,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    tags_ns: u64,
}

/// One collection's entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CollectionEntry {
    name: String,
    #[serde(default)]
    created_ns: u64,
    #[serde(default)]
    members: Vec<String>,
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Document {
    kiln_curation: u32,
    #[serde(default)]
    exported_ns: u64,
    #[serde(default)]
    assets: Vec<AssetEntry>,
    #[serde(default)]
    collections: Vec<CollectionEntry>,
}

/// Lowercase hex of a content hash.
pub fn hex(hash: &ContentHash) -> String {
    use std::fmt::Write;
    hash.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A content hash from 64 hex digits (either case).
pub fn parse_hash(text: &str) -> Option<ContentHash> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

/// Writes the export of `export` (taken at `now_ns`) to `out` as the
/// file format above; `path_of` names a path of each asset still held.
pub fn write_export(
    export: &CurationExport,
    now_ns: u64,
    mut path_of: impl FnMut(kiln_engine::AssetId) -> Option<String>,
    out: impl std::io::Write,
) -> Result<(), serde_json::Error> {
    let assets = export
        .assets
        .iter()
        .map(|(hash, c, asset)| AssetEntry {
            hash: hex(hash),
            path: asset.and_then(&mut path_of),
            rating: Some(c.rating),
            rating_ns: c.rating_ns,
            favorite: Some(c.favorite),
            favorite_ns: c.favorite_ns,
            tags: c.tags.clone(),
            tags_ns: c.tags_ns,
        })
        .collect();
    let collections = export
        .collections
        .iter()
        .map(|(info, members)| CollectionEntry {
            name: info.name.clone(),
            created_ns: info.created_ns,
            members: members.iter().map(hex).collect(),
        })
        .collect();
    let document = Document {
        kiln_curation: FORMAT,
        exported_ns: now_ns,
        assets,
        collections,
    };
    serde_json::to_writer_pretty(out, &document)
}

/// What a curation file holds, checked and ready to merge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportFile {
    /// Each asset's curation.
    pub assets: Vec<CurationImport>,
    /// Each collection.
    pub collections: Vec<CollectionImport>,
}

/// Reads and checks a curation file (see the module documentation).
pub fn read_import(file: &Path) -> Result<ImportFile, FileError> {
    let fail = |detail: String| FileError {
        file: file.to_path_buf(),
        detail,
    };
    let handle = std::fs::File::open(file).map_err(|e| fail(format!("cannot open it: {e}")))?;
    let mut bytes = Vec::new();
    handle
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(format!(
            "it is larger than {} MiB, more than a curation file holds",
            MAX_FILE_BYTES >> 20
        )));
    }
    parse_import(&bytes).map_err(fail)
}

/// Checks the bytes of a curation file; the error says what and where.
pub fn parse_import(bytes: &[u8]) -> Result<ImportFile, String> {
    let document: Document = serde_json::from_slice(bytes)
        .map_err(|e| format!("not a kiln curation file (JSON: {e})"))?;
    if document.kiln_curation != FORMAT {
        return Err(format!(
            "curation file format {} is not known to this kiln (it reads format {FORMAT})",
            document.kiln_curation
        ));
    }
    let hash = |text: &str, at: &str| {
        parse_hash(text).ok_or_else(|| {
            let shown: String = text.chars().take(80).collect();
            format!("{at}: `{shown}` is not a content hash (64 hex digits)")
        })
    };
    let label = |text: &str, at: &str| {
        normalize_label(text).map_err(|problem| {
            let shown: String = text.chars().take(80).collect();
            format!("{at}: `{shown}` cannot be a tag or collection name: {problem}")
        })
    };
    let mut out = ImportFile::default();
    for (i, entry) in document.assets.iter().enumerate() {
        let at = format!("assets[{i}]");
        if let Some(rating) = entry.rating
            && rating > MAX_RATING
        {
            return Err(format!(
                "{at}: rating {rating} is out of range (0 to {MAX_RATING})"
            ));
        }
        if entry.tags.len() > MAX_TAGS {
            return Err(format!(
                "{at}: {} tags, more than the {MAX_TAGS} an asset carries",
                entry.tags.len()
            ));
        }
        let tags = entry
            .tags
            .iter()
            .map(|t| label(t, &at))
            .collect::<Result<Vec<_>, _>>()?;
        out.assets.push(CurationImport {
            hash: hash(&entry.hash, &at)?,
            rating: entry.rating.map(|r| (r, entry.rating_ns)),
            favorite: entry.favorite.map(|f| (f, entry.favorite_ns)),
            tags,
            tags_ns: entry.tags_ns,
        });
    }
    for (i, entry) in document.collections.iter().enumerate() {
        let at = format!("collections[{i}]");
        let members = entry
            .members
            .iter()
            .enumerate()
            .map(|(j, m)| hash(m, &format!("{at}.members[{j}]")))
            .collect::<Result<Vec<_>, _>>()?;
        out.collections.push(CollectionImport {
            name: label(&entry.name, &at)?,
            created_ns: entry.created_ns,
            members,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_engine::{AssetId, CollectionInfo, Curation};

    fn sample() -> ContentHash {
        std::array::from_fn(|i| (i as u8).wrapping_mul(37))
    }

    #[test]
    fn hashes_round_trip_through_hex() {
        let hash = sample();
        assert_eq!(parse_hash(&hex(&hash)), Some(hash));
        assert_eq!(parse_hash(&hex(&hash).to_uppercase()), Some(hash));
        assert_eq!(parse_hash("abc"), None);
        assert_eq!(parse_hash(&"zz".repeat(32)), None);
        assert_eq!(parse_hash(&"é".repeat(32)), None);
    }

    #[test]
    fn an_export_reads_back_as_it_was_written() {
        let hash = sample();
        let export = CurationExport {
            assets: vec![(
                hash,
                Curation {
                    rating: 4,
                    rating_ns: 10,
                    favorite: true,
                    favorite_ns: 11,
                    tags: vec!["keeper".into(), "client A".into()],
                    tags_ns: 12,
                    collections: vec!["set".into()],
                },
                Some(AssetId::new(3)),
            )],
            collections: vec![(
                CollectionInfo {
                    name: "set".into(),
                    members: 1,
                    created_ns: 5,
                    updated_ns: 6,
                },
                vec![hash],
            )],
        };
        let mut bytes = Vec::new();
        write_export(&export, 99, |_| Some("/a.png".into()), &mut bytes).expect("write");
        let read = parse_import(&bytes).expect("reads");
        assert_eq!(
            read.assets,
            vec![CurationImport {
                hash,
                rating: Some((4, 10)),
                favorite: Some((true, 11)),
                tags: vec!["keeper".into(), "client A".into()],
                tags_ns: 12,
            }]
        );
        assert_eq!(read.collections[0].name, "set");
        assert_eq!(read.collections[0].members, vec![hash]);
    }

    #[test]
    fn hostile_files_get_errors_that_say_where() {
        let err = |text: &str| parse_import(text.as_bytes()).expect_err("refused");
        assert!(err("not json").contains("not a kiln curation file"));
        assert!(err(r#"{"kiln_curation": 2}"#).contains("format 2"));
        assert!(err(r#"{"kiln_curation": 1, "assets": [{"hash": "00"}]}"#).contains("assets[0]"));
        let good = "ab".repeat(32);
        assert!(
            err(&format!(
                r#"{{"kiln_curation": 1, "assets": [{{"hash": "{good}"}}, {{"hash": "{good}", "rating": 9}}]}}"#
            ))
            .contains("assets[1]: rating 9")
        );
        assert!(
            err(&format!(
                r#"{{"kiln_curation": 1, "assets": [{{"hash": "{good}", "tags": ["a\u001b[2J"]}}]}}"#
            ))
            .contains("control character")
        );
        assert!(
            err(&format!(
                r#"{{"kiln_curation": 1, "collections": [{{"name": "x", "members": ["{good}", "1"]}}]}}"#
            ))
            .contains("collections[0].members[1]")
        );
        let deep = format!(
            r#"{{"kiln_curation": 1, "x": {}{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        // Deep nesting in a field kiln does not read is skipped without
        // recursion; in one it reads, it is refused.
        assert_eq!(parse_import(deep.as_bytes()), Ok(ImportFile::default()));
        let deep_tags = format!(
            r#"{{"kiln_curation": 1, "assets": [{{"hash": "{good}", "tags": {}{}}}]}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(err(&deep_tags).contains("JSON"));
        let ok = parse_import(br#"{"kiln_curation": 1}"#).expect("an empty file is fine");
        assert_eq!(ok, ImportFile::default());
    }
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] kiln_engine::EngineError),
    /// Writing the file failed.
    #[error("cannot write the curation file: {0}")]
    Write(#[from] serde_json::Error),
}

/// Writes every curation record and collection of the store to `out` as
/// a curation file, with the first path of each asset still holding its
/// content.
pub fn export(engine: &kiln_engine::Engine, out: impl std::io::Write) -> Result<(), ExportError> {
    let export = engine.export_curation()?;
    let ids: Vec<kiln_engine::AssetId> = export.assets.iter().filter_map(|(_, _, a)| *a).collect();
    let mut paths: std::collections::HashMap<kiln_engine::AssetId, String> = ids
        .iter()
        .copied()
        .zip(engine.asset_paths(&ids)?)
        .filter_map(|(id, paths)| paths.into_iter().next().map(|p| (id, p)))
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    write_export(&export, now, |id| paths.remove(&id), out)?;
    Ok(())
}
