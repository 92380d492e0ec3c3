//! Curation: ratings, favorites, tags and collections, keyed by content
//! hash. Each change is one operation of the writer, so one durable
//! transaction however many assets it touches, acknowledged only once it
//! is committed; a client handle (another process while the primary
//! imports) changes curation the same way.

use super::Engine;
use crate::error::{CurationError, EngineError};
use crate::model::{
    AssetId, CollectionImport, CollectionInfo, CollectionPlace, ContentHash, Curation,
    CurationEdit, CurationExport, CurationFilter, CurationImport, MAX_RATING, MAX_TAGS,
    MergeReport, normalize_label,
};
use crate::txn::curation::{
    AddToCollection, CreateCollection, Curate, DeleteCollection, MergeCuration, MoveInCollection,
    PurgeCuration, RemoveFromCollection, RenameCollection,
};
use crate::views::curation;

fn label(text: &str) -> Result<String, CurationError> {
    normalize_label(text).map_err(|problem| CurationError::bad_label(text, problem))
}

fn labels(texts: &[String]) -> Result<Vec<String>, CurationError> {
    texts.iter().map(|t| label(t)).collect()
}

fn rating(value: u8) -> Result<u8, CurationError> {
    if value > MAX_RATING {
        return Err(CurationError::BadRating(value));
    }
    Ok(value)
}

impl Engine {
    /// Applies `edit` to the curation of every content hash in `hashes`,
    /// in one durable transaction; returns how many changed. Tags are
    /// labels (see [`normalize_label`]); an asset carries at most
    /// [`MAX_TAGS`]. A refused edit changes nothing.
    pub async fn curate(
        &self,
        hashes: Vec<ContentHash>,
        edit: CurationEdit,
    ) -> Result<u64, EngineError> {
        let edit = CurationEdit {
            rating: edit.rating.map(rating).transpose()?,
            favorite: edit.favorite,
            add_tags: labels(&edit.add_tags)?,
            remove_tags: labels(&edit.remove_tags)?,
        };
        if edit.add_tags.len() > MAX_TAGS {
            return Err(CurationError::TooManyTags("the edit".to_owned()).into());
        }
        if edit.is_empty() || hashes.is_empty() {
            return Ok(0);
        }
        self.inner.writer.call(Curate { hashes, edit }).await
    }

    /// The curation of a content hash: `None` when it has none and is in
    /// no collection.
    pub fn curation(&self, hash: &ContentHash) -> Result<Option<Curation>, EngineError> {
        self.inner.view(|txn| curation::curation(txn, hash))
    }

    /// The curation of each of `hashes`, in order, in one read (as
    /// [`Engine::curation`] has it): for a page of a listing.
    pub fn curations(&self, hashes: &[ContentHash]) -> Result<Vec<Option<Curation>>, EngineError> {
        self.inner.view(|txn| curation::curations(txn, hashes))
    }

    /// The assets holding the content a filter selects, read at the
    /// moment of the call (whichever process wrote it).
    pub fn curated_assets(&self, filter: &CurationFilter) -> Result<Vec<AssetId>, EngineError> {
        self.inner.view(|txn| curation::select(txn, filter))
    }

    /// The content hash of each asset (for a duplicate, that of the asset
    /// holding its content), from the asset records alone; `None` for an
    /// unknown asset or one not hashed yet.
    pub fn content_hashes(&self, ids: &[AssetId]) -> Result<Vec<Option<ContentHash>>, EngineError> {
        self.inner.view(|txn| curation::content_hashes(txn, ids))
    }

    /// The paths of each asset, from the asset records alone (no facts are
    /// read); empty for an unknown asset.
    pub fn asset_paths(&self, ids: &[AssetId]) -> Result<Vec<Vec<String>>, EngineError> {
        self.inner.view(|txn| curation::asset_paths(txn, ids))
    }

    /// Every active asset whose content is hashed: its id, content hash
    /// and paths, from the asset records alone, in hash order.
    pub fn hashed_assets(&self) -> Result<Vec<(AssetId, ContentHash, Vec<String>)>, EngineError> {
        self.inner.view(curation::hashed_assets)
    }

    /// The asset holding the content `hash` now, if any.
    pub fn asset_by_hash(&self, hash: &ContentHash) -> Result<Option<AssetId>, EngineError> {
        Ok(self
            .assets_by_hash(std::slice::from_ref(hash))?
            .pop()
            .flatten())
    }

    /// The asset holding each of `hashes` now, in order, in one read (for
    /// a collection's members).
    pub fn assets_by_hash(
        &self,
        hashes: &[ContentHash],
    ) -> Result<Vec<Option<AssetId>>, EngineError> {
        self.inner.view(|txn| curation::assets_of(txn, hashes))
    }

    /// Creates an empty collection (refused when the name is taken, without
    /// regard to case).
    pub async fn create_collection(&self, name: &str) -> Result<CollectionInfo, EngineError> {
        let name = label(name)?;
        self.inner.writer.call(CreateCollection { name }).await
    }

    /// Deletes a collection; its members' content and curation stay.
    /// Returns how many members it had.
    pub async fn delete_collection(&self, name: &str) -> Result<u64, EngineError> {
        let name = label(name)?;
        self.inner.writer.call(DeleteCollection { name }).await
    }

