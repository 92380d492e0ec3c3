//! The gallery's listing: browsable assets a page at a time, by cursor.
//!
//! An asset is browsable when it is active (not a duplicate, not
//! superseded) and every registered tier-1 stage has stored its facts for
//! it. A page is read in one snapshot and costs what it returns, never the
//! size of the store: it walks a key range from the cursor and stops after
//! `limit` browsable assets (or after a bounded number of keys looked at,
//! so a page over a store where nothing is browsable yet stays cheap).

use std::path::{Path, PathBuf};

use kiln_plugin_api::{PROXY_ARTIFACT, THUMBNAIL_ARTIFACT};
use redb::ReadTransaction;

use crate::error::EngineError;
use crate::graph::Graph;
use crate::model::AssetId;
use crate::store::blobs::blob_path;
use crate::store::tables::{
    ASSETS, AssetRecord, AssetStatus, FACTS, FILES, FactRecord, FileRecord, META, decode,
};
use crate::txn::browsable;

/// At most this many keys are looked at for one page, whatever `limit` is,
/// so that a page over a store whose assets are not browsable yet returns
/// quickly (with a cursor to continue from).
const MAX_SCAN: usize = 20_000;

/// The order of a gallery listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrowseOrder {
    /// The asset kiln found last first (asset ids descending).
    Newest,
    /// By the asset's first path, ascending (bytes of the UTF-8 text).
    Path,
}

/// Where a page starts: after the last entry of the page before it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrowseCursor {
    /// [`BrowseOrder::Newest`]: assets with a smaller id than this one.
    Before(AssetId),
    /// [`BrowseOrder::Path`]: paths sorting after this one.
    After(String),
}

/// One browsable asset.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrowseEntry {
    /// The asset's id.
    pub id: AssetId,
    /// Its first path.
    pub path: String,
    /// The blob name of its thumbnail, when a tier-1 stage stored one.
    pub thumbnail: Option<String>,
    /// The thumbnail's file in the blob folder.
    pub thumbnail_file: Option<PathBuf>,
    /// The blob name of its proxy (the larger preview), when stored.
    pub proxy: Option<String>,
    /// The proxy's file in the blob folder.
    pub proxy_file: Option<PathBuf>,
}

/// A page of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrowsePage {
    /// The browsable assets of this page, in order.
    pub entries: Vec<BrowseEntry>,
    /// Where the next page starts; `None` at the end.
    pub next: Option<BrowseCursor>,
}

