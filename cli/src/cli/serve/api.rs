//! The JSON API and the page's shell. JSON keys are a contract scripts
//! rely on; `/api/status`, `/api/assets/ID`, `/api/sessions` and
//! `/api/dead` carry what `kiln status --json`, `show --json`, `sessions
//! --json` and `dead list --json` print, plus URLs.

use super::App;
use super::events::progress_json;
use super::guard::status_only;
use crate::cli::curation::curation_json;
use crate::cli::json::hex;
use crate::cli::report::{dead_json, show_json, status_json};
use crate::cli::search::{finite, sessions_json};
use axum::Json as JsonBody;
use axum::extract::{Path, Query, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kiln::engine::{AssetId, BrowseCursor, BrowseEntry, BrowseOrder, ContentHash, Curation, JobId};
use kiln::plugin_api::{PROXY_ARTIFACT, THUMBNAIL_ARTIFACT, Value, builtin};
use kiln::{After, Error, Hit, Kiln, ModelError, SearchError, SortBy};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use std::sync::{Arc, OnceLock};

/// The page size when a request names none, and the largest allowed.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// One of the page's own files, compiled in, with its validator.
struct StaticFile {
    content_type: &'static str,
    body: &'static str,
    /// A hash of the text, made once.
    tag: OnceLock<String>,
}

impl StaticFile {
    const fn new(content_type: &'static str, body: &'static str) -> StaticFile {
        StaticFile {
            content_type,
            body,
            tag: OnceLock::new(),
        }
    }

    fn tag(&self) -> &str {
        self.tag.get_or_init(|| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(self.body, &mut hasher);
            format!("\"{:016x}\"", std::hash::Hasher::finish(&hasher))
        })
    }
}

static INDEX_HTML: StaticFile = StaticFile::new(
    "text/html; charset=utf-8",
    include_str!("static/index.html"),
);
static APP_JS: StaticFile = StaticFile::new(
    "text/javascript; charset=utf-8",
    include_str!("static/app.js"),
);
static APP_CSS: StaticFile =
    StaticFile::new("text/css; charset=utf-8", include_str!("static/app.css"));

/// An error answer: a status and a message, as `{"error": "..."}`.
#[derive(Debug)]
pub(crate) struct ApiError(StatusCode, String);

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError(status, message.into())
    }

    pub(crate) fn internal(what: &str, e: impl std::fmt::Display) -> ApiError {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{what}: {e}"))
    }

    pub(crate) fn not_found(what: impl Into<String>) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, what.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, JsonBody(json!({ "error": self.1 }))).into_response()
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

/// Runs a read of the store off the async threads (redb and tantivy block).
pub(crate) async fn blocking<T, F>(app: &Arc<App>, read: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Kiln) -> T + Send + 'static,
{
    let app = app.clone();
    tokio::task::spawn_blocking(move || read(&app.kiln))
        .await
        .map_err(|e| ApiError::internal("a request failed", e))
}

pub(crate) fn json_response(value: Json) -> Response {
    let mut r = JsonBody(value).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn text(file: &'static StaticFile, headers: &HeaderMap) -> Response {
    // The build's own files: a hash of their text is a fine validator.
    let tag = file.tag();
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(tag)
    {
        return status_only(StatusCode::NOT_MODIFIED);
    }
    let mut r = ([(header::CONTENT_TYPE, file.content_type)], file.body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(tag) = HeaderValue::from_str(tag) {
        r.headers_mut().insert(header::ETAG, tag);
    }
    r
}

/// Every view of the page is the same shell; the script renders the view
/// the address names.
pub(crate) async fn page(headers: HeaderMap) -> Response {
    text(&INDEX_HTML, &headers)
}

pub(crate) async fn asset_page(Path(id): Path<String>, headers: HeaderMap) -> Response {
    match id.parse::<u64>() {
        Ok(_) => text(&INDEX_HTML, &headers),
        Err(_) => not_found().await,
    }
}

pub(crate) async fn static_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match file.as_str() {
        "app.js" => text(&APP_JS, &headers),
        "app.css" => text(&APP_CSS, &headers),
        _ => not_found().await,
    }
}

pub(crate) async fn not_found() -> Response {
    ApiError::not_found("no such page").into_response()
}

pub(crate) fn engine_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal("cannot read the store", e)
}

