//! Samplers and what feeds them: KSampler, KSamplerAdvanced, SamplerCustom
//! and SamplerCustomAdvanced (with RandomNoise, KSamplerSelect,
//! BasicScheduler and CFGGuider), the model chain with its LoRA loaders, and
//! the image/latent flow between passes.

use super::graph::{Graph, MAX_DEPTH, Node, natural_key};
use crate::metadata::model::Lora;
use serde_json::Value;
use std::collections::{BTreeSet, VecDeque};

/// What one sampling pass states.
#[derive(Debug, Clone, Default)]
pub(super) struct Pass<'a> {
    pub(super) seed: Option<u64>,
    pub(super) steps: Option<u64>,
    pub(super) cfg: Option<f64>,
    pub(super) sampler: Option<String>,
    pub(super) scheduler: Option<String>,
    pub(super) denoise: Option<f64>,
    pub(super) model: Option<&'a Value>,
    pub(super) positive: Option<&'a Value>,
    pub(super) negative: Option<&'a Value>,
    pub(super) latent: Option<&'a Value>,
}

/// What lies upstream of a sampler's latent input.
#[derive(Debug, Default)]
pub(super) struct Upstream<'a> {
    /// An earlier sampling pass this one continues from.
    pub(super) sampler: Option<Node<'a>>,
    /// The upscale model the image went through on the way.
    pub(super) upscaler: Option<String>,
    /// A literal `scale_by` factor on the way.
    pub(super) scale: Option<f64>,
    /// Whether any upscaling or rescaling node was passed: a second pass
    /// without one is a refiner, not a hires pass.
    pub(super) upscaled: bool,
}

/// Input name prefixes along which images and latents flow from a sampler
/// to an output (`image`, `images`, `image1`, `samples`, `latent_image`, …).
const FLOW_PREFIXES: [&str; 7] = [
    "image",
    "samples",
    "pixels",
    "latent",
    "upscale_model",
    "input",
    "source",
];

