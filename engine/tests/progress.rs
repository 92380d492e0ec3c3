//! Progress counts files, not jobs: with two stages in every tier, a dead
//! letter, a tier the gate skips and an import that resumed another's work,
//! every count is a number of files at each step; and a store made before
//! the file counters existed gets them built once, to the same numbers.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::eventually;
use kiln_engine::{
    ClaimedJob, Config, Engine, EnrichmentGate, EnrichmentRule, ImportId, ImportState, Manual,
    Priority, Progress, Tier, TierProgress,
};
use kiln_plugin_api::{Stage, StageError, StageInfo, StageInput, StageOutput, Value};
use redb::{ReadableDatabase, TableDefinition};

/// A stage never run by workers here: the test completes its jobs by hand.
struct Declared(StageInfo);

impl Stage for Declared {
    fn info(&self) -> StageInfo {
        self.0.clone()
    }

    fn process(&self, _input: &StageInput) -> Result<StageOutput, StageError> {
        Err(StageError::permanent("run by hand in this test"))
    }
}

/// Turns away files shorter than ten bytes from tier 3.
#[derive(Debug)]
struct Short;

impl EnrichmentRule for Short {
    fn skip_reason(&self, facts: &BTreeMap<String, Value>) -> Option<String> {
        let len = facts.get("hash")?.get("len")?.as_u64()?;
        (len < 10).then(|| format!("only {len} bytes"))
    }
}

/// hash, thumb (1); meta, index (2); embed, score (3): two stages a tier.
fn open(store: &Path) -> Engine {
    let config = Config {
        gate: EnrichmentGate {
            rule: Some(Arc::new(Short)),
            ..EnrichmentGate::default()
        },
        ..Config::default()
    };
    let engine = Engine::open(store, config).expect("open");
    for info in [
        StageInfo::new("hash", 1, 1),
        StageInfo::new("thumb", 1, 1).after(["hash"]),
        StageInfo::new("meta", 1, 2).after(["thumb"]),
        StageInfo::new("index", 1, 2).after(["meta"]),
        StageInfo::new("embed", 1, 3).after(["index"]),
        StageInfo::new("score", 1, 3).after(["index"]),
    ] {
        engine
            .register_stage(Arc::new(Declared(info)))
            .expect("register");
    }
    engine
}

/// `(total, done, running, retrying, dead)` of a tier.
fn counts(tier: Option<&TierProgress>) -> (u64, u64, u64, u64, u64) {
    tier.map_or((0, 0, 0, 0, 0), |t| {
        (t.total, t.done, t.running, t.retrying, t.dead)
    })
}

fn of(progress: &Progress, import: ImportId, tier: Tier) -> (u64, u64, u64, u64, u64) {
    counts(progress.import(import).and_then(|i| i.tiers.get(&tier)))
}

/// What the stage of `job` outputs: the file's length and content hash for
/// `hash`, nothing else for the others.
fn output(job: &ClaimedJob) -> StageOutput {
    if job.lease.stage() != "hash" {
        return StageOutput::facts(Value::map([("ok", Value::from(true))]));
    }
    let bytes = std::fs::read(&job.input.path).expect("read the file");
    StageOutput::facts(Value::map([("len", Value::from(bytes.len() as u64))]))
        .with_content_hash(*blake3::hash(&bytes).as_bytes())
}

/// Claims every ready job of `stage` (giving the others back), so they run.
async fn claim(manual: &Manual, stage: &str) -> Vec<ClaimedJob> {
    let all = manual.claim(1000).await.expect("claim");
    let (wanted, others): (Vec<_>, Vec<_>) =
        all.into_iter().partition(|j| j.lease.stage() == stage);
    let leases: Vec<_> = others.into_iter().map(|j| j.lease).collect();
    manual.release(&leases).await.expect("release");
    wanted
}

async fn complete(manual: &Manual, jobs: &[ClaimedJob]) {
    for job in jobs {
        manual
            .complete(&job.lease, output(job))
            .await
            .expect("complete");
    }
}

