//! Group commits: batch completions are gathered into fewer commits, while
//! interactive work and stopping never wait for such a commit to fill.

mod common;

use kiln_engine::Tier;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{PATIENCE, write_files};
use kiln_engine::{Config, Engine, Priority, Until};
use kiln_plugin_api::{Stage, StageError, StageInfo, StageInput, StageOutput, Value};

/// A tier-1 stage that takes `self.0` milliseconds per file.
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

/// A tier-1 stage that holds every file under `held` until `open` is set;
/// other files pass at once.
struct Held {
    held: String,
    open: AtomicBool,
    running: Mutex<usize>,
}

impl Stage for Held {
    fn info(&self) -> StageInfo {
        common::io_info("held", 1, None)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        if input.path.starts_with(&self.held) {
            if let Ok(mut running) = self.running.lock() {
                *running += 1;
            }
            while !self.open.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(StageOutput::facts(Value::Null))
    }
}

/// Far longer than any test may take: a commit that waited for it would
/// make the test time out.
const FOREVER: Duration = Duration::from_secs(600);

fn open(dir: &Path, background_window: Duration, stage: Arc<dyn Stage>) -> Engine {
    let config = Config {
        workers: 2,
        commit_window: Duration::ZERO,
        background_commit_window: background_window,
        // No periodic look for work either, whose claim would close a
        // waiting commit: only what the engine does on its own counts.
        idle_poll: FOREVER,
        ..Config::default()
    };
    let engine = Engine::open(dir, config).expect("open");
    engine.register_stage(stage).expect("register");
    engine
}

const BATCH: u64 = 200;

/// Imports `files` as a batch and runs the engine until it is idle; returns
/// the group commits and the operations they held.
async fn commits_for_batch(dir: &Path, files: &Path, window: Duration) -> (u64, u64) {
    let engine = open(dir, window, Arc::new(Pause(2)));
    engine
        .import_dir(files, Priority::Batch)
        .await
        .expect("import");
    tokio::time::timeout(PATIENCE, engine.run_until(Until::Idle))
        .await
        .expect("the batch finishes without waiting out the window")
        .expect("run");
    let metrics = engine.metrics().expect("metrics");
    assert_eq!(engine.status().expect("status").jobs.done, BATCH);
    engine.shutdown().await;
    (metrics.commits, metrics.commit_ops)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_completions_share_commits() {
    let work = tempfile::tempdir().expect("tempdir");
    let files = work.path().join("in");
    write_files(&files, BATCH as usize);
    let (gathered, gathered_ops) =
        commits_for_batch(&work.path().join("gathered"), &files, FOREVER).await;
    let (prompt, prompt_ops) =
        commits_for_batch(&work.path().join("prompt"), &files, Duration::ZERO).await;
    println!(
        "background window: {gathered} commits of {gathered_ops} operations; none: {prompt} of {prompt_ops}"
    );
    // Without the window a commit holds what queued during the one before
    // it; with it, everything between two claims.
    assert!(
        gathered * 3 < prompt * 2,
        "gathering batch completions saves a third of the commits at least: {gathered} against {prompt}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_file_does_not_wait_for_a_batch_commit() {
    let work = tempfile::tempdir().expect("tempdir");
    let files = work.path().join("in");
    write_files(&files, 50);
    let urgent = work.path().join("urgent.txt");
    std::fs::write(&urgent, b"urgent").expect("write");
    let stage = Arc::new(Held {
        held: files.to_string_lossy().into_owned(),
        open: AtomicBool::new(false),
        running: Mutex::new(0),
    });
    let engine = open(&work.path().join("store"), FOREVER, stage.clone());
    engine
        .import_dir(&files, Priority::Batch)
        .await
        .expect("import");
    engine.start().await.expect("start");
    // Both workers hold a batch job and more wait in the queue, so nothing
    // else would close a commit for the next ten minutes.
    common::eventually("both workers to hold a batch job", || {
        stage.running.lock().map_or(0, |r| *r) == 2
    })
    .await;
    let id = engine
        .submit_file(&urgent, Priority::Interactive)
        .await
        .expect("submit");
    let until = Until::Tier {
        tier: Tier::Browsable,
        imports: Some(vec![id]),
    };
    tokio::time::timeout(PATIENCE, engine.wait_until(until))
        .await
        .expect("the interactive file is done while the batch is held")
        .expect("wait");
    assert_eq!(
        engine.status().expect("status").jobs.done,
        1,
        "only the interactive file is done"
    );
    // The two held jobs now finish with more claimed work in the queue:
    // their completions wait for a commit that only stopping closes.
    stage.open.store(true, Ordering::SeqCst);
    tokio::time::timeout(PATIENCE, engine.stop())
        .await
        .expect("stopping does not wait out the background window");
    let status = engine.status().expect("status");
    assert_eq!(status.jobs.running, 0, "no lease left behind");
    assert_eq!(status.jobs.ready + status.jobs.done, 51);
    assert!(status.jobs.done >= 3, "the held jobs' completions landed");
}
