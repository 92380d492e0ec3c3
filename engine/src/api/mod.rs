//! The `Engine` handle, its `impl` grouped by theme: opening, registering
//! stages and running the workers (`lifecycle`), taking in files
//! (`intake`), waiting and progress (`waiting`), reading the store
//! (`reads`), dead letters and re-runs (`dead_letters`), and claiming jobs
//! by hand (`manual`, through its own [`Manual`] handle).

mod curation;
mod dead_letters;
mod intake;
mod lifecycle;
mod manual;
mod reads;
mod settings;
mod waiting;

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{ReadTransaction, ReadableDatabase};
use tokio::sync::watch;

pub use manual::Manual;

use crate::config::Config;
use crate::error::EngineError;
use crate::graph::GraphCell;
use crate::runtime::doorbell::Listening;
use crate::runtime::halt::Halt;
use crate::runtime::metrics::MetricsState;
use crate::runtime::scheduler::{Handles, Scheduler, Wake};
use crate::runtime::walk::{Walker, Walks};
use crate::runtime::writer::Writer;
use crate::store::{Store, damage};
use crate::views::progress::Progress;

/// Who runs this engine's jobs: its workers, or manual handles. Never both.
#[derive(Debug, Default)]
struct Drivers {
    /// The running scheduler, between `start` and `stop`.
    scheduler: Option<Scheduler>,
    /// How many [`Manual`] handles are alive.
    manual: usize,
}

/// What one open engine holds; every clone of the handle shares it.
#[derive(Debug)]
struct Inner {
    store: Arc<Store>,
    config: Arc<Config>,
    graph: Arc<GraphCell>,
    writer: Arc<Writer>,
    metrics: Arc<MetricsState>,
    wake: Arc<Wake>,
    walks: Walks,
    /// Imports whose walk waits for READY to fall under the watermark.
    paused_walks: Arc<Mutex<HashSet<u64>>>,
    closing: Arc<AtomicBool>,
    drivers: Mutex<Drivers>,
    /// The sweep of stale temporary blobs, started with the first workers.
    sweep: Mutex<Option<JoinHandle<()>>>,
    progress: watch::Sender<Progress>,
    publishing: AtomicBool,
    /// Whether `enqueue_outdated` has run since the graph last changed, so
    /// `start` need not scan every asset again for work a handle already
    /// enqueued on open.
    outdated_checked: AtomicBool,
    /// Raised when the workers stopped on a full disk.
    halt: Arc<Halt>,
    /// Whether the running scheduler hears other processes' commits on
    /// the store's doorbell (otherwise idle parts poll).
    listening: Arc<Listening>,
}

impl Inner {
    fn read(&self) -> Result<ReadTransaction, EngineError> {
        Ok(self.store.db.begin_read()?)
    }

    /// Runs `read` on a fresh read transaction, with damage to the database
    /// file reported as [`EngineError::Damaged`] instead of a crash.
    fn view<T>(
        &self,
        read: impl FnOnce(&ReadTransaction) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        damage::contain(self.store.database_file(), || read(&self.read()?))
    }

    /// What the scheduler's feeder and workers are given.
    fn scheduler_handles(&self) -> Handles {
        Handles {
            store: self.store.clone(),
            writer: self.writer.clone(),
            config: self.config.clone(),
            graph: self.graph.clone(),
            metrics: self.metrics.clone(),
            halt: self.halt.clone(),
            listening: self.listening.clone(),
        }
    }

    /// What a folder walk is given.
    fn walker(&self) -> Walker {
        Walker {
            store: self.store.clone(),
            writer: self.writer.clone(),
            config: self.config.clone(),
            graph: self.graph.clone(),
            wake: self.wake.clone(),
            closing: self.closing.clone(),
            paused: self.paused_walks.clone(),
        }
    }
}

/// kiln's job engine on one store directory. Cheap to clone; all clones share
/// one engine.
///
/// The first process to open a store becomes its *primary*: it reclaims the
/// leases a previous process left and may run workers. Any other process
/// opening the same store at the same time gets a *client* handle: it reads,
/// submits work (which the primary picks up) and waits for it, but never runs
/// workers or touches leases. See [`Engine::is_primary`].
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.inner.store.dir)
            .field("primary", &self.is_primary())
            .finish()
    }
}

/// A path as the store keeps it: absolute, as folder walks store paths, so
/// one file reached by two spellings is still one file. A path that cannot
/// be resolved (already gone, say) is kept as given, to be reported.
fn absolute(path: &Path) -> std::path::PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
