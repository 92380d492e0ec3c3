//! The `Engine` handle: open a store, register stages, submit work, run, read.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use kiln_plugin_api::{Stage, StageInfo};
use redb::{ReadTransaction, ReadableDatabase};
use tokio::sync::watch;

use crate::config::{Config, Priority};
use crate::error::{EngineError, GraphError};
use crate::failures::{DeadLetter, RetryingJob};
use crate::graph::Graph;
use crate::metrics::MetricsState;
use crate::progress::{self, Progress};
use crate::read::{self, AssetDetail, AssetSummary, Status};
use crate::scheduler::Scheduler;
use crate::store::{self, Store};
use crate::walk;
use crate::writer::{OpKind, Reply, Writer};

/// What [`Engine::run_until`] and [`Engine::wait_until`] wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Until {
    /// No job is ready, leased or retrying and no folder is being walked.
    Idle,
    /// Every job of `tier` and lower tiers is done or dead for the given
    /// imports (`None`: every import), and their folders are fully walked.
    Tier {
        /// 1 browsable, 2 searchable, 3 enriched.
        tier: u8,
        /// The imports to wait for; `None` waits for all.
        imports: Option<Vec<u64>>,
    },
}

/// State shared by the handle, the writer, the scheduler and walkers.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) config: Arc<Config>,
    graph: Arc<RwLock<Arc<Graph>>>,
    pub(crate) writer: Writer,
    pub(crate) closing: AtomicBool,
    pub(crate) metrics: Arc<MetricsState>,
    scheduler: Mutex<Option<Scheduler>>,
    walkers: Mutex<HashMap<u64, JoinHandle<()>>>,
    /// The sweep of stale temporary blobs, started with the first workers.
    sweep: Mutex<Option<JoinHandle<()>>>,
    /// Imports whose walk is waiting for READY to fall under the watermark.
    pub(crate) paused_walks: Mutex<HashSet<u64>>,
    progress: watch::Sender<Progress>,
    publishing: AtomicBool,
}

impl Shared {
    pub(crate) fn graph(&self) -> Arc<Graph> {
        self.graph.read().map(|g| g.clone()).unwrap_or_default()
    }

    pub(crate) fn root_count(&self) -> usize {
        self.graph().roots().count()
    }

    pub(crate) fn wake(&self) {
        if let Ok(s) = self.scheduler.lock()
            && let Some(s) = s.as_ref()
        {
            s.wake();
        }
    }

    pub(crate) fn read(&self) -> Result<ReadTransaction, EngineError> {
        Ok(self.store.db.begin_read()?)
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
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.shared.store.dir)
            .field("primary", &self.is_primary())
            .finish()
    }
}

impl Engine {
    /// Opens (creating if needed) the store in `dir`: `kiln.redb`, `blobs/` and
    /// `engine.lock`. If no other process holds the engine lock, this handle is
    /// the primary and every lease left by a previous process is reclaimed at
    /// once; the jobs keep their counted attempts.
    pub fn open(dir: impl AsRef<Path>, config: Config) -> Result<Engine, EngineError> {
        let store = store::open(dir.as_ref(), &config)?;
        let config = Arc::new(config);
        let graph = Arc::new(RwLock::new(Arc::new(Graph::default())));
        let writer = Writer::start(store.db.clone(), config.clone(), graph.clone());
        let primary = store.holds_lock();
        let (progress, _) = watch::channel(Progress::default());
        let shared = Arc::new(Shared {
            store,
            config,
            graph,
            writer,
            closing: AtomicBool::new(false),
            metrics: Arc::new(MetricsState::default()),
            scheduler: Mutex::new(None),
            walkers: Mutex::new(HashMap::new()),
            sweep: Mutex::new(None),
            paused_walks: Mutex::new(HashSet::new()),
            progress,
            publishing: AtomicBool::new(false),
        });
        if primary {
            shared.writer.call_blocking(OpKind::ReclaimAll)?;
        }
        Ok(Engine { shared })
    }

    /// Whether this handle holds the engine lock (may run workers).
    pub fn is_primary(&self) -> bool {
        self.shared.store.holds_lock()
    }

    /// Makes a client handle the primary if the process that held the engine
    /// lock has gone: takes the lock and reclaims the leases it left. Returns
    /// whether this handle is the primary now.
    pub async fn try_promote(&self) -> Result<bool, EngineError> {
        if self.is_primary() {
            return Ok(true);
        }
        if !self.shared.store.try_lock_engine()? {
            return Ok(false);
        }
        self.shared.writer.call(OpKind::ReclaimAll).await?;
        Ok(true)
    }

