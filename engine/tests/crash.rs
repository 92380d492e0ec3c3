//! Crash-resume with real processes: the test re-executes its own binary as a
//! child engine, SIGKILLs it at many moments, restarts it, and checks that
//! every job's effect was applied exactly once. A stage that aborts the
//! process ends in dead letter after `max_attempts` restarts.

mod common;

use kiln_engine::{JobState, Tier};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::write_files;
use kiln_engine::{Config, Engine, Priority, Until};
use kiln_plugin_api::{Stage, StageError, StageInfo, StageInput, StageOutput, Value};
use kiln_testkit::kill::{OnExit, kill_rounds};

const ROLE: &str = "KILN_TEST_CHILD_ROLE";
const STORE: &str = "KILN_TEST_CHILD_STORE";
const INPUT: &str = "KILN_TEST_CHILD_INPUT";
const FILES: usize = 110;

/// Writes facts, appends one line per call to a log beside the store (the
/// at-least-once execution record), and sleeps 15 ms: the 330 jobs then need
/// more time than all the kill delays together, so every kill lands before
/// the work can finish on a fast machine, and many land during stage work.
/// Aborts the process on a file named `poison.png`.
struct Effect {
    name: &'static str,
    tier: u8,
    after: Option<&'static str>,
    log: PathBuf,
}

impl Stage for Effect {
    fn info(&self) -> StageInfo {
        common::io_info(self.name, self.tier, self.after)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        if self.name == "hash" && input.path.ends_with("poison.png") {
            std::process::abort();
        }
        // One write call per line: appends from two workers never interleave.
        let line = format!("{} {}\n", input.asset_id, self.name);
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
        {
            let _ = log.write_all(line.as_bytes());
        }
        std::thread::sleep(Duration::from_millis(15));
        let mut out = StageOutput::facts(Value::map([
            ("stage", Value::from(self.name)),
            ("path", Value::from(input.path.as_str())),
        ]));
        if self.name == "hash" {
            let bytes =
                std::fs::read(&input.path).map_err(|e| StageError::permanent(e.to_string()))?;
            out = out.with_content_hash(*blake3::hash(&bytes).as_bytes());
        }
        Ok(out)
    }
}

fn stages(store: &Path) -> Vec<Arc<dyn Stage>> {
    let log = store.with_extension("log");
    vec![
        Arc::new(Effect {
            name: "hash",
            tier: 1,
            after: None,
            log: log.clone(),
        }),
        Arc::new(Effect {
            name: "meta",
            tier: 2,
            after: Some("hash"),
            log: log.clone(),
        }),
        Arc::new(Effect {
            name: "enrich",
            tier: 3,
            after: Some("meta"),
            log,
        }),
    ]
}

fn config(max_attempts: u32) -> Config {
    Config {
        workers: 2,
        max_attempts,
        claim_batch: 16,
        ..Config::default()
    }
}

/// Opens `store` as the child does: as the primary, with the three effect
/// stages registered and their graph valid.
fn open_child(store: &Path, max_attempts: u32) -> Engine {
    let engine = Engine::open(store, config(max_attempts)).expect("open");
    assert!(engine.is_primary());
    for stage in stages(store) {
        engine.register_stage(stage).expect("register");
    }
    engine
        .validate()
        .expect("the child's stages form a valid graph");
    engine
}

/// The child role: open, import once, run until idle. Without the role
/// variable (a normal test run) it only checks that the child's stages and
/// configuration open a fresh store as primary with a valid graph.
#[test]
fn child_role() {
    let Ok(role) = std::env::var(ROLE) else {
        let work = tempfile::tempdir().expect("tempdir");
        let engine = open_child(&work.path().join("store"), 10_000);
        assert_eq!(engine.stages().len(), 3);
        return;
    };
    let store = PathBuf::from(std::env::var(STORE).expect("store variable"));
    let input = PathBuf::from(std::env::var(INPUT).expect("input variable"));
    let max_attempts = if role == "poison" { 3 } else { 10_000 };
    let runtime = common::runtime();
    runtime.block_on(async {
        let engine = open_child(&store, max_attempts);
        if engine.status().expect("status").imports.is_empty() {
            engine
                .import_dir(&input, Priority::Batch)
                .await
                .expect("import");
        }
        engine.run_until(Until::Idle).await.expect("run");
        engine.shutdown().await;
    });
    println!("{}", kiln_testkit::child::FINISHED);
}

fn spawn_child(role: &str, store: &Path, input: &Path) -> std::process::Child {
    kiln_testkit::child::spawn_test(
        "child_role",
        &[
            (ROLE, role.as_ref()),
            (STORE, store.as_os_str()),
            (INPUT, input.as_os_str()),
        ],
    )
}

