//! The embeddings of query texts are kept beside the store, so a new
//! process asked a text asked before ranks without loading the model (here
//! proved by taking the text model away); a new text still needs the
//! model. Needs the test pack (`KILN_CLIP_PACK`) and ONNX Runtime: skips
//! without them, fails under `CI=true`.

mod common;

use common::{import_until, open};
use image::RgbImage;
use kiln::engine::Tier;
use kiln::{Kiln, SortBy};
use kiln_testkit::fixtures::{clip_pack, copy_dir, skip};
use kiln_testkit::paint;

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
    let Some(pack) = clip_pack() else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let own_pack = work.path().join("pack");
    copy_dir(&pack, &own_pack);
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
    import_until(&kiln, &input, Tier::Enriched).await;
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
