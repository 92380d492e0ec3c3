//! The `kiln` binary on the shipped samples: import, status, show, exit codes,
//! detach and run, dead letters.

mod common;

use common::{json, kiln, num, run, samples_dir, succeed};
use serde_json::Value as Json;

#[test]
fn importing_the_samples_completes_all_but_the_corrupt_file() {
    let store = tempfile::tempdir().expect("temp dir");
    let out = run(kiln(store.path()).args(["import", "-q"]).arg(samples_dir()));
    assert_eq!(
        out.status.code(),
        Some(3),
        "one corrupt sample must make the import exit 3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("dead list"),
        "says how to list dead jobs: {stderr}"
    );

    let status = json(store.path(), &["status"]);
    let files = std::fs::read_dir(samples_dir()).expect("samples").count() as u64;
    assert_eq!(num(&status, "/files"), files);
    // One byte-identical copy: one asset fewer than files.
    assert_eq!(num(&status, "/assets"), files - 1);
    assert_eq!(num(&status, "/jobs/ready"), 0);
    assert_eq!(num(&status, "/jobs/running"), 0);
    assert_eq!(num(&status, "/jobs/retrying"), 0);
    assert_eq!(num(&status, "/jobs/dead"), 1);
    for tier in ["1", "2"] {
        assert_eq!(num(&status, &format!("/tiers/{tier}/pending")), 0);
    }
    assert_eq!(
        status.pointer("/imports/0/state"),
        Some(&Json::from("done"))
    );

    let dead = json(store.path(), &["dead", "list"]);
    let entry = dead.pointer("/dead/0").expect("one dead job");
    let path = entry["path"].as_str().unwrap_or_default();
    assert!(path.ends_with("corrupt-truncated.png"), "dead: {entry}");
    let error = entry["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("truncated"),
        "the reason says what is wrong: {error}"
    );

    let assets = json(store.path(), &["assets"]);
    let list = assets["assets"].as_array().expect("asset list");
    let duplicates = list.iter().filter(|a| a["state"] == "duplicate").count();
    assert_eq!(duplicates, 1, "the copy is one asset: {assets}");
}

fn show(store: &std::path::Path, file: &str) -> Json {
    let path = samples_dir().join(file);
    json(store, &["show", path.to_str().expect("utf-8 path")])
}

#[test]
fn show_returns_the_generation_parameters_of_generated_files() {
    let store = tempfile::tempdir().expect("temp dir");
    run(kiln(store.path()).args(["import", "-q"]).arg(samples_dir()));

    let comfy = show(store.path(), "comfyui-lighthouse.png");
    let g = &comfy["generation"];
    assert_eq!(g["generator"], "comfyui");
    assert_eq!(
        g["positive_prompt"],
        "a lighthouse on a rocky coast, stormy sea, dramatic sky"
    );
    assert_eq!(g["negative_prompt"], "text, watermark");
    assert_eq!(g["seed"], 156_680_208_700_286_u64);
    assert_eq!(g["steps"], 20);
    assert_eq!(g["cfg"].as_f64(), Some(8.0));
    assert_eq!(g["sampler"], "euler");
    assert_eq!(g["scheduler"], "normal");
    assert_eq!(g["model"], "v1-5-pruned-emaonly.safetensors");
    assert_eq!(g["width"], 512);
    assert_eq!(g["height"], 640);
    assert_eq!(g["loras"][0]["name"], "seascape_v2.safetensors");
    assert_eq!(g["loras"][0]["strength"].as_f64(), Some(0.8));
    // Every sampling pass of the graph, with what it states.
    assert_eq!(g["samplers"].as_array().map(Vec::len), Some(1), "{g}");
    assert_eq!(g["samplers"][0]["class_type"], "KSampler");
    assert_eq!(g["samplers"][0]["seed"], 156_680_208_700_286_u64);
    assert_eq!(g["ambiguous"], false);
    // Pixel size is the decoded image, not the stated generation size.
    assert_eq!(comfy["width"], 256);
    assert_eq!(comfy["height"], 320);
    let thumbnail = comfy["thumbnail"].as_str().expect("a thumbnail path");
    assert!(std::path::Path::new(thumbnail).is_file());
    assert_eq!(comfy["stages"]["thumbnail"], "done");
    assert_eq!(comfy["content_hash"].as_str().map(str::len), Some(64));
    // Tier 3: a quality score with its components, a session, near-duplicates.
    let quality = comfy["quality"]["score"].as_f64().expect("a quality score");
    assert!((0.0..=100.0).contains(&quality), "{quality}");
    assert!(
        comfy["quality"]["sharpness"].is_number(),
        "{}",
        comfy["quality"]
    );
    assert!(comfy["session"].is_string(), "{}", comfy["session"]);
    assert!(comfy["near_duplicates"].is_array());

    let a1111 = show(store.path(), "a1111-harbor.jpg");
    let g = &a1111["generation"];
    assert_eq!(
        g["positive_prompt"],
        "a quiet harbor with fishing boats, golden hour, oil painting"
    );
    assert_eq!(g["negative_prompt"], "people, text");
    assert_eq!(g["seed"], 42_424_242);
    assert_eq!(g["steps"], 24);
    assert_eq!(g["cfg"].as_f64(), Some(7.0));
    assert_eq!(g["sampler"], "DPM++ SDE");
    assert_eq!(g["model"], "v1-5-pruned-emaonly");
    assert_eq!(g["loras"], Json::Array(Vec::new()));

    let plain = show(store.path(), "no-metadata-snapshot.jpg");
    assert!(plain["generation"]["positive_prompt"].is_null());
    assert!(plain["generation"]["seed"].is_null());
    assert_eq!(plain["generation"]["loras"], Json::Array(Vec::new()));
}

