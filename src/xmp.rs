//! XMP sidecars: `image.png.xmp` beside an image, as darktable, digiKam and
//! Lightroom read and write them, with the rating (`xmp:Rating`) and the
//! keywords (`dc:subject`, a bag of tags).
//!
//! kiln writes a sidecar only where there is none or where the one there
//! is its own (its packet names kiln as the XMP toolkit, `x:xmptk`): a
//! sidecar another tool wrote may hold that tool's edits, and is left as it
//! is. The image files themselves are never written.
//!
//! A sidecar read back is hostile: at most [`MAX_SIDECAR_BYTES`], UTF-8,
//! well-formed XML without a DTD (so no entity expansion) and at most
//! [`MAX_NODES`] nodes; anything else is an error for that one file. A
//! rating of -1 (Lightroom's and digiKam's "rejected") becomes the tag
//! `rejected`, as `kiln cull --apply` marks rejects.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use kiln_engine::{MAX_RATING, MAX_TAGS, normalize_label};

/// The largest sidecar read.
pub const MAX_SIDECAR_BYTES: u64 = 1 << 20;
/// The most XML nodes a sidecar may have.
pub const MAX_NODES: u32 = 100_000;
/// The XMP toolkit name kiln writes, by which it knows its own sidecars.
pub const TOOLKIT: &str = "kiln";
/// The tag a rejected rating (-1) becomes.
pub const REJECTED_TAG: &str = "rejected";

const NS_X: &str = "adobe:ns:meta/";
const NS_RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
const NS_XMP: &str = "http://ns.adobe.com/xap/1.0/";
const NS_DC: &str = "http://purl.org/dc/elements/1.1/";

/// The sidecar of an image: its whole file name with `.xmp` appended.
pub fn sidecar_path(image: &Path) -> PathBuf {
    let mut name = image.as_os_str().to_owned();
    name.push(".xmp");
    PathBuf::from(name)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Not allowed in XML 1.0; labels never hold them.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// A complete XMP packet with a rating and tags.
pub fn packet(rating: u8, tags: &[String]) -> String {
    let mut out = String::new();
    out.push_str("<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n");
    out.push_str(&format!(
        "<x:xmpmeta xmlns:x=\"{NS_X}\" x:xmptk=\"{TOOLKIT}\">\n <rdf:RDF xmlns:rdf=\"{NS_RDF}\">\n"
    ));
    out.push_str(&format!(
        "  <rdf:Description rdf:about=\"\"\n    xmlns:xmp=\"{NS_XMP}\"\n    xmlns:dc=\"{NS_DC}\"\n    xmp:Rating=\"{}\">\n",
        rating.min(MAX_RATING)
    ));
    if !tags.is_empty() {
        out.push_str("   <dc:subject>\n    <rdf:Bag>\n");
        for tag in tags {
            out.push_str(&format!("     <rdf:li>{}</rdf:li>\n", escape(tag)));
        }
        out.push_str("    </rdf:Bag>\n   </dc:subject>\n");
    }
    out.push_str("  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>\n");
    out
}

/// What a sidecar says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sidecar {
    /// `xmp:Rating` 0 to 5, when stated (a rejected rating is a tag).
    pub rating: Option<u8>,
    /// The keywords that are valid tags, at most [`MAX_TAGS`].
    pub tags: Vec<String>,
    /// Whether kiln wrote it.
    pub written_by_kiln: bool,
    /// What was left out, and why (a bad rating or keyword).
    pub problems: Vec<String>,
}

