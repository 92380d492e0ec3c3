//! Reading curation and collections: one content hash's curation, the
//! assets a curation filter selects, the collections, and everything at
//! once for an export.

use redb::{ReadTransaction, ReadableTable};

use crate::error::EngineError;
use crate::model::{
    AssetId, CollectionInfo, ContentHash, Curation, CurationExport, CurationFilter, fold_label,
};
use crate::store::tables::{
    ASSETS, AssetRecord, AssetStatus, COLLECTION_ITEMS, COLLECTION_MEMBERS, COLLECTIONS, CURATION,
    CURATION_FAVORITES, CURATION_RATINGS, CURATION_TAGS, CollectionRecord, CollectionV1,
    CurationRecord, CurationV1, HASHES, decode,
};
use crate::txn::curation::info;

fn hash_of(bytes: &[u8]) -> Option<ContentHash> {
    bytes.try_into().ok()
}

fn to_curation(v1: CurationV1, collections: Vec<String>) -> Curation {
    Curation {
        rating: v1.rating,
        rating_ns: v1.rating_ns,
        favorite: v1.favorite,
        favorite_ns: v1.favorite_ns,
        tags: v1.tags,
        tags_ns: v1.tags_ns,
        collections,
    }
}

fn decode_curation(bytes: &[u8]) -> Result<CurationV1, EngineError> {
    match decode::<CurationRecord>("curation", bytes)? {
        CurationRecord::V1(v1) => Ok(v1),
    }
}

/// Every collection record, in folded-name order.
fn collection_records(txn: &ReadTransaction) -> Result<Vec<CollectionV1>, EngineError> {
    let table = txn.open_table(COLLECTIONS)?;
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (_, bytes) = entry?;
        match decode::<CollectionRecord>("collections", bytes.value())? {
            CollectionRecord::V1(v1) => out.push(v1),
        }
    }
    Ok(out)
}

fn collection_record(
    txn: &ReadTransaction,
    name: &str,
) -> Result<Option<CollectionV1>, EngineError> {
    let table = txn.open_table(COLLECTIONS)?;
    match table.get(fold_label(name).as_str())? {
        Some(bytes) => match decode::<CollectionRecord>("collections", bytes.value())? {
            CollectionRecord::V1(v1) => Ok(Some(v1)),
        },
        None => Ok(None),
    }
}

/// The curation of `hash` (with the collections holding it), or `None`
/// when it has none and is in no collection.
pub(crate) fn curation(
    txn: &ReadTransaction,
    hash: &ContentHash,
) -> Result<Option<Curation>, EngineError> {
    Ok(curations(txn, std::slice::from_ref(hash))?.pop().flatten())
}

/// The curation of each of `hashes`, in order (see [`curation`]), the
/// collection records read once for all of them.
pub(crate) fn curations(
    txn: &ReadTransaction,
    hashes: &[ContentHash],
) -> Result<Vec<Option<Curation>>, EngineError> {
    let records = txn.open_table(CURATION)?;
    let members = txn.open_table(COLLECTION_MEMBERS)?;
    let all_collections = collection_records(txn)?;
    let mut out = Vec::with_capacity(hashes.len());
    for hash in hashes {
        let stored = match records.get(hash.as_slice())? {
            Some(bytes) => Some(decode_curation(bytes.value())?),
            None => None,
        };
        let mut collections = Vec::new();
        for record in &all_collections {
            if members.get((record.id, hash.as_slice()))?.is_some() {
                collections.push(record.name.clone());
            }
        }
        out.push(if stored.is_none() && collections.is_empty() {
            None
        } else {
            Some(to_curation(stored.unwrap_or_default(), collections))
        });
    }
    Ok(out)
}