async fn walked(engine: &Engine, import: ImportId) {
    eventually("the walk", || {
        engine
            .progress()
            .ok()
            .and_then(|p| p.import(import).map(|i| i.state != ImportState::Walking))
            .unwrap_or(false)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_count_is_a_number_of_files() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    // a: too short for tier 3; b: goes all the way; c: its thumbnail dies.
    std::fs::write(input.join("a.png"), "short").expect("write");
    std::fs::write(input.join("b.png"), "long enough to enrich").expect("write");
    std::fs::write(input.join("c.png"), "long and broken").expect("write");
    let store = work.path().join("store");
    let engine = open(&store);
    let manual = engine.manual().expect("manual");
    let first = engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    walked(&engine, first).await;
    let (t1, t2, t3) = (Tier::Browsable, Tier::Searchable, Tier::Enriched);
    let p = engine.progress().expect("progress");
    assert_eq!(of(&p, first, t1), (3, 0, 0, 0, 0), "three files wait");

    // Hashing: three files running; once hashed, each waits for its
    // thumbnail, still not browsable (jobs would say 3 of 6 done).
    let hashes = claim(&manual, "hash").await;
    assert_eq!(hashes.len(), 3);
    let p = engine.progress().expect("progress");
    assert_eq!(of(&p, first, t1), (3, 0, 3, 0, 0));
    complete(&manual, &hashes).await;
    let p = engine.progress().expect("progress");
    assert_eq!(of(&p, first, t1), (3, 0, 0, 0, 0), "{p:?}");

    // An import of the same folder now resumes the queued work: the files
    // stay counted once, in the import that holds their jobs.
    let second = engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import again");
    walked(&engine, second).await;
    let p = engine.progress().expect("progress");
    assert_eq!(of(&p, second, t1), (0, 0, 0, 0, 0), "{p:?}");
    assert_eq!(counts(p.tiers.get(&t1)), (3, 0, 0, 0, 0), "{p:?}");

    // Thumbnails: c's dies, a and b are browsable.
    let thumbs = claim(&manual, "thumb").await;
    assert_eq!(thumbs.len(), 3);
    for job in &thumbs {
        if job.input.path.ends_with("c.png") {
            manual
                .fail(&job.lease, StageError::permanent("cannot decode"))
                .await
                .expect("fail");
        } else {
            manual
                .complete(&job.lease, output(job))
                .await
                .expect("complete");
        }
    }
    let p = engine.progress().expect("progress");
    assert_eq!(of(&p, first, t1), (3, 2, 0, 0, 1), "{p:?}");
    assert_eq!(of(&p, first, t2), (2, 0, 0, 0, 0), "{p:?}");

    // Tier 2, one stage at a time: a file is searchable only after both.
    let metas = claim(&manual, "meta").await;
    complete(&manual, &metas).await;
    let p = engine.progress().expect("progress");
    assert_eq!(of(&p, first, t2), (2, 0, 0, 0, 0), "{p:?}");
    let indexes = claim(&manual, "index").await;
    assert_eq!(
        of(&engine.progress().expect("p"), first, t2),
        (2, 0, 2, 0, 0)
    );
    complete(&manual, &indexes).await;
    let p = engine.progress().expect("progress");
    assert_eq!(of(&p, first, t2), (2, 2, 0, 0, 0), "{p:?}");
    // a is too short: the gate skipped its tier 3, which counts as done.
    assert_eq!(of(&p, first, t3), (2, 1, 0, 0, 0), "{p:?}");

    // b's two enrichment stages: running while either runs, done after both.
    let embeds = claim(&manual, "embed").await;
    assert_eq!(embeds.len(), 1);
    assert_eq!(
        of(&engine.progress().expect("p"), first, t3),
        (2, 1, 1, 0, 0)
    );
    complete(&manual, &embeds).await;
    assert_eq!(
        of(&engine.progress().expect("p"), first, t3),
        (2, 1, 0, 0, 0)
    );
    let scores = claim(&manual, "score").await;
    complete(&manual, &scores).await;
    let before = engine.progress().expect("progress");
    assert_eq!(of(&before, first, t3), (2, 2, 0, 0, 0), "{before:?}");
    assert_eq!(counts(before.tiers.get(&t1)), (3, 2, 0, 0, 1));
    assert_eq!(counts(before.tiers.get(&t2)), (2, 2, 0, 0, 0));
    assert_eq!(counts(before.tiers.get(&t3)), (2, 2, 0, 0, 0));
    // Status still counts jobs.
    let status = engine.status().expect("status");
    assert_eq!(
        status.tiers[&t1].total(),
        6,
        "hash and thumb of three files"
    );
    drop(manual);
    engine.shutdown().await;
    drop(engine);

    // The same store as a kiln before file counters left it: the counters
    // are gone; the first primary that knows its stages builds them again.
    forget_file_counts(&store);
    let engine = open(&store);
    let old = engine.progress().expect("progress");
    assert_eq!(
        counts(old.tiers.get(&t1)),
        (6, 5, 0, 0, 1),
        "until built, jobs are shown: {old:?}"
    );
    engine
        .enqueue_outdated(Priority::Batch)
        .await
        .expect("enqueue outdated");
    let rebuilt = engine.progress().expect("progress");
    assert_eq!(rebuilt, before);
    engine.shutdown().await;
}

/// A file's jobs in a tier by class, as the store keeps them.
type FileJobs = (u32, u32, u32, u32, u32);

/// Removes the file counters and their mark, as a store made before them.
fn forget_file_counts(store: &Path) {
    let db = redb::Database::open(store.join(kiln_engine::DATABASE_FILE)).expect("open db");
    let txn = db.begin_write().expect("write");
    {
        let tiers: TableDefinition<(u64, u64, u8), FileJobs> = TableDefinition::new("file_tiers");
        let files: TableDefinition<(u64, u8, u8), u64> = TableDefinition::new("file_counts");
        txn.delete_table(tiers).expect("delete file_tiers");
        txn.delete_table(files).expect("delete file_counts");
        let meta: TableDefinition<&str, u64> = TableDefinition::new("meta");
        txn.open_table(meta)
            .expect("meta")
            .remove("file_counts_built")
            .expect("remove the mark");
    }
    txn.commit().expect("commit");
    let read = db.begin_read().expect("read");
    let meta: TableDefinition<&str, u64> = TableDefinition::new("meta");
    assert!(
        read.open_table(meta)
            .expect("meta")
            .get("file_counts_built")
            .expect("get")
            .is_none()
    );
}