pub(crate) async fn status(State(app): State<Arc<App>>) -> ApiResult {
    let status = blocking(&app, |k| k.engine().status())
        .await?
        .map_err(engine_error)?;
    Ok(json_response(status_json(&status)))
}

pub(crate) async fn progress(State(app): State<Arc<App>>) -> ApiResult {
    let generation = *app.generation.borrow();
    let progress = blocking(&app, |k| k.engine().progress())
        .await?
        .map_err(engine_error)?;
    let mut body = progress_json(&progress, generation);
    if let (Some(count), Some(o)) = (browsable_count(&app).await, body.as_object_mut()) {
        o.insert("browsable".to_owned(), json!(count));
    }
    Ok(json_response(body))
}

pub(crate) async fn metrics_json(State(app): State<Arc<App>>) -> ApiResult {
    let m = blocking(&app, |k| k.engine().metrics())
        .await?
        .map_err(engine_error)?;
    let ready: Vec<Json> = m
        .ready_by_priority_tier
        .iter()
        .map(|((p, t), n)| json!({"priority": p.name(), "tier": t.name(), "ready": n}))
        .collect();
    let stages: serde_json::Map<String, Json> = m
        .by_stage
        .iter()
        .map(|(stage, states)| {
            let s: serde_json::Map<String, Json> = states
                .iter()
                .map(|(state, n)| (state.name().to_owned(), json!(n)))
                .collect();
            (stage.clone(), Json::Object(s))
        })
        .collect();
    Ok(json_response(json!({
        "ready": m.ready,
        "running": m.running,
        "retrying": m.retrying,
        "dead": m.dead,
        "ready_by_priority_tier": ready,
        "stages": stages,
        "commits": m.commits,
        "commit_ops": m.commit_ops,
        "mean_commit_ms": m.mean_commit.as_secs_f64() * 1e3,
        "mean_sync_ms": m.mean_sync.as_secs_f64() * 1e3,
        "jobs": {
            "claimed": m.jobs.claimed,
            "completed": m.jobs.completed,
            "retries": m.jobs.retries,
            "dead": m.jobs.dead,
            "mean_latency_ms": m.jobs.mean_latency.as_secs_f64() * 1e3,
            "max_latency_ms": m.jobs.max_latency.as_secs_f64() * 1e3,
        },
    })))
}

/// How many assets are browsable: one read of the count the store keeps.
pub(crate) async fn browsable_count(app: &Arc<App>) -> Option<u64> {
    blocking(app, |k| k.engine().browsable_count())
        .await
        .ok()?
        .ok()
}

