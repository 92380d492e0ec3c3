//! Formats of individual applications that store JSON (or a CLI string):
//! NovelAI, InvokeAI (current, `sd-metadata`, `Dream`), SwarmUI, Fooocus,
//! RuinedFooocus, Stability Matrix, Tensor.Art and generic diffusers JSON.

use super::json::{self, first, float, map_common, seed, text, uint};
use crate::metadata::model::{CharacterPrompt, Generation};
use serde_json::{Map, Value};

fn labelled(mut g: Generation, generator: &str, format: &str) -> Generation {
    g.generator = Some(generator.to_owned());
    g.metadata_format = Some(format.to_owned());
    g
}

/// NovelAI `Comment` JSON, with `Description` (the prompt in legacy files)
/// and `Source` (`"<model> <hash>"`).
pub(crate) fn novelai(
    comment: &Map<String, Value>,
    description: Option<&str>,
    source: Option<&str>,
) -> Generation {
    let mut g = labelled(map_common(comment), "novelai", "novelai-json");
    // NovelAI's `strength` is the img2img strength, already mapped to denoise;
    // its `model` keys do not exist, the model is named by `Source`.
    g.model = None;
    if g.positive_prompt.is_none() {
        g.positive_prompt = description.map(|d| d.trim_start_matches('\0').to_owned());
    }
    if let Some(source) = source {
        let (name, hash) = match source.rsplit_once(' ') {
            Some((name, hash))
                if hash.len() == 8 && hash.chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                (name.to_owned(), Some(hash.to_owned()))
            }
            _ => (source.to_owned(), None),
        };
        g.model = Some(name);
        g.model_hash = hash;
    }
    if let Some(Value::Object(v4)) = comment.get("v4_prompt") {
        g.use_coords = v4.get("use_coords").and_then(Value::as_bool);
        g.use_order = v4.get("use_order").and_then(Value::as_bool);
        let negatives = comment
            .get("v4_negative_prompt")
            .and_then(|n| n.pointer("/caption/char_captions"))
            .and_then(Value::as_array);
        if let Some(chars) = v4
            .get("caption")
            .and_then(|c| c.get("char_captions"))
            .and_then(Value::as_array)
        {
            for (i, character) in chars.iter().enumerate() {
                let Some(prompt) = text(character.get("char_caption")) else {
                    continue;
                };
                let center = character
                    .pointer("/centers/0")
                    .and_then(|c| Some((float(c.get("x"))?, float(c.get("y"))?)));
                let negative_prompt = negatives
                    .and_then(|n| n.get(i))
                    .and_then(|n| text(n.get("char_caption")));
                g.character_prompts.push(CharacterPrompt {
                    prompt,
                    negative_prompt,
                    center,
                });
            }
        }
    }
    g
}

/// InvokeAI 3+ `invokeai_metadata`: `scheduler` holds the sampler name.
pub(crate) fn invokeai(meta: &Map<String, Value>) -> Generation {
    let mut g = labelled(map_common(meta), "invokeai", "invokeai-metadata-json");
    g.sampler = text(meta.get("scheduler"));
    g.scheduler = None;
    if let Some(Value::Object(model)) = meta.get("model") {
        g.model = text(first(model, &["name", "model_name"]));
        g.model_hash = text(model.get("hash"));
    }
    if g.loras.is_none() {
        g.loras = Some(Vec::new());
    }
    g
}

/// InvokeAI 2.x `sd-metadata`: the prompt (with `[negative]` parts) is in
/// `image.prompt[0].prompt`.
pub(crate) fn invokeai_legacy(meta: &Map<String, Value>) -> Generation {
    let image = match meta.get("image") {
        Some(Value::Object(image)) => image,
        _ => meta,
    };
    let mut g = labelled(map_common(image), "invokeai", "invokeai-sd-metadata-json");
    let prompt = match image.get("prompt") {
        Some(Value::Array(parts)) => parts.first().and_then(|p| text(p.get("prompt"))),
        other => text(other),
    };
    if let Some(prompt) = prompt {
        let (positive, negative) = split_bracketed(&prompt);
        g.positive_prompt = Some(positive);
        g.negative_prompt = Some(negative);
    }
    g.model = text(first(meta, &["model_weights"])).or(g.model);
    g.model_hash = text(meta.get("model_hash"));
    g
}

/// InvokeAI 2.x `Dream`: `"prompt [negative]" -s 50 -S 42 -W 512 -H 768 -C 7.5 -A k_lms`.
pub(crate) fn invokeai_dream(dream: &str) -> Generation {
    let mut g = labelled(Generation::default(), "invokeai", "invokeai-dream");
    let dream = dream.trim();
    let (prompt, flags) = match dream.strip_prefix('"').and_then(|r| r.rsplit_once('"')) {
        Some((prompt, flags)) => (prompt.to_owned(), flags),
        None => match dream.find(" -") {
            Some(at) => (
                dream.get(..at).unwrap_or_default().to_owned(),
                dream.get(at..).unwrap_or_default(),
            ),
            None => (dream.to_owned(), ""),
        },
    };
    let (positive, negative) = split_bracketed(&prompt);
    g.positive_prompt = Some(positive);
    g.negative_prompt = Some(negative);
    let words: Vec<&str> = flags.split_whitespace().collect();
    for pair in words.windows(2) {
        let [flag, value] = pair else { continue };
        match *flag {
            "-s" | "--steps" => g.steps = value.parse().ok(),
            "-S" | "--seed" => g.seed = value.parse().ok(),
            "-W" | "--width" => g.width = value.parse().ok(),
            "-H" | "--height" => g.height = value.parse().ok(),
            "-C" | "--cfg_scale" => g.cfg = value.parse().ok(),
            "-A" | "--sampler" => g.sampler = Some((*value).to_owned()),
            "-f" | "--strength" => g.denoise = value.parse().ok(),
            _ => {}
        }
    }
    g
}

