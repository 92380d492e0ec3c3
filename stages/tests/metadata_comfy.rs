//! Acceptance: on the ComfyUI outputs built with custom node packs in
//! `KILN_COMFY_FIXTURES`, every field `EXPECTED.json` states is compared
//! with what kiln extracts. A field kiln leaves unknown is *missing*; a
//! field kiln states with another value is a *contradiction*. Prints the
//! share of stated fields extracted and every contradiction; fails on any
//! contradiction or below the threshold.
//!
//! Files kiln does not read as images (the videos) are listed and their
//! fields counted as missing; the share on the files read is printed and
//! checked on its own.

use kiln_stages::metadata::{Generation, SamplingPass, extract};
use kiln_testkit::fixtures;
use serde_json::{Map, Value};
use std::path::Path;

fn expected(dir: &Path) -> Map<String, Value> {
    let text = std::fs::read_to_string(dir.join("EXPECTED.json")).expect("EXPECTED.json readable");
    match serde_json::from_str(&text).expect("EXPECTED.json parses") {
        Value::Object(map) => map,
        _ => panic!("EXPECTED.json is not an object"),
    }
}

const FIELDS: [&str; 14] = [
    "positive_prompt",
    "negative_prompt",
    "seed",
    "steps",
    "cfg",
    "sampler",
    "scheduler",
    "model",
    "width",
    "height",
    "clip_skip",
    "denoise",
    "loras",
    "ambiguous",
];

const PASS_FIELDS: [&str; 12] = [
    "seed",
    "steps",
    "cfg",
    "sampler",
    "scheduler",
    "denoise",
    "positive_prompt",
    "negative_prompt",
    "model",
    "loras",
    "width",
    "height",
];

fn text(v: &Option<String>) -> Value {
    v.clone().map_or(Value::Null, Value::String)
}

