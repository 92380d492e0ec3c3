//! Progress per import and per tier, with a rate and ETA derived from a
//! sliding window of samples. The publisher (`runtime::progress`) sends
//! these snapshots on a `tokio::sync::watch` channel.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use redb::ReadTransaction;

use crate::model::{ImportId, Priority, Tier};
use crate::views::status::{self, ImportState, JobCounts};

/// One tier's progress.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TierProgress {
    /// Jobs of this tier so far (grows as earlier tiers finish).
    pub total: u64,
    /// Finished, including skipped jobs (a duplicate's dropped work, or stages
    /// the gate kept an asset from).
    pub done: u64,
    /// Leased.
    pub running: u64,
    /// Waiting for a retry.
    pub retrying: u64,
    /// Dead letters.
    pub dead: u64,
    /// Jobs finished per second over the last few seconds.
    pub rate: f64,
    /// Time left at that rate, when there is a rate.
    pub eta: Option<Duration>,
}

impl TierProgress {
    fn from_counts(c: &JobCounts) -> TierProgress {
        TierProgress {
            total: c.total(),
            done: c.done + c.skipped,
            running: c.running,
            retrying: c.retrying,
            dead: c.dead,
            rate: 0.0,
            eta: None,
        }
    }

    /// Jobs not yet done or dead.
    pub fn remaining(&self) -> u64 {
        self.total.saturating_sub(self.done + self.dead)
    }
}

/// One import's progress.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportProgress {
    /// The import's id.
    pub id: ImportId,
    /// What was imported.
    pub root: String,
    /// Its priority.
    pub priority: Priority,
    /// Where it stands.
    pub state: ImportState,
    /// Files seen by intake.
    pub files_seen: u64,
    /// Per tier (tiers with jobs so far).
    pub tiers: BTreeMap<Tier, TierProgress>,
}

/// Progress of every import, and totals per tier.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Every import, oldest first.
    pub imports: Vec<ImportProgress>,
    /// Totals per tier over all imports.
    pub tiers: BTreeMap<Tier, TierProgress>,
}

impl Progress {
    /// The progress of one import.
    pub fn import(&self, id: ImportId) -> Option<&ImportProgress> {
        self.imports.iter().find(|i| i.id == id)
    }
}

/// Whose rate a sample series measures: one import's tier, or (no import)
/// a tier over every import.
type RateKey = (Option<ImportId>, Tier);

/// Samples of `done` per [`RateKey`] over a short window.
#[derive(Debug, Default)]
pub(crate) struct RateWindow {
    samples: HashMap<RateKey, VecDeque<(Instant, u64)>>,
}

const WINDOW: Duration = Duration::from_secs(10);

impl RateWindow {
    fn apply(&mut self, key: RateKey, tier: &mut TierProgress, now: Instant) {
        let samples = self.samples.entry(key).or_default();
        samples.push_back((now, tier.done + tier.dead));
        while samples.len() > 2
            && samples
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > WINDOW)
        {
            samples.pop_front();
        }
        if let (Some((t0, d0)), Some((t1, d1))) = (samples.front(), samples.back()) {
            let secs = t1.duration_since(*t0).as_secs_f64();
            if secs > 0.05 && d1 > d0 {
                tier.rate = (d1 - d0) as f64 / secs;
                let remaining = tier.remaining() as f64;
                tier.eta = Some(Duration::from_secs_f64(remaining / tier.rate));
            }
        }
    }
}

/// Reads the store and builds a progress snapshot.
pub(crate) fn snapshot(txn: &ReadTransaction, window: &mut RateWindow) -> Option<Progress> {
    let imports = status::imports(txn).ok()?;
    let now = Instant::now();
    let mut totals: BTreeMap<Tier, JobCounts> = BTreeMap::new();
    let mut out = Vec::with_capacity(imports.len());
    for import in imports {
        let mut tiers = BTreeMap::new();
        for (tier, counts) in &import.tiers {
            totals.entry(*tier).or_default().absorb(counts);
            let mut tp = TierProgress::from_counts(counts);
            window.apply((Some(import.id), *tier), &mut tp, now);
            tiers.insert(*tier, tp);
        }
        out.push(ImportProgress {
            id: import.id,
            root: import.root,
            priority: import.priority,
            state: import.state,
            files_seen: import.files_seen,
            tiers,
        });
    }
    let mut tiers = BTreeMap::new();
    for (tier, counts) in &totals {
        let mut tp = TierProgress::from_counts(counts);
        window.apply((None, *tier), &mut tp, now);
        tiers.insert(*tier, tp);
    }
    Some(Progress {
        imports: out,
        tiers,
    })
}
