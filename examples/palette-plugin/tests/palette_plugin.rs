//! The palette plugin, loaded from its shared library through kiln's loader,
//! on synthetic images with known colours and on the real fixtures.

use kiln_engine::plugin::load_plugin;
use kiln_plugin_api::{Stage, StageInput, StageOutput, Value, builtin};
use kiln_testkit::{cargo, fixtures, paint};
use std::path::Path;
use std::sync::{Arc, OnceLock};

fn plugin() -> Arc<dyn Stage> {
    static STAGE: OnceLock<Arc<dyn Stage>> = OnceLock::new();
    STAGE
        .get_or_init(|| {
            load_plugin(cargo::plugin_library("kiln-palette-plugin"))
                .expect("the palette plugin loads")
                .stage()
        })
        .clone()
}

/// A `width` × `height` image whose left half is `left` and right half `right`.
fn halves(path: &Path, width: u32, height: u32, left: [u8; 3], right: [u8; 3]) {
    paint::write_png(path, &paint::halves(width, height, left, right), None);
}

fn palette(out: &StageOutput) -> Vec<(String, f64)> {
    out.facts
        .get("palette")
        .and_then(Value::as_list)
        .expect("a palette list")
        .iter()
        .map(|swatch| {
            (
                swatch
                    .get("hex")
                    .and_then(Value::as_str)
                    .expect("hex")
                    .to_owned(),
                swatch.get("share").and_then(Value::as_f64).expect("share"),
            )
        })
        .collect()
}

fn text<'a>(out: &'a StageOutput, key: &str) -> &'a str {
    out.facts.get(key).and_then(Value::as_str).unwrap_or("")
}

fn number(out: &StageOutput, key: &str) -> u64 {
    out.facts.get(key).and_then(Value::as_u64).unwrap_or(0)
}

#[test]
fn a_two_colour_image_has_a_two_colour_palette() {
    let dir = tempfile::tempdir().expect("temp dir");
    let original = dir.path().join("halves.png");
    // The sampling grid splits 320 columns evenly between the halves.
    halves(&original, 320, 200, [220, 20, 60], [30, 60, 200]);
    let input = StageInput::for_path(1, original.to_string_lossy());
    let out = plugin().process(&input).expect("processes");
    assert_eq!(
        palette(&out),
        vec![("#1e3cc8".to_owned(), 0.5), ("#dc143c".to_owned(), 0.5)]
    );
    assert_eq!(text(&out, "colors_from"), "original");
    assert_eq!((number(&out, "width"), number(&out, "height")), (320, 200));
    assert_eq!(text(&out, "orientation"), "landscape");
    assert_eq!(text(&out, "aspect_label"), "16:10");
    assert_eq!(text(&out, "size_class"), "tiny");
    assert_eq!(
        out.facts.get("monochrome").and_then(Value::as_bool),
        Some(false)
    );
}

#[test]
fn the_proxy_is_read_for_colours_and_the_original_for_size() {
    let dir = tempfile::tempdir().expect("temp dir");
    let original = dir.path().join("original.png");
    let proxy = dir.path().join("proxy.png");
    halves(&original, 120, 240, [0, 0, 0], [255, 255, 255]);
    halves(&proxy, 20, 40, [0, 128, 0], [0, 128, 0]);
    let input = StageInput::for_path(2, original.to_string_lossy())
        .with_proxy_path(proxy.to_string_lossy());
    let out = plugin().process(&input).expect("processes");
    assert_eq!(text(&out, "colors_from"), "proxy");
    assert_eq!(text(&out, "dominant"), "#008000");
    assert_eq!((number(&out, "width"), number(&out, "height")), (120, 240));
    assert_eq!(text(&out, "orientation"), "portrait");
    assert_eq!(text(&out, "aspect_label"), "1:2");

    // A proxy that has gone missing falls back to the original.
    let input = input.with_proxy_path(dir.path().join("gone.jpg").to_string_lossy());
    let out = plugin().process(&input).expect("processes");
    assert_eq!(text(&out, "colors_from"), "original");
    assert_eq!(
        palette(&out),
        vec![("#000000".to_owned(), 0.5), ("#ffffff".to_owned(), 0.5)]
    );
    assert_eq!(
        out.facts.get("monochrome").and_then(Value::as_bool),
        Some(true)
    );
}

#[test]
fn thumbnail_facts_give_the_displayed_size() {
    let dir = tempfile::tempdir().expect("temp dir");
    let original = dir.path().join("rotated.png");
    halves(&original, 64, 32, [10, 10, 10], [200, 200, 0]);
    let input = StageInput::for_path(3, original.to_string_lossy()).with_stage_facts(
        builtin::THUMBNAIL,
        Value::map([
            ("width", Value::from(832u64)),
            ("height", Value::from(1216u64)),
        ]),
    );
    let out = plugin().process(&input).expect("processes");
    assert_eq!(text(&out, "dimensions_from"), "thumbnail");
    assert_eq!((number(&out, "width"), number(&out, "height")), (832, 1216));
    assert_eq!(text(&out, "aspect_label"), "2:3");
    assert_eq!(text(&out, "size_class"), "medium");
}

#[test]
fn unreadable_files_are_permanent_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let garbage = dir.path().join("garbage.png");
    std::fs::write(&garbage, b"\x89PNG\r\n\x1a\nnot really").expect("writes");
    for path in [garbage, dir.path().join("missing.png")] {
        let err = plugin()
            .process(&StageInput::for_path(4, path.to_string_lossy()))
            .expect_err("cannot be processed");
        assert!(!err.is_transient(), "{err}");
        assert!(err.message().contains(&*path.to_string_lossy()), "{err}");
    }
}

#[test]
fn real_fixtures_get_their_decoded_size_and_a_full_palette() {
    let Some(dir) = fixtures::real() else {
        return;
    };
    let dir = dir.as_path();
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("EXPECTED.json")).expect("EXPECTED.json is readable"),
    )
    .expect("EXPECTED.json is JSON");
    let entries = expected.as_object().expect("EXPECTED.json is an object");
    let mut checked = 0;
    for (name, entry) in entries {
        let (Some(width), Some(height)) = (
            entry.get("image_width").and_then(serde_json::Value::as_u64),
            entry
                .get("image_height")
                .and_then(serde_json::Value::as_u64),
        ) else {
            continue;
        };
        let path = dir.join(name);
        let input = StageInput::for_path(checked, path.to_string_lossy());
        let out = plugin()
            .process(&input)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (number(&out, "width"), number(&out, "height")),
            (width, height),
            "{name}"
        );
        let swatches = palette(&out);
        assert!(
            !swatches.is_empty() && swatches.len() <= 6,
            "{name}: {swatches:?}"
        );
        let total: f64 = swatches.iter().map(|(_, share)| share).sum();
        assert!((total - 1.0).abs() < 0.01, "{name}: shares sum to {total}");
        assert!(
            swatches.windows(2).all(|w| w[0].1 >= w[1].1),
            "{name}: largest share first: {swatches:?}"
        );
        for (hex, _) in &swatches {
            assert!(
                hex.len() == 7
                    && hex.starts_with('#')
                    && hex[1..]
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
                "{name}: {hex}"
            );
        }
        assert_eq!(text(&out, "dominant"), swatches[0].0, "{name}");
        let orientation = match width.cmp(&height) {
            std::cmp::Ordering::Greater => "landscape",
            std::cmp::Ordering::Less => "portrait",
            std::cmp::Ordering::Equal => "square",
        };
        assert_eq!(text(&out, "orientation"), orientation, "{name}");
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} fixtures had a decoded size");
}
