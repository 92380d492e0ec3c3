//! Stopping gracefully, watching progress, and sweeping what a dead process left.

mod common;

use kiln_engine::{JobState, Tier};
use std::sync::Arc;
use std::time::Duration;

use common::write_files;
use kiln_engine::{Config, Engine, EngineError, Priority, Until};
use kiln_plugin_api::{Stage, StageError, StageInfo, StageInput, StageOutput, Value};

struct Pause(u64, &'static str, u8, Option<&'static str>);

impl Stage for Pause {
    fn info(&self) -> StageInfo {
        common::io_info(self.1, self.2, self.3)
    }

    fn process(&self, _input: &StageInput) -> Result<StageOutput, StageError> {
        std::thread::sleep(Duration::from_millis(self.0));
        Ok(StageOutput::facts(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_finishes_running_jobs_and_releases_the_rest_with_attempts_refunded() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    write_files(&input, 60);
    let config = Config {
        workers: 2,
        claim_batch: 16,
        ..Config::default()
    };
    let engine = Engine::open(work.path().join("store"), config).expect("open");
    engine
        .register_stage(Arc::new(Pause(10, "slow", 1, None)))
        .expect("register");
    engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    engine.start().await.expect("start");
    while engine.status().expect("status").jobs.done < 5 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(
        engine.status().expect("status").jobs.running > 0,
        "work was claimed"
    );
    engine.stop().await;
    let status = engine.status().expect("status");
    assert_eq!(status.jobs.running, 0, "no lease left behind");
    assert!(status.jobs.ready > 0 && status.jobs.done < 60);
    assert_eq!(status.jobs.ready + status.jobs.done, 60);
    let manual = engine.manual().expect("no workers run now");
    let claimed = manual.claim(100).await.expect("claim");
    assert_eq!(claimed.len() as u64, status.jobs.ready);
    assert!(
        claimed.iter().all(|c| c.lease.attempt() == 1),
        "released jobs never ran, so they were not charged an attempt"
    );
    manual
        .release(&claimed.iter().map(|c| c.lease.clone()).collect::<Vec<_>>())
        .await
        .expect("release");
    drop(manual);
    engine.run_until(Until::Idle).await.expect("finish");
    assert_eq!(engine.status().expect("status").jobs.done, 60);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_claimed_by_the_workers_or_by_hand_never_both() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    write_files(&input, 3);
    let engine = Engine::open(work.path().join("store"), Config::default()).expect("open");
    engine
        .register_stage(Arc::new(Pause(0, "quick", 1, None)))
        .expect("register");
    let import = engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    assert!(engine.wait_intake(import).await.expect("walked"));

    let manual = engine.manual().expect("no workers run yet");
    assert!(
        matches!(engine.start().await, Err(EngineError::ManualClaiming)),
        "workers do not start while a manual handle is alive"
    );
    assert!(matches!(
        engine.run_until(Until::Idle).await,
        Err(EngineError::ManualClaiming)
    ));
    let claimed = manual.claim(1).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        manual
            .release(&[claimed[0].lease.clone()])
            .await
            .expect("release"),
        1
    );
    drop(manual);

    engine
        .start()
        .await
        .expect("starts once the manual handle is gone");
    assert!(
        matches!(engine.manual(), Err(EngineError::WorkersRunning)),
        "no manual handle while the workers run"
    );
    engine.wait_until(Until::Idle).await.expect("idle");
    engine.stop().await;
    assert_eq!(engine.status().expect("status").jobs.done, 3);
    drop(
        engine
            .manual()
            .expect("a manual handle once the workers stopped"),
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_published_per_import_and_tier() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    write_files(&input, 150);
    // Long enough (about 150 x 4 ms over two workers) for several snapshots.
    let config = Config {
        workers: 2,
        ..Config::default()
    };
    let engine = Engine::open(work.path().join("store"), config).expect("open");
    engine
        .register_stage(Arc::new(Pause(4, "one", 1, None)))
        .expect("register");
    engine
        .register_stage(Arc::new(Pause(1, "two", 2, Some("one"))))
        .expect("register");
    let mut progress = engine.subscribe();
    let import = engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    let runner = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.run_until(Until::Idle).await })
    };
    let mut saw_partial = false;
    let mut saw_rate = false;
    loop {
        if progress.changed().await.is_err() {
            break;
        }
        let snapshot = progress.borrow_and_update().clone();
        let Some(mine) = snapshot.import(import) else {
            continue;
        };
        if let Some(tier1) = mine.tiers.get(&Tier::Browsable) {
            if tier1.done > 0 && tier1.done < 150 {
                saw_partial = true;
            }
            if tier1.rate > 0.0 && tier1.eta.is_some() {
                saw_rate = true;
            }
        }
        let finished = mine
            .tiers
            .get(&Tier::Searchable)
            .is_some_and(|t| t.done == 150 && t.remaining() == 0);
        if finished {
            assert_eq!(mine.tiers[&Tier::Browsable].done, 150);
            assert_eq!(snapshot.tiers[&Tier::Searchable].total, 150);
            break;
        }
    }
    runner.await.expect("join").expect("run");
    assert!(saw_partial, "progress arrived while the import ran");
    assert!(saw_rate, "a rate and an ETA were derived");
    let metrics = engine.metrics().expect("metrics");
    assert!(metrics.commits > 0 && metrics.jobs.completed >= 300);
    assert_eq!(metrics.by_stage["two"][&JobState::Done], 150);
    engine.shutdown().await;
}

