//! `kiln watch`: take in files while image generators write them.
//!
//! File-system events are only hints. Every path they name becomes a
//! *candidate* that is looked at again on each tick and submitted once it is
//! complete: its size and modification time are unchanged between two looks
//! and, when it is a PNG, it ends with the IEND chunk (ComfyUI writes its PNGs
//! in place, so a file can sit still half-written while the encoder works).
//! Files that become ready while events keep arriving are held and submitted
//! together as one import, so a burst of files is one batch and a path named
//! by many events is submitted once. A1111 writes `name.tmp` and renames it:
//! the temporary name is ignored the way a folder walk ignores it, and the
//! final name arrives complete.
//!
//! The loop ticks only while there is something to look at again
//! (candidates, held files, imports to follow, a folder not armed); idle,
//! it sleeps until an event. An event naming a watched folder itself makes
//! the next tick check it: when it is removed the watch waits for it, and when it is back (or replaced by a new folder of the
//! same name) the watch is armed again and the folder is caught up with a
//! folder import, which costs little for files the store already has. The
//! same catch-up runs at start, for files written while kiln was not running.

use super::EXIT_ERROR;
use super::args::{GlobalArgs, WatchArgs};
use super::import::{priority, report_unreadable};
use super::progress::{Display, Renderer};
use super::signals::{Stop, stop_requested};
use super::terminal::eprint_line;
use anyhow::Context;
use complete::{Candidate, Stat, Verdict};
use events::WriteWatcher;
use kiln::engine::{Engine, ImportId, Priority, Status, Tier, Until, is_ignored, is_store_file};
use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer_opt};
use std::collections::{BTreeMap, HashMap};
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

mod complete;
mod events;

/// How long the debouncer gathers the events of one path before naming it.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// How often candidates and watched folders are looked at.
const TICK: Duration = Duration::from_millis(250);
/// Ready files wait for a tick without new events so that a burst becomes one
/// import, but never longer than this while events keep coming.
const MAX_HOLD: Duration = Duration::from_secs(2);

/// What the debouncer thread hands the watch loop.
enum Event {
    /// Paths that had at least one event.
    Paths(Vec<PathBuf>),
    /// The file system could not tell us everything (a queue overflow, a
    /// watch that broke): the watched folders are scanned again.
    Lost(String),
}

/// One watched folder.
struct Root {
    /// The folder, canonical.
    path: PathBuf,
    /// The identity of the folder the watch is armed on, `None` while it is
    /// not armed (the folder is missing or could not be watched).
    armed: Option<(u64, u64)>,
    /// Whether the watch was ever armed (the first arming says "watching",
    /// later ones "watching it again").
    ever_armed: bool,
    /// The last reason arming failed, so it is said once, not every tick.
    failure: Option<String>,
}

/// Runs `kiln watch` until Ctrl-C.
pub(crate) async fn watch(
    engine: &Engine,
    global: &GlobalArgs,
    args: &WatchArgs,
) -> anyhow::Result<i32> {
    Ok(match watch_until_stopped(engine, global, args).await {
        Ok(Some(stop)) => stop.exit_code(),
        Ok(None) => EXIT_ERROR,
        Err(e) if e.is::<NoSuchFolder>() => {
            eprint_line!("kiln: {e}");
            EXIT_ERROR
        }
        Err(e) => return Err(e),
    })
}

/// A folder given to watch that is not there.
#[derive(Debug)]
pub(crate) struct NoSuchFolder(PathBuf);

impl std::fmt::Display for NoSuchFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: no such folder; watch takes folders that exist",
            self.0.display()
        )
    }
}

impl std::error::Error for NoSuchFolder {}