/// Splits `a [b] c [d]` into `("a  c", "b, d")`, trimmed.
fn split_bracketed(prompt: &str) -> (String, String) {
    let mut positive = String::new();
    let mut negatives = Vec::new();
    let mut rest = prompt;
    while let Some(open) = rest.find('[') {
        positive.push_str(rest.get(..open).unwrap_or_default());
        let tail = rest.get(open + 1..).unwrap_or_default();
        match tail.find(']') {
            Some(close) => {
                negatives.push(tail.get(..close).unwrap_or_default().trim().to_owned());
                rest = tail.get(close + 1..).unwrap_or_default();
            }
            None => {
                positive.push('[');
                rest = tail;
            }
        }
    }
    positive.push_str(rest);
    (positive.trim().to_owned(), negatives.join(", "))
}

/// SwarmUI `sui_image_params` (with `sui_models` for the model file).
pub(crate) fn swarmui(root: &Map<String, Value>) -> Option<Generation> {
    let Some(Value::Object(params)) = root.get("sui_image_params") else {
        return None;
    };
    let mut g = labelled(map_common(params), "swarmui", "swarmui-json");
    if g.loras.is_none() || params.contains_key("loraweights") {
        let names = params.get("loras").and_then(Value::as_array);
        let weights = params.get("loraweights").and_then(Value::as_array);
        g.loras = Some(
            names
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(i, name)| {
                    Some(crate::metadata::model::Lora {
                        name: text(Some(name))?,
                        strength: float(weights.and_then(|w| w.get(i))),
                    })
                })
                .collect(),
        );
    }
    Some(g)
}

/// A JSON `parameters` object from an application that is not ComfyUI:
/// Fooocus, RuinedFooocus, a diffusers / Hugging Face Space app.
pub(crate) fn parameters_json(
    map: &Map<String, Value>,
    fooocus_scheme: bool,
) -> Option<Generation> {
    let g = map_common(map);
    if g.positive_prompt.is_none() && g.seed.is_none() && g.steps.is_none() {
        return None;
    }
    let software = text(first(map, &["software", "Software", "version"])).unwrap_or_default();
    let mut g = if software.starts_with("RuinedFooocus") {
        labelled(g, "ruined-fooocus", "ruinedfooocus-json")
    } else if fooocus_scheme
        || software.starts_with("Fooocus")
        || map.contains_key("fooocus_scheme")
        || text(map.get("metadata_scheme")).is_some_and(|s| s == "fooocus")
    {
        labelled(g, "fooocus", "fooocus-json")
    } else {
        labelled(g, "hf-space", "hf-space-json")
    };
    if g.loras.is_none() && g.generator.as_deref() != Some("hf-space") {
        g.loras = Some(Vec::new());
    }
    Some(g)
}

/// Stability Matrix `parameters-json`.
pub(crate) fn stability_matrix(map: &Map<String, Value>) -> Generation {
    labelled(map_common(map), "stability-matrix", "stability-matrix")
}

/// Tensor.Art `generation_data` (the model is a nested `baseModel` object).
pub(crate) fn tensorart(map: &Map<String, Value>) -> Generation {
    let mut g = labelled(map_common(map), "tensorart", "tensorart-json");
    if let Some(Value::Object(base)) = map.get("baseModel") {
        g.model = text(first(base, &["modelFileName", "name", "label"]));
        g.model_hash = text(base.get("hash"));
    }
    g.seed = seed(map.get("seed"));
    g.steps = uint(map.get("steps"));
    g
}

/// Civitai's `extraMetadata` JSON string inside a ComfyUI graph.
pub(crate) fn civitai_extra(text_value: &str) -> Option<Generation> {
    let map = json::parse_object(text_value)?;
    Some(map_common(&map))
}

/// Easy Diffusion parameters, one text value per key.
pub(crate) fn easy_diffusion(map: &Map<String, Value>) -> Generation {
    let mut g = labelled(map_common(map), "easy-diffusion", "easy-diffusion-chunks");
    g.model = text(map.get("use_stable_diffusion_model"));
    let names = text(map.get("use_lora_model")).unwrap_or_default();
    let weights = text(map.get("lora_alpha")).unwrap_or_default();
    let mut weights = weights.split(',').map(|w| w.trim().parse::<f64>().ok());
    g.loras = Some(
        names
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty() && *n != "None")
            .map(|name| crate::metadata::model::Lora {
                name: name.to_owned(),
                strength: weights.next().flatten(),
            })
            .collect(),
    );
    g
}
