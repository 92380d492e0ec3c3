//! The enrichment gate: a rule and a per-import budget decide which assets
//! reach the guarded tiers; the others show as skipped, with the reason, and
//! the budget survives a SIGKILLed engine without being spent twice.

mod common;

use kiln_engine::{ImportId, JobState, Tier};
use kiln_testkit::kill::{OnExit, kill_rounds};

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::time::Duration;

use common::{Recorder, write_files};
use kiln_engine::{
    AssetState, Config, Engine, EnrichmentGate, EnrichmentRule, ImportOptions, Priority,
    StageState, Until,
};
use kiln_plugin_api::{Stage, StageError, StageInfo, StageInput, StageOutput, Value};

/// Tier 1: records the file's length, and its content hash as identity.
struct Size;

impl Stage for Size {
    fn info(&self) -> StageInfo {
        common::io_info("size", 1, None)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let bytes = std::fs::read(&input.path).map_err(|e| StageError::permanent(e.to_string()))?;
        Ok(
            StageOutput::facts(Value::map([("len", Value::from(bytes.len() as u64))]))
                .with_content_hash(*blake3::hash(&bytes).as_bytes()),
        )
    }
}

/// Turns away files shorter than `min_len` bytes.
#[derive(Debug)]
struct MinLength(u64);

impl EnrichmentRule for MinLength {
    fn skip_reason(&self, facts: &BTreeMap<String, Value>) -> Option<String> {
        let len = facts.get("size")?.get("len")?.as_u64()?;
        (len < self.0).then(|| format!("only {len} bytes"))
    }
}

/// size (1) -> meta (2) -> enrich (3) -> late (3), and side (3) after size only.
fn stages() -> (Vec<Arc<dyn Stage>>, Arc<Recorder>, Arc<Recorder>) {
    let enrich = Recorder::new(StageInfo::new("enrich", 1, 3).after(["meta"]));
    let side = Recorder::new(StageInfo::new("side", 1, 3).after(["size"]));
    let list: Vec<Arc<dyn Stage>> = vec![
        Arc::new(Size),
        Recorder::new(StageInfo::new("meta", 1, 2).after(["size"])),
        enrich.clone(),
        Recorder::new(StageInfo::new("late", 1, 3).after(["enrich"])),
        side.clone(),
    ];
    (list, enrich, side)
}

fn open(store: &Path, gate: EnrichmentGate) -> (Engine, Arc<Recorder>, Arc<Recorder>) {
    let config = Config {
        workers: 2,
        gate,
        ..Config::default()
    };
    let engine = Engine::open(store, config).expect("open");
    let (list, enrich, side) = stages();
    for stage in list {
        engine.register_stage(stage).expect("register");
    }
    (engine, enrich, side)
}

