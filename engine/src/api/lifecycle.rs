//! Opening a store, registering stages, and starting and stopping the
//! workers.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use kiln_plugin_api::{Stage, StageInfo};
use tokio::sync::watch;

use super::{Drivers, Engine, Inner};
use crate::config::Config;
use crate::error::{EngineError, GraphError};
use crate::graph::GraphCell;
use crate::model::Priority;
use crate::runtime::halt::Halt;
use crate::runtime::metrics::MetricsState;
use crate::runtime::scheduler::{Scheduler, Wake};
use crate::runtime::walk::Walks;
use crate::runtime::writer::Writer;
use crate::store::{self, blobs, damage};
use crate::txn::claim::ReclaimAll;
use crate::views::progress::Progress;
use crate::views::status::{self, ImportState};

impl Engine {
    /// Opens (creating if needed) the store in `dir`: `kiln.redb`, `blobs/` and
    /// `engine.lock`. If no other process holds the engine lock, this handle is
    /// the primary and every lease left by a previous process is reclaimed at
    /// once; the jobs keep their counted attempts.
    pub fn open(dir: impl AsRef<Path>, config: Config) -> Result<Engine, EngineError> {
        let dir = dir.as_ref();
        let file = dir.join(store::DATABASE_FILE);
        let store = Arc::new(damage::contain(&file, || store::open(dir, &config))?);
        let config = Arc::new(config);
        let graph = Arc::new(GraphCell::default());
        let halt = Arc::new(Halt::default());
        let writer = Arc::new(Writer::start(
            &store,
            config.clone(),
            graph.clone(),
            halt.clone(),
        ));
        let primary = store.holds_lock();
        let (progress, _) = watch::channel(Progress::default());
        let inner = Arc::new(Inner {
            store,
            config,
            graph,
            writer,
            metrics: Arc::new(MetricsState::default()),
            wake: Arc::new(Wake::default()),
            walks: Walks::default(),
            paused_walks: Arc::new(Mutex::new(HashSet::new())),
            closing: Arc::new(AtomicBool::new(false)),
            listening: Arc::default(),
            drivers: Mutex::new(Drivers::default()),
            sweep: Mutex::new(None),
            progress,
            publishing: AtomicBool::new(false),
            outdated_checked: AtomicBool::new(false),
            halt,
        });
        if primary {
            inner.writer.call_blocking(ReclaimAll)?;
        }
        Ok(Engine { inner })
    }

    /// Whether this handle holds the engine lock (may run workers).
    pub fn is_primary(&self) -> bool {
        self.inner.store.holds_lock()
    }

    /// Makes a client handle the primary if the process that held the engine
    /// lock has gone: takes the lock and reclaims the leases it left. Returns
    /// whether this handle is the primary now.
    pub async fn try_promote(&self) -> Result<bool, EngineError> {
        if self.is_primary() {
            return Ok(true);
        }
        if !self.inner.store.try_lock_engine()? {
            return Ok(false);
        }
        self.inner.writer.call(ReclaimAll).await?;
        Ok(true)
    }

    /// The store directory.
    pub fn store_dir(&self) -> &Path {
        &self.inner.store.dir
    }