fn is_flow_input(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    FLOW_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

/// Whether a node samples a latent (as opposed to a detailer or an upscaler
/// that works on images).
pub(super) fn is_sampler(node: &Node<'_>) -> bool {
    let latent = node.inputs.contains_key("latent_image") || node.inputs.contains_key("latent");
    latent
        && (node.inputs.contains_key("sampler_name")
            || node.inputs.contains_key("sigmas")
            || node.inputs.contains_key("sampler")
            || node.inputs.contains_key("noise"))
}

impl<'a> Graph<'a> {
    /// The first sampler upstream of `start` along image/latent inputs, and
    /// what the flow passed on the way: an upscale model, a scale factor.
    pub(super) fn upstream_sampler(&self, start: &'a Value) -> Upstream<'a> {
        let mut queue = VecDeque::from([start]);
        let mut seen = BTreeSet::new();
        let mut found = Upstream::default();
        while let Some(value) = queue.pop_front() {
            let Some((node, _)) = self.follow(value) else {
                continue;
            };
            if !seen.insert(node.id) {
                continue;
            }
            if is_sampler(&node) {
                found.sampler = Some(node);
                return found;
            }
            if node.class_has("Upscale") && node.class_has("Loader") {
                found.upscaler = found
                    .upscaler
                    .or_else(|| node.input("model_name").and_then(|v| self.text(v, 0)));
            }
            if node.class_has("Upscale") || node.class_has("Scale") {
                found.upscaled = true;
            }
            if let Some(factor) = node.input("scale_by").and_then(|v| self.number(v, 0)) {
                found.scale = found.scale.or(Some(factor));
            }
            let mut flow: Vec<(&String, &'a Value)> = node
                .inputs
                .iter()
                .filter(|(name, value)| is_flow_input(name) && !value.is_null())
                .collect();
            flow.sort_by_key(|(name, _)| natural_key(name));
            queue.extend(flow.into_iter().map(|(_, value)| value));
        }
        found
    }

    /// The sampler an output node shows, found along image/latent inputs.
    pub(super) fn sampler_for_output(&self, output: Node<'a>) -> Option<Node<'a>> {
        let start = output.first_input(&["images", "image"]).map(|(_, v)| v)?;
        self.upstream_sampler(start).sampler
    }

    /// Reads a sampler node, following its helper nodes.
    pub(super) fn pass(&self, node: Node<'a>) -> Pass<'a> {
        let mut pass = Pass {
            seed: node
                .first_input(&["seed", "noise_seed"])
                .and_then(|(_, v)| self.integer(v, 0)),
            steps: node.input("steps").and_then(|v| self.integer(v, 0)),
            cfg: node.input("cfg").and_then(|v| self.number(v, 0)),
            sampler: node.input("sampler_name").and_then(|v| self.text(v, 0)),
            scheduler: node.input("scheduler").and_then(|v| self.text(v, 0)),
            denoise: node.input("denoise").and_then(|v| self.number(v, 0)),
            model: node.input("model"),
            positive: node.input("positive"),
            negative: node.input("negative"),
            latent: node
                .first_input(&["latent_image", "latent"])
                .map(|(_, v)| v),
        };
        if let Some((noise, _)) = node.input("noise").and_then(|v| self.follow(v)) {
            pass.seed = noise
                .first_input(&["noise_seed", "seed"])
                .and_then(|(_, v)| self.integer(v, 0));
        }
        if let Some((sampler, _)) = node.input("sampler").and_then(|v| self.follow(v)) {
            pass.sampler = sampler
                .input("sampler_name")
                .and_then(|v| self.text(v, 0))
                .or_else(|| {
                    // Dedicated sampler nodes (SamplerEulerAncestral, …) name
                    // the sampler in their class.
                    sampler.class.strip_prefix("Sampler").map(str::to_owned)
                });
        }
        if let Some((sigmas, _)) = node.input("sigmas").and_then(|v| self.follow(v)) {
            pass.steps = sigmas.input("steps").and_then(|v| self.integer(v, 0));
            pass.denoise = sigmas.input("denoise").and_then(|v| self.number(v, 0));
            pass.scheduler = sigmas
                .input("scheduler")
                .and_then(|v| self.text(v, 0))
                .or_else(|| {
                    sigmas
                        .class
                        .strip_suffix("Scheduler")
                        .filter(|s| !s.is_empty() && *s != "Basic")
                        .map(str::to_lowercase)
                });
            if pass.model.is_none() {
                pass.model = sigmas.input("model");
            }
        }
        if let Some((guider, _)) = node.input("guider").and_then(|v| self.follow(v)) {
            pass.cfg = guider.input("cfg").and_then(|v| self.number(v, 0));
            pass.model = guider.input("model").or(pass.model);
            pass.positive = guider
                .first_input(&["positive", "conditioning", "cond1"])
                .map(|(_, v)| v);
            pass.negative = guider.input("negative");
        }
        pass
    }

    /// The checkpoint/UNET behind a model input, and the LoRAs applied on
    /// the way (in order from the sampler upstream).
    pub(super) fn model(&self, value: &'a Value, loras: &mut Vec<Lora>) -> Option<String> {
        let mut current = value;
        let mut seen = BTreeSet::new();
        for _ in 0..MAX_DEPTH {
            let (node, _) = self.follow(current)?;
            if !seen.insert(node.id) {
                return self.too_deep();
            }
            // Loaders such as Efficient Loader apply a LoRA themselves.
            if node.class_has("lora") || node.inputs.contains_key("lora_name") {
                self.collect_loras(node, loras, 0);
            }
            if let Some((_, name)) = node.first_input(&[
                "ckpt_name",
                "unet_name",
                "base_ckpt_name",
                "gguf_name",
                "model_path",
            ]) {
                return self.text(name, 0);
            } else if node.class_has("Switch") {
                current = self.switch(node, 0)?;
                continue;
            }
            current = node.first_input(&["model", "MODEL", "base_model"])?.1;
        }
        self.too_deep()
    }

    /// LoRAs a loader or stack node applies, following `lora_stack` links.
    fn collect_loras(&self, node: Node<'a>, loras: &mut Vec<Lora>, depth: usize) {
        if depth >= MAX_DEPTH {
            self.too_deep::<()>();
            return;
        }
        if !self.step() {
            return;
        }
        let enabled = |v: Option<&Value>| v.and_then(|v| self.boolean(v, 0)).unwrap_or(true);
        if let Some(name) = node.input("lora_name").and_then(|v| self.text(v, 0))
            && name != "None"
            && enabled(
                node.first_input(&["switch", "enabled", "on"])
                    .map(|(_, v)| v),
            )
        {
            let strength = node
                .first_input(&[
                    "strength_model",
                    "strength",
                    "lora_strength",
                    "model_weight",
                    "weight",
                    "lora_model_strength",
                ])
                .and_then(|(_, v)| self.number(v, 0));
            loras.push(Lora { name, strength });
        }
        let mut numbered: Vec<(&String, &Value)> = node.inputs.iter().collect();
        numbered
            .sort_by_key(|(k, _)| natural_key(k.trim_start_matches(|c: char| !c.is_ascii_digit())));
        for (key, value) in numbered {
            let Some(index) = key
                .strip_prefix("lora_name_")
                .or_else(|| key.strip_prefix("lora_"))
                .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            else {
                continue;
            };
            match value {
                // rgthree Power Lora Loader: {"on": true, "lora": "x", "strength": 1}.
                Value::Object(entry) => {
                    let on = entry.get("on").and_then(Value::as_bool).unwrap_or(true);
                    let name = entry.get("lora").and_then(Value::as_str);
                    if let (true, Some(name)) = (on, name)
                        && name != "None"
                    {
                        loras.push(Lora {
                            name: name.to_owned(),
                            strength: entry.get("strength").and_then(Value::as_f64),
                        });
                    }
                }
                _ => {
                    let Some(name) = self.text(value, 0) else {
                        continue;
                    };
                    let switch = node.input(&format!("switch_{index}"));
                    if name == "None" || !enabled(switch) {
                        continue;
                    }
                    let strength = [
                        format!("model_weight_{index}"),
                        format!("lora_wt_{index}"),
                        format!("model_str_{index}"),
                        format!("strength_{index}"),
                        format!("lora_strength_{index}"),
                    ]
                    .iter()
                    .find_map(|k| node.input(k))
                    .and_then(|v| self.number(v, 0));
                    loras.push(Lora { name, strength });
                }
            }
        }
        if let Some((stack, _)) = node.input("lora_stack").and_then(|v| self.follow(v)) {
            self.collect_loras(stack, loras, depth + 1);
        }
    }
}
