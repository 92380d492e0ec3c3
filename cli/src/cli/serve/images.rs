//! Images by asset id: thumbnails and proxies from the store's blobs
//! (content-addressed, so cached for good), and the original file the
//! store recorded. No route takes a path: an id and an artifact name are
//! looked up, a blob name is only compared with the one recorded.

use super::App;
use super::api::{ApiError, ApiResult, blocking, image_url};
use super::guard::status_only;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::stream;
use kiln::engine::AssetId;
use kiln::plugin_api::{PROXY_ARTIFACT, THUMBNAIL_ARTIFACT};
use kiln::stages::thumbnail::SourceFormat;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// The media type of an image or video kiln takes in, by its first bytes
/// (the thumbnail stage's own reading of them).
pub(crate) fn sniff(head: &[u8]) -> Option<&'static str> {
    match SourceFormat::sniff(head).ok()? {
        SourceFormat::Png => Some("image/png"),
        SourceFormat::Jpeg => Some("image/jpeg"),
        SourceFormat::WebP => Some("image/webp"),
        SourceFormat::Gif => Some("image/gif"),
        SourceFormat::Mp4 => Some("video/mp4"),
        SourceFormat::Matroska if head.windows(4).any(|w| w == b"webm") => Some("video/webm"),
        SourceFormat::Matroska => Some("video/x-matroska"),
        _ => None,
    }
}

/// The first of an asset's paths that is still a regular file, opened, and
/// its path. Never waits on a FIFO put in place of an imported file; blocks
/// on the file system, so it runs on a blocking thread.
pub(crate) fn open_original(paths: &[String]) -> Option<(std::fs::File, PathBuf)> {
    paths.iter().find_map(|path| {
        let path = PathBuf::from(path);
        kiln::stages::file::open_regular(&path)
            .ok()
            .map(|f| (f, path))
    })
}

fn is_blob_name(text: &str) -> bool {
    !text.is_empty() && text.len() <= 128 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `GET /img/ID/ARTIFACT/BLOB`: the asset's thumbnail or proxy. A blob
/// name that is no longer the asset's (it was made again) redirects to the
/// current one.
pub(crate) async fn artifact(
    State(app): State<Arc<App>>,
    Path((id, artifact, blob)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "no such image");
    let id: AssetId = id.parse().map_err(|_| not_found())?;
    let artifact: &'static str = match artifact.as_str() {
        "thumbnail" => THUMBNAIL_ARTIFACT,
        "proxy" => PROXY_ARTIFACT,
        _ => return Err(not_found()),
    };
    if !is_blob_name(&blob) {
        return Err(not_found());
    }
    let entry = blocking(&app, move |k| k.engine().browse_entries(&[id]))
        .await?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .into_iter()
        .next()
        .flatten()
        .ok_or_else(not_found)?;
    let (current, file) = if artifact == THUMBNAIL_ARTIFACT {
        (entry.thumbnail, entry.thumbnail_file)
    } else {
        (entry.proxy, entry.proxy_file)
    };
    let (Some(current), Some(file)) = (current, file) else {
        return Err(not_found());
    };
    if current != blob {
        return Ok(Redirect::temporary(&image_url(id, artifact, &current)).into_response());
    }
    let tag = format!("\"{blob}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag))
    {
        let mut r = status_only(StatusCode::NOT_MODIFIED);
        if let Ok(v) = HeaderValue::from_str(&tag) {
            r.headers_mut().insert(header::ETAG, v);
        }
        return Ok(r);
    }
    let bytes = tokio::fs::read(&file).await.map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "the image's blob is missing: `kiln repair` makes it again",
        )
    })?;
    let kind = sniff(&bytes).unwrap_or("application/octet-stream");
    let mut r = ([(header::CONTENT_TYPE, kind)], bytes).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    Ok(r)
}

/// A file name for `Content-Disposition`, percent-encoded (RFC 5987), so
/// no byte of it can end the header or the quoted name.
fn disposition(name: &str) -> String {
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("inline; filename*=UTF-8''{encoded}")
}

/// `GET /original/ID`: the asset's file as imported (the first of its paths
/// that is still there), streamed.
pub(crate) async fn original(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "no such asset");
    let id: AssetId = id.parse().map_err(|_| not_found())?;
    let detail = blocking(&app, move |k| k.engine().asset(id))
        .await?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .ok_or_else(not_found)?;
    let opened = tokio::task::spawn_blocking(move || open_original(&detail.paths))
        .await
        .ok()
        .flatten();
    let Some((file, path)) = opened else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("asset {id}'s file is missing from where it was imported"),
        ));
    };
    let mut file = tokio::fs::File::from_std(file);
    let mut head = vec![0u8; 16];
    let n = file.read(&mut head).await.unwrap_or(0);
    head.truncate(n);
    let kind = sniff(&head).unwrap_or("application/octet-stream");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let body = stream::unfold((Some(head), Some(file)), |(first, file)| async move {
        if let Some(first) = first.filter(|f| !f.is_empty()) {
            return Some((Ok::<_, std::io::Error>(first), (None, file)));
        }
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), (None, Some(file))))
            }
            // The error ends the response; nothing more is read.
            Err(e) => Some((Err(e), (None, None))),
        }
    });
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&disposition(&name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}
