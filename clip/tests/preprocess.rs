//! Preprocessing follows the pack's `preprocess_cfg.json`, whatever it
//! says: size, mean and std, filter, resize mode, fill colour.

mod common;

use common::{copy_pack, pack_dir};
use image::{Rgb, RgbImage};
use kiln_clip::{Pack, pack};
use serde_json::json;

/// A pack copy whose preprocessing (and image size) is `settings`.
fn with_preprocess(settings: serde_json::Value) -> Option<(tempfile::TempDir, Pack)> {
    let dir = pack_dir()?;
    let copy = copy_pack(&dir);
    let size = settings["size"].clone();
    std::fs::write(copy.path().join(pack::PREPROCESS), settings.to_string()).expect("write");
    let config_path = copy.path().join(pack::CONFIG);
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).expect("read")).expect("JSON");
    config["vision_cfg"]["image_size"] = size;
    std::fs::write(&config_path, config.to_string()).expect("write");
    let pack = Pack::open(copy.path()).expect("the pack opens");
    Some((copy, pack))
}

fn settings(size: u32, interpolation: &str, resize_mode: &str) -> serde_json::Value {
    json!({
        "size": [size, size],
        "mean": [0.25, 0.5, 0.75],
        "std": [0.5, 0.25, 0.125],
        "interpolation": interpolation,
        "resize_mode": resize_mode,
        "fill_color": 0,
    })
}

fn pattern(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 7 % 256) as u8,
            (y * 5 % 256) as u8,
            ((x * y + 3 * x) % 256) as u8,
        ])
    })
}

#[test]
fn a_square_image_fits_every_mode_the_same_way() {
    let image = pattern(300, 300);
    let mut inputs = Vec::new();
    for mode in ["shortest", "squash", "longest"] {
        let Some((_dir, pack)) = with_preprocess(settings(96, "bicubic", mode)) else {
            return;
        };
        let input = pack.preprocess().input(&image).expect("the input");
        assert_eq!(input.len(), 3 * 96 * 96);
        inputs.push(input);
    }
    assert_eq!(inputs[0], inputs[1]);
    assert_eq!(inputs[0], inputs[2]);
}

#[test]
fn mean_and_std_are_per_channel_and_channels_come_first() {
    let Some((_dir, pack)) = with_preprocess(settings(40, "bilinear", "squash")) else {
        return;
    };
    let flat = RgbImage::from_pixel(123, 45, Rgb([255, 0, 51]));
    let input = pack.preprocess().input(&flat).expect("the input");
    let plane = 40 * 40;
    let expected = [(1.0 - 0.25) / 0.5, (0.0 - 0.5) / 0.25, (0.2 - 0.75) / 0.125];
    for (channel, want) in expected.iter().enumerate() {
        for v in &input[channel * plane..(channel + 1) * plane] {
            assert!((v - want).abs() < 1e-5, "channel {channel}: {v} != {want}");
        }
    }
}

#[test]
fn longest_pads_with_the_fill_colour() {
    let mut wide = settings(64, "bicubic", "longest");
    wide["fill_color"] = 255.into();
    let Some((_dir, pack)) = with_preprocess(wide) else {
        return;
    };
    // 200 × 100 becomes 64 × 32, centred: rows 16..48 hold the image.
    let image = RgbImage::from_pixel(200, 100, Rgb([0, 0, 0]));
    let input = pack.preprocess().input(&image).expect("the input");
    let red = |x: usize, y: usize| input[y * 64 + x];
    let fill = (1.0 - 0.25) / 0.5;
    let black = (0.0 - 0.25) / 0.5;
    for x in [0, 31, 63] {
        for y in [0, 15, 48, 63] {
            assert!((red(x, y) - fill).abs() < 1e-6, "({x}, {y}) is padding");
        }
        for y in [16, 31, 47] {
            assert!((red(x, y) - black).abs() < 1e-6, "({x}, {y}) is the image");
        }
    }
}

#[test]
fn the_filter_and_the_size_are_the_packs() {
    let image = pattern(640, 480);
    let Some((_a, bicubic)) = with_preprocess(settings(128, "bicubic", "shortest")) else {
        return;
    };
    let Some((_b, bilinear)) = with_preprocess(settings(128, "bilinear", "shortest")) else {
        return;
    };
    let Some((_c, larger)) = with_preprocess(settings(336, "bicubic", "shortest")) else {
        return;
    };
    let a = bicubic.preprocess().input(&image).expect("input");
    let b = bilinear.preprocess().input(&image).expect("input");
    assert_eq!(a.len(), b.len());
    assert_ne!(a, b, "bilinear and bicubic resample differently");
    assert_eq!(
        larger.preprocess().input(&image).expect("input").len(),
        3 * 336 * 336
    );
    assert!(bicubic.preprocess().input(&RgbImage::new(0, 5)).is_err());
}