    /// The configuration the engine was opened with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    fn running(&self) -> bool {
        self.inner
            .drivers
            .lock()
            .map(|d| d.scheduler.is_some())
            .unwrap_or(false)
    }

    fn change_graph(&self, stage: Arc<dyn Stage>, replace: bool) -> Result<(), GraphError> {
        if self.running() {
            return Err(GraphError::Running);
        }
        self.inner
            .graph
            .update(|graph| graph.with_stage(stage, replace))?;
        self.inner.outdated_checked.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Registers a stage. Fails if the name is taken. The graph as a whole is
    /// checked by [`Engine::validate`] and when the engine starts. On a store
    /// that already has assets, the stage's work for them is enqueued by
    /// [`Engine::enqueue_outdated`], which [`Engine::start`] calls.
    pub fn register_stage(&self, stage: Arc<dyn Stage>) -> Result<(), GraphError> {
        self.change_graph(stage, false)
    }

    /// Replaces the registered stage of the same name (e.g. a plugin swapping a
    /// built-in). Facts already stored keep the version that wrote them until
    /// the stage runs again for their asset: [`Engine::enqueue_outdated`]
    /// (called by [`Engine::start`]) enqueues it where the version differs.
    pub fn replace_stage(&self, stage: Arc<dyn Stage>) -> Result<(), GraphError> {
        self.change_graph(stage, true)
    }

    /// What every registered stage declared, by name.
    pub fn stages(&self) -> Vec<StageInfo> {
        self.inner
            .graph
            .current()
            .entries()
            .map(|e| e.info.clone())
            .collect()
    }

    /// Checks the graph: every `after` name registered, no cycle, tiers never
    /// decreasing along `after`.
    pub fn validate(&self) -> Result<(), GraphError> {
        self.inner.graph.current().validate()
    }

    /// Starts the workers on the current tokio runtime (multi-threaded) and
    /// resumes unfinished folder walks. Before the workers start, the work
    /// that stages registered (or registered at a new version) since the
    /// store's assets went through the graph call for is enqueued (see
    /// [`Engine::enqueue_outdated`]). Only the primary can start, and not
    /// while a [`Manual`](crate::Manual) handle of this engine is alive
    /// ([`EngineError::ManualClaiming`]).
    pub async fn start(&self) -> Result<(), EngineError> {
        if !self.is_primary() {
            return Err(EngineError::NotPrimary);
        }
        self.validate()?;
        // A condition that stopped an earlier run (a full disk) may be over.
        self.inner.halt.lower();
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| EngineError::Runtime(e.to_string()))?;
        {
            let drivers = self.inner.drivers.lock().map_err(|_| EngineError::Closed)?;
            if drivers.manual > 0 {
                return Err(EngineError::ManualClaiming);
            }
            if drivers.scheduler.is_some() {
                return Ok(());
            }
        }
        // Stages registered, or registered at a new version, since the
        // store's assets went through them get their work before the
        // workers look for any (unless that was enqueued since the graph
        // last changed: a handle does it on open).
        if !self.inner.outdated_checked.load(Ordering::SeqCst) {
            self.enqueue_outdated(Priority::Batch).await?;
        }
        {
            let mut drivers = self.inner.drivers.lock().map_err(|_| EngineError::Closed)?;
            if drivers.manual > 0 {
                return Err(EngineError::ManualClaiming);
            }
            if drivers.scheduler.is_some() {
                return Ok(());
            }
            drivers.scheduler = Some(Scheduler::start(
                Arc::new(self.inner.scheduler_handles()),
                &self.inner.wake,
                &runtime,
            ));
        }
        for import in self.inner.view(status::imports)? {
            if import.state == ImportState::Walking {
                self.spawn_walk(import.id, import.root);
            }
        }
        self.start_sweep();
        self.ensure_publisher();
        Ok(())
    }

    /// Removes, once per engine and off the caller's thread, the temporary
    /// blob files a process that died mid-write left behind.
    fn start_sweep(&self) {
        let Ok(mut sweep) = self.inner.sweep.lock() else {
            return;
        };
        if sweep.is_none() {
            let blobs = self.inner.store.blobs.clone();
            *sweep = std::thread::Builder::new()
                .name("kiln-blob-sweep".into())
                .spawn(move || {
                    blobs::sweep_stale_temps(&blobs, blobs::STALE_TEMP_AGE);
                })
                .ok();
        }
    }

    /// Stops the workers: running jobs finish and are recorded, claimed jobs
    /// that never started are released with their attempt refunded.
    pub async fn stop(&self) {
        let scheduler = self
            .inner
            .drivers
            .lock()
            .ok()
            .and_then(|mut d| d.scheduler.take());
        if let Some(scheduler) = scheduler {
            scheduler.stop(&self.inner.writer, &self.inner.wake).await;
        }
    }

    /// Stops workers and folder walks and closes the store. Every lease is
    /// released, none is left for the next open to reclaim.
    pub async fn shutdown(&self) {
        self.stop().await;
        self.inner.closing.store(true, Ordering::SeqCst);
        // The progress publisher sleeps until a commit; this lets it see
        // `closing`.
        self.inner.writer.commits.send_modify(|n| *n += 1);
        let mut threads: Vec<JoinHandle<()>> = self.inner.walks.drain();
        threads.extend(self.inner.sweep.lock().ok().and_then(|mut s| s.take()));
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
        self.inner.writer.close();
    }
}