/// What one asset looks like to the gallery, or `None` when it is not
/// browsable.
fn entry_of(
    facts: &redb::ReadOnlyTable<(u64, &'static str), &'static [u8]>,
    tier1: &[&str],
    blobs: &Path,
    id: u64,
    record: &AssetRecord,
) -> Result<Option<BrowseEntry>, EngineError> {
    if record.status != AssetStatus::Active {
        return Ok(None);
    }
    let (mut thumbnail, mut proxy) = (None, None);
    for stage in tier1 {
        let Some(bytes) = facts.get((id, *stage))? else {
            return Ok(None);
        };
        let fact: FactRecord = decode("facts", bytes.value())?;
        for a in &fact.artifacts {
            if a.name == THUMBNAIL_ARTIFACT {
                thumbnail = Some(a.blob.clone());
            } else if a.name == PROXY_ARTIFACT {
                proxy = Some(a.blob.clone());
            }
        }
    }
    Ok(Some(BrowseEntry {
        id: AssetId::new(id),
        path: record.paths.first().cloned().unwrap_or_default(),
        thumbnail_file: thumbnail.as_deref().map(|b| blob_path(blobs, b)),
        thumbnail,
        proxy_file: proxy.as_deref().map(|b| blob_path(blobs, b)),
        proxy,
    }))
}

pub(crate) fn browse(
    txn: &ReadTransaction,
    graph: &Graph,
    blobs: &Path,
    order: &BrowseOrder,
    cursor: Option<&BrowseCursor>,
    limit: usize,
) -> Result<BrowsePage, EngineError> {
    let tier1 = graph.browsable_stages();
    let assets = txn.open_table(ASSETS)?;
    let facts = txn.open_table(FACTS)?;
    let mut entries = Vec::new();
    let mut scanned = 0usize;
    let limit = limit.max(1);
    match order {
        BrowseOrder::Newest => {
            let before = match cursor {
                Some(BrowseCursor::Before(id)) => id.get(),
                _ => u64::MAX,
            };
            let mut last = None;
            for row in assets.range(..before)?.rev() {
                let (key, value) = row?;
                let id = key.value();
                last = Some(id);
                scanned += 1;
                let record: AssetRecord = decode("assets", value.value())?;
                if let Some(e) = entry_of(&facts, &tier1, blobs, id, &record)? {
                    entries.push(e);
                    if entries.len() == limit {
                        break;
                    }
                }
                if scanned >= MAX_SCAN {
                    break;
                }
            }
            // A page that stopped early has more after it; one that ran out
            // of keys is the last.
            let more = match last {
                Some(id) => assets.range(..id)?.next_back().is_some(),
                None => false,
            };
            Ok(BrowsePage {
                entries,
                next: last
                    .filter(|_| more)
                    .map(|id| BrowseCursor::Before(AssetId::new(id))),
            })
        }
        BrowseOrder::Path => {
            let files = txn.open_table(FILES)?;
            let after = match cursor {
                Some(BrowseCursor::After(path)) => Some(path.as_str()),
                _ => None,
            };
            let rows = match after {
                Some(path) => files
                    .range::<&str>((std::ops::Bound::Excluded(path), std::ops::Bound::Unbounded))?,
                None => files.range::<&str>(..)?,
            };
            let mut last: Option<String> = None;
            let mut ended = true;
            for row in rows {
                let (key, value) = row?;
                let path = key.value().to_owned();
                scanned += 1;
                let file: FileRecord = decode("files", value.value())?;
                let record = match assets.get(file.asset_id)? {
                    Some(bytes) => decode::<AssetRecord>("assets", bytes.value())?,
                    None => {
                        last = Some(path);
                        continue;
                    }
                };
                // An asset found at several paths is listed once, at its first.
                let first = record.paths.first().is_some_and(|p| *p == path);
                if first && let Some(e) = entry_of(&facts, &tier1, blobs, file.asset_id, &record)? {
                    entries.push(e);
                }
                last = Some(path);
                if entries.len() == limit || scanned >= MAX_SCAN {
                    ended = false;
                    break;
                }
            }
            let more = !ended
                && match &last {
                    Some(path) => files
                        .range::<&str>((
                            std::ops::Bound::Excluded(path.as_str()),
                            std::ops::Bound::Unbounded,
                        ))?
                        .next()
                        .is_some(),
                    None => false,
                };
            Ok(BrowsePage {
                entries,
                next: last.filter(|_| more).map(BrowseCursor::After),
            })
        }
    }
}

/// How many assets are browsable: active, with every tier-1 stage done.
/// One read where the store keeps the count for these stages (see
/// `txn::browsable`); otherwise a read of every asset record.
pub(crate) fn browsable_count(txn: &ReadTransaction, graph: &Graph) -> Result<u64, EngineError> {
    let meta_table = txn.open_table(META)?;
    if let Some(count) = browsable::stored(&meta_table, graph)? {
        return Ok(count);
    }
    let assets = txn.open_table(ASSETS)?;
    let facts = txn.open_table(FACTS)?;
    browsable::count(&assets, &facts, &graph.browsable_stages())
}

/// The gallery entry of each asset id, in order: `None` for an id that is
/// not browsable (or not an asset).
pub(crate) fn entries(
    txn: &ReadTransaction,
    graph: &Graph,
    blobs: &Path,
    ids: &[AssetId],
) -> Result<Vec<Option<BrowseEntry>>, EngineError> {
    let tier1 = graph.browsable_stages();
    let assets = txn.open_table(ASSETS)?;
    let facts = txn.open_table(FACTS)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let entry = match assets.get(id.get())? {
            Some(bytes) => {
                let record: AssetRecord = decode("assets", bytes.value())?;
                entry_of(&facts, &tier1, blobs, id.get(), &record)?
            }
            None => None,
        };
        out.push(entry);
    }
    Ok(out)
}