#[test]
fn sigkilled_engines_resume_and_apply_every_job_exactly_once() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("input");
    write_files(&input, FILES);
    let store = work.path().join("store");

    // Kill moments spread from process start-up (open, reclaim) through
    // claims, stage work and commits; a pseudo-random spread, fixed per run.
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let delays: Vec<Duration> = (0..24u64)
        .map(|round| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            Duration::from_millis(3 + seed % 120 + (round % 4) * 15)
        })
        .collect();
    let kills = kill_rounds(delays, OnExit::Continue, |_| {
        spawn_child("crash", &store, &input)
    });
    assert!(
        kills >= 20,
        "only {kills} kills landed; the child finished too early"
    );

    let (status, out) = kiln_testkit::child::wait(spawn_child("crash", &store, &input));
    assert!(
        kiln_testkit::child::finished(&status, &out),
        "final run failed: {status:?}"
    );

    let engine = open_child(&store, 10_000);
    let status = engine.status().expect("status");
    assert_eq!(status.assets, FILES as u64);
    assert_eq!(status.jobs.running, 0, "no job left in a lease");
    assert_eq!(
        status.jobs.ready + status.jobs.retrying,
        0,
        "none lost in the queue"
    );
    assert_eq!(status.jobs.dead, 0);
    // Counters move in the same transaction as the effect, so a job applied
    // twice would show here as more than one done per asset and tier.
    for tier in Tier::ALL {
        assert_eq!(status.tiers[&tier].done, FILES as u64, "tier {tier}");
        assert_eq!(
            status.tiers[&tier].total(),
            FILES as u64,
            "tier {tier}: no job enqueued twice"
        );
    }
    let metrics = engine.metrics().expect("metrics");
    for stage in ["hash", "meta", "enrich"] {
        assert_eq!(
            metrics.by_stage[stage].get(&JobState::Done),
            Some(&(FILES as u64)),
            "{stage}"
        );
    }
    let log = std::fs::read_to_string(store.with_extension("log")).expect("execution log");
    for summary in engine.assets().expect("assets") {
        let asset = engine.asset(summary.id).expect("read").expect("asset");
        assert_eq!(asset.state.name(), "done");
        for stage in ["hash", "meta", "enrich"] {
            let facts = asset.stages[stage].facts.as_ref().expect("facts recorded");
            assert_eq!(facts.get("stage").and_then(Value::as_str), Some(stage));
            assert!(
                log.contains(&format!("{} {stage}\n", summary.id)),
                "stage {stage} of asset {} ran at least once; log:\n{log}",
                summary.id
            );
        }
        let bytes = std::fs::read(&asset.paths[0]).expect("input");
        assert_eq!(asset.content_hash, Some(*blake3::hash(&bytes).as_bytes()));
    }
    println!(
        "{kills} kills; {} stage executions for {} jobs",
        log.lines().count(),
        3 * FILES
    );
}

#[test]
fn a_job_that_aborts_the_process_is_dead_lettered_after_max_attempts() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("input");
    write_files(&input, 40);
    std::fs::write(input.join("poison.png"), "poison").expect("write poison");
    let store = work.path().join("store");

    let mut aborted = 0;
    let mut finished = false;
    for _ in 0..8 {
        let (status, out) = kiln_testkit::child::wait(spawn_child("poison", &store, &input));
        if kiln_testkit::child::finished(&status, &out) {
            finished = true;
            break;
        }
        aborted += 1;
    }
    assert!(finished, "the engine never got past the poison job");
    assert_eq!(aborted, 3, "one crash per attempt, max_attempts = 3");

    let engine = open_child(&store, 3);
    let dead = engine.dead_letters().expect("dead letters");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].path.ends_with("poison.png"));
    assert_eq!(dead[0].stage, "hash");
    assert_eq!(dead[0].attempts, 3);
    assert!(
        dead[0].last_error.contains("gave up after 3 attempts"),
        "{}",
        dead[0].last_error
    );
    let status = engine.status().expect("status");
    assert_eq!(
        status.tiers[&Tier::Enriched].done,
        40,
        "every other file is enriched"
    );
    assert_eq!(status.jobs.pending(), 0);
    assert_eq!(status.jobs.dead, 1);
}

/// An import killed part way, taken in again: the second import finds the
/// files the first took in unchanged, and waiting for it alone still waits
/// for their work, which the first import holds.
#[test]
fn waiting_for_a_reimport_waits_for_the_killed_import_it_resumed() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("input");
    write_files(&input, FILES);
    let store = work.path().join("store");
    let runtime = common::runtime();

    // Kill the child once tier 1 is under way with plenty of it left. The
    // parent watches the stages' log, not the store: opening the store
    // could take the engine lock before the child does.
    let log = store.with_extension("log");
    let mut child = spawn_child("crash", &store, &input);
    let started = std::time::Instant::now();
    let caught = loop {
        assert!(
            started.elapsed() < common::PATIENCE,
            "the child never reached the moment to kill it"
        );
        if child.try_wait().expect("poll child").is_some() {
            break false;
        }
        let hashed = std::fs::read_to_string(&log)
            .map(|l| l.lines().filter(|l| l.ends_with(" hash")).count())
            .unwrap_or(0);
        if (10..FILES - 30).contains(&hashed) {
            child.kill().expect("SIGKILL child");
            break true;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = child.wait();
    assert!(
        caught,
        "the child finished tier 1 before it could be killed"
    );

    runtime.block_on(async {
        let engine = open_child(&store, 10_000);
        let first = engine.status().expect("status").imports[0].clone();
        assert!(
            first.tiers[&Tier::Browsable].pending() > 0,
            "the killed import left tier-1 work queued"
        );
        let again = engine
            .import_dir(&input, Priority::Batch)
            .await
            .expect("import again");
        tokio::time::timeout(
            common::PATIENCE,
            engine.run_until(Until::Tier {
                tier: Tier::Browsable,
                imports: Some(vec![again]),
            }),
        )
        .await
        .expect("the wait ends")
        .expect("run");
        let status = engine.status().expect("status");
        let second = status
            .imports
            .iter()
            .find(|i| i.id == again)
            .expect("the second import");
        assert!(
            second.files_unchanged > 0,
            "the first import had taken in files: {second:?}"
        );
        for i in 0..FILES {
            let path = input.join(format!("img{i:05}.png"));
            let asset = engine
                .asset_by_path(&path)
                .expect("lookup")
                .expect("the file has an asset");
            let detail = engine.asset(asset).expect("read").expect("asset");
            assert_eq!(
                detail.stages["hash"].state.name(),
                "done",
                "{} is browsable once the wait returns",
                path.display()
            );
        }
        engine.shutdown().await;
    });
}
