//! Curation: what a person decided about an asset's content (a rating, a
//! favorite mark, tags) and the collections it belongs to. Keyed by the
//! content hash, never by path or asset id, so it follows the bytes
//! through moves, renames and re-imports.
//!
//! Tags and collection names are *labels*: trimmed, inner whitespace made
//! single spaces, 1 to [`MAX_LABEL_CHARS`] characters, no control
//! characters and no double quote (a search names a label in quotes:
//! `tag:"client A"`). Two labels that differ only in letter case are the same
//! label ([`fold_label`]); the spelling first given is the one kept.

use super::AssetId;

/// The blake3 hash of an asset's bytes.
pub type ContentHash = [u8; 32];

/// The highest rating (stars).
pub const MAX_RATING: u8 = 5;
/// The longest tag or collection name, in characters.
pub const MAX_LABEL_CHARS: usize = 100;
/// The most tags one asset may carry.
pub const MAX_TAGS: usize = 64;

/// Why a label (a tag or a collection name) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelProblem {
    /// Nothing but whitespace.
    Empty,
    /// Longer than [`MAX_LABEL_CHARS`].
    TooLong,
    /// Holds a control character.
    ControlCharacter,
    /// Holds a double quote, which a search could not name.
    Quote,
}

impl std::fmt::Display for LabelProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LabelProblem::Empty => write!(f, "it is empty"),
            LabelProblem::TooLong => write!(f, "it is longer than {MAX_LABEL_CHARS} characters"),
            LabelProblem::ControlCharacter => write!(f, "it holds a control character"),
            LabelProblem::Quote => write!(
                f,
                "it holds a double quote, which a search (`tag:\"…\"`) could not name"
            ),
        }
    }
}

/// The stored form of a label: trimmed, each run of inner whitespace one
/// space; refused when empty, too long or holding a control character.
pub fn normalize_label(text: &str) -> Result<String, LabelProblem> {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        return Err(LabelProblem::Empty);
    }
    if out.chars().any(char::is_control) {
        return Err(LabelProblem::ControlCharacter);
    }
    if out.contains('"') {
        return Err(LabelProblem::Quote);
    }
    if out.chars().count() > MAX_LABEL_CHARS {
        return Err(LabelProblem::TooLong);
    }
    Ok(out)
}

/// The key two labels are compared by: the normalised label in lower case.
pub fn fold_label(label: &str) -> String {
    label.to_lowercase()
}

/// One change to the curation of one or more assets; `None` and empty
/// lists leave that part as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurationEdit {
    /// The new rating, 0 (none) to [`MAX_RATING`].
    pub rating: Option<u8>,
    /// Mark or unmark as a favorite.
    pub favorite: Option<bool>,
    /// Tags to add (a tag the asset has already is left as it is).
    pub add_tags: Vec<String>,
    /// Tags to remove (compared without regard to case).
    pub remove_tags: Vec<String>,
}

impl CurationEdit {
    /// Whether the edit changes nothing.
    pub fn is_empty(&self) -> bool {
        self.rating.is_none()
            && self.favorite.is_none()
            && self.add_tags.is_empty()
            && self.remove_tags.is_empty()
    }
}

/// The curation of one content hash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Curation {
    /// 0 (none) to [`MAX_RATING`].
    pub rating: u8,
    /// When the rating was last set (ns since the epoch; 0: never).
    pub rating_ns: u64,
    /// Marked as a favorite.
    pub favorite: bool,
    /// When the favorite mark was last set (0: never).
    pub favorite_ns: u64,
    /// Tags in the order they were added.
    pub tags: Vec<String>,
    /// When the tags last changed (0: never).
    pub tags_ns: u64,
    /// The names of the collections holding the content, by name.
    pub collections: Vec<String>,
}

impl Curation {
    /// The latest of the change times.
    pub fn updated_ns(&self) -> u64 {
        self.rating_ns.max(self.favorite_ns).max(self.tags_ns)
    }
}

/// A collection: a named, ordered set of content hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionInfo {
    /// Its name as first given.
    pub name: String,
    /// How many members it has.
    pub members: u64,
    /// When it was created (ns since the epoch).
    pub created_ns: u64,
    /// When it last changed.
    pub updated_ns: u64,
}

/// Where [`Engine::move_in_collection`](crate::Engine::move_in_collection)
/// puts the members it moves, which keep the order they were given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionPlace {
    /// First in the collection.
    Start,
    /// Last in the collection.
    End,
    /// Just before this member (one not moved).
    Before(ContentHash),
    /// Just after this member (one not moved).
    After(ContentHash),
}

/// A filter of curated assets, resolved to asset ids when a search runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CurationFilter {
    /// A rating within `min..=max`, both at least 1 (an unrated asset has
    /// no entry to find).
    Rating {
        /// The lowest rating.
        min: u8,
        /// The highest rating.
        max: u8,
    },
    /// Marked as a favorite.
    Favorite,
    /// Carries the tag (compared without regard to case).
    Tag(String),
    /// A member of the collection (by name, without regard to case).
    Collection(String),
}

/// An asset's curation as an import file states it: each part with the
/// time it was set, for the merge rules of
/// [`Engine::merge_curation`](crate::Engine::merge_curation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurationImport {
    /// The content hash.
    pub hash: ContentHash,
    /// Rating and when it was set, if the file states one.
    pub rating: Option<(u8, u64)>,
    /// Favorite mark and when it was set, if the file states one.
    pub favorite: Option<(bool, u64)>,
    /// Tags (added to the store's: an import never removes a tag) and
    /// when they last changed.
    pub tags: Vec<String>,
    /// When the file's tags last changed.
    pub tags_ns: u64,
}

/// A collection as an import file states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionImport {
    /// The name.
    pub name: String,
    /// When it was created.
    pub created_ns: u64,
    /// Members in order (those already in the collection keep their place;
    /// the others are appended in this order).
    pub members: Vec<ContentHash>,
}

/// What a merge of imported curation changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Content hashes whose curation changed.
    pub assets_changed: u64,
    /// Collections that did not exist before.
    pub collections_created: u64,
    /// Members added to collections.
    pub members_added: u64,
}

/// Every curation record and collection of a store, for an export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurationExport {
    /// Each curated content hash with its curation and the asset holding
    /// the content now, if one does.
    pub assets: Vec<(ContentHash, Curation, Option<AssetId>)>,
    /// Every collection with its members in order.
    pub collections: Vec<(CollectionInfo, Vec<ContentHash>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(normalize_label("  client \t A "), Ok("client A".to_owned()));
        assert_eq!(normalize_label(" \n "), Err(LabelProblem::Empty));
        assert_eq!(
            normalize_label("a\u{1b}[31m"),
            Err(LabelProblem::ControlCharacter)
        );
        let long = "é".repeat(MAX_LABEL_CHARS);
        assert_eq!(normalize_label(&long), Ok(long.clone()));
        assert_eq!(
            normalize_label(&format!("{long}x")),
            Err(LabelProblem::TooLong)
        );
        assert_eq!(fold_label("Client A"), fold_label("cLIENT a"));
        assert_eq!(normalize_label("12\" print"), Err(LabelProblem::Quote));
        assert_eq!(normalize_label("it's <b>"), Ok("it's <b>".to_owned()));
    }
}
