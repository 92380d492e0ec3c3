//! Curation: ratings, favorites, tags and collections keyed by content hash,
//! durable across reopening, each change one transaction; the merge rules of
//! an import; a client process editing while the primary imports; and no
//! acknowledged edit lost to a SIGKILL.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kiln_engine::{
    AssetId, AssetState, CollectionImport, CollectionPlace, Config, ContentHash, CurationEdit,
    CurationError, CurationFilter, CurationImport, Engine, EngineError, MAX_TAGS, Priority, Until,
};
use kiln_plugin_api::{Stage, StageError, StageInfo, StageInput, StageOutput, Value};

const ROLE: &str = "KILN_TEST_CURATION_ROLE";
const STORE: &str = "KILN_TEST_CURATION_STORE";
const INPUT: &str = "KILN_TEST_CURATION_INPUT";

fn tags(list: &[&str]) -> Vec<String> {
    list.iter().map(|t| (*t).to_owned()).collect()
}

fn synthetic(i: u32) -> ContentHash {
    *blake3::hash(&i.to_le_bytes()).as_bytes()
}

fn sorted(mut ids: Vec<AssetId>) -> Vec<AssetId> {
    ids.sort_unstable();
    ids
}

/// A store with `n` distinct files plus a copy of the first at another
/// path, hashed by the test stages; returns the engine and, by file name,
/// the asset holding each file's content.
async fn imported(store: &Path, input: &Path, n: usize) -> (Engine, BTreeMap<String, AssetId>) {
    common::write_files(input, n);
    std::fs::create_dir_all(input.join("copies")).expect("copies");
    std::fs::copy(input.join("img00000.png"), input.join("copies/same.png")).expect("copy");
    let engine = Engine::open(store, Config::default()).expect("open");
    for stage in common::three_tier() {
        engine.register_stage(stage).expect("register");
    }
    engine
        .import_dir(input, Priority::Batch)
        .await
        .expect("import");
    engine.run_until(Until::Idle).await.expect("run");
    let mut by_name = BTreeMap::new();
    for asset in engine.assets().expect("assets") {
        let name = Path::new(&asset.first_path)
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        // A copy's asset merged into the one holding the content first.
        let holder = match asset.state {
            AssetState::Duplicate { of } => of,
            _ => asset.id,
        };
        by_name.insert(name, holder);
    }
    (engine, by_name)
}