/// Writes `n` files whose contents are `i` bytes long plus a distinct tag.
fn write_sized(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).expect("create input folder");
    for i in 0..n {
        let mut content = format!("{i:03}:").into_bytes();
        content.resize(4 + i * 10, b'x');
        std::fs::write(dir.join(format!("f{i:03}.bin")), content).expect("write file");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rule_skips_every_guarded_stage_with_its_reason() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    write_sized(&input, 10);
    let gate = EnrichmentGate {
        rule: Some(Arc::new(MinLength(50))),
        ..EnrichmentGate::default()
    };
    let (engine, enrich, side) = open(&work.path().join("store"), gate);
    let import = engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    engine
        .run_until(Until::Tier {
            tier: Tier::Enriched,
            imports: Some(vec![import]),
        })
        .await
        .expect("run");
    // Lengths are 4, 14, 24, ..., 94: five files are under 50 bytes.
    assert_eq!(enrich.calls(), 5);
    assert_eq!(
        side.calls(),
        5,
        "a guarded stage after tier 1 only waits too"
    );
    let status = engine.status().expect("status");
    let tier3 = status.tiers[&Tier::Enriched];
    assert_eq!(
        (tier3.done, tier3.skipped, tier3.pending()),
        (15, 15, 0),
        "three guarded stages for each of five passed and five skipped assets"
    );
    assert_eq!(
        status.tiers[&Tier::Searchable].skipped,
        0,
        "lower tiers are never gated"
    );
    let metrics = engine.metrics().expect("metrics");
    assert_eq!(metrics.by_stage["late"].get(&JobState::Skipped), Some(&5));
    for summary in engine.assets().expect("assets") {
        assert_eq!(summary.state, AssetState::Done, "{}", summary.first_path);
        let asset = engine.asset(summary.id).expect("read").expect("asset");
        let len = asset.stages["size"]
            .facts
            .as_ref()
            .and_then(|f| f.get("len"))
            .and_then(Value::as_u64)
            .expect("length");
        for stage in ["enrich", "late", "side"] {
            let detail = &asset.stages[stage];
            if len < 50 {
                assert_eq!(detail.state, StageState::Skipped, "{stage} of {len} bytes");
                assert_eq!(
                    detail.reason.as_deref(),
                    Some(&*format!("only {len} bytes"))
                );
                assert!(detail.facts.is_none());
            } else {
                assert_eq!(detail.state, StageState::Done, "{stage} of {len} bytes");
                assert!(detail.reason.is_none());
            }
        }
        assert_eq!(asset.stages["meta"].state, StageState::Done);
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_limits_each_import_and_a_rerun_never_revives_a_skipped_asset() {
    let work = tempfile::tempdir().expect("tempdir");
    let (first, second) = (work.path().join("a"), work.path().join("b"));
    write_files(&first, 10);
    write_sized(&second, 6);
    let (engine, enrich, _) = open(&work.path().join("store"), EnrichmentGate::default());
    let a = engine
        .import_with(&first, ImportOptions::new(Priority::Batch).with_budget(3))
        .await
        .expect("import a");
    let b = engine
        .import_with(&second, ImportOptions::new(Priority::Batch).with_budget(4))
        .await
        .expect("import b");
    engine.run_until(Until::Idle).await.expect("run");
    assert_eq!(enrich.calls(), 7, "3 of the first import, 4 of the second");
    let status = engine.status().expect("status");
    let tier3 = |id: ImportId| {
        status
            .imports
            .iter()
            .find(|i| i.id == id)
            .expect("import")
            .tiers[&Tier::Enriched]
    };
    assert_eq!((tier3(a).done, tier3(a).skipped), (9, 21));
    assert_eq!((tier3(b).done, tier3(b).skipped), (12, 6));
    let skipped: Vec<_> = engine
        .assets()
        .expect("assets")
        .into_iter()
        .map(|s| engine.asset(s.id).expect("read").expect("asset"))
        .filter(|a| a.stages["enrich"].state == StageState::Skipped)
        .collect();
    assert_eq!(skipped.len(), 9);
    assert!(
        skipped[0].stages["enrich"]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("budget of")),
        "{:?}",
        skipped[0].stages["enrich"].reason
    );

    // A new version of a guarded stage re-runs only where the gate let it.
    engine
        .replace_stage(Recorder::new(
            StageInfo::new("enrich", 2, 3).after(["meta"]),
        ))
        .expect("replace");
    let (_, count) = engine
        .rerun_outdated("enrich", Priority::Batch)
        .await
        .expect("rerun");
    assert_eq!(count, 7);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_asks_the_gate_about_assets_enriched_before_it_was_set() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    write_sized(&input, 10);
    let store = work.path().join("store");
    let (engine, enrich, _) = open(&store, EnrichmentGate::default());
    engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    engine.run_until(Until::Idle).await.expect("run");
    assert_eq!(enrich.calls(), 10, "no gate: every asset was enriched");
    engine.shutdown().await;
    drop(engine);

    let gate = EnrichmentGate {
        rule: Some(Arc::new(MinLength(50))),
        ..EnrichmentGate::default()
    };
    let (engine, _, _) = open(&store, gate);
    let newer = Recorder::new(StageInfo::new("enrich", 2, 3).after(["meta"]));
    engine.replace_stage(newer.clone()).expect("replace");
    let (_, count) = engine
        .rerun_outdated("enrich", Priority::Batch)
        .await
        .expect("rerun");
    assert_eq!(count, 5, "only the five files of 50 bytes or more pass");
    let (_, again) = engine
        .rerun_outdated("enrich", Priority::Batch)
        .await
        .expect("rerun again");
    assert_eq!(again, 0, "the decisions were kept; the passed are queued");
    engine.run_until(Until::Idle).await.expect("run");
    assert_eq!(newer.calls(), 5);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_rule_or_budget_nothing_waits_for_the_gate() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    write_files(&input, 4);
    let (engine, enrich, side) = open(&work.path().join("store"), EnrichmentGate::default());
    engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    engine.run_until(Until::Idle).await.expect("run");
    assert_eq!((enrich.calls(), side.calls()), (4, 4));
    assert_eq!(engine.status().expect("status").jobs.skipped, 0);
    engine.shutdown().await;
}

// The crash test: a child engine imports with a budget and is SIGKILLed at
// many moments; the budget must never be spent on more assets than it allows.

const ROLE: &str = "KILN_TEST_GATE_CHILD";
const STORE: &str = "KILN_TEST_GATE_STORE";
const INPUT: &str = "KILN_TEST_GATE_INPUT";
const FILES: usize = 100;
const BUDGET: u64 = 40;

/// A tier-3 stage that logs the asset it runs for beside the store and
/// takes 40 ms: the budgeted work then needs more time than the kill delays
/// together, so kills land while guarded work is running.
struct Logged(PathBuf);

impl Stage for Logged {
    fn info(&self) -> StageInfo {
        common::io_info("enrich", 3, Some("meta"))
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.0)
        {
            let _ = log.write_all(format!("{}\n", input.asset_id).as_bytes());
        }
        std::thread::sleep(Duration::from_millis(40));
        Ok(StageOutput::facts(Value::map([("ok", Value::from(true))])))
    }
}

