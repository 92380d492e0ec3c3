//! The read-only commands: `status`, `show`, `assets`, `stages`, `dead`.
//!
//! JSON key names here are a contract that scripts parse; text output is for
//! people and may change.

use super::json::{hex, print, to_json};
use super::terminal::{eprint_line, print_line};
use super::{EXIT_ERROR, EXIT_OK};
use anyhow::Context;
use kiln::engine::{AssetDetail, AssetId, DeadLetter, Engine, JobCounts, JobId, Status, Tier};
use kiln::plugin_api::{PROXY_ARTIFACT, THUMBNAIL_ARTIFACT, Value, builtin};
use kiln::stages::metadata::MetadataStage;
use kiln::stages::thumbnail::THUMBNAIL_STAGE_NAME as THUMBNAIL;
use kiln::{Kiln, StageSource};
use serde_json::{Value as Json, json};
use std::path::Path;

const METADATA: &str = MetadataStage::NAME;

/// The generation keys `show --json` always has, in order.
const GENERATION_KEYS: [&str; 12] = [
    "generator",
    "positive_prompt",
    "negative_prompt",
    "seed",
    "steps",
    "cfg",
    "sampler",
    "scheduler",
    "model",
    "loras",
    "width",
    "height",
];

fn counts_json(c: &JobCounts) -> Json {
    json!({
        "ready": c.ready,
        "running": c.running,
        "retrying": c.retrying,
        "dead": c.dead,
        "done": c.done,
        "skipped": c.skipped,
    })
}

/// `status --json` (and the page's `/api/status`).
pub(crate) fn status_json(status: &Status) -> Json {
    let tiers: serde_json::Map<String, Json> = Tier::ALL
        .into_iter()
        .map(|t| {
            let c = status.tiers.get(&t).copied().unwrap_or_default();
            let tier = json!({
                "done": c.done,
                "skipped": c.skipped,
                "pending": c.pending(),
                "dead": c.dead,
            });
            (t.to_string(), tier)
        })
        .collect();
    let imports: Vec<Json> = status
            .imports
            .iter()
            .map(|i| {
                let jobs = i.jobs();
                json!({
                    "id": i.id,
                    "root": i.root,
                    "state": i.state.name(),
                    "priority": i.priority.name(),
                    "files_seen": i.files_seen,
                    "files_unchanged": i.files_unchanged,
                    "pending": jobs.pending(),
                    "dead": jobs.dead,
                    "enrich_budget": i.budget.map(|(limit, spent)| json!({"limit": limit, "spent": spent})),
                    "unreadable_folders": i.unreadable_folders.iter().map(|f| json!({"path": f.path, "reason": f.reason})).collect::<Vec<_>>(),
                })
            })
            .collect();
    json!({
        "assets": status.assets,
        "files": status.files,
        "jobs": counts_json(&status.jobs),
        "tiers": tiers,
        "imports": imports,
    })
}

pub(crate) fn status(engine: &Engine, as_json: bool) -> anyhow::Result<i32> {
    let status = engine.status().context("cannot read the store's status")?;
    if as_json {
        print(&status_json(&status));
        return Ok(EXIT_OK);
    }
    let j = &status.jobs;
    print_line!("assets  {}", status.assets);
    print_line!("files   {}", status.files);
    print_line!(
        "jobs    {} ready, {} running, {} retrying, {} dead, {} done, {} skipped",
        j.ready,
        j.running,
        j.retrying,
        j.dead,
        j.done,
        j.skipped
    );
    for tier in Tier::ALL {
        let c = status.tiers.get(&tier).copied().unwrap_or_default();
        print_line!(
            "tier {tier}  {:<10} {} done, {} skipped, {} pending, {} dead",
            tier.name(),
            c.done,
            c.skipped,
            c.pending(),
            c.dead
        );
    }
    for i in &status.imports {
        let budget = i
            .budget
            .map(|(limit, spent)| format!("  (enriched {spent} of a budget of {limit})"))
            .unwrap_or_default();
        print_line!(
            "import {}  {:<8} {:<11} {}{budget}",
            i.id,
            i.state.name(),
            i.priority.name(),
            i.root
        );
        for folder in &i.unreadable_folders {
            print_line!(
                "        cannot read folder {}: {}",
                folder.path,
                folder.reason
            );
        }
    }
    if j.dead > 0 {
        print_line!("{} dead jobs: see them with `kiln dead list`", j.dead);
    }
    Ok(EXIT_OK)
}

