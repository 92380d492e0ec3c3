//! Acceptance: on the real sample files in `KILN_REAL_FIXTURES`, every field
//! that `EXPECTED.json` states is extracted equal. Prints a score per
//! generator; fails below 98% of all stated fields, or below 100% for the
//! A1111 family.

use kiln_plugin_api::{Stage, StageInput, Value as Fact};
use kiln_stages::metadata::{ExtractError, Extraction, Generation, MetadataStage, extract};
use kiln_testkit::fixtures;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

fn expected(dir: &Path) -> Map<String, Value> {
    let text = std::fs::read_to_string(dir.join("EXPECTED.json")).expect("EXPECTED.json readable");
    match serde_json::from_str(&text).expect("EXPECTED.json parses") {
        Value::Object(map) => map,
        _ => panic!("EXPECTED.json is not an object"),
    }
}

/// The extracted value of one field, as JSON for comparison.
fn actual(g: &Generation, field: &str) -> Value {
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    let float = |v: Option<f64>| v.map_or(Value::Null, Value::from);
    let uint = |v: Option<u64>| v.map_or(Value::Null, Value::from);
    match field {
        "positive_prompt" => text(&g.positive_prompt),
        "negative_prompt" => text(&g.negative_prompt),
        "seed" => uint(g.seed),
        "steps" => uint(g.steps),
        "cfg" => float(g.cfg),
        "sampler" => text(&g.sampler),
        "scheduler" => text(&g.scheduler),
        "model" => text(&g.model),
        "model_hash" => text(&g.model_hash),
        "width" => uint(g.width),
        "height" => uint(g.height),
        "clip_skip" => uint(g.clip_skip),
        "denoise" => float(g.denoise),
        "use_coords" => g.use_coords.map_or(Value::Null, Value::Bool),
        "use_order" => g.use_order.map_or(Value::Null, Value::Bool),
        "negative_zeroed" => Value::Bool(g.negative_zeroed),
        "ambiguous" => Value::Bool(g.ambiguous),
        "loras" => g.loras.as_ref().map_or(Value::Null, |loras| {
            loras
                .iter()
                .map(|l| serde_json::json!({"name": l.name, "strength": l.strength}))
                .collect()
        }),
        "hires" => g.hires.as_ref().map_or(Value::Null, |h| {
            serde_json::json!({"upscaler": h.upscaler, "scale": h.scale, "steps": h.steps, "denoise": h.denoise})
        }),
        "character_prompts" => g
            .character_prompts
            .iter()
            .map(|c| {
                serde_json::json!({
                    "prompt": c.prompt,
                    "center": c.center.map(|(x, y)| serde_json::json!({"x": x, "y": y})),
                })
            })
            .collect(),
        "c2pa" => g.c2pa.as_ref().map_or(Value::Null, |c| {
            serde_json::json!({
                "vendor": c.vendor, "ai_generated": c.ai_generated,
                "digital_source_type": c.digital_source_type, "claim_generator": c.claim_generator,
            })
        }),
        other => panic!("no comparison for field {other}"),
    }
}

const FIELDS: [&str; 20] = [
    "positive_prompt",
    "negative_prompt",
    "seed",
    "steps",
    "cfg",
    "sampler",
    "scheduler",
    "model",
    "model_hash",
    "width",
    "height",
    "clip_skip",
    "denoise",
    "loras",
    "hires",
    "character_prompts",
    "use_coords",
    "use_order",
    "negative_zeroed",
    "c2pa",
];

/// Whether `actual` matches the stated `want`: strings exactly (or trimmed),
/// numbers numerically, lists and objects member by member (an object member
/// the expectation does not state is not compared).
fn matches(want: &Value, actual: &Value, trim: bool) -> bool {
    match (want, actual) {
        (Value::String(w), Value::String(a)) => {
            if trim {
                w.trim() == a.trim()
            } else {
                w == a
            }
        }
        (Value::Number(w), Value::Number(a)) => match (w.as_u64(), a.as_u64()) {
            (Some(w), Some(a)) => w == a,
            _ => {
                let (w, a) = (
                    w.as_f64().unwrap_or(f64::NAN),
                    a.as_f64().unwrap_or(f64::NAN),
                );
                (w - a).abs() <= 1e-9 * w.abs().max(1.0)
            }
        },
        (Value::Array(w), Value::Array(a)) => {
            w.len() == a.len() && w.iter().zip(a).all(|(w, a)| matches(w, a, trim))
        }
        (Value::Object(w), Value::Object(a)) => w
            .iter()
            .all(|(k, wv)| matches(wv, a.get(k).unwrap_or(&Value::Null), trim)),
        (w, a) => w == a,
    }
}

#[derive(Default)]
struct Score {
    passed: usize,
    total: usize,
}

