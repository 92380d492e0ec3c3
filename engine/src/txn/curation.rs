//! Curation and collections: every change one operation, so one durable
//! transaction however many assets it touches.
//!
//! The index tables (`curation_tags`, `curation_ratings`,
//! `curation_favorites`, `collection_members`) are written in the same
//! operation as the records they index. Each operation reads and checks
//! everything first and writes only once the whole change is known to be
//! acceptable, so a refused change (a [`CurationError`]) leaves the shared
//! transaction untouched. Labels and ratings arrive normalised and checked
//! by the API (`api::curation`).

use std::collections::{BTreeMap, HashSet};

use redb::ReadableTable;

use super::{Op, Tx};
use crate::error::{CurationError, EngineError};
use crate::model::{
    CollectionImport, CollectionInfo, CollectionPlace, ContentHash, CurationEdit, CurationImport,
    MAX_TAGS, MergeReport, fold_label,
};
use crate::store::tables::{
    CollectionRecord, CollectionV1, CurationRecord, CurationV1, decode, encode, meta,
};

fn hex(hash: &ContentHash) -> String {
    use std::fmt::Write;
    hash.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The stored curation of `hash`, if any.
fn record(tx: &Tx<'_>, hash: &ContentHash) -> Result<Option<CurationV1>, EngineError> {
    match tx.curation.get(hash.as_slice())? {
        Some(bytes) => match decode::<CurationRecord>("curation", bytes.value())? {
            CurationRecord::V1(v1) => Ok(Some(v1)),
        },
        None => Ok(None),
    }
}

/// Writes `new` as the curation of `hash` and brings the index tables from
/// `old` to `new`.
fn put_record(
    tx: &mut Tx<'_>,
    hash: &ContentHash,
    old: Option<&CurationV1>,
    new: &CurationV1,
) -> Result<(), EngineError> {
    let key = hash.as_slice();
    let old_rating = old.map_or(0, |o| o.rating);
    if old_rating != new.rating {
        if old_rating > 0 {
            tx.curation_ratings.remove((old_rating, key))?;
        }
        if new.rating > 0 {
            tx.curation_ratings.insert((new.rating, key), ())?;
        }
    }
    let old_favorite = old.is_some_and(|o| o.favorite);
    if old_favorite != new.favorite {
        if new.favorite {
            tx.curation_favorites.insert(key, ())?;
        } else {
            tx.curation_favorites.remove(key)?;
        }
    }
    let folded =
        |tags: &[String]| -> HashSet<String> { tags.iter().map(|t| fold_label(t)).collect() };
    let before = old.map(|o| folded(&o.tags)).unwrap_or_default();
    let after = folded(&new.tags);
    for gone in before.difference(&after) {
        tx.curation_tags.remove((gone.as_str(), key))?;
    }
    for added in after.difference(&before) {
        tx.curation_tags.insert((added.as_str(), key), ())?;
    }
    let bytes = encode("curation", &CurationRecord::V1(new.clone()))?;
    tx.curation.insert(key, bytes.as_slice())?;
    Ok(())
}

/// Removes the curation of `hash` and its index entries.
fn remove_record(tx: &mut Tx<'_>, hash: &ContentHash, old: &CurationV1) -> Result<(), EngineError> {
    let key = hash.as_slice();
    if old.rating > 0 {
        tx.curation_ratings.remove((old.rating, key))?;
    }
    if old.favorite {
        tx.curation_favorites.remove(key)?;
    }
    for tag in &old.tags {
        tx.curation_tags.remove((fold_label(tag).as_str(), key))?;
    }
    tx.curation.remove(key)?;
    Ok(())
}

/// `tags` with `add` appended (those not there yet, compared folded) and
/// `remove` taken out.
fn edit_tags(tags: &[String], add: &[String], remove: &[String]) -> Vec<String> {
    let removed: HashSet<String> = remove.iter().map(|t| fold_label(t)).collect();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(tags.len() + add.len());
    for tag in tags.iter().chain(add) {
        let folded = fold_label(tag);
        if !removed.contains(&folded) && seen.insert(folded) {
            out.push(tag.clone());
        }
    }
    out
}

/// Applies one edit to every hash (duplicates in the list count once);
/// outputs how many records changed.
#[derive(Debug)]
pub(crate) struct Curate {
    pub(crate) hashes: Vec<ContentHash>,
    pub(crate) edit: CurationEdit,
}

impl Op for Curate {
    type Output = u64;

    fn apply(self, tx: &mut Tx<'_>) -> Result<u64, EngineError> {
        let now = tx.now;
        let edit = &self.edit;
        let mut changes = Vec::new();
        let mut seen = HashSet::new();
        for hash in &self.hashes {
            if !seen.insert(*hash) {
                continue;
            }
            let old = record(tx, hash)?;
            let mut new = old.clone().unwrap_or_default();
            if let Some(rating) = edit.rating {
                new.rating = rating;
                new.rating_ns = now;
            }
            if let Some(favorite) = edit.favorite {
                new.favorite = favorite;
                new.favorite_ns = now;
            }
            if !edit.add_tags.is_empty() || !edit.remove_tags.is_empty() {
                let tags = edit_tags(&new.tags, &edit.add_tags, &edit.remove_tags);
                if tags.len() > MAX_TAGS {
                    return Err(CurationError::TooManyTags(hex(hash)).into());
                }
                if tags != new.tags {
                    new.tags = tags;
                    new.tags_ns = now;
                }
            }
            if old.as_ref() != Some(&new) {
                changes.push((*hash, old, new));
            }
        }
        for (hash, old, new) in &changes {
            put_record(tx, hash, old.as_ref(), new)?;
        }
        Ok(changes.len() as u64)
    }
}

fn collection(tx: &Tx<'_>, folded: &str) -> Result<Option<CollectionV1>, EngineError> {
    match tx.collections.get(folded)? {
        Some(bytes) => match decode::<CollectionRecord>("collections", bytes.value())? {
            CollectionRecord::V1(v1) => Ok(Some(v1)),
        },
        None => Ok(None),
    }
}

fn put_collection(tx: &mut Tx<'_>, record: &CollectionV1) -> Result<(), EngineError> {
    let bytes = encode("collections", &CollectionRecord::V1(record.clone()))?;
    tx.collections
        .insert(fold_label(&record.name).as_str(), bytes.as_slice())?;
    Ok(())
}

pub(crate) fn info(record: &CollectionV1) -> CollectionInfo {
    CollectionInfo {
        name: record.name.clone(),
        members: record.members,
        created_ns: record.created_ns,
        updated_ns: record.updated_ns,
    }
}

fn new_collection(
    tx: &mut Tx<'_>,
    name: &str,
    created_ns: u64,
) -> Result<CollectionV1, EngineError> {
    Ok(CollectionV1 {
        id: tx.next_id(meta::NEXT_COLLECTION)?,
        name: name.to_owned(),
        created_ns,
        updated_ns: tx.now,
        next_position: 0,
        members: 0,
    })
}

/// The members of collection `id` with their positions, in order, as
/// stored (a damaged item is kept as it is, never a reason to refuse).
fn items(tx: &Tx<'_>, id: u64) -> Result<Vec<(u64, Vec<u8>)>, EngineError> {
    tx.collection_items
        .range((id, 0)..=(id, u64::MAX))?
        .map(|entry| {
            let (key, value) = entry?;
            Ok((key.value().1, value.value().to_vec()))
        })
        .collect()
}

/// Appends the hashes not yet in the collection, in order; returns how
/// many were added.
fn append_members(
    tx: &mut Tx<'_>,
    record: &mut CollectionV1,
    hashes: &[ContentHash],
) -> Result<u64, EngineError> {
    let mut added = 0;
    for hash in hashes {
        let key = (record.id, hash.as_slice());
        if tx.collection_members.get(key)?.is_some() {
            continue;
        }
        let position = record.next_position;
        tx.collection_members.insert(key, position)?;
        tx.collection_items
            .insert((record.id, position), hash.as_slice())?;
        record.next_position += 1;
        record.members += 1;
        added += 1;
    }
    if added > 0 {
        record.updated_ns = tx.now;
    }
    Ok(added)
}

/// Takes `hash` out of the collection; returns whether it was a member.
fn remove_member(
    tx: &mut Tx<'_>,
    record: &mut CollectionV1,
    hash: &ContentHash,
) -> Result<bool, EngineError> {
    let Some(position) = tx
        .collection_members
        .remove((record.id, hash.as_slice()))?
        .map(|v| v.value())
    else {
        return Ok(false);
    };
    tx.collection_items.remove((record.id, position))?;
    record.members = record.members.saturating_sub(1);
    record.updated_ns = tx.now;
    Ok(true)
}

/// Creates an empty collection; refused when the name is taken.
#[derive(Debug)]
pub(crate) struct CreateCollection {
    pub(crate) name: String,
}

impl Op for CreateCollection {
    type Output = CollectionInfo;

    fn apply(self, tx: &mut Tx<'_>) -> Result<CollectionInfo, EngineError> {
        if let Some(existing) = collection(tx, &fold_label(&self.name))? {
            return Err(CurationError::CollectionExists(existing.name).into());
        }
        let now = tx.now;
        let record = new_collection(tx, &self.name, now)?;
        put_collection(tx, &record)?;
        Ok(info(&record))
    }
}

/// Deletes a collection (its members' content and curation stay);
/// outputs how many members it had.
#[derive(Debug)]
pub(crate) struct DeleteCollection {
    pub(crate) name: String,
}

impl Op for DeleteCollection {
    type Output = u64;

    fn apply(self, tx: &mut Tx<'_>) -> Result<u64, EngineError> {
        let folded = fold_label(&self.name);
        let Some(record) = collection(tx, &folded)? else {
            return Err(CurationError::NoSuchCollection(self.name).into());
        };
        let items = items(tx, record.id)?;
        for (position, hash) in &items {
            tx.collection_items.remove((record.id, *position))?;
            tx.collection_members.remove((record.id, hash.as_slice()))?;
        }
        tx.collections.remove(folded.as_str())?;
        Ok(items.len() as u64)
    }
}

/// Renames a collection; refused when the old name is unknown or the new
/// one taken by another collection.
#[derive(Debug)]
pub(crate) struct RenameCollection {
    pub(crate) from: String,
    pub(crate) to: String,
}

impl Op for RenameCollection {
    type Output = CollectionInfo;

    fn apply(self, tx: &mut Tx<'_>) -> Result<CollectionInfo, EngineError> {
        let (from, to) = (fold_label(&self.from), fold_label(&self.to));
        let Some(mut record) = collection(tx, &from)? else {
            return Err(CurationError::NoSuchCollection(self.from).into());
        };
        if from != to
            && let Some(other) = collection(tx, &to)?
        {
            return Err(CurationError::CollectionExists(other.name).into());
        }
        tx.collections.remove(from.as_str())?;
        record.name = self.to;
        record.updated_ns = tx.now;
        put_collection(tx, &record)?;
        Ok(info(&record))
    }
}

/// Adds hashes to a collection (appended in order; members already there
/// keep their place), creating it first with `create`; outputs how many
/// were added.
#[derive(Debug)]
pub(crate) struct AddToCollection {
    pub(crate) name: String,
    pub(crate) hashes: Vec<ContentHash>,
    pub(crate) create: bool,
}

impl Op for AddToCollection {
    type Output = u64;

    fn apply(self, tx: &mut Tx<'_>) -> Result<u64, EngineError> {
        let mut record = match collection(tx, &fold_label(&self.name))? {
            Some(record) => record,
            None if self.create => {
                let now = tx.now;
                new_collection(tx, &self.name, now)?
            }
            None => return Err(CurationError::NoSuchCollection(self.name).into()),
        };
        let added = append_members(tx, &mut record, &self.hashes)?;
        put_collection(tx, &record)?;
        Ok(added)
    }
}

/// Takes hashes out of a collection; outputs how many were members.
#[derive(Debug)]
pub(crate) struct RemoveFromCollection {
    pub(crate) name: String,
    pub(crate) hashes: Vec<ContentHash>,
}

impl Op for RemoveFromCollection {
    type Output = u64;

    fn apply(self, tx: &mut Tx<'_>) -> Result<u64, EngineError> {
        let Some(mut record) = collection(tx, &fold_label(&self.name))? else {
            return Err(CurationError::NoSuchCollection(self.name).into());
        };
        let mut removed = 0;
        for hash in &self.hashes {
            removed += u64::from(remove_member(tx, &mut record, hash)?);
        }
        if removed > 0 {
            put_collection(tx, &record)?;
        }
        Ok(removed)
    }
}

/// Moves members of a collection, in the order given, to a place in it;
/// outputs how many moved. Refused when one is not a member, or when the
/// place is beside one of them.
#[derive(Debug)]
pub(crate) struct MoveInCollection {
    pub(crate) name: String,
    pub(crate) hashes: Vec<ContentHash>,
    pub(crate) place: CollectionPlace,
}

impl Op for MoveInCollection {
    type Output = u64;

    fn apply(self, tx: &mut Tx<'_>) -> Result<u64, EngineError> {
        let Some(mut record) = collection(tx, &fold_label(&self.name))? else {
            return Err(CurationError::NoSuchCollection(self.name).into());
        };
        let not_a_member = |hash: &ContentHash| CurationError::NotAMember {
            collection: record.name.clone(),
            content: hex(hash),
        };
        let mut moving = Vec::with_capacity(self.hashes.len());
        let mut moving_set = HashSet::with_capacity(self.hashes.len());
        for hash in self.hashes {
            if !moving_set.insert(hash) {
                continue;
            }
            if tx
                .collection_members
                .get((record.id, hash.as_slice()))?
                .is_none()
            {
                return Err(not_a_member(&hash).into());
            }
            moving.push(hash);
        }
        let items = items(tx, record.id)?;
        let moved =
            |item: &[u8]| ContentHash::try_from(item).is_ok_and(|hash| moving_set.contains(&hash));
        let rest: Vec<&[u8]> = items
            .iter()
            .map(|(_, item)| item.as_slice())
            .filter(|item| !moved(item))
            .collect();
        let beside = |anchor: &ContentHash| {
            if moving_set.contains(anchor) {
                return Err(CurationError::PlacedBesideItself);
            }
            rest.iter()
                .position(|item| *item == anchor.as_slice())
                .ok_or_else(|| not_a_member(anchor))
        };
        let at = match &self.place {
            CollectionPlace::Start => 0,
            CollectionPlace::End => rest.len(),
            CollectionPlace::Before(anchor) => beside(anchor)?,
            CollectionPlace::After(anchor) => beside(anchor)? + 1,
        };
        let order: Vec<&[u8]> = rest[..at]
            .iter()
            .copied()
            .chain(moving.iter().map(|hash| hash.as_slice()))
            .chain(rest[at..].iter().copied())
            .collect();
        if order
            .iter()
            .copied()
            .eq(items.iter().map(|(_, item)| item.as_slice()))
        {
            return Ok(moving.len() as u64);
        }
        // Number the members afresh from 0, in the new order.
        for (position, _) in &items {
            tx.collection_items.remove((record.id, *position))?;
        }
        for (position, item) in (0u64..).zip(&order) {
            tx.collection_items.insert((record.id, position), *item)?;
            tx.collection_members.insert((record.id, *item), position)?;
        }
        record.next_position = order.len() as u64;
        record.updated_ns = tx.now;
        put_collection(tx, &record)?;
        Ok(moving.len() as u64)
    }
}

/// Merges curation from an export file (see
/// [`Engine::merge_curation`](crate::Engine::merge_curation) for the
/// rules); outputs what changed.
#[derive(Debug)]
pub(crate) struct MergeCuration {
    pub(crate) assets: Vec<CurationImport>,
    pub(crate) collections: Vec<CollectionImport>,
    /// Only content with no curation record yet: a first sight, such as a
    /// sidecar read on import.
    pub(crate) only_new: bool,
}

impl Op for MergeCuration {
    type Output = MergeReport;

    fn apply(self, tx: &mut Tx<'_>) -> Result<MergeReport, EngineError> {
        let mut report = MergeReport::default();
        // Read and decide everything first: a refusal writes nothing.
        let mut merged: BTreeMap<ContentHash, (Option<CurationV1>, CurationV1)> = BTreeMap::new();
        for import in &self.assets {
            let (old, mut new) = match merged.remove(&import.hash) {
                Some(pair) => pair,
                None => {
                    let old = record(tx, &import.hash)?;
                    if self.only_new && old.is_some() {
                        continue;
                    }
                    let new = old.clone().unwrap_or_default();
                    (old, new)
                }
            };
            if let Some((rating, at)) = import.rating
                && at > new.rating_ns
            {
                new.rating = rating;
                new.rating_ns = at;
            }
            if let Some((favorite, at)) = import.favorite
                && at > new.favorite_ns
            {
                new.favorite = favorite;
                new.favorite_ns = at;
            }
            let tags = edit_tags(&new.tags, &import.tags, &[]);
            if tags.len() > MAX_TAGS {
                return Err(CurationError::TooManyTags(hex(&import.hash)).into());
            }
            if tags != new.tags {
                new.tags = tags;
                new.tags_ns = new.tags_ns.max(import.tags_ns);
            }
            merged.insert(import.hash, (old, new));
        }
        for (hash, (old, new)) in &merged {
            if old.as_ref() != Some(new) {
                put_record(tx, hash, old.as_ref(), new)?;
                report.assets_changed += 1;
            }
        }
        for import in &self.collections {
            let mut record = match collection(tx, &fold_label(&import.name))? {
                Some(record) => record,
                None => {
                    report.collections_created += 1;
                    new_collection(tx, &import.name, import.created_ns)?
                }
            };
            let added = append_members(tx, &mut record, &import.members)?;
            report.members_added += added;
            put_collection(tx, &record)?;
        }
        Ok(report)
    }
}

/// Forgets the curation of these hashes and takes them out of every
/// collection; outputs how many hashes had curation or memberships.
#[derive(Debug)]
pub(crate) struct PurgeCuration {
    pub(crate) hashes: Vec<ContentHash>,
}

impl Op for PurgeCuration {
    type Output = u64;

    fn apply(self, tx: &mut Tx<'_>) -> Result<u64, EngineError> {
        let mut collections = Vec::new();
        for entry in tx.collections.iter()? {
            let (_, bytes) = entry?;
            match decode::<CollectionRecord>("collections", bytes.value())? {
                CollectionRecord::V1(v1) => collections.push(v1),
            }
        }
        let mut touched = vec![false; collections.len()];
        let mut purged = 0;
        let mut seen = HashSet::new();
        for hash in &self.hashes {
            if !seen.insert(*hash) {
                continue;
            }
            let mut had = false;
            if let Some(old) = record(tx, hash)? {
                remove_record(tx, hash, &old)?;
                had = true;
            }
            for (record, touched) in collections.iter_mut().zip(touched.iter_mut()) {
                if remove_member(tx, record, hash)? {
                    *touched = true;
                    had = true;
                }
            }
            purged += u64::from(had);
        }
        for (record, touched) in collections.iter().zip(touched) {
            if touched {
                put_collection(tx, record)?;
            }
        }
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    use super::edit_tags;

    #[test]
    fn tags_are_added_once_and_removed_without_regard_to_case() {
        let tags = vec!["Keeper".to_owned(), "draft".to_owned()];
        let add = vec!["keeper".to_owned(), "client A".to_owned()];
        let remove = vec!["DRAFT".to_owned()];
        assert_eq!(
            edit_tags(&tags, &add, &remove),
            vec!["Keeper".to_owned(), "client A".to_owned()]
        );
        assert_eq!(edit_tags(&tags, &[], &[]), tags);
    }
}