#[test]
fn a_leftover_of_an_interrupted_store_creation_is_removed_and_the_store_opens() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    std::fs::create_dir_all(&store).expect("store dir");
    // What a process killed while creating the database leaves behind: a
    // sized file that redb never marked as a database.
    let leftover = store.join("kiln.redb.creating-4242-0");
    std::fs::write(&leftover, vec![0u8; 64 * 1024]).expect("leftover");
    let engine = Engine::open(&store, Config::default()).expect("open a fresh store");
    assert!(engine.is_primary());
    assert!(engine.status().expect("status").imports.is_empty());
    assert!(!leftover.exists(), "the interrupted creation is cleaned up");
    drop(engine);
    let again = Engine::open(&store, Config::default()).expect("reopen");
    assert!(again.status().expect("status").imports.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_imported_into_an_idle_engine_starts_without_waiting_for_the_poll() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    write_files(&input, 5);
    // With an hour between polls, only the walk's own wake-up can start the
    // work before the limit below.
    let config = Config {
        idle_poll: Duration::from_secs(3600),
        ..Config::default()
    };
    let engine = Engine::open(work.path().join("store"), config).expect("open");
    for stage in common::three_tier() {
        engine.register_stage(stage).expect("register");
    }
    engine.start().await.expect("start");
    // Let the scheduler find nothing to do and settle into its wait.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let import = engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    let done = tokio::time::timeout(
        Duration::from_secs(60),
        engine.wait_until(Until::Tier {
            tier: Tier::Enriched,
            imports: Some(vec![import]),
        }),
    )
    .await;
    assert!(
        matches!(done, Ok(Ok(()))),
        "the walk's jobs did not run: the scheduler was not woken, {done:?}"
    );
    let status = engine.status().expect("status");
    assert_eq!(status.assets, 5, "{status:?}");
    engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_blobs_a_dead_process_left_are_swept_when_workers_start() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    let engine = Engine::open(&store, Config::default()).expect("open");
    let folder = store.join(kiln_engine::BLOBS_DIR).join("ab");
    std::fs::create_dir_all(&folder).expect("blob folder");
    let name = "ab".repeat(32);
    let left = folder.join(format!("{name}.tmp4194305-7"));
    let writing = folder.join(format!("{name}.tmp4194305-8"));
    let blob = folder.join(&name);
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    for (path, old) in [(&left, true), (&writing, false), (&blob, true)] {
        std::fs::write(path, b"bytes").expect("write");
        if old {
            std::fs::File::options()
                .write(true)
                .open(path)
                .and_then(|f| f.set_modified(two_hours_ago))
                .expect("age the file");
        }
    }
    engine.start().await.expect("start");
    // Shutting down waits for the sweep.
    engine.shutdown().await;
    assert!(!left.exists(), "an hours-old temporary file is removed");
    assert!(writing.exists(), "a recent one may still be written");
    assert!(blob.exists(), "blobs are never swept, however old");
}
