//! Retries with backoff on an injected clock, dead letters, and lease fencing.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use common::{Recorder, write_files};
use kiln_engine::{
    Completion, Config, Engine, EngineError, Failure, ManualClock, Priority, Until, backoff_delay,
};
use kiln_plugin_api::{StageError, StageInfo, StageInput, StageOutput, Value};

const BASE: Duration = Duration::from_secs(2);
const CAP: Duration = Duration::from_secs(10);

fn config(clock: Arc<ManualClock>) -> Config {
    Config {
        clock,
        backoff_base: BASE,
        backoff_cap: CAP,
        max_attempts: 4,
        ..Config::default()
    }
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).expect("small duration")
}

#[test]
fn backoff_grows_exponentially_with_jitter_up_to_the_cap() {
    let config = config(ManualClock::new(0));
    for job in 1..200u64 {
        for attempt in 1..8u32 {
            let full = (BASE * 2u32.pow(attempt - 1)).min(CAP);
            let delay = backoff_delay(&config, job, attempt);
            assert!(
                delay <= full && delay >= full / 2,
                "job {job} attempt {attempt}: {delay:?}"
            );
        }
    }
    let spread: std::collections::HashSet<Duration> = (1..50u64)
        .map(|job| backoff_delay(&config, job, 3))
        .collect();
    assert!(
        spread.len() > 10,
        "jitter spreads retries of different jobs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_waits_for_the_clock_then_runs_again() {
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("a.png");
    std::fs::write(&file, "a").expect("write");
    let clock = ManualClock::new(1_000_000_000);
    let engine = Engine::open(work.path().join("store"), config(clock.clone())).expect("open");
    engine
        .register_stage(Recorder::new(StageInfo::new("s", 1, 1)))
        .expect("register");
    engine
        .submit_file(&file, Priority::Batch)
        .await
        .expect("submit");

    let manual = engine.manual().expect("manual");
    for attempt in 1..=3u32 {
        let claimed = manual.claim(10).await.expect("claim");
        assert_eq!(claimed.len(), 1);
        let lease = &claimed[0].lease;
        assert_eq!(lease.attempt(), attempt, "one claim per attempt");
        let now = 1_000_000_000 + (attempt as u64 - 1) * ns(CAP);
        clock.set(now);
        let failure = manual
            .fail(lease, StageError::transient("busy"))
            .await
            .expect("fail");
        let Failure::Retrying { run_at_ns } = failure else {
            panic!("expected a retry, got {failure:?}");
        };
        let delay = run_at_ns - now;
        let full = ns((BASE * 2u32.pow(attempt - 1)).min(CAP));
        assert!(
            delay <= full && delay >= full / 2,
            "attempt {attempt}: delay {delay}"
        );
        assert_eq!(engine.retrying().expect("retrying")[0].run_at_ns, run_at_ns);
        // Not due yet: nothing to claim.
        clock.set(run_at_ns - 1);
        assert!(manual.claim(10).await.expect("claim").is_empty());
        clock.set(run_at_ns);
    }
    // Fourth attempt is the last (max_attempts = 4): a transient error buries it.
    let claimed = manual.claim(10).await.expect("claim");
    assert_eq!(claimed[0].lease.attempt(), 4);
    let failure = manual
        .fail(&claimed[0].lease, StageError::transient("still busy"))
        .await
        .expect("fail");
    assert_eq!(failure, Failure::Dead);
    let dead = engine.dead_letters().expect("dead");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 4);
    assert_eq!(dead[0].history.len(), 4, "every failed attempt is kept");
    assert!(
        dead[0].last_error.contains("gave up after 4 attempts"),
        "{}",
        dead[0].last_error
    );
    engine.shutdown().await;
}

/// Fails transiently a given number of times, then succeeds.
struct Flaky {
    failures_left: AtomicU32,
}

impl kiln_plugin_api::Stage for Flaky {
    fn info(&self) -> StageInfo {
        StageInfo::new("flaky", 1, 1)
    }

