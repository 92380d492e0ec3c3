//! An import through three tiers of stages: facts, inputs, identity, re-imports.

mod common;

use common::{Recorder, three_tier, write_files};
use kiln_engine::Tier;
use kiln_engine::{AssetState, ClaimedJob, Config, Engine, Manual, Priority, StageState, Until};
use kiln_plugin_api::{StageInfo, StageOutput, Value};

fn open(dir: &std::path::Path) -> Engine {
    let engine = Engine::open(dir, Config::default()).expect("open store");
    for stage in three_tier() {
        engine.register_stage(stage).expect("register");
    }
    engine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_goes_through_every_tier_with_facts_and_proxy() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    write_files(&input, 30);
    std::fs::write(input.join(".hidden.png"), "x").expect("write");
    std::fs::write(input.join("partial.png.tmp"), "x").expect("write");
    std::fs::create_dir_all(input.join("sub")).expect("mkdir");
    std::fs::write(input.join("sub/deep.png"), "deep").expect("write");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&input, input.join("sub/loop")).expect("symlink");

    let engine = open(&work.path().join("store"));
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

    let status = engine.status().expect("status");
    assert_eq!(
        status.assets, 31,
        "30 files + sub/deep.png; hidden, temp and the loop skipped"
    );
    assert_eq!(status.files, 31);
    assert_eq!(status.jobs.done, 31 * 4);
    assert_eq!(status.jobs.pending() + status.jobs.dead, 0);
    assert_eq!(status.tiers[&Tier::Enriched].done, 31);
    assert_eq!(status.imports.len(), 1);
    assert_eq!(status.imports[0].state.name(), "done");

    let id = engine
        .asset_by_path(input.join("img00003.png"))
        .expect("lookup")
        .expect("asset exists");
    let asset = engine.asset(id).expect("read").expect("asset");
    assert_eq!(asset.state, AssetState::Done);
    assert_eq!(
        asset.content_hash,
        Some(*blake3::hash(b"content 3").as_bytes())
    );
    let proxy = asset
        .artifact(kiln_plugin_api::PROXY_ARTIFACT)
        .expect("proxy artifact");
    assert_eq!(std::fs::read(proxy).expect("blob"), b"proxy:content 3");
    let enrich = &asset.stages["enrich"];
    assert_eq!(enrich.state, StageState::Done);
    let facts = enrich.facts.as_ref().expect("facts");
    let seen: Vec<&str> = facts
        .get("seen")
        .and_then(Value::as_list)
        .expect("seen")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(seen, ["hash", "meta", "thumb"]);
    assert_eq!(facts.get("has_proxy").and_then(Value::as_bool), Some(true));
    assert_eq!(facts.get("has_hash").and_then(Value::as_bool), Some(true));
    let thumb = asset.stages["thumb"].facts.as_ref().expect("thumb facts");
    assert_eq!(thumb.get("has_proxy").and_then(Value::as_bool), Some(true));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_merge_and_skip_later_stages_and_reimports_are_no_ops() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    std::fs::write(input.join("a.png"), "same bytes").expect("write");
    std::fs::write(input.join("b.png"), "same bytes").expect("write");
    std::fs::write(input.join("c.png"), "other bytes").expect("write");
    let hash = Recorder::hashing(StageInfo::new("hash", 1, 1));
    let later = Recorder::new(StageInfo::new("later", 1, 2).after(["hash"]));
    let engine = Engine::open(work.path().join("store"), Config::default()).expect("open");
    engine.register_stage(hash.clone()).expect("register");
    engine.register_stage(later.clone()).expect("register");

    engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    engine.run_until(Until::Idle).await.expect("run");
    let status = engine.status().expect("status");
    assert_eq!(status.assets, 2, "a and b share content");
    assert_eq!(later.calls(), 2, "the duplicate runs no later stage");
    let a = engine.asset_by_path(input.join("a.png")).expect("lookup");
    let b = engine.asset_by_path(input.join("b.png")).expect("lookup");
    assert!(a.is_some());
    assert_eq!(a, b, "both paths belong to one asset");
    let asset = engine.asset(a.expect("a")).expect("read").expect("asset");
    assert_eq!(asset.paths.len(), 2);
    let states: Vec<AssetState> = engine
        .assets()
        .expect("assets")
        .iter()
        .map(|s| s.state)
        .collect();
    assert_eq!(
        states
            .iter()
            .filter(|s| matches!(s, AssetState::Duplicate { .. }))
            .count(),
        1
    );

    // Unchanged files: nothing new runs.
    let second = engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("reimport");
    engine.run_until(Until::Idle).await.expect("run");
    assert_eq!(hash.calls(), 3);
    let info = engine.status().expect("status");
    let import = info
        .imports
        .iter()
        .find(|i| i.id == second)
        .expect("import listed");
    assert_eq!(import.files_unchanged, 3);

    // A changed file is processed again as new content.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(input.join("c.png"), "changed bytes, longer").expect("rewrite");
    engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("reimport");
    engine.run_until(Until::Idle).await.expect("run");
    assert_eq!(hash.calls(), 4);
    assert_eq!(later.calls(), 3);
    let c = engine
        .asset_by_path(input.join("c.png"))
        .expect("lookup")
        .expect("c");
    let detail = engine.asset(c).expect("read").expect("asset");
    assert_eq!(
        detail.content_hash,
        Some(*blake3::hash(b"changed bytes, longer").as_bytes())
    );
    assert_eq!(engine.status().expect("status").assets, 2);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_and_non_utf8_files_become_intake_dead_letters() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    write_files(&input, 3);
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"bad-\xff-name.png");
        std::fs::write(input.join(name), "bytes").expect("write non-UTF-8 name");
    }
    let engine = open(&work.path().join("store"));
    let missing = engine
        .submit_file(
            work.path().join("does-not-exist.png"),
            Priority::Interactive,
        )
        .await
        .expect("submission is recorded, not refused");
    engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    engine.run_until(Until::Idle).await.expect("run");
    let dead = engine.dead_letters().expect("dead letters");
    let intake: Vec<_> = dead
        .iter()
        .filter(|d| d.stage == kiln_engine::INTAKE_STAGE)
        .collect();
    let expected = if cfg!(unix) { 2 } else { 1 };
    assert_eq!(intake.len(), expected, "{dead:?}");
    assert!(intake.iter().any(|d| d.path.ends_with("does-not-exist.png") && d.last_error.contains("cannot read")));
    let status = engine.status().expect("status");
    assert_eq!(status.assets, 3);
    assert_eq!(status.jobs.dead, expected as u64);
    assert!(status.imports.iter().any(|i| i.id == missing));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bumping_a_stage_version_reruns_only_that_stage() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    write_files(&input, 5);
    let hash = Recorder::hashing(StageInfo::new("hash", 1, 1));
    let meta = Recorder::new(StageInfo::new("meta", 1, 2).after(["hash"]));
    let enrich = Recorder::new(StageInfo::new("enrich", 1, 3).after(["meta"]));
    let engine = Engine::open(work.path().join("store"), Config::default()).expect("open");
    engine.register_stage(hash.clone()).expect("register");
    engine.register_stage(meta.clone()).expect("register");
    engine.register_stage(enrich.clone()).expect("register");
    engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    engine.run_until(Until::Idle).await.expect("run");
    assert_eq!((hash.calls(), meta.calls(), enrich.calls()), (5, 5, 5));

    let (_, none) = engine
        .rerun_outdated("meta", Priority::Batch)
        .await
        .expect("rerun");
    assert_eq!(none, 0, "nothing is outdated yet");

    let meta2 = Recorder::new(StageInfo::new("meta", 2, 2).after(["hash"]));
    engine.replace_stage(meta2.clone()).expect("replace");
    let (rerun, count) = engine
        .rerun_outdated("meta", Priority::Batch)
        .await
        .expect("rerun");
    assert_eq!(count, 5);
    engine
        .run_until(Until::Tier {
            tier: Tier::Enriched,
            imports: Some(vec![rerun]),
        })
        .await
        .expect("run");
    assert_eq!(meta2.calls(), 5);
    assert_eq!(
        (hash.calls(), enrich.calls()),
        (5, 5),
        "only the bumped stage re-ran"
    );
    let id = engine
        .asset_by_path(input.join("img00000.png"))
        .expect("lookup")
        .expect("asset");
    let asset = engine.asset(id).expect("read").expect("asset");
    assert_eq!(asset.stages["meta"].version, Some(2));
    assert_eq!(asset.stages["hash"].version, Some(1));
    engine.shutdown().await;
}

