//! The tier-3 gate through the real binary: tiny images, files without
//! generation parameters and assets over an import's `--enrich-budget` show
//! their tier-3 stages as skipped, with the reason, and count as skipped in
//! `status`, not as done or pending.

mod common;

use common::{json, kiln, num, run};
use image::RgbImage;
use kiln_testkit::paint;
use serde_json::Value as Json;
use std::path::Path;

const TIER3_STAGES: [&str; 4] = ["embed", "score", "cluster", "search-enrich"];

fn write_png(path: &Path, side: (u32, u32), variant: u8, parameters: Option<&str>) {
    let image = RgbImage::from_fn(side.0, side.1, |x, y| {
        image::Rgb([
            (x * 3) as u8 ^ variant,
            (y * 5) as u8,
            variant.wrapping_mul(40),
        ])
    });
    paint::write_png(path, &image, parameters);
}

fn parameters(seed: u32) -> String {
    format!(
        "a lighthouse at dusk\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: {seed}, Size: 256x192, Model: dreamshaper_8"
    )
}

/// Four normal generated images, two tiny generated ones, two plain photos.
fn corpus(dir: &Path) {
    std::fs::create_dir_all(dir).expect("test setup");
    for i in 0..4u8 {
        let text = parameters(u32::from(i));
        write_png(&dir.join(format!("gen{i}.png")), (256, 192), i, Some(&text));
    }
    for i in 0..2u8 {
        let text = parameters(100 + u32::from(i));
        write_png(
            &dir.join(format!("tiny{i}.png")),
            (64, 48),
            10 + i,
            Some(&text),
        );
    }
    for i in 0..2u8 {
        write_png(&dir.join(format!("plain{i}.png")), (256, 192), 20 + i, None);
    }
}

/// Imports and returns what the import printed on standard output.
fn import(store: &Path, global: &[&str], input: &Path, extra: &[&str]) -> String {
    let out = run(kiln(store)
        .args(global)
        .arg("import")
        .args(extra)
        .arg(input));
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn show(store: &Path, path: &Path) -> Json {
    json(store, &["show", path.to_str().expect("test setup")])
}

/// The reason of every skipped tier-3 stage; fails unless all four are
/// skipped with one reason.
fn skip_reason(shown: &Json) -> String {
    let reasons: Vec<&str> = TIER3_STAGES
        .iter()
        .map(|stage| {
            assert_eq!(shown["stages"][stage], "skipped", "{stage}: {shown}");
            shown["skipped"][stage].as_str().expect("a reason")
        })
        .collect();
    assert!(reasons.windows(2).all(|w| w[0] == w[1]), "{reasons:?}");
    reasons[0].to_owned()
}

#[test]
fn tiny_images_are_skipped_with_the_reason_and_counted_as_skipped() {
    let tmp = tempfile::tempdir().expect("test setup");
    let input = tmp.path().join("in");
    corpus(&input);
    let store = tmp.path().join("store");
    let printed = import(&store, &[], &input, &[]);
    assert!(printed.contains("2 asset(s) skipped tier 3"), "{printed}");

    let status = json(&store, &["status"]);
    assert_eq!(num(&status, "/tiers/3/skipped"), 2 * 4, "{status}");
    assert_eq!(num(&status, "/tiers/3/done"), 6 * 4, "{status}");
    assert_eq!(num(&status, "/tiers/3/pending"), 0, "{status}");

    assert!(status["imports"][0]["enrich_budget"].is_null(), "{status}");

    let tiny = show(&store, &input.join("tiny0.png"));
    assert_eq!(tiny["state"], "done", "{tiny}");
    assert!(skip_reason(&tiny).contains("tiny image"), "{tiny}");
    assert_eq!(tiny["stages"]["metadata"], "done");
    assert!(tiny["quality"].is_null() && tiny["session"].is_null());

    let normal = show(&store, &input.join("plain0.png"));
    for stage in TIER3_STAGES {
        assert_eq!(normal["stages"][stage], "done", "{normal}");
    }
    assert_eq!(normal["skipped"], serde_json::json!({}));

    // Skipped assets stay searchable: the index is tier 2.
    let found = json(&store, &["search", "path:tiny0"]);
    assert_eq!(found["total"], 1, "{found}");
}

#[test]
fn require_generation_and_a_budget_decide_who_is_enriched() {
    let tmp = tempfile::tempdir().expect("test setup");
    let input = tmp.path().join("in");
    corpus(&input);
    let store = tmp.path().join("store");
    let printed = import(
        &store,
        &["--enrich-require-generation"],
        &input,
        &["--enrich-budget", "3"],
    );
    assert!(printed.contains("5 asset(s) skipped tier 3"), "{printed}");

    // Rules first (they spend no budget): two tiny, two without parameters;
    // of the four left, three fit the budget.
    let status = json(&store, &["status"]);
    assert_eq!(num(&status, "/tiers/3/done"), 3 * 4, "{status}");
    assert_eq!(num(&status, "/tiers/3/skipped"), 5 * 4, "{status}");
    assert_eq!(num(&status, "/jobs/skipped"), 5 * 4, "{status}");
    assert_eq!(
        num(&status, "/imports/0/enrich_budget/limit"),
        3,
        "{status}"
    );
    assert_eq!(
        num(&status, "/imports/0/enrich_budget/spent"),
        3,
        "{status}"
    );

    let plain = show(&store, &input.join("plain1.png"));
    assert_eq!(skip_reason(&plain), "no generation parameters");
    let generated: Vec<Json> = (0..4)
        .map(|i| show(&store, &input.join(format!("gen{i}.png"))))
        .collect();
    let over_budget: Vec<String> = generated
        .iter()
        .filter(|g| g["stages"]["embed"] == "skipped")
        .map(skip_reason)
        .collect();
    assert_eq!(over_budget.len(), 1, "{generated:?}");
    assert!(over_budget[0].contains("budget"), "{over_budget:?}");
    for g in &generated {
        assert_eq!(g["state"], "done", "{g}");
    }

    // The text views say skipped too.
    let out = run(kiln(&store).args(["--enrich-require-generation", "status"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tier 3  enriched   12 done, 20 skipped, 0 pending"),
        "{text}"
    );
    let out = run(kiln(&store).arg("show").arg(input.join("plain1.png")));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("stage      embed: skipped (no generation parameters)"),
        "{text}"
    );
}
