//! `kiln search`, `similar`, `sessions` and `reindex` through the real binary,
//! on a generated corpus whose generation parameters are known.

mod common;

use common::{json, kiln, run, search_ids};
use image::RgbImage;
use kiln_testkit::paint;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A picture with a gradient, circles and stripes; `variant` changes it.
fn picture(variant: u32, width: u32, height: u32) -> RgbImage {
    let cx = (variant * 37 % width) as f32;
    let cy = (variant * 53 % height) as f32;
    let hue = (variant * 71 % 255) as u8;
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let inside = (fx - cx).powi(2) + (fy - cy).powi(2) < (width as f32 / 4.0).powi(2);
        let base = [
            (fx / width as f32 * 200.0) as u8,
            (fy / height as f32 * 180.0) as u8,
            hue,
        ];
        let mut p = if inside {
            [255 - hue, hue / 2, 200]
        } else {
            base
        };
        if (x / 4 + y / 6) % 2 == 0 {
            p = p.map(|c| c.saturating_add(10));
        }
        image::Rgb(p)
    })
}

struct Made {
    prompt: &'static str,
    model: &'static str,
    lora: Option<&'static str>,
    seed: u64,
    steps: u64,
    cfg: f64,
}

fn infotext(m: &Made) -> String {
    let lora = m
        .lora
        .map(|l| format!(" <lora:{l}:0.8>"))
        .unwrap_or_default();
    format!(
        "{}{lora}\nNegative prompt: blurry, lowres\nSteps: {}, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: {}, Seed: {}, Size: 256x192, Model: {}",
        m.prompt, m.steps, m.cfg, m.seed, m.model
    )
}

fn write_png(dir: &Path, name: &str, image: &RgbImage, m: &Made, mtime: SystemTime) -> PathBuf {
    let path = dir.join(name);
    paint::write_png(&path, image, Some(&infotext(m)));
    paint::set_modified(&path, mtime);
    path
}

const CORPUS: [Made; 4] = [
    Made {
        prompt: "neon city at night, rain, reflections",
        model: "juggernautXL_v9Rundiffusion",
        lora: Some("cyberpunk_style"),
        seed: 1111,
        steps: 30,
        cfg: 7.0,
    },
    Made {
        prompt: "quiet forest lake, morning mist",
        model: "dreamshaper_8",
        lora: None,
        seed: 2222,
        steps: 20,
        cfg: 5.5,
    },
    Made {
        prompt: "neon city street market, crowds",
        model: "dreamshaper_8",
        lora: None,
        seed: 3333,
        steps: 40,
        cfg: 9.0,
    },
    Made {
        prompt: "portrait of an old sailor, blurry background",
        model: "juggernautXL_v9Rundiffusion",
        lora: Some("film_grain"),
        seed: 4444,
        steps: 25,
        cfg: 6.0,
    },
];

/// Writes the corpus: four images in a first sitting, then the same four
/// settings with other pictures five hours later, and a resized copy of the
/// first image.
fn corpus(dir: &Path) -> Vec<PathBuf> {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut paths = Vec::new();
    for (i, m) in CORPUS.iter().enumerate() {
        let at = start + Duration::from_secs(60 * i as u64);
        paths.push(write_png(
            dir,
            &format!("a{i}.png"),
            &picture(i as u32 + 1, 256, 192),
            m,
            at,
        ));
    }
    for (i, m) in CORPUS.iter().enumerate() {
        let at = start + Duration::from_secs(5 * 3600 + 60 * i as u64);
        paths.push(write_png(
            dir,
            &format!("b{i}.png"),
            &picture(i as u32 + 11, 256, 192),
            m,
            at,
        ));
    }
    let first = picture(1, 256, 192);
    let resized = image::imageops::resize(&first, 200, 150, image::imageops::FilterType::Lanczos3);
    paths.push(write_png(
        dir,
        "a0-resized.png",
        &resized,
        &CORPUS[0],
        start + Duration::from_secs(30),
    ));
    paths
}

fn hit_paths(result: &Json) -> Vec<String> {
    result["hits"]
        .as_array()
        .map(|hits| {
            hits.iter()
                .filter_map(|h| h["path"].as_str())
                .filter_map(|p| {
                    Path::new(p)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                })
                .collect()
        })
        .unwrap_or_default()
}

fn search(store: &Path, query: &str) -> Vec<String> {
    let mut names = hit_paths(&json(store, &["search", query, "--limit", "50"]));
    names.sort();
    names
}

