//! Loading real plugin libraries, built with cargo, through the public loader.

use kiln_engine::plugin::{PluginError, load_plugin};
use kiln_engine::{Config, Engine, Priority, Until};
use kiln_plugin_api::{
    CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, TIER_BROWSABLE, Value,
};
use kiln_testkit::cargo::plugin_library;
use std::sync::Arc;

#[test]
fn the_example_plugin_loads_as_an_ordinary_stage() {
    let path = plugin_library("kiln-palette-plugin");
    let plugin = load_plugin(&path).expect("the palette plugin loads");
    assert_eq!(plugin.name(), "palette");
    assert_eq!(plugin.path(), std::fs::canonicalize(&path).expect("exists"));
    let info = plugin.stage().info();
    assert_eq!(info.tier, 3);
    assert_eq!(info.after, ["thumbnail"]);
    assert!(info.needs_proxy);
    assert!(plugin.is_concurrent());
}

#[test]
fn a_wrong_abi_version_is_refused_naming_both_versions() {
    let path = plugin_library("kiln-test-plugin-wrong-abi");
    let err = load_plugin(&path).expect_err("ABI 2 is refused");
    assert!(
        matches!(
            err,
            PluginError::AbiMismatch {
                plugin: 2,
                host: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("libkiln_test_plugin_wrong_abi"),
        "{message}"
    );
    assert!(
        message.contains("version 2") && message.contains("version 1"),
        "{message}"
    );
}

#[test]
fn a_library_without_the_entry_symbol_is_refused() {
    let path = plugin_library("kiln-test-plugin-no-entry");
    let err = load_plugin(&path).expect_err("no entry symbol");
    assert!(
        matches!(err, PluginError::MissingEntrySymbol { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("kiln_stage_v1"), "{message}");
    assert!(
        message.contains("libkiln_test_plugin_no_entry"),
        "{message}"
    );
}

#[test]
fn a_file_that_is_not_a_shared_library_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("libfake_plugin.so");
    std::fs::write(&path, "this is text, not machine code\n").expect("writes");
    let err = load_plugin(&path).expect_err("text is not a library");
    assert!(
        matches!(err, PluginError::NotASharedLibrary { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("libfake_plugin.so"), "{err}");
    assert_eq!(err.path(), std::fs::canonicalize(&path).expect("exists"));
}

#[test]
fn a_missing_file_is_refused() {
    let err = load_plugin("/nonexistent/libnothing.so").expect_err("no such file");
    assert!(matches!(err, PluginError::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/libnothing.so"),
        "{err}"
    );
}

#[test]
fn a_panic_fails_that_call_permanently_and_the_next_calls_work() {
    let plugin = load_plugin(plugin_library("kiln-test-plugin-panic")).expect("loads");
    let stage = plugin.stage();
    let err = stage
        .process(&StageInput::for_path(1, "/in/panic.png"))
        .expect_err("the plugin panics");
    assert!(!err.is_transient(), "a panic is not retried: {err}");
    assert!(
        err.message().contains("stage `test-panic` panicked"),
        "{err}"
    );
    assert!(
        err.message().contains("told to panic on /in/panic.png"),
        "{err}"
    );
    for id in 2..5 {
        let out = stage
            .process(&StageInput::for_path(id, "/in/fine.png"))
            .expect("later calls work");
        assert_eq!(out.facts.get("asset_id").and_then(Value::as_u64), Some(id));
    }
}

/// A built-in stage that panics on every path containing `boom`.
struct Boom;

impl Stage for Boom {
    fn info(&self) -> StageInfo {
        StageInfo::new("boom", 1, TIER_BROWSABLE).cost(CostClass::Io)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        assert!(!input.path.contains("boom"), "boom on {}", input.path);
        Ok(StageOutput::facts(Value::from(true)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_one_permanent_failure_for_a_plugin_and_a_built_in_stage_alike() {
    let plugin = load_plugin(plugin_library("kiln-test-plugin-panic")).expect("loads");
    let work = tempfile::tempdir().expect("temp dir");
    let input = work.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    for name in ["fine.png", "panic_here.png", "boom_here.png"] {
        std::fs::write(input.join(name), name).expect("writes");
    }
    let config = Config {
        max_attempts: 5,
        ..Config::default()
    };
    let engine = Engine::open(work.path().join("store"), config).expect("opens");
    engine.register_stage(plugin.stage()).expect("registers");
    engine.register_stage(Arc::new(Boom)).expect("registers");
    engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("imports");
    engine.run_until(Until::Idle).await.expect("runs");

    let mut dead = engine.dead_letters().expect("dead letters");
    dead.sort_by(|a, b| a.stage.cmp(&b.stage));
    let summary: Vec<_> = dead
        .iter()
        .map(|d| {
            (
                d.stage.as_str(),
                d.path.rsplit('/').next().unwrap_or(""),
                d.attempts,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("boom", "boom_here.png", 1),
            ("test-panic", "panic_here.png", 1)
        ],
        "each panic dead-letters its job at the first attempt: {dead:?}"
    );
    assert!(
        dead[0]
            .last_error
            .contains("stage `boom` panicked: boom on"),
        "{}",
        dead[0].last_error
    );
    assert!(
        dead[1]
            .last_error
            .contains("stage `test-panic` panicked: test-panic was told to panic on"),
        "{}",
        dead[1].last_error
    );
    let status = engine.status().expect("status");
    assert_eq!(status.jobs.dead, 2);
    assert_eq!(status.jobs.done, 4, "every other job completed");
    engine.shutdown().await;
}

#[test]
fn a_plugin_that_is_not_concurrent_is_never_called_concurrently() {
    let plugin = load_plugin(plugin_library("kiln-test-plugin-panic")).expect("loads");
    assert!(!plugin.is_concurrent());
    let stage = plugin.stage();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..6u64)
            .map(|worker| {
                let stage = &stage;
                scope.spawn(move || {
                    (0..5u64)
                        .map(|i| stage.process(&StageInput::for_path(worker * 10 + i, "/a.png")))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for worker in workers {
            for result in worker.join().expect("worker thread") {
                // The plugin fails any call that overlaps another.
                result.expect("calls are serialised");
            }
        }
    });
}

#[test]
fn a_concurrent_plugin_is_not_serialised() {
    let plugin = load_plugin(plugin_library("kiln-test-plugin-echo")).expect("loads");
    assert!(plugin.is_concurrent());
    let out = plugin
        .stage()
        .process(&StageInput::for_path(3, "/x/Photo.WEBP"))
        .expect("processes");
    assert_eq!(
        out.facts.get("extension").and_then(Value::as_str),
        Some("webp")
    );
}

#[test]
fn loading_the_same_library_twice_gives_two_working_stages() {
    let path = plugin_library("kiln-test-plugin-echo");
    let first = load_plugin(&path).expect("loads");
    let second = load_plugin(&path).expect("loads again");
    for plugin in [first, second] {
        plugin
            .stage()
            .process(&StageInput::for_path(1, "/a.png"))
            .expect("processes");
    }
}

/// Checks that the abort plugin loads and answers an ordinary call. Run as the
/// child of `an_abort_takes_down_only_the_child` (with
/// `KILN_PLUGIN_ABORT_CHILD` set), it then feeds the plugin the path that makes
/// it abort the process.
#[test]
fn abort_child() {
    let plugin = load_plugin(plugin_library("kiln-test-plugin-abort")).expect("loads");
    let stage = plugin.stage();
    let out = stage
        .process(&StageInput::for_path(1, "/fine.png"))
        .expect("a normal call works");
    assert_eq!(
        out.facts.get("survived").and_then(Value::as_bool),
        Some(true)
    );
    if std::env::var_os("KILN_PLUGIN_ABORT_CHILD").is_none() {
        return;
    }
    let _ = stage.process(&StageInput::for_path(2, "/abort.png"));
    // Only reached if the plugin failed to abort.
    std::process::exit(0);
}

#[test]
fn an_abort_takes_down_only_the_child() {
    // Build first, so the child does not race a cargo run of its own.
    plugin_library("kiln-test-plugin-abort");
    let (status, _) = kiln_testkit::child::wait(kiln_testkit::child::spawn_test(
        "abort_child",
        &[("KILN_PLUGIN_ABORT_CHILD", "1".as_ref())],
    ));
    assert!(!status.success(), "the child survived an abort: {status:?}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(6), "killed by SIGABRT: {status:?}");
    }
}
