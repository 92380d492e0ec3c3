//! SIGKILL `kiln import` while assets are being indexed: the store records
//! `search-index` as done for assets whose index documents were never
//! committed. The next open catches up, and every asset is searchable. When
//! no kill happens to land inside a commit window, the test removes
//! documents itself, so the catch-up is exercised on every run.

mod common;

use common::{import_then_run, json, kiln, num, succeed};
use kiln::engine::AssetId;
use kiln::engine::JobState;
use kiln_testkit::corpus::{GeneratedKind, generated};
use kiln_testkit::kill::{self, OnExit};

const FILES: usize = 120;

#[test]
fn a_killed_import_leaves_no_asset_missing_from_the_index() {
    let corpus_dir = tempfile::tempdir().expect("temp dir");
    generated(corpus_dir.path(), FILES, GeneratedKind::Small { side: 256 }).expect("corpus builds");
    let store = tempfile::tempdir().expect("temp dir");

    // The index commits every two seconds; kills inside that window lose
    // uncommitted documents whose facts the store already holds. On a
    // loaded machine the first kills may land before any asset is indexed:
    // later rounds wait longer, until the store has recorded some.
    let delays = kill::millis(&[450, 650, 550, 1200, 2000, 3000, 5000]);
    let mut spawn = import_then_run(store.path(), corpus_dir.path());
    for (round, delay) in delays.into_iter().enumerate() {
        if round >= 3 && indexed_in_store(store.path()) > 0 {
            break;
        }
        kill::kill_rounds([delay], OnExit::Stop, |_| spawn(round));
    }
    // Before any kiln command reopens the store: what the store says is
    // indexed against what the index holds. A gap is what the catch-up repairs.
    {
        let recorded = indexed_in_store(store.path());
        let index = kiln_search::SearchIndex::open(&kiln_search::index_dir(store.path()))
            .expect("index opens");
        let held = index.len().expect("count");
        println!("store says {recorded} indexed, index holds {held}");
        if held >= recorded {
            // Every kill landed just after an index commit. Lose documents
            // the way a lost commit does, so the catch-up always has a gap
            // to repair.
            let ids: Vec<AssetId> = index.indexed().expect("ids").into_keys().take(10).collect();
            for id in ids {
                index.remove(id).expect("remove");
            }
            index.close_writer().expect("commit");
        }
        assert!(
            index.len().expect("count") < recorded,
            "the index must lag the store before the catch-up"
        );
    }
    succeed(kiln(store.path()).args(["run", "-q"]));

    let status = json(store.path(), &["status"]);
    assert_eq!(num(&status, "/assets"), FILES as u64, "{status}");
    let all = json(store.path(), &["search", "", "--limit", "1"]);
    assert_eq!(
        num(&all, "/total"),
        FILES as u64,
        "every asset is indexed: {all}"
    );
    // A full rebuild agrees with the caught-up index.
    let rebuilt = json(store.path(), &["reindex"]);
    assert_eq!(num(&rebuilt, "/indexed"), FILES as u64);
}

/// How many `search-index` jobs the store records as done.
fn indexed_in_store(store: &std::path::Path) -> u64 {
    let engine =
        kiln::engine::Engine::open(store, kiln::engine::Config::default()).expect("store opens");
    let metrics = engine.metrics().expect("metrics");
    metrics
        .by_stage
        .get("search-index")
        .and_then(|m| m.get(&JobState::Done))
        .copied()
        .unwrap_or(0)
}