#[test]
fn search_similar_sessions_and_reindex() {
    let tmp = tempfile::tempdir().expect("test setup");
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).expect("test setup");
    corpus(&input);
    let store = tmp.path().join("store");
    let out = run(kiln(&store).args(["import", "--quiet"]).arg(&input));
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Prompt words, model substring, LoRA, seed, ranges, exclusion.
    assert_eq!(search(&store, "neon city").len(), 5);
    assert_eq!(search(&store, "forest"), ["a1.png", "b1.png"]);
    assert_eq!(search(&store, "model:juggernaut").len(), 5);
    assert_eq!(search(&store, "lora:film"), ["a3.png", "b3.png"]);
    assert_eq!(search(&store, "seed:2222"), ["a1.png", "b1.png"]);
    assert_eq!(
        search(&store, "steps:>=30"),
        ["a0-resized.png", "a0.png", "a2.png", "b0.png", "b2.png"]
    );
    assert_eq!(
        search(&store, "cfg:5..6.5"),
        ["a1.png", "a3.png", "b1.png", "b3.png"]
    );
    assert_eq!(
        search(&store, "neon city model:juggernaut steps:>=30 -rain").len(),
        0
    );
    assert_eq!(search(&store, "neon -market model:dreamshaper").len(), 0);
    assert_eq!(
        search(&store, "-blurry").len(),
        7,
        "negative prompts are not free text"
    );
    let all = json(&store, &["search", "", "--sort", "score"]);
    assert_eq!(all["total"], 9);

    // The resized copy is the nearest neighbour of its original.
    let original = input.join("a0.png");
    let similar = json(
        &store,
        &[
            "similar",
            original.to_str().expect("test setup"),
            "--limit",
            "3",
        ],
    );
    assert_eq!(
        hit_paths(&similar).first().map(String::as_str),
        Some("a0-resized.png"),
        "{similar}"
    );
    assert!(similar["hits"][0]["distance"].as_f64().is_some());

    // Two sittings five hours apart: two sessions per model family.
    let sessions = json(&store, &["sessions"]);
    let list = sessions["sessions"].as_array().expect("test setup");
    assert_eq!(list.len(), 4, "{sessions}");
    let sizes: Vec<u64> = list
        .iter()
        .map(|s| s["assets"].as_u64().expect("test setup"))
        .collect();
    assert_eq!(sizes.iter().sum::<u64>(), 9);

    // `session:` is a search field, alone or with other terms.
    let biggest = list
        .iter()
        .max_by_key(|s| s["assets"].as_u64())
        .expect("test setup");
    let id = biggest["id"].as_str().expect("test setup");
    let mut members: Vec<u64> = biggest["asset_ids"]
        .as_array()
        .expect("test setup")
        .iter()
        .filter_map(Json::as_u64)
        .collect();
    members.sort_unstable();
    let (mut ids, found) = search_ids(&store, &format!("session:{id}"), 50);
    ids.sort_unstable();
    assert_eq!(ids, members, "{found}");
    let narrowed = json(&store, &["search", &format!("session:{id} -neon")]);
    assert!(
        narrowed["total"].as_u64().expect("total") < found["total"].as_u64().expect("total"),
        "{narrowed}"
    );
    let excluded = json(&store, &["search", &format!("-session:{id}")]);
    assert_eq!(
        excluded["total"].as_u64(),
        Some(9 - members.len() as u64),
        "{excluded}"
    );
    assert_eq!(search(&store, "session:000000000000").len(), 0);

    // Scores are a field too, with ranges.
    assert_eq!(search(&store, "score:0..100").len(), 9);
    assert_eq!(search(&store, "score:>100").len(), 0);
    let best = json(&store, &["search", "", "--sort", "score", "--limit", "1"]);
    let top = best["hits"][0]["score"].as_f64().expect("a score");
    let at_least = search(&store, &format!("score:>={}", top - 1e-6));
    assert!(!at_least.is_empty() && at_least.len() < 9, "{at_least:?}");

    // `show` names the resized copy as a near-duplicate of its original and
    // puts the asset in the session `sessions` listed for it.
    let shown = json(&store, &["show", original.to_str().expect("test setup")]);
    let copy = json(
        &store,
        &[
            "show",
            input.join("a0-resized.png").to_str().expect("test setup"),
        ],
    );
    assert!(
        shown["near_duplicates"]
            .as_array()
            .is_some_and(|d| d.contains(&copy["id"])),
        "{shown}"
    );
    let session = shown["session"].as_str().expect("a session");
    let listed = list
        .iter()
        .find(|s| s["id"] == session)
        .expect("the session is listed");
    assert!(
        listed["asset_ids"]
            .as_array()
            .is_some_and(|a| a.contains(&shown["id"])),
        "{listed}"
    );

    // A rebuild gives the same answers.
    let rebuilt = json(&store, &["reindex"]);
    assert_eq!(rebuilt["indexed"], 9);
    assert_eq!(
        search(&store, "lora:cyberpunk"),
        ["a0-resized.png", "a0.png", "b0.png"]
    );
}
