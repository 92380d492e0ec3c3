//! The `semantic` stage on its own: facts for a proxy the model takes, a
//! permanent error naming the file for a proxy that is not an image (the
//! asset's dead letter, with the reason), a transient one for a proxy that
//! cannot be read. Needs the test pack (`KILN_CLIP_PACK`) and ONNX Runtime:
//! skips without them, fails under `CI=true`.

use kiln::Kiln;
use kiln::plugin_api::{Stage, StageInput};
use kiln::semantic::{Quantised, SEMANTIC_STAGE, SemanticStage};
use kiln_testkit::fixtures::{clip_pack, skip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_the_model_cannot_take_are_permanent_errors_naming_the_file() {
    let Some(pack) = clip_pack() else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let kiln = Kiln::builder(work.path().join("store"))
        .open()
        .expect("open");
    let (record, _clip) = match kiln.add_model(pack.as_ref(), None, 1).await {
        Ok(added) => added,
        Err(e) if e.to_string().contains("ONNX Runtime is not available") => {
            skip(&e.to_string());
            return;
        }
        Err(e) => panic!("the test pack adds: {e}"),
    };
    let stage = SemanticStage::of(&kiln, record.clone());
    assert_eq!(stage.info().name, SEMANTIC_STAGE);

    let good = work.path().join("good-proxy");
    let picture = image::RgbImage::from_fn(300, 200, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    picture
        .save_with_format(&good, image::ImageFormat::Png)
        .expect("write a proxy");
    let input =
        StageInput::for_path(1, "/photos/good.png").with_proxy_path(good.display().to_string());
    let out = stage.process(&input).expect("a proxy the model takes");
    let facts = out.facts;
    let vector = Quantised::from_value(&facts).expect("a quantised vector");
    assert_eq!(vector.bytes.len(), record.dim);

    let garbage = work.path().join("garbage-proxy");
    std::fs::write(&garbage, b"\x89PNG\r\n\x1a\nnot really").expect("write");
    let input =
        StageInput::for_path(2, "/photos/bad.png").with_proxy_path(garbage.display().to_string());
    let err = stage.process(&input).expect_err("not an image");
    assert!(!err.is_transient(), "{}", err.message());
    assert!(
        err.message().contains("/photos/bad.png"),
        "{}",
        err.message()
    );

    let missing = work.path().join("missing-proxy");
    let input =
        StageInput::for_path(3, "/photos/gone.png").with_proxy_path(missing.display().to_string());
    let err = stage.process(&input).expect_err("no file");
    assert!(err.is_transient(), "{}", err.message());
    kiln.shutdown().await.expect("shutdown");
}
