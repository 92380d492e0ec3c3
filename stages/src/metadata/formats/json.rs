//! JSON helpers shared by the JSON-based formats: bounded parsing, lenient
//! number and text access, and a mapper from the many key spellings tools use
//! (`cfg_scale`, `cfgScale`, `CfgScale`, `guidance_scale`, …) to
//! [`Generation`] fields.

use crate::metadata::model::{Generation, Lora};
use serde_json::{Map, Value};

/// Parsed JSON takes about this many times the bytes of its text (a
/// `serde_json::Value` per number, string and object entry).
const PARSED_BYTES_PER_TEXT_BYTE: u64 = 8;

/// Texts at least this long reserve their parsing memory from the decoding
/// budget ([`crate::memory`]); shorter ones are not worth the bookkeeping.
const RESERVE_FROM_BYTES: usize = 1 << 20;

/// Parses JSON text. serde_json refuses nesting deeper than 128 levels, so a
/// hostile document cannot exhaust the stack; trailing NULs (C-string
/// writers) are ignored. A large text (a workflow of hundreds of thousands
/// of nodes) holds its estimated parsing memory from the budget while it is
/// parsed, so several do not parse side by side, and one larger than the
/// whole budget is refused with the reason.
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    let trimmed = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    let _held = if trimmed.len() >= RESERVE_FROM_BYTES {
        let needed = (trimmed.len() as u64).saturating_mul(PARSED_BYTES_PER_TEXT_BYTE);
        Some(crate::memory::reserve(needed).map_err(|over| {
            format!(
                "a JSON text of {} MiB needs about {} MiB to parse, more than the whole memory budget of {} MiB (--memory)",
                trimmed.len() >> 20,
                over.needed >> 20,
                over.budget >> 20
            )
        })?)
    } else {
        None
    };
    match serde_json::from_str(trimmed) {
        Ok(value) => Ok(value),
        Err(e) => {
            // Python's json module (ComfyUI's server) writes the non-finite
            // numbers `NaN`, `Infinity` and `-Infinity` as bare words, which
            // JSON does not allow: read them as null.
            let Some(fixed) = null_non_finite(trimmed) else {
                return Err(format!("invalid JSON: {e}"));
            };
            serde_json::from_str(&fixed).map_err(|e| format!("invalid JSON: {e}"))
        }
    }
}

/// The text with every bare `NaN`, `Infinity` and `-Infinity` outside
/// strings written as `null`, or `None` when it has none.
fn null_non_finite(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut changed = false;
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let word = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|w| bytes[i..].starts_with(w.as_bytes()));
        if let Some(word) = word {
            out.push_str(&text[last..i]);
            out.push_str("null");
            i += word.len();
            last = i;
            changed = true;
            continue;
        }
        i += 1;
    }
    out.push_str(&text[last..]);
    changed.then_some(out)
}

/// Parses text that is expected to be a JSON object; anything else is `None`.
pub(crate) fn parse_object(text: &str) -> Option<Map<String, Value>> {
    let trimmed = text.trim_start_matches(|c: char| c == '\0' || c.is_whitespace());
    if !trimmed.starts_with('{') {
        return None;
    }
    match parse(trimmed) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// A string value (other JSON types are `None`).
pub(crate) fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// A number, also when written as a string (`"6952411511246973023"`).
pub(crate) fn float(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

/// A non-negative integer, also when written as a string or as `20.0`.
pub(crate) fn uint(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => number_uint(n),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A JSON number as a non-negative integer: exact when written as an
/// integer, else a whole float below `u64::MAX` (`20.0`).
pub(crate) fn number_uint(n: &serde_json::Number) -> Option<u64> {
    n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19)
            .map(|f| f as u64)
    })
}

/// A seed: negative values (`-1`, "random") mean the seed was drawn at run
/// time and is not stated.
pub(crate) fn seed(value: Option<&Value>) -> Option<u64> {
    uint(value)
}

