//! Claim order, an asset's place in line, the interactive lane with its holdback, and the intake watermark.

mod common;

use kiln_engine::Tier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{Recorder, write_files};
use kiln_engine::{Config, Engine, ImportState, ManualClock, Priority, Until};
use kiln_plugin_api::{CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, Value};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Submit(Priority),
    Claim(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => prop_oneof![
            Just(Priority::Interactive),
            Just(Priority::Batch),
            Just(Priority::Background)
        ]
        .prop_map(Step::Submit),
        1 => (1usize..6).prop_map(Step::Claim),
    ]
}

fn priority_byte(p: Priority) -> u8 {
    match p {
        Priority::Interactive => 0,
        Priority::Batch => 1,
        _ => 2,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Claims come out in (priority, tier, enqueue time) order, whatever was
    /// submitted in between; tier-3 work of batch imports runs at background.
    #[test]
    fn claims_follow_priority_tier_and_enqueue_order(steps in proptest::collection::vec(step(), 1..18)) {
        let runtime = common::runtime();
        runtime.block_on(async {
            let work = tempfile::tempdir().expect("tempdir");
            let clock = ManualClock::new(1_000);
            let engine = Engine::open(
                work.path().join("store"),
                Config { clock: clock.clone(), ..Config::default() },
            ).expect("open");
            for tier in 1..=3u8 {
                engine
                    .register_stage(Recorder::new(StageInfo::new(format!("t{tier}"), 1, tier)))
                    .expect("register");
            }
            let manual = engine.manual().expect("manual");
            // The model: (priority, tier, submission number) of every waiting job.
            let mut waiting: Vec<(u8, u8, u64)> = Vec::new();
            let mut submitted = 0u64;
            for step in steps {
                match step {
                    Step::Submit(p) => {
                        submitted += 1;
                        clock.advance(Duration::from_nanos(1));
                        let file = work.path().join(format!("f{submitted}.png"));
                        std::fs::write(&file, submitted.to_le_bytes()).expect("write");
                        engine.submit_file(&file, p).await.expect("submit");
                        for tier in 1..=3u8 {
                            let effective = if tier == 3 && p == Priority::Batch {
                                Priority::Background
                            } else {
                                p
                            };
                            waiting.push((priority_byte(effective), tier, submitted));
                        }
                    }
                    Step::Claim(n) => {
                        waiting.sort();
                        let expected: Vec<(u8, u8, u64)> =
                            waiting.drain(..n.min(waiting.len())).collect();
                        let claimed = manual.claim(n).await.expect("claim");
                        let got: Vec<(u8, u8, u64)> = claimed
                            .iter()
                            .map(|c| {
                                let (p, t, ns, _) = c.lease.order_key();
                                (p, t, ns - 1_000)
                            })
                            .collect();
                        assert_eq!(got, expected);
                    }
                }
            }
            engine.shutdown().await;
        });
    }
}

/// Logs the order in which files are processed; slow enough that a batch is
/// still waiting when the urgent file arrives.
struct Slow {
    log: Arc<Mutex<Vec<String>>>,
}

impl Stage for Slow {
    fn info(&self) -> StageInfo {
        StageInfo::new("slow", 1, 1).cost(CostClass::Io)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        if let Ok(mut log) = self.log.lock() {
            log.push(input.path.clone());
        }
        std::thread::sleep(Duration::from_millis(3));
        Ok(StageOutput::facts(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactive_file_jumps_every_waiting_batch_job() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("batch");
    write_files(&input, 200);
    let urgent = work.path().join("urgent.png");
    std::fs::write(&urgent, "urgent").expect("write");
    let log = Arc::new(Mutex::new(Vec::new()));
    let config = Config {
        workers: 1,
        claim_batch: 4,
        ..Config::default()
    };
    let engine = Engine::open(work.path().join("store"), config).expect("open");
    engine
        .register_stage(Arc::new(Slow { log: log.clone() }))
        .expect("register");
    let batch = engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    engine.start().await.expect("start");
    while log.lock().expect("log").len() < 20 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let import = engine
        .submit_file(&urgent, Priority::Interactive)
        .await
        .expect("submit");
    // The urgent job is durable in READY now; count what had started by then.
    let started_before = log.lock().expect("log").len();
    engine
        .wait_until(Until::Tier {
            tier: Tier::Browsable,
            imports: Some(vec![import]),
        })
        .await
        .expect("wait");
    let position = log
        .lock()
        .expect("log")
        .iter()
        .position(|p| p.ends_with("urgent.png"))
        .expect("urgent file processed");
    // Only jobs already leased when it arrived (one claim batch plus the
    // running ones) may start before it.
    assert!(
        position <= started_before + 4 + 2,
        "urgent file started at {position}, batch had started {started_before}"
    );
    let status = engine.status().expect("status");
    let batch_info = status
        .imports
        .iter()
        .find(|i| i.id == batch)
        .expect("batch");
    assert_ne!(
        batch_info.state,
        ImportState::Done,
        "the batch was still running"
    );
    engine.run_until(Until::Idle).await.expect("finish");
    assert_eq!(engine.status().expect("status").jobs.done, 201);
    engine.shutdown().await;
}

/// Samples READY depth from inside the stage, i.e. while intake and workers
/// are both busy.
struct DepthProbe {
    engine: Arc<OnceLock<Engine>>,
    max_depth: Arc<AtomicU64>,
}

impl Stage for DepthProbe {
    fn info(&self) -> StageInfo {
        StageInfo::new("probe", 1, 1).cost(CostClass::Io)
    }

    fn process(&self, _input: &StageInput) -> Result<StageOutput, StageError> {
        if let Some(engine) = self.engine.get()
            && let Ok(metrics) = engine.metrics()
        {
            self.max_depth.fetch_max(metrics.ready, Ordering::SeqCst);
        }
        Ok(StageOutput::facts(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_pauses_at_the_high_watermark() {
    const HIGH: u64 = 40;
    const CLAIM: usize = 8;
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    write_files(&input, 600);
    let config = Config {
        watermark_high: HIGH,
        watermark_low: 15,
        claim_batch: CLAIM,
        workers: 2,
        ..Config::default()
    };
    let handle = Arc::new(OnceLock::new());
    let max_depth = Arc::new(AtomicU64::new(0));
    let engine = Engine::open(work.path().join("store"), config).expect("open");
    engine
        .register_stage(Arc::new(DepthProbe {
            engine: handle.clone(),
            max_depth: max_depth.clone(),
        }))
        .expect("register");
    let _ = handle.set(engine.clone());

    // With no worker running, the walk stops at the watermark.
    let import = engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    let walked = engine.wait_intake(import).await.expect("wait for intake");
    assert!(!walked, "the walk pauses instead of finishing");
    let status = engine.status().expect("status");
    assert!(
        status.jobs.ready <= HIGH,
        "READY {} above the high mark",
        status.jobs.ready
    );
    let info = status
        .imports
        .iter()
        .find(|i| i.id == import)
        .expect("import");
    assert_eq!(info.state, ImportState::Walking, "the walk waits for room");
    assert!(info.files_seen < 600);

    // Running, depth stays bounded by the high mark plus one claim batch.
    engine.run_until(Until::Idle).await.expect("run");
    assert_eq!(engine.status().expect("status").jobs.done, 600);
    let max = max_depth.load(Ordering::SeqCst);
    assert!(max <= HIGH + CLAIM as u64, "READY reached {max}");
    assert!(max > 0, "the probe saw the queue");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn within_a_tier_an_assets_next_stage_keeps_its_place_in_line() {
    let work = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(1_000);
    let engine = Engine::open(
        work.path().join("store"),
        Config {
            clock: clock.clone(),
            ..Config::default()
        },
    )
    .expect("open");
    for (name, tier, after) in [("a", 1, None), ("b", 1, Some("a")), ("c", 2, Some("b"))] {
        engine
            .register_stage(Recorder::new(common::io_info(name, tier, after)))
            .expect("register");
    }
    let mut files = Vec::new();
    for n in 1..=3u8 {
        clock.advance(Duration::from_nanos(1));
        let file = work.path().join(format!("f{n}.png"));
        std::fs::write(&file, [n]).expect("write");
        engine
            .submit_file(&file, Priority::Batch)
            .await
            .expect("submit");
        files.push(file.to_string_lossy().into_owned());
    }
    let order = |claimed: &[kiln_engine::ClaimedJob]| -> Vec<(String, String)> {
        claimed
            .iter()
            .map(|c| (c.lease.stage().to_owned(), c.input.path.clone()))
            .collect()
    };
    let job = |stage: &str, file: &str| (stage.to_owned(), file.to_owned());

    let manual = engine.manual().expect("manual");
    let first = manual.claim(1).await.expect("claim");
    assert_eq!(order(&first), [job("a", &files[0])]);
    // Later than every waiting job: a stage enqueued now at its own time
    // would queue behind the other files.
    clock.advance(Duration::from_nanos(100));
    manual
        .complete(&first[0].lease, StageOutput::facts(Value::Null))
        .await
        .expect("complete");
    let next = manual.claim(1).await.expect("claim");
    assert_eq!(
        order(&next),
        [job("b", &files[0])],
        "the first file's next tier-1 stage goes before the other files"
    );
    clock.advance(Duration::from_nanos(100));
    manual
        .complete(&next[0].lease, StageOutput::facts(Value::Null))
        .await
        .expect("complete");
    let rest = manual.claim(3).await.expect("claim");
    assert_eq!(
        order(&rest),
        [
            job("a", &files[1]),
            job("a", &files[2]),
            job("c", &files[0])
        ],
        "the next tier waits for the other files' lower tier"
    );
    engine.shutdown().await;
}

/// Counts batch starts; holds the urgent file until released.
struct HeldUrgent {
    batch_started: AtomicU64,
    urgent_running: AtomicBool,
    release: AtomicBool,
}

impl Stage for HeldUrgent {
    fn info(&self) -> StageInfo {
        common::io_info("held", 1, None)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        if input.path.ends_with("urgent.png") {
            self.urgent_running.store(true, Ordering::SeqCst);
            while !self.release.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        } else {
            self.batch_started.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(StageOutput::facts(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_workers_start_nothing_new_while_an_interactive_job_runs() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("batch");
    write_files(&input, 200);
    let urgent = work.path().join("urgent.png");
    std::fs::write(&urgent, "urgent").expect("write");
    let stage = Arc::new(HeldUrgent {
        batch_started: AtomicU64::new(0),
        urgent_running: AtomicBool::new(false),
        release: AtomicBool::new(false),
    });
    let config = Config {
        workers: 2,
        ..Config::default()
    };
    let engine = Engine::open(work.path().join("store"), config).expect("open");
    engine.register_stage(stage.clone()).expect("register");
    engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    engine.start().await.expect("start");
    common::eventually("the batch to run", || {
        stage.batch_started.load(Ordering::SeqCst) >= 10
    })
    .await;
    engine
        .submit_file(&urgent, Priority::Interactive)
        .await
        .expect("submit");
    common::eventually("the urgent job to run", || {
        stage.urgent_running.load(Ordering::SeqCst)
    })
    .await;
    let before = stage.batch_started.load(Ordering::SeqCst);
    // Long enough for the two batch workers to start dozens of 2 ms jobs.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let during = stage.batch_started.load(Ordering::SeqCst) - before;
    // A worker may be past its check when the urgent job begins: one each.
    assert!(
        during <= 2,
        "{during} batch jobs started while the urgent job ran"
    );
    stage.release.store(true, Ordering::SeqCst);
    engine.run_until(Until::Idle).await.expect("finish");
    assert_eq!(engine.status().expect("status").jobs.done, 201);
    engine.shutdown().await;
}