/// Watches until a stop signal (returned) or until the file-system watcher
/// breaks (`None`), then stops the engine.
pub(crate) async fn watch_until_stopped(
    engine: &Engine,
    global: &GlobalArgs,
    args: &WatchArgs,
) -> anyhow::Result<Option<Stop>> {
    let mut roots = Vec::with_capacity(args.dirs.len());
    for dir in &args.dirs {
        match std::fs::canonicalize(dir) {
            Ok(path) if path.is_dir() => roots.push(Root {
                path,
                armed: None,
                ever_armed: false,
                failure: None,
            }),
            _ => return Err(NoSuchFolder(dir.clone()).into()),
        }
    }
    let (sender, mut events) = mpsc::unbounded_channel();
    let config = notify_debouncer_mini::Config::default().with_timeout(DEBOUNCE);
    let debouncer =
        new_debouncer_opt::<_, WriteWatcher>(config, move |result: DebounceEventResult| {
            let event = match result {
                Ok(events) => Event::Paths(events.into_iter().map(|e| e.path).collect()),
                Err(e) => Event::Lost(e.to_string()),
            };
            // The loop has ended when nobody receives; nothing is left to do.
            let _ = sender.send(event);
        })
        .context("cannot start watching the file system")?;
    let mut watcher = Watcher {
        engine,
        global,
        priority: priority(args.priority),
        walk_priority: priority(args.priority).max(Priority::Batch),
        roots,
        store_dir: std::fs::canonicalize(&global.store).ok(),
        debouncer,
        candidates: HashMap::new(),
        ready: BTreeMap::new(),
        held_since: None,
        submitted: HashMap::new(),
        activity: Vec::new(),
        renderer: None,
        started: false,
        roots_named: false,
        sidecars: kiln::xmp::SidecarIntake::default(),
    };
    let outcome = watcher.run(&mut events).await;
    watcher.stop().await;
    let stopped_by = outcome?;
    if !global.quiet {
        let how = match stopped_by {
            Some(stop) => format!("stopped watching ({})", stop.describe()),
            None => "stopped watching".to_owned(),
        };
        eprint_line!(
            "kiln: {how}; running jobs were finished or released and nothing is lost. \
             Files written from now on are caught up by the next `kiln watch`; \
             queued work resumes with `kiln --store {} run`",
            global.store.display()
        );
    }
    Ok(stopped_by)
}

/// The state of one `kiln watch`.
struct Watcher<'a> {
    engine: &'a Engine,
    global: &'a GlobalArgs,
    /// Files that appear while watching.
    priority: Priority,
    /// The files a walk of a folder finds (the catch-up when the watch
    /// starts, a folder armed again): a batch, so that a file that appears
    /// meanwhile goes first.
    walk_priority: Priority,
    roots: Vec<Root>,
    /// The store's directory, canonical: its own files are never taken in,
    /// should it live in a watched folder or hold one.
    store_dir: Option<PathBuf>,
    debouncer: Debouncer<WriteWatcher>,
    candidates: HashMap<PathBuf, Candidate>,
    /// Complete files waiting to be submitted together.
    ready: BTreeMap<PathBuf, Option<Stat>>,
    /// When the oldest of `ready` became ready.
    held_since: Option<Instant>,
    /// What each file looked like when it was submitted, so a later event that
    /// changed nothing does not submit it again.
    submitted: HashMap<PathBuf, Stat>,
    /// Imports submitted and not yet finished: the progress display follows them.
    activity: Vec<ImportId>,
    renderer: Option<Renderer>,
    /// Whether this process runs the workers (it is the store's primary).
    started: bool,
    /// Whether an event named a watched folder itself (or a folder above
    /// one) since the folders were last checked: it may have been removed.
    roots_named: bool,
    /// The sidecars whose curation was looked at, so each is read once.
    sidecars: kiln::xmp::SidecarIntake,
}

