//! `POST /api/upload`: files dropped on the page or chosen with its file
//! picker, saved under the upload folder and imported at interactive
//! priority, so they are browsable at once even during a batch import.
//!
//! Each file is written to a hidden temporary name (which no walk or watch
//! takes in), checked to be a supported image by its content and its size,
//! made durable, and only then given its final name, by a hard link that
//! fails rather than replace a file already there. A client that goes away
//! mid-upload leaves nothing behind: the temporary file is removed and no
//! import is made for it. Files it sent whole before it went are imported
//! all the same, even when the request is dropped while they are handed to
//! the engine ([`Unsubmitted`]).

use super::App;
use super::api::{ApiError, ApiResult};
use super::guard::new_token;
use super::images::sniff;
use axum::Json as JsonBody;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use kiln::engine::{EngineError, ImportId, Priority};
use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// The longest file name kept, in bytes (a name is cut at a character
/// boundary, its extension kept).
const MAX_NAME: usize = 120;

/// A name safe to create in the upload folder: the last component of what
/// the browser sent, without control characters or separators, not hidden
/// (a hidden name would never be imported), never empty.
pub(crate) fn sanitize(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut clean: String = last
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    clean = clean.trim().trim_start_matches('.').to_owned();
    if clean.len() > MAX_NAME {
        let (stem, ext) = split_ext(&clean);
        let ext = if ext.len() <= 16 { ext } else { "" };
        let mut cut = MAX_NAME.saturating_sub(ext.len());
        while !stem.is_char_boundary(cut.min(stem.len())) {
            cut -= 1;
        }
        clean = format!("{}{ext}", &stem[..cut.min(stem.len())]);
    }
    // A name the store would pass over as a temporary file gets a
    // different ending.
    if kiln::engine::is_ignored(&clean) {
        clean.push_str(".upload");
    }
    if clean.is_empty() {
        clean = "upload".to_owned();
    }
    clean
}

/// `name.png` → (`name`, `.png`); no extension → (`name`, ``).
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
}

/// Gives `temp` the name `name` in `dir`, or `name (2)`, `name (3)`, … when
/// taken; never replaces a file.
fn place(temp: &Path, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    let (stem, ext) = split_ext(name);
    for n in 1..10_000u32 {
        let candidate = if n == 1 {
            dir.join(name)
        } else {
            dir.join(format!("{stem} ({n}){ext}"))
        };
        match std::fs::hard_link(temp, &candidate) {
            Ok(()) => {
                let _ = std::fs::remove_file(temp);
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("too many files of this name"))
}

/// Removes the temporary file when dropped unless it was placed: every
/// early return (a refused file, a client gone mid-upload) cleans up.
struct Temp(Option<PathBuf>);

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Why one file was refused.
struct Refused(StatusCode, String);

async fn save_one(
    app: &App,
    field: &mut axum::extract::multipart::Field<'_>,
    name: &str,
) -> Result<(PathBuf, u64), Refused> {
    let dir = &app.upload_dir;
    tokio::fs::create_dir_all(dir).await.map_err(|e| {
        Refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    let suffix =
        new_token().map_err(|e| Refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let temp_path = dir.join(format!(".kiln-upload-{suffix}.part"));
    let mut temp = Temp(Some(temp_path.clone()));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp_path)
        .await
        .map_err(|e| {
            Refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot write: {e}"),
            )
        })?;
    let mut size = 0u64;
    let mut head: Vec<u8> = Vec::new();
    loop {
        let chunk = match field.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                return Err(Refused(
                    StatusCode::BAD_REQUEST,
                    format!("the upload ended early: {e}"),
                ));
            }
        };
        size += chunk.len() as u64;
        if size > app.max_upload {
            return Err(Refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("larger than the upload limit of {} bytes", app.max_upload),
            ));
        }
        if head.len() < 16 {
            head.extend(chunk.iter().take(16 - head.len()));
        }
        file.write_all(&chunk).await.map_err(|e| {
            Refused(
                StatusCode::INSUFFICIENT_STORAGE,
                format!("cannot write: {e}"),
            )
        })?;
    }
    if sniff(&head).is_none() {
        return Err(Refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not a supported image or video (PNG, JPEG, WebP, GIF, MP4 or WebM by its content)"
                .to_owned(),
        ));
    }
    file.sync_all().await.map_err(|e| {
        Refused(
            StatusCode::INSUFFICIENT_STORAGE,
            format!("cannot write: {e}"),
        )
    })?;
    drop(file);
    // Placed without an await in between, so that the caller records the
    // file in the same step: a request dropped here cannot lose it. A
    // placement is a few link and unlink calls.
    let placed = place(&temp_path, dir, name).map_err(|e| {
        Refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot save: {e}"),
        )
    })?;
    temp.0 = None;
    Ok((placed, size))
}

