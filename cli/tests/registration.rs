//! What registering stages on a store that already has assets does through
//! the `kiln` binary: a new plugin's work is queued at once (`status`) and
//! done by `run`, `rerun STAGE [QUERY]` runs a stage again for the assets
//! asked for, and `show` marks facts an outdated stage version wrote.

mod common;

use common::{json, kiln, num, run, samples_dir, succeed};
use kiln_testkit::cargo::plugin_library;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

/// Samples that import cleanly, one of them the lighthouse.
const SAMPLES: [&str; 4] = [
    "comfyui-lighthouse.png",
    "a1111-forest.png",
    "a1111-harbor.jpg",
    "invokeai-castle.png",
];

/// A store at `dir/store` holding [`SAMPLES`], imported with the built-in
/// stages only.
fn imported_store(dir: &Path) -> PathBuf {
    let input = dir.join("input");
    std::fs::create_dir_all(&input).expect("creates the input folder");
    for name in SAMPLES {
        std::fs::copy(samples_dir().join(name), input.join(name)).expect("copies a sample");
    }
    let store = dir.join("store");
    succeed(kiln(&store).args(["import", "-q"]).arg(&input));
    store
}

/// The ids of the assets in the store.
fn asset_ids(store: &Path) -> Vec<u64> {
    let assets = json(store, &["assets"]);
    assets["assets"]
        .as_array()
        .expect("an asset list")
        .iter()
        .map(|a| a["id"].as_u64().expect("an id"))
        .collect()
}

/// The import named `root` in `status --json`, if there is one.
fn import_named(status: &Json, root: &str) -> Option<Json> {
    status["imports"]
        .as_array()
        .expect("an import list")
        .iter()
        .find(|i| i["root"] == root)
        .cloned()
}

#[test]
fn a_plugin_added_to_a_store_with_assets_queues_its_work_and_run_does_it() {
    let work = tempfile::tempdir().expect("temp dir");
    let store = imported_store(work.path());
    let echo = plugin_library("kiln-test-plugin-echo");
    let with_echo = |args: &[&str]| {
        let mut cmd = kiln(&store);
        cmd.arg("--plugin").arg(&echo).args(args);
        cmd
    };

    let before = json(&store, &["status"]);
    assert_eq!(num(&before, "/jobs/ready"), 0, "all done: {before}");

    let out = succeed(&mut with_echo(&["status", "--json"]));
    let status: Json = serde_json::from_slice(&out.stdout).expect("status JSON");
    let import = import_named(&status, "stages:test-echo")
        .unwrap_or_else(|| panic!("registering the plugin queued its stage: {status}"));
    let queued = num(&import, "/pending");
    assert!(queued > 0, "the new stage has pending jobs: {status}");
    assert_eq!(num(&status, "/jobs/ready"), queued, "{status}");

    succeed(&mut with_echo(&["run", "-q"]));
    let mut ran = 0;
    for id in asset_ids(&store) {
        let out = succeed(&mut with_echo(&["show", &id.to_string(), "--json"]));
        let shown: Json = serde_json::from_slice(&out.stdout).expect("show JSON");
        if let Some(facts) = shown["facts"].get("test-echo") {
            assert_eq!(num(facts, "/asset_id"), id, "{shown}");
            assert_eq!(shown["stages"]["test-echo"], "done", "{shown}");
            assert_eq!(shown["outdated"]["test-echo"], false, "{shown}");
            ran += 1;
        }
    }
    assert_eq!(ran, queued, "run did every queued job of the new stage");
    let out = succeed(&mut with_echo(&["status", "--json"]));
    let after: Json = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(num(&after, "/jobs/ready"), 0, "{after}");
}

