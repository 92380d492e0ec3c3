//! Group commits: batch completions are gathered into fewer commits, while
//! interactive work and stopping never wait for such a commit to fill.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::write_files;
use kiln_engine::{Config, Engine, Priority, Until};
use kiln_plugin_api::{Stage, StageError, StageInfo, StageInput, StageOutput, Value};

/// A tier-1 stage that takes `0` milliseconds per file.
struct Pause(u64);

impl Stage for Pause {
    fn info(&self) -> StageInfo {
        common::io_info("pause", 1, None)
    }

    fn process(&self, _input: &StageInput) -> Result<StageOutput, StageError> {
        std::thread::sleep(Duration::from_millis(self.0));
        Ok(StageOutput::facts(Value::Null))
    }
}

/// Far longer than any test may take: a commit that waited for it would
/// make the test time out.
const FOREVER: Duration = Duration::from_secs(600);
/// How long a test waits for what must happen at once.
const PATIENCE: Duration = Duration::from_secs(20);

fn engine(dir: &std::path::Path, background_window: Duration) -> Engine {
    let config = Config {
        workers: 2,
        commit_window: Duration::ZERO,
        background_commit_window: background_window,
        ..Config::default()
    };
    let engine = Engine::open(dir, config).expect("open");
    engine.register_stage(Arc::new(Pause(3))).expect("register");
    engine
}

/// Imports `files` as a batch and runs the engine until it is idle; returns
/// the group commits and the operations they held.
async fn commits_for_batch(
    dir: &std::path::Path,
    files: &std::path::Path,
    window: Duration,
) -> (u64, u64) {
    let engine = engine(dir, window);
    engine
        .import_dir(files, Priority::Batch)
        .await
        .expect("import");
    tokio::time::timeout(PATIENCE, engine.run_until(Until::Idle))
        .await
        .expect("the batch finishes without waiting out the window")
        .expect("run");
    let metrics = engine.metrics().expect("metrics");
    assert_eq!(engine.status().expect("status").jobs.done, 120);
    engine.shutdown().await;
    (metrics.commits, metrics.commit_ops)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_completions_share_commits() {
    let work = tempfile::tempdir().expect("tempdir");
    let files = work.path().join("in");
    write_files(&files, 120);
    let (gathered, gathered_ops) =
        commits_for_batch(&work.path().join("gathered"), &files, FOREVER).await;
    let (prompt, prompt_ops) =
        commits_for_batch(&work.path().join("prompt"), &files, Duration::ZERO).await;
    println!(
        "background window: {gathered} commits of {gathered_ops} operations; none: {prompt} of {prompt_ops}"
    );
    assert!(
        gathered * 3 < prompt * 2,
        "gathering batch completions saves a third of the commits at least: {gathered} against {prompt}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_file_does_not_wait_for_a_batch_commit() {
    let work = tempfile::tempdir().expect("tempdir");
    let files = work.path().join("in");
    write_files(&files, 200);
    let urgent = work.path().join("urgent.txt");
    std::fs::write(&urgent, b"urgent").expect("write");
    let engine = engine(&work.path().join("store"), FOREVER);
    engine
        .import_dir(&files, Priority::Batch)
        .await
        .expect("import");
    engine.start().await.expect("start");
    // Batch completions are not visible until their commit: wait for the
    // batch's jobs to be claimed, and then for some of them to run.
    while engine.status().expect("status").jobs.leased == 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    let id = engine
        .submit_file(&urgent, Priority::Interactive)
        .await
        .expect("submit");
    let until = Until::Tier {
        tier: 1,
        imports: Some(vec![id]),
    };
    tokio::time::timeout(PATIENCE, engine.wait_until(until))
        .await
        .expect("the interactive file is done while the batch runs")
        .expect("wait");
    let done = engine.status().expect("status").jobs.done;
    assert!(done < 201, "the batch was still running: {done} jobs done");
    tokio::time::timeout(PATIENCE, engine.stop())
        .await
        .expect("stopping does not wait out the background window");
    let status = engine.status().expect("status");
    assert_eq!(status.jobs.leased, 0, "no lease left behind");
    assert_eq!(status.jobs.ready + status.jobs.done, 201);
}