fn hash_of(engine: &Engine, id: AssetId) -> ContentHash {
    engine.content_hashes(&[id]).expect("hashes")[0].expect("hashed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curation_follows_the_content_and_survives_reopening() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    let input = work.path().join("in");
    let (engine, assets) = imported(&store, &input, 4).await;
    let (a, b, c) = (
        assets["img00000.png"],
        assets["img00001.png"],
        assets["img00002.png"],
    );
    let copy = assets["same.png"];
    let (ha, hb, hc) = (
        hash_of(&engine, a),
        hash_of(&engine, b),
        hash_of(&engine, c),
    );
    assert_eq!(
        hash_of(&engine, copy),
        ha,
        "a copy of the same bytes is the same content"
    );

    let rate = |r| CurationEdit {
        rating: Some(r),
        ..CurationEdit::default()
    };
    assert_eq!(engine.curate(vec![ha], rate(4)).await.expect("rate"), 1);
    assert_eq!(engine.curate(vec![hc], rate(2)).await.expect("rate"), 1);
    let favorite = CurationEdit {
        favorite: Some(true),
        ..CurationEdit::default()
    };
    engine.curate(vec![hb], favorite).await.expect("favorite");
    let tag = CurationEdit {
        add_tags: tags(&["  Keeper ", "draft"]),
        ..CurationEdit::default()
    };
    assert_eq!(engine.curate(vec![ha, hb, ha], tag).await.expect("tag"), 2);
    let untag = CurationEdit {
        remove_tags: tags(&["DRAFT"]),
        ..CurationEdit::default()
    };
    assert_eq!(
        engine.curate(vec![hb], untag.clone()).await.expect("untag"),
        1
    );
    assert_eq!(
        engine.curate(vec![hb], untag).await.expect("untag again"),
        0,
        "removing a tag the asset lacks changes nothing"
    );

    // Refused edits write nothing.
    assert!(matches!(
        engine.curate(vec![ha], rate(6)).await,
        Err(EngineError::Curation(CurationError::BadRating(6)))
    ));
    let bad = CurationEdit {
        add_tags: tags(&["ok", "bad\u{1b}[2J"]),
        ..CurationEdit::default()
    };
    assert!(matches!(
        engine.curate(vec![ha], bad).await,
        Err(EngineError::Curation(CurationError::BadLabel { .. }))
    ));
    let many: Vec<String> = (0..MAX_TAGS).map(|i| format!("t{i}")).collect();
    let too_many = CurationEdit {
        add_tags: many,
        rating: Some(1),
        ..CurationEdit::default()
    };
    assert!(matches!(
        engine.curate(vec![hc, ha], too_many).await,
        Err(EngineError::Curation(CurationError::TooManyTags(_)))
    ));
    let check = |engine: &Engine| {
        let of_a = engine.curation(&ha).expect("read").expect("curated");
        assert_eq!(of_a.rating, 4);
        assert_eq!(of_a.tags, tags(&["Keeper", "draft"]));
        assert!(!of_a.favorite);
        let of_b = engine.curation(&hb).expect("read").expect("curated");
        assert!(of_b.favorite);
        assert_eq!(of_b.tags, tags(&["Keeper"]));
        let of_c = engine.curation(&hc).expect("read").expect("curated");
        assert_eq!((of_c.rating, of_c.tags.len()), (2, 0));
        let select = |f: CurationFilter| sorted(engine.curated_assets(&f).expect("select"));
        assert_eq!(select(CurationFilter::Rating { min: 4, max: 5 }), vec![a]);
        assert_eq!(
            select(CurationFilter::Rating { min: 1, max: 5 }),
            sorted(vec![a, c])
        );
        assert_eq!(select(CurationFilter::Favorite), vec![b]);
        assert_eq!(
            select(CurationFilter::Tag("KEEPER".into())),
            sorted(vec![a, b])
        );
        assert_eq!(select(CurationFilter::Tag("draft".into())), vec![a]);
        assert_eq!(select(CurationFilter::Tag("nothing".into())), vec![]);
    };
    check(&engine);
    engine.shutdown().await;

    let engine = Engine::open(&store, Config::default()).expect("reopen");
    check(&engine);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_edit_is_one_transaction() {
    let work = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(work.path().join("store"), Config::default()).expect("open");
    let hashes: Vec<ContentHash> = (0..5_000).map(synthetic).collect();
    // The writer counts a commit just after answering it: read the count
    // once it has stopped moving (nothing else writes).
    let settled = || async {
        let mut last = engine.metrics().expect("metrics").commits;
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = engine.metrics().expect("metrics").commits;
            if now == last {
                return now;
            }
            last = now;
        }
    };
    let before = settled().await;
    let edit = CurationEdit {
        add_tags: tags(&["keeper"]),
        rating: Some(3),
        ..CurationEdit::default()
    };
    assert_eq!(
        engine.curate(hashes.clone(), edit).await.expect("bulk"),
        5_000
    );
    assert_eq!(
        settled().await - before,
        1,
        "5,000 assets tagged in one commit"
    );
    let export = engine.export_curation().expect("export");
    assert_eq!(export.assets.len(), 5_000);
    assert!(
        export
            .assets
            .iter()
            .all(|(_, c, asset)| c.rating == 3 && c.tags == tags(&["keeper"]) && asset.is_none())
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_are_named_ordered_sets() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    let engine = Engine::open(&store, Config::default()).expect("open");
    let h: Vec<ContentHash> = (0..5).map(synthetic).collect();
    engine.create_collection("Client A").await.expect("create");
    assert!(matches!(
        engine.create_collection(" client  a").await,
        Err(EngineError::Curation(CurationError::CollectionExists(name))) if name == "Client A"
    ));
    assert_eq!(
        engine
            .add_to_collection("client a", vec![h[3], h[1], h[3]], false)
            .await
            .expect("add"),
        2
    );
    assert_eq!(
        engine
            .add_to_collection("Client A", vec![h[1], h[0], h[4]], false)
            .await
            .expect("add"),
        2,
        "a member is added once and keeps its place"
    );
    assert!(matches!(
        engine.add_to_collection("nope", vec![h[0]], false).await,
        Err(EngineError::Curation(CurationError::NoSuchCollection(_)))
    ));
    assert_eq!(
        engine
            .add_to_collection("Best of", vec![h[2]], true)
            .await
            .expect("add creating"),
        1
    );
    assert_eq!(
        engine
            .remove_from_collection("CLIENT A", vec![h[1], h[2]])
            .await
            .expect("remove"),
        1
    );
    let curation = engine.curation(&h[0]).expect("read").expect("a member");
    assert_eq!(curation.collections, tags(&["Client A"]));
    assert_eq!(curation.rating, 0);
    engine.shutdown().await;

    let engine = Engine::open(&store, Config::default()).expect("reopen");
    let (info, members) = engine
        .collection("client a")
        .expect("read")
        .expect("exists");
    assert_eq!((info.name.as_str(), info.members), ("Client A", 3));
    assert_eq!(members, vec![h[3], h[0], h[4]]);
    let names: Vec<String> = engine
        .collections()
        .expect("list")
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, tags(&["Best of", "Client A"]));
    // Read together, each is what it is read alone, in the order asked.
    let asked = [h[2], h[1], h[0], h[3], h[2]];
    let together = engine.curations(&asked).expect("read together");
    let alone: Vec<_> = asked
        .iter()
        .map(|hash| engine.curation(hash).expect("read"))
        .collect();
    assert_eq!(together, alone);
    assert!(
        together[1].is_none(),
        "h[1] was taken out of every collection"
    );
    assert_eq!(
        together[0].as_ref().expect("in Best of").collections,
        tags(&["Best of"])
    );
    engine
        .rename_collection("client a", "Client B")
        .await
        .expect("rename");
    assert!(matches!(
        engine.rename_collection("client b", "best OF").await,
        Err(EngineError::Curation(CurationError::CollectionExists(_)))
    ));
    let (_, members) = engine
        .collection("client b")
        .expect("read")
        .expect("renamed");
    assert_eq!(members, vec![h[3], h[0], h[4]]);
    assert_eq!(
        engine.delete_collection("Client B").await.expect("delete"),
        3
    );
    assert!(engine.collection("client b").expect("read").is_none());
    assert!(engine.curation(&h[0]).expect("read").is_none());
    assert!(matches!(
        engine.delete_collection("Client B").await,
        Err(EngineError::Curation(CurationError::NoSuchCollection(_)))
    ));
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_move_within_a_collection_and_keep_the_new_order() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    let engine = Engine::open(&store, Config::default()).expect("open");
    let h: Vec<ContentHash> = (0..6).map(synthetic).collect();
    engine
        .add_to_collection("Picks", h.clone(), true)
        .await
        .expect("add");
    let order = |engine: &Engine| {
        let (_, members) = engine.collection("picks").expect("read").expect("exists");
        members
            .iter()
            .map(|m| h.iter().position(|x| x == m).expect("a member"))
            .collect::<Vec<_>>()
    };
    let moved = |place| engine.move_in_collection("picks", vec![h[4], h[1]], place);
    assert_eq!(moved(CollectionPlace::Start).await.expect("to start"), 2);
    assert_eq!(
        order(&engine),
        [4, 1, 0, 2, 3, 5],
        "moved ones keep the order given"
    );
    assert_eq!(moved(CollectionPlace::End).await.expect("to end"), 2);
    assert_eq!(order(&engine), [0, 2, 3, 5, 4, 1]);
    moved(CollectionPlace::Before(h[3])).await.expect("before");
    assert_eq!(order(&engine), [0, 2, 4, 1, 3, 5]);
    moved(CollectionPlace::After(h[5])).await.expect("after");
    assert_eq!(order(&engine), [0, 2, 3, 5, 4, 1]);
    moved(CollectionPlace::After(h[5])).await.expect("again");
    assert_eq!(
        order(&engine),
        [0, 2, 3, 5, 4, 1],
        "moving to where they are changes nothing"
    );

    // Refusals change nothing.
    assert!(matches!(
        moved(CollectionPlace::Before(h[4])).await,
        Err(EngineError::Curation(CurationError::PlacedBesideItself))
    ));
    assert!(matches!(
        engine
            .move_in_collection("picks", vec![h[0], synthetic(99)], CollectionPlace::Start)
            .await,
        Err(EngineError::Curation(CurationError::NotAMember { .. }))
    ));
    assert!(matches!(
        moved(CollectionPlace::Before(synthetic(99))).await,
        Err(EngineError::Curation(CurationError::NotAMember { .. }))
    ));
    assert!(matches!(
        engine
            .move_in_collection("nope", vec![h[0]], CollectionPlace::Start)
            .await,
        Err(EngineError::Curation(CurationError::NoSuchCollection(_)))
    ));
    assert_eq!(order(&engine), [0, 2, 3, 5, 4, 1]);

    // Members added later go after the moved ones; removing and adding
    // keep working on the new numbering; the order survives reopening.
    engine
        .add_to_collection("picks", vec![synthetic(6)], false)
        .await
        .expect("add");
    engine
        .remove_from_collection("picks", vec![h[2]])
        .await
        .expect("remove");
    let (info, members) = engine.collection("picks").expect("read").expect("exists");
    assert_eq!(info.members, 6);
    assert_eq!(members.last(), Some(&synthetic(6)));
    engine.shutdown().await;
    drop(engine);
    let engine = Engine::open(&store, Config::default()).expect("reopen");
    let (_, again) = engine.collection("picks").expect("read").expect("exists");
    assert_eq!(again, members);
    assert_eq!(
        again[..5],
        [h[0], h[3], h[5], h[4], h[1]],
        "the moved order is durable"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_merges_by_time_and_twice_changes_nothing() {
    let work = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(work.path().join("store"), Config::default()).expect("open");
    let (h0, h1, h2) = (synthetic(0), synthetic(1), synthetic(2));
    let edit = CurationEdit {
        rating: Some(2),
        favorite: Some(false),
        add_tags: tags(&["mine"]),
        ..CurationEdit::default()
    };
    engine.curate(vec![h0, h1], edit).await.expect("curate");
    let set_at = engine.curation(&h0).expect("read").expect("set").rating_ns;
    engine
        .add_to_collection("set", vec![h1], true)
        .await
        .expect("collection");
    let file = vec![
        // Older than the store's: the store's rating stays; tags unite.
        CurationImport {
            hash: h0,
            rating: Some((5, set_at - 1)),
            favorite: Some((true, set_at - 1)),
            tags: tags(&["theirs", "MINE"]),
            tags_ns: set_at - 1,
        },
        // Newer: the file's rating and favorite win.
        CurationImport {
            hash: h1,
            rating: Some((5, set_at + 1)),
            favorite: Some((true, set_at + 1)),
            tags: Vec::new(),
            tags_ns: 0,
        },
        // Unknown to the store: taken as it is.
        CurationImport {
            hash: h2,
            rating: Some((1, 7)),
            favorite: None,
            tags: tags(&["new"]),
            tags_ns: 7,
        },
    ];
    let collections = vec![
        CollectionImport {
            name: "SET".into(),
            created_ns: 1,
            members: vec![h2, h1, h0],
        },
        CollectionImport {
            name: "Other".into(),
            created_ns: 1,
            members: vec![h0],
        },
    ];
    let report = engine
        .merge_curation(file.clone(), collections.clone())
        .await
        .expect("merge");
    assert_eq!(
        (
            report.assets_changed,
            report.collections_created,
            report.members_added
        ),
        (3, 1, 3)
    );
    let c0 = engine.curation(&h0).expect("read").expect("h0");
    assert_eq!((c0.rating, c0.favorite), (2, false));
    assert_eq!(c0.tags, tags(&["mine", "theirs"]));
    assert_eq!(c0.collections, tags(&["Other", "set"]));
    let c1 = engine.curation(&h1).expect("read").expect("h1");
    assert_eq!(
        (c1.rating, c1.favorite, c1.rating_ns),
        (5, true, set_at + 1)
    );
    assert_eq!(c1.tags, tags(&["mine"]));
    let c2 = engine.curation(&h2).expect("read").expect("h2");
    assert_eq!((c2.rating, c2.rating_ns, c2.tags), (1, 7, tags(&["new"])));
    let (_, members) = engine.collection("set").expect("read").expect("set");
    assert_eq!(
        members,
        vec![h1, h2, h0],
        "existing members keep their place"
    );

    let before = engine.export_curation().expect("export");
    let again = engine
        .merge_curation(file, collections)
        .await
        .expect("merge again");
    assert_eq!(
        (
            again.assets_changed,
            again.collections_created,
            again.members_added
        ),
        (0, 0, 0)
    );
    assert_eq!(engine.export_curation().expect("export"), before);

    // One bad entry refuses the whole merge.
    let bad = vec![
        CurationImport {
            hash: synthetic(9),
            rating: Some((3, 1)),
            ..CurationImport::default()
        },
        CurationImport {
            hash: synthetic(10),
            rating: Some((9, 1)),
            ..CurationImport::default()
        },
    ];
    assert!(engine.merge_curation(bad, Vec::new()).await.is_err());
    assert!(engine.curation(&synthetic(9)).expect("read").is_none());
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curation_of_content_no_asset_holds_is_an_orphan_until_purged() {
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    let input = work.path().join("in");
    let (engine, assets) = imported(&store, &input, 2).await;
    let held = hash_of(&engine, assets["img00000.png"]);
    let gone = synthetic(42);
    let edit = CurationEdit {
        rating: Some(5),
        add_tags: tags(&["keeper"]),
        ..CurationEdit::default()
    };
    engine.curate(vec![held, gone], edit).await.expect("curate");
    engine
        .add_to_collection("c", vec![gone, held], true)
        .await
        .expect("collection");
    assert_eq!(engine.curation_orphans().expect("orphans"), vec![gone]);
    assert_eq!(engine.asset_by_hash(&gone).expect("lookup"), None);
    assert_eq!(
        engine.asset_by_hash(&held).expect("lookup"),
        Some(assets["img00000.png"])
    );
    assert_eq!(engine.purge_curation(vec![gone]).await.expect("purge"), 1);
    assert!(engine.curation_orphans().expect("orphans").is_empty());
    assert!(engine.curation(&gone).expect("read").is_none());
    let (info, members) = engine.collection("c").expect("read").expect("c");
    assert_eq!((info.members, members), (1, vec![held]));
    assert_eq!(
        engine
            .curated_assets(&CurationFilter::Tag("keeper".into()))
            .expect("select"),
        vec![assets["img00000.png"]]
    );
    engine.shutdown().await;
}

// ---- a client process edits while the primary imports ----

struct Sleepy;

impl Stage for Sleepy {
    fn info(&self) -> StageInfo {
        common::io_info("slow", 1, None)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        std::thread::sleep(Duration::from_millis(5));
        Ok(StageOutput::facts(Value::map([(
            "path",
            Value::from(input.path.as_str()),
        )])))
    }
}

fn primary_config() -> Config {
    Config {
        workers: 2,
        idle_poll: Duration::from_millis(20),
        ..Config::default()
    }
}

/// The child of the two-process test: the primary importing a batch.
#[test]
fn importing_primary_role() {
    if std::env::var(ROLE).as_deref() != Ok("import") {
        return;
    }
    let store = PathBuf::from(std::env::var(STORE).expect("store"));
    let input = PathBuf::from(std::env::var(INPUT).expect("input"));
    common::runtime().block_on(async {
        let engine = Engine::open(&store, primary_config()).expect("open");
        assert!(engine.is_primary());
        engine.register_stage(Arc::new(Sleepy)).expect("register");
        common::import_then_announce(engine, &input).await;
    });
    println!("{}", kiln_testkit::child::FINISHED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_process_edits_curation_while_the_primary_imports() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let input = work.path().join("batch");
    common::write_files(&input, 400);
    let store = work.path().join("store");
    let child = kiln_testkit::child::spawn_test(
        "importing_primary_role",
        &[
            (ROLE, "import".as_ref()),
            (STORE, store.as_os_str()),
            (INPUT, input.as_os_str()),
        ],
    );
    let mut guard = kiln_testkit::child::ChildGuard(child);
    let stdout = guard.0.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines.next().expect("the child speaks").expect("line");
        if line.contains("STARTED") {
            break;
        }
    }
    let client = Engine::open(&store, primary_config()).expect("client open");
    assert!(!client.is_primary());
    let mut edits = 0;
    for i in 0..40u32 {
        let edit = CurationEdit {
            rating: Some((i % 5) as u8 + 1),
            add_tags: vec![format!("t{i}")],
            ..CurationEdit::default()
        };
        client
            .curate(vec![synthetic(i)], edit)
            .await
            .expect("a client's edit commits while the primary works");
        client
            .add_to_collection("picked", vec![synthetic(i)], true)
            .await
            .expect("collection edit");
        edits += 1;
    }
    let still_importing = client.status().expect("status").jobs.ready > 0;
    client.shutdown().await;
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = guard.0.wait().expect("child exits");
    assert!(status.success(), "the primary finished: {rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.contains(kiln_testkit::child::FINISHED))
    );
    let engine = Engine::open(&store, Config::default()).expect("reopen");
    for i in 0..edits {
        let c = engine.curation(&synthetic(i)).expect("read").expect("kept");
        assert_eq!(c.rating, (i % 5) as u8 + 1);
        assert_eq!(c.tags, vec![format!("t{i}")]);
        assert_eq!(c.collections, tags(&["picked"]));
    }
    assert_eq!(engine.assets().expect("assets").len(), 400);
    // Informative only: on a fast machine the batch may have finished.
    println!("edits made while the import was still queued: {still_importing}");
    engine.shutdown().await;
}

// ---- SIGKILL during a stream of edits ----

/// The child of the crash test: edits from four tasks at once, each edit
/// printed once acknowledged, until killed.
#[test]
fn editing_role() {
    if std::env::var(ROLE).as_deref() != Ok("edit") {
        return;
    }
    let store = PathBuf::from(std::env::var(STORE).expect("store"));
    let offset: u32 = std::env::var(INPUT)
        .expect("offset")
        .parse()
        .expect("number");
    common::runtime().block_on(async {
        let engine = Engine::open(&store, Config::default()).expect("open");
        let mut tasks = Vec::new();
        for lane in 0..4u32 {
            let engine = engine.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..100_000u32 {
                    let i = offset + n * 4 + lane;
                    let edit = CurationEdit {
                        rating: Some((i % 5) as u8 + 1),
                        add_tags: vec![format!("e{i}")],
                        ..CurationEdit::default()
                    };
                    engine.curate(vec![synthetic(i)], edit).await.expect("edit");
                    if i.is_multiple_of(3) {
                        engine
                            .add_to_collection("acked", vec![synthetic(i)], true)
                            .await
                            .expect("add");
                    }
                    println!("ACK {i}");
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
}

#[test]
fn no_acknowledged_edit_is_lost_to_a_sigkill() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let store = work.path().join("store");
    let mut acked = Vec::new();
    for (round, wanted) in [50usize, 300, 900].into_iter().enumerate() {
        let offset = (round as u32) * 10_000_000;
        let offset_text = offset.to_string();
        let mut child = kiln_testkit::child::spawn_test(
            "editing_role",
            &[
                (ROLE, "edit".as_ref()),
                (STORE, store.as_os_str()),
                (INPUT, offset_text.as_ref()),
            ],
        );
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = 0;
        while seen < wanted {
            let line = lines
                .next()
                .expect("the child acknowledges edits")
                .expect("line");
            if let Some(n) = line.strip_prefix("ACK ") {
                acked.push(n.parse::<u32>().expect("number"));
                seen += 1;
            }
        }
        // SIGKILL mid-stream: edits are in flight in the writer.
        child.kill().expect("kill");
        // What the child printed before it died was acknowledged, too.
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("ACK ") {
                acked.push(n.parse::<u32>().expect("number"));
            }
        }
        let _ = child.wait();
    }
    let engine = Engine::open(&store, Config::default()).expect("reopen after kills");
    for &i in &acked {
        let c = engine
            .curation(&synthetic(i))
            .expect("read")
            .unwrap_or_else(|| panic!("acknowledged edit {i} was lost"));
        assert_eq!(c.rating, (i % 5) as u8 + 1, "edit {i}");
        assert_eq!(c.tags, vec![format!("e{i}")], "edit {i}");
        if i.is_multiple_of(3) {
            assert_eq!(c.collections, tags(&["acked"]), "edit {i}");
        }
    }
    let export = engine.export_curation().expect("export");
    // Edits may have committed after their last acknowledgement was printed,
    // never fewer than were acknowledged.
    assert!(export.assets.len() >= acked.len());
    let (info, members) = engine.collection("acked").expect("read").expect("made");
    assert_eq!(info.members as usize, members.len());
    println!(
        "{} acknowledged edits over 3 kills, {} records",
        acked.len(),
        export.assets.len()
    );
}
