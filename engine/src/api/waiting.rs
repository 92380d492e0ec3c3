//! Waiting for the engine to reach a state, and following its progress.

use std::sync::atomic::Ordering;
use std::time::Duration;

use redb::ReadTransaction;
use tokio::sync::watch;

use super::Engine;
use crate::error::EngineError;
use crate::model::Until;
use crate::runtime::progress::publish;
use crate::views::progress::{self, Progress, RateWindow};
use crate::views::status::{self, ImportState};

impl Engine {
    /// Whether `until` holds now. Waiting for given imports waits for the
    /// imports they resumed too: an import that found a file unchanged
    /// whose jobs an earlier import (interrupted, say) still had queued
    /// depends on that import.
    pub fn reached(&self, until: &Until) -> Result<bool, EngineError> {
        self.inner.view(|txn| self.reached_in(txn, until))
    }

    fn reached_in(&self, txn: &ReadTransaction, until: &Until) -> Result<bool, EngineError> {
        let imports = status::imports(txn)?;
        Ok(match until {
            Until::Idle => {
                !self.inner.walks.any_running()
                    && imports.iter().all(|i| {
                        i.state != ImportState::Walking
                            && i.tiers.values().all(|c| c.pending() == 0)
                    })
            }
            Until::Tier {
                tier,
                imports: wanted,
            } => {
                let wanted = wanted
                    .as_deref()
                    .map(|w| status::with_resumed(txn, w))
                    .transpose()?;
                imports
                    .iter()
                    .filter(|i| wanted.as_ref().is_none_or(|w| w.contains(&i.id)))
                    .all(|i| {
                        i.state != ImportState::Walking
                            && i.tiers
                                .iter()
                                .filter(|(t, _)| *t <= tier)
                                .all(|(_, c)| c.pending() == 0)
                    })
            }
        })
    }

    /// Waits until `until` holds. Works on a client handle too: it waits for
    /// the primary of another process to do the work.
    pub async fn wait_until(&self, until: Until) -> Result<(), EngineError> {
        let mut commits = self.inner.writer.commits.subscribe();
        let poll = self.inner.config.idle_poll.max(Duration::from_millis(5));
        loop {
            if let Some(condition) = self.inner.halt.current() {
                return Err(condition);
            }
            if self.reached(&until)? {
                return Ok(());
            }
            let _ = tokio::time::timeout(poll, commits.changed()).await;
        }
    }

    /// Runs the workers until `until` holds, then stops them (see
    /// [`Engine::stop`]). On a client handle it waits for the primary of
    /// another process to do the work, and becomes the primary itself (see
    /// [`Engine::try_promote`]) if that process exits first.
    pub async fn run_until(&self, until: Until) -> Result<(), EngineError> {
        if !self.is_primary() {
            // Wait for the primary, and take over if it goes away first.
            let mut commits = self.inner.writer.commits.subscribe();
            let poll = self.inner.config.idle_poll.max(Duration::from_millis(5));
            loop {
                if self.reached(&until)? {
                    return Ok(());
                }
                if self.try_promote().await? {
                    break;
                }
                let _ = tokio::time::timeout(poll, commits.changed()).await;
            }
        }
        self.start().await?;
        let result = self.wait_until(until).await;
        self.stop().await;
        result
    }

    pub(super) fn ensure_publisher(&self) {
        let inner = &self.inner;
        if inner.publishing.swap(true, Ordering::SeqCst) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(publish(
                    inner.store.db.clone(),
                    inner.store.database_file().to_path_buf(),
                    inner.writer.commits.subscribe(),
                    inner.config.idle_poll,
                    inner.listening.clone(),
                    inner.closing.clone(),
                    inner.progress.clone(),
                ));
            }
            Err(_) => inner.publishing.store(false, Ordering::SeqCst),
        }
    }

    /// Progress per import and per tier, updated as commits land (including
    /// commits of other processes). Must be called inside a tokio runtime for
    /// updates to flow.
    pub fn subscribe(&self) -> watch::Receiver<Progress> {
        self.ensure_publisher();
        self.inner.progress.subscribe()
    }

    /// One progress snapshot, read now (rates are zero).
    pub fn progress(&self) -> Result<Progress, EngineError> {
        let mut window = RateWindow::default();
        self.inner
            .view(|txn| progress::snapshot(txn, &mut window).ok_or(EngineError::Closed))
    }
}