/// The content hashes `filter` selects, in key order.
fn hashes_of(
    txn: &ReadTransaction,
    filter: &CurationFilter,
) -> Result<Vec<ContentHash>, EngineError> {
    let mut out = Vec::new();
    match filter {
        CurationFilter::Rating { min, max } => {
            let table = txn.open_table(CURATION_RATINGS)?;
            let (min, max) = ((*min).max(1), *max);
            if min <= max {
                let low: &[u8] = &[];
                let high: &[u8] = &[0xff; 33];
                for entry in table.range((min, low)..=(max, high))? {
                    let (key, _) = entry?;
                    out.extend(hash_of(key.value().1));
                }
            }
        }
        CurationFilter::Favorite => {
            let table = txn.open_table(CURATION_FAVORITES)?;
            for entry in table.iter()? {
                let (key, _) = entry?;
                out.extend(hash_of(key.value()));
            }
        }
        CurationFilter::Tag(tag) => {
            let table = txn.open_table(CURATION_TAGS)?;
            let tag = fold_label(tag);
            let low: &[u8] = &[];
            let high: &[u8] = &[0xff; 33];
            for entry in table.range((tag.as_str(), low)..=(tag.as_str(), high))? {
                let (key, _) = entry?;
                out.extend(hash_of(key.value().1));
            }
        }
        CurationFilter::Collection(name) => {
            if let Some(record) = collection_record(txn, name)? {
                let table = txn.open_table(COLLECTION_MEMBERS)?;
                let low: &[u8] = &[];
                let high: &[u8] = &[0xff; 33];
                for entry in table.range((record.id, low)..=(record.id, high))? {
                    let (key, _) = entry?;
                    out.extend(hash_of(key.value().1));
                }
            }
        }
    }
    Ok(out)
}

/// The assets holding the content `filter` selects now (a content no
/// asset holds, one whose files changed, is left out), in no set order.
pub(crate) fn select(
    txn: &ReadTransaction,
    filter: &CurationFilter,
) -> Result<Vec<AssetId>, EngineError> {
    let hashes = txn.open_table(HASHES)?;
    let mut out = Vec::new();
    for hash in hashes_of(txn, filter)? {
        if let Some(id) = hashes.get(hash.as_slice())? {
            out.push(AssetId::new(id.value()));
        }
    }
    Ok(out)
}

/// Every collection, in name order (without regard to case).
pub(crate) fn collections(txn: &ReadTransaction) -> Result<Vec<CollectionInfo>, EngineError> {
    Ok(collection_records(txn)?.iter().map(info).collect())
}

fn members(txn: &ReadTransaction, id: u64) -> Result<Vec<ContentHash>, EngineError> {
    let table = txn.open_table(COLLECTION_ITEMS)?;
    let mut out = Vec::new();
    for entry in table.range((id, 0)..=(id, u64::MAX))? {
        let (_, hash) = entry?;
        out.extend(hash_of(hash.value()));
    }
    Ok(out)
}

/// One collection with its members in order.
pub(crate) fn collection(
    txn: &ReadTransaction,
    name: &str,
) -> Result<Option<(CollectionInfo, Vec<ContentHash>)>, EngineError> {
    match collection_record(txn, name)? {
        Some(record) => Ok(Some((info(&record), members(txn, record.id)?))),
        None => Ok(None),
    }
}

/// Every curation record and collection.
pub(crate) fn export(txn: &ReadTransaction) -> Result<CurationExport, EngineError> {
    let records = txn.open_table(CURATION)?;
    let hashes = txn.open_table(HASHES)?;
    let all = collection_records(txn)?;
    let mut export = CurationExport::default();
    let mut in_collections: std::collections::HashMap<ContentHash, Vec<String>> =
        std::collections::HashMap::new();
    for record in &all {
        let list = members(txn, record.id)?;
        for hash in &list {
            in_collections
                .entry(*hash)
                .or_default()
                .push(record.name.clone());
        }
        export.collections.push((info(record), list));
    }
    for entry in records.iter()? {
        let (key, bytes) = entry?;
        let Some(hash) = hash_of(key.value()) else {
            continue;
        };
        let v1 = decode_curation(bytes.value())?;
        let asset = hashes
            .get(hash.as_slice())?
            .map(|v| AssetId::new(v.value()));
        let collections = in_collections.remove(&hash).unwrap_or_default();
        export
            .assets
            .push((hash, to_curation(v1, collections), asset));
    }
    Ok(export)
}