#[test]
fn real_fixtures_score() {
    let Some(dir) = fixtures::real() else {
        return;
    };
    let expected = expected(&dir);
    let mut scores: BTreeMap<String, Score> = BTreeMap::new();
    let mut failures = Vec::new();
    for (file, spec) in &expected {
        if file.starts_with('_') {
            continue;
        }
        let generator = spec["generator"].as_str().unwrap_or("?").to_owned();
        let bytes = std::fs::read(dir.join(file)).expect("fixture readable");
        let mut check = |field: &str, ok: bool, detail: String| {
            let score = scores.entry(generator.clone()).or_default();
            score.total += 1;
            if ok {
                score.passed += 1;
            } else {
                failures.push(format!("{file} {field}: {detail}"));
            }
        };
        let extraction = match extract(&bytes, Some(file)) {
            Ok(extraction) => extraction,
            Err(error) => {
                let empty_ok = bytes.is_empty() && matches!(error, ExtractError::Empty);
                check("readable", empty_ok, error.to_string());
                continue;
            }
        };
        check_no_parameters(spec, &extraction, &mut check);
        let trim = spec["prompt_compare"].as_str() == Some("trim");
        for field in FIELDS.iter().chain(["ambiguous"].iter()) {
            let Some(want) = spec.get(*field) else {
                continue;
            };
            let got = actual(&extraction.generation, field);
            check(
                field,
                matches(want, &got, trim),
                format!("want {want}, got {got}"),
            );
        }
        if let Some(Value::Object(disputed)) = spec.get("upstream_disputed") {
            for (field, wrong) in disputed {
                let got = actual(&extraction.generation, field);
                check(
                    &format!("{field} (disputed)"),
                    !matches(wrong, &got, trim),
                    format!("equals the disputed upstream value {wrong}"),
                );
            }
        }
    }
    let (mut passed, mut total) = (0, 0);
    println!(
        "{:<18} {:>6} {:>6} {:>8}",
        "generator", "passed", "stated", "score"
    );
    for (generator, score) in &scores {
        passed += score.passed;
        total += score.total;
        println!(
            "{generator:<18} {:>6} {:>6} {:>7.1}%",
            score.passed,
            score.total,
            100.0 * score.passed as f64 / score.total as f64
        );
    }
    let percent = 100.0 * passed as f64 / total.max(1) as f64;
    println!("{:<18} {passed:>6} {total:>6} {percent:>7.1}%", "TOTAL");
    for failure in &failures {
        println!("MISMATCH {failure}");
    }
    assert!(
        total > 400,
        "too few stated fields ({total}); is EXPECTED.json complete?"
    );
    assert!(percent >= 98.0, "score {percent:.1}% is below 98%");
    let a1111 = scores.get("a1111").expect("a1111 files present");
    assert_eq!(
        a1111.passed, a1111.total,
        "the A1111 family must score 100%"
    );
}

/// Files with no generation metadata, or C2PA only, give no parameters and
/// still succeed.
fn check_no_parameters(spec: &Value, x: &Extraction, check: &mut impl FnMut(&str, bool, String)) {
    match spec["generator"].as_str() {
        Some("none") => check(
            "no parameters",
            x.generation.is_empty() && x.generation.generator.is_none(),
            format!("got {:?}", x.generation),
        ),
        Some("c2pa-only") => check(
            "c2pa only",
            x.generation.is_empty() && x.generation.generator.as_deref() == Some("c2pa-only"),
            format!("got {:?}", x.generation),
        ),
        _ => {}
    }
    if let Some(text) = spec.get("raw_text").and_then(Value::as_str) {
        check(
            "raw_text",
            x.raw.values().any(|v| v == text),
            format!("raw {:?}", x.raw),
        );
    }
}

#[test]
fn stage_turns_real_files_into_facts_or_clear_errors() {
    let Some(dir) = fixtures::real() else {
        return;
    };
    let stage = MetadataStage;
    let info = stage.info();
    assert_eq!(
        (info.name.as_str(), info.tier, info.version),
        ("metadata", 2, 2)
    );
    assert_eq!(info.after, ["hash"]);

    let input = |name: &str| StageInput::for_path(1, dir.join(name).to_string_lossy().into_owned());
    let out = stage
        .process(&input("enslo__png_sd-webui.png"))
        .expect("facts");
    let generation = out.facts.get("generation").expect("generation");
    assert_eq!(
        generation.get("seed").and_then(Fact::as_u64),
        Some(3_782_896_554)
    );
    assert_eq!(
        generation.get("generator").and_then(Fact::as_str),
        Some("a1111")
    );
    assert!(
        out.facts
            .get("raw")
            .and_then(|r| r.get("iTXt:parameters"))
            .is_some()
    );

    let empty = stage
        .process(&input("enslo__png_empty.png"))
        .expect("facts");
    assert!(
        empty
            .facts
            .get("generation")
            .and_then(|g| g.get("positive_prompt"))
            .is_some_and(Fact::is_null)
    );

    let error = stage
        .process(&input("sdp__bad_images_empty_file.png"))
        .expect_err("zero bytes is an error");
    assert!(!error.is_transient());
    assert!(error.message().contains("empty"), "{}", error.message());
}