#[test]
fn rerun_with_a_query_runs_the_stage_again_for_exactly_the_matching_assets() {
    let work = tempfile::tempdir().expect("temp dir");
    let store = imported_store(work.path());
    let hits = json(&store, &["search", "lighthouse"]);
    let matching = num(&hits, "/total");
    assert!(matching > 0, "the lighthouse sample matches: {hits}");
    assert!(
        (matching as usize) < SAMPLES.len(),
        "the query matches only some assets: {hits}"
    );

    let before = json(&store, &["status"]);
    let out = succeed(kiln(&store).args(["rerun", "thumbnail", "lighthouse"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("enqueued {matching} job(s) of thumbnail")),
        "prints how many it enqueued:\n{stdout}"
    );
    let status = json(&store, &["status"]);
    let rerun = import_named(&status, "rerun:thumbnail")
        .unwrap_or_else(|| panic!("the re-run is an import: {status}"));
    assert_eq!(num(&rerun, "/pending"), 0, "the re-run completed: {status}");
    assert_eq!(num(&rerun, "/dead"), 0, "{status}");
    assert_eq!(num(&status, "/jobs/ready"), 0, "{status}");
    assert_eq!(
        num(&status, "/jobs/done"),
        num(&before, "/jobs/done") + matching,
        "one more thumbnail job done per hit: before {before}, after {status}"
    );

    let all = succeed(kiln(&store).args(["rerun", "thumbnail"]));
    let stdout = String::from_utf8_lossy(&all.stdout);
    assert!(
        stdout.contains(&format!("enqueued {} job(s) of thumbnail", SAMPLES.len())),
        "without a query every asset:\n{stdout}"
    );

    let imports = |status: &Json| status["imports"].as_array().map_or(0, Vec::len);
    let before = json(&store, &["status"]);
    let none = succeed(kiln(&store).args(["rerun", "thumbnail", "zzznomatchzzz"]));
    let stdout = String::from_utf8_lossy(&none.stdout);
    assert!(
        stdout.contains("enqueued 0 job(s) of thumbnail"),
        "a query that matches nothing enqueues nothing:\n{stdout}"
    );
    let after = json(&store, &["status"]);
    assert_eq!(
        imports(&after),
        imports(&before),
        "and creates no import: before {before}, after {after}"
    );

    let unknown = run(kiln(&store).args(["rerun", "no-such-stage"]));
    assert_eq!(
        unknown.status.code(),
        Some(1),
        "an unknown stage is an error"
    );
}

#[test]
fn show_marks_the_facts_of_an_outdated_stage_version() {
    let work = tempfile::tempdir().expect("temp dir");
    let store = imported_store(work.path());
    let id = asset_ids(&store)[0].to_string();
    let swap = plugin_library("kiln-test-plugin-swap");
    let with_swap = |args: &[&str]| {
        let mut cmd = kiln(&store);
        cmd.arg("--plugin")
            .arg(&swap)
            .args(["--replace-stage", "metadata"])
            .args(args);
        cmd
    };

    let current = json(&store, &["show", &id]);
    assert_eq!(current["outdated"]["metadata"], false, "{current}");

    // The swap plugin's metadata stage is version 99; the facts are from
    // the built-in version.
    let out = succeed(&mut with_swap(&["show", &id, "--json"]));
    let shown: Json = serde_json::from_slice(&out.stdout).expect("show JSON");
    assert_eq!(shown["outdated"]["metadata"], true, "{shown}");
    assert_eq!(shown["outdated"]["hash"], false, "{shown}");
    let out = succeed(&mut with_swap(&["show", &id]));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("stage      metadata:"))
        .unwrap_or_else(|| panic!("show lists the metadata stage:\n{text}"));
    let built_in = kiln::stages::metadata::MetadataStage::VERSION;
    assert!(
        line.ends_with(&format!("(outdated: v{built_in}, registered v99)")),
        "marks the outdated version: {line}"
    );

    // Running the new version brings the facts up to date.
    succeed(&mut with_swap(&["run", "-q"]));
    let out = succeed(&mut with_swap(&["show", &id, "--json"]));
    let shown: Json = serde_json::from_slice(&out.stdout).expect("show JSON");
    assert_eq!(shown["outdated"]["metadata"], false, "{shown}");
    let out = succeed(&mut with_swap(&["show", &id]));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("outdated"),
        "nothing is marked once the stage ran again"
    );
}
