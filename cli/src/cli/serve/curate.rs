//! The page's curation as JSON: ratings, favorites and tags of many assets
//! in one request, collections, and the cull of one session.
//!
//! Every request that changes something is one engine operation (one
//! durable transaction, however many assets it names), acknowledged once
//! committed. Requests pass the same guard as an upload (token, loopback
//! host, same origin), carry a JSON body (`Content-Type:
//! application/json`, which a page of another site cannot send without
//! asking first) of at most [`BODY_LIMIT`] bytes, and are bounded before
//! the store is touched: at most [`MAX_IDS`] assets, [`MAX_TAGS`] tags of
//! each kind, labels of at most [`MAX_LABEL_BYTES`] bytes as sent (the
//! engine then holds them to its own rules). Whatever is wrong with a
//! request is a 400 saying what.

use super::App;
use super::api::{
    ApiError, ApiResult, blocking, curations_of, engine_error, entry_json, hashes_and_curations,
    image_url, json_response, with_curation,
};
use crate::cli::curation::{collection_info_json, curation_json};
use crate::cli::json::hex;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use kiln::cull::CullBy;
use kiln::engine::{
    AssetId, CollectionPlace, ContentHash, CurationEdit, CurationError, EngineError, MAX_RATING,
    MAX_TAGS,
};
use kiln::plugin_api::THUMBNAIL_ARTIFACT;
use kiln::{Error, Kiln, SearchError};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value as Json, json};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

/// The most assets one request may name.
pub(crate) const MAX_IDS: usize = 10_000;
/// The largest request body, in bytes: room for [`MAX_IDS`] ids.
pub(crate) const BODY_LIMIT: usize = 256 << 10;
/// The longest tag or collection name accepted as sent, in bytes (the
/// engine allows 100 characters once spaces are folded).
const MAX_LABEL_BYTES: usize = 512;
/// The most members one page of a collection holds.
const MAX_PAGE: usize = 1000;
/// How many of a session a cull keeps when the request says nothing.
const DEFAULT_KEEP: usize = 3;
/// The most a cull may be asked to keep of a session.
const MAX_KEEP: usize = 1000;

/// The route of a POST endpoint that changes curation: its body held to
/// [`BODY_LIMIT`].
pub(crate) fn change<H, T>(handler: H) -> MethodRouter<Arc<App>>
where
    H: Handler<T, Arc<App>>,
    T: 'static,
{
    post(handler).layer(DefaultBodyLimit::max(BODY_LIMIT))
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// A request body read as `T`: JSON, said to be JSON (else 415), with no
/// field `T` does not have (else 400); over the route's limit, the 413 of
/// axum's body limit.
pub(crate) struct JsonRequest<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonRequest<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the request as JSON (Content-Type: application/json)",
            )
            .into_response());
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        serde_json::from_slice(&bytes)
            .map(JsonRequest)
            .map_err(|e| bad(format!("cannot read the request: {e}")).into_response())
    }
}

fn check_ids(ids: &[u64]) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Err(bad("name at least one asset in `ids`"));
    }
    if ids.len() > MAX_IDS {
        return Err(bad(format!(
            "{} assets in one request; at most {MAX_IDS}",
            ids.len()
        )));
    }
    Ok(())
}

fn check_label(text: &str, what: &str) -> Result<(), ApiError> {
    if text.len() > MAX_LABEL_BYTES {
        return Err(bad(format!(
            "a {what} of {} bytes; at most {MAX_LABEL_BYTES}",
            text.len()
        )));
    }
    Ok(())
}

fn check_tags(tags: &[String], what: &str) -> Result<(), ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(bad(format!(
            "{} tags in `{what}`; at most {MAX_TAGS}",
            tags.len()
        )));
    }
    tags.iter().try_for_each(|t| check_label(t, "tag"))
}

/// A refusal of the engine's (a bad label, no such collection) as a 400 or
/// 404; anything else is the server's own failure.
fn curation_error(e: EngineError) -> ApiError {
    match e {
        EngineError::Curation(e @ CurationError::NoSuchCollection(_)) => {
            ApiError::new(StatusCode::NOT_FOUND, e.to_string())
        }
        EngineError::Curation(e) => bad(format!("{e}; nothing was changed")),
        e => ApiError::internal("cannot store the change", e),
    }
}

