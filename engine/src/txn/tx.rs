//! The tables of one write transaction and the record-level writes every
//! operation shares: ids, job moves, counters.

use std::collections::HashMap;

use kiln_plugin_api::StageInfo;
use redb::{ReadableTable, Table, WriteTransaction};

use crate::config::Config;
use crate::error::EngineError;
use crate::graph::Graph;
use crate::model::{JobState, Priority};
use crate::store::tables::{
    self, ASSET_JOBS, ASSETS, AssetRecord, COLLECTION_ITEMS, COLLECTION_MEMBERS, COLLECTIONS,
    CURATION, CURATION_FAVORITES, CURATION_RATINGS, CURATION_TAGS, DEAD, FACTS, FILE_COUNTS,
    FILE_TIERS, FILES, FileRecord, FileTier, GATE_DECISIONS, HASHES, IMPORT_BUDGETS, IMPORT_COUNTS,
    IMPORT_RESUMES, IMPORTS, ImportRecord, JOBS, JobRecord, LEASES, META, PURGED, READY, RETRYING,
    ReadyKey, SETTINGS, STAGE_COUNTS, UNREADABLE_FOLDERS, decode, encode,
};

/// The tables of one write transaction, plus the counter changes not yet written.
pub(crate) struct Tx<'t> {
    pub(crate) meta: Table<'t, &'static str, u64>,
    pub(crate) jobs: Table<'t, u64, &'static [u8]>,
    pub(crate) ready: Table<'t, ReadyKey, ()>,
    pub(crate) leases: Table<'t, u64, (u64, u64, u32)>,
    pub(crate) retrying: Table<'t, (u64, u64), ()>,
    pub(crate) dead: Table<'t, u64, ()>,
    pub(crate) assets: Table<'t, u64, &'static [u8]>,
    pub(crate) files: Table<'t, &'static str, &'static [u8]>,
    pub(crate) hashes: Table<'t, &'static [u8], u64>,
    pub(crate) facts: Table<'t, (u64, &'static str), &'static [u8]>,
    pub(crate) asset_jobs: Table<'t, (u64, &'static str), u64>,
    pub(crate) imports: Table<'t, u64, &'static [u8]>,
    pub(crate) gate_decisions: Table<'t, u64, &'static [u8]>,
    pub(crate) import_budgets: Table<'t, u64, (u64, u64)>,
    pub(crate) import_resumes: Table<'t, (u64, u64), ()>,
    pub(crate) purged: Table<'t, (u64, &'static str), u32>,
    pub(crate) unreadable_folders: Table<'t, (u64, &'static str), &'static str>,
    pub(crate) settings: Table<'t, &'static str, &'static [u8]>,
    pub(crate) curation: Table<'t, &'static [u8], &'static [u8]>,
    pub(crate) curation_tags: Table<'t, (&'static str, &'static [u8]), ()>,
    pub(crate) curation_ratings: Table<'t, (u8, &'static [u8]), ()>,
    pub(crate) curation_favorites: Table<'t, &'static [u8], ()>,
    pub(crate) collections: Table<'t, &'static str, &'static [u8]>,
    pub(crate) collection_items: Table<'t, (u64, u64), &'static [u8]>,
    pub(crate) collection_members: Table<'t, (u64, &'static [u8]), u64>,
    import_counts: Table<'t, (u64, u8, u8), u64>,
    stage_counts: Table<'t, (&'static str, u8), u64>,
    pub(crate) file_tiers: Table<'t, (u64, u64, u8), FileTier>,
    pub(crate) file_counts: Table<'t, (u64, u8, u8), u64>,
    import_deltas: HashMap<(u64, u8, JobState), i64>,
    /// Changes of each file's jobs by class, per `(import, asset, tier)`.
    file_tier_deltas: HashMap<(u64, u64, u8), [i64; 5]>,
    /// Changes of the file counters, per `(import, tier, file state)`.
    file_deltas: HashMap<(u64, u8, JobState), i64>,
    /// Import priorities read in this transaction.
    import_priorities: HashMap<u64, u8>,
    /// Sequences read once per transaction and written back at flush.
    sequences: HashMap<&'static str, u64>,
    stage_deltas: HashMap<(String, JobState), i64>,
    pub(crate) now: u64,
    pub(crate) config: &'t Config,
    pub(crate) graph: &'t Graph,
}