/// The stages of the input tests: `p` (a root that makes the proxy), `a`
/// after `p`, `b` a root unrelated to the others, and after `a` both `c`,
/// which needs the proxy, and `d`, which does not.
fn input_graph(engine: &Engine) {
    for info in [
        StageInfo::new("p", 1, 1),
        StageInfo::new("a", 1, 1).after(["p"]),
        StageInfo::new("b", 1, 1),
        StageInfo::new("c", 1, 2).after(["a"]).needs_proxy(true),
        StageInfo::new("d", 1, 2).after(["a"]),
    ] {
        engine
            .register_stage(Recorder::new(info))
            .expect("register");
    }
}

/// Claims every ready job by hand, by stage name.
async fn claim_all(manual: &kiln_engine::Manual) -> std::collections::BTreeMap<String, ClaimedJob> {
    manual
        .claim(16)
        .await
        .expect("claim")
        .into_iter()
        .map(|job| (job.lease.stage().to_owned(), job))
        .collect()
}

/// An engine in `dir` with [`input_graph`] registered and one file
/// submitted, and its manual handle.
async fn one_file_on_input_graph(dir: &std::path::Path) -> (Engine, Manual) {
    let file = dir.join("x.png");
    std::fs::write(&file, "x").expect("write");
    let engine = Engine::open(dir.join("store"), Config::default()).expect("open");
    input_graph(&engine);
    engine
        .submit_file(&file, Priority::Batch)
        .await
        .expect("submit");
    let manual = engine.manual().expect("manual");
    (engine, manual)
}