    fn process(&self, _input: &StageInput) -> Result<StageOutput, StageError> {
        if self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StageError::transient("temporarily unavailable"));
        }
        Ok(StageOutput::facts(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_retries_only_when_the_injected_clock_says_so() {
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("a.png");
    std::fs::write(&file, "a").expect("write");
    let clock = ManualClock::new(5_000_000_000);
    let engine = Engine::open(
        work.path().join("store"),
        Config {
            idle_poll: Duration::from_millis(5),
            ..config(clock.clone())
        },
    )
    .expect("open");
    engine
        .register_stage(Arc::new(Flaky {
            failures_left: AtomicU32::new(2),
        }))
        .expect("register");
    engine
        .submit_file(&file, Priority::Batch)
        .await
        .expect("submit");
    engine.start().await.expect("start");
    for round in 1..=2 {
        let waiting = loop {
            let retrying = engine.retrying().expect("retrying");
            if retrying.len() == 1 && retrying[0].attempts == round {
                break retrying;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        // Idle polls come and go; with the clock standing still it stays put.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let still = engine.retrying().expect("retrying");
        assert_eq!(still, waiting, "no retry before its time");
        clock.set(waiting[0].run_at_ns);
    }
    engine.wait_until(Until::Idle).await.expect("finishes");
    engine.stop().await;
    let status = engine.status().expect("status");
    assert_eq!((status.jobs.done, status.jobs.dead), (1, 0));
    engine.shutdown().await;
}

/// Fails permanently while `broken` is set.
struct Switch {
    broken: Arc<AtomicBool>,
}

impl kiln_plugin_api::Stage for Switch {
    fn info(&self) -> StageInfo {
        StageInfo::new("switch", 1, 1)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        if self.broken.load(Ordering::SeqCst) && input.path.contains("img0000") {
            return Err(StageError::permanent("unsupported format"));
        }
        Ok(StageOutput::facts(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_can_be_listed_retried_and_purged() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    write_files(&input, 14);
    let broken = Arc::new(AtomicBool::new(true));
    let engine = Engine::open(work.path().join("store"), Config::default()).expect("open");
    engine
        .register_stage(Arc::new(Switch {
            broken: broken.clone(),
        }))
        .expect("register");
    engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    engine.run_until(Until::Idle).await.expect("run");
    let dead = engine.dead_letters().expect("list");
    assert_eq!(dead.len(), 10, "img00000..img00009 fail");
    assert!(
        dead.iter()
            .all(|d| d.last_error == "unsupported format" && d.attempts == 1)
    );
    assert_eq!(engine.status().expect("status").jobs.done, 4);
    let some_asset = dead[0]
        .asset_id
        .expect("a stage's dead letter has its asset");
    assert_eq!(
        engine
            .asset(some_asset)
            .expect("read")
            .expect("asset")
            .stages["switch"]
            .state
            .name(),
        "dead"
    );

    broken.store(false, Ordering::SeqCst);
    assert!(engine.retry_dead(dead[0].job_id).await.expect("retry one"));
    assert!(
        !engine
            .retry_dead(dead[0].job_id)
            .await
            .expect("retry again"),
        "no longer dead"
    );
    engine.run_until(Until::Idle).await.expect("run");
    assert_eq!(engine.dead_letters().expect("list").len(), 9);
    assert_eq!(engine.status().expect("status").jobs.done, 5);

    broken.store(true, Ordering::SeqCst);
    assert_eq!(engine.retry_all_dead().await.expect("retry all"), 9);
    engine.run_until(Until::Idle).await.expect("run");
    assert_eq!(
        engine.dead_letters().expect("list").len(),
        9,
        "they fail again"
    );
    let again = engine.dead_letters().expect("list");
    assert!(
        again.iter().all(|d| d.history.len() == 2),
        "history keeps both failures"
    );

    assert_eq!(engine.purge_dead().await.expect("purge"), 9);
    assert!(engine.dead_letters().expect("list").is_empty());
    let status = engine.status().expect("status");
    assert_eq!((status.jobs.dead, status.jobs.done), (0, 5));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_lease_cannot_complete_after_a_restart_reclaimed_it() {
    let work = tempfile::tempdir().expect("tempdir");
    let file = work.path().join("a.png");
    std::fs::write(&file, "a").expect("write");
    let store = work.path().join("store");
    let stale = {
        let engine = Engine::open(&store, Config::default()).expect("open");
        engine
            .register_stage(Recorder::new(StageInfo::new("s", 1, 1)))
            .expect("register");
        engine
            .submit_file(&file, Priority::Batch)
            .await
            .expect("submit");
        let manual = engine.manual().expect("manual");
        let claimed = manual.claim(1).await.expect("claim");
        claimed[0].lease.clone()
        // Dropped without shutdown: the lease stays, as after a crash.
    };
    let engine = Engine::open(&store, Config::default()).expect("reopen");
    engine
        .register_stage(Recorder::new(StageInfo::new("s", 1, 1)))
        .expect("register");
    assert_eq!(
        engine.status().expect("status").jobs.running,
        0,
        "reclaimed on open"
    );
    let manual = engine.manual().expect("manual");
    let fresh = manual.claim(1).await.expect("claim");
    assert_eq!(
        fresh[0].lease.attempt(),
        2,
        "the crashed attempt was counted"
    );
    let err = manual
        .complete(&stale, StageOutput::facts(Value::from("stale")))
        .await
        .expect_err("stale lease");
    assert!(matches!(err, EngineError::StaleLease(_)));
    let done = manual
        .complete(&fresh[0].lease, StageOutput::facts(Value::from("fresh")))
        .await
        .expect("complete");
    assert_eq!(done, Completion::Done);
    let again = manual
        .complete(&fresh[0].lease, StageOutput::facts(Value::from("twice")))
        .await;
    assert!(
        matches!(again, Err(EngineError::StaleLease(_))),
        "no second application"
    );
    let asset = engine
        .asset(fresh[0].lease.asset_id())
        .expect("read")
        .expect("asset");
    assert_eq!(asset.stages["s"].facts, Some(Value::from("fresh")));
    assert_eq!(engine.status().expect("status").jobs.done, 1);
    engine.shutdown().await;
}
