//! `kiln serve`: the store in a browser, and the JSON API under it.
//!
//! One process opens the store as `kiln watch` does (the primary runs the
//! workers; otherwise it serves as a client and takes over when the
//! primary goes away), watches the folders given, and answers HTTP on a
//! loopback address unless told otherwise. The page is a shell
//! (`static/index.html`) and one script (`static/app.js`) that builds
//! every view from the JSON API with DOM text nodes, so nothing read from
//! a file is ever parsed as HTML; a Content-Security-Policy forbids inline
//! script besides. Images are served by asset id only, from the store's
//! blobs and the files it recorded: no route takes a path.

mod api;
mod curate;
mod events;
mod guard;
mod images;
mod metrics;
mod upload;

use super::args::{GlobalArgs, PriorityArg, ServeArgs, WatchArgs};
use super::signals::{Stop, stop_requested};
use super::terminal::{eprint_line, print_line};
use super::{EXIT_ERROR, watch};
use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use kiln::Kiln;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch as channel;

/// How long a stopping server waits for open requests to end, and then for
/// their connections to let go of the store, before it stops without them.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// How many bytes of files the page puts in one upload request at most
/// (`upload` in `static/app.js`), unless a single file is larger.
const PAGE_REQUEST_BYTES: usize = 64 << 20;

/// What every request handler shares.
pub(crate) struct App {
    pub(crate) kiln: Kiln,
    /// Where uploads are saved: the first watched folder, or
    /// `<store>/uploads`.
    pub(crate) upload_dir: PathBuf,
    /// The largest upload accepted, in bytes.
    pub(crate) max_upload: u64,
    /// Required on every request when set (a non-loopback address).
    pub(crate) token: Option<String>,
    /// The `Host` values a request may carry when no token is required
    /// (loopback names with the port), so another site's page cannot reach
    /// the API through a name that resolves to 127.0.0.1.
    pub(crate) hosts: Vec<String>,
    /// Changes whenever the engine publishes progress; its value counts
    /// the changes.
    pub(crate) generation: channel::Receiver<u64>,
    /// Turns true when the server stops, so event streams end.
    pub(crate) stopping: channel::Receiver<bool>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("store", &self.kiln.engine().store_dir())
            .finish_non_exhaustive()
    }
}

/// Runs `kiln serve` until a stop signal.
pub(crate) async fn serve(
    kiln: Kiln,
    global: &GlobalArgs,
    args: &ServeArgs,
) -> anyhow::Result<i32> {
    let listen: SocketAddr = args.listen;
    let token = match (&args.token, listen.ip().is_loopback()) {
        (Some(t), _) if t.len() < 16 => {
            eprint_line!("kiln: --token must be at least 16 characters");
            return Ok(EXIT_ERROR);
        }
        // It travels in an address, a cookie and a header as it is.
        (Some(t), _)
            if !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)) =>
        {
            eprint_line!(
                "kiln: --token may hold only letters, digits and - . _ ~ (it is sent in the address and a cookie)"
            );
            return Ok(EXIT_ERROR);
        }
        (Some(t), _) => Some(t.clone()),
        (None, true) => None,
        (None, false) => Some(guard::new_token()?),
    };
    let upload_dir = match args.dirs.first() {
        Some(dir) => std::fs::canonicalize(dir)
            .with_context(|| format!("{}: no such folder", dir.display()))?,
        None => kiln.engine().store_dir().join("uploads"),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let hosts = guard::loopback_hosts(bound);
    let (stop_tx, stopping) = channel::channel(false);
    let generation = events::follow_progress(kiln.engine(), stopping.clone());
    let app = Arc::new(App {
        kiln,
        upload_dir,
        max_upload: args.max_upload,
        token,
        hosts,
        generation,
        stopping: stopping.clone(),
    });
    let router = routes(app.clone());
    let host = if bound.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else if bound.is_ipv6() {
        format!("[{}]", bound.ip())
    } else {
        bound.ip().to_string()
    };
    match &app.token {
        Some(token) => print_line!("http://{host}:{}/?token={token}", bound.port()),
        None => print_line!("http://{host}:{}/", bound.port()),
    }
    if !global.quiet {
        eprint_line!(
            "kiln: serving {} on {bound}; uploads go to {}; Ctrl-C stops",
            app.kiln.engine().store_dir().display(),
            app.upload_dir.display()
        );
    }
    let mut stop_rx = stopping.clone();
    let server =
        axum::serve(listener, router.into_make_service()).with_graceful_shutdown(async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        });
    let server = tokio::spawn(async move { server.await });
    let stopped_by = run_engine(&app, global, args).await;
    let _ = stop_tx.send(true);
    let abort = server.abort_handle();
    match tokio::time::timeout(STOP_GRACE, server).await {
        Ok(Ok(Ok(()))) => {}
        Err(_) => abort.abort(),
        Ok(Ok(Err(e))) => eprint_line!("kiln: the web server failed: {e}"),
        Ok(Err(e)) => eprint_line!("kiln: the web server failed: {e}"),
    }
    // Connections still being closed hold the shared state a moment longer.
    let deadline = tokio::time::Instant::now() + STOP_GRACE;
    while Arc::strong_count(&app) > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let code = match stopped_by {
        Ok(Some(stop)) => stop.exit_code(),
        Ok(None) => EXIT_ERROR,
        Err(e) => return Err(e),
    };
    match Arc::try_unwrap(app) {
        Ok(app) => app.kiln.shutdown().await?,
        Err(app) => {
            // A request that would not end: stop the workers; the index
            // catches up with what it missed on the next open.
            app.kiln.engine().shutdown().await;
            eprint_line!(
                "kiln: a request was still open at the stop; the search index catches up when the store is opened next"
            );
        }
    }
    Ok(code)
}