/// Finds an asset by id or by a path it was imported from.
pub(crate) fn find_asset(engine: &Engine, what: &str) -> anyhow::Result<Option<AssetDetail>> {
    if let Ok(id) = what.parse::<AssetId>()
        && let Some(detail) = engine.asset(id)?
    {
        return Ok(Some(detail));
    }
    match engine.asset_by_path(Path::new(what))? {
        Some(id) => Ok(engine.asset(id)?),
        None => Ok(None),
    }
}

fn stage_facts<'a>(detail: &'a AssetDetail, stage: &str) -> Option<&'a Value> {
    detail.stages.get(stage).and_then(|s| s.facts.as_ref())
}

/// The `generation` object of `show --json`: always every contract key,
/// `null` where the metadata does not say, `loras` an empty list when none.
fn generation_json(detail: &AssetDetail) -> Json {
    let generation = stage_facts(detail, METADATA).and_then(|f| f.get("generation"));
    let mut out = serde_json::Map::new();
    for key in GENERATION_KEYS {
        let value = generation
            .and_then(|g| g.get(key))
            .map_or(Json::Null, to_json);
        let value = if key == "loras" && value.is_null() {
            Json::Array(Vec::new())
        } else {
            value
        };
        out.insert(key.to_owned(), value);
    }
    // Fields beyond the contract, kept when the metadata states them.
    if let Some(Value::Map(all)) = generation {
        for (key, value) in all {
            if !out.contains_key(key) && !value.is_null() {
                out.insert(key.clone(), to_json(value));
            }
        }
    }
    Json::Object(out)
}

fn pixel_size(detail: &AssetDetail) -> (Json, Json) {
    let from = |stage: &str, w: &str, h: &str| {
        let facts = stage_facts(detail, stage)?;
        let width = facts.get(w).and_then(Value::as_u64)?;
        let height = facts.get(h).and_then(Value::as_u64)?;
        Some((width, height))
    };
    from(THUMBNAIL, "width", "height")
        .or_else(|| from(METADATA, "pixel_width", "pixel_height"))
        .map_or((Json::Null, Json::Null), |(w, h)| (json!(w), json!(h)))
}

pub(crate) fn no_such_asset(engine: &Engine, what: &str) -> i32 {
    eprint_line!(
        "kiln: no asset `{what}` in {}: give an asset id (see `kiln assets`) or a path that was imported",
        engine.store_dir().display()
    );
    EXIT_ERROR
}

/// `show --json --raw`: what a stage is given for this asset. `path`,
/// `content_hash`, `proxy_path` and `facts` are the stage input's fields
/// (`facts` keyed by stage name, each the stage's stored fact tree turned
/// into JSON as is: bytes as lowercase hex, a non-finite float as null);
/// `versions` says which version of each stage wrote its facts. A stage
/// is given the facts of the stages it runs after.
pub(crate) fn show_raw(kiln: &Kiln, what: &str) -> anyhow::Result<i32> {
    let engine = kiln.engine();
    let Some(detail) = find_asset(engine, what)? else {
        return Ok(no_such_asset(engine, what));
    };
    let with_facts = || {
        detail
            .stages
            .iter()
            .filter_map(|(name, s)| s.facts.as_ref().map(|f| (name.clone(), s, f)))
    };
    let facts: serde_json::Map<String, Json> = with_facts()
        .map(|(name, _, f)| (name, to_json(f)))
        .collect();
    let versions: serde_json::Map<String, Json> = with_facts()
        .map(|(name, s, _)| (name, json!(s.version)))
        .collect();
    print(&json!({
        "id": detail.id,
        "path": detail.paths.first(),
        "paths": detail.paths,
        "content_hash": detail.content_hash.map(|h| hex(&h)),
        "proxy_path": detail.artifact(PROXY_ARTIFACT).map(|p| p.display().to_string()),
        "facts": facts,
        "versions": versions,
    }));
    Ok(EXIT_OK)
}

