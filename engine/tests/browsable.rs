//! The browsable count the gallery shows is kept by the transactions that
//! change it: it equals the assets a full listing finds through duplicates
//! merged after their tier 1, files superseded by a changed version, a store
//! that lost the counter, and a new tier-1 stage registered later.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::eventually;
use kiln_engine::{
    BrowseCursor, BrowseOrder, ClaimedJob, Config, Engine, ImportId, ImportState, Manual, Priority,
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

/// Tier 1 is `thumb` then `hash`: an asset whose hash turns out to be a
/// duplicate's was browsable for a moment. `meta` is tier 2.
fn open(store: &Path, extra: Option<StageInfo>) -> Engine {
    let engine = Engine::open(store, Config::default()).expect("open");
    let mut stages = vec![
        StageInfo::new("thumb", 1, 1),
        StageInfo::new("hash", 1, 1).after(["thumb"]),
        StageInfo::new("meta", 1, 2).after(["hash"]),
    ];
    stages.extend(extra);
    for info in stages {
        engine
            .register_stage(Arc::new(Declared(info)))
            .expect("register");
    }
    engine
}

fn output(job: &ClaimedJob) -> StageOutput {
    let facts = StageOutput::facts(Value::map([("ok", Value::from(true))]));
    if job.lease.stage() != "hash" {
        return facts;
    }
    let bytes = std::fs::read(&job.input.path).expect("read the file");
    facts.with_content_hash(*blake3::hash(&bytes).as_bytes())
}

/// Claims every ready job of `stage` whose file name is in `names` (all
/// when empty) and completes it.
async fn run(manual: &Manual, stage: &str, names: &[&str]) -> usize {
    let all = manual.claim(1000).await.expect("claim");
    let (wanted, others): (Vec<_>, Vec<_>) = all.into_iter().partition(|j| {
        j.lease.stage() == stage
            && (names.is_empty()
                || names
                    .iter()
                    .any(|n| j.input.path.ends_with(&format!("/{n}"))))
    });
    let leases: Vec<_> = others.into_iter().map(|j| j.lease).collect();
    manual.release(&leases).await.expect("release");
    for job in &wanted {
        manual
            .complete(&job.lease, output(job))
            .await
            .expect("complete");
    }
    wanted.len()
}

/// Every asset a listing of the whole store finds, a page at a time.
fn listed(engine: &Engine) -> u64 {
    let mut cursor: Option<BrowseCursor> = None;
    let mut n = 0;
    loop {
        let page = engine
            .browse(&BrowseOrder::Newest, cursor.as_ref(), 7)
            .expect("browse");
        n += page.entries.len() as u64;
        match page.next {
            Some(next) => cursor = Some(next),
            None => return n,
        }
    }
}

/// The stored count, checked against the listing.
fn count(engine: &Engine) -> u64 {
    let count = engine.browsable_count().expect("count");
    assert_eq!(count, listed(engine), "the count and the listing agree");
    count
}

async fn import(engine: &Engine, dir: &Path) -> ImportId {
    let id = engine
        .import_dir(dir, Priority::Batch)
        .await
        .expect("import");
    eventually("the walk", || {
        engine
            .progress()
            .ok()
            .and_then(|p| p.import(id).map(|i| i.state != ImportState::Walking))
            .unwrap_or(false)
    })
    .await;
    id
}

/// Whether the store keeps a counter (both meta keys present).
fn stored_keys(store: &Path) -> (Option<u64>, Option<u64>) {
    let db = redb::Database::open(store.join(kiln_engine::DATABASE_FILE)).expect("open db");
    let read = db.begin_read().expect("read");
    let meta: TableDefinition<&str, u64> = TableDefinition::new("meta");
    let table = read.open_table(meta).expect("meta");
    let get = |k: &str| table.get(k).expect("get").map(|v| v.value());
    (get("browsable_assets"), get("browsable_stages"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_count_follows_every_change_and_is_rebuilt_when_missing() {
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    std::fs::write(input.join("a.png"), "alpha").expect("write");
    std::fs::write(input.join("b.png"), "bravo").expect("write");
    std::fs::write(input.join("c.png"), "charlie").expect("write");
    std::fs::write(input.join("d.png"), "bravo").expect("write"); // b's bytes
    let store = work.path().join("store");
    let engine = open(&store, None);
    engine
        .enqueue_outdated(Priority::Batch)
        .await
        .expect("count built");
    let manual = engine.manual().expect("manual");
    import(&engine, &input).await;
    assert_eq!(count(&engine), 0);

    // Thumbnails alone: tier 1 is not done for anyone.
    assert_eq!(run(&manual, "thumb", &[]).await, 4);
    assert_eq!(count(&engine), 0);
    // a, b, c hashed: browsable. d's hash is b's: for the moment it has its
    // whole tier 1 it is counted, then merged into b and not counted.
    assert_eq!(run(&manual, "hash", &["a.png", "b.png", "c.png"]).await, 3);
    assert_eq!(count(&engine), 3);
    assert_eq!(run(&manual, "hash", &["d.png"]).await, 1);
    assert_eq!(count(&engine), 3, "d is b");
    // Tier 2 changes nothing.
    run(&manual, "meta", &[]).await;
    assert_eq!(count(&engine), 3);

    // a changes on disk: its asset is superseded by a new one, which is
    // not browsable before its tier 1 ran.
    std::fs::write(input.join("a.png"), "alpha, edited and longer").expect("rewrite");
    import(&engine, &input).await;
    assert_eq!(count(&engine), 2, "old a superseded, new a not done");
    run(&manual, "thumb", &["a.png"]).await;
    run(&manual, "hash", &["a.png"]).await;
    assert_eq!(count(&engine), 3);
    drop(manual);
    engine.shutdown().await;
    drop(engine);
    assert!(matches!(stored_keys(&store), (Some(3), Some(_))));

    // A store that lost its counter: counted by a scan until the next
    // primary rebuilds it.
    {
        let db = redb::Database::open(store.join(kiln_engine::DATABASE_FILE)).expect("db");
        let txn = db.begin_write().expect("write");
        {
            let meta: TableDefinition<&str, u64> = TableDefinition::new("meta");
            let mut table = txn.open_table(meta).expect("meta");
            table.remove("browsable_assets").expect("remove");
            table.remove("browsable_stages").expect("remove");
        }
        txn.commit().expect("commit");
    }
    let engine = open(&store, None);
    assert_eq!(count(&engine), 3, "scanned");
    engine
        .enqueue_outdated(Priority::Batch)
        .await
        .expect("rebuild");
    assert_eq!(count(&engine), 3);
    engine.shutdown().await;
    drop(engine);
    assert!(matches!(stored_keys(&store), (Some(3), Some(_))));

    // A new tier-1 stage: nothing is browsable until it ran, and the
    // counter follows it from then on.
    let (_, old_stages) = stored_keys(&store);
    let faces = || Some(StageInfo::new("faces", 1, 1).after(["hash"]));
    let engine = open(&store, faces());
    assert_eq!(count(&engine), 0, "the new stage has not run");
    engine
        .enqueue_outdated(Priority::Batch)
        .await
        .expect("rebuild");
    engine.shutdown().await;
    drop(engine);
    let (stored, stages) = stored_keys(&store);
    assert_eq!(stored, Some(0));
    assert_ne!(stages, old_stages, "kept for the new set of stages");
    let engine = open(&store, faces());
    let manual = engine.manual().expect("manual");
    assert_eq!(run(&manual, "faces", &["b.png"]).await, 1);
    assert_eq!(count(&engine), 1);
    assert_eq!(run(&manual, "faces", &[]).await, 2);
    assert_eq!(count(&engine), 3);
    drop(manual);
    engine.shutdown().await;
}