fn open_child(store: &Path) -> Engine {
    // Every kill charges an attempt to each job the child had claimed, and
    // the claim order repeats from run to run, so with the default limit the
    // same early job could be dead-lettered by the kills alone and its asset
    // would never reach the gate.
    let config = Config {
        workers: 2,
        max_attempts: 10_000,
        claim_batch: 8,
        ..Config::default()
    };
    let engine = Engine::open(store, config).expect("open");
    let stages: Vec<Arc<dyn Stage>> = vec![
        Arc::new(Size),
        Recorder::new(StageInfo::new("meta", 1, 2).after(["size"])),
        Arc::new(Logged(store.with_extension("log"))),
    ];
    for stage in stages {
        engine.register_stage(stage).expect("register");
    }
    engine.validate().expect("valid graph");
    engine
}

/// The child role; in a normal run it only checks the child opens a store.
#[test]
fn gate_child_role() {
    let Some(store) = std::env::var_os(STORE).map(PathBuf::from) else {
        let work = tempfile::tempdir().expect("tempdir");
        assert_eq!(open_child(&work.path().join("store")).stages().len(), 3);
        return;
    };
    let input = PathBuf::from(std::env::var_os(INPUT).expect("input variable"));
    common::runtime().block_on(async {
        let engine = open_child(&store);
        if engine.status().expect("status").imports.is_empty() {
            engine
                .import_with(
                    &input,
                    ImportOptions::new(Priority::Batch).with_budget(BUDGET),
                )
                .await
                .expect("import");
        }
        engine.run_until(Until::Idle).await.expect("run");
        engine.shutdown().await;
    });
    println!("{}", kiln_testkit::child::FINISHED);
}

fn spawn_child(store: &Path, input: &Path) -> std::process::Child {
    kiln_testkit::child::spawn_test(
        "gate_child_role",
        &[
            (ROLE, "1".as_ref()),
            (STORE, store.as_os_str()),
            (INPUT, input.as_os_str()),
        ],
    )
}

#[test]
fn a_budget_is_never_overspent_across_sigkilled_engines() {
    if std::env::var_os(ROLE).is_some() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("input");
    write_files(&input, FILES);
    let store = work.path().join("store");
    let delays = (0..12u64).map(|round| Duration::from_millis(20 + (round * 37) % 90));
    let kills = kill_rounds(delays, OnExit::Continue, |_| spawn_child(&store, &input));
    assert!(kills >= 8, "only {kills} kills landed");
    let (status, out) = kiln_testkit::child::wait(spawn_child(&store, &input));
    // Without the line, the child ran no test at all (a renamed role).
    assert!(
        kiln_testkit::child::finished(&status, &out),
        "final run failed: {status:?}"
    );

    let engine = open_child(&store);
    let status = engine.status().expect("status");
    assert_eq!(status.tiers[&Tier::Enriched].done, BUDGET);
    assert_eq!(status.tiers[&Tier::Enriched].skipped, FILES as u64 - BUDGET);
    assert_eq!(status.jobs.pending(), 0);
    let log = std::fs::read_to_string(store.with_extension("log")).unwrap_or_default();
    let ran: BTreeSet<&str> = log.lines().collect();
    println!(
        "{kills} kills; {} guarded runs for {} budgeted assets",
        log.lines().count(),
        ran.len()
    );
    assert_eq!(
        ran.len() as u64,
        BUDGET,
        "guarded work ran for exactly the budgeted assets, even across {kills} kills"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_registered_later_runs_only_where_the_gate_let_the_asset_through() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    write_sized(&input, 10);
    let store = work.path().join("store");
    let gate = || EnrichmentGate {
        rule: Some(Arc::new(MinLength(50))),
        ..EnrichmentGate::default()
    };
    let (engine, _, _) = open(&store, gate());
    engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    engine.run_until(Until::Idle).await.expect("run");
    engine.shutdown().await;
    drop(engine);

    let (engine, _, _) = open(&store, gate());
    let guarded = Recorder::new(StageInfo::new("extra", 1, 3).after(["size"]));
    let plain = Recorder::new(StageInfo::new("plain", 1, 2).after(["size"]));
    engine.register_stage(guarded.clone()).expect("register");
    engine.register_stage(plain.clone()).expect("register");
    let outdated = engine
        .enqueue_outdated(Priority::Batch)
        .await
        .expect("enqueue");
    assert_eq!(
        outdated.per_stage.into_iter().collect::<Vec<_>>(),
        [("extra".to_owned(), 5), ("plain".to_owned(), 10)],
        "the guarded stage only for the five assets that passed"
    );
    engine.run_until(Until::Idle).await.expect("run");
    assert_eq!((guarded.calls(), plain.calls()), (5, 10));
    engine.shutdown().await;
}
