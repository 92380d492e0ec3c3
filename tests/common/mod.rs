//! Helpers shared by the library's integration tests.
#![allow(dead_code)]

use image::RgbImage;
use kiln::Kiln;
use kiln::engine::{Config, Priority, Tier, Until};
use kiln_testkit::paint;
use std::path::Path;

/// A handle on the store in `store`, with two workers.
pub(crate) fn open(store: &Path) -> Kiln {
    Kiln::builder(store)
        .config(Config {
            workers: 2,
            ..Config::default()
        })
        .open()
        .expect("the store opens")
}

/// A 96×96 PNG, a different picture for each `variant`.
pub(crate) fn write_png(path: &Path, variant: u8) {
    let image = RgbImage::from_fn(96, 96, |x, y| {
        image::Rgb([(x as u8) ^ variant, (y as u8).wrapping_mul(3), variant])
    });
    paint::write_png(path, &image, None);
}

/// Imports `folder` as a batch and runs until its assets reach `tier`.
pub(crate) async fn import_until(kiln: &Kiln, folder: &Path, tier: Tier) {
    let import = kiln
        .engine()
        .import_dir(folder, Priority::Batch)
        .await
        .expect("import");
    kiln.run_until(Until::Tier {
        tier,
        imports: Some(vec![import]),
    })
    .await
    .expect("run");
}