/// The content hash of each asset named, once each, with the asset that
/// holds it; refuses the request when one is unknown or not hashed yet.
fn resolve(
    k: &Kiln,
    ids: &[u64],
) -> Result<Result<Vec<(AssetId, ContentHash)>, ApiError>, EngineError> {
    let engine = k.engine();
    let asked: Vec<AssetId> = ids.iter().copied().map(AssetId::new).collect();
    let hashes = engine.content_hashes(&asked)?;
    let mut out = Vec::with_capacity(asked.len());
    let mut seen = HashSet::new();
    for (id, hash) in asked.iter().zip(hashes) {
        let Some(hash) = hash else {
            return Ok(Err(bad(format!(
                "asset {id} is unknown or not hashed yet (curation is kept by content hash)"
            ))));
        };
        if seen.insert(hash) {
            out.push((*id, hash));
        }
    }
    Ok(Ok(out))
}

/// Each asset named with its curation now, for the page to show at once.
fn assets_now(k: &Kiln, ids: &[u64]) -> Result<Json, EngineError> {
    let asked: Vec<AssetId> = ids.iter().copied().map(AssetId::new).collect();
    let list = asked
        .iter()
        .zip(hashes_and_curations(k, &asked)?)
        .map(|(id, (hash, curation))| {
            let mut entry = curation_json(curation.as_ref());
            entry["id"] = json!(id);
            entry["hash"] = json!(hash.as_ref().map(|h| hex(h)));
            entry
        })
        .collect();
    Ok(Json::Array(list))
}

/// Looks the assets up and refuses the request when one cannot be curated.
async fn hashes_for(app: &Arc<App>, ids: Vec<u64>) -> Result<Vec<ContentHash>, ApiError> {
    let resolved = blocking(app, move |k| resolve(k, &ids))
        .await?
        .map_err(engine_error)??;
    Ok(resolved.into_iter().map(|(_, h)| h).collect())
}

