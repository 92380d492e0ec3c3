//! The default run: the urgent files alone on an idle engine, then rounds of
//! a decode-floor pass followed by a batch import on a fresh store, with the
//! urgent files submitted at interactive priority while the batch is in
//! tier 1. As in `tier1_bench`, the best floor and the best import are
//! compared, since a shared machine only ever makes a pass slower; the
//! median import is printed beside it.

use crate::Args;
use crate::run::{self, TierTimes};
use kiln::engine::{Engine, ImportId, JobState, Priority, Tier};
use kiln_bench::work::{Work, fresh_dir, real_size_corpus};
use kiln_bench::{Pass, decode_only, process_cpu_seconds, run_pool, threads_cpu_seconds};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Rounds of one decode-floor pass and one batch import, interleaved so a
/// change in the machine's load meets both; the best of each is kept, as
/// `tier1_bench` does.
const ROUNDS: usize = 3;
/// Urgent files: each is submitted at interactive priority during the batch
/// (one after the other, while the batch is in tier 1) and alone on an idle
/// engine; the medians are compared, since one file takes only tens of
/// milliseconds and the machine is shared.
const URGENT: usize = 3;

/// The corpus of the batch and the extra files for the urgent uploads.
struct Corpus {
    dir: PathBuf,
    files: Vec<PathBuf>,
    bytes: u64,
    urgent: Vec<PathBuf>,
}

/// Builds `files + URGENT` unique files and moves the last ones to a folder
/// of their own: the urgent files are the same kind of image as the batch,
/// but not part of its folder.
fn build(args: &Args, work: &Path) -> Result<Corpus, String> {
    let dir = work.join("corpus-batch");
    let urgent_dir = fresh_dir(work.join("urgent"))?;
    let built = real_size_corpus(&dir, args.files + URGENT, args.from.as_deref())?;
    let mut files = built.files;
    std::fs::create_dir_all(&urgent_dir)
        .map_err(|e| format!("cannot create {}: {e}", urgent_dir.display()))?;
    let mut urgent = Vec::with_capacity(URGENT);
    let mut bytes = built.total_bytes;
    for last in files.split_off(files.len().saturating_sub(URGENT)) {
        let name = last.file_name().ok_or("a corpus file has no name")?;
        let moved = urgent_dir.join(name);
        std::fs::rename(&last, &moved)
            .map_err(|e| format!("cannot move {}: {e}", last.display()))?;
        bytes = bytes.saturating_sub(std::fs::metadata(&moved).map_or(0, |m| m.len()));
        urgent.push(moved);
    }
    if files.is_empty() || urgent.is_empty() {
        return Err("the corpus is too small for a batch and urgent files".to_owned());
    }
    Ok(Corpus {
        dir,
        files,
        bytes,
        urgent,
    })
}

fn fresh_store(work: &Path, name: &str) -> Result<PathBuf, String> {
    fresh_dir(work.join(name))
}

/// An urgent file submitted during the batch.
struct Probe {
    /// When it went in.
    submitted: Instant,
    /// How long after the batch started it went in.
    at: Duration,
    /// Its single-file import.
    id: ImportId,
    /// Tier-1 jobs of the batch done when it went in.
    tier1_done: u64,
    /// Whether the batch was still in tier 1 when it went in.
    in_tier1: bool,
    /// From submission to searchable, once it is.
    took: Option<Duration>,
}

/// What the batch import measured.
struct BatchResult {
    times: TierTimes,
    probes: Vec<Probe>,
    /// Tier-1 jobs of the whole batch.
    tier1_jobs: u64,
    /// CPU seconds this process used from the import's start until the
    /// batch was browsable (tier-2 work done meanwhile included).
    browsable_cpu: Option<f64>,
    /// Of that, the writer thread's CPU seconds.
    writer_cpu: Option<f64>,
    /// Jobs done per stage at that moment: how much work of higher tiers
    /// ran before the batch was browsable.
    done_at_browsable: Vec<(String, u64)>,
    /// The writer's group commits until browsable: how many, how many
    /// operations they held, and their mean duration.
    commits_at_browsable: (u64, u64, Duration),
    tier3: Tier3Phase,
    dead: u64,
}

