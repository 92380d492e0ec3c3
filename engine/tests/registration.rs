//! Registering a stage, or a new version of one, on a store that already
//! has assets enqueues the stage's work for them.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Recorder, write_files};
use kiln_engine::{Config, Engine, Priority, StageState, Until};
use kiln_plugin_api::{Stage, StageError, StageInfo, StageInput, StageOutput, Value};

const FILES: usize = 4;

/// Opens `store` with `stages` registered.
fn open(store: &Path, stages: &[Arc<dyn Stage>]) -> Engine {
    let engine = Engine::open(store, Config::default()).expect("open");
    for stage in stages {
        engine.register_stage(stage.clone()).expect("register");
    }
    engine
}

fn hash() -> Arc<Recorder> {
    Recorder::hashing(StageInfo::new("hash", 1, 1))
}

fn s(version: u32) -> Arc<Recorder> {
    Recorder::new(StageInfo::new("s", version, 2).after(["hash"]))
}

/// A store whose `FILES` assets went through `hash` and `s` v1.
async fn processed_store(work: &Path) -> std::path::PathBuf {
    let input = work.join("in");
    write_files(&input, FILES);
    let store = work.join("store");
    let engine = open(&store, &[hash(), s(1)]);
    engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    engine.run_until(Until::Idle).await.expect("run");
    assert_eq!(engine.status().expect("status").jobs.done, 2 * FILES as u64);
    engine.shutdown().await;
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_is_enqueued_once_for_every_asset_and_run() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = processed_store(work.path()).await;
    let (hash, s2) = (hash(), s(2));
    let engine = open(&store, &[hash.clone(), s2.clone()]);
    let first = engine.assets().expect("assets")[0].id;
    let before = engine.asset(first).expect("read").expect("asset");
    assert!(before.stages["s"].outdated, "v1 facts under a v2 stage");
    assert!(!before.stages["hash"].outdated);

    let outdated = engine
        .enqueue_outdated(Priority::Batch)
        .await
        .expect("enqueue");
    let import = outdated.import.expect("an import holds the jobs");
    assert_eq!(
        outdated.per_stage.into_iter().collect::<Vec<_>>(),
        [("s".to_owned(), FILES as u64)]
    );
    let status = engine.status().expect("status");
    assert_eq!(status.jobs.pending(), FILES as u64, "status counts them");
    let info = status
        .imports
        .iter()
        .find(|i| i.id == import)
        .expect("the import is listed");
    assert_eq!(info.root, "stages:s");
    assert_eq!(info.jobs().pending(), FILES as u64);

    let again = engine
        .enqueue_outdated(Priority::Batch)
        .await
        .expect("enqueue again");
    assert_eq!((again.import, again.total()), (None, 0));
    assert_eq!(
        engine.status().expect("status").imports.len(),
        status.imports.len(),
        "no import without jobs"
    );

    engine.run_until(Until::Idle).await.expect("run");
    assert_eq!(s2.calls(), FILES, "every asset re-ran s");
    assert_eq!(hash.calls(), 0, "and nothing else");
    for summary in engine.assets().expect("assets") {
        let asset = engine.asset(summary.id).expect("read").expect("asset");
        let detail = &asset.stages["s"];
        assert_eq!((detail.version, detail.outdated), (Some(2), false));
        let facts = detail.facts.as_ref().expect("facts");
        assert_eq!(facts.get("version").and_then(Value::as_u64), Some(2));
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_registered_later_run_for_existing_assets_on_the_next_start() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = processed_store(work.path()).await;
    let later = Recorder::new(StageInfo::new("later", 1, 3).after(["s"]));
    let root = Recorder::new(StageInfo::new("root", 1, 1));
    let engine = open(&store, &[hash(), s(1), later.clone(), root.clone()]);
    // Nothing but starting the engine: `run_until` starts it.
    engine.run_until(Until::Idle).await.expect("run");
    assert_eq!((later.calls(), root.calls()), (FILES, FILES));
    let status = engine.status().expect("status");
    assert_eq!(status.jobs.pending() + status.jobs.dead, 0);
    assert_eq!(status.jobs.done, 4 * FILES as u64);
    assert!(
        status
            .imports
            .iter()
            .any(|i| i.root == "stages:later,root" && i.jobs().done == 2 * FILES as u64),
        "{:?}",
        status.imports
    );
    engine.shutdown().await;
}

/// `s` at `version`, failing permanently for the first file.
struct Picky {
    version: u32,
}

impl Stage for Picky {
    fn info(&self) -> StageInfo {
        StageInfo::new("s", self.version, 2).after(["hash"])
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        if input.path.ends_with("img00000.png") {
            return Err(StageError::permanent("unsupported"));
        }
        Ok(StageOutput::facts(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_stage_is_not_enqueued_again_nor_a_purged_one_at_its_version() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    write_files(&input, FILES);
    let store = work.path().join("store");
    let engine = open(&store, &[hash(), Arc::new(Picky { version: 1 })]);
    engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    engine.run_until(Until::Idle).await.expect("run");
    let dead = engine.dead_letters().expect("dead letters");
    assert_eq!(dead.len(), 1);
    engine.shutdown().await;

    drop(engine);
    let engine = open(&store, &[hash(), Arc::new(Picky { version: 2 })]);
    let outdated = engine
        .enqueue_outdated(Priority::Batch)
        .await
        .expect("enqueue");
    assert_eq!(
        outdated.per_stage.get("s"),
        Some(&(FILES as u64 - 1)),
        "every asset but the dead letter's"
    );
    let still = engine.dead_letters().expect("dead letters");
    assert_eq!(
        still.iter().map(|d| d.job_id).collect::<Vec<_>>(),
        [dead[0].job_id],
        "the dead letter stays as it was"
    );
    let asset = engine
        .asset(dead[0].asset_id.expect("the dead letter's asset"))
        .expect("read")
        .expect("asset");
    assert_eq!(asset.stages["s"].state, StageState::Dead);
    assert_eq!(asset.stages["s"].job_id, Some(dead[0].job_id));
    engine.run_until(Until::Idle).await.expect("run");
    let status = engine.status().expect("status");
    assert_eq!((status.jobs.pending(), status.jobs.dead), (0, 1));

    // A purged dead letter stays purged while the stage keeps its version,
    assert_eq!(engine.purge_dead().await.expect("purge"), 1);
    let after_purge = engine
        .enqueue_outdated(Priority::Batch)
        .await
        .expect("enqueue");
    assert_eq!((after_purge.import, after_purge.total()), (None, 0));
    // and runs again at a new one, with the assets whose facts it outdates.
    engine
        .replace_stage(Arc::new(Picky { version: 3 }))
        .expect("replace");
    let new_version = engine
        .enqueue_outdated(Priority::Batch)
        .await
        .expect("enqueue");
    assert_eq!(new_version.per_stage.get("s"), Some(&(FILES as u64)));
    engine.shutdown().await;
}