async fn one_hash(app: &Arc<App>, id: u64) -> Result<ContentHash, ApiError> {
    hashes_for(app, vec![id])
        .await?
        .first()
        .copied()
        .ok_or_else(|| bad(format!("no asset {id}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CurateBody {
    ids: Vec<u64>,
    rating: Option<u8>,
    favorite: Option<bool>,
    #[serde(default)]
    add_tags: Vec<String>,
    #[serde(default)]
    remove_tags: Vec<String>,
}

/// `POST /api/curate` `{"ids": [...], "rating": 0-5, "favorite": bool,
/// "add_tags": [...], "remove_tags": [...]}`: one change to every asset
/// named, in one durable transaction. Answers how many changed and each
/// asset's curation after it.
pub(crate) async fn curate(
    State(app): State<Arc<App>>,
    JsonRequest(request): JsonRequest<CurateBody>,
) -> ApiResult {
    check_ids(&request.ids)?;
    check_tags(&request.add_tags, "add_tags")?;
    check_tags(&request.remove_tags, "remove_tags")?;
    if let Some(r) = request.rating
        && r > MAX_RATING
    {
        return Err(bad(format!(
            "rating {r} is out of range: give 0 (none) to {MAX_RATING}"
        )));
    }
    let edit = CurationEdit {
        rating: request.rating,
        favorite: request.favorite,
        add_tags: request.add_tags,
        remove_tags: request.remove_tags,
    };
    if edit.is_empty() {
        return Err(bad(
            "nothing to change: give `rating`, `favorite`, `add_tags` or `remove_tags`",
        ));
    }
    let hashes = hashes_for(&app, request.ids.clone()).await?;
    let changed = app
        .kiln
        .engine()
        .curate(hashes, edit)
        .await
        .map_err(curation_error)?;
    let ids = request.ids;
    let assets = blocking(&app, move |k| assets_now(k, &ids))
        .await?
        .map_err(engine_error)?;
    Ok(json_response(json!({"changed": changed, "assets": assets})))
}

/// The URL of the thumbnail of the asset holding `hash`, if any.
fn cover(k: &Kiln, hash: Option<&ContentHash>) -> Result<Option<String>, EngineError> {
    let Some(hash) = hash else {
        return Ok(None);
    };
    let Some(id) = k.engine().asset_by_hash(hash)? else {
        return Ok(None);
    };
    let entry = k.engine().browse_entries(&[id])?.pop().flatten();
    Ok(entry.and_then(|e| {
        e.thumbnail
            .as_deref()
            .map(|b| image_url(e.id, THUMBNAIL_ARTIFACT, b))
    }))
}

/// The page of a collection: `/collections?name=NAME` (a name in the
/// query, since a path would take `..` as a step up).
fn collection_url(name: &str) -> String {
    let mut out = String::from("/collections?name=");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A collection as `kiln collection list --json` has it, with its page.
fn collection_json(info: &kiln::engine::CollectionInfo) -> Json {
    let mut out = collection_info_json(info);
    out["url"] = json!(collection_url(&info.name));
    out
}

fn check_name(name: &str) -> Result<(), ApiError> {
    check_label(name, "collection name")
}

/// `GET /api/collections`: every collection by name, with its size, its
/// first member's thumbnail as a cover, and its page.
pub(crate) async fn collections(State(app): State<Arc<App>>) -> ApiResult {
    let list = blocking(&app, |k| {
        let mut out = Vec::new();
        for info in k.engine().collections()? {
            let first = k
                .engine()
                .collection(&info.name)?
                .and_then(|(_, members)| members.first().copied());
            let mut item = collection_json(&info);
            item["cover_url"] = json!(cover(k, first.as_ref())?);
            out.push(item);
        }
        Ok::<_, EngineError>(out)
    })
    .await?
    .map_err(engine_error)?;
    Ok(json_response(
        json!({"total": list.len(), "collections": list}),
    ))
}

#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    name: String,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /api/collection?name=NAME&limit=N&cursor=C`: the collection's members
/// in order, as gallery entries with their curation (`o<offset>` cursors).
/// A member whose content no asset holds now is counted in `missing`.
pub(crate) async fn collection(
    State(app): State<Arc<App>>,
    Query(page): Query<PageQuery>,
) -> ApiResult {
    let name = page.name;
    check_name(&name)?;
    let limit = page.limit.unwrap_or(200).clamp(1, MAX_PAGE);
    let offset = match page.cursor.as_deref() {
        None => 0,
        Some(c) => c
            .strip_prefix('o')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| bad("cursor: not one this server gave"))?,
    };
    let found = blocking(&app, move |k| {
        let Some((info, members)) = k.engine().collection(&name)? else {
            return Ok(None);
        };
        let slice = members.get(offset..).unwrap_or_default();
        let slice = &slice[..slice.len().min(limit)];
        // The held members, with the content each holds: their curation
        // is read by hash, with no second look at the asset records.
        let (hashes, holders): (Vec<ContentHash>, Vec<AssetId>) = slice
            .iter()
            .zip(k.engine().assets_by_hash(slice)?)
            .filter_map(|(hash, id)| Some((*hash, id?)))
            .unzip();
        let entries = k.engine().browse_entries(&holders)?;
        let curations = k
            .engine()
            .curations(&hashes)?
            .into_iter()
            .map(|c| curation_json(c.as_ref()));
        let assets: Vec<Json> = entries
            .iter()
            .zip(curations)
            .filter_map(|(e, c)| Some(with_curation(entry_json(e.as_ref()?), c)))
            .collect();
        let missing = slice.len() - assets.len();
        let end = offset + slice.len();
        let next = (end < members.len()).then(|| format!("o{end}"));
        Ok::<_, EngineError>(Some((info, assets, missing, next)))
    })
    .await?;
    let (info, assets, missing, next) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return Err(ApiError::not_found("there is no collection of this name")),
        Err(EngineError::Curation(e)) => return Err(bad(e.to_string())),
        Err(e) => return Err(engine_error(e)),
    };
    let mut out = collection_json(&info);
    out["total"] = json!(info.members);
    out["assets"] = Json::Array(assets);
    out["missing"] = json!(missing);
    out["next_cursor"] = json!(next);
    Ok(json_response(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MembersBody {
    name: String,
    ids: Vec<u64>,
    /// Create the collection when it does not exist (adding only).
    #[serde(default)]
    create: bool,
}

/// `POST /api/collection/add` `{"name": ..., "ids": [...], "create":
/// true}`: appends the assets (those already in it keep their place),
/// creating the collection first when asked.
pub(crate) async fn collection_add(
    State(app): State<Arc<App>>,
    JsonRequest(request): JsonRequest<MembersBody>,
) -> ApiResult {
    members_change(app, request, true).await
}

/// `POST /api/collection/remove` `{"name": ..., "ids": [...]}`.
pub(crate) async fn collection_remove(
    State(app): State<Arc<App>>,
    JsonRequest(request): JsonRequest<MembersBody>,
) -> ApiResult {
    members_change(app, request, false).await
}

async fn members_change(app: Arc<App>, request: MembersBody, adding: bool) -> ApiResult {
    let name = request.name;
    check_name(&name)?;
    check_ids(&request.ids)?;
    if !adding && request.create {
        return Err(bad("`create` is for adding"));
    }
    let hashes = hashes_for(&app, request.ids).await?;
    let engine = app.kiln.engine();
    let n = if adding {
        engine
            .add_to_collection(&name, hashes, request.create)
            .await
    } else {
        engine.remove_from_collection(&name, hashes).await
    }
    .map_err(curation_error)?;
    let info = blocking(&app, move |k| k.engine().collection(&name))
        .await?
        .map_err(engine_error)?;
    let mut out = json!({ if adding { "added" } else { "removed" }: n });
    if let Some((info, _)) = info {
        out["collection"] = collection_json(&info);
    }
    Ok(json_response(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveBody {
    name: String,
    ids: Vec<u64>,
    /// `"start"` or `"end"`, when neither `before` nor `after` is given.
    to: Option<String>,
    before: Option<u64>,
    after: Option<u64>,
}

/// `POST /api/collection/move` `{"name": ..., "ids": [...], "to":
/// "start"|"end"}` (or `"before": ID`, `"after": ID`): moves members, in
/// the order given, in one transaction.
pub(crate) async fn collection_move(
    State(app): State<Arc<App>>,
    JsonRequest(request): JsonRequest<MoveBody>,
) -> ApiResult {
    check_name(&request.name)?;
    check_ids(&request.ids)?;
    let place = match (request.to.as_deref(), request.before, request.after) {
        (Some("start"), None, None) => CollectionPlace::Start,
        (Some("end"), None, None) => CollectionPlace::End,
        (None, Some(id), None) => CollectionPlace::Before(one_hash(&app, id).await?),
        (None, None, Some(id)) => CollectionPlace::After(one_hash(&app, id).await?),
        _ => {
            return Err(bad(
                "give one place: `to` (\"start\" or \"end\"), `before` or `after`",
            ));
        }
    };
    let hashes = hashes_for(&app, request.ids).await?;
    let moved = app
        .kiln
        .engine()
        .move_in_collection(&request.name, hashes, place)
        .await
        .map_err(curation_error)?;
    Ok(json_response(json!({ "moved": moved })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenameBody {
    name: String,
    to: String,
}

/// `POST /api/collection/rename` `{"name": ..., "to": ...}`.
pub(crate) async fn collection_rename(
    State(app): State<Arc<App>>,
    JsonRequest(request): JsonRequest<RenameBody>,
) -> ApiResult {
    check_name(&request.name)?;
    check_name(&request.to)?;
    let info = app
        .kiln
        .engine()
        .rename_collection(&request.name, &request.to)
        .await
        .map_err(curation_error)?;
    Ok(json_response(
        json!({ "collection": collection_json(&info) }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NameBody {
    name: String,
}

/// `POST /api/collection/delete` `{"name": ...}`: the collection goes; its
/// members' assets and curation stay.
pub(crate) async fn collection_delete(
    State(app): State<Arc<App>>,
    JsonRequest(request): JsonRequest<NameBody>,
) -> ApiResult {
    check_name(&request.name)?;
    let members = app
        .kiln
        .engine()
        .delete_collection(&request.name)
        .await
        .map_err(curation_error)?;
    Ok(json_response(
        json!({ "deleted": request.name, "members": members }),
    ))
}

/// A session id as `kiln sessions` prints them: hex digits.
fn check_session(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad("session: not a session id"));
    }
    Ok(())
}

fn check_keep(keep: Option<usize>) -> Result<usize, ApiError> {
    match keep.unwrap_or(DEFAULT_KEEP) {
        n @ 1..=MAX_KEEP => Ok(n),
        n => Err(bad(format!("keep: {n} is not 1 to {MAX_KEEP}"))),
    }
}

/// What `kiln cull --per-session KEEP 'session:ID'` proposes for one
/// session: its kept and rejected assets with their scores, and those
/// without a score. `None` when no session has that id.
struct SessionCull {
    keep: Vec<(AssetId, f64)>,
    reject: Vec<(AssetId, f64)>,
    unjudged: Vec<AssetId>,
    family: String,
    size: usize,
}

fn plan_session(k: &Kiln, session: &str, keep: usize) -> Result<Option<SessionCull>, Error> {
    let Some(info) = k.sessions()?.into_iter().find(|s| s.id == session) else {
        return Ok(None);
    };
    let plan = k.cull(&format!("session:{session}"), CullBy::Session(keep))?;
    let (kept, reject) = match plan.groups.into_iter().find(|g| g.label == session) {
        Some(g) => (g.keep, g.reject),
        None => (Vec::new(), Vec::new()),
    };
    // A session with one judged asset keeps it, alone.
    let mut kept = kept;
    if kept.is_empty() && reject.is_empty() {
        kept = plan.alone.iter().map(|id| (*id, f64::NAN)).collect();
    }
    Ok(Some(SessionCull {
        keep: kept,
        reject,
        unjudged: plan.unjudged,
        family: info.family,
        size: info.assets.len(),
    }))
}

fn query_error(e: Error) -> ApiError {
    match e {
        Error::Index(SearchError::Query(e)) => bad(format!("cannot understand the query: {e}")),
        e => ApiError::internal("cannot plan the cull", e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct CullQuery {
    session: String,
    keep: Option<usize>,
}

/// `GET /api/cull?session=ID&keep=N`: the best N of the session by quality
/// score, the rest proposed as rejected (what `kiln cull --per-session N
/// 'session:ID'` shows), as gallery entries with scores and curation.
pub(crate) async fn cull(State(app): State<Arc<App>>, Query(q): Query<CullQuery>) -> ApiResult {
    check_session(&q.session)?;
    let keep = check_keep(q.keep)?;
    let session = q.session.clone();
    let found = blocking(&app, move |k| {
        let Some(plan) = plan_session(k, &session, keep)? else {
            return Ok(None);
        };
        let entries = |list: &[(AssetId, f64)]| -> Result<Vec<Json>, Error> {
            let ids: Vec<AssetId> = list.iter().map(|(id, _)| *id).collect();
            let found = k.engine().browse_entries(&ids)?;
            let curations = curations_of(k, &ids)?;
            Ok(list
                .iter()
                .zip(found)
                .zip(curations)
                .filter_map(|(((_, score), e), c)| {
                    let mut item = with_curation(entry_json(e.as_ref()?), c);
                    item["score"] = json!(score.is_finite().then_some(*score));
                    Some(item)
                })
                .collect())
        };
        let unjudged: Vec<(AssetId, f64)> =
            plan.unjudged.iter().map(|id| (*id, f64::NAN)).collect();
        Ok::<_, Error>(Some(json!({
            "session": session,
            "family": plan.family,
            "assets": plan.size,
            "keep_per_session": keep,
            "keep": entries(&plan.keep)?,
            "reject": entries(&plan.reject)?,
            "unjudged": entries(&unjudged)?,
        })))
    })
    .await?
    .map_err(query_error)?;
    match found {
        Some(body) => Ok(json_response(body)),
        None => Err(ApiError::not_found(format!("no session {}", q.session))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CullApplyBody {
    session: String,
    keep: Option<usize>,
    /// The ids the page showed as rejected: the cull is applied only when
    /// it still proposes exactly these.
    reject: Vec<u64>,
}

/// `POST /api/cull/apply` `{"session": ID, "keep": N, "reject": [...]}`:
/// tags the session's proposed rejects `rejected` in one change (never
/// deletes), as `kiln cull --apply` does. The plan is made again here; when
/// it no longer rejects exactly the assets the page showed (an asset
/// scored or curated since), nothing changes and the answer is 409.
pub(crate) async fn cull_apply(
    State(app): State<Arc<App>>,
    JsonRequest(request): JsonRequest<CullApplyBody>,
) -> ApiResult {
    check_session(&request.session)?;
    let keep = check_keep(request.keep)?;
    if request.reject.len() > MAX_IDS {
        return Err(bad(format!(
            "{} assets in one request; at most {MAX_IDS}",
            request.reject.len()
        )));
    }
    let session = request.session.clone();
    let plan = blocking(&app, move |k| plan_session(k, &session, keep))
        .await?
        .map_err(query_error)?
        .ok_or_else(|| ApiError::not_found(format!("no session {}", request.session)))?;
    let now: BTreeSet<u64> = plan.reject.iter().map(|(id, _)| id.get()).collect();
    let shown: BTreeSet<u64> = request.reject.iter().copied().collect();
    if now != shown {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the proposal changed since it was shown; look at it again",
        ));
    }
    if now.is_empty() {
        return Ok(json_response(json!({"rejected": 0, "changed": 0})));
    }
    let ids: Vec<u64> = now.into_iter().collect();
    let hashes = hashes_for(&app, ids.clone()).await?;
    let edit = CurationEdit {
        add_tags: vec![kiln::xmp::REJECTED_TAG.to_owned()],
        ..CurationEdit::default()
    };
    let changed = app
        .kiln
        .engine()
        .curate(hashes, edit)
        .await
        .map_err(curation_error)?;
    Ok(json_response(
        json!({"rejected": ids.len(), "changed": changed}),
    ))
}