/// `show --json` (and the page's `/api/assets/ID`).
pub(crate) fn show_json(kiln: &Kiln, detail: &AssetDetail) -> Json {
    let (width, height) = pixel_size(detail);
    let thumbnail = detail
        .artifact(THUMBNAIL_ARTIFACT)
        .map(|p| p.display().to_string());
    let by_stage =
        |f: &dyn Fn(&kiln::engine::StageDetail) -> Option<Json>| -> serde_json::Map<String, Json> {
            detail
                .stages
                .iter()
                .filter_map(|(name, s)| f(s).map(|v| (name.clone(), v)))
                .collect()
        };
    let stages = by_stage(&|s| Some(Json::String(s.state.name().to_owned())));
    // Per stage: whether its facts come from another version than the one
    // registered now (the stage owes the asset a re-run).
    let outdated = by_stage(&|s| Some(Json::Bool(s.outdated)));
    // Why each skipped stage was skipped, by stage name.
    let skipped = by_stage(&|s| s.reason.as_deref().map(Json::from));
    let metadata = stage_facts(detail, METADATA);
    let problems = metadata
        .and_then(|m| m.get("problems"))
        .map_or(Json::Array(Vec::new()), to_json);
    let enrichment = kiln.enrichment(detail);
    let facts: serde_json::Map<String, Json> = detail
        .stages
        .iter()
        .filter_map(|(name, s)| s.facts.as_ref().map(|f| (name.clone(), f)))
        .filter(|(name, _)| name != METADATA)
        .map(|(name, f)| (name, to_json(f)))
        .collect();
    let curation = super::curation::curation_of(kiln.engine(), detail.id)
        .ok()
        .flatten();
    let missing_paths: Vec<&String> = detail
        .paths
        .iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    json!({
        "id": detail.id,
        "paths": detail.paths,
        "missing_paths": missing_paths,
        "missing": !detail.paths.is_empty() && missing_paths.len() == detail.paths.len(),
        "curation": super::curation::curation_json(curation.as_ref()),
        "content_hash": detail.content_hash.map(|h| hex(&h)),
        "state": detail.state.name(),
        "width": width,
        "height": height,
        "thumbnail": thumbnail,
        "generation": generation_json(detail),
        "exif": metadata.and_then(|m| m.get("exif")).map_or(Json::Null, to_json),
        "animation": metadata.and_then(|m| m.get("animation")).map_or(Json::Null, to_json),
        "metadata_problems": problems,
        "quality": enrichment.quality.as_ref().map_or(Json::Null, to_json),
        "session": enrichment.session,
        "near_duplicates": enrichment.near_duplicates,
        "stages": stages,
        "outdated": outdated,
        "skipped": skipped,
        "facts": facts,
    })
}

