//! Driving an engine for the benchmark: opening a store with every built-in
//! stage, following one import until each tier is complete, timing a single
//! file, and reading the process's peak memory.

#[cfg(doc)]
use crate::Args;
use kiln::Kiln;
use kiln::engine::{Config, Engine, ImportId, Priority, Tier, Until};
use std::path::Path;
use std::time::{Duration, Instant};

/// How often tier completion is checked; the resolution of every time below.
const POLL: Duration = Duration::from_millis(5);

/// A multi-threaded runtime for the engine's feeder and the benchmark's
/// polling; the stages run on the engine's own worker threads.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))
}

/// Opens (creating) the store in `dir` the way `kiln import` does: every
/// built-in stage and the search index, with `config` (`Args::config`).
pub(crate) fn open(dir: &Path, config: &Config) -> Result<Kiln, String> {
    Kiln::builder(dir)
        .config(config.clone())
        .open()
        .map_err(|e| format!("cannot open the store in {}: {e}", dir.display()))
}

/// Opens the store in `dir` as [`open`] does and starts its workers.
pub(crate) async fn start(dir: &Path, config: &Config) -> Result<Kiln, String> {
    let kiln = open(dir, config)?;
    kiln.engine()
        .start()
        .await
        .map_err(|e| format!("cannot start the engine: {e}"))?;
    Ok(kiln)
}

/// Stops the engine and commits the search index, as the CLI does on exit.
pub(crate) async fn close(kiln: Kiln) -> Result<(), String> {
    kiln.shutdown()
        .await
        .map_err(|e| format!("cannot close the search index: {e}"))
}

/// Whether every job of `tier` and below is finished for `import`.
fn tier_done(engine: &Engine, import: ImportId, tier: Tier) -> Result<bool, String> {
    engine
        .reached(&Until::Tier {
            tier,
            imports: Some(vec![import]),
        })
        .map_err(|e| format!("cannot read progress: {e}"))
}

/// When each tier became complete for one import, from its start.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TierTimes {
    /// Tier 1: browsable.
    pub(crate) browsable: Option<Duration>,
    /// Tier 2: searchable.
    pub(crate) searchable: Option<Duration>,
    /// Tier 3: enriched.
    pub(crate) enriched: Option<Duration>,
}

impl TierTimes {
    fn slot(&mut self, tier: Tier) -> &mut Option<Duration> {
        match tier {
            Tier::Browsable => &mut self.browsable,
            Tier::Searchable => &mut self.searchable,
            Tier::Enriched => &mut self.enriched,
        }
    }

    /// The lowest tier not yet complete, if any.
    fn next_tier(&self) -> Option<Tier> {
        [
            (Tier::Browsable, self.browsable),
            (Tier::Searchable, self.searchable),
            (Tier::Enriched, self.enriched),
        ]
        .into_iter()
        .find(|(_, t)| t.is_none())
        .map(|(tier, _)| tier)
    }

    /// Seconds of one mark, NaN when it was never reached.
    pub(crate) fn secs(mark: Option<Duration>) -> f64 {
        mark.map_or(f64::NAN, |d| d.as_secs_f64())
    }
}

/// Follows `import` (started at `start`) until every tier is complete,
/// calling `each_poll` on every poll with the times so far. A tier found
/// complete also completes the tiers below it at the same moment.
pub(crate) async fn follow(
    engine: &Engine,
    import: ImportId,
    start: Instant,
    mut each_poll: impl AsyncFnMut(&TierTimes) -> Result<(), String>,
) -> Result<TierTimes, String> {
    let mut times = TierTimes::default();
    loop {
        while let Some(tier) = times.next_tier() {
            if !tier_done(engine, import, tier)? {
                break;
            }
            *times.slot(tier) = Some(start.elapsed());
        }
        each_poll(&times).await?;
        if times.next_tier().is_none() {
            return Ok(times);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Submits one file to an engine that is already running. Returns its
/// import and the moment it was submitted (see [`searchable`]).
pub(crate) async fn submit(
    engine: &Engine,
    file: &Path,
    priority: Priority,
) -> Result<(ImportId, Instant), String> {
    let start = Instant::now();
    let id = engine
        .submit_file(file, priority)
        .await
        .map_err(|e| format!("cannot submit {}: {e}", file.display()))?;
    Ok((id, start))
}

/// Whether the single-file import `id` is searchable.
pub(crate) fn searchable(engine: &Engine, id: ImportId) -> Result<bool, String> {
    tier_done(engine, id, Tier::Searchable)
}

/// Times one file from submission to searchable on an idle engine opened on
/// a fresh store in `dir`.
pub(crate) async fn time_idle(
    dir: &Path,
    file: &Path,
    config: &Config,
) -> Result<Duration, String> {
    let kiln = start(dir, config).await?;
    let (id, start) = submit(kiln.engine(), file, Priority::Interactive).await?;
    while !searchable(kiln.engine(), id)? {
        tokio::time::sleep(POLL).await;
    }
    let elapsed = start.elapsed();
    close(kiln).await?;
    Ok(elapsed)
}

/// The process's peak resident memory so far, in kB.
pub(crate) fn peak_rss_kb() -> Option<u64> {
    kiln_bench::proc::status_kb(None, "VmHWM:")
}

/// Resets the peak to the current resident size (Linux `clear_refs` 5), so
/// that building the corpus does not count. Returns whether it worked.
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}
