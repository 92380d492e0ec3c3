//! The progress publisher: a task that re-reads the counters after commits
//! (at most every 100 ms) and sends a snapshot whenever it changed. Commits
//! of other processes reach it through the store's doorbell while this
//! process's scheduler listens on it; otherwise it also looks every four
//! idle-poll periods. Idle, it sleeps until the next commit.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redb::{Database, ReadableDatabase};
use tokio::sync::watch;

use crate::runtime::doorbell::Listening;
use crate::store::damage;
use crate::views::progress::{Progress, RateWindow, snapshot};

/// Publishes snapshots until the engine closes.
pub(crate) async fn publish(
    db: Arc<Database>,
    file: PathBuf,
    commits: watch::Receiver<u64>,
    idle_poll: Duration,
    listening: Arc<Listening>,
    closing: Arc<AtomicBool>,
    sender: watch::Sender<Progress>,
) {
    let mut commits = commits;
    let mut window = RateWindow::default();
    let poll = idle_poll.max(Duration::from_millis(20)) * 4;
    loop {
        if closing.load(Ordering::SeqCst) {
            return;
        }
        let read = || {
            db.begin_read()
                .ok()
                .and_then(|txn| snapshot(&txn, &mut window))
        };
        if let Ok(Some(progress)) = damage::catch(&file, read) {
            sender.send_if_modified(|current| {
                if *current == progress {
                    false
                } else {
                    *current = progress;
                    true
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if listening.get() {
            if commits.changed().await.is_err() {
                return;
            }
        } else {
            let _ = tokio::time::timeout(poll, commits.changed()).await;
        }
    }
}
