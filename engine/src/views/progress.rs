//! Progress per import and per tier, in files, with a rate and ETA derived
//! from a sliding window of samples. The publisher (`runtime::progress`)
//! sends these snapshots on a `tokio::sync::watch` channel.
//!
//! The counts are read from the file counters the transactions that move
//! jobs keep (`FILE_COUNTS`), one short range read per import: no scan of
//! jobs or assets, whatever the size of the store.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use redb::{ReadOnlyTable, ReadTransaction};

use crate::error::EngineError;
use crate::model::{ImportId, JobState, Priority, Tier};
use crate::store::tables::{FILE_COUNTS, META, meta};
use crate::views::status::{self, ImportState, JobCounts};

/// One tier's progress, in files.
///
/// A file is counted in a tier of an import once it has work there: a job
/// of one of the tier's stages (for tier 1, every file taken in; for the
/// later tiers, once the stages they run after are done), or a stage of the
/// tier the enrichment gate skipped. Each such file is in exactly one of
/// the states below, so `done + running + retrying + dead` never exceeds
/// `total`; the rest wait to be claimed. A file whose jobs an import
/// resumed from an earlier one is counted in that earlier import only (its
/// jobs stay there), so it counts once.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TierProgress {
    /// Files with work in this tier so far (grows as files reach the tier).
    pub total: u64,
    /// Files whose every stage of the tier finished: done, or skipped (a
    /// duplicate's dropped work, stages the gate kept the file from).
    pub done: u64,
    /// Files with a job of the tier running, none dead.
    pub running: u64,
    /// Files with a job of the tier waiting for a retry, none running or
    /// dead.
    pub retrying: u64,
    /// Files with a dead letter in the tier.
    pub dead: u64,
    /// Files finished (done or dead) per second over the last few seconds.
    pub rate: f64,
    /// Time left at that rate, when there is a rate.
    pub eta: Option<Duration>,
}

impl TierProgress {
    /// Adds `n` files in `state` (a file state stored as a job state byte;
    /// `ready` means waiting).
    fn add(&mut self, state: u8, n: u64) {
        self.total += n;
        match JobState::from_stored(state) {
            Some(JobState::Done | JobState::Skipped) => self.done += n,
            Some(JobState::Running) => self.running += n,
            Some(JobState::Retrying) => self.retrying += n,
            Some(JobState::Dead) => self.dead += n,
            _ => {}
        }
    }

    /// Adds another tier's files to these (rates and ETAs aside).
    fn absorb(&mut self, other: &TierProgress) {
        self.total += other.total;
        self.done += other.done;
        self.running += other.running;
        self.retrying += other.retrying;
        self.dead += other.dead;
    }

    /// A store whose file counters are not built yet (made before them,
    /// and no primary that knows its stages has opened it since) shows its
    /// job counts instead.
    fn from_jobs(c: &JobCounts) -> TierProgress {
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

    /// Files not yet done or dead.
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
    /// Totals per tier over all imports: the sum of the imports' files. A
    /// file a re-run (`rerun:` import) or a new stage version gave more
    /// work in a tier counts in that import too, once more.
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

/// The files of one import by tier, from the file counters.
fn file_tiers(
    table: &ReadOnlyTable<(u64, u8, u8), u64>,
    import_id: u64,
) -> Result<BTreeMap<Tier, TierProgress>, EngineError> {
    let mut tiers: BTreeMap<Tier, TierProgress> = BTreeMap::new();
    for entry in table.range((import_id, 0u8, 0u8)..=(import_id, u8::MAX, u8::MAX))? {
        let (key, value) = entry?;
        let (_, tier, state) = key.value();
        tiers
            .entry(Tier::from_stored(tier))
            .or_default()
            .add(state, value.value());
    }
    Ok(tiers)
}

/// Reads the store and builds a progress snapshot.
pub(crate) fn snapshot(txn: &ReadTransaction, window: &mut RateWindow) -> Option<Progress> {
    let imports = status::imports(txn).ok()?;
    let built = txn
        .open_table(META)
        .ok()?
        .get(meta::FILE_COUNTS_BUILT)
        .ok()?
        .is_some();
    let files = txn.open_table(FILE_COUNTS).ok()?;
    let now = Instant::now();
    let mut totals: BTreeMap<Tier, TierProgress> = BTreeMap::new();
    let mut out = Vec::with_capacity(imports.len());
    for import in imports {
        let counted = if built {
            file_tiers(&files, import.id.get()).ok()?
        } else {
            import
                .tiers
                .iter()
                .map(|(tier, counts)| (*tier, TierProgress::from_jobs(counts)))
                .collect()
        };
        let mut tiers = BTreeMap::new();
        for (tier, mut tp) in counted {
            totals.entry(tier).or_default().absorb(&tp);
            window.apply((Some(import.id), tier), &mut tp, now);
            tiers.insert(tier, tp);
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
    for (tier, mut tp) in totals {
        window.apply((None, tier), &mut tp, now);
        tiers.insert(tier, tp);
    }
    Some(Progress {
        imports: out,
        tiers,
    })
}
