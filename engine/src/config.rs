//! Engine configuration and the injectable clock.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::model::EnrichmentGate;

/// A source of wall-clock time in nanoseconds since the Unix epoch.
///
/// Enqueue times, lease times and retry deadlines all come from this clock, so a
/// test can inject a [`ManualClock`] and decide when a delayed retry is due.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time in nanoseconds since the Unix epoch.
    fn now_ns(&self) -> u64;

    /// Whether the clock moves with real time, so an idle engine may sleep
    /// until the time a retry is due. One that does not ([`ManualClock`])
    /// has an idle engine look every `Config::idle_poll` while a retry waits.
    fn follows_real_time(&self) -> bool {
        true
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; for tests of backoff and ordering.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock standing at `start_ns`.
    pub fn new(start_ns: u64) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            now: AtomicU64::new(start_ns),
        })
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.now.fetch_add(by, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, now_ns: u64) {
        self.now.store(now_ns, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
    fn follows_real_time(&self) -> bool {
        false
    }
}

/// How processes share one store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Sharing {
    /// Other processes may open the store at the same time to read it and submit
    /// work (redb `ConcurrencyMode::MultiWriter`). Each commit then uses
    /// redb's two-phase commit.
    #[default]
    MultiProcess,
    /// This process alone opens the store (redb `ConcurrencyMode::ExclusiveWriter`).
    Exclusive,
}

/// Everything tunable about an [`Engine`](crate::Engine).
///
/// Build one with `Config { workers: 4, ..Config::default() }`.
#[derive(Debug, Clone)]
pub struct Config {
    /// General worker threads. One more lane is reserved for interactive work.
    /// Defaults to the number of cores.
    pub workers: usize,
    /// Claims a job may use before it goes to the dead-letter table. A claim
    /// counts even when the process dies during the attempt.
    pub max_attempts: u32,
    /// The delay before the first retry of a transient failure.
    pub backoff_base: Duration,
    /// The longest delay between retries.
    pub backoff_cap: Duration,
    /// Where time comes from.
    pub clock: Arc<dyn Clock>,
    /// Directory intake pauses when READY holds more jobs than this...
    pub watermark_high: u64,
    /// ...and resumes when it holds fewer than this.
    pub watermark_low: u64,
    /// Most jobs leased by one claim, and most claimed jobs waiting in this
    /// process. The scheduler keeps fewer when stages are slow: enough for a
    /// few commits' worth of work.
    pub claim_batch: usize,
    /// How long the writer keeps a group commit open for more operations
    /// once a claim, an interactive completion or any other prompt operation
    /// is in it. Zero closes such a commit with whatever is already queued.
    pub commit_window: Duration,
    /// How long a group commit holding only completions of non-interactive
    /// jobs stays open (never shorter than `commit_window`). Those are sent
    /// while the engine's queue of claimed jobs is not empty, and nobody
    /// waits on them, so gathering more of them per commit saves the
    /// writer's CPU time and fsyncs during an import; the completion that
    /// finds the queue empty is prompt.
    pub background_commit_window: Duration,
    /// Most operations in one group commit. One gives a durable commit per operation.
    pub max_commit_ops: usize,
    /// How often an idle engine looks for work other processes queued.
    pub idle_poll: Duration,
    /// How long one call of a stage may take. A stage still running after
    /// this is abandoned (its thread is left to finish on its own, its
    /// result discarded) and the attempt counts as a failed one.
    pub stage_deadline: Duration,
    /// Whether other processes may open the store at the same time.
    pub sharing: Sharing,
    /// Bytes of database pages kept in memory. The hot pages (the head of
    /// the queue, leases, recent assets) are few; a larger cache only keeps
    /// more of a big store resident, so memory would grow with the library.
    pub cache_bytes: usize,
    /// Which assets go on to the expensive tiers (see [`EnrichmentGate`]). Applied by
    /// the process that completes jobs, so every process running workers on
    /// a store should use the same gate.
    pub gate: EnrichmentGate,
}

impl Default for Config {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        Config {
            workers: cores,
            max_attempts: 5,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
            watermark_high: 10_000,
            watermark_low: 5_000,
            claim_batch: 512,
            commit_window: Duration::from_micros(500),
            background_commit_window: Duration::from_millis(10),
            max_commit_ops: 1_000,
            idle_poll: Duration::from_millis(50),
            stage_deadline: Duration::from_secs(600),
            sharing: Sharing::MultiProcess,
            cache_bytes: 4 * 1024 * 1024,
            gate: EnrichmentGate::default(),
        }
    }
}

/// The delay before retry number `attempt` (1-based) of job `job_id`:
/// `min(cap, base * 2^(attempt-1))`, of which the upper half is jittered.
///
/// The jitter is a hash of the job id and attempt, so it spreads retries of
/// different jobs apart while staying reproducible in tests.
pub fn backoff_delay(config: &Config, job_id: u64, attempt: u32) -> Duration {
    let base = u64::try_from(config.backoff_base.as_nanos()).unwrap_or(u64::MAX);
    let cap = u64::try_from(config.backoff_cap.as_nanos()).unwrap_or(u64::MAX);
    let shift = attempt.saturating_sub(1).min(40);
    let full = base.saturating_mul(1u64 << shift).min(cap);
    let half = full / 2;
    let mut x = job_id
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(u64::from(attempt));
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    let jitter = if half == 0 { 0 } else { x % (half + 1) };
    Duration::from_nanos(full - half + jitter)
}