/// The tier-3 phase, from searchable to enriched: how much tier-3 work was
/// left for it and the CPU it took. Its length alone also depends on how
/// much tier-3 work ran before the batch was searchable (background jobs
/// fill gaps in the tier-2 work) and on what else the machine ran.
#[derive(Debug, Default, Clone, Copy)]
struct Tier3Phase {
    /// Tier-3 jobs done when the batch became searchable.
    done_before: u64,
    /// Tier-3 jobs done once it was enriched (the urgent files' included).
    done_after: u64,
    /// CPU seconds of this process during the phase.
    cpu: Option<f64>,
}

/// Tier-3 jobs done so far, over every stage of `stages`.
fn jobs_done(engine: &Engine, stages: &[String]) -> Result<u64, String> {
    let metrics = engine.metrics().map_err(|e| e.to_string())?;
    Ok(stages
        .iter()
        .filter_map(|stage| metrics.by_stage.get(stage))
        .map(|states| states.get(&JobState::Done).copied().unwrap_or(0))
        .sum())
}

/// Marks `probe` done if its file is searchable.
fn check(engine: &Engine, probe: &mut Probe) -> Result<(), String> {
    if probe.took.is_none() && run::searchable(engine, probe.id)? {
        probe.took = Some(probe.submitted.elapsed());
    }
    Ok(())
}