impl Watcher<'_> {
    /// Watches until a stop signal (returns which) or until the event
    /// source ends (returns `None`, which only a broken watcher does).
    async fn run(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<Event>,
    ) -> anyhow::Result<Option<Stop>> {
        self.promote().await?;
        if !self.started && !self.global.quiet {
            eprint_line!(
                "kiln: another kiln process is processing {}; handing it the files watched here",
                self.global.store.display()
            );
        }
        self.check_roots().await?;
        let stop = stop_requested();
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut events_arrived = false;
        let mut ticking = true;
        loop {
            // Idle (every folder armed, nothing to look at or follow) the
            // loop sleeps until an event or a stop; it ticks only while
            // there is something to look at again.
            let busy = self.busy();
            if busy && !ticking {
                tick.reset();
            }
            ticking = busy;
            tokio::select! {
                stop = &mut stop => return Ok(Some(stop)),
                event = events.recv() => match event {
                    Some(Event::Paths(paths)) => {
                        self.note(paths);
                        events_arrived = true;
                    }
                    Some(Event::Lost(reason)) => self.rescan(&reason).await?,
                    None => {
                        eprint_line!("kiln: the file-system watcher stopped; restart `kiln watch`");
                        return Ok(None);
                    }
                },
                _ = tick.tick(), if busy => {
                    self.tick(events_arrived).await?;
                    events_arrived = false;
                }
            }
        }
    }

    /// Whether the next tick has work: candidates to look at, files held
    /// for submission, imports to follow, a watched folder not armed (or
    /// named by an event, so it may be gone), or another process being the
    /// store's primary (this one takes over when it goes).
    fn busy(&self) -> bool {
        !self.started
            || self.roots_named
            || !self.candidates.is_empty()
            || !self.ready.is_empty()
            || !self.activity.is_empty()
            || self.roots.iter().any(|r| r.armed.is_none())
    }

    /// Stops the display and the engine: running jobs finish and are
    /// recorded, claimed ones are released.
    async fn stop(&mut self) {
        if let Some(renderer) = self.renderer.take() {
            renderer.finish(self.engine.progress().ok()).await;
        }
        self.engine.shutdown().await;
    }

    /// Becomes the store's primary and starts the workers when no other
    /// process holds the store.
    async fn promote(&mut self) -> anyhow::Result<()> {
        if !self.started && self.engine.try_promote().await? {
            self.engine.start().await?;
            self.started = true;
        }
        Ok(())
    }

    fn say(&self, line: &str) {
        if !self.global.quiet {
            eprint_line!("kiln: {line}");
        }
    }

    /// The watched folder holding `path` (the innermost, when they nest).
    fn root_of(&self, path: &Path) -> Option<&Root> {
        self.roots
            .iter()
            .filter(|r| path.starts_with(&r.path))
            .max_by_key(|r| r.path.as_os_str().len())
    }

    /// Whether `path` is not for intake: a watched folder itself, the
    /// store's own files (a folder inside the store directory, such as
    /// `uploads/`, is watched like any other), or a hidden or temporary
    /// name anywhere below its watched folder.
    fn ignored(&self, path: &Path) -> bool {
        if self
            .store_dir
            .as_deref()
            .is_some_and(|store| is_store_file(store, path))
        {
            return true;
        }
        let Some(root) = self.root_of(path) else {
            return true;
        };
        match path.strip_prefix(&root.path) {
            Ok(rel) => {
                rel.as_os_str().is_empty()
                    || rel
                        .components()
                        .any(|c| c.as_os_str().to_str().is_some_and(is_ignored))
            }
            Err(_) => true,
        }
    }

    /// Records the paths an event named as candidates. A ready file named
    /// again is looked at afresh: it may have changed.
    fn note(&mut self, paths: Vec<PathBuf>) {
        for path in paths {
            if self.roots.iter().any(|r| r.path.starts_with(&path)) {
                self.roots_named = true;
            }
            if self.ignored(&path) {
                continue;
            }
            self.ready.remove(&path);
            self.candidates.entry(path).or_insert_with(Candidate::new);
        }
        if self.ready.is_empty() {
            self.held_since = None;
        }
    }

    async fn tick(&mut self, events_arrived: bool) -> anyhow::Result<()> {
        self.promote().await?;
        self.roots_named = false;
        self.check_roots().await?;
        let changing = self.examine().await?;
        let held_too_long = self.held_since.is_some_and(|t| t.elapsed() >= MAX_HOLD);
        if !self.ready.is_empty() && ((!events_arrived && !changing) || held_too_long) {
            self.submit_ready().await?;
        }
        self.check_activity().await
    }

    /// Arms the watch on every folder that is there and not armed (catching
    /// it up with a folder import), and disarms folders that were removed or
    /// replaced.
    async fn check_roots(&mut self) -> anyhow::Result<()> {
        for index in 0..self.roots.len() {
            let Some(root) = self.roots.get(index) else {
                continue;
            };
            let path = root.path.clone();
            let now = std::fs::metadata(&path)
                .ok()
                .filter(Metadata::is_dir)
                .map(|m| identity(&m));
            if now == root.armed {
                continue;
            }
            if root.armed.is_some() {
                // The watch may already be gone with its folder.
                let _ = self.debouncer.watcher().unwatch(&path);
                if now.is_none() {
                    self.say(&format!(
                        "{} was removed; waiting for it to come back",
                        path.display()
                    ));
                }
            }
            let mut armed = None;
            let mut failure = None;
            if let Some(id) = now {
                match self
                    .debouncer
                    .watcher()
                    .watch(&path, RecursiveMode::Recursive)
                {
                    Ok(()) => armed = Some(id),
                    Err(e) => failure = Some(e.to_string()),
                }
            }
            let ever_armed = root.ever_armed;
            let repeated = failure.is_some() && failure == root.failure;
            if let Some(root) = self.roots.get_mut(index) {
                root.armed = armed;
                root.ever_armed |= armed.is_some();
                root.failure = failure.clone();
            }
            if let Some(reason) = failure.filter(|_| !repeated) {
                self.say(&format!(
                    "cannot watch {} ({reason}); trying again",
                    path.display()
                ));
            }
            if armed.is_some() {
                self.say(&if ever_armed {
                    format!("{} is back; watching it again", path.display())
                } else {
                    format!(
                        "watching {}; new files are taken in as they are written (Ctrl-C stops)",
                        path.display()
                    )
                });
                self.import_folder(&path).await?;
            }
        }
        Ok(())
    }

    /// Events were lost: scan every armed folder again.
    async fn rescan(&mut self, reason: &str) -> anyhow::Result<()> {
        self.say(&format!(
            "the file system dropped events ({reason}); scanning the watched folders again"
        ));
        let armed: Vec<PathBuf> = self
            .roots
            .iter()
            .filter(|r| r.armed.is_some())
            .map(|r| r.path.clone())
            .collect();
        for path in armed {
            self.import_folder(&path).await?;
        }
        Ok(())
    }

    async fn import_folder(&mut self, path: &Path) -> anyhow::Result<()> {
        let id = self
            .engine
            .import_dir(path, self.walk_priority)
            .await
            .with_context(|| format!("cannot import {}", path.display()))?;
        self.follow(id).await;
        Ok(())
    }

    /// Looks at every candidate once. Returns whether any of them changed
    /// since the previous look (is still being written).
    async fn examine(&mut self) -> anyhow::Result<bool> {
        let mut changing = false;
        let paths: Vec<PathBuf> = self.candidates.keys().cloned().collect();
        for path in paths {
            let verdict = match self.candidates.get_mut(&path) {
                Some(candidate) => candidate.judge(&path, self.submitted.get(&path)),
                None => continue,
            };
            match verdict {
                Verdict::Wait { changed } => {
                    changing |= changed;
                    continue;
                }
                Verdict::Ready(stat) => {
                    self.ready.insert(path.clone(), stat);
                    self.held_since.get_or_insert_with(Instant::now);
                }
                Verdict::Gone => self.gone(&path)?,
                Verdict::Folder => self.import_folder(&path).await?,
                Verdict::Drop => {}
            }
            self.candidates.remove(&path);
        }
        Ok(changing)
    }

    /// A candidate vanished. Deleting a file that was taken in is the
    /// user's business; one deleted before intake gets a note.
    fn gone(&mut self, path: &Path) -> anyhow::Result<()> {
        if self.submitted.remove(path).is_some() || self.engine.asset_by_path(path)?.is_some() {
            return Ok(());
        }
        self.say(&format!(
            "{}: deleted before it could be taken in; skipped",
            path.display()
        ));
        Ok(())
    }

    /// Submits the ready files, one import per watched folder.
    async fn submit_ready(&mut self) -> anyhow::Result<()> {
        let ready = std::mem::take(&mut self.ready);
        self.held_since = None;
        let mut by_root: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
        for path in ready.keys() {
            if let Some(root) = self.root_of(path) {
                by_root
                    .entry(root.path.clone())
                    .or_default()
                    .push(path.clone());
            }
        }
        for (root, paths) in by_root {
            let id = self
                .engine
                .submit_files(&root, &paths, self.priority)
                .await
                .with_context(|| format!("cannot submit new files from {}", root.display()))?;
            for path in &paths {
                if let Some(Some(stat)) = ready.get(path) {
                    self.submitted.insert(path.clone(), *stat);
                }
            }
            self.say(&format!(
                "taking in {} file(s) from {}",
                paths.len(),
                root.display()
            ));
            self.follow(id).await;
        }
        Ok(())
    }

    /// Adds an import to the ones the progress display follows.
    async fn follow(&mut self, id: ImportId) {
        self.activity.push(id);
        if let Some(renderer) = self.renderer.take() {
            renderer.finish(self.engine.progress().ok()).await;
        }
        self.renderer = Some(Renderer::start(
            self.engine.subscribe(),
            Some(self.activity.clone()),
            Tier::Enriched,
            Display::choose(self.global.quiet),
        ));
    }

    /// When every followed import is complete, closes the display with a
    /// summary and starts afresh.
    async fn check_activity(&mut self) -> anyhow::Result<()> {
        if self.activity.is_empty() {
            return Ok(());
        }
        let until = Until::Tier {
            tier: Tier::Enriched,
            imports: Some(self.activity.clone()),
        };
        if !self.engine.reached(&until)? {
            return Ok(());
        }
        if let Some(renderer) = self.renderer.take() {
            renderer.finish(self.engine.progress().ok()).await;
        }
        let status = self.engine.status()?;
        let dead = self.dead_in_activity(&status);
        self.say(&format!(
            "up to date: the store holds {} asset(s) from {} file(s)",
            status.assets, status.files
        ));
        if dead > 0 {
            eprint_line!(
                "kiln: {dead} job(s) ended in the dead-letter table; see why with `kiln --store {} dead list`",
                self.global.store.display()
            );
        }
        let unreadable: Vec<_> = status
            .imports
            .iter()
            .filter(|i| self.activity.contains(&i.id))
            .flat_map(|i| i.unreadable_folders.iter())
            .collect();
        report_unreadable(&unreadable);
        self.activity.clear();
        self.take_sidecars().await;
        Ok(())
    }

    /// Takes the rating and keywords of XMP sidecars beside the watched
    /// files for contents not curated yet, as `kiln import` does; a
    /// sidecar that cannot be read is a warning about that file.
    async fn take_sidecars(&mut self) {
        let roots: Vec<PathBuf> = self.roots.iter().map(|r| r.path.clone()).collect();
        match self.sidecars.take(self.engine, &roots).await {
            Ok(found) => {
                for (sidecar, why) in &found.problems {
                    eprint_line!("kiln: warning: sidecar {}: {why}", sidecar.display());
                }
                if found.taken > 0 {
                    self.say(&format!(
                        "took ratings and keywords from {} sidecar(s) (.xmp) for content not curated yet",
                        found.taken
                    ));
                }
            }
            Err(e) => eprint_line!("kiln: warning: cannot take curation from sidecars: {e}"),
        }
    }

    /// Dead-lettered jobs of the followed imports, from `status`.
    fn dead_in_activity(&self, status: &Status) -> u64 {
        status
            .imports
            .iter()
            .filter(|i| self.activity.contains(&i.id))
            .map(|i| i.jobs().dead)
            .sum()
    }
}

/// What tells a folder from a new one of the same name.
#[cfg(unix)]
fn identity(meta: &Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// Without inode numbers only a folder's presence is told apart.
#[cfg(not(unix))]
fn identity(_meta: &Metadata) -> (u64, u64) {
    (0, 0)
}