/// The URL of an asset's image artifact: content-addressed, so it can be
/// cached for good.
pub(crate) fn image_url(id: AssetId, artifact: &str, blob: &str) -> String {
    format!("/img/{id}/{artifact}/{blob}")
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

pub(crate) fn entry_json(e: &BrowseEntry) -> Json {
    json!({
        "id": e.id,
        "path": e.path,
        "name": file_name(&e.path),
        "url": format!("/asset/{}", e.id),
        "thumbnail_url": e.thumbnail.as_deref().map(|b| image_url(e.id, THUMBNAIL_ARTIFACT, b)),
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListQuery {
    q: Option<String>,
    sort: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

fn parse_cursor(text: &str) -> Result<Cursor, ApiError> {
    let bad = || ApiError::new(StatusCode::BAD_REQUEST, "cursor: not one this server gave");
    let (kind, rest) = text.split_at_checked(1).ok_or_else(bad)?;
    match kind {
        "i" => Ok(Cursor::Browse(BrowseCursor::Before(
            rest.parse::<AssetId>().map_err(|_| bad())?,
        ))),
        "p" => {
            let bytes = unhex(rest).ok_or_else(bad)?;
            let path = String::from_utf8(bytes).map_err(|_| bad())?;
            Ok(Cursor::Browse(BrowseCursor::After(path)))
        }
        "a" => {
            // `a<bits of the ranking value, hex>-<id>`: the last hit before.
            let (bits, id) = rest.split_once('-').ok_or_else(bad)?;
            let score = f64::from_bits(u64::from_str_radix(bits, 16).map_err(|_| bad())?);
            if score.is_nan() {
                return Err(bad());
            }
            let id = id.parse::<AssetId>().map_err(|_| bad())?;
            Ok(Cursor::After(After { score, id }))
        }
        _ => Err(bad()),
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn cursor_text(cursor: &BrowseCursor) -> Option<String> {
    match cursor {
        BrowseCursor::Before(id) => Some(format!("i{id}")),
        BrowseCursor::After(path) => Some(format!("p{}", hex(path.as_bytes()))),
        _ => None,
    }
}

enum Cursor {
    Browse(BrowseCursor),
    After(After),
}

fn after_text(hit: &Hit) -> String {
    format!("a{:x}-{}", hit.score.to_bits(), hit.id)
}

/// `GET /api/assets?q=QUERY&sort=date|score|path|relevance&limit=N&cursor=C`.
/// Without a query, `date` and `path` list every browsable asset from the
/// store (newest first: the last kiln found, first), so an asset shows as
/// soon as its thumbnail exists; a query, or `score`, asks the search index.
/// The order is `date` without a query and `relevance` with one, as for
/// `kiln search`, unless `sort` says otherwise.
pub(crate) async fn assets(
    State(app): State<Arc<App>>,
    Query(list): Query<ListQuery>,
) -> ApiResult {
    let query = list.q.unwrap_or_default();
    let query = query.trim().to_owned();
    let limit = list.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let default_sort = if query.is_empty() {
        "date"
    } else {
        "relevance"
    };
    let sort = list.sort.as_deref().unwrap_or(default_sort).to_owned();
    let cursor = list.cursor.as_deref().map(parse_cursor).transpose()?;
    let from_store = query.is_empty() && matches!(sort.as_str(), "date" | "path");
    if from_store {
        let order = if sort == "path" {
            BrowseOrder::Path
        } else {
            BrowseOrder::Newest
        };
        let cursor = match cursor {
            Some(Cursor::Browse(c)) => Some(c),
            Some(Cursor::After(_)) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "cursor: not for this listing",
                ));
            }
            None => None,
        };
        let (page, curations) = blocking(&app, move |k| {
            let page = k.engine().browse(&order, cursor.as_ref(), limit)?;
            let ids: Vec<AssetId> = page.entries.iter().map(|e| e.id).collect();
            let curations = curations_of(k, &ids)?;
            Ok::<_, kiln::engine::EngineError>((page, curations))
        })
        .await?
        .map_err(engine_error)?;
        let total = browsable_count(&app).await;
        let assets: Vec<Json> = page
            .entries
            .iter()
            .zip(curations)
            .map(|(e, c)| with_curation(entry_json(e), c))
            .collect();
        return Ok(json_response(json!({
            "total": total,
            "assets": assets,
            "next_cursor": page.next.as_ref().and_then(cursor_text),
        })));
    }
    let by = match sort.as_str() {
        "date" => SortBy::Date,
        "score" => SortBy::Score,
        "relevance" => SortBy::Relevance,
        "path" => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "sort=path lists the whole store; with a query, sort by date, score or relevance",
            ));
        }
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("sort: `{other}` is not date, score, path or relevance"),
            ));
        }
    };
    let after = match cursor {
        Some(Cursor::After(after)) => Some(after),
        Some(Cursor::Browse(_)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "cursor: not for this listing",
            ));
        }
        None => None,
    };
    let found = blocking(&app, move |k| {
        // One hit more than the page says whether there is a next one.
        let mut results = k.search_page(&query, by, after, limit.saturating_add(1))?;
        let more = results.hits.len() > limit;
        results.hits.truncate(limit);
        let ids: Vec<AssetId> = results.hits.iter().map(|h| h.id).collect();
        let entries = k.engine().browse_entries(&ids)?;
        let curations = curations_of(k, &ids)?;
        Ok::<_, Error>((results, entries, curations, more))
    })
    .await?;
    let (results, entries, curations, more) = match found {
        Ok(found) => found,
        Err(Error::Index(SearchError::Query(e))) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("cannot understand the query: {e}"),
            ));
        }
        Err(Error::Semantic(e)) => {
            // A malformed `~` term, or no model to run it: the request's
            // fault or the store's, said as it is.
            let status = match *e {
                ModelError::Query(_) | ModelError::NoModel | ModelError::Ambiguous { .. } => {
                    StatusCode::BAD_REQUEST
                }
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            return Err(ApiError::new(status, e.to_string()));
        }
        Err(e) => return Err(ApiError::internal("search failed", e)),
    };
    let assets: Vec<Json> = results
        .hits
        .iter()
        .zip(&entries)
        .zip(curations)
        .map(|((hit, entry), curation)| {
            let mut item = match entry {
                Some(e) => entry_json(e),
                None => json!({
                    "id": hit.id,
                    "path": hit.path,
                    "name": file_name(&hit.path),
                    "url": format!("/asset/{}", hit.id),
                    "thumbnail_url": null,
                }),
            };
            if let Some(o) = item.as_object_mut() {
                o.insert("score".to_owned(), finite(hit.score));
            }
            with_curation(item, curation)
        })
        .collect();
    let next = more.then(|| results.hits.last().map(after_text)).flatten();
    Ok(json_response(json!({
        "total": results.total,
        "assets": assets,
        "next_cursor": next,
    })))
}

