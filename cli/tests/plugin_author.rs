//! What a plugin author sees through the `kiln` binary: the plugin's log
//! messages on standard error (errors always, the rest with `-v`, escaped),
//! an asset's facts exactly as a stage is given them (`show --json --raw`),
//! and the built-in stages' facts schema (`stages --schema`).

mod common;

use common::{json, kiln, num, run, samples_dir};
use kiln::plugin_api::builtin;
use kiln_testkit::cargo::plugin_library;
use serde_json::Value as Json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A file name a hostile source could produce: a colour change, a bell and
/// a carriage return, on the path the panic plugin panics on.
const HOSTILE_NAME: &str = "panic\u{1b}[31m\u{7}\r.png";

/// Two different sample images in a fresh folder: `ok.png`, and one with
/// [`HOSTILE_NAME`], on which the panic plugin logs an error and panics.
fn plugin_input(dir: &Path) -> PathBuf {
    let input = dir.join("input");
    std::fs::create_dir_all(&input).expect("creates the input folder");
    let samples = samples_dir();
    std::fs::copy(samples.join("comfyui-lighthouse.png"), input.join("ok.png"))
        .expect("copies a sample");
    std::fs::copy(samples.join("a1111-forest.png"), input.join(HOSTILE_NAME))
        .expect("copies a sample");
    input
}

/// Imports `input` with the panic plugin, with `-v` or without; returns
/// the exit code and standard error.
fn import_with_panic_plugin(store: &Path, input: &Path, verbose: bool) -> (i32, String) {
    let mut cmd = kiln(store);
    cmd.arg("--plugin")
        .arg(plugin_library("kiln-test-plugin-panic"));
    if verbose {
        cmd.arg("-v");
    }
    let out = run(cmd.arg("import").arg(input));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), stderr)
}

/// Every line kiln itself prints (its log lines, the dead letters, its
/// messages) is free of raw control characters. What the plugin's own copy
/// of std prints when it panics goes to the same standard error without
/// passing through kiln, so it is not checked here.
fn assert_no_raw_controls(stderr: &str) {
    for line in stderr
        .lines()
        .filter(|l| l.starts_with("kiln: ") || l.starts_with("dead: "))
    {
        assert!(
            !line.contains(['\u{1b}', '\u{7}', '\r']),
            "a line kiln printed holds a raw control character: {line:?}"
        );
    }
}

#[test]
fn a_plugins_errors_reach_stderr_escaped_and_its_other_messages_only_with_verbose() {
    let work = tempfile::tempdir().expect("temp dir");
    let input = plugin_input(work.path());

    let (code, stderr) = import_with_panic_plugin(&work.path().join("quiet"), &input, false);
    assert_eq!(code, 3, "the panicking job is dead-lettered:\n{stderr}");
    let error_line = stderr
        .lines()
        .find(|l| l.contains("about to panic"))
        .unwrap_or_else(|| panic!("the plugin's error is printed:\n{stderr}"));
    assert!(
        error_line.starts_with("kiln: [test-panic] error: about to panic on "),
        "prefixed with the plugin's stage: {error_line}"
    );
    assert!(
        error_line.ends_with("panic\\x1b[31m\\x07\\r.png"),
        "{error_line}"
    );
    assert!(
        !stderr.contains("[test-panic] info"),
        "info messages only with -v:\n{stderr}"
    );
    assert!(
        !stderr.contains("panicked at"),
        "the plugin's own panic hook prints nothing; kiln reports the panic:\n{stderr}"
    );
    assert_no_raw_controls(&stderr);

    let (code, stderr) = import_with_panic_plugin(&work.path().join("verbose"), &input, true);
    assert_eq!(code, 3, "{stderr}");
    let info_line = stderr
        .lines()
        .find(|l| l.starts_with("kiln: [test-panic] info: processing "))
        .unwrap_or_else(|| panic!("with -v the plugin's info message is printed:\n{stderr}"));
    assert!(info_line.ends_with("ok.png"), "{info_line}");
    assert!(
        stderr.contains("kiln: [test-panic] error: about to panic on "),
        "{stderr}"
    );
    // `-v` also lists the dead letters: the file name and the plugin's panic
    // message are escaped there too.
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("dead: ") && l.contains("panic\\x1b[31m\\x07\\r.png")),
        "{stderr}"
    );
    assert_no_raw_controls(&stderr);
}

/// The documented top-level keys of a built-in stage.
fn documented_top_level_keys(stage: &str) -> BTreeSet<String> {
    builtin::schema(stage)
        .expect("a built-in stage")
        .facts
        .iter()
        .filter(|f| !f.key.contains('.'))
        .map(|f| f.key.to_owned())
        .collect()
}