/// Runs the workers (or watches the folders, which runs them) until a stop
/// signal; returns which.
async fn run_engine(
    app: &App,
    global: &GlobalArgs,
    args: &ServeArgs,
) -> anyhow::Result<Option<Stop>> {
    let engine = app.kiln.engine();
    if !args.dirs.is_empty() {
        let watch_args = WatchArgs {
            dirs: args.dirs.clone(),
            priority: PriorityArg::Interactive,
        };
        return watch::watch_until_stopped(engine, global, &watch_args).await;
    }
    let stop = stop_requested();
    tokio::pin!(stop);
    let mut started = false;
    let mut told = false;
    loop {
        if !started && engine.try_promote().await? {
            engine.start().await?;
            started = true;
            if told && !global.quiet {
                eprint_line!("kiln: the other process is gone; this server now runs the workers");
            }
        }
        if !started && !told {
            told = true;
            if !global.quiet {
                eprint_line!(
                    "kiln: another kiln process runs this store's workers; serving as its client"
                );
            }
        }
        if started {
            let stop = (&mut stop).await;
            engine.shutdown().await;
            return Ok(Some(stop));
        }
        // Another process is the primary: look again now and then, and
        // take over its work when it is gone.
        tokio::select! {
            stop = &mut stop => return Ok(Some(stop)),
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}

fn routes(app: Arc<App>) -> Router {
    // One request may carry one file up to the limit, or several smaller
    // ones together up to what the page puts in one request; each file is
    // held to the limit on its own as it is saved.
    let body_limit = usize::try_from(app.max_upload)
        .unwrap_or(usize::MAX)
        .max(PAGE_REQUEST_BYTES)
        .saturating_add(1 << 20);
    let pages = get(api::page);
    Router::new()
        .route("/", pages.clone())
        .route("/asset/{id}", get(api::asset_page))
        .route("/status", pages.clone())
        .route("/failed", pages.clone())
        .route("/sessions", pages.clone())
        .route("/sessions/{id}", pages.clone())
        .route("/collections", pages)
        .route("/static/{file}", get(api::static_file))
        .route("/api/status", get(api::status))
        .route("/api/progress", get(api::progress))
        .route("/api/metrics", get(api::metrics_json))
        .route("/api/assets", get(api::assets))
        .route("/api/assets/{id}", get(api::asset))
        .route("/api/assets/{id}/workflow", get(api::workflow))
        .route("/api/assets/{id}/prompt", get(api::api_prompt))
        .route("/api/similar/{id}", get(api::similar))
        .route("/api/sessions", get(api::sessions))
        .route("/api/curate", curate::change(curate::curate))
        .route("/api/collections", get(curate::collections))
        .route("/api/collection", get(curate::collection))
        .route(
            "/api/collection/add",
            curate::change(curate::collection_add),
        )
        .route(
            "/api/collection/remove",
            curate::change(curate::collection_remove),
        )
        .route(
            "/api/collection/move",
            curate::change(curate::collection_move),
        )
        .route(
            "/api/collection/rename",
            curate::change(curate::collection_rename),
        )
        .route(
            "/api/collection/delete",
            curate::change(curate::collection_delete),
        )
        .route("/api/cull", get(curate::cull))
        .route("/api/cull/apply", curate::change(curate::cull_apply))
        .route("/api/dead", get(api::dead))
        .route("/api/dead/{id}/retry", post(api::dead_retry))
        .route("/api/dead/retry-all", post(api::dead_retry_all))
        .route("/api/dead/purge", post(api::dead_purge))
        .route(
            "/api/upload",
            post(upload::upload).layer(DefaultBodyLimit::max(body_limit)),
        )
        .route("/api/events", get(events::events))
        .route("/img/{id}/{artifact}/{blob}", get(images::artifact))
        .route("/original/{id}", get(images::original))
        .route("/metrics", get(metrics::prometheus))
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::guard,
        ))
        .with_state(app)
}