/// Content hashes with curation or in a collection that no asset holds
/// now (the file changed or was never imported into this store).
pub(crate) fn orphans(txn: &ReadTransaction) -> Result<Vec<ContentHash>, EngineError> {
    let hashes = txn.open_table(HASHES)?;
    let mut out = std::collections::BTreeSet::new();
    let records = txn.open_table(CURATION)?;
    for entry in records.iter()? {
        let (key, _) = entry?;
        if hashes.get(key.value())?.is_none() {
            out.extend(hash_of(key.value()));
        }
    }
    let members = txn.open_table(COLLECTION_MEMBERS)?;
    for entry in members.iter()? {
        let (key, _) = entry?;
        let hash = key.value().1;
        if hashes.get(hash)?.is_none() {
            out.extend(hash_of(hash));
        }
    }
    Ok(out.into_iter().collect())
}

/// The asset holding the content `hash` now, if any.
pub(crate) fn assets_of(
    txn: &ReadTransaction,
    hashes: &[ContentHash],
) -> Result<Vec<Option<AssetId>>, EngineError> {
    let table = txn.open_table(HASHES)?;
    hashes
        .iter()
        .map(|hash| Ok(table.get(hash.as_slice())?.map(|v| AssetId::new(v.value()))))
        .collect()
}

/// The content hash of each asset (that of the asset it duplicates for a
/// duplicate), read from the asset records alone; `None` for an unknown
/// asset or one whose content is not hashed yet.
pub(crate) fn content_hashes(
    txn: &ReadTransaction,
    ids: &[AssetId],
) -> Result<Vec<Option<ContentHash>>, EngineError> {
    let assets = txn.open_table(ASSETS)?;
    let record = |id: u64| -> Result<Option<AssetRecord>, EngineError> {
        match assets.get(id)? {
            Some(bytes) => Ok(Some(decode("assets", bytes.value())?)),
            None => Ok(None),
        }
    };
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let mut found = record(id.get())?;
        if let Some(AssetRecord {
            status: AssetStatus::Duplicate(of),
            ..
        }) = found
        {
            found = record(of)?;
        }
        out.push(found.and_then(|r| r.content_hash));
    }
    Ok(out)
}

/// The paths of each asset, from the asset records alone (empty for an
/// unknown asset).
pub(crate) fn asset_paths(
    txn: &ReadTransaction,
    ids: &[AssetId],
) -> Result<Vec<Vec<String>>, EngineError> {
    let assets = txn.open_table(ASSETS)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(match assets.get(id.get())? {
            Some(bytes) => decode::<AssetRecord>("assets", bytes.value())?.paths,
            None => Vec::new(),
        });
    }
    Ok(out)
}

/// Every asset holding a content (as `hashes` names them) with its hash
/// and paths.
pub(crate) fn hashed_assets(
    txn: &ReadTransaction,
) -> Result<Vec<(AssetId, ContentHash, Vec<String>)>, EngineError> {
    let hashes = txn.open_table(HASHES)?;
    let assets = txn.open_table(ASSETS)?;
    let mut out = Vec::new();
    for entry in hashes.iter()? {
        let (hash, id) = entry?;
        let (Some(hash), id) = (hash_of(hash.value()), id.value()) else {
            continue;
        };
        if let Some(bytes) = assets.get(id)? {
            let record: AssetRecord = decode("assets", bytes.value())?;
            if record.status == AssetStatus::Active {
                out.push((AssetId::new(id), hash, record.paths));
            }
        }
    }
    Ok(out)
}