impl<'t> Tx<'t> {
    pub(crate) fn open(
        txn: &'t WriteTransaction,
        now: u64,
        config: &'t Config,
        graph: &'t Graph,
    ) -> Result<Tx<'t>, EngineError> {
        Ok(Tx {
            meta: txn.open_table(META)?,
            jobs: txn.open_table(JOBS)?,
            ready: txn.open_table(READY)?,
            leases: txn.open_table(LEASES)?,
            retrying: txn.open_table(RETRYING)?,
            dead: txn.open_table(DEAD)?,
            assets: txn.open_table(ASSETS)?,
            files: txn.open_table(FILES)?,
            hashes: txn.open_table(HASHES)?,
            facts: txn.open_table(FACTS)?,
            asset_jobs: txn.open_table(ASSET_JOBS)?,
            imports: txn.open_table(IMPORTS)?,
            gate_decisions: txn.open_table(GATE_DECISIONS)?,
            import_budgets: txn.open_table(IMPORT_BUDGETS)?,
            import_resumes: txn.open_table(IMPORT_RESUMES)?,
            purged: txn.open_table(PURGED)?,
            unreadable_folders: txn.open_table(UNREADABLE_FOLDERS)?,
            settings: txn.open_table(SETTINGS)?,
            curation: txn.open_table(CURATION)?,
            curation_tags: txn.open_table(CURATION_TAGS)?,
            curation_ratings: txn.open_table(CURATION_RATINGS)?,
            curation_favorites: txn.open_table(CURATION_FAVORITES)?,
            collections: txn.open_table(COLLECTIONS)?,
            collection_items: txn.open_table(COLLECTION_ITEMS)?,
            collection_members: txn.open_table(COLLECTION_MEMBERS)?,
            import_counts: txn.open_table(IMPORT_COUNTS)?,
            stage_counts: txn.open_table(STAGE_COUNTS)?,
            file_tiers: txn.open_table(FILE_TIERS)?,
            file_counts: txn.open_table(FILE_COUNTS)?,
            import_deltas: HashMap::new(),
            file_tier_deltas: HashMap::new(),
            file_deltas: HashMap::new(),
            sequences: HashMap::new(),
            import_priorities: HashMap::new(),
            stage_deltas: HashMap::new(),
            now,
            config,
            graph,
        })
    }

    /// Takes the next value of a sequence (ids start at 1).
    pub(crate) fn next_id(&mut self, key: &'static str) -> Result<u64, EngineError> {
        let current = match self.sequences.get(key) {
            Some(&n) => n,
            None => self.meta.get(key)?.map(|v| v.value()).unwrap_or(1),
        };
        self.sequences.insert(key, current + 1);
        Ok(current)
    }

    /// Makes sure a sequence's next value is at least `next`.
    pub(crate) fn sequence_at_least(&mut self, key: &'static str, next: u64) {
        let slot = self.sequences.entry(key).or_insert(next);
        *slot = (*slot).max(next);
    }

    pub(crate) fn job(&self, job_id: u64) -> Result<Option<JobRecord>, EngineError> {
        match self.jobs.get(job_id)? {
            Some(bytes) => Ok(Some(decode("jobs", bytes.value())?)),
            None => Ok(None),
        }
    }

    pub(crate) fn put_job(&mut self, job_id: u64, job: &JobRecord) -> Result<(), EngineError> {
        let bytes = encode("jobs", job)?;
        self.jobs.insert(job_id, bytes.as_slice())?;
        Ok(())
    }

    pub(crate) fn asset(&self, asset_id: u64) -> Result<Option<AssetRecord>, EngineError> {
        match self.assets.get(asset_id)? {
            Some(bytes) => Ok(Some(decode("assets", bytes.value())?)),
            None => Ok(None),
        }
    }

    pub(crate) fn put_asset(
        &mut self,
        asset_id: u64,
        asset: &AssetRecord,
    ) -> Result<(), EngineError> {
        let bytes = encode("assets", asset)?;
        self.assets.insert(asset_id, bytes.as_slice())?;
        Ok(())
    }

    pub(crate) fn file(&self, path: &str) -> Result<Option<FileRecord>, EngineError> {
        match self.files.get(path)? {
            Some(bytes) => Ok(Some(decode("files", bytes.value())?)),
            None => Ok(None),
        }
    }

    /// Whether every stage named in `after` is done for `asset_id`.
    pub(crate) fn all_done(&self, asset_id: u64, after: &[String]) -> Result<bool, EngineError> {
        for before in after {
            if self.facts.get((asset_id, before.as_str()))?.is_none() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub(crate) fn import(&self, import_id: u64) -> Result<Option<ImportRecord>, EngineError> {
        match self.imports.get(import_id)? {
            Some(bytes) => Ok(Some(decode("imports", bytes.value())?)),
            None => Ok(None),
        }
    }

    /// The priority of an import (batch if it is unknown).
    pub(crate) fn import_priority(&mut self, import_id: u64) -> Result<u8, EngineError> {
        if let Some(&p) = self.import_priorities.get(&import_id) {
            return Ok(p);
        }
        let p = self.import(import_id)?.map(|i| i.priority).unwrap_or(1);
        self.import_priorities.insert(import_id, p);
        Ok(p)
    }

    pub(crate) fn put_import(
        &mut self,
        import_id: u64,
        import: &ImportRecord,
    ) -> Result<(), EngineError> {
        let bytes = encode("imports", import)?;
        self.imports.insert(import_id, bytes.as_slice())?;
        Ok(())
    }

    /// Records that `job` moved between states (`None` = did not exist / gone).
    pub(crate) fn count(&mut self, job: &JobRecord, from: Option<JobState>, to: Option<JobState>) {
        for (s, d) in [(from, -1i64), (to, 1i64)] {
            if let Some(s) = s {
                *self
                    .import_deltas
                    .entry((job.import_id, job.tier, s))
                    .or_default() += d;
                *self.stage_deltas.entry((job.stage.clone(), s)).or_default() += d;
                if job.asset_id == 0 {
                    // A file intake could not read: its one job is the file.
                    *self
                        .file_deltas
                        .entry((job.import_id, job.tier, file_state_of_job(s)))
                        .or_default() += d;
                } else {
                    self.file_tier_deltas
                        .entry((job.import_id, job.asset_id, job.tier))
                        .or_default()[class(s)] += d;
                }
            }
        }
    }

    /// Counts one job of `stage` (of `tier`, for `asset_id` in `import_id`)
    /// that the gate skipped before it was ever created.
    pub(crate) fn count_gated(&mut self, import_id: u64, asset_id: u64, tier: u8, stage: &str) {
        *self
            .import_deltas
            .entry((import_id, tier, JobState::Skipped))
            .or_default() += 1;
        *self
            .stage_deltas
            .entry((stage.to_owned(), JobState::Skipped))
            .or_default() += 1;
        self.file_tier_deltas
            .entry((import_id, asset_id, tier))
            .or_default()[class(JobState::Skipped)] += 1;
    }

    /// Creates a READY job for `stage` of `asset_id` in `import_id`, in line
    /// from now.
    ///
    /// The job's priority is the import's, except that tier-3 work of a batch
    /// import runs at background priority.
    pub(crate) fn enqueue(
        &mut self,
        asset_id: u64,
        import_id: u64,
        import_priority: u8,
        stage: &str,
        tier: u8,
        path: &str,
    ) -> Result<u64, EngineError> {
        let now = self.now;
        self.enqueue_in_line(asset_id, import_id, import_priority, stage, tier, path, now)
    }

    /// Enqueues stage `next` for `job`'s asset, in `job`'s import and at
    /// place `enqueue_ns`, once all its predecessors are done, unless it is
    /// done or queued already.
    pub(crate) fn enqueue_if_ready(
        &mut self,
        job: &JobRecord,
        next: &StageInfo,
        import_priority: u8,
        enqueue_ns: u64,
    ) -> Result<(), EngineError> {
        let key = (job.asset_id, next.name.as_str());
        if self.facts.get(key)?.is_some() || self.asset_jobs.get(key)?.is_some() {
            return Ok(());
        }
        if self.all_done(job.asset_id, &next.after)? {
            self.enqueue_in_line(
                job.asset_id,
                job.import_id,
                import_priority,
                &next.name,
                next.tier,
                &job.path,
                enqueue_ns,
            )?;
        }
        Ok(())
    }

    /// As [`Tx::enqueue`], with the job's place in line (`enqueue_ns`) given.
    #[allow(clippy::too_many_arguments)]
    fn enqueue_in_line(
        &mut self,
        asset_id: u64,
        import_id: u64,
        import_priority: u8,
        stage: &str,
        tier: u8,
        path: &str,
        enqueue_ns: u64,
    ) -> Result<u64, EngineError> {
        let priority = if tier >= kiln_plugin_api::TIER_ENRICHED
            && import_priority == Priority::Batch.as_u8()
        {
            Priority::Background.as_u8()
        } else {
            import_priority
        };
        let job_id = self.next_id(tables::meta::NEXT_JOB)?;
        let job = JobRecord {
            asset_id,
            import_id,
            stage: stage.to_owned(),
            tier,
            priority,
            state: JobState::Ready,
            attempts: 0,
            enqueue_ns,
            suspect: false,
            run_at_ns: 0,
            path: path.to_owned(),
            history: Vec::new(),
        };
        self.put_job(job_id, &job)?;
        self.ready.insert(job.ready_key(job_id), ())?;
        if asset_id != 0 {
            self.asset_jobs.insert((asset_id, stage), job_id)?;
        }
        self.count(&job, None, Some(JobState::Ready));
        Ok(job_id)
    }

    /// Appends the job's current attempt, failed with `error`, to its bounded history.
    pub(crate) fn record_attempt(&self, job: &mut JobRecord, error: String) {
        job.history.push(tables::AttemptRecord {
            attempt: job.attempts,
            at_ns: self.now,
            error,
        });
        trim_history(job);
    }

    /// Moves a job to the dead-letter table with `error` as its last attempt's error.
    pub(crate) fn bury(
        &mut self,
        job_id: u64,
        job: &mut JobRecord,
        error: String,
    ) -> Result<(), EngineError> {
        let from = job.state;
        self.record_attempt(job, error);
        job.state = JobState::Dead;
        job.suspect = false;
        self.put_job(job_id, job)?;
        self.dead.insert(job_id, ())?;
        self.count(job, Some(from), Some(JobState::Dead));
        Ok(())
    }

    /// Removes a job that will not run (its asset turned out to be a duplicate).
    pub(crate) fn skip(&mut self, job_id: u64, job: &JobRecord) -> Result<(), EngineError> {
        match job.state {
            JobState::Ready => {
                self.ready.remove(job.ready_key(job_id))?;
            }
            JobState::Retrying => {
                self.retrying.remove((job.run_at_ns, job_id))?;
            }
            JobState::Running => {
                self.leases.remove(job_id)?;
            }
            JobState::Dead => {
                self.dead.remove(job_id)?;
            }
            _ => {}
        }
        self.jobs.remove(job_id)?;
        self.asset_jobs.remove((job.asset_id, job.stage.as_str()))?;
        self.count(job, Some(job.state), Some(JobState::Skipped));
        Ok(())
    }

    /// Skips every live job of `asset_id`. A leased job loses its lease, so
    /// its worker's result is rejected by the fence and never applied.
    pub(crate) fn cancel_asset_jobs(&mut self, asset_id: u64) -> Result<(), EngineError> {
        let live: Vec<u64> = self
            .asset_jobs
            .range((asset_id, "")..(asset_id.saturating_add(1), ""))?
            .map(|entry| entry.map(|(_, v)| v.value()))
            .collect::<Result<_, _>>()?;
        for job_id in live {
            let leased = self.leases.get(job_id)?.is_some();
            if let Some(mut record) = self.job(job_id)? {
                if leased {
                    record.state = JobState::Running;
                }
                self.skip(job_id, &record)?;
            }
        }
        Ok(())
    }

    /// Writes the summed counter changes. Called once, before commit.
    pub(crate) fn flush_counts(&mut self) -> Result<(), EngineError> {
        for (key, next) in std::mem::take(&mut self.sequences) {
            self.meta.insert(key, next)?;
        }
        for ((import, tier, state), delta) in std::mem::take(&mut self.import_deltas) {
            if delta == 0 {
                continue;
            }
            let s = state.stored();
            let current = self
                .import_counts
                .get((import, tier, s))?
                .map(|v| v.value())
                .unwrap_or(0);
            let next = apply(current, delta);
            if next == 0 {
                self.import_counts.remove((import, tier, s))?;
            } else {
                self.import_counts.insert((import, tier, s), next)?;
            }
        }
        self.flush_file_tiers()?;
        for ((import, tier, state), delta) in std::mem::take(&mut self.file_deltas) {
            if delta == 0 {
                continue;
            }
            let key = (import, tier, state.stored());
            let current = self.file_counts.get(key)?.map(|v| v.value()).unwrap_or(0);
            let next = apply(current, delta);
            if next == 0 {
                self.file_counts.remove(key)?;
            } else {
                self.file_counts.insert(key, next)?;
            }
        }
        for ((stage, state), delta) in std::mem::take(&mut self.stage_deltas) {
            if delta == 0 {
                continue;
            }
            let key = (stage.as_str(), state.stored());
            let current = self.stage_counts.get(key)?.map(|v| v.value()).unwrap_or(0);
            let next = apply(current, delta);
            if next == 0 {
                self.stage_counts.remove(key)?;
            } else {
                self.stage_counts.insert(key, next)?;
            }
        }
        Ok(())
    }
}

impl Tx<'_> {
    /// Drops the file counter changes not yet written: the counters were
    /// just built from the tables, which hold those changes already.
    pub(crate) fn forget_file_deltas(&mut self) {
        self.file_tier_deltas.clear();
        self.file_deltas.clear();
    }

    /// Applies each file's job changes to its `FILE_TIERS` record and moves
    /// the file between the file counters when its state changed.
    fn flush_file_tiers(&mut self) -> Result<(), EngineError> {
        for (key, delta) in std::mem::take(&mut self.file_tier_deltas) {
            if delta == [0; 5] {
                continue;
            }
            let before = self.file_tiers.get(key)?.map(|v| v.value());
            let old = before.map(unpack).unwrap_or([0; 5]);
            let mut new = [0u32; 5];
            for (slot, (o, d)) in new.iter_mut().zip(old.iter().zip(delta)) {
                *slot = u32::try_from(apply(u64::from(*o), d)).unwrap_or(u32::MAX);
            }
            let (import, _, tier) = key;
            if let Some(state) = file_state(old) {
                *self.file_deltas.entry((import, tier, state)).or_default() -= 1;
            }
            if let Some(state) = file_state(new) {
                *self.file_deltas.entry((import, tier, state)).or_default() += 1;
            }
            if new == [0; 5] {
                self.file_tiers.remove(key)?;
            } else {
                self.file_tiers.insert(key, pack(new))?;
            }
        }
        Ok(())
    }
}

