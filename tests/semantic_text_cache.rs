//! The embeddings of query texts are kept beside the store, so a new
//! process asked a text asked before ranks without loading the model (here
//! proved by taking the text model away); a new text still needs the
//! model. Needs the test pack (`KILN_CLIP_PACK`) and ONNX Runtime: skips
//! without them, fails under `CI=true`.

use image::RgbImage;
use kiln::engine::{Config, Priority, Tier, Until};
use kiln::{Kiln, SortBy};
use kiln_testkit::paint;
use std::path::Path;

fn skip(why: &str) {
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true"),
        "CI=true and {why}: this test cannot run; fix the setup"
    );
    println!("skipped: {why}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read the pack") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn open(store: &Path) -> Kiln {
    Kiln::builder(store)
        .config(Config {
            workers: 2,
            ..Config::default()
        })
        .open()
        .expect("open")
}

fn ranked(kiln: &Kiln, query: &str) -> Vec<(u64, f64)> {
    kiln.search(query, SortBy::Relevance, 20)
        .expect("search")
        .hits
        .into_iter()
        .map(|h| (h.id.get(), h.score))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_asked_before_ranks_in_a_new_process_without_the_model() {
    let Some(pack) = std::env::var_os("KILN_CLIP_PACK") else {
        skip("KILN_CLIP_PACK is not set");
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let own_pack = work.path().join("pack");
    copy_dir(Path::new(&pack), &own_pack);
    let input = work.path().join("in");
    std::fs::create_dir_all(&input).expect("input");
    for i in 0..6u8 {
        let image = RgbImage::from_fn(128, 128, |x, y| {
            image::Rgb([
                (x as u8).wrapping_mul(i + 1),
                (y as u8) ^ (i * 40),
                200 - i * 30,
            ])
        });
        paint::write_png(&input.join(format!("pic{i}.png")), &image, None);
    }
    let store = work.path().join("store");
    let kiln = open(&store);
    match kiln.add_model(&own_pack, None, 1).await {
        Ok(_) => {}
        Err(e) if e.to_string().contains("ONNX Runtime is not available") => {
            skip(&e.to_string());
            return;
        }
        Err(e) => panic!("the test pack adds: {e}"),
    }
    let import = kiln
        .engine()
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    kiln.run_until(Until::Tier {
        tier: Tier::Enriched,
        imports: Some(vec![import]),
    })
    .await
    .expect("run");
    let asked = "~\"a blue gradient\"";
    let first = ranked(&kiln, asked);
    assert_eq!(first.len(), 6, "every image has a vector: {first:?}");
    kiln.shutdown().await.expect("shutdown");

    // The text model is gone: only what was kept can answer.
    std::fs::remove_file(own_pack.join("textual").join("model.onnx")).expect("remove");
    let kiln = open(&store);
    assert_eq!(ranked(&kiln, asked), first, "the same ranking and scores");
    let fresh = kiln.search("~\"a red square\"", SortBy::Relevance, 20);
    assert!(
        fresh.is_err(),
        "a new text needs the model, which cannot load now"
    );
    kiln.shutdown().await.expect("shutdown");
}