    /// The store directory.
    pub fn store_dir(&self) -> &Path {
        &self.shared.store.dir
    }

    /// The configuration the engine was opened with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    fn running(&self) -> bool {
        self.shared
            .scheduler
            .lock()
            .map(|s| s.is_some())
            .unwrap_or(false)
    }

    fn change_graph(&self, stage: Arc<dyn Stage>, replace: bool) -> Result<(), GraphError> {
        if self.running() {
            return Err(GraphError::Running);
        }
        let mut graph = self.shared.graph.write().map_err(|_| GraphError::Running)?;
        let next = graph.with_stage(stage, replace)?;
        *graph = Arc::new(next);
        Ok(())
    }

    /// Registers a stage. Fails if the name is taken. The graph as a whole is
    /// checked by [`Engine::validate`] and when the engine starts.
    pub fn register_stage(&self, stage: Arc<dyn Stage>) -> Result<(), GraphError> {
        self.change_graph(stage, false)
    }

    /// Replaces the registered stage of the same name (e.g. a plugin swapping a
    /// built-in). Facts already stored keep the version that wrote them; see
    /// [`Engine::rerun_outdated`].
    pub fn replace_stage(&self, stage: Arc<dyn Stage>) -> Result<(), GraphError> {
        self.change_graph(stage, true)
    }

    /// What every registered stage declared, by name.
    pub fn stages(&self) -> Vec<StageInfo> {
        self.shared
            .graph()
            .entries()
            .map(|e| e.info.clone())
            .collect()
    }

    /// Checks the graph: every `after` name registered, no cycle, tiers never
    /// decreasing along `after`.
    pub fn validate(&self) -> Result<(), GraphError> {
        self.shared.graph().validate()
    }

    /// Submits one file as its own import. Returns the import id once the
    /// import and the file's root jobs are durable. An unreadable file is
    /// recorded as a dead letter of stage `intake`, not returned as an error.
    pub async fn submit_file(
        &self,
        path: impl AsRef<Path>,
        priority: Priority,
    ) -> Result<u64, EngineError> {
        self.validate()?;
        self.intake_file(path.as_ref(), priority, None).await
    }

    /// Takes in one file as its own import, named by its absolute path.
    pub(crate) async fn intake_file(
        &self,
        path: &Path,
        priority: Priority,
        budget: Option<u64>,
    ) -> Result<u64, EngineError> {
        let path = absolute(path);
        let root = path.to_string_lossy().into_owned();
        self.intake_import(root, vec![walk::entry_for(&path)], priority, budget)
            .await
    }

    /// Submits several files as one import, each taken in as
    /// [`Engine::submit_file`] takes one: stored by absolute path, a no-op
    /// when unchanged since its last intake, a dead letter of stage `intake`
    /// when unreadable. `root` names the import in status listings (a watched
    /// folder, say). Returns the import id once the import and every file's
    /// root jobs are durable.
    pub async fn submit_files(
        &self,
        root: impl AsRef<Path>,
        paths: &[std::path::PathBuf],
        priority: Priority,
    ) -> Result<u64, EngineError> {
        self.validate()?;
        let files = paths
            .iter()
            .map(|path| walk::entry_for(&absolute(path)))
            .collect();
        let root = root.as_ref().to_string_lossy().into_owned();
        self.intake_import(root, files, priority, None).await
    }

    /// Creates an import named `root` (with its gate budget, when given)
    /// whose walk is already done, takes in `files` and wakes the scheduler.
    /// Returns the import id once the import and every file's root jobs are
    /// durable.
    pub(crate) async fn intake_import(
        &self,
        root: String,
        files: Vec<crate::txn::intake::FileEntry>,
        priority: Priority,
        budget: Option<u64>,
    ) -> Result<u64, EngineError> {
        let import_id = self
            .create_budgeted_import(root, priority, true, budget)
            .await?;
        self.shared
            .writer
            .call(OpKind::Intake { import_id, files })
            .await?;
        self.shared.wake();
        Ok(import_id)
    }

    /// Imports a folder (recursively, lazily, skipping hidden and temporary
    /// files, entering each directory once) or a single file. Returns the import
    /// id at once; the walk continues on its own thread, pausing while READY is
    /// above the high watermark. An interrupted walk resumes when a primary
    /// engine starts.
    pub async fn import_dir(
        &self,
        path: impl AsRef<Path>,
        priority: Priority,
    ) -> Result<u64, EngineError> {
        self.import_with(path, crate::ImportOptions::new(priority))
            .await
    }

    /// Creates an import whose gate budget (when given) is durable with it,
    /// before any of its files is taken in.
    pub(crate) async fn create_budgeted_import(
        &self,
        root: String,
        priority: Priority,
        walk_done: bool,
        budget: Option<u64>,
    ) -> Result<u64, EngineError> {
        match self
            .shared
            .writer
            .call(OpKind::CreateImport {
                root,
                priority: priority.as_u8(),
                walk_done,
                budget,
            })
            .await?
        {
            Reply::Import(id) => Ok(id),
            _ => Err(EngineError::Closed),
        }
    }

    pub(crate) fn spawn_walk(&self, import_id: u64, root: String) {
        let Ok(mut walkers) = self.shared.walkers.lock() else {
            return;
        };
        walkers.retain(|_, h| !h.is_finished());
        if walkers.contains_key(&import_id) {
            return;
        }
        let shared = self.shared.clone();
        if let Ok(handle) = std::thread::Builder::new()
            .name(format!("kiln-walk-{import_id}"))
            .spawn(move || walk::run_walk(shared, import_id, root.into()))
        {
            walkers.insert(import_id, handle);
        }
    }

    /// Waits until the folder walk of `import_id` has finished, or is paused
    /// at the high watermark, or is not running in this process (an
    /// interrupted walk resumes when a primary starts). Returns whether the
    /// walk has finished. `kiln import --detach` uses this before exiting.
    pub async fn wait_intake(&self, import_id: u64) -> Result<bool, EngineError> {
        loop {
            let imports = read::imports(&self.shared.read()?)?;
            let walked = imports
                .iter()
                .find(|i| i.id == import_id)
                .is_none_or(|i| i.state != read::ImportState::Walking);
            if walked {
                return Ok(true);
            }
            let alive = self
                .shared
                .walkers
                .lock()
                .map(|w| w.get(&import_id).is_some_and(|h| !h.is_finished()))
                .unwrap_or(false);
            let paused = self
                .shared
                .paused_walks
                .lock()
                .map(|p| p.contains(&import_id))
                .unwrap_or(false);
            if !alive || paused {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn walking(&self) -> bool {
        self.shared
            .walkers
            .lock()
            .map(|w| w.values().any(|h| !h.is_finished()))
            .unwrap_or(false)
    }

    /// Starts the workers on the current tokio runtime (multi-threaded) and
    /// resumes unfinished folder walks. Only the primary can start.
    pub async fn start(&self) -> Result<(), EngineError> {
        if !self.is_primary() {
            return Err(EngineError::NotPrimary);
        }
        self.validate()?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| EngineError::Runtime(e.to_string()))?;
        {
            let mut slot = self
                .shared
                .scheduler
                .lock()
                .map_err(|_| EngineError::Closed)?;
            if slot.is_some() {
                return Ok(());
            }
            *slot = Some(Scheduler::start(self.shared.clone(), &runtime));
        }
        for import in read::imports(&self.shared.read()?)? {
            if import.state == read::ImportState::Walking {
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
        let Ok(mut sweep) = self.shared.sweep.lock() else {
            return;
        };
        if sweep.is_none() {
            let blobs = self.shared.store.blobs.clone();
            *sweep = std::thread::Builder::new()
                .name("kiln-blob-sweep".into())
                .spawn(move || {
                    crate::blobs::sweep_stale_temps(&blobs, crate::blobs::STALE_TEMP_AGE);
                })
                .ok();
        }
    }

    /// Stops the workers: running jobs finish and are recorded, claimed jobs
    /// that never started are released with their attempt refunded.
    pub async fn stop(&self) {
        let scheduler = self.shared.scheduler.lock().ok().and_then(|mut s| s.take());
        if let Some(scheduler) = scheduler {
            scheduler.stop(&self.shared).await;
        }
    }

    /// Stops workers and folder walks and closes the store. Every lease is
    /// released, none is left for the next open to reclaim.
    pub async fn shutdown(&self) {
        self.stop().await;
        self.shared.closing.store(true, Ordering::SeqCst);
        let mut threads: Vec<JoinHandle<()>> = self
            .shared
            .walkers
            .lock()
            .map(|mut w| w.drain().map(|(_, h)| h).collect())
            .unwrap_or_default();
        threads.extend(self.shared.sweep.lock().ok().and_then(|mut s| s.take()));
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
        self.shared.writer.close();
    }

    /// Whether `until` holds now.
    pub fn reached(&self, until: &Until) -> Result<bool, EngineError> {
        let imports = read::imports(&self.shared.read()?)?;
        Ok(match until {
            Until::Idle => {
                !self.walking()
                    && imports.iter().all(|i| {
                        i.state != read::ImportState::Walking
                            && i.tiers.values().all(|c| c.pending() == 0)
                    })
            }
            Until::Tier {
                tier,
                imports: wanted,
            } => imports
                .iter()
                .filter(|i| wanted.as_ref().is_none_or(|w| w.contains(&i.id)))
                .all(|i| {
                    i.state != read::ImportState::Walking
                        && i.tiers
                            .iter()
                            .filter(|(t, _)| **t <= *tier)
                            .all(|(_, c)| c.pending() == 0)
                }),
        })
    }

    /// Waits until `until` holds. Works on a client handle too: it waits for
    /// the primary of another process to do the work.
    pub async fn wait_until(&self, until: Until) -> Result<(), EngineError> {
        let mut commits = self.shared.writer.commits.subscribe();
        let poll = self.shared.config.idle_poll.max(Duration::from_millis(5));
        loop {
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
            let mut commits = self.shared.writer.commits.subscribe();
            let poll = self.shared.config.idle_poll.max(Duration::from_millis(5));
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

    fn ensure_publisher(&self) {
        if self.shared.publishing.swap(true, Ordering::SeqCst) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(progress::publish(
                    self.shared.clone(),
                    self.shared.progress.clone(),
                ));
            }
            Err(_) => self.shared.publishing.store(false, Ordering::SeqCst),
        }
    }

    /// Progress per import and per tier, updated as commits land (including
    /// commits of other processes). Must be called inside a tokio runtime for
    /// updates to flow.
    pub fn subscribe(&self) -> watch::Receiver<Progress> {
        self.ensure_publisher();
        self.shared.progress.subscribe()
    }

    /// One progress snapshot, read now (rates are zero).
    pub fn progress(&self) -> Result<Progress, EngineError> {
        let mut window = progress::RateWindow::default();
        progress::snapshot(&self.shared, &mut window).ok_or(EngineError::Closed)
    }

    /// Counts of assets, files, jobs by state and tier, and every import.
    pub fn status(&self) -> Result<Status, EngineError> {
        read::status(&self.shared.read()?)
    }

    /// Every asset with its first path and state.
    pub fn assets(&self) -> Result<Vec<AssetSummary>, EngineError> {
        read::assets(
            &self.shared.read()?,
            &self.shared.graph(),
            &self.shared.store.blobs,
        )
    }

    /// Ids of the assets that are duplicates of another or were superseded
    /// by a changed file. Cheaper than [`Engine::assets`]: no facts are read.
    pub fn inactive_assets(&self) -> Result<Vec<u64>, EngineError> {
        read::inactive_assets(&self.shared.read()?)
    }

    /// Everything about one asset, or `None` if there is no such asset.
    pub fn asset(&self, asset_id: u64) -> Result<Option<AssetDetail>, EngineError> {
        read::asset(
            &self.shared.read()?,
            &self.shared.graph(),
            &self.shared.store.blobs,
            asset_id,
        )
    }

    /// The asset a path belongs to (after deduplication, the surviving asset).
    pub fn asset_by_path(&self, path: impl AsRef<Path>) -> Result<Option<u64>, EngineError> {
        let path = path.as_ref();
        let txn = self.shared.read()?;
        if let Some(found) = path
            .to_str()
            .map(|p| read::asset_by_path(&txn, p))
            .transpose()?
            .flatten()
        {
            return Ok(Some(found));
        }
        match std::fs::canonicalize(path)
            .ok()
            .and_then(|p| p.to_str().map(str::to_owned))
        {
            Some(canonical) => read::asset_by_path(&txn, &canonical),
            None => Ok(None),
        }
    }

    /// Every dead letter.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, EngineError> {
        crate::failures::dead_letters(&self.shared.read()?)
    }

    /// Every job waiting for a retry.
    pub fn retrying(&self) -> Result<Vec<RetryingJob>, EngineError> {
        crate::failures::retrying(&self.shared.read()?)
    }

    pub(crate) async fn count_op(&self, kind: OpKind) -> Result<u64, EngineError> {
        match self.shared.writer.call(kind).await? {
            Reply::Count(n) => {
                self.shared.wake();
                Ok(n)
            }
            _ => Err(EngineError::Closed),
        }
    }
}

/// A path as the store keeps it: absolute, as folder walks store paths, so
/// one file reached by two spellings is still one file. A path that cannot
/// be resolved (already gone, say) is kept as given, to be reported.
fn absolute(path: &Path) -> std::path::PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
