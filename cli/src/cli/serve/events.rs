//! The event stream (`/api/events`, server-sent events): the engine's
//! progress, pushed as it changes and coalesced, so a 500-file import sends
//! a few messages a second, not one per job; nothing at all while the store
//! is idle.

use super::App;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use kiln::engine::{Engine, ImportState, Progress, Tier, TierProgress};
use serde_json::{Value as Json, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// At most one progress message per this interval per client.
const COALESCE: Duration = Duration::from_millis(400);

/// Counts the engine's progress publications; the count changes exactly
/// when progress does. Ends with the server.
pub(crate) fn follow_progress(
    engine: &Engine,
    mut stopping: watch::Receiver<bool>,
) -> watch::Receiver<u64> {
    let mut progress = engine.subscribe();
    let (tx, rx) = watch::channel(0u64);
    tokio::spawn(async move {
        let mut count = 0u64;
        loop {
            tokio::select! {
                changed = progress.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    count += 1;
                    if tx.send(count).is_err() {
                        return;
                    }
                }
                _ = stopping.wait_for(|s| *s) => return,
            }
        }
    });
    rx
}

fn tier_json(p: &TierProgress) -> Json {
    json!({
        "total": p.total,
        "done": p.done,
        "running": p.running,
        "retrying": p.retrying,
        "dead": p.dead,
        "rate": if p.rate.is_finite() { p.rate } else { 0.0 },
        "eta_seconds": p.eta.map(|d| d.as_secs()),
    })
}

fn tiers_json(tiers: &std::collections::BTreeMap<Tier, TierProgress>) -> Json {
    let map: serde_json::Map<String, Json> = Tier::ALL
        .into_iter()
        .map(|t| {
            let p = tiers.get(&t).copied().unwrap_or_default();
            (t.name().to_owned(), tier_json(&p))
        })
        .collect();
    Json::Object(map)
}

/// Progress as the page reads it: totals per tier, and every import that
/// is not done (with the last few done ones, so a finished import's bars
/// can show it finished).
pub(crate) fn progress_json(progress: &Progress, generation: u64) -> Json {
    let mut shown: Vec<&kiln::engine::ImportProgress> = progress
        .imports
        .iter()
        .filter(|i| i.state != ImportState::Done)
        .collect();
    let done: Vec<_> = progress
        .imports
        .iter()
        .filter(|i| i.state == ImportState::Done)
        .collect();
    shown.extend(done.iter().rev().take(3).rev());
    shown.sort_by_key(|i| i.id);
    let imports: Vec<Json> = shown
        .iter()
        .map(|i| {
            json!({
                "id": i.id,
                "root": i.root,
                "priority": i.priority.name(),
                "state": i.state.name(),
                "files_seen": i.files_seen,
                "tiers": tiers_json(&i.tiers),
            })
        })
        .collect();
    json!({
        "generation": generation,
        "tiers": tiers_json(&progress.tiers),
        "imports": imports,
    })
}

/// What one client's stream holds between messages.
struct Follow {
    app: Arc<App>,
    progress: watch::Receiver<Progress>,
    generation: watch::Receiver<u64>,
    stopping: watch::Receiver<bool>,
    first: bool,
    /// When the last message went out.
    sent: tokio::time::Instant,
}

pub(crate) async fn events(
    State(app): State<Arc<App>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let follow = Follow {
        progress: app.kiln.engine().subscribe(),
        generation: app.generation.clone(),
        stopping: app.stopping.clone(),
        app,
        first: true,
        sent: tokio::time::Instant::now(),
    };
    let stream = stream::unfold(follow, |mut f| async move {
        if f.first {
            f.first = false;
        } else {
            tokio::select! {
                changed = f.generation.changed() => changed.ok()?,
                _ = f.stopping.wait_for(|s| *s) => return None,
            }
            // At most one message per COALESCE: a change right after a
            // message waits out the rest of it, and the changes of that
            // moment join it; a change after a quiet spell goes at once.
            tokio::select! {
                _ = tokio::time::sleep_until(f.sent + COALESCE) => {}
                _ = f.stopping.wait_for(|s| *s) => return None,
            }
        }
        if *f.stopping.borrow() {
            return None;
        }
        let generation = *f.generation.borrow_and_update();
        let snapshot = f.progress.borrow_and_update().clone();
        let mut body = progress_json(&snapshot, generation);
        if let Some(count) = super::api::browsable_count(&f.app).await
            && let Some(object) = body.as_object_mut()
        {
            object.insert("browsable".to_owned(), json!(count));
        }
        let event = Event::default().event("progress").data(body.to_string());
        f.sent = tokio::time::Instant::now();
        Some((Ok(event), f))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(20)))
}