#[test]
fn show_raw_prints_the_facts_a_stage_is_given() {
    let work = tempfile::tempdir().expect("temp dir");
    let store = work.path().join("store");
    let input = work.path().join("input");
    std::fs::create_dir_all(&input).expect("creates the input folder");
    let file = input.join("lighthouse.png");
    std::fs::copy(samples_dir().join("comfyui-lighthouse.png"), &file).expect("copies a sample");
    let out = run(kiln(&store).args(["-q", "import"]).arg(&input));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let id = num(&json(&store, &["assets"]), "/assets/0/id").to_string();
    let raw = json(&store, &["show", &id, "--raw"]);
    let summary = json(&store, &["show", &id]);

    let path = raw["path"].as_str().expect("the path a stage is given");
    assert!(path.ends_with("lighthouse.png"), "{raw}");
    assert_eq!(raw["paths"], summary["paths"]);
    assert_eq!(raw["content_hash"], summary["content_hash"]);
    assert_eq!(
        raw["facts"]["hash"]["hash"], raw["content_hash"],
        "the hash stage's facts as stored"
    );
    let proxy = raw["proxy_path"].as_str().expect("a proxy path");
    assert!(Path::new(proxy).is_file(), "the proxy is on disk: {proxy}");

    let stages = json(&store, &["stages"]);
    let stages = stages.as_array().expect("a list of stages");
    // Every built-in stage's facts, with the keys the schema publishes:
    // nothing reshaped, nothing dropped.
    let facts = raw["facts"].as_object().expect("facts by stage");
    for stage in builtin::ALL {
        let keys: BTreeSet<String> = facts
            .get(stage)
            .and_then(Json::as_object)
            .unwrap_or_else(|| panic!("no facts of `{stage}`: {raw}"))
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, documented_top_level_keys(stage), "{stage}");
        let registered = stages
            .iter()
            .find(|s| s["name"] == stage)
            .map(|s| s["version"].clone());
        assert_eq!(Some(raw["versions"][stage].clone()), registered, "{stage}");
    }
    // The raw metadata is there (the summary leaves it out) and the
    // generation parameters are the stored tree, the summary's source.
    assert!(
        facts["metadata"]["raw"]
            .as_object()
            .is_some_and(|r| !r.is_empty()),
        "{raw}"
    );
    assert_eq!(
        facts["metadata"]["generation"]["positive_prompt"],
        summary["generation"]["positive_prompt"]
    );
    assert!(
        summary["generation"]["positive_prompt"]
            .as_str()
            .is_some_and(|p| p.contains("lighthouse")),
        "{summary}"
    );

    // `--raw` is a form of `--json`.
    let out = run(kiln(&store).args(["show", &id, "--raw"]));
    assert!(!out.status.success(), "--raw without --json is refused");
}

#[test]
fn stages_schema_prints_the_published_schema_without_opening_a_store() {
    let work = tempfile::tempdir().expect("temp dir");
    let store = work.path().join("store");

    let list = json(&store, &["stages", "--schema"]);
    let list = list.as_array().expect("a list of stages");
    let names: Vec<&str> = list.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, builtin::ALL);
    for (stage, published) in list.iter().zip(builtin::SCHEMA) {
        assert_eq!(stage["tier"], published.tier);
        assert_eq!(stage["after"], serde_json::json!(published.after));
        let facts = stage["facts"].as_array().expect("facts");
        assert_eq!(facts.len(), published.facts.len(), "{}", published.name);
        for (fact, row) in facts.iter().zip(published.facts) {
            assert_eq!(fact["key"], row.key);
            assert_eq!(fact["type"], row.types);
            assert_eq!(fact["example"], row.example);
            assert_eq!(fact["meaning"], row.meaning);
        }
    }

    let out = run(kiln(&store).args(["stages", "--schema"]));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("metadata  tier 2  after [hash]"), "{text}");
    let seed = text
        .lines()
        .find(|l| l.trim_start().starts_with("generation.seed "))
        .unwrap_or_else(|| panic!("no generation.seed row:\n{text}"));
    assert!(seed.contains("UInt or Null"), "{seed}");
    assert!(!store.exists(), "the schema needs no store");
}

#[test]
fn search_by_score_shows_a_dash_for_a_hit_without_a_score() {
    let work = tempfile::tempdir().expect("temp dir");
    let store = work.path().join("store");
    let out = run(kiln(&store)
        .args(["-q", "--enrich-min-side", "1000000", "import"])
        .arg(samples_dir()));
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The gate turned every image away from tier 3, so no hit has a quality
    // score.
    let hits = json(&store, &["search", "", "--sort", "score"]);
    let hits = hits["hits"].as_array().expect("hits");
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h["score"].is_null()), "{hits:?}");

    let out = run(kiln(&store).args(["search", "", "--sort", "score"]));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("inf"), "{text}");
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), hits.len(), "{text}");
    for row in rows {
        let columns: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(columns.get(1), Some(&"-"), "{row}");
    }
}

#[test]
fn a_re_import_waits_for_the_jobs_of_the_earlier_import_it_resumes() {
    let work = tempfile::tempdir().expect("temp dir");
    let store = work.path().join("store");
    let input = work.path().join("input");
    std::fs::create_dir_all(&input).expect("creates the input folder");
    for name in ["comfyui-lighthouse.png", "a1111-forest.png"] {
        std::fs::copy(samples_dir().join(name), input.join(name)).expect("copies a sample");
    }
    // The first import only queues its jobs, as one interrupted by a crash
    // leaves them; the second finds every file unchanged and makes no job.
    let out = run(kiln(&store).args(["-q", "import", "--detach"]).arg(&input));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(kiln(&store)
        .args(["-q", "import", "--until", "searchable"])
        .arg(&input));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let status = json(&store, &["status"]);
    assert_eq!(num(&status, "/tiers/1/pending"), 0, "{status}");
    assert_eq!(num(&status, "/tiers/2/pending"), 0, "{status}");
    let hits = json(&store, &["search", "lighthouse"]);
    assert_eq!(num(&hits, "/total"), 1, "{hits}");
}
