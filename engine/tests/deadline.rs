//! A stage call that never returns: past the deadline it is abandoned and
//! counted as a failed attempt, and stopping the engine does not wait for it.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kiln_engine::{Config, Engine, Priority, Until};
use kiln_plugin_api::{Stage, StageError, StageInfo, StageInput, StageOutput};

/// A stage that blocks far longer than any test waits.
struct Stuck {
    calls: AtomicUsize,
}

impl Stage for Stuck {
    fn info(&self) -> StageInfo {
        StageInfo::new("stuck", 1, 1)
    }

    fn process(&self, _input: &StageInput) -> Result<StageOutput, StageError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_secs(3600));
        Err(StageError::permanent("woke up"))
    }
}

fn engine(store: &std::path::Path, deadline: Duration) -> (Engine, Arc<Stuck>) {
    let config = Config {
        stage_deadline: deadline,
        max_attempts: 2,
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(20),
        ..Config::default()
    };
    let engine = Engine::open(store, config).expect("open");
    let stuck = Arc::new(Stuck {
        calls: AtomicUsize::new(0),
    });
    engine.register_stage(stuck.clone()).expect("register");
    (engine, stuck)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_past_the_deadline_is_abandoned_and_counts_as_an_attempt() {
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("a.png");
    std::fs::write(&file, b"anything").expect("write");
    let (engine, stuck) = engine(&work.path().join("store"), Duration::from_millis(300));
    engine
        .submit_file(&file, Priority::Batch)
        .await
        .expect("submit");
    engine.run_until(Until::Idle).await.expect("runs");
    let dead = engine.dead_letters().expect("dead");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].attempts, 2, "each abandoned call was an attempt");
    assert!(
        dead[0].last_error.contains("did not finish within 0.3 s"),
        "{}",
        dead[0].last_error
    );
    assert_eq!(stuck.calls.load(Ordering::SeqCst), 2);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_does_not_wait_for_a_stuck_call_and_refunds_its_attempt() {
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("a.png");
    std::fs::write(&file, b"anything").expect("write");
    let (engine, stuck) = engine(&work.path().join("store"), Duration::from_secs(3600));
    engine
        .submit_file(&file, Priority::Batch)
        .await
        .expect("submit");
    engine.start().await.expect("start");
    let waiting = Instant::now();
    while stuck.calls.load(Ordering::SeqCst) == 0 {
        assert!(
            waiting.elapsed() < Duration::from_secs(120),
            "the stage never ran"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Far less than the hour the call would take; the bound only tells a
    // hang from a stop.
    tokio::time::timeout(Duration::from_secs(120), engine.stop())
        .await
        .expect("stopping does not wait for the stuck call");
    let status = engine.status().expect("status");
    assert_eq!(
        status.jobs.ready, 1,
        "the job is back in the queue: {status:?}"
    );
    assert_eq!(status.jobs.running, 0);
    assert_eq!(status.jobs.dead, 0);
    engine.shutdown().await;
}
