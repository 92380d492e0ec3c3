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
use tokio::io::{AsyncReadExt, AsyncSeekExt};

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

/// The bytes a `Range` header asks for, first and last inclusive, in a file
/// of `len` bytes: `Ok(None)` for the whole file (no header, or one this
/// does not serve piecewise, such as several ranges), `Err(())` for a range
/// outside the file.
fn byte_range(header: Option<&HeaderValue>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let number = |t: &str| t.trim().parse::<u64>().ok();
    let (first, last) = match (first.trim().is_empty(), last.trim().is_empty()) {
        // The last n bytes.
        (true, false) => {
            let n = number(last).ok_or(())?;
            if n == 0 || len == 0 {
                return Err(());
            }
            (len.saturating_sub(n), len - 1)
        }
        (false, true) => (number(first).ok_or(())?, len.saturating_sub(1)),
        (false, false) => {
            let (a, b) = (number(first).ok_or(())?, number(last).ok_or(())?);
            (a, b.min(len.saturating_sub(1)))
        }
        (true, true) => return Ok(None),
    };
    if first >= len || first > last {
        return Err(());
    }
    Ok(Some((first, last)))
}

/// `GET /original/ID`: the asset's file as imported (the first of its paths
/// that is still there), streamed; a single byte range when asked (a video
/// element seeks with them).
pub(crate) async fn original(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "no such asset");
    let id: AssetId = id.parse().map_err(|_| not_found())?;
    let detail = blocking(&app, move |k| k.engine().asset(id))
        .await?
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .ok_or_else(not_found)?;
    let opened = tokio::task::spawn_blocking(move || {
        open_original(&detail.paths).map(|(file, path)| {
            let len = file.metadata().map_or(0, |m| m.len());
            (file, path, len)
        })
    })
    .await
    .ok()
    .flatten();
    let Some((file, path, len)) = opened else {
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
    let range = match byte_range(headers.get(header::RANGE), len) {
        Ok(range) => range,
        Err(()) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
    };
    // What is sent: the head already read and the rest of the file, or the
    // range's bytes read from its start.
    let (first, remaining) = match range {
        Some((first, last)) => {
            file.seek(std::io::SeekFrom::Start(first))
                .await
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            (Vec::new(), last - first + 1)
        }
        None => (head, u64::MAX),
    };
    let start = (Some(first), Some(file), remaining);
    let body = stream::unfold(start, |(first, file, remaining)| async move {
        if let Some(first) = first.filter(|f| !f.is_empty()) {
            return Some((Ok::<_, std::io::Error>(first), (None, file, remaining)));
        }
        let mut file = file?;
        let want = remaining.min(64 * 1024) as usize;
        if want == 0 {
            return None;
        }
        let mut buf = vec![0u8; want];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(buf), (None, Some(file), remaining - n as u64)))
            }
            // The error ends the response; nothing more is read.
            Err(e) => Some((Err(e), (None, None, 0))),
        }
    });
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&disposition(&name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some((first, last)) = range {
        let sent = HeaderValue::from_str(&format!("bytes {first}-{last}/{len}"));
        if let Ok(v) = sent {
            h.insert(header::CONTENT_RANGE, v);
        }
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(last - first + 1));
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(r)
}

#[cfg(test)]
mod range_tests {
    use super::byte_range;
    use axum::http::HeaderValue;

    fn range(text: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
        byte_range(Some(&HeaderValue::from_str(text).expect("header")), len)
    }

    #[test]
    fn ranges_are_read_as_a_video_element_sends_them() {
        assert_eq!(byte_range(None, 100), Ok(None));
        assert_eq!(range("bytes=0-", 100), Ok(Some((0, 99))));
        assert_eq!(range("bytes=10-19", 100), Ok(Some((10, 19))));
        assert_eq!(range("bytes=90-500", 100), Ok(Some((90, 99))));
        assert_eq!(range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(range("bytes=-500", 100), Ok(Some((0, 99))));
        assert_eq!(range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(range("items=0-1", 100), Ok(None));
        assert_eq!(range("bytes=100-", 100), Err(()));
        assert_eq!(range("bytes=20-10", 100), Err(()));
        assert_eq!(range("bytes=-0", 100), Err(()));
        assert_eq!(range("bytes=x-", 100), Err(()));
        assert_eq!(range("bytes=0-", 0), Err(()));
    }
}