/// Files saved under their final names and not handed to the engine yet.
/// Dropped with files in it — the request was dropped, its client gone,
/// after they were saved whole — it submits them from a task of its own,
/// so a file kept in the upload folder is always imported.
struct Unsubmitted {
    app: Arc<App>,
    paths: Vec<PathBuf>,
}

impl Unsubmitted {
    async fn submit(&mut self) -> Result<Option<ImportId>, EngineError> {
        if self.paths.is_empty() {
            return Ok(None);
        }
        let id = submit(&self.app, &self.paths).await?;
        // Only now: dropped during the call, the files are submitted again
        // (a file already taken in is a no-op the second time).
        self.paths.clear();
        Ok(Some(id))
    }
}

async fn submit(app: &App, paths: &[PathBuf]) -> Result<ImportId, EngineError> {
    app.kiln
        .engine()
        .submit_files(&app.upload_dir, paths, Priority::Interactive)
        .await
}

impl Drop for Unsubmitted {
    fn drop(&mut self) {
        if self.paths.is_empty() {
            return;
        }
        let paths = std::mem::take(&mut self.paths);
        let app = self.app.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = submit(&app, &paths).await {
                    eprintln!(
                        "kiln serve: {} uploaded files were saved but not imported: {e}",
                        paths.len()
                    );
                }
            });
        }
    }
}

pub(crate) async fn upload(State(app): State<Arc<App>>, mut multipart: Multipart) -> ApiResult {
    let mut saved: Vec<(PathBuf, u64, String)> = Vec::new();
    let mut pending = Unsubmitted {
        app: app.clone(),
        paths: Vec::new(),
    };
    let mut errors: Vec<Json> = Vec::new();
    let mut worst = StatusCode::BAD_REQUEST;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                // The request broke off (or is malformed): what was saved
                // whole is kept, the rest is gone with its temporary file.
                errors.push(json!({"name": null, "error": format!("the upload ended early: {e}")}));
                break;
            }
        };
        let Some(sent) = field.file_name().map(str::to_owned) else {
            continue;
        };
        let name = sanitize(&sent);
        match save_one(&app, &mut field, &name).await {
            Ok((path, size)) => {
                pending.paths.push(path.clone());
                saved.push((path, size, sent));
            }
            Err(Refused(status, why)) => {
                worst = status;
                errors.push(json!({"name": sent, "error": why}));
            }
        }
    }
    let import = pending.submit().await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("saved, but not imported: {e}"),
        )
    })?;
    let files: Vec<Json> = saved
        .iter()
        .map(|(path, size, sent)| {
            json!({
                "name": sent,
                "saved_as": path.display().to_string(),
                "size": size,
            })
        })
        .collect();
    let status = if saved.is_empty() {
        worst
    } else {
        StatusCode::OK
    };
    let status = if saved.is_empty() && errors.is_empty() {
        errors.push(json!({"name": null, "error": "no file in the request"}));
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    Ok((
        status,
        JsonBody(json!({"import": import, "saved": files, "errors": errors})),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn names_are_made_safe() {
        assert_eq!(sanitize("cat.png"), "cat.png");
        assert_eq!(sanitize("../../etc/passwd"), "passwd");
        assert_eq!(sanitize("a\\b\\..\\c.png"), "c.png");
        assert_eq!(sanitize(".hidden.png"), "hidden.png");
        assert_eq!(sanitize("x\u{0}y\ny.png"), "x_y_y.png");
        assert_eq!(sanitize(""), "upload");
        assert_eq!(sanitize(".."), "upload");
        assert_eq!(sanitize("a.tmp"), "a.tmp.upload");
        assert_eq!(sanitize("b.PART"), "b.PART.upload");
        let long = format!("{}.png", "é".repeat(200));
        let s = sanitize(&long);
        assert!(s.len() <= 120 && s.ends_with(".png"), "{s}");
    }
}