#[test]
fn exit_codes_distinguish_success_dead_letters_and_errors() {
    let store = tempfile::tempdir().expect("temp dir");
    let good = samples_dir().join("sdnext-city.jpg");
    let ok = run(kiln(store.path()).args(["import", "-q"]).arg(&good));
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let bad = samples_dir().join("corrupt-truncated.png");
    let dead = run(kiln(store.path()).args(["import", "-q"]).arg(&bad));
    assert_eq!(dead.status.code(), Some(3));

    let missing = run(kiln(store.path()).args(["import", "/no/such/folder/anywhere"]));
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/no/such/folder/anywhere"));

    let usage = run(kiln(store.path()).args(["import", "--priority", "urgent", "x"]));
    assert_eq!(usage.status.code(), Some(1));

    let unknown = run(kiln(store.path()).args(["show", "999999"]));
    assert_eq!(unknown.status.code(), Some(1));
}

#[test]
fn detach_only_enqueues_and_run_finishes_the_work() {
    let store = tempfile::tempdir().expect("temp dir");
    succeed(
        kiln(store.path())
            .args(["import", "--detach"])
            .arg(samples_dir()),
    );
    let queued = json(store.path(), &["status"]);
    assert!(
        num(&queued, "/jobs/ready") > 0,
        "detach leaves the jobs queued: {queued}"
    );
    assert_eq!(num(&queued, "/jobs/done"), 0);

    let run_out = run(kiln(store.path()).args(["run", "-q"]));
    assert_eq!(run_out.status.code(), Some(3), "the corrupt sample is dead");
    let done = json(store.path(), &["status"]);
    assert_eq!(num(&done, "/jobs/ready"), 0);
    assert_eq!(num(&done, "/tiers/2/pending"), 0);

    // Re-importing the unchanged folder is a no-op.
    let again = run(kiln(store.path()).args(["import", "-q"]).arg(samples_dir()));
    assert_eq!(again.status.code(), Some(0));
    let after = json(store.path(), &["status"]);
    assert_eq!(num(&after, "/jobs/done"), num(&done, "/jobs/done"));
}

#[test]
fn dead_letters_can_be_retried_and_purged() {
    let store = tempfile::tempdir().expect("temp dir");
    let bad = samples_dir().join("corrupt-truncated.png");
    run(kiln(store.path()).args(["import", "-q"]).arg(&bad));
    let dead = json(store.path(), &["dead", "list"]);
    let id = dead
        .pointer("/dead/0/id")
        .and_then(Json::as_u64)
        .expect("a dead job");

    let retried = json(store.path(), &["dead", "retry", &id.to_string()]);
    assert_eq!(retried["requeued"], 1);
    let status = json(store.path(), &["status"]);
    assert_eq!(num(&status, "/jobs/dead"), 0);
    assert_eq!(num(&status, "/jobs/ready"), 1);

    let rerun = run(kiln(store.path()).args(["run", "-q"]));
    assert_eq!(rerun.status.code(), Some(3), "still corrupt, so dead again");
    let purged = json(store.path(), &["dead", "purge"]);
    assert_eq!(purged["purged"], 1);
    assert_eq!(num(&json(store.path(), &["status"]), "/jobs/dead"), 0);
}