/// The class slot of a job state in a [`FileTier`].
pub(crate) fn class(state: JobState) -> usize {
    match state {
        JobState::Ready => 0,
        JobState::Running => 1,
        JobState::Retrying => 2,
        JobState::Dead => 3,
        JobState::Done | JobState::Skipped => 4,
    }
}

pub(crate) fn unpack(t: FileTier) -> [u32; 5] {
    [t.0, t.1, t.2, t.3, t.4]
}

pub(crate) fn pack(a: [u32; 5]) -> FileTier {
    (a[0], a[1], a[2], a[3], a[4])
}

/// A file's state in a tier from its jobs there: dead when one is dead,
/// else running when one runs, else retrying when one waits for a retry,
/// else waiting (`Ready`) when one waits to be claimed, else done; `None`
/// with no job.
pub(crate) fn file_state(jobs: [u32; 5]) -> Option<JobState> {
    let [ready, running, retrying, dead, finished] = jobs;
    Some(if dead > 0 {
        JobState::Dead
    } else if running > 0 {
        JobState::Running
    } else if retrying > 0 {
        JobState::Retrying
    } else if ready > 0 {
        JobState::Ready
    } else if finished > 0 {
        JobState::Done
    } else {
        return None;
    })
}

/// The file state of a file whose only job is in `state`.
fn file_state_of_job(state: JobState) -> JobState {
    match state {
        JobState::Skipped => JobState::Done,
        other => other,
    }
}

fn apply(current: u64, delta: i64) -> u64 {
    if delta >= 0 {
        current.saturating_add(delta.unsigned_abs())
    } else {
        current.saturating_sub(delta.unsigned_abs())
    }
}

/// Keeps the attempt history bounded: the first and the latest attempts say the most.
fn trim_history(job: &mut JobRecord) {
    const KEEP: usize = 16;
    if job.history.len() > KEEP {
        let excess = job.history.len() - KEEP;
        job.history.drain(1..=excess);
    }
}