fn float(v: Option<f64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

fn uint(v: Option<u64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

fn loras(loras: Option<&Vec<kiln_stages::metadata::Lora>>) -> Value {
    loras.map_or(Value::Null, |loras| {
        loras
            .iter()
            .map(|l| serde_json::json!({"name": l.name, "strength": l.strength}))
            .collect()
    })
}

fn actual(g: &Generation, field: &str) -> Value {
    match field {
        "positive_prompt" => text(&g.positive_prompt),
        "negative_prompt" => text(&g.negative_prompt),
        "seed" => uint(g.seed),
        "steps" => uint(g.steps),
        "cfg" => float(g.cfg),
        "sampler" => text(&g.sampler),
        "scheduler" => text(&g.scheduler),
        "model" => text(&g.model),
        "width" => uint(g.width),
        "height" => uint(g.height),
        "clip_skip" => uint(g.clip_skip),
        "denoise" => float(g.denoise),
        "loras" => loras(g.loras.as_ref()),
        "ambiguous" => Value::Bool(g.ambiguous),
        other => panic!("no comparison for field {other}"),
    }
}

fn pass_value(p: &SamplingPass, field: &str) -> Value {
    match field {
        "seed" => uint(p.seed),
        "steps" => uint(p.steps),
        "cfg" => float(p.cfg),
        "sampler" => text(&p.sampler),
        "scheduler" => text(&p.scheduler),
        "denoise" => float(p.denoise),
        "positive_prompt" => text(&p.positive_prompt),
        "negative_prompt" => text(&p.negative_prompt),
        "model" => text(&p.model),
        "loras" => loras(p.loras.as_ref()),
        "width" => uint(p.width),
        "height" => uint(p.height),
        other => panic!("no comparison for pass field {other}"),
    }
}

/// Strings exactly, numbers numerically, lists member by member, objects
/// only on the members the expectation states that kiln's shape has.
fn matches(want: &Value, got: &Value) -> bool {
    match (want, got) {
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
            w.len() == a.len() && w.iter().zip(a).all(|(w, a)| matches(w, a))
        }
        (Value::Object(w), Value::Object(a)) => w
            .iter()
            .filter(|(k, _)| a.contains_key(*k))
            .all(|(k, wv)| matches(wv, &a[k])),
        (w, a) => w == a,
    }
}

#[derive(Default)]
struct Tally {
    stated: usize,
    extracted: usize,
    missing: Vec<String>,
    contradictions: Vec<String>,
}

impl Tally {
    fn check(&mut self, what: String, want: &Value, got: &Value) {
        self.stated += 1;
        if got.is_null() {
            self.missing.push(format!("{what}: want {}", short(want)));
        } else if matches(want, got) {
            self.extracted += 1;
        } else {
            self.contradictions
                .push(format!("{what}: want {}, got {}", short(want), short(got)));
        }
    }

    fn percent(&self) -> f64 {
        100.0 * self.extracted as f64 / self.stated.max(1) as f64
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 90 {
        format!("{}…", s.chars().take(90).collect::<String>())
    } else {
        s
    }
}

#[test]
fn comfy_custom_fixtures_score() {
    let Some(dir) = fixtures::comfy_custom() else {
        return;
    };
    let expected = expected(&dir);
    let mut top = Tally::default();
    let mut read_top = Tally::default();
    let mut passes = Tally::default();
    let mut unread = Vec::new();
    let mut files = 0;
    for (file, spec) in &expected {
        if file.starts_with('_') {
            continue;
        }
        files += 1;
        let bytes = std::fs::read(dir.join(file)).expect("fixture readable");
        let extracted = extract(&bytes, Some(file));
        let read = extracted.is_ok();
        let generation = match extracted {
            Ok(x) => {
                // Every custom node class is searchable (`node:`), resolved
                // or not.
                let nodes = x
                    .graph
                    .as_ref()
                    .map(|g| g.nodes.clone())
                    .unwrap_or_default();
                for class in spec["custom_nodes"].as_array().into_iter().flatten() {
                    let class = class.as_str().unwrap_or_default();
                    assert!(
                        nodes.iter().any(|n| n == class),
                        "{file}: node class {class} missing from the graph facts"
                    );
                }
                x.generation
            }
            Err(error) => {
                unread.push(format!("{file}: {error}"));
                Generation::default()
            }
        };
        for field in FIELDS {
            if let Some(want) = spec.get(field) {
                let got = if generation.generator.is_none() && field == "ambiguous" {
                    Value::Null
                } else {
                    actual(&generation, field)
                };
                top.check(format!("{file} {field}"), want, &got);
                if read {
                    read_top.check(format!("{file} {field}"), want, &got);
                }
            }
        }
        for want in spec
            .get("samplers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let node = want["node"].as_str().unwrap_or("?");
            let got = generation.samplers.iter().find(|p| p.node == node);
            for field in PASS_FIELDS {
                let Some(w) = want.get(field) else { continue };
                let g = got.map_or(Value::Null, |p| pass_value(p, field));
                passes.check(format!("{file} pass {node} {field}"), w, &g);
            }
        }
    }
    println!(
        "{files} files; top-level fields: {} of {} stated extracted ({:.1}%), {} missing, {} contradicting",
        top.extracted,
        top.stated,
        top.percent(),
        top.missing.len(),
        top.contradictions.len()
    );
    println!(
        "of the files read: {} of {} stated top-level fields extracted ({:.1}%)",
        read_top.extracted,
        read_top.stated,
        read_top.percent()
    );
    println!(
        "per-pass fields: {} of {} stated extracted ({:.1}%), {} missing, {} contradicting",
        passes.extracted,
        passes.stated,
        passes.percent(),
        passes.missing.len(),
        passes.contradictions.len()
    );
    for file in &unread {
        println!("UNREAD {file}");
    }
    for m in top.missing.iter().chain(&passes.missing) {
        println!("MISSING {m}");
    }
    for c in top.contradictions.iter().chain(&passes.contradictions) {
        println!("CONTRADICTION {c}");
    }
    assert!(top.stated > 150, "too few stated fields ({})", top.stated);
    assert!(
        unread.iter().all(|u| u.contains(".mp4")),
        "only the videos may be unread: {unread:?}"
    );
    assert!(
        top.contradictions.is_empty() && passes.contradictions.is_empty(),
        "kiln states values the graphs contradict"
    );
    // Every file kiln reads must give nearly every stated field; the
    // videos' fields count as missing until their containers are read.
    assert!(
        read_top.percent() >= 99.0,
        "top-level score on the files read {:.1}% is below 99%",
        read_top.percent()
    );
    assert!(
        top.percent() >= 85.0,
        "top-level score {:.1}% is below 85%",
        top.percent()
    );
}