#[test]
fn stages_lists_the_builtins_with_their_source() {
    let store = tempfile::tempdir().expect("temp dir");
    let stages = json(store.path(), &["stages"]);
    let names: Vec<&str> = stages
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    for name in ["hash", "thumbnail", "metadata"] {
        assert!(names.contains(&name), "{name} missing from {stages}");
    }
    assert!(
        stages
            .as_array()
            .expect("list")
            .iter()
            .all(|s| s["source"] == "builtin")
    );
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    use std::process::Stdio;
    let store = tempfile::tempdir().expect("temp dir");
    let child = kiln(store.path())
        .args(["stages", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the kiln binary starts");
    // Close the reading end before kiln prints: its first write fails.
    let mut child = child;
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("kiln finishes");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("internal error"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}

#[test]
fn hidden_and_temporary_files_are_skipped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sample = samples_dir().join("sdnext-city.jpg");
    std::fs::copy(&sample, dir.path().join("kept.jpg")).expect("copy");
    std::fs::copy(&sample, dir.path().join(".hidden.jpg")).expect("copy");
    std::fs::copy(&sample, dir.path().join("in-progress.png.tmp")).expect("copy");
    std::fs::create_dir(dir.path().join(".cache")).expect("mkdir");
    std::fs::copy(&sample, dir.path().join(".cache").join("inner.jpg")).expect("copy");
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.path(), dir.path().join("loop")).expect("symlink");

    let store = tempfile::tempdir().expect("temp dir");
    succeed(kiln(store.path()).args(["import", "-q"]).arg(dir.path()));
    let status = json(store.path(), &["status"]);
    assert_eq!(
        num(&status, "/files"),
        1,
        "only kept.jpg is imported: {status}"
    );
}

#[test]
fn a_folder_inside_the_store_is_imported_and_the_stores_own_files_never_are() {
    let store = tempfile::tempdir().expect("temp dir");
    let uploads = store.path().join("uploads");
    std::fs::create_dir(&uploads).expect("mkdir");
    for name in ["a1111-forest.png", "novelai-garden.png"] {
        std::fs::copy(samples_dir().join(name), uploads.join(name)).expect("copy");
    }
    succeed(kiln(store.path()).args(["import", "-q"]).arg(&uploads));
    let status = json(store.path(), &["status"]);
    assert_eq!(num(&status, "/files"), 2, "{status}");
    assert_eq!(num(&status, "/assets"), 2, "{status}");

    // The store itself, now holding a database, thumbnails and an index:
    // only the uploads are files of the library.
    succeed(kiln(store.path()).args(["import", "-q"]).arg(store.path()));
    let status = json(store.path(), &["status"]);
    assert_eq!(num(&status, "/files"), 2, "{status}");
    assert_eq!(num(&status, "/assets"), 2, "{status}");
    assert_eq!(num(&status, "/jobs/dead"), 0, "{status}");

    // Named alone, the database is refused with the reason.
    let database = store.path().join("kiln.redb");
    let out = run(kiln(store.path()).args(["import", "-q"]).arg(&database));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("store's own files"), "{stderr}");
    assert_eq!(num(&json(store.path(), &["status"]), "/files"), 2);
}

#[test]
fn the_progress_line_counts_files() {
    let store = tempfile::tempdir().expect("temp dir");
    // Standard error is a pipe: plain lines, the last one when it ends.
    let out = run(kiln(store.path()).arg("import").arg(samples_dir()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let files = std::fs::read_dir(samples_dir()).expect("samples").count();
    assert_eq!(files, 20, "the samples are twenty files");
    let last = stderr
        .lines()
        .rfind(|l| l.starts_with("tier 1 browsable"))
        .unwrap_or_else(|| panic!("a progress line:\n{stderr}"));
    // Two stages a file in tier 1: counted in jobs it would say 39/39.
    assert!(
        last.starts_with("tier 1 browsable 20/20 files (running 0, retrying 0, dead 1)"),
        "{last}"
    );
}