    /// Renames a collection.
    pub async fn rename_collection(
        &self,
        from: &str,
        to: &str,
    ) -> Result<CollectionInfo, EngineError> {
        let (from, to) = (label(from)?, label(to)?);
        self.inner.writer.call(RenameCollection { from, to }).await
    }

    /// Appends content hashes to a collection (those already members keep
    /// their place), creating the collection first when `create` is set;
    /// returns how many were added.
    pub async fn add_to_collection(
        &self,
        name: &str,
        hashes: Vec<ContentHash>,
        create: bool,
    ) -> Result<u64, EngineError> {
        let name = label(name)?;
        self.inner
            .writer
            .call(AddToCollection {
                name,
                hashes,
                create,
            })
            .await
    }

    /// Takes content hashes out of a collection; returns how many were
    /// members.
    pub async fn remove_from_collection(
        &self,
        name: &str,
        hashes: Vec<ContentHash>,
    ) -> Result<u64, EngineError> {
        let name = label(name)?;
        self.inner
            .writer
            .call(RemoveFromCollection { name, hashes })
            .await
    }

    /// Moves members of a collection to `place`, keeping the order they are
    /// given in (each once); returns how many moved. Refused, changing
    /// nothing, when one of them (or the member `place` names) is not in
    /// the collection, or when `place` is beside one of them.
    pub async fn move_in_collection(
        &self,
        name: &str,
        hashes: Vec<ContentHash>,
        place: CollectionPlace,
    ) -> Result<u64, EngineError> {
        let name = label(name)?;
        self.inner
            .writer
            .call(MoveInCollection {
                name,
                hashes,
                place,
            })
            .await
    }

    /// Every collection, by name.
    pub fn collections(&self) -> Result<Vec<CollectionInfo>, EngineError> {
        self.inner.view(curation::collections)
    }

    /// One collection (by name, without regard to case) with its members in
    /// order.
    pub fn collection(
        &self,
        name: &str,
    ) -> Result<Option<(CollectionInfo, Vec<ContentHash>)>, EngineError> {
        let name = label(name)?;
        self.inner.view(|txn| curation::collection(txn, &name))
    }

    /// Every curation record and collection, for an export.
    pub fn export_curation(&self) -> Result<CurationExport, EngineError> {
        self.inner.view(curation::export)
    }

    /// Merges curation read from an export, in one durable transaction.
    /// The rules, which make a second import of the same file change
    /// nothing:
    /// - rating and favorite: the one set later wins (the store's on a
    ///   tie);
    /// - tags: the union (an import never removes a tag), in the store's
    ///   order with the file's new ones after;
    /// - collections: by name (without regard to case), created when
    ///   missing; members not in it yet are appended in the file's order.
    ///
    /// Labels and ratings are checked first: one bad entry refuses the whole
    /// merge, and nothing is written.
    pub async fn merge_curation(
        &self,
        assets: Vec<CurationImport>,
        collections: Vec<CollectionImport>,
    ) -> Result<MergeReport, EngineError> {
        self.merge(assets, collections, false).await
    }

    /// Takes curation found beside the files (an XMP sidecar's rating and
    /// keywords) for content that has none yet, in one durable
    /// transaction: content with a curation record (even a cleared one) is
    /// left as it is, so a first sight happens once. Checked as
    /// [`Engine::merge_curation`] checks.
    pub async fn seed_curation(
        &self,
        assets: Vec<CurationImport>,
    ) -> Result<MergeReport, EngineError> {
        self.merge(assets, Vec::new(), true).await
    }

    async fn merge(
        &self,
        assets: Vec<CurationImport>,
        collections: Vec<CollectionImport>,
        only_new: bool,
    ) -> Result<MergeReport, EngineError> {
        let mut checked = Vec::with_capacity(assets.len());
        for mut import in assets {
            if let Some((value, at)) = import.rating {
                import.rating = Some((rating(value)?, at));
            }
            import.tags = labels(&import.tags)?;
            if import.tags.len() > MAX_TAGS {
                return Err(CurationError::TooManyTags(hex(&import.hash)).into());
            }
            checked.push(import);
        }
        let mut checked_collections = Vec::with_capacity(collections.len());
        for mut import in collections {
            import.name = label(&import.name)?;
            checked_collections.push(import);
        }
        self.inner
            .writer
            .call(MergeCuration {
                assets: checked,
                collections: checked_collections,
                only_new,
            })
            .await
    }

    /// Content hashes with curation or collection memberships that no
    /// asset holds now (the file changed, or it was never imported here).
    pub fn curation_orphans(&self) -> Result<Vec<ContentHash>, EngineError> {
        self.inner.view(curation::orphans)
    }

    /// Forgets the curation of these content hashes and takes them out of
    /// every collection, in one durable transaction; returns how many had
    /// any.
    pub async fn purge_curation(&self, hashes: Vec<ContentHash>) -> Result<u64, EngineError> {
        if hashes.is_empty() {
            return Ok(0);
        }
        self.inner.writer.call(PurgeCuration { hashes }).await
    }
}

fn hex(hash: &ContentHash) -> String {
    use std::fmt::Write;
    hash.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
