//! Plugins inside the whole engine: loaded with the built-in stages, scheduled
//! like them, their facts stored on assets; a panicking plugin's job
//! dead-lettered at once while the rest completes; a built-in swapped for a
//! plugin only when asked, and re-run on existing assets.

use kiln::engine::Tier;
use kiln::engine::{AssetDetail, Config, Engine, Priority, StageState, Until};
use kiln::plugin_api::Value;
use kiln::{EnrichmentCriteria, Kiln, OpenError, StageSource};
use kiln_testkit::cargo::plugin_library;
use kiln_testkit::{fixtures, paint};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn config() -> Config {
    Config {
        workers: 2,
        max_attempts: 3,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(5),
        ..Config::default()
    }
}

/// Opens the store with the built-in stages and these plugins, with no
/// enrichment rule (every asset goes on to tier 3).
fn open_store(dir: &Path, plugins: &[&str], replace: &[&str]) -> Result<Kiln, OpenError> {
    Kiln::builder(dir)
        .plugins(plugins.iter().map(|p| plugin_library(p)))
        .replace(replace.iter().copied())
        .config(config())
        .enrichment(EnrichmentCriteria::OPEN)
        .open()
}

/// Writes a `width` × `height` PNG whose left half is `left` and right half
/// `right`.
fn write_halves(path: &Path, (width, height): (u32, u32), left: [u8; 3], right: [u8; 3]) {
    paint::write_png(path, &paint::halves(width, height, left, right), None);
}

fn asset(engine: &Engine, path: &Path) -> AssetDetail {
    let id = engine
        .asset_by_path(path)
        .expect("lookup")
        .unwrap_or_else(|| panic!("{} was imported", path.display()));
    engine.asset(id).expect("read").expect("the asset exists")
}

fn facts<'a>(asset: &'a AssetDetail, stage: &str) -> &'a Value {
    let detail = asset
        .stages
        .get(stage)
        .unwrap_or_else(|| panic!("asset {} has no `{stage}` stage", asset.id));
    assert_eq!(
        detail.state,
        StageState::Done,
        "{stage} on {:?}",
        asset.paths
    );
    detail.facts.as_ref().expect("a done stage has facts")
}

fn text<'a>(facts: &'a Value, key: &str) -> &'a str {
    facts.get(key).and_then(Value::as_str).unwrap_or("")
}

fn hex_channels(hex: &str) -> Option<[u8; 3]> {
    let digits = hex.strip_prefix('#')?;
    let channel = |i: usize| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok();
    Some([channel(0)?, channel(2)?, channel(4)?])
}

/// Whether the palette has a swatch within a JPEG proxy's error of `rgb`,
/// covering about `share` of the image.
fn has_swatch(facts: &Value, rgb: [u8; 3], share: f64) -> bool {
    facts
        .get("palette")
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .any(|swatch| {
            let close = swatch
                .get("hex")
                .and_then(Value::as_str)
                .and_then(hex_channels)
                .is_some_and(|c| c.iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 12));
            let covers = swatch
                .get("share")
                .and_then(Value::as_f64)
                .is_some_and(|s| (s - share).abs() <= 0.1);
            close && covers
        })
}

/// Imports `input` and runs that import through tier 3, where the palette
/// plugin sits.
async fn import_to_tier_3(engine: &Engine, input: &Path) {
    let import = engine
        .import_dir(input, Priority::Batch)
        .await
        .expect("import");
    engine
        .run_until(Until::Tier {
            tier: Tier::Enriched,
            imports: Some(vec![import]),
        })
        .await
        .expect("run");
}

