//! Workflow-only files: the UI graph (`{nodes: [...], links: [...]}`)
//! converted to the API shape (`{id: {class_type, inputs}}`) so the same
//! resolver reads it.
//!
//! A UI node keeps its links by input slot and its widget values as a bare
//! list, in the order the node class declares its widgets. Only classes
//! whose widget order is listed here get their widget values as inputs;
//! other nodes keep their links only. Muted and bypassed nodes are left
//! out, as ComfyUI leaves them out of what it runs.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The most nodes converted; larger workflows are not read.
const MAX_NODES: usize = 20_000;

/// Widget names by class, in the order the class declares them. A seed
/// widget may be followed in the saved list by its "control after
/// generate" setting, which is skipped where present.
const WIDGETS: &[(&str, &[&str])] = &[
    (
        "KSampler",
        &[
            "seed",
            "steps",
            "cfg",
            "sampler_name",
            "scheduler",
            "denoise",
        ],
    ),
    (
        "KSamplerAdvanced",
        &[
            "add_noise",
            "noise_seed",
            "steps",
            "cfg",
            "sampler_name",
            "scheduler",
            "start_at_step",
            "end_at_step",
            "return_with_leftover_noise",
        ],
    ),
    ("SamplerCustom", &["add_noise", "noise_seed", "cfg"]),
    ("RandomNoise", &["noise_seed"]),
    ("KSamplerSelect", &["sampler_name"]),
    ("BasicScheduler", &["scheduler", "steps", "denoise"]),
    ("CFGGuider", &["cfg"]),
    ("FluxGuidance", &["guidance"]),
    ("CheckpointLoaderSimple", &["ckpt_name"]),
    ("CheckpointLoader", &["config_name", "ckpt_name"]),
    ("UNETLoader", &["unet_name", "weight_dtype"]),
    ("VAELoader", &["vae_name"]),
    (
        "LoraLoader",
        &["lora_name", "strength_model", "strength_clip"],
    ),
    ("LoraLoaderModelOnly", &["lora_name", "strength_model"]),
    ("CLIPSetLastLayer", &["stop_at_clip_layer"]),
    ("CLIPTextEncode", &["text"]),
    (
        "CLIPTextEncodeSDXL",
        &[
            "width",
            "height",
            "crop_w",
            "crop_h",
            "target_width",
            "target_height",
            "text_g",
            "text_l",
        ],
    ),
    ("EmptyLatentImage", &["width", "height", "batch_size"]),
    ("EmptySD3LatentImage", &["width", "height", "batch_size"]),
    (
        "LatentUpscale",
        &["upscale_method", "width", "height", "crop"],
    ),
    ("LatentUpscaleBy", &["upscale_method", "scale_by"]),
    ("ImageScaleBy", &["upscale_method", "scale_by"]),
    ("UpscaleModelLoader", &["model_name"]),
    ("SaveImage", &["filename_prefix"]),
    ("PrimitiveNode", &["value"]),
    ("Seed (rgthree)", &["seed"]),
    ("Text Multiline", &["text"]),
    ("SeargePromptText", &["prompt"]),
    (
        "KSampler (Efficient)",
        &[
            "sampler_state",
            "seed",
            "steps",
            "cfg",
            "sampler_name",
            "scheduler",
            "denoise",
            "preview_method",
            "vae_decode",
        ],
    ),
];

/// The values a seed widget's "control after generate" setting takes.
const SEED_CONTROL: [&str; 4] = ["fixed", "increment", "decrement", "randomize"];

/// Whether a JSON object is a UI workflow.
pub(crate) fn is_workflow(map: &Map<String, Value>) -> bool {
    map.get("nodes").is_some_and(Value::is_array) && map.get("links").is_some_and(Value::is_array)
}

/// The API graph equivalent to a UI workflow, when it has any node.
pub(crate) fn from_workflow(workflow: &Map<String, Value>) -> Option<Map<String, Value>> {
    let nodes = workflow.get("nodes")?.as_array()?;
    if nodes.len() > MAX_NODES {
        return None;
    }
    // link id -> (origin node id, origin slot)
    let mut links: BTreeMap<u64, (String, u64)> = BTreeMap::new();
    for link in workflow
        .get("links")?
        .as_array()?
        .iter()
        .take(MAX_NODES * 8)
    {
        // [id, origin_id, origin_slot, target_id, target_slot, type], or
        // an object in newer saves.
        let (id, origin, slot) = match link {
            Value::Array(parts) => (parts.first(), parts.get(1), parts.get(2)),
            Value::Object(o) => (o.get("id"), o.get("origin_id"), o.get("origin_slot")),
            _ => continue,
        };
        let (Some(id), Some(origin), Some(slot)) = (
            id.and_then(Value::as_u64),
            origin.and_then(id_text),
            slot.and_then(Value::as_u64),
        ) else {
            continue;
        };
        links.insert(id, (origin, slot));
    }
    let mut api = Map::new();
    for node in nodes {
        let Some(node) = node.as_object() else {
            continue;
        };
        // Mode 2 is muted ("never"), 4 is bypassed.
        if matches!(node.get("mode").and_then(Value::as_u64), Some(2 | 4)) {
            continue;
        }
        let (Some(id), Some(class)) = (
            node.get("id").and_then(id_text),
            node.get("type").and_then(Value::as_str),
        ) else {
            continue;
        };
        let mut inputs = Map::new();
        if let (Some((_, names)), Some(Value::Array(values))) = (
            WIDGETS.iter().find(|(c, _)| *c == class),
            node.get("widgets_values"),
        ) {
            let mut values = values.iter().peekable();
            for name in *names {
                let Some(value) = values.next() else {
                    break;
                };
                inputs.insert((*name).to_owned(), value.clone());
                let seed = name.contains("seed");
                if seed
                    && values
                        .peek()
                        .and_then(|v| v.as_str())
                        .is_some_and(|v| SEED_CONTROL.contains(&v))
                {
                    values.next();
                }
            }
        }
        for input in node
            .get("inputs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = input.get("name").and_then(Value::as_str) else {
                continue;
            };
            let Some(link) = input.get("link").and_then(Value::as_u64) else {
                continue;
            };
            if let Some((origin, slot)) = links.get(&link) {
                inputs.insert(
                    name.to_owned(),
                    Value::Array(vec![Value::String(origin.clone()), Value::from(*slot)]),
                );
            }
        }
        let mut entry = Map::new();
        entry.insert("class_type".to_owned(), Value::String(class.to_owned()));
        entry.insert("inputs".to_owned(), Value::Object(inputs));
        api.insert(id, Value::Object(entry));
    }
    (!api.is_empty()).then_some(api)
}

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}
