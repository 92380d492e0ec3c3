//! The index catch-up on open: a superseded asset's document is removed
//! and its completions discounted without reading every asset again, while
//! a document missing for an active asset still makes the catch-up read the
//! store and add it back.

mod common;

use common::open;
use image::RgbImage;
use kiln::Kiln;
use kiln::engine::{AssetId, Priority, Until};
use kiln_testkit::paint;
use std::path::Path;
use std::time::{Duration, SystemTime};

fn write_png(path: &Path, variant: u8, mtime: SystemTime) {
    let image = RgbImage::from_fn(160, 160, |x, y| {
        image::Rgb([(x as u8) ^ variant, (y as u8).wrapping_mul(3), variant])
    });
    paint::write_png(path, &image, None);
    paint::set_modified(path, mtime);
}

async fn import_all(store: &Path, input: &Path) {
    let kiln = open(store);
    kiln.engine()
        .import_dir(input, Priority::Batch)
        .await
        .expect("import");
    kiln.engine().run_until(Until::Idle).await.expect("run");
    kiln.shutdown().await.expect("index committed");
}

fn ids_for(kiln: &Kiln, query: &str) -> Vec<AssetId> {
    kiln.search(query, Default::default(), 50)
        .expect("search")
        .hits
        .iter()
        .map(|h| h.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn superseded_assets_are_discounted_and_missing_documents_come_back() {
    let tmp = tempfile::tempdir().expect("test setup");
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).expect("test setup");
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    for i in 0..4u8 {
        write_png(&input.join(format!("pic{i}.png")), i * 40, start);
    }
    let store = tmp.path().join("store");
    import_all(&store, &input).await;

    // The file changes: a new asset supersedes the old one, whose document
    // the catch-up on the next open removes.
    write_png(
        &input.join("pic2.png"),
        222,
        start + Duration::from_secs(60),
    );
    import_all(&store, &input).await;

    // Whether this open caught up already depends on whether it became the
    // primary (the previous handle of this process may still hold the lock),
    // so catch up here once; the stale document goes either way, although
    // the index holds as many documents as search-index completions.
    let kiln = open(&store);
    let (engine, index) = (kiln.engine(), kiln.index());
    kiln.catch_up().expect("catch up");
    let current = engine
        .asset_by_path(input.join("pic2.png"))
        .expect("lookup")
        .expect("asset");
    assert_eq!(engine.inactive_assets().expect("inactive").len(), 1);
    assert_eq!(ids_for(&kiln, "path:pic2"), [current]);
    assert_eq!(index.len().expect("count"), 4);
    let again = kiln.catch_up().expect("catch up");
    assert!(
        !again.read_every_asset && again.indexed == 0 && again.removed == 0,
        "a superseded asset alone must not make every open read the store: {again:?}"
    );

    // A document lost for an active asset is found and added back.
    let lost = ids_for(&kiln, "path:pic0");
    assert_eq!(lost.len(), 1);
    index.remove(lost[0]).expect("remove");
    index.commit().expect("commit");
    assert!(ids_for(&kiln, "path:pic0").is_empty());
    let repaired = kiln.catch_up().expect("catch up");
    assert!(repaired.read_every_asset, "{repaired:?}");
    assert_eq!(repaired.indexed, 1);
    assert_eq!(ids_for(&kiln, "path:pic0"), lost);
    kiln.shutdown().await.expect("index committed");
}