fn seen(job: &ClaimedJob) -> Vec<&str> {
    job.input.facts.keys().map(String::as_str).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_sees_the_facts_of_the_stages_it_runs_after_and_nothing_else() {
    let work = tempfile::tempdir().expect("tempdir");
    let (engine, manual) = one_file_on_input_graph(work.path()).await;

    let mut roots = claim_all(&manual).await;
    assert_eq!(roots.keys().collect::<Vec<_>>(), ["b", "p"]);
    // The unrelated root finishes first, so its facts are there when `a`,
    // `c` and `d` are claimed.
    let b = roots.remove("b").expect("b");
    assert!(b.input.facts.is_empty());
    manual
        .complete(&b.lease, StageOutput::facts(Value::from("b's facts")))
        .await
        .expect("complete b");
    let p = roots.remove("p").expect("p");
    let output = StageOutput::facts(Value::from("p's facts")).with_artifact(
        kiln_plugin_api::PROXY_ARTIFACT,
        "application/octet-stream",
        b"proxy".to_vec(),
    );
    manual.complete(&p.lease, output).await.expect("complete p");

    let mut next = claim_all(&manual).await;
    let a = next.remove("a").expect("a is ready once p is done");
    assert!(next.is_empty(), "{:?}", next.keys());
    assert_eq!(seen(&a), ["p"], "a runs after p only");
    manual
        .complete(&a.lease, StageOutput::facts(Value::from("a's facts")))
        .await
        .expect("complete a");

    let last = claim_all(&manual).await;
    for name in ["c", "d"] {
        let job = &last[name];
        assert_eq!(
            seen(job),
            ["a", "p"],
            "{name} sees a and a's predecessor, not b"
        );
        assert_eq!(job.input.facts["a"], Value::from("a's facts"));
    }
    drop(manual);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_stage_that_needs_the_proxy_is_given_its_path() {
    let work = tempfile::tempdir().expect("tempdir");
    let (engine, manual) = one_file_on_input_graph(work.path()).await;
    for job in claim_all(&manual).await.into_values() {
        let mut output = StageOutput::facts(Value::Null);
        if job.lease.stage() == "p" {
            output = output.with_artifact(
                kiln_plugin_api::PROXY_ARTIFACT,
                "application/octet-stream",
                b"the proxy".to_vec(),
            );
        }
        manual.complete(&job.lease, output).await.expect("complete");
    }
    let a = claim_all(&manual).await.remove("a").expect("a");
    assert_eq!(a.input.proxy_path, None, "a does not need the proxy");
    manual
        .complete(&a.lease, StageOutput::facts(Value::Null))
        .await
        .expect("complete a");

    let last = claim_all(&manual).await;
    let proxy = last["c"]
        .input
        .proxy_path
        .as_ref()
        .expect("c needs the proxy and is given it");
    assert_eq!(std::fs::read(proxy).expect("proxy blob"), b"the proxy");
    assert_eq!(
        last["d"].input.proxy_path, None,
        "d, of the same asset, does not need it"
    );
    drop(manual);
    engine.shutdown().await;
}

#[test]
fn the_graph_is_validated_with_clear_errors() {
    let work = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(work.path(), Config::default()).expect("open");
    engine
        .register_stage(Recorder::new(StageInfo::new("a", 1, 1).after(["b"])))
        .expect("register a");
    let err = engine.validate().expect_err("b is unknown");
    assert!(err.to_string().contains("`b`"), "{err}");
    engine
        .register_stage(Recorder::new(StageInfo::new("b", 1, 1).after(["a"])))
        .expect("register b");
    let err = engine.validate().expect_err("a and b form a cycle");
    assert!(err.to_string().contains("cycle"), "{err}");
    let err = engine
        .register_stage(Recorder::new(StageInfo::new("a", 1, 1)))
        .expect_err("duplicate");
    assert!(err.to_string().contains("twice"), "{err}");
    engine
        .replace_stage(Recorder::new(StageInfo::new("a", 2, 1)))
        .expect("replace a");
    engine.validate().expect("a no longer follows b");
    let err = engine
        .replace_stage(Recorder::new(StageInfo::new("zzz", 1, 1)))
        .expect_err("nothing to replace");
    assert!(err.to_string().contains("zzz"), "{err}");
    engine
        .register_stage(Recorder::new(StageInfo::new("low", 1, 1).after(["high"])))
        .expect("register");
    engine
        .register_stage(Recorder::new(StageInfo::new("high", 1, 3)))
        .expect("register");
    let err = engine.validate().expect_err("tier goes down");
    assert!(err.to_string().contains("tier"), "{err}");
    let names: Vec<String> = engine.stages().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["a", "b", "high", "low"]);
}

#[test]
fn an_exclusive_store_refuses_a_second_opener_with_a_clear_error() {
    let work = tempfile::tempdir().expect("tempdir");
    let exclusive = Config {
        sharing: kiln_engine::Sharing::Exclusive,
        ..Config::default()
    };
    let first = Engine::open(work.path(), exclusive.clone()).expect("open");
    assert!(first.is_primary());
    let err = Engine::open(work.path(), exclusive).expect_err("second opener");
    assert!(
        matches!(err, kiln_engine::EngineError::StoreInUse(_)),
        "{err}"
    );
    assert!(err.to_string().contains("MultiProcess"), "{err}");
}

#[test]
fn priorities_parse_and_print_their_cli_names() {
    for p in [Priority::Interactive, Priority::Batch, Priority::Background] {
        assert_eq!(p.to_string().parse::<Priority>(), Ok(p));
    }
    let err = "urgent".parse::<Priority>().expect_err("unknown name");
    assert!(err.contains("interactive, batch or background"), "{err}");
}
