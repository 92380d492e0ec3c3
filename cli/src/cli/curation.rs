//! `kiln rate`, `kiln favorite`, `kiln tag`, `kiln collection` and `kiln
//! curation`: judgements kept by content hash, so they follow the bytes
//! through moves and re-imports.
//!
//! Every command names its assets by id or imported path (or `--query`, the
//! assets a search matches), resolves all of them before it changes
//! anything, and makes its whole change in one durable transaction.
//! JSON key names here are a contract that scripts parse.

use super::json::{hex, print};
use super::report::no_such_asset;
use super::terminal::{eprint_line, print_line};
use super::{EXIT_ERROR, EXIT_OK};
use anyhow::Context;
use clap::{Args, Subcommand};
use kiln::engine::{
    AssetId, CollectionPlace, ContentHash, Curation, CurationEdit, CurationError, Engine,
    EngineError, MAX_RATING,
};
use kiln::{Error, Kiln, SearchError, SortBy};
use serde_json::{Value as Json, json};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub(crate) struct RateArgs {
    /// The assets (ids or imported paths), then the rating: 0 (none) to 5.
    #[arg(value_name = "ID|PATH... RATING", required = true)]
    pub(crate) items: Vec<String>,
    /// Also every asset this search query matches.
    #[arg(long, value_name = "QUERY", allow_hyphen_values = true)]
    pub(crate) query: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct FavoriteArgs {
    /// The assets (ids or imported paths), then optionally `on` (the
    /// default) or `off`.
    #[arg(value_name = "ID|PATH... [on|off]")]
    pub(crate) items: Vec<String>,
    /// Also every asset this search query matches.
    #[arg(long, value_name = "QUERY", allow_hyphen_values = true)]
    pub(crate) query: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TagArgs {
    /// The assets (ids or imported paths) and the changes: `+tag` adds,
    /// `-tag` removes (quote a tag with spaces: `+"client A"`). A path
    /// starting with `+` or `-` is written `./-name.png`. `--json` and
    /// `--query` may come among them; other options go before them (one
    /// among them is refused, not read as a tag).
    #[arg(value_name = "ID|PATH... +TAG... -TAG...", allow_hyphen_values = true)]
    pub(crate) items: Vec<String>,
    /// Also every asset this search query matches.
    #[arg(long, value_name = "QUERY", allow_hyphen_values = true)]
    pub(crate) query: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CullArgs {
    /// Only the assets this search query matches (every asset without it),
    /// e.g. `'model:flux -tag:rejected'`.
    #[arg(value_name = "QUERY", allow_hyphen_values = true)]
    pub(crate) query: Option<String>,
    /// Keep the best N of each session.
    #[arg(long, value_name = "N", conflicts_with = "per_group", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) per_session: Option<u32>,
    /// Keep the best N of each group of near-duplicates (the default, with
    /// N = 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) per_group: Option<u32>,
    /// Tag the proposed rejects `rejected` (in one change; nothing is
    /// deleted).
    #[arg(long)]
    pub(crate) apply: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CollectionArgs {
    #[command(subcommand)]
    pub(crate) action: CollectionAction,
}

#[derive(Debug, Args)]
pub(crate) struct Members {
    /// The collection's name (without regard to case).
    pub(crate) name: String,
    /// The assets: ids or imported paths.
    #[arg(value_name = "ID|PATH")]
    pub(crate) assets: Vec<String>,
    /// Also every asset this search query matches.
    #[arg(long, value_name = "QUERY", allow_hyphen_values = true)]
    pub(crate) query: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("place").required(true)))]
pub(crate) struct Move {
    /// The collection's name (without regard to case).
    pub(crate) name: String,
    /// The members to move, in the order they are to take: ids or
    /// imported paths.
    #[arg(value_name = "ID|PATH", required = true)]
    pub(crate) assets: Vec<String>,
    /// Put them first.
    #[arg(long, group = "place")]
    pub(crate) to_start: bool,
    /// Put them last.
    #[arg(long, group = "place")]
    pub(crate) to_end: bool,
    /// Put them just before this member.
    #[arg(long, value_name = "ID|PATH", group = "place")]
    pub(crate) before: Option<String>,
    /// Put them just after this member.
    #[arg(long, value_name = "ID|PATH", group = "place")]
    pub(crate) after: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct Named {
    /// The collection's name (without regard to case).
    pub(crate) name: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CollectionAction {
    /// Create an empty collection.
    Create(Named),
    /// Append assets to a collection (those already in it keep their place).
    Add(Members),
    /// Take assets out of a collection.
    Remove(Members),
    /// Move members to the start, the end, or before or after another
    /// member.
    Move(Move),
    /// Every collection with its size.
    List(super::args::JsonArg),
    /// A collection's members in order.
    Show(Named),
    /// Rename a collection.
    Rename {
        /// The current name.
        from: String,
        /// The new name.
        to: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delete a collection (its assets and their curation stay).
    Delete(Named),
}

#[derive(Debug, Args)]
pub(crate) struct CurationArgs {
    #[command(subcommand)]
    pub(crate) action: CurationAction,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CurationAction {
    /// Write every rating, favorite, tag and collection, by content hash,
    /// as JSON (to stdout, or to a file written whole or not at all).
    Export {
        /// The file to write instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Merge a file `export` wrote: by content hash, so it finds the
    /// assets wherever their files are now. Rating and favorite: the one
    /// set later wins; tags: united (an import never removes one);
    /// collections: by name, members appended. Importing a file twice
    /// changes nothing the second time.
    Import {
        /// The curation file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write XMP sidecars (`image.png.xmp`: `xmp:Rating`, and the tags as
    /// `dc:subject`) beside every file of the curated assets, or of those a
    /// search query matches, for darktable, digiKam and Lightroom. A
    /// sidecar another tool wrote is left as it is; images are never
    /// written.
    WriteXmp {
        /// Only the assets this search query matches.
        #[arg(value_name = "QUERY", allow_hyphen_values = true)]
        query: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List, and with `--apply` forget, curation of content no asset holds
    /// any more (its file changed); with `--missing`, also of assets none
    /// of whose files exist now.
    Purge {
        /// Also assets whose every file is gone from disk.
        #[arg(long)]
        missing: bool,
        /// Forget it (without this, only list it).
        #[arg(long)]
        apply: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// The curation of one asset as `--json` shows it (also in `show --json`).
pub(crate) fn curation_json(curation: Option<&Curation>) -> Json {
    let empty = Curation::default();
    let c = curation.unwrap_or(&empty);
    json!({
        "rating": c.rating,
        "favorite": c.favorite,
        "tags": c.tags,
        "collections": c.collections,
        "updated_ns": c.updated_ns(),
    })
}

/// One line of human output for a curation.
pub(crate) fn curation_text(c: &Curation) -> String {
    let mut parts = vec![format!("rating {}", c.rating)];
    if c.favorite {
        parts.push("favorite".to_owned());
    }
    if !c.tags.is_empty() {
        parts.push(format!("tags {}", c.tags.join(", ")));
    }
    if !c.collections.is_empty() {
        parts.push(format!("in {}", c.collections.join(", ")));
    }
    parts.join("; ")
}

/// The assets the arguments name, each with its content hash, in order and
/// once each; `Err(exit code)` after saying what could not be resolved.
fn resolve(
    kiln: &Kiln,
    targets: &[String],
    query: Option<&str>,
) -> anyhow::Result<Result<Vec<(AssetId, ContentHash)>, i32>> {
    let engine = kiln.engine();
    let mut ids = Vec::new();
    let mut failed = false;
    for target in targets {
        let by_id = target
            .parse::<AssetId>()
            .ok()
            .filter(|id| matches!(engine.asset_paths(&[*id]), Ok(p) if !p[0].is_empty()));
        let id = match by_id {
            Some(id) => Some(id),
            None => engine.asset_by_path(Path::new(target))?,
        };
        match id {
            Some(id) => ids.push((id, target)),
            None => {
                no_such_asset(engine, target);
                failed = true;
            }
        }
    }
    let mut query_ids = Vec::new();
    if let Some(query) = query {
        let run = |limit| kiln.search(query, SortBy::Relevance, limit);
        let found = run(1).and_then(|first| run(first.total.max(1)));
        match found {
            Ok(results) => query_ids.extend(results.hits.into_iter().map(|h| h.id)),
            Err(Error::Index(SearchError::Query(e))) => {
                eprint_line!("kiln: cannot understand the query: {e}");
                return Ok(Err(EXIT_ERROR));
            }
            Err(e) => return Err(e).context("search failed"),
        }
    }
    let all: Vec<AssetId> = ids
        .iter()
        .map(|(id, _)| *id)
        .chain(query_ids.iter().copied())
        .collect();
    let hashes = engine.content_hashes(&all)?;
    let mut out = Vec::with_capacity(all.len());
    let mut seen = HashSet::new();
    for (i, (id, hash)) in all.iter().zip(hashes).enumerate() {
        let Some(hash) = hash else {
            let named = ids
                .get(i)
                .map_or_else(|| id.to_string(), |(_, t)| (*t).clone());
            eprint_line!(
                "kiln: asset `{named}` is not hashed yet, and curation is kept by content hash: `kiln run` hashes it"
            );
            failed = true;
            continue;
        };
        if seen.insert(hash) {
            // A duplicate's content is held by the asset it duplicates.
            let holder = engine.asset_by_hash(&hash)?.unwrap_or(*id);
            out.push((holder, hash));
        }
    }
    if failed {
        return Ok(Err(EXIT_ERROR));
    }
    Ok(Ok(out))
}

/// Applies one edit to the resolved assets and reports the result.
async fn apply(
    engine: &Engine,
    assets: Vec<(AssetId, ContentHash)>,
    edit: CurationEdit,
    as_json: bool,
    what: &str,
) -> anyhow::Result<i32> {
    let hashes: Vec<ContentHash> = assets.iter().map(|(_, h)| *h).collect();
    let changed = match engine.curate(hashes, edit).await {
        Ok(changed) => changed,
        Err(EngineError::Curation(e)) => return Ok(refused(&e)),
        Err(e) => return Err(e).context("cannot store the change"),
    };
    report(engine, &assets, changed, as_json, what)
}

fn refused(error: &CurationError) -> i32 {
    eprint_line!("kiln: {error}; nothing was changed");
    EXIT_ERROR
}

fn report(
    engine: &Engine,
    assets: &[(AssetId, ContentHash)],
    changed: u64,
    as_json: bool,
    what: &str,
) -> anyhow::Result<i32> {
    if as_json {
        let mut list = Vec::with_capacity(assets.len());
        for (id, hash) in assets {
            let curation = engine.curation(hash)?;
            let mut entry = curation_json(curation.as_ref());
            entry["id"] = json!(id);
            entry["hash"] = json!(hex(hash));
            list.push(entry);
        }
        print(&json!({"changed": changed, "assets": list}));
        return Ok(EXIT_OK);
    }
    print_line!(
        "{what} {} asset{} ({changed} changed)",
        assets.len(),
        if assets.len() == 1 { "" } else { "s" }
    );
    if assets.len() <= 20 {
        for (id, hash) in assets {
            if let Some(c) = engine.curation(hash)? {
                print_line!("  {id}: {}", curation_text(&c));
            }
        }
    }
    Ok(EXIT_OK)
}

fn nothing_named() -> i32 {
    eprint_line!("kiln: name at least one asset (an id or an imported path), or give --query");
    EXIT_ERROR
}

pub(crate) async fn rate(kiln: &Kiln, args: &RateArgs) -> anyhow::Result<i32> {
    let Some((rating, targets)) = args.items.split_last() else {
        return Ok(nothing_named());
    };
    let rating = match rating.parse::<u8>() {
        Ok(r) if r <= MAX_RATING => r,
        _ => {
            eprint_line!(
                "kiln: the rating (the last argument) must be 0 (none) to {MAX_RATING}, not `{rating}`"
            );
            return Ok(EXIT_ERROR);
        }
    };
    let edit = CurationEdit {
        rating: Some(rating),
        ..CurationEdit::default()
    };
    edit_targets(
        kiln,
        targets,
        args.query.as_deref(),
        edit,
        args.json,
        "rated",
    )
    .await
}

/// Resolves the assets named (and those `query` matches), then makes
/// `edit` to all of them in one change, reported as `what`.
async fn edit_targets(
    kiln: &Kiln,
    targets: &[String],
    query: Option<&str>,
    edit: CurationEdit,
    as_json: bool,
    what: &str,
) -> anyhow::Result<i32> {
    if targets.is_empty() && query.is_none() {
        return Ok(nothing_named());
    }
    let assets = match resolve(kiln, targets, query)? {
        Ok(a) => a,
        Err(code) => return Ok(code),
    };
    apply(kiln.engine(), assets, edit, as_json, what).await
}

pub(crate) async fn favorite(kiln: &Kiln, args: &FavoriteArgs) -> anyhow::Result<i32> {
    let (on, targets) = match args.items.split_last() {
        Some((last, rest)) if matches!(last.as_str(), "on" | "true" | "yes") => (true, rest),
        Some((last, rest)) if matches!(last.as_str(), "off" | "false" | "no") => (false, rest),
        _ => (true, args.items.as_slice()),
    };
    let edit = CurationEdit {
        favorite: Some(on),
        ..CurationEdit::default()
    };
    let what = if on { "marked" } else { "unmarked" };
    edit_targets(kiln, targets, args.query.as_deref(), edit, args.json, what).await
}

pub(crate) async fn tag(kiln: &Kiln, args: &TagArgs) -> anyhow::Result<i32> {
    let mut edit = CurationEdit::default();
    let mut targets = Vec::new();
    let mut as_json = args.json;
    let mut query = args.query.clone();
    // `-draft` takes hyphens as values, so the options after the first
    // asset or tag arrive among them: take them out here.
    let mut items = args.items.iter();
    while let Some(item) = items.next() {
        if item == "--json" {
            as_json = true;
        } else if item == "--query" {
            let Some(q) = items.next() else {
                eprint_line!("kiln: --query needs a query");
                return Ok(EXIT_ERROR);
            };
            query = Some(q.clone());
        } else if let Some(q) = item.strip_prefix("--query=") {
            query = Some(q.to_owned());
        } else if item.starts_with("--") {
            // Another option among the tags: as a tag it would silently
            // remove `-quiet`, say.
            eprint_line!(
                "kiln: `{}` here would be read as a tag to remove; options other than --json and --query go before the assets and tags",
                item
            );
            return Ok(EXIT_ERROR);
        } else if let Some(tag) = item.strip_prefix('+').filter(|t| !t.is_empty()) {
            edit.add_tags.push(tag.to_owned());
        } else if let Some(tag) = item.strip_prefix('-').filter(|t| !t.is_empty()) {
            edit.remove_tags.push(tag.to_owned());
        } else {
            targets.push(item.clone());
        }
    }
    if edit.is_empty() {
        eprint_line!("kiln: give tags to add (`+keeper`) or remove (`-draft`)");
        return Ok(EXIT_ERROR);
    }
    edit_targets(kiln, &targets, query.as_deref(), edit, as_json, "tagged").await
}

pub(crate) fn collection_info_json(info: &kiln::engine::CollectionInfo) -> Json {
    json!({
        "name": info.name,
        "members": info.members,
        "created_ns": info.created_ns,
        "updated_ns": info.updated_ns,
    })
}

pub(crate) async fn collection(kiln: &Kiln, action: &CollectionAction) -> anyhow::Result<i32> {
    let engine = kiln.engine();
    let outcome = match action {
        CollectionAction::Create(a) => engine.create_collection(&a.name).await.map(|info| {
            if a.json {
                print(&collection_info_json(&info));
            } else {
                print_line!("created collection `{}`", info.name);
            }
        }),
        CollectionAction::Add(m) | CollectionAction::Remove(m) => {
            let adding = matches!(action, CollectionAction::Add(_));
            if m.assets.is_empty() && m.query.is_none() {
                return Ok(nothing_named());
            }
            let assets = match resolve(kiln, &m.assets, m.query.as_deref())? {
                Ok(a) => a,
                Err(code) => return Ok(code),
            };
            let hashes: Vec<ContentHash> = assets.iter().map(|(_, h)| *h).collect();
            let result = if adding {
                engine.add_to_collection(&m.name, hashes, false).await
            } else {
                engine.remove_from_collection(&m.name, hashes).await
            };
            result.map(|n| {
                if m.json {
                    print(
                        &json!({"collection": m.name, if adding { "added" } else { "removed" }: n}),
                    );
                } else if adding {
                    print_line!("added {n} asset{} to `{}`", plural(n), m.name);
                } else {
                    print_line!("removed {n} asset{} from `{}`", plural(n), m.name);
                }
            })
        }
        CollectionAction::List(a) => {
            let all = engine.collections()?;
            if a.json {
                let list: Vec<Json> = all.iter().map(collection_info_json).collect();
                print(&json!({"total": all.len(), "collections": list}));
            } else {
                for c in &all {
                    print_line!("{:>6}  {}", c.members, c.name);
                }
                print_line!("{} collection{}", all.len(), plural(all.len() as u64));
            }
            Ok(())
        }
        CollectionAction::Show(a) => match engine.collection(&a.name) {
            Ok(Some((info, members))) => {
                show_members(engine, &info, &members, a.json)?;
                Ok(())
            }
            Ok(None) => Err(CurationError::NoSuchCollection(a.name.clone()).into()),
            Err(e) => Err(e),
        },
        CollectionAction::Rename { from, to, json } => {
            engine.rename_collection(from, to).await.map(|info| {
                if *json {
                    print(&collection_info_json(&info));
                } else {
                    print_line!("renamed `{from}` to `{}`", info.name);
                }
            })
        }
        CollectionAction::Move(m) => {
            let assets = match resolve(kiln, &m.assets, None)? {
                Ok(a) => a,
                Err(code) => return Ok(code),
            };
            let hashes: Vec<ContentHash> = assets.iter().map(|(_, h)| *h).collect();
            let place = match m.before.as_ref().or(m.after.as_ref()) {
                None if m.to_start => CollectionPlace::Start,
                None => CollectionPlace::End,
                Some(anchor) => {
                    let anchor = match resolve(kiln, std::slice::from_ref(anchor), None)? {
                        Ok(a) => match a.first() {
                            Some((_, hash)) => *hash,
                            None => return Ok(nothing_named()),
                        },
                        Err(code) => return Ok(code),
                    };
                    if m.before.is_some() {
                        CollectionPlace::Before(anchor)
                    } else {
                        CollectionPlace::After(anchor)
                    }
                }
            };
            engine
                .move_in_collection(&m.name, hashes, place)
                .await
                .map(|n| {
                    if m.json {
                        print(&json!({"collection": m.name, "moved": n}));
                    } else {
                        print_line!("moved {n} asset{} in `{}`", plural(n), m.name);
                    }
                })
        }
        CollectionAction::Delete(a) => engine.delete_collection(&a.name).await.map(|n| {
            if a.json {
                print(&json!({"deleted": a.name, "members": n}));
            } else {
                print_line!(
                    "deleted collection `{}` ({n} member{}; their assets stay)",
                    a.name,
                    plural(n)
                );
            }
        }),
    };
    match outcome {
        Ok(()) => Ok(EXIT_OK),
        Err(EngineError::Curation(e)) => Ok(refused(&e)),
        Err(e) => Err(e).context("cannot change the collection"),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn show_members(
    engine: &Engine,
    info: &kiln::engine::CollectionInfo,
    members: &[ContentHash],
    as_json: bool,
) -> anyhow::Result<()> {
    let holders = engine.assets_by_hash(members)?;
    let ids: Vec<AssetId> = holders.iter().flatten().copied().collect();
    let mut paths = engine.asset_paths(&ids)?.into_iter();
    let rows: Vec<(ContentHash, Option<AssetId>, Option<String>)> = members
        .iter()
        .zip(&holders)
        .map(|(hash, holder)| {
            let path = holder.and_then(|_| paths.next().and_then(|p| p.into_iter().next()));
            (*hash, *holder, path)
        })
        .collect();
    if as_json {
        let list: Vec<Json> = rows
            .iter()
            .map(|(hash, id, path)| json!({"hash": hex(hash), "id": id, "path": path}))
            .collect();
        let mut out = collection_info_json(info);
        out["assets"] = Json::Array(list);
        print(&out);
        return Ok(());
    }
    print_line!(
        "{} ({} member{})",
        info.name,
        info.members,
        plural(info.members)
    );
    for (hash, id, path) in &rows {
        match (id, path) {
            (Some(id), Some(path)) => print_line!("{id:>8}  {path}"),
            _ => print_line!("       -  {} (no asset holds this content now)", hex(hash)),
        }
    }
    Ok(())
}

pub(crate) async fn curation(kiln: &Kiln, action: &CurationAction) -> anyhow::Result<i32> {
    let engine = kiln.engine();
    match action {
        CurationAction::Export { output } => {
            match output {
                None => {
                    let stdout = std::io::stdout();
                    let mut lock = std::io::BufWriter::new(stdout.lock());
                    kiln::curation::export(engine, &mut lock).context("cannot export")?;
                    use std::io::Write;
                    writeln!(lock).context("cannot write the export")?;
                    lock.flush().context("cannot write the export")?;
                }
                Some(file) => write_whole(engine, file)?,
            }
            Ok(EXIT_OK)
        }
        CurationAction::Import { file, json } => {
            let read = match kiln::curation::read_import(file) {
                Ok(read) => read,
                Err(e) => {
                    eprint_line!("kiln: cannot import {e}");
                    return Ok(EXIT_ERROR);
                }
            };
            let (assets, collections) = (read.assets.len(), read.collections.len());
            let report = match engine.merge_curation(read.assets, read.collections).await {
                Ok(r) => r,
                Err(EngineError::Curation(e)) => {
                    eprint_line!(
                        "kiln: cannot import {}: {e}; nothing was changed",
                        file.display()
                    );
                    return Ok(EXIT_ERROR);
                }
                Err(e) => return Err(e).context("cannot store the import"),
            };
            if *json {
                print(&json!({
                    "assets": assets,
                    "collections": collections,
                    "assets_changed": report.assets_changed,
                    "collections_created": report.collections_created,
                    "members_added": report.members_added,
                }));
            } else {
                print_line!(
                    "read {assets} asset{} and {collections} collection{}: {} asset{} changed, {} collection{} created, {} member{} added",
                    plural(assets as u64),
                    plural(collections as u64),
                    report.assets_changed,
                    plural(report.assets_changed),
                    report.collections_created,
                    plural(report.collections_created),
                    report.members_added,
                    plural(report.members_added)
                );
            }
            Ok(EXIT_OK)
        }
        CurationAction::Purge {
            missing,
            apply,
            json,
        } => purge(engine, *missing, *apply, *json).await,
        CurationAction::WriteXmp { query, json } => write_xmp(kiln, query.as_deref(), *json),
    }
}

fn write_xmp(kiln: &Kiln, query: Option<&str>, as_json: bool) -> anyhow::Result<i32> {
    use kiln::xmp::{Written, sidecar_path, write_sidecar};
    let engine = kiln.engine();
    let assets: Vec<(AssetId, ContentHash)> = match query {
        Some(q) => match resolve(kiln, &[], Some(q))? {
            Ok(a) => a,
            Err(code) => return Ok(code),
        },
        None => engine
            .export_curation()?
            .assets
            .iter()
            .filter_map(|(hash, _, asset)| asset.map(|id| (id, *hash)))
            .collect(),
    };
    let ids: Vec<AssetId> = assets.iter().map(|(id, _)| *id).collect();
    let (mut written, mut unchanged) = (0u64, 0u64);
    let (mut foreign, mut failed) = (Vec::new(), Vec::new());
    for ((_, hash), paths) in assets.iter().zip(engine.asset_paths(&ids)?) {
        let Some(c) = engine.curation(hash)? else {
            continue;
        };
        for path in paths.iter().map(Path::new).filter(|p| p.is_file()) {
            match write_sidecar(path, c.rating, &c.tags) {
                Ok(Written::Written) => written += 1,
                Ok(Written::Unchanged) => unchanged += 1,
                Ok(Written::Foreign) => foreign.push(sidecar_path(path)),
                Err(e) => failed.push((sidecar_path(path), e.to_string())),
            }
        }
    }
    if as_json {
        print(&json!({
            "written": written,
            "unchanged": unchanged,
            "foreign": foreign,
            "failed": failed.iter().map(|(p, e)| json!({"path": p, "error": e})).collect::<Vec<_>>(),
        }));
    } else {
        for path in &foreign {
            print_line!("left {} as it is: another tool wrote it", path.display());
        }
        for (path, e) in &failed {
            eprint_line!("kiln: cannot write {}: {e}", path.display());
        }
        print_line!(
            "wrote {written} sidecar(s), {unchanged} already current, {} left to another tool, {} failed",
            foreign.len(),
            failed.len()
        );
    }
    Ok(if failed.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

/// Writes the export to `file` through a temporary file renamed into
/// place, so the file is whole or absent.
fn write_whole(engine: &Engine, file: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "curation.json".to_owned());
    let temp = file.with_file_name(format!(".{name}.kiln-tmp-{}", std::process::id()));
    let written = (|| -> anyhow::Result<()> {
        let handle = std::fs::File::create(&temp)
            .with_context(|| format!("cannot create {}", temp.display()))?;
        let mut out = std::io::BufWriter::new(handle);
        kiln::curation::export(engine, &mut out).context("cannot export")?;
        writeln!(out)?;
        let handle = out.into_inner().map_err(|e| e.into_error())?;
        handle.sync_all()?;
        std::fs::rename(&temp, file)
            .with_context(|| format!("cannot move the export into {}", file.display()))?;
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

async fn purge(engine: &Engine, missing: bool, apply: bool, as_json: bool) -> anyhow::Result<i32> {
    let mut hashes = engine.curation_orphans()?;
    let orphans = hashes.len();
    if missing {
        let export = engine.export_curation()?;
        let mut held: Vec<(ContentHash, AssetId)> = export
            .assets
            .iter()
            .filter_map(|(h, _, a)| a.map(|a| (*h, a)))
            .collect();
        for (_, members) in &export.collections {
            let holders = engine.assets_by_hash(members)?;
            held.extend(
                members
                    .iter()
                    .zip(holders)
                    .filter_map(|(hash, id)| Some((*hash, id?))),
            );
        }
        held.sort_unstable();
        held.dedup();
        let ids: Vec<AssetId> = held.iter().map(|(_, id)| *id).collect();
        for ((hash, _), paths) in held.iter().zip(engine.asset_paths(&ids)?) {
            if !paths.iter().any(|p| Path::new(p).exists()) {
                hashes.push(*hash);
            }
        }
    }
    let purged = if apply {
        engine.purge_curation(hashes.clone()).await?
    } else {
        0
    };
    if as_json {
        let list: Vec<String> = hashes.iter().map(|h| hex(h)).collect();
        print(&json!({"hashes": list, "applied": apply, "purged": purged}));
        return Ok(EXIT_OK);
    }
    for hash in &hashes {
        print_line!("{}", hex(hash));
    }
    let gone = hashes.len() - orphans;
    let what = format!(
        "{} content hash{} with curation no asset holds{}",
        hashes.len(),
        if hashes.len() == 1 { "" } else { "es" },
        if missing {
            format!(" or whose files are all gone ({gone})")
        } else {
            String::new()
        }
    );
    if apply {
        print_line!("purged {what}");
    } else {
        print_line!("{what}; `--apply` forgets their curation");
    }
    Ok(EXIT_OK)
}

/// The curation of an asset's content, for `show`.
pub(crate) fn curation_of(engine: &Engine, id: AssetId) -> anyhow::Result<Option<Curation>> {
    let hash = engine.content_hashes(&[id])?.into_iter().next().flatten();
    Ok(match hash {
        Some(hash) => engine.curation(&hash)?,
        None => None,
    })
}

pub(crate) async fn cull(kiln: &Kiln, args: &CullArgs) -> anyhow::Result<i32> {
    use kiln::cull::CullBy;
    let by = match (args.per_session, args.per_group) {
        (Some(n), _) => CullBy::Session(n as usize),
        (None, n) => CullBy::NearDuplicates(n.unwrap_or(1) as usize),
    };
    let plan = match kiln.cull(args.query.as_deref().unwrap_or(""), by) {
        Ok(plan) => plan,
        Err(Error::Index(SearchError::Query(e))) => {
            eprint_line!("kiln: cannot understand the query: {e}");
            return Ok(EXIT_ERROR);
        }
        Err(e) => return Err(e).context("cannot plan the cull"),
    };
    let engine = kiln.engine();
    let rejected = plan.rejected();
    let tagged = if args.apply && !rejected.is_empty() {
        let hashes: Vec<ContentHash> = engine
            .content_hashes(&rejected)?
            .into_iter()
            .flatten()
            .collect();
        let edit = CurationEdit {
            add_tags: vec![kiln::xmp::REJECTED_TAG.to_owned()],
            ..CurationEdit::default()
        };
        match engine.curate(hashes, edit).await {
            Ok(n) => Some(n),
            Err(EngineError::Curation(e)) => return Ok(refused(&e)),
            Err(e) => return Err(e).context("cannot tag the rejects"),
        }
    } else {
        None
    };
    let mut ids: Vec<AssetId> = plan
        .groups
        .iter()
        .flat_map(|g| g.keep.iter().chain(&g.reject).map(|(id, _)| *id))
        .collect();
    ids.sort_unstable();
    let paths: std::collections::HashMap<AssetId, String> = ids
        .iter()
        .copied()
        .zip(engine.asset_paths(&ids)?)
        .filter_map(|(id, p)| p.into_iter().next().map(|p| (id, p)))
        .collect();
    let kept: usize = plan.groups.iter().map(|g| g.keep.len()).sum::<usize>() + plan.alone.len();
    if args.json {
        let entry =
            |(id, score): &(AssetId, f64)| json!({"id": id, "path": paths.get(id), "score": score});
        let groups: Vec<Json> = plan
            .groups
            .iter()
            .map(|g| {
                json!({
                    "group": g.label,
                    "keep": g.keep.iter().map(entry).collect::<Vec<_>>(),
                    "reject": g.reject.iter().map(entry).collect::<Vec<_>>(),
                })
            })
            .collect();
        print(&json!({
            "by": match by { CullBy::Session(_) => "session", CullBy::NearDuplicates(_) => "near_duplicates" },
            "keep_per_group": match by { CullBy::Session(n) | CullBy::NearDuplicates(n) => n },
            "groups": groups,
            "kept": kept,
            "rejected": rejected.len(),
            "alone": plan.alone,
            "unjudged": plan.unjudged,
            "applied": args.apply,
            "tagged": tagged,
        }));
        return Ok(EXIT_OK);
    }
    for g in plan.groups.iter().filter(|g| !g.reject.is_empty()) {
        print_line!("{} ({} assets)", g.label, g.keep.len() + g.reject.len());
        for (id, score) in &g.keep {
            print_line!(
                "  keep    {id:>8}  {score:6.1}  {}",
                paths.get(id).map_or("", String::as_str)
            );
        }
        for (id, score) in &g.reject {
            print_line!(
                "  reject  {id:>8}  {score:6.1}  {}",
                paths.get(id).map_or("", String::as_str)
            );
        }
    }
    print_line!(
        "keep {kept}, reject {}; {} not judged (no quality score{})",
        rejected.len(),
        plan.unjudged.len(),
        match by {
            CullBy::Session(_) => " or session",
            CullBy::NearDuplicates(_) => " or perceptual hash",
        }
    );
    match tagged {
        Some(n) => print_line!(
            "tagged {} asset{} `rejected` ({n} changed)",
            rejected.len(),
            plural(rejected.len() as u64)
        ),
        None if !rejected.is_empty() => {
            print_line!("nothing changed: `--apply` tags the rejects `rejected`")
        }
        None => {}
    }
    Ok(EXIT_OK)
}
