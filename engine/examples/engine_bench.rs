//! Throughput of the engine with no-op stages: group commit against one
//! durable commit per operation, measured in the same run.
//!
//! `cargo run --release -p kiln-engine --example engine_bench`
//!
//! Each file gets four no-op stages over three tiers (4 jobs per file). The
//! grouped runs process `KILN_BENCH_FILES` files (default 25,000 = 100,000
//! jobs); the one-commit-per-operation baseline processes
//! `KILN_BENCH_BASELINE_FILES` (default 1,000 = 4,000 jobs), since at its
//! rate the full set would take minutes; rates are per second either way.
//! Intake runs before the clock starts: the figure is claim + complete.

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

/// Runs one measured pass and returns jobs per second.
async fn pass(
    label: &str,
    files: usize,
    config: Config,
) -> Result<f64, Box<dyn std::error::Error>> {
    let work = tempfile::tempdir()?;
    let input = work.path().join("input");
    std::fs::create_dir_all(&input)?;
    for i in 0..files {
        std::fs::write(input.join(format!("f{i:06}.png")), i.to_le_bytes())?;
    }
    let engine = Engine::open(work.path().join("store"), config)?;
    for stage in stages() {
        engine.register_stage(stage)?;
    }
    let import = engine.import_dir(&input, Priority::Batch).await?;
    // Intake first, outside the clock.
    loop {
        let status = engine.status()?;
        if status
            .imports
            .iter()
            .any(|i| i.id == import && i.state != kiln_engine::ImportState::Walking)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let jobs_before = engine.status()?.jobs.done;
    let before = engine.metrics()?;
    let started = Instant::now();
    engine.run_until(Until::Idle).await?;
    let elapsed = started.elapsed();
    let status = engine.status()?;
    let jobs = status.jobs.done - jobs_before;
    let after = engine.metrics()?;
    engine.shutdown().await;
    let commits = after.commits - before.commits;
    let ops = after.commit_ops - before.commit_ops;
    let commit_ns = after.mean_commit.as_nanos() as f64 * after.commits as f64
        - before.mean_commit.as_nanos() as f64 * before.commits as f64;
    let sync_ns = after.mean_sync.as_nanos() as f64 * after.commits as f64
        - before.mean_sync.as_nanos() as f64 * before.commits as f64;
    let rate = jobs as f64 / elapsed.as_secs_f64();
    println!(
        "{label}: {jobs} jobs in {:.2}s = {rate:.0} jobs/s ({} commits, {:.1} ops/commit, mean commit {:?} of which redb commit {:?})",
        elapsed.as_secs_f64(),
        commits,
        ops as f64 / commits.max(1) as f64,
        Duration::from_nanos((commit_ns / commits.max(1) as f64) as u64),
        Duration::from_nanos((sync_ns / commits.max(1) as f64) as u64)
    );
    if jobs != 4 * files as u64 {
        return Err(format!("{label}: expected {} jobs, {jobs} done", 4 * files).into());
    }
    Ok(rate)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = env_count("KILN_BENCH_FILES", 25_000);
    let baseline_files = env_count("KILN_BENCH_BASELINE_FILES", 1_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let grouped = Config {
            claim_batch: std::env::var("KILN_BENCH_CLAIM")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(Config::default().claim_batch),
            watermark_high: u64::MAX / 2,
            watermark_low: u64::MAX / 4,
            ..Config::default()
        };
        let exclusive = pass(
            "group commit, exclusive store",
            files,
            Config {
                sharing: Sharing::Exclusive,
                ..grouped.clone()
            },
        )
        .await?;
        let shared = pass("group commit, multi-process store", files, grouped.clone()).await?;
        println!(
            "multi_process_cost: exclusive/multi-process = {:.2}",
            exclusive / shared
        );
        let single = pass(
            "one durable commit per operation, multi-process store",
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
