//! The progress publisher: a task that re-reads the counters after commits
//! (at most every 100 ms, and without a local commit after 100 ms plus four
//! idle-poll periods, so commits of other processes show too) and sends a
//! snapshot whenever it changed.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redb::{Database, ReadableDatabase};
use tokio::sync::watch;

use crate::store::damage;
use crate::views::progress::{Progress, RateWindow, snapshot};

/// Publishes snapshots until the engine closes.
pub(crate) async fn publish(
    db: Arc<Database>,
    file: PathBuf,
    commits: watch::Receiver<u64>,
    idle_poll: Duration,
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
        let _ = tokio::time::timeout(poll, commits.changed()).await;
    }
}
