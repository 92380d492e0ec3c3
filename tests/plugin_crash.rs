//! A plugin that aborts the process cannot be contained in-process; the
//! engine's attempt counting must. The test re-executes its own binary as a
//! child engine with the abort plugin loaded, lets it die on the poison file
//! again and again, and checks that the poison job is dead-lettered after
//! `max_attempts` restarts while every other file is processed.

use kiln::engine::{Config, Priority, StageState, Until};
use kiln::{EnrichmentCriteria, Kiln, OpenError, StageSource};
use kiln_testkit::cargo::plugin_library;
use kiln_testkit::{child, paint};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

const STORE: &str = "KILN_PLUGIN_CRASH_STORE";
const INPUT: &str = "KILN_PLUGIN_CRASH_INPUT";
const PLUGIN: &str = "KILN_PLUGIN_CRASH_PLUGIN";
const MAX_ATTEMPTS: u32 = 3;
const FILES: u8 = 10;

/// Opens the store with the built-in stages and `plugin`, with no
/// enrichment rule (every asset goes on to tier 3).
fn open_store(dir: &Path, plugin: PathBuf) -> Result<Kiln, OpenError> {
    Kiln::builder(dir)
        .plugins([plugin])
        .config(Config {
            workers: 2,
            max_attempts: MAX_ATTEMPTS,
            ..Config::default()
        })
        .enrichment(EnrichmentCriteria::OPEN)
        .open()
}

/// The child: open the store with the abort plugin, import once, run until
/// idle. Without the parent's variables it only checks that a store opens with
/// the abort plugin among its stages, the child's first step.
#[test]
fn child_engine() {
    let (Some(store), Some(input), Some(plugin)) = (
        std::env::var_os(STORE),
        std::env::var_os(INPUT),
        std::env::var_os(PLUGIN),
    ) else {
        let plugin = plugin_library("kiln-test-plugin-abort");
        let dir = tempfile::tempdir().expect("temp dir");
        let kiln = open_store(&dir.path().join("store"), plugin.clone()).expect("opens");
        let sources = kiln.stage_sources();
        assert!(
            sources.contains(&("test-abort".to_owned(), StageSource::Plugin(plugin))),
            "{sources:?}"
        );
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let kiln = open_store(Path::new(&store), PathBuf::from(plugin)).expect("opens");
        let engine = kiln.engine();
        if engine.status().expect("status").imports.is_empty() {
            engine
                .import_dir(Path::new(&input), Priority::Batch)
                .await
                .expect("import");
        }
        engine.run_until(Until::Idle).await.expect("run");
        kiln.shutdown().await.expect("the index closes");
    });
    println!("{}", child::FINISHED);
}

fn run_child(store: &Path, input: &Path, plugin: &Path) -> (ExitStatus, String) {
    child::wait(child::spawn_test(
        "child_engine",
        &[
            (STORE, store.as_os_str()),
            (INPUT, input.as_os_str()),
            (PLUGIN, plugin.as_os_str()),
        ],
    ))
}

#[test]
fn an_aborting_plugin_job_is_dead_lettered_after_restarts() {
    let plugin = plugin_library("kiln-test-plugin-abort");
    let work = tempfile::tempdir().expect("temp dir");
    let input = work.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    for i in 0..FILES {
        let fine = paint::solid(8, 8, [i, 100, 200]);
        paint::write_png(&input.join(format!("fine_{i}.png")), &fine, None);
    }
    paint::write_png(
        &input.join("abort_me.png"),
        &paint::solid(8, 8, [0, 0, 0]),
        None,
    );
    let store = work.path().join("store");

    let mut crashes = 0;
    let mut finished = false;
    for _ in 0..MAX_ATTEMPTS + 5 {
        let (status, out) = run_child(&store, &input, &plugin);
        if child::finished(&status, &out) {
            finished = true;
            break;
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                status.signal(),
                Some(6),
                "the child died of SIGABRT: {status:?}"
            );
        }
        crashes += 1;
    }
    assert!(finished, "the engine never got past the aborting job");
    assert_eq!(crashes, MAX_ATTEMPTS, "one crash per attempt");

    let kiln = open_store(&store, plugin).expect("reopens");
    let engine = kiln.engine();
    let dead = engine.dead_letters().expect("dead letters");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].stage, "test-abort");
    assert!(dead[0].path.ends_with("abort_me.png"), "{:?}", dead[0]);
    assert_eq!(dead[0].attempts, MAX_ATTEMPTS);
    let status = engine.status().expect("status");
    assert_eq!(status.jobs.dead, 1);
    assert_eq!(status.jobs.pending(), 0);
    for i in 0..FILES {
        let path = input.join(format!("fine_{i}.png"));
        let id = engine
            .asset_by_path(&path)
            .expect("lookup")
            .expect("every fine file is an asset");
        let asset = engine.asset(id).expect("read").expect("asset");
        assert_eq!(
            asset.stages["test-abort"].state,
            StageState::Done,
            "{} got the plugin's facts",
            path.display()
        );
    }
}
