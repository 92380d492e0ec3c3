//! `kiln search`, `kiln similar`, `kiln sessions` and `kiln reindex`.
//!
//! JSON key names here are a contract that scripts parse.

use super::json::print;
use super::terminal::{eprint_line, print_line};
use super::{EXIT_ERROR, EXIT_OK};
use anyhow::Context;
use clap::{Args, ValueEnum};
use kiln::engine::{AssetId, Engine};
use kiln::{Error, Kiln, ModelError, SearchError, Session, SortBy};
use serde_json::{Value as Json, json};
use std::path::Path;

/// How `kiln search` orders hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SortArg {
    /// Best text match first.
    Relevance,
    /// Newest file first.
    Date,
    /// Highest quality score first.
    Score,
}

#[derive(Debug, Args)]
pub(crate) struct SearchArgs {
    /// Words and filters in one argument, e.g. `'neon city model:juggernaut steps:>=30 -blurry'`;
    /// an empty query matches every asset. A `~"text"` term (with a model,
    /// see `kiln model`) ranks the matches by how well their image fits
    /// the text, with the cosine as score, whatever `--sort` says.
    #[arg(value_name = "QUERY", allow_hyphen_values = true)]
    pub(crate) query: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// At most this many hits.
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: usize,
    /// Order of the hits.
    #[arg(long, value_enum, default_value = "relevance")]
    pub(crate) sort: SortArg,
}

#[derive(Debug, Args)]
pub(crate) struct SimilarArgs {
    /// An asset id or a path that was imported.
    #[arg(value_name = "ASSET_ID|PATH")]
    pub(crate) asset: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// At most this many neighbours.
    #[arg(long, default_value_t = 10)]
    pub(crate) limit: usize,
    /// Compare the perceptual vectors (colour layout, structure: near
    /// copies) even when the store has a model, whose vectors compare
    /// meaning.
    #[arg(long)]
    pub(crate) perceptual: bool,
}

fn first_path(engine: &Engine, id: AssetId) -> String {
    engine
        .asset(id)
        .ok()
        .flatten()
        .and_then(|d| d.paths.first().cloned())
        .unwrap_or_default()
}

pub(crate) fn search(kiln: &Kiln, args: &SearchArgs) -> anyhow::Result<i32> {
    let sort = match args.sort {
        SortArg::Relevance => SortBy::Relevance,
        SortArg::Date => SortBy::Date,
        SortArg::Score => SortBy::Score,
    };
    let results = match kiln.search(&args.query, sort, args.limit) {
        Ok(r) => r,
        Err(Error::Index(SearchError::Query(e))) => {
            eprint_line!("kiln: cannot understand the query: {e}");
            return Ok(EXIT_ERROR);
        }
        Err(Error::Semantic(e)) if matches!(*e, ModelError::Query(_)) => {
            eprint_line!("kiln: cannot understand the query: {e}");
            return Ok(EXIT_ERROR);
        }
        Err(e) => return Err(e).context("search failed"),
    };
    if args.json {
        let hits: Vec<Json> = results
            .hits
            .iter()
            .map(|h| json!({"id": h.id, "path": h.path, "score": finite(h.score)}))
            .collect();
        print(&json!({"total": results.total, "hits": hits}));
        return Ok(EXIT_OK);
    }
    print_line!("{} matching", results.total);
    for h in &results.hits {
        // A hit with no score for this order (no quality score yet, no
        // file date) sorts last and shows `-`, as JSON shows null.
        let score = if h.score.is_finite() {
            format!("{:.2}", h.score)
        } else {
            "-".to_owned()
        };
        print_line!("{:>8}  {score:>8}  {}", h.id, h.path);
    }
    Ok(EXIT_OK)
}

pub(crate) fn finite(v: f64) -> Json {
    serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number)
}

fn find_asset(engine: &Engine, what: &str) -> anyhow::Result<Option<AssetId>> {
    if let Ok(id) = what.parse::<AssetId>()
        && engine.asset(id)?.is_some()
    {
        return Ok(Some(id));
    }
    Ok(engine.asset_by_path(Path::new(what))?)
}