/// An asset's content hash and its curation, if any.
pub(crate) type Curated = (Option<ContentHash>, Option<Curation>);

/// Each asset's content hash and its curation, the curations in one read;
/// an asset not hashed yet has neither.
pub(crate) fn hashes_and_curations(
    k: &Kiln,
    ids: &[AssetId],
) -> Result<Vec<Curated>, kiln::engine::EngineError> {
    let engine = k.engine();
    let hashes = engine.content_hashes(ids)?;
    let known: Vec<ContentHash> = hashes.iter().flatten().copied().collect();
    let mut found = engine.curations(&known)?.into_iter();
    Ok(hashes
        .into_iter()
        .map(|hash| (hash, hash.and_then(|_| found.next().flatten())))
        .collect())
}

/// The curation of each asset's content, as `show --json` has it.
pub(crate) fn curations_of(
    k: &Kiln,
    ids: &[AssetId],
) -> Result<Vec<Json>, kiln::engine::EngineError> {
    Ok(hashes_and_curations(k, ids)?
        .iter()
        .map(|(_, curation)| curation_json(curation.as_ref()))
        .collect())
}

/// A gallery entry with its `curation`.
pub(crate) fn with_curation(mut entry: Json, curation: Json) -> Json {
    if let Some(o) = entry.as_object_mut() {
        o.insert("curation".to_owned(), curation);
    }
    entry
}

fn parse_id(text: &str) -> Result<AssetId, ApiError> {
    text.parse::<AssetId>()
        .map_err(|_| ApiError::not_found("no such asset"))
}

/// The generation parameters in the text form A1111 writes and reads
/// ("PNG Info"): prompt, `Negative prompt:`, then `Key: value` pairs.
pub(crate) fn a1111_text(generation: &Json) -> String {
    let get = |k: &str| generation.get(k).filter(|v| !v.is_null());
    let plain = |v: &Json| match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut prompt = get("positive_prompt").map(plain).unwrap_or_default();
    if let Some(Json::Array(loras)) = get("loras") {
        for lora in loras {
            let Some(name) = lora.get("name").and_then(Json::as_str) else {
                continue;
            };
            if prompt.contains(&format!("<lora:{name}:")) {
                continue;
            }
            let strength = lora.get("strength").and_then(Json::as_f64).unwrap_or(1.0);
            prompt.push_str(&format!(" <lora:{name}:{strength}>"));
        }
    }
    let mut out = prompt.trim().to_owned();
    if let Some(negative) = get("negative_prompt") {
        out.push_str(&format!("\nNegative prompt: {}", plain(negative)));
    }
    let mut pairs: Vec<String> = Vec::new();
    for (key, label) in [
        ("steps", "Steps"),
        ("sampler", "Sampler"),
        ("scheduler", "Schedule type"),
        ("cfg", "CFG scale"),
        ("seed", "Seed"),
    ] {
        if let Some(v) = get(key) {
            pairs.push(format!("{label}: {}", plain(v)));
        }
    }
    if let (Some(w), Some(h)) = (get("width"), get("height")) {
        pairs.push(format!("Size: {}x{}", plain(w), plain(h)));
    }
    if let Some(hash) = get("model_hash") {
        pairs.push(format!("Model hash: {}", plain(hash)));
    }
    if let Some(model) = get("model") {
        pairs.push(format!("Model: {}", plain(model)));
    }
    if let Some(d) = get("denoise") {
        pairs.push(format!("Denoising strength: {}", plain(d)));
    }
    if let Some(c) = get("clip_skip") {
        pairs.push(format!("Clip skip: {}", plain(c)));
    }
    if !pairs.is_empty() {
        out.push('\n');
        out.push_str(&pairs.join(", "));
    }
    out
}