/// The first key of `keys` present in `map` with a non-null value.
pub(crate) fn first<'a>(map: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a Value> {
    keys.iter()
        .filter_map(|k| map.get(*k))
        .find(|v| !v.is_null())
}

/// Parses `"1024 x 1024"`, `"(768, 1280)"`, `"1024x768"` into a size.
pub(crate) fn size_text(text: &str) -> Option<(u64, u64)> {
    let mut numbers = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().ok());
    let width = numbers.next()??;
    let height = numbers.next()??;
    Some((width, height))
}

/// Maps the usual key spellings of a flat JSON parameter object.
pub(crate) fn map_common(map: &Map<String, Value>) -> Generation {
    let mut g = Generation {
        positive_prompt: text(first(
            map,
            &[
                "prompt",
                "Prompt",
                "positive_prompt",
                "PositivePrompt",
                "positivePrompt",
                "positive",
            ],
        )),
        negative_prompt: text(first(
            map,
            &[
                "negative_prompt",
                "negativePrompt",
                "NegativePrompt",
                "negativeprompt",
                "Negative",
                "negative",
                "uc",
            ],
        )),
        seed: seed(first(map, &["seed", "Seed", "noise_seed"])),
        steps: uint(first(map, &["steps", "Steps", "num_inference_steps"])),
        cfg: float(first(
            map,
            &[
                "cfg",
                "cfg_scale",
                "cfgScale",
                "CfgScale",
                "cfgscale",
                "guidance_scale",
                "scale",
            ],
        )),
        sampler: text(first(
            map,
            &[
                "sampler",
                "Sampler",
                "sampler_name",
                "samplerName",
                "ksamplerName",
            ],
        )),
        scheduler: text(first(
            map,
            &["scheduler", "Scheduler", "schedule", "noise_schedule"],
        )),
        model: text(first(
            map,
            &[
                "model",
                "Model",
                "ModelName",
                "model_name",
                "base_model_name",
                "base_model",
            ],
        )),
        model_hash: text(first(
            map,
            &[
                "Model hash",
                "model_hash",
                "ModelHash",
                "modelHash",
                "base_model_hash",
            ],
        )),
        width: uint(first(map, &["width", "Width"])),
        height: uint(first(map, &["height", "Height"])),
        clip_skip: uint(first(
            map,
            &["clip_skip", "clipSkip", "ClipSkip", "clip skip"],
        )),
        denoise: float(first(map, &["denoise", "denoising_strength", "strength"])),
        ..Generation::default()
    };
    if (g.width.is_none() || g.height.is_none())
        && let Some((w, h)) = text(first(map, &["resolution", "Resolution", "size", "Size"]))
            .as_deref()
            .and_then(size_text)
    {
        g.width = Some(w);
        g.height = Some(h);
    }
    if let Some(Value::Array(items)) = map.get("loras") {
        g.loras = Some(items.iter().filter_map(lora_item).collect());
    }
    g
}

/// A LoRA entry written as `{name|model_name|lora_name, weight|strength}`,
/// `{model: {name}, weight}` (InvokeAI) or `[name, weight]` (Fooocus).
pub(crate) fn lora_item(item: &Value) -> Option<Lora> {
    match item {
        Value::Object(entry) => {
            let name =
                text(first(entry, &["name", "model_name", "lora_name", "lora"])).or_else(|| {
                    match entry.get("model").or_else(|| entry.get("lora")) {
                        Some(Value::Object(model)) => text(first(model, &["name", "model_name"])),
                        _ => None,
                    }
                })?;
            let strength = float(first(entry, &["weight", "strength", "strength_model"]));
            Some(Lora { name, strength })
        }
        Value::String(name) => Some(Lora {
            name: name.clone(),
            strength: None,
        }),
        Value::Array(pair) => {
            let name = text(pair.first())?;
            Some(Lora {
                name,
                strength: float(pair.get(1)),
            })
        }
        _ => None,
    }
}