pub(crate) fn similar_cmd(kiln: &Kiln, args: &SimilarArgs) -> anyhow::Result<i32> {
    let engine = kiln.engine();
    let Some(id) = find_asset(engine, &args.asset)? else {
        eprint_line!(
            "kiln: no asset `{}` in {}: give an asset id (see `kiln assets`) or a path that was imported",
            args.asset,
            engine.store_dir().display()
        );
        return Ok(EXIT_ERROR);
    };
    if !args.perceptual && !kiln.models()?.is_empty() {
        return similar_semantic(kiln, id, args);
    }
    let Some(neighbours) = kiln.similar(id, args.limit)? else {
        eprint_line!(
            "kiln: asset {id} has no embedding yet: run `kiln run --until enriched` (or it was skipped by the tier-3 gate)"
        );
        return Ok(EXIT_ERROR);
    };
    if args.json {
        let hits: Vec<Json> = neighbours
            .iter()
            .map(|n| {
                json!({
                    "id": n.id,
                    "path": first_path(engine, n.id),
                    "score": finite(f64::from(n.distance)),
                    "distance": finite(f64::from(n.distance)),
                    "hash_bits": n.hash_bits,
                })
            })
            .collect();
        print(&json!({"total": hits.len(), "hits": hits}));
        return Ok(EXIT_OK);
    }
    for n in &neighbours {
        print_line!(
            "{:>8}  {:>6.3}  {}",
            n.id,
            n.distance,
            first_path(engine, n.id)
        );
    }
    Ok(EXIT_OK)
}

/// `kiln similar` by the store's model: cosine of the semantic vectors.
fn similar_semantic(kiln: &Kiln, id: AssetId, args: &SimilarArgs) -> anyhow::Result<i32> {
    let engine = kiln.engine();
    let Some(neighbours) = kiln.similar_semantic(id, args.limit)? else {
        eprint_line!(
            "kiln: asset {id} has no semantic vector yet: run `kiln run --until enriched` (or it was skipped by the tier-3 gate); `--perceptual` compares the perceptual vectors"
        );
        return Ok(EXIT_ERROR);
    };
    if args.json {
        let hits: Vec<Json> = neighbours
            .iter()
            .map(|(n, score)| {
                json!({
                    "id": n,
                    "path": first_path(engine, *n),
                    "score": finite(f64::from(*score)),
                })
            })
            .collect();
        print(&json!({"total": hits.len(), "hits": hits}));
        return Ok(EXIT_OK);
    }
    for (n, score) in &neighbours {
        print_line!("{:>8}  {:>6.3}  {}", n, score, first_path(engine, *n));
    }
    Ok(EXIT_OK)
}

/// `sessions --json` (and the page's `/api/sessions`).
pub(crate) fn sessions_json(sessions: &[Session]) -> Json {
    let list: Vec<Json> = sessions
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "family": s.family,
                "assets": s.assets.len(),
                "asset_ids": s.assets,
                "start": s.span.map(|(a, _)| a),
                "end": s.span.map(|(_, b)| b),
            })
        })
        .collect();
    json!({"total": list.len(), "sessions": list})
}

pub(crate) fn sessions_cmd(kiln: &Kiln, as_json: bool) -> anyhow::Result<i32> {
    let sessions = kiln.sessions().context("cannot read sessions")?;
    if as_json {
        print(&sessions_json(&sessions));
        return Ok(EXIT_OK);
    }
    for s in &sessions {
        let span = s
            .span
            .map(|(a, b)| format!("{a}..{b} ({} min)", (b - a) / 60))
            .unwrap_or_else(|| "time unknown".to_owned());
        print_line!(
            "{}  {:>5} assets  {span}  {}",
            s.id,
            s.assets.len(),
            s.family
        );
    }
    Ok(EXIT_OK)
}

pub(crate) fn reindex(kiln: &Kiln, as_json: bool) -> anyhow::Result<i32> {
    let done = kiln
        .reindex()
        .context("rebuilding the search index failed")?;
    if as_json {
        print(&json!({"indexed": done.indexed}));
    } else {
        print_line!("indexed {} assets", done.indexed);
    }
    Ok(EXIT_OK)
}