/// A metadata text the file carried at one of `locations`.
fn raw_text(detail: &kiln::engine::AssetDetail, locations: &[&str]) -> Option<String> {
    let raw = detail
        .stages
        .get(builtin::METADATA)?
        .facts
        .as_ref()?
        .get("raw")?;
    locations
        .iter()
        .find_map(|l| raw.get(l).and_then(Value::as_str).map(str::to_owned))
}

const WORKFLOW_AT: [&str; 4] = [
    "tEXt:workflow",
    "iTXt:workflow",
    "mp4:workflow",
    "mkv:workflow",
];
const PROMPT_AT: [&str; 4] = ["tEXt:prompt", "iTXt:prompt", "mp4:prompt", "mkv:prompt"];

fn blob_of(detail: &kiln::engine::AssetDetail, artifact: &str) -> Option<String> {
    detail
        .artifact(artifact)
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .map(str::to_owned)
}

pub(crate) async fn asset(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let found = blocking(&app, move |k| {
        let Some(detail) = k.engine().asset(id)? else {
            return Ok::<_, Error>(None);
        };
        let body = show_json(k, &detail);
        let near = detail_near(k, &body)?;
        let missing = super::images::open_original(&detail.paths).is_none();
        Ok(Some((detail, body, near, missing)))
    })
    .await?
    .map_err(engine_error)?;
    let Some((detail, mut body, near, missing)) = found else {
        return Err(ApiError::not_found(format!("no asset {id}")));
    };
    let workflow = raw_text(&detail, &WORKFLOW_AT).is_some();
    let prompt = raw_text(&detail, &PROMPT_AT).is_some();
    let a1111 = body.get("generation").map(a1111_text).unwrap_or_default();
    if let Some(o) = body.as_object_mut() {
        o.insert(
            "urls".to_owned(),
            json!({
                "page": format!("/asset/{id}"),
                "thumbnail": blob_of(&detail, THUMBNAIL_ARTIFACT).map(|b| image_url(id, THUMBNAIL_ARTIFACT, &b)),
                "proxy": blob_of(&detail, PROXY_ARTIFACT).map(|b| image_url(id, PROXY_ARTIFACT, &b)),
                "original": format!("/original/{id}"),
                "workflow": workflow.then(|| format!("/api/assets/{id}/workflow")),
                "prompt": prompt.then(|| format!("/api/assets/{id}/prompt")),
                "similar": format!("/api/similar/{id}"),
            }),
        );
        o.insert("a1111_parameters".to_owned(), Json::String(a1111));
        o.insert("near_duplicate_assets".to_owned(), near);
        o.insert("original_missing".to_owned(), Json::Bool(missing));
    }
    Ok(json_response(body))
}

/// The near-duplicates `show --json` lists, as gallery entries.
fn detail_near(k: &Kiln, body: &Json) -> Result<Json, Error> {
    let ids: Vec<AssetId> = body
        .get("near_duplicates")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Json::as_u64)
                .map(AssetId::new)
                .collect()
        })
        .unwrap_or_default();
    let entries = k.engine().browse_entries(&ids)?;
    Ok(Json::Array(
        entries.iter().flatten().map(entry_json).collect(),
    ))
}

