//! Throughput of the engine with no-op stages: group commit against one
//! durable commit per operation, measured in the same run.
//!
//! `cargo run --release -p kiln-engine --example engine_bench`
//!
//! Each file gets four no-op stages over three tiers (4 jobs per file), with
//! full durability (every commit fsynced). The grouped runs process
//! `KILN_BENCH_FILES` files (default 25,000 = 100,000 jobs), three times in
//! each sharing mode, alternating, and report medians: the multi-process mode
//! (redb `MultiWriter`, what the CLI uses) and the exclusive mode show what
//! sharing the store costs. The one-commit-per-operation baseline
//! (`max_commit_ops = 1`, `claim_batch = 1`) processes
//! `KILN_BENCH_BASELINE_FILES` files (default 1,000 = 4,000 jobs), since at its
//! rate the full set would take many minutes; rates are per second either way.
//! Intake runs before the clock starts: the figure is claim + run + complete.
//! The last line is `jobs_per_sec=<N> one_commit_per_op_jobs_per_sec=<M> ratio=<N/M>`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_engine::{Config, Engine, Priority, Sharing, Until};
use kiln_plugin_api::{Stage, StageError, StageInfo, StageInput, StageOutput, Value};

struct Noop(StageInfo);

impl Stage for Noop {
    fn info(&self) -> StageInfo {
        self.0.clone()
    }

    fn process(&self, _input: &StageInput) -> Result<StageOutput, StageError> {
        Ok(StageOutput::facts(Value::Null))
    }
}

fn stages() -> Vec<Arc<dyn Stage>> {
    vec![
        Arc::new(Noop(StageInfo::new("a", 1, 1))),
        Arc::new(Noop(StageInfo::new("b", 1, 1).after(["a"]))),
        Arc::new(Noop(StageInfo::new("c", 1, 2).after(["b"]))),
        Arc::new(Noop(StageInfo::new("d", 1, 3).after(["c"]))),
    ]
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn make_input(dir: &Path, files: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for i in 0..files {
        std::fs::write(dir.join(format!("f{i:06}.png")), i.to_le_bytes())?;
    }
    Ok(())
}

/// Runs one measured pass over `input` into a fresh store and returns jobs per second.
async fn pass(
    label: &str,
    input: &Path,
    files: usize,
    config: Config,
) -> Result<f64, Box<dyn std::error::Error>> {
    let work = tempfile::tempdir()?;
    let engine = Engine::open(work.path().join("store"), config)?;
    for stage in stages() {
        engine.register_stage(stage)?;
    }
    let import = engine.import_dir(input, Priority::Batch).await?;
    if !engine.wait_intake(import).await? {
        return Err(format!("{label}: intake did not finish").into());
    }
    let before = engine.metrics()?;
    let started = Instant::now();
    engine.run_until(Until::Idle).await?;
    let elapsed = started.elapsed();
    let status = engine.status()?;
    let after = engine.metrics()?;
    engine.shutdown().await;
    let jobs = status.jobs.done;
    let commits = after.commits - before.commits;
    let ops = after.commit_ops - before.commit_ops;
    let total_ns = |m: &kiln_engine::Metrics, d: Duration| d.as_nanos() as f64 * m.commits as f64;
    let commit_ns = total_ns(&after, after.mean_commit) - total_ns(&before, before.mean_commit);
    let sync_ns = total_ns(&after, after.mean_sync) - total_ns(&before, before.mean_sync);
    let per_commit = |ns: f64| Duration::from_nanos((ns / commits.max(1) as f64) as u64);
    let rate = jobs as f64 / elapsed.as_secs_f64();
    println!(
        "{label}: {jobs} jobs in {:.2}s = {rate:.0} jobs/s ({commits} commits, {:.1} ops/commit, \
         mean commit {:?} of which redb commit {:?})",
        elapsed.as_secs_f64(),
        ops as f64 / commits.max(1) as f64,
        per_commit(commit_ns),
        per_commit(sync_ns),
    );
    if jobs != 4 * files as u64 {
        return Err(format!("{label}: expected {} jobs, {jobs} done", 4 * files).into());
    }
    Ok(rate)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = env_count("KILN_BENCH_FILES", 25_000);
    let baseline_files = env_count("KILN_BENCH_BASELINE_FILES", 1_000);
    let rounds = env_count("KILN_BENCH_ROUNDS", 3).max(1);
    let work = tempfile::tempdir()?;
    let input = work.path().join("input");
    let baseline_input = work.path().join("baseline");
    make_input(&input, files)?;
    make_input(&baseline_input, baseline_files)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let grouped = Config {
            watermark_high: u64::MAX / 2,
            watermark_low: u64::MAX / 4,
            ..Config::default()
        };
        let exclusive_config = Config {
            sharing: Sharing::Exclusive,
            ..grouped.clone()
        };
        let mut shared = Vec::new();
        let mut exclusive = Vec::new();
        for round in 1..=rounds {
            let label = format!("round {round}: group commit, multi-process store");
            shared.push(pass(&label, &input, files, grouped.clone()).await?);
            let label = format!("round {round}: group commit, exclusive store");
            exclusive.push(pass(&label, &input, files, exclusive_config.clone()).await?);
        }
        let shared = median(shared);
        let exclusive = median(exclusive);
        println!(
            "median group commit: multi-process {shared:.0} jobs/s, exclusive {exclusive:.0} jobs/s, \
             exclusive/multi-process = {:.2}",
            exclusive / shared
        );
        let single = pass(
            "one durable commit per operation, multi-process store",
            &baseline_input,
            baseline_files,
            Config {
                max_commit_ops: 1,
                commit_window: Duration::ZERO,
                claim_batch: 1,
                ..grouped
            },
        )
        .await?;
        println!(
            "jobs_per_sec={:.0} one_commit_per_op_jobs_per_sec={:.0} ratio={:.1}",
            shared,
            single,
            shared / single
        );
        Ok(())
    })
}