/// Imports the batch and, once half of its tier-1 jobs (every tier-1 stage
/// for every file) are done, submits the urgent files at interactive
/// priority one after the other while the batch is in tier 1: the workers
/// are then busy decoding the batch's images. The first goes in even if the
/// batch has already left tier 1 (a tiny corpus), so there is a figure.
async fn batch(engine: &Engine, corpus: &Corpus) -> Result<BatchResult, String> {
    engine
        .start()
        .await
        .map_err(|e| format!("cannot start the engine: {e}"))?;
    let tier1_stages = engine.stages().iter().filter(|s| s.tier == 1).count() as u64;
    let tier1_jobs = corpus.files.len() as u64 * tier1_stages;
    let tier3_stages: Vec<String> = engine
        .stages()
        .into_iter()
        .filter(|s| s.tier == 3)
        .map(|s| s.name)
        .collect();
    let mut tier3 = Tier3Phase::default();
    let mut searchable_cpu = None;
    let trigger = (tier1_jobs / 2).max(1);
    let start = Instant::now();
    let cpu_start = process_cpu_seconds();
    let writer_start = threads_cpu_seconds("kiln-writer");
    let mut browsable_cpu = None;
    let mut writer_cpu = None;
    let mut done_at_browsable = Vec::new();
    let mut commits_at_browsable = (0, 0, Duration::ZERO);
    let import = engine
        .import_dir(&corpus.dir, Priority::Batch)
        .await
        .map_err(|e| format!("cannot import {}: {e}", corpus.dir.display()))?;
    let mut probes: Vec<Probe> = Vec::new();
    let mut next = corpus.urgent.iter();
    let times = run::follow(engine, import, start, async |times: &TierTimes| {
        if times.searchable.is_some() && searchable_cpu.is_none() {
            searchable_cpu = process_cpu_seconds();
            tier3.done_before = jobs_done(engine, &tier3_stages)?;
        }
        if times.browsable.is_some() && browsable_cpu.is_none() {
            browsable_cpu = cpu_start.zip(process_cpu_seconds()).map(|(a, b)| b - a);
            writer_cpu = writer_start
                .zip(threads_cpu_seconds("kiln-writer"))
                .map(|(a, b)| b - a);
            let metrics = engine.metrics().map_err(|e| e.to_string())?;
            done_at_browsable = metrics
                .by_stage
                .iter()
                .map(|(stage, states)| {
                    (
                        stage.clone(),
                        states.get(&JobState::Done).copied().unwrap_or(0),
                    )
                })
                .collect();
            commits_at_browsable = (metrics.commits, metrics.commit_ops, metrics.mean_commit);
        }
        if let Some(probe) = probes.last_mut() {
            check(engine, probe)?;
        }
        let in_tier1 = times.browsable.is_none();
        let idle_probe = probes.last().is_none_or(|p| p.took.is_some());
        if idle_probe && (in_tier1 || probes.is_empty()) {
            let progress = engine.progress().map_err(|e| e.to_string())?;
            let tier1_done = progress
                .import(import)
                .and_then(|i| i.tiers.get(&Tier::Browsable))
                .map_or(0, |t| t.done);
            if (tier1_done >= trigger || !in_tier1)
                && let Some(file) = next.next()
            {
                let (id, submitted) = run::submit(engine, file, Priority::Interactive).await?;
                probes.push(Probe {
                    submitted,
                    at: submitted.duration_since(start),
                    id,
                    tier1_done,
                    in_tier1,
                    took: None,
                });
            }
        }
        Ok(())
    })
    .await?;
    tier3.cpu = searchable_cpu
        .zip(process_cpu_seconds())
        .map(|(a, b)| b - a);
    tier3.done_after = jobs_done(engine, &tier3_stages)?;
    // The batch may finish before the last urgent file does.
    if let Some(probe) = probes.last_mut() {
        while probe.took.is_none() {
            check(engine, probe)?;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let status = engine.status().map_err(|e| e.to_string())?;
    Ok(BatchResult {
        times,
        probes,
        tier1_jobs,
        browsable_cpu,
        writer_cpu,
        done_at_browsable,
        commits_at_browsable,
        tier3,
        dead: status.jobs.dead,
    })
}

fn print_pass(label: &str, round: usize, pass: &Pass) {
    let cpu = pass.cpu.map_or("n/a".to_owned(), |c| format!("{c:.2}s"));
    println!(
        "round {round}: {label}: wall {:.3}s cpu {cpu} ({} failed)",
        pass.wall.as_secs_f64(),
        pass.failed
    );
}

/// The best decode-floor pass so far, by wall and by CPU time.
#[derive(Default)]
struct Floor {
    wall: Option<Duration>,
    cpu: Option<f64>,
}

impl Floor {
    fn pass(&mut self, files: &[PathBuf], threads: usize, round: usize) {
        let pass = run_pool(files, threads, decode_only);
        print_pass("decode floor", round, &pass);
        self.wall = Some(self.wall.map_or(pass.wall, |w| w.min(pass.wall)));
        self.cpu = match (self.cpu, pass.cpu) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// The median of some durations in seconds, NaN when there are none.
fn median_s(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times
        .get(times.len() / 2)
        .map_or(f64::NAN, Duration::as_secs_f64)
}

/// The default run; see the crate documentation.
pub(crate) fn run(args: &Args, work: &Work) -> Result<(), String> {
    let work = work.path();
    let corpus = build(args, work)?;
    println!(
        "corpus: {} files, {:.1} MB, threads={}, {} urgent files",
        corpus.files.len(),
        corpus.bytes as f64 / 1e6,
        args.threads,
        corpus.urgent.len()
    );
    // Warm the page cache so the floor and the import both read from memory.
    for path in corpus.files.iter().chain(&corpus.urgent) {
        let _ = std::fs::read(path);
    }
    // Every round's store is cleared now, so no round pays for deleting the
    // files of the one before it.
    let stores = (1..=ROUNDS)
        .map(|round| fresh_store(work, &format!("store-batch-{round}")))
        .collect::<Result<Vec<_>, _>>()?;
    if !run::reset_peak_rss() {
        println!("note: cannot reset the peak RSS; it includes building the corpus");
    }

    let runtime = run::runtime()?;
    let mut idle = Vec::with_capacity(corpus.urgent.len());
    for (round, file) in corpus.urgent.iter().enumerate() {
        // A folder per file: the search index of a store folder stays
        // registered in this process while its engine winds down.
        let store = fresh_store(work, &format!("store-idle-{round}"))?;
        let elapsed = runtime.block_on(run::time_idle(&store, file, &args.config()))?;
        println!(
            "urgent file {round} alone on an idle engine, submit to searchable: {:.3}s",
            elapsed.as_secs_f64()
        );
        idle.push(elapsed);
    }
    let idle_s = median_s(idle);

    let mut floor = Floor::default();
    let mut rounds = Vec::with_capacity(ROUNDS);
    for (round, store) in (1..=ROUNDS).zip(&stores) {
        floor.pass(&corpus.files, args.threads, round);
        let result = runtime.block_on(async {
            let kiln = run::open(store, &args.config())?;
            let engine = kiln.engine();
            let result = batch(engine, &corpus).await;
            run::close(kiln).await?;
            result
        })?;
        print_import(round, &result);
        rounds.push(result);
    }
    let peak = run::peak_rss_kb();
    let floor_s = floor.wall.map_or(f64::NAN, |f| f.as_secs_f64());
    let browsable = |r: &BatchResult| TierTimes::secs(r.times.browsable);
    rounds.sort_by(|a, b| browsable(a).total_cmp(&browsable(b)));
    let best = rounds.first().ok_or("no import round ran")?;
    let median = rounds.get(rounds.len() / 2).unwrap_or(best);

    let during: Vec<Duration> = rounds
        .iter()
        .flat_map(|r| &r.probes)
        .map(|p| p.took.unwrap_or_default())
        .collect();
    let interactive_s = median_s(during);
    let browsable_s = browsable(best);
    let searchable_s = TierTimes::secs(best.times.searchable);
    let enriched_s = TierTimes::secs(best.times.enriched);
    println!(
        "dead jobs: {} in all rounds",
        rounds.iter().map(|r| r.dead).sum::<u64>()
    );
    println!(
        "browsable vs decode floor (best of {ROUNDS} each): {browsable_s:.3}s / {floor_s:.3}s = {:.3} (target <= 1.3); median import: {:.3}s = {:.3}",
        browsable_s / floor_s,
        browsable(median),
        browsable(median) / floor_s
    );
    let browsable_cpu = best.browsable_cpu.unwrap_or(f64::NAN);
    let floor_cpu = floor.cpu.unwrap_or(f64::NAN);
    println!(
        "browsable vs decode floor in CPU time (best import, best floor): {browsable_cpu:.2}s / {floor_cpu:.2}s = {:.3}",
        browsable_cpu / floor_cpu
    );
    let worst_gap = |from: fn(&TierTimes) -> Option<Duration>,
                     to: fn(&TierTimes) -> Option<Duration>| {
        rounds
            .iter()
            .map(|r| TierTimes::secs(to(&r.times)) - TierTimes::secs(from(&r.times)))
            .fold(f64::NAN, f64::max)
    };
    println!(
        "searchable after browsable: {:.3}s (target <= 1 s); enriched after searchable: {:.3}s (target <= 3 s); worst of the rounds: {:.3}s and {:.3}s",
        searchable_s - browsable_s,
        enriched_s - searchable_s,
        worst_gap(|t| t.browsable, |t| t.searchable),
        worst_gap(|t| t.searchable, |t| t.enriched),
    );
    println!(
        "interactive vs idle (medians of all urgent files): {interactive_s:.3}s / {idle_s:.3}s = {:.3} (target <= 2)",
        interactive_s / idle_s
    );
    println!(
        "files={} browsable_s={browsable_s:.3} searchable_s={searchable_s:.3} enriched_s={enriched_s:.3} interactive_s={interactive_s:.3} idle_s={idle_s:.3} interactive_ratio={:.3} peak_rss_mb={:.1}",
        corpus.files.len(),
        interactive_s / idle_s,
        kiln_bench::proc::mb(peak)
    );
    Ok(())
}

/// What one batch import measured, as it finishes.
fn print_import(round: usize, result: &BatchResult) {
    for (index, probe) in result.probes.iter().enumerate() {
        println!(
            "round {round}: urgent file {index} submitted {:.3}s into the batch ({} of {} tier-1 jobs done, {}), searchable {:.3}s later",
            probe.at.as_secs_f64(),
            probe.tier1_done,
            result.tier1_jobs,
            if probe.in_tier1 {
                "batch in tier 1"
            } else {
                "batch past tier 1"
            },
            probe.took.unwrap_or_default().as_secs_f64()
        );
    }
    let done: Vec<String> = result
        .done_at_browsable
        .iter()
        .map(|(stage, n)| format!("{stage}={n}"))
        .collect();
    let (commits, ops, mean) = result.commits_at_browsable;
    println!(
        "round {round}: import: browsable {:.3}s (cpu {:.2}s, writer {:.2}s), searchable {:.3}s, enriched {:.3}s, {} dead jobs; when browsable: jobs done {}, {commits} commits of {ops} operations, {:.2} ms each",
        TierTimes::secs(result.times.browsable),
        result.browsable_cpu.unwrap_or(f64::NAN),
        result.writer_cpu.unwrap_or(f64::NAN),
        TierTimes::secs(result.times.searchable),
        TierTimes::secs(result.times.enriched),
        result.dead,
        done.join(" "),
        mean.as_secs_f64() * 1e3,
    );
    let phase = TierTimes::secs(result.times.enriched) - TierTimes::secs(result.times.searchable);
    let Tier3Phase {
        done_before,
        done_after,
        cpu,
    } = result.tier3;
    let left = done_after.saturating_sub(done_before);
    let cpu = cpu.unwrap_or(f64::NAN);
    println!(
        "round {round}: tier-3 phase: {phase:.3}s, {left} of {done_after} tier-3 jobs left when searchable, cpu {cpu:.2}s ({:.2} ms per job left, {:.2} cores busy)",
        cpu * 1e3 / left.max(1) as f64,
        cpu / phase
    );
}