/// Reads what a sidecar's text says.
pub fn parse(text: &str) -> Result<Sidecar, String> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| format!("not well-formed XML: {e}"))?;
    let mut sidecar = Sidecar {
        written_by_kiln: doc
            .root_element()
            .attribute((NS_X, "xmptk"))
            .is_some_and(|t| t == TOOLKIT),
        ..Sidecar::default()
    };
    let mut rejected = false;
    let mut rating_text = None;
    for node in doc.descendants().filter(|n| n.is_element()) {
        if let Some(value) = node.attribute((NS_XMP, "Rating")) {
            rating_text.get_or_insert_with(|| value.to_owned());
        }
        let name = node.tag_name();
        if name.namespace() == Some(NS_XMP) && name.name() == "Rating" {
            rating_text.get_or_insert_with(|| node.text().unwrap_or("").to_owned());
        }
        if name.namespace() == Some(NS_DC) && name.name() == "subject" {
            for li in node.descendants().filter(|n| {
                n.is_element()
                    && n.tag_name().namespace() == Some(NS_RDF)
                    && n.tag_name().name() == "li"
            }) {
                let text: String = li
                    .descendants()
                    .filter(|n| n.is_text())
                    .filter_map(|n| n.text())
                    .collect();
                match normalize_label(&text) {
                    Ok(tag) => {
                        let folded = kiln_engine::fold_label(&tag);
                        if !sidecar
                            .tags
                            .iter()
                            .any(|t| kiln_engine::fold_label(t) == folded)
                        {
                            sidecar.tags.push(tag);
                        }
                    }
                    Err(problem) => {
                        let shown: String = text.chars().take(80).collect();
                        sidecar
                            .problems
                            .push(format!("keyword `{shown}` left out: {problem}"));
                    }
                }
            }
        }
    }
    if let Some(text) = rating_text {
        match text.trim().parse::<f64>() {
            Ok(v) if v < 0.0 => rejected = true,
            Ok(v) if (0.0..=f64::from(MAX_RATING)).contains(&v) => {
                sidecar.rating = Some(v.round() as u8);
            }
            _ => {
                let shown: String = text.chars().take(40).collect();
                sidecar
                    .problems
                    .push(format!("rating `{shown}` left out: not 0 to 5"));
            }
        }
    }
    if rejected
        && !sidecar
            .tags
            .iter()
            .any(|t| kiln_engine::fold_label(t) == REJECTED_TAG)
    {
        sidecar.tags.push(REJECTED_TAG.to_owned());
    }
    if sidecar.tags.len() > MAX_TAGS {
        sidecar.problems.push(format!(
            "{} keywords: only the first {MAX_TAGS} kept",
            sidecar.tags.len()
        ));
        sidecar.tags.truncate(MAX_TAGS);
    }
    Ok(sidecar)
}

/// Reads the sidecar of `image`: `Ok(None)` when there is none, an error
/// (for this one file) when it is too large, not UTF-8 or not well-formed.
pub fn read_sidecar(image: &Path) -> Result<Option<Sidecar>, String> {
    read_sidecar_file(&sidecar_path(image))
}