async fn download(
    app: Arc<App>,
    id: String,
    locations: &'static [&'static str],
    what: &'static str,
) -> ApiResult {
    let id = parse_id(&id)?;
    let text = blocking(&app, move |k| {
        k.engine()
            .asset(id)
            .map(|d| d.and_then(|d| raw_text(&d, locations)))
    })
    .await?
    .map_err(engine_error)?;
    let Some(text) = text else {
        return Err(ApiError::not_found(format!(
            "asset {id} has no ComfyUI {what}"
        )));
    };
    let disposition = format!("attachment; filename=\"kiln-{id}-{what}.json\"");
    let mut r = ([(header::CONTENT_TYPE, "application/json")], text).into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

pub(crate) async fn workflow(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    download(app, id, &WORKFLOW_AT, "workflow").await
}

pub(crate) async fn api_prompt(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    download(app, id, &PROMPT_AT, "prompt").await
}

#[derive(Debug, Deserialize)]
pub(crate) struct LimitQuery {
    limit: Option<usize>,
}

pub(crate) async fn similar(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(q): Query<LimitQuery>,
) -> ApiResult {
    let id = parse_id(&id)?;
    let limit = q.limit.unwrap_or(12).clamp(1, 200);
    let found = blocking(&app, move |k| {
        // By meaning when the asset has a semantic vector (the store has a
        // model and tier 3 made it); else by the perceptual vectors. Each
        // neighbour comes with what it is ranked by.
        let (by, neighbours): (&str, Vec<(AssetId, Json)>) = match k.similar_semantic(id, limit) {
            Ok(Some(found)) => (
                "semantic",
                found
                    .into_iter()
                    .map(|(n, cosine)| (n, json!({"score": finite(f64::from(cosine))})))
                    .collect(),
            ),
            _ => match k.similar(id, limit)? {
                Some(found) => (
                    "perceptual",
                    found
                        .into_iter()
                        .map(|n| {
                            let distance = finite(f64::from(n.distance));
                            (
                                n.id,
                                json!({"distance": distance, "hash_bits": n.hash_bits}),
                            )
                        })
                        .collect(),
                ),
                None => return Ok::<_, Error>(None),
            },
        };
        let ids: Vec<AssetId> = neighbours.iter().map(|n| n.0).collect();
        let entries = k.engine().browse_entries(&ids)?;
        Ok(Some((by, neighbours, entries)))
    })
    .await?
    .map_err(|e| ApiError::internal("similar failed", e))?;
    let Some((by, neighbours, entries)) = found else {
        return Ok(json_response(
            json!({"total": 0, "hits": [], "embedded": false}),
        ));
    };
    let hits: Vec<Json> = neighbours
        .into_iter()
        .zip(&entries)
        .filter_map(|((_, ranked_by), e)| {
            let mut item = entry_json(e.as_ref()?);
            if let (Some(o), Json::Object(extra)) = (item.as_object_mut(), ranked_by) {
                o.extend(extra);
            }
            Some(item)
        })
        .collect();
    Ok(json_response(
        json!({"total": hits.len(), "hits": hits, "embedded": true, "by": by}),
    ))
}

pub(crate) async fn sessions(State(app): State<Arc<App>>) -> ApiResult {
    let found = blocking(&app, |k| {
        let sessions = k.sessions()?;
        // Each session's first asset, as its cover.
        let covers: Vec<AssetId> = sessions
            .iter()
            .filter_map(|s| s.assets.first().copied())
            .collect();
        let entries = k.engine().browse_entries(&covers)?;
        Ok::<_, Error>((sessions, entries))
    })
    .await?
    .map_err(|e| ApiError::internal("cannot read sessions", e))?;
    let (sessions, covers) = found;
    let mut body = sessions_json(&sessions);
    if let Some(list) = body.get_mut("sessions").and_then(Json::as_array_mut) {
        let mut covers = covers.iter();
        for (item, s) in list.iter_mut().zip(&sessions) {
            let cover = if s.assets.is_empty() {
                None
            } else {
                covers.next().and_then(Option::as_ref)
            };
            if let Some(o) = item.as_object_mut() {
                o.insert(
                    "cover_url".to_owned(),
                    cover
                        .and_then(|e| {
                            e.thumbnail
                                .as_deref()
                                .map(|b| image_url(e.id, THUMBNAIL_ARTIFACT, b))
                        })
                        .map_or(Json::Null, Json::String),
                );
            }
        }
    }
    Ok(json_response(body))
}

pub(crate) async fn dead(State(app): State<Arc<App>>) -> ApiResult {
    let dead = blocking(&app, |k| k.engine().dead_letters())
        .await?
        .map_err(engine_error)?;
    Ok(json_response(dead_json(&dead)))
}

pub(crate) async fn dead_retry(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::not_found("no such dead job"))?;
    let requeued = app
        .kiln
        .engine()
        .retry_dead(JobId::new(id))
        .await
        .map_err(|e| ApiError::internal("retry failed", e))?;
    if !requeued {
        return Err(ApiError::not_found(format!("no dead job {id}")));
    }
    Ok(json_response(json!({"requeued": 1})))
}

pub(crate) async fn dead_retry_all(State(app): State<Arc<App>>) -> ApiResult {
    let n = app
        .kiln
        .engine()
        .retry_all_dead()
        .await
        .map_err(|e| ApiError::internal("retry failed", e))?;
    Ok(json_response(json!({"requeued": n})))
}

pub(crate) async fn dead_purge(State(app): State<Arc<App>>) -> ApiResult {
    let n = app
        .kiln
        .engine()
        .purge_dead()
        .await
        .map_err(|e| ApiError::internal("purge failed", e))?;
    Ok(json_response(json!({"purged": n})))
}