pub(crate) fn show(kiln: &Kiln, what: &str, as_json: bool) -> anyhow::Result<i32> {
    let engine = kiln.engine();
    let Some(detail) = find_asset(engine, what)? else {
        return Ok(no_such_asset(engine, what));
    };
    if as_json {
        print(&show_json(kiln, &detail));
        return Ok(EXIT_OK);
    }
    let (width, height) = pixel_size(&detail);
    let thumbnail = detail
        .artifact(THUMBNAIL_ARTIFACT)
        .map(|p| p.display().to_string());
    let problems = stage_facts(&detail, METADATA)
        .and_then(|m| m.get("problems"))
        .map_or(Json::Array(Vec::new()), to_json);
    let generation = generation_json(&detail);
    let enrichment = kiln.enrichment(&detail);
    let quality = enrichment.quality.as_ref().map_or(Json::Null, to_json);
    print_line!("asset      {} ({})", detail.id, detail.state.name());
    for path in &detail.paths {
        if Path::new(path).exists() {
            print_line!("path       {path}");
        } else {
            print_line!("path       {path} (missing)");
        }
    }
    if let Some(c) = super::curation::curation_of(engine, detail.id)? {
        print_line!("curation   {}", super::curation::curation_text(&c));
    }
    if let Some(hash) = detail.content_hash {
        print_line!("hash       {}", hex(&hash));
    }
    if let (Some(w), Some(h)) = (width.as_u64(), height.as_u64()) {
        print_line!("pixels     {w}x{h}");
    }
    let animation = stage_facts(&detail, METADATA).and_then(|m| m.get("animation"));
    if let Some(a) = animation.filter(|a| !a.is_null()) {
        let mut parts = Vec::new();
        if let Some(d) = a.get("duration").and_then(Value::as_f64) {
            parts.push(format!("{d:.2} s"));
        }
        if let Some(n) = a.get("frames").and_then(Value::as_u64) {
            parts.push(format!("{n} frames"));
        }
        if let Some(f) = a.get("fps").and_then(Value::as_f64) {
            parts.push(format!("{f:.2} fps"));
        }
        if !parts.is_empty() {
            print_line!("motion     {}", parts.join(", "));
        }
    }
    if let Some(note) = stage_facts(&detail, THUMBNAIL)
        .and_then(|t| t.get("note"))
        .and_then(Value::as_str)
    {
        print_line!("note       {note}");
    }
    if let Some(t) = &thumbnail {
        if std::path::Path::new(t).is_file() {
            print_line!("thumbnail  {t}");
        } else {
            print_line!("thumbnail  {t} (missing: `kiln repair` makes it again)");
        }
    }
    if let Json::Object(g) = &generation {
        for (key, value) in g {
            let text = match value {
                Json::Null => continue,
                Json::Array(a) if a.is_empty() => continue,
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            print_line!("{key:<16} {text}");
        }
    }
    if let Some(score) = quality.get("score").and_then(Json::as_f64) {
        print_line!("quality          {score:.1}");
    }
    if let Some(session) = &enrichment.session {
        print_line!("session          {session}");
    }
    if !enrichment.near_duplicates.is_empty() {
        let ids: Vec<String> = enrichment
            .near_duplicates
            .iter()
            .map(ToString::to_string)
            .collect();
        print_line!("near duplicates  [{}]", ids.join(", "));
    }
    if let Json::Array(list) = &problems {
        for p in list {
            print_line!("problem    {p}");
        }
    }
    let registered = engine.stages();
    for (name, s) in &detail.stages {
        let mut line = format!("stage      {name}: {}", s.state.name());
        if let Some(reason) = &s.reason {
            line.push_str(&format!(" ({reason})"));
        }
        if s.outdated {
            let now = registered
                .iter()
                .find(|i| &i.name == name)
                .map_or_else(|| "?".to_owned(), |i| format!("v{}", i.version));
            let was = s
                .version
                .map_or_else(|| "?".to_owned(), |v| format!("v{v}"));
            line.push_str(&format!(" (outdated: {was}, registered {now})"));
        }
        print_line!("{line}");
    }
    Ok(EXIT_OK)
}

pub(crate) fn assets(engine: &Engine, as_json: bool) -> anyhow::Result<i32> {
    let assets = engine.assets().context("cannot list assets")?;
    if as_json {
        let list: Vec<Json> = assets
            .iter()
            .map(|a| json!({"id": a.id, "path": a.first_path, "state": a.state.name()}))
            .collect();
        print(&json!({ "total": assets.len(), "assets": list }));
        return Ok(EXIT_OK);
    }
    for a in &assets {
        print_line!("{:>8}  {:<10}  {}", a.id, a.state.name(), a.first_path);
    }
    Ok(EXIT_OK)
}

pub(crate) fn stages(kiln: &Kiln, as_json: bool) -> anyhow::Result<i32> {
    let infos = kiln.engine().stages();
    let source_of = |name: &str| {
        kiln.stage_sources()
            .iter()
            .find(|(n, _)| n == name)
            .map_or_else(
                || "builtin".to_owned(),
                |(_, s)| match s {
                    StageSource::Plugin(path) => path.display().to_string(),
                    _ => "builtin".to_owned(),
                },
            )
    };
    if as_json {
        let list: Vec<Json> = infos
            .iter()
            .map(|i| {
                json!({
                    "name": i.name,
                    "version": i.version,
                    "tier": i.tier,
                    "after": i.after,
                    "source": source_of(&i.name),
                })
            })
            .collect();
        print(&Json::Array(list));
        return Ok(EXIT_OK);
    }
    for i in &infos {
        print_line!(
            "{:<12} v{:<3} tier {}  after [{}]  {}",
            i.name,
            i.version,
            i.tier,
            i.after.join(", "),
            source_of(&i.name)
        );
    }
    Ok(EXIT_OK)
}

/// `stages --schema`: the facts each built-in stage writes, from
/// `kiln_plugin_api::builtin::SCHEMA`.
pub(crate) fn schema(as_json: bool) -> i32 {
    if as_json {
        let list: Vec<Json> = builtin::SCHEMA
            .iter()
            .map(|stage| {
                let facts: Vec<Json> = stage
                    .facts
                    .iter()
                    .map(|f| {
                        json!({
                            "key": f.key,
                            "type": f.types,
                            "example": f.example,
                            "meaning": f.meaning,
                        })
                    })
                    .collect();
                json!({
                    "name": stage.name,
                    "tier": stage.tier,
                    "after": stage.after,
                    "facts": facts,
                })
            })
            .collect();
        print(&Json::Array(list));
        return EXIT_OK;
    }
    let width = builtin::SCHEMA
        .iter()
        .flat_map(|s| s.facts)
        .map(|f| f.key.len())
        .max()
        .unwrap_or(0);
    for (n, stage) in builtin::SCHEMA.iter().enumerate() {
        if n > 0 {
            print_line!();
        }
        print_line!(
            "{}  tier {}  after [{}]",
            stage.name,
            stage.tier,
            stage.after.join(", ")
        );
        for f in stage.facts {
            let example = if f.example.is_empty() {
                String::new()
            } else {
                format!(" (e.g. {})", f.example)
            };
            print_line!(
                "  {:<width$}  {:<13} {}{example}",
                f.key,
                f.types,
                f.meaning
            );
        }
    }
    EXIT_OK
}

/// `dead list --json` (and the page's `/api/dead`).
pub(crate) fn dead_json(dead: &[DeadLetter]) -> Json {
    let list: Vec<Json> = dead
        .iter()
        .map(|d| {
            json!({
                "id": d.job_id,
                "asset": d.asset_id,
                "path": d.path,
                "stage": d.stage,
                "attempts": d.attempts,
                "error": d.last_error,
            })
        })
        .collect();
    json!({ "total": dead.len(), "dead": list })
}

pub(crate) fn dead_list(engine: &Engine, as_json: bool) -> anyhow::Result<i32> {
    let dead = engine.dead_letters().context("cannot list dead letters")?;
    if as_json {
        print(&dead_json(&dead));
        return Ok(EXIT_OK);
    }
    if dead.is_empty() {
        print_line!("no dead jobs");
    }
    for d in &dead {
        print_line!(
            "{:>8}  {}  [{} after {} attempt(s)]  {}",
            d.job_id,
            d.path,
            d.stage,
            d.attempts,
            d.last_error
        );
    }
    Ok(EXIT_OK)
}

pub(crate) async fn dead_retry(
    engine: &Engine,
    id: Option<u64>,
    all: bool,
    as_json: bool,
) -> anyhow::Result<i32> {
    let requeued = match (id, all) {
        (_, true) => engine.retry_all_dead().await?,
        (Some(id), false) => {
            if !engine.retry_dead(JobId::new(id)).await? {
                eprint_line!("kiln: no dead job {id}: see `kiln dead list`");
                return Ok(EXIT_ERROR);
            }
            1
        }
        (None, false) => {
            eprint_line!(
                "kiln: say which dead job to retry (an id from `kiln dead list`) or --all"
            );
            return Ok(EXIT_ERROR);
        }
    };
    if as_json {
        print(&json!({ "requeued": requeued }));
    } else {
        print_line!("requeued {requeued} job(s); process them with `kiln run`");
    }
    Ok(EXIT_OK)
}

pub(crate) async fn dead_purge(engine: &Engine, as_json: bool) -> anyhow::Result<i32> {
    let purged = engine.purge_dead().await?;
    if as_json {
        print(&json!({ "purged": purged }));
    } else {
        print_line!("purged {purged} dead job(s)");
    }
    Ok(EXIT_OK)
}