/// Reads a sidecar file itself: `None` when there is none.
fn read_sidecar_file(path: &Path) -> Result<Option<Sidecar>, String> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open it: {e}")),
    };
    let mut bytes = Vec::new();
    file.take(MAX_SIDECAR_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_SIDECAR_BYTES {
        return Err(format!(
            "larger than {} KiB, more than a sidecar holds",
            MAX_SIDECAR_BYTES >> 10
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    // The packet wrapper's byte-order mark is not part of the XML.
    parse(text.trim_start_matches('\u{feff}')).map(Some)
}

/// What writing one sidecar did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// A new sidecar, or kiln's own one replaced.
    Written,
    /// kiln's own sidecar already said this.
    Unchanged,
    /// Another tool's sidecar is there; it was left as it is.
    Foreign,
}

/// Writes the sidecar of `image` (through a temporary file renamed into
/// place), unless another tool's sidecar is there.
pub fn write_sidecar(image: &Path, rating: u8, tags: &[String]) -> std::io::Result<Written> {
    let path = sidecar_path(image);
    let wanted = packet(rating, tags);
    match std::fs::read(&path) {
        Ok(existing) => {
            if existing == wanted.as_bytes() {
                return Ok(Written::Unchanged);
            }
            let ours = existing.len() as u64 <= MAX_SIDECAR_BYTES
                && std::str::from_utf8(&existing)
                    .ok()
                    .and_then(|t| parse(t.trim_start_matches('\u{feff}')).ok())
                    .is_some_and(|s| s.written_by_kiln);
            if !ours {
                return Ok(Written::Foreign);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut temp_name = path.as_os_str().to_owned();
    temp_name.push(format!(".kiln-tmp-{}", std::process::id()));
    let temp = PathBuf::from(temp_name);
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(wanted.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, &path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map(|()| Written::Written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_packet_reads_back() {
        let tags = vec!["keeper".to_owned(), "a <b> & 'c'".to_owned()];
        let text = packet(4, &tags);
        assert!(text.contains("a &lt;b&gt; &amp; &apos;c&apos;"));
        let read = parse(text.trim_start_matches('\u{feff}')).expect("well-formed");
        assert_eq!(read.rating, Some(4));
        assert_eq!(read.tags, tags);
        assert!(read.written_by_kiln);
        assert!(read.problems.is_empty());
    }

    #[test]
    fn other_tools_sidecars_are_read() {
        // As darktable writes it: the rating as an attribute, other
        // namespaces and prefixes around.
        let darktable = r#"<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:darktable="http://darktable.sf.net/"
    xmp:Rating="3" darktable:xmp_version="5">
   <dc:subject><rdf:Seq><rdf:li>Client A</rdf:li><rdf:li>client a</rdf:li><rdf:li>sky &amp; sea</rdf:li></rdf:Seq></dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>"#;
        let read = parse(darktable).expect("reads");
        assert_eq!(read.rating, Some(3));
        assert_eq!(
            read.tags,
            vec!["Client A".to_owned(), "sky & sea".to_owned()]
        );
        assert!(!read.written_by_kiln);
        // Another prefix for the same namespace, the rating as an element,
        // and a rejected image.
        let other = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:xap="http://ns.adobe.com/xap/1.0/"><xap:Rating>-1</xap:Rating></rdf:Description></rdf:RDF></x:xmpmeta>"#;
        let read = parse(other).expect("reads");
        assert_eq!(read.rating, None);
        assert_eq!(read.tags, vec![REJECTED_TAG.to_owned()]);
    }

    #[test]
    fn hostile_sidecars_are_refused_or_trimmed() {
        assert!(parse("<x:xmpmeta").is_err());
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><x>&b;</x>"#;
        assert!(parse(bomb).is_err(), "no DTD, so no entity expansion");
        let many = format!("<a>{}</a>", "<b/>".repeat(MAX_NODES as usize + 1));
        assert!(parse(&many).is_err());
        let odd = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmp:Rating="99"><dc:subject><rdf:Bag><rdf:li>   </rdf:li><rdf:li>ok</rdf:li></rdf:Bag></dc:subject></rdf:Description></x:xmpmeta>"#;
        let read = parse(odd).expect("reads");
        assert_eq!(read.rating, None);
        assert_eq!(read.tags, vec!["ok".to_owned()]);
        assert_eq!(read.problems.len(), 2);
    }

    #[test]
    fn sidecars_are_written_whole_and_never_over_another_tools() {
        let dir = tempfile::tempdir().expect("tempdir");
        let image = dir.path().join("a.png");
        std::fs::write(&image, b"not an image, never touched").expect("write");
        let tags = vec!["keeper".to_owned()];
        assert_eq!(
            write_sidecar(&image, 2, &tags).expect("write"),
            Written::Written
        );
        assert_eq!(
            write_sidecar(&image, 2, &tags).expect("write"),
            Written::Unchanged
        );
        assert_eq!(
            write_sidecar(&image, 5, &[]).expect("write"),
            Written::Written
        );
        let read = read_sidecar(&image).expect("reads").expect("exists");
        assert_eq!((read.rating, read.tags.len()), (Some(5), 0));
        assert_eq!(
            std::fs::read(&image).expect("read"),
            b"not an image, never touched"
        );
        let other = dir.path().join("b.png");
        let foreign = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\" x:xmptk=\"darktable\"/>";
        std::fs::write(sidecar_path(&other), foreign).expect("write");
        assert_eq!(
            write_sidecar(&other, 3, &tags).expect("write"),
            Written::Foreign
        );
        assert_eq!(
            std::fs::read_to_string(sidecar_path(&other)).expect("read"),
            foreign
        );
        assert_eq!(read_sidecar(&dir.path().join("none.png")), Ok(None));
        std::fs::write(
            sidecar_path(&other),
            vec![b'x'; MAX_SIDECAR_BYTES as usize + 1],
        )
        .expect("write");
        assert!(
            read_sidecar(&other)
                .expect_err("too large")
                .contains("larger")
        );
    }
}

/// What [`take_sidecars`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TakenSidecars {
    /// Sidecars read.
    pub read: usize,
    /// Contents whose curation came from a sidecar (first sight).
    pub taken: u64,
    /// Sidecars that could not be read, or parts of them left out, and why.
    pub problems: Vec<(PathBuf, String)>,
}

/// The most sidecars one look at a set of roots reads.
pub const MAX_SIDECARS: usize = 1_000_000;

/// Takes the rating and keywords of the sidecars beside the files under
/// `roots` (each a folder or a file) as the curation of contents that have
/// none yet, once: see [`SidecarIntake::take`].
pub async fn take_sidecars(
    engine: &kiln_engine::Engine,
    roots: &[PathBuf],
) -> Result<TakenSidecars, kiln_engine::EngineError> {
    SidecarIntake::default().take(engine, roots).await
}

/// Takes sidecars' curation, remembering across looks which sidecars it
/// has dealt with, so that a watch looking again after each batch reads
/// (and warns about) each sidecar once until it changes.
#[derive(Debug, Default)]
pub struct SidecarIntake {
    /// Sidecars dealt with, by path, with their size and modification time
    /// then.
    seen: HashMap<PathBuf, (u64, u64)>,
}

impl SidecarIntake {
    /// Finds the sidecars (`*.xmp`) under `roots` (each a folder, walked as
    /// intake walks it, or a file) and takes each one's rating and keywords
    /// as the curation of its image's content when that content has none
    /// yet, all in one transaction: a content already curated in this store
    /// (even cleared) is left as it is. Only sidecars are opened; a sidecar
    /// whose image was not imported (yet) is left for a later look. A
    /// sidecar that cannot be read is a problem of that file only.
    pub async fn take(
        &mut self,
        engine: &kiln_engine::Engine,
        roots: &[PathBuf],
    ) -> Result<TakenSidecars, kiln_engine::EngineError> {
        let mut found = TakenSidecars::default();
        let mut candidates = Vec::new();
        for (sidecar, stamp) in find_sidecars(engine, roots) {
            if self.seen.get(&sidecar) == Some(&stamp) {
                continue;
            }
            let image = image_of(&sidecar);
            if let Some(id) = engine.asset_by_path(&image)? {
                candidates.push((sidecar, stamp, id));
            }
        }
        if candidates.is_empty() {
            return Ok(found);
        }
        let ids: Vec<_> = candidates.iter().map(|c| c.2).collect();
        let hashes = engine.content_hashes(&ids)?;
        let known: Vec<_> = hashes.iter().flatten().copied().collect();
        let curated: HashSet<_> = known
            .iter()
            .zip(engine.curations(&known)?)
            .filter(|(_, curation)| curation.is_some())
            .map(|(hash, _)| *hash)
            .collect();
        let mut seeded = HashSet::new();
        let mut seeds = Vec::new();
        for ((sidecar, stamp, _), hash) in candidates.into_iter().zip(hashes) {
            let Some(hash) = hash else {
                continue;
            };
            self.seen.insert(sidecar.clone(), stamp);
            // One sidecar per content: the first found.
            if curated.contains(&hash) || seeded.contains(&hash) {
                continue;
            }
            let read = match read_sidecar_file(&sidecar) {
                Ok(None) => continue,
                Ok(Some(read)) => read,
                Err(why) => {
                    found.problems.push((sidecar, why));
                    continue;
                }
            };
            found.read += 1;
            for problem in &read.problems {
                found.problems.push((sidecar.clone(), problem.clone()));
            }
            if read.rating.is_some() || !read.tags.is_empty() {
                seeded.insert(hash);
                let changed_ns = stamp.1.max(1);
                seeds.push(kiln_engine::CurationImport {
                    hash,
                    rating: read.rating.map(|r| (r, changed_ns)),
                    favorite: None,
                    tags: read.tags,
                    tags_ns: changed_ns,
                });
            }
        }
        if !seeds.is_empty() {
            found.taken = engine.seed_curation(seeds).await?.assets_changed;
        }
        Ok(found)
    }
}

/// The image a sidecar describes: its path without `.xmp`.
fn image_of(sidecar: &Path) -> PathBuf {
    sidecar.with_extension("")
}

/// Whether a file name is a sidecar's (`*.xmp`, any case, not hidden).
fn is_sidecar_name(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|name| {
        let lower = name.to_ascii_lowercase();
        !name.starts_with('.') && lower.len() > ".xmp".len() && lower.ends_with(".xmp")
    })
}

/// The sidecars under `roots`, with their size and modification time: for
/// a folder, every `*.xmp` in it and in the folders under it, walked as
/// intake walks ([`kiln_engine::find_files`]: no file but a sidecar is
/// even `stat`ed); for a file, its sidecar if there is one. At most
/// [`MAX_SIDECARS`].
fn find_sidecars(engine: &kiln_engine::Engine, roots: &[PathBuf]) -> Vec<(PathBuf, (u64, u64))> {
    let store = std::fs::canonicalize(engine.store_dir()).ok();
    let mut found = Vec::new();
    for root in roots {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
        if root.is_dir() {
            let Ok(files) = kiln_engine::find_files(&root, store.clone(), is_sidecar_name) else {
                continue;
            };
            let room = MAX_SIDECARS.saturating_sub(found.len());
            found.extend(
                files
                    .filter_map(|(path, stat)| Some((path, stat.ok()?)))
                    .take(room),
            );
        } else {
            let sidecar = sidecar_path(&root);
            if let Ok(meta) = std::fs::metadata(&sidecar)
                && meta.is_file()
            {
                found.push((sidecar, kiln_engine::stat_of(&meta)));
            }
        }
    }
    // Roots inside one another find some sidecars twice.
    found.sort_unstable();
    found.dedup_by(|a, b| a.0 == b.0);
    found.truncate(MAX_SIDECARS);
    found
}