/// A test image: its path, size, and left and right colours.
type TestImage = (PathBuf, (u32, u32), [u8; 3], [u8; 3]);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_images_carry_the_palette_plugins_facts() {
    let work = tempfile::tempdir().expect("temp dir");
    let input = work.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    let images: Vec<TestImage> = (0..6u8)
        .map(|i| {
            let size = if i % 2 == 0 { (96, 64) } else { (64, 128) };
            let left = [200, 20 + 30 * i, 40];
            let right = [20, 60, 180 + 10 * i];
            (input.join(format!("render_{i}.png")), size, left, right)
        })
        .collect();
    for (path, size, left, right) in &images {
        write_halves(path, *size, *left, *right);
    }

    let kiln = open_store(&work.path().join("store"), &["kiln-palette-plugin"], &[])
        .expect("the store opens with the plugin");
    let (engine, sources) = (kiln.engine(), kiln.stage_sources());
    assert!(sources.contains(&(
        "palette".to_owned(),
        StageSource::Plugin(plugin_library("kiln-palette-plugin"))
    )));
    import_to_tier_3(engine, &input).await;

    for (path, (width, height), left, right) in &images {
        let asset = asset(engine, path);
        assert_eq!(asset.stages["palette"].version, Some(1));
        let palette = facts(&asset, "palette");
        assert_eq!(text(palette, "colors_from"), "proxy", "{}", path.display());
        assert_eq!(text(palette, "dimensions_from"), "thumbnail");
        assert_eq!(
            palette.get("width").and_then(Value::as_u64),
            Some(u64::from(*width))
        );
        assert_eq!(
            palette.get("height").and_then(Value::as_u64),
            Some(u64::from(*height))
        );
        let orientation = if width > height {
            "landscape"
        } else {
            "portrait"
        };
        assert_eq!(text(palette, "orientation"), orientation);
        assert!(has_swatch(palette, *left, 0.5), "{left:?} in {palette:?}");
        assert!(has_swatch(palette, *right, 0.5), "{right:?} in {palette:?}");
    }
    assert_eq!(engine.status().expect("status").jobs.dead, 0);
    kiln.shutdown().await.expect("the index closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_fixtures_get_palette_facts_with_their_displayed_size() {
    let Some(fixtures) = fixtures::real() else {
        return;
    };
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures.join("EXPECTED.json")).expect("EXPECTED.json is readable"),
    )
    .expect("EXPECTED.json is JSON");
    // One of each container and shape; copied to a temporary folder so the
    // import does not walk the whole fixture set.
    let chosen = [
        "enslo__png_comfyui.png",
        "enslo__jpg_empty.jpg",
        "enslo__webp_sd-webui.webp",
        "enslo__png_comfyui-anima.png",
        "enslo__c2pa_png_gemini_3.1pro.png",
        "enslo__jpg_civitai-hires.jpg",
    ];
    let work = tempfile::tempdir().expect("temp dir");
    let input = work.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    for name in chosen {
        std::fs::copy(fixtures.join(name), input.join(name)).expect("copies a fixture");
    }
    let kiln = open_store(&work.path().join("store"), &["kiln-palette-plugin"], &[])
        .expect("the store opens with the plugin");
    let engine = kiln.engine();
    import_to_tier_3(engine, &input).await;
    for name in chosen {
        let asset = asset(engine, &input.join(name));
        let palette = facts(&asset, "palette");
        let size = |key: &str| expected[name][key].as_u64();
        assert_eq!(
            (
                palette.get("width").and_then(Value::as_u64),
                palette.get("height").and_then(Value::as_u64)
            ),
            (size("image_width"), size("image_height")),
            "{name}"
        );
        assert_eq!(text(palette, "colors_from"), "proxy", "{name}");
        let swatches = palette
            .get("palette")
            .and_then(Value::as_list)
            .unwrap_or_default();
        let total: f64 = swatches
            .iter()
            .filter_map(|s| s.get("share").and_then(Value::as_f64))
            .sum();
        assert!(
            swatches.len() >= 2 && (total - 1.0).abs() < 0.01,
            "{name}: {swatches:?}"
        );
        assert!(!text(palette, "aspect_label").is_empty(), "{name}");
    }
    kiln.shutdown().await.expect("the index closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_plugin_job_is_dead_lettered_at_once_and_the_rest_completes() {
    let work = tempfile::tempdir().expect("temp dir");
    let input = work.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    for i in 0..8u8 {
        write_halves(
            &input.join(format!("ok_{i}.png")),
            (32, 32),
            [i * 20, 0, 0],
            [0, 0, 255],
        );
    }
    let poison = input.join("panic_here.png");
    write_halves(&poison, (32, 32), [1, 2, 3], [4, 5, 6]);

    let kiln = open_store(&work.path().join("store"), &["kiln-test-plugin-panic"], &[])
        .expect("the store opens with the plugin");
    let engine = kiln.engine();
    engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    engine.run_until(Until::Idle).await.expect("run");

    let dead = engine.dead_letters().expect("dead letters");
    assert_eq!(dead.len(), 1, "{dead:?}");
    let letter = &dead[0];
    assert_eq!(letter.stage, "test-panic");
    assert!(letter.path.ends_with("panic_here.png"), "{letter:?}");
    assert_eq!(letter.attempts, 1, "a panic is permanent: not retried");
    assert!(
        letter.last_error.contains("panicked"),
        "{}",
        letter.last_error
    );
    assert!(
        letter
            .history
            .iter()
            .all(|a| a.error.contains("told to panic")),
        "{:?}",
        letter.history
    );
    for i in 0..8u8 {
        let asset = asset(engine, &input.join(format!("ok_{i}.png")));
        assert!(facts(&asset, "test-panic").get("asset_id").is_some());
    }
    // The poisoned asset still went through every built-in stage.
    let poisoned = asset(engine, &poison);
    facts(&poisoned, "thumbnail");
    facts(&poisoned, "metadata");
    let status = engine.status().expect("status");
    assert_eq!(status.jobs.dead, 1);
    assert_eq!(status.jobs.pending(), 0);
    kiln.shutdown().await.expect("the index closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_replaces_a_built_in_only_when_asked_and_then_reruns_it() {
    let work = tempfile::tempdir().expect("temp dir");
    let input = work.path().join("in");
    std::fs::create_dir_all(&input).expect("mkdir");
    let image = input.join("one.png");
    write_halves(&image, (16, 16), [9, 9, 9], [99, 99, 99]);
    let store = work.path().join("store");

    // Without --replace-stage a clash is an error naming the plugin file.
    let Err(err) = open_store(&store, &["kiln-test-plugin-swap"], &[]) else {
        panic!("a name clash is refused");
    };
    assert!(matches!(err, OpenError::Stage { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("`metadata`"), "{message}");
    assert!(message.contains("libkiln_test_plugin_swap"), "{message}");

    // Built-ins only: the built-in metadata stage (version 2) runs.
    let kiln = open_store(&store, &[], &[]).expect("opens");
    let engine = kiln.engine();
    assert!(
        engine.is_primary(),
        "the refused open must not keep holding the store's engine lock"
    );
    engine
        .import_dir(&input, Priority::Batch)
        .await
        .expect("import");
    engine.run_until(Until::Idle).await.expect("run");
    let before = asset(engine, &image);
    assert_eq!(before.stages["metadata"].version, Some(2));
    assert!(
        facts(&before, "metadata")
            .get("replaced_by_plugin")
            .is_none()
    );
    kiln.shutdown().await.expect("the index closes");
    // The engine lock is held until the handle is dropped, which its
    // shutdown does.

    // With the replacement asked for, the plugin's version 99 is outdated
    // facts' successor: re-running the stage brings every asset up to date.
    let kiln = open_store(&store, &["kiln-test-plugin-swap"], &["metadata"]).expect("opens");
    let (engine, sources) = (kiln.engine(), kiln.stage_sources());
    assert!(sources.contains(&(
        "metadata".to_owned(),
        StageSource::Plugin(plugin_library("kiln-test-plugin-swap"))
    )));
    // Opening the primary queued the outdated stage for the one asset; a
    // re-run by name does not double that job.
    let status = engine.status().expect("status");
    let queued: Vec<u64> = status
        .imports
        .iter()
        .filter(|i| i.root == "stages:metadata")
        .map(|i| i.jobs().pending())
        .collect();
    assert_eq!(queued, vec![1], "{:?}", status.imports);
    let (_, enqueued) = engine
        .rerun_outdated("metadata", Priority::Batch)
        .await
        .expect("rerun");
    assert_eq!(enqueued, 0);
    engine.run_until(Until::Idle).await.expect("run");
    let after = asset(engine, &image);
    assert_eq!(after.stages["metadata"].version, Some(99));
    assert_eq!(
        facts(&after, "metadata").get("replaced_by_plugin"),
        Some(&Value::Bool(true))
    );
    kiln.shutdown().await.expect("the index closes");
}
