//! Resolving one input to a value by walking upstream: text through
//! primitive, concatenate and switch nodes; numbers through seed and
//! primitive nodes; prompts through text encoders and conditioning nodes.

use super::graph::{Graph, MAX_DEPTH, Node, link};
use serde_json::Value;

/// Node classes whose text output is produced at run time (LLMs, captioners,
/// taggers): their inputs are instructions, not the prompt that was encoded.
const RUNTIME_TEXT: [&str; 12] = [
    "TextGenerate",
    "LLM",
    "Ollama",
    "GPT",
    "Gemini",
    "Florence",
    "Caption",
    "Tagger",
    "Interrogat",
    "Qwen",
    "Joy",
    "Random",
];

/// Inputs that carry a node's text, in order of preference.
const TEXT_INPUTS: [&str; 14] = [
    "populated_text",
    "text",
    "Text",
    "value",
    "string",
    "STRING",
    "prompt",
    "text_g",
    "t5xxl",
    "clip_l",
    "text_positive",
    "positive_prompt",
    "wildcard_text",
    "source",
];

/// Inputs that carry a number in seed and primitive nodes.
const NUMBER_INPUTS: [&str; 8] = [
    "value",
    "seed",
    "noise_seed",
    "int",
    "float",
    "number",
    "Number",
    "Value",
];

/// What a conditioning input was made from.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Prompt {
    /// Encoded text; the id of the encoder node is kept for CLIP skip.
    Text(String, String),
    /// `ConditioningZeroOut`: an empty negative.
    Zeroed,
}

impl<'a> Graph<'a> {
    /// The text an input holds, literally or through upstream nodes.
    pub(super) fn text(&self, value: &Value, depth: usize) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            // Combo widgets with previews (pysssss loaders) wrap the name.
            Value::Object(widget) => widget.get("content")?.as_str().map(str::to_owned),
            Value::Array(_) if depth < MAX_DEPTH => {
                let (node, slot) = self.follow(value)?;
                self.node_text(node, slot, depth + 1)
            }
            Value::Array(_) => self.too_deep(),
            _ => None,
        }
    }

    fn node_text(&self, node: Node<'a>, slot: u64, depth: usize) -> Option<String> {
        if RUNTIME_TEXT.iter().any(|part| node.class_has(part)) {
            self.mark_runtime();
            return None;
        }
        if node.class_has("Switch") {
            let chosen = self.switch(node, depth)?;
            return self.text(chosen, depth);
        }
        if node.class_has("Concat") || node.class_has("Join") {
            return self.concatenate(node, depth);
        }
        // Nodes that output several strings (e.g. a positive/negative pair)
        // are told apart by the slot the link reads.
        if let (Some(pos), Some(neg)) = (node.input("positive"), node.input("negative"))
            && (pos.is_string() || link(pos).is_some())
        {
            return self.text(if slot == 0 { pos } else { neg }, depth);
        }
        let (_, input) = node.first_input(&TEXT_INPUTS)?;
        self.text(input, depth)
    }

    /// Joins the string inputs of a concatenate node in name order.
    fn concatenate(&self, node: Node<'a>, depth: usize) -> Option<String> {
        let delimiter = node
            .first_input(&["delimiter", "separator", "Delimiter"])
            .and_then(|(_, v)| v.as_str())
            .unwrap_or("");
        let mut parts: Vec<(&str, &Value)> = node
            .inputs
            .iter()
            .filter(|(k, v)| {
                let k = k.to_ascii_lowercase();
                (k.starts_with("string") || k.starts_with("text")) && !v.is_null()
            })
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        parts.sort_by(|a, b| a.0.cmp(b.0));
        let mut texts = Vec::with_capacity(parts.len());
        for (_, value) in parts {
            let text = self.text(value, depth)?;
            if !text.is_empty() {
                texts.push(text);
            }
        }
        Some(texts.join(delimiter))
    }

    /// The input a switch node passes on, when its condition is known.
    pub(super) fn switch(&self, node: Node<'a>, depth: usize) -> Option<&'a Value> {
        if let Some((_, condition)) =
            node.first_input(&["switch", "boolean", "condition", "Switch"])
        {
            let on = self.boolean(condition, depth)?;
            let pick = if on {
                ["on_true", "true", "input_true", "on"]
            } else {
                ["on_false", "false", "input_false", "off"]
            };
            return node.first_input(&pick).map(|(_, v)| v);
        }
        if let Some((_, select)) = node.first_input(&["select", "Input", "input", "index"]) {
            let wanted = self.number(select, depth)?;
            return node
                .inputs
                .iter()
                .filter(|(k, _)| k.ends_with(|c: char| c.is_ascii_digit()))
                .find(|(k, _)| {
                    let digits = k.trim_start_matches(|c: char| !c.is_ascii_digit());
                    digits.parse::<f64>().ok() == Some(wanted)
                })
                .map(|(_, v)| v);
        }
        // An "any" switch passes the first connected input at run time.
        self.mark_runtime();
        None
    }

    /// A boolean input, literally or from a primitive node.
    pub(super) fn boolean(&self, value: &Value, depth: usize) -> Option<bool> {
        match value {
            Value::Bool(b) => Some(*b),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "on" | "true" | "enable" | "enabled" => Some(true),
                "off" | "false" | "disable" | "disabled" => Some(false),
                _ => None,
            },
            Value::Array(_) if depth < MAX_DEPTH => {
                let (node, _) = self.follow(value)?;
                let (_, inner) = node.first_input(&["value", "boolean", "bool"])?;
                self.boolean(inner, depth + 1)
            }
            Value::Array(_) => self.too_deep(),
            _ => None,
        }
    }

    /// A number input, literally or through seed and primitive nodes.
    pub(super) fn number(&self, value: &Value, depth: usize) -> Option<f64> {
        self.numeric(value, depth, &serde_json::Number::as_f64)
    }

    /// An integer input (a seed uses the full `u64` range, so integers are
    /// read exactly rather than through `f64`).
    pub(super) fn integer(&self, value: &Value, depth: usize) -> Option<u64> {
        self.numeric(value, depth, &crate::metadata::formats::json::number_uint)
    }

    /// A numeric input read with `literal`, following links through seed,
    /// primitive and switch nodes; a random node makes it unknown.
    fn numeric<T>(
        &self,
        value: &Value,
        depth: usize,
        literal: &dyn Fn(&serde_json::Number) -> Option<T>,
    ) -> Option<T> {
        match value {
            Value::Number(n) => literal(n),
            Value::Array(_) if depth < MAX_DEPTH => {
                let (node, _) = self.follow(value)?;
                if node.class_has("Random") {
                    self.mark_runtime();
                    return None;
                }
                if node.class_has("Switch") {
                    let chosen = self.switch(node, depth + 1)?;
                    return self.numeric(chosen, depth + 1, literal);
                }
                let (_, inner) = node.first_input(&NUMBER_INPUTS)?;
                self.numeric(inner, depth + 1, literal)
            }
            Value::Array(_) => self.too_deep(),
            _ => None,
        }
    }

    /// The prompt behind a conditioning input.
    pub(super) fn prompt(&self, value: &Value, depth: usize) -> Option<Prompt> {
        if depth >= MAX_DEPTH {
            return self.too_deep();
        }
        let (node, slot) = self.follow(value)?;
        if node.class == "ConditioningZeroOut" {
            return Some(Prompt::Zeroed);
        }
        if node.class_has("Switch") {
            let chosen = self.switch(node, depth + 1)?;
            return self.prompt(chosen, depth + 1);
        }
        // Conditioning pass-through with a positive/negative pair
        // (ControlNetApplyAdvanced, InstructPix2PixConditioning, guiders).
        if let (Some(pos), Some(neg)) = (node.input("positive"), node.input("negative"))
            && link(pos).is_some()
            && link(neg).is_some()
        {
            return self.prompt(if slot == 0 { pos } else { neg }, depth + 1);
        }
        // Loaders that encode their own prompts (Efficient Loader) output
        // the positive conditioning before the negative one.
        if let (Some(Value::String(pos)), Some(Value::String(neg))) =
            (node.input("positive"), node.input("negative"))
        {
            let text = if slot >= 2 { neg } else { pos };
            return Some(Prompt::Text(text.clone(), node.id.to_owned()));
        }
        if let Some((_, input)) = node.first_input(&TEXT_INPUTS) {
            return self
                .text(input, depth + 1)
                .map(|t| Prompt::Text(t, node.id.to_owned()));
        }
        let (_, upstream) = node.first_input(&[
            "conditioning",
            "conditioning_to",
            "conditioning_1",
            "cond",
            "base_conditioning",
            "positive",
        ])?;
        self.prompt(upstream, depth + 1)
    }

    /// CLIP skip of the CLIP feeding `encoder`: the first `CLIPSetLastLayer`
    /// upstream (through LoRA loaders and other CLIP pass-throughs).
    pub(super) fn clip_skip(&self, encoder: &str) -> Option<u64> {
        let node = self.node(encoder)?;
        if let Some(skip) = node.input("clip_skip").and_then(|v| self.number(v, 0)) {
            return (skip != 0.0).then_some(skip.abs() as u64);
        }
        let (_, mut clip) = node.first_input(&["clip", "opt_clip"])?;
        for _ in 0..MAX_DEPTH {
            let (node, _) = self.follow(clip)?;
            if node.class == "CLIPSetLastLayer" {
                let layer = self.number(node.input("stop_at_clip_layer")?, 0)?;
                return (layer < 0.0).then_some((-layer) as u64);
            }
            if node.class_has("Switch") {
                clip = self.switch(node, 0)?;
                continue;
            }
            clip = node.input("clip")?;
        }
        self.too_deep()
    }

    /// The generation size behind a latent input: an empty-latent node's
    /// width/height or its `dimensions` text. Encoded images (img2img) have
    /// no stated size.
    pub(super) fn latent_size(&self, value: &Value) -> Option<(u64, u64)> {
        let mut latent = value;
        for _ in 0..MAX_DEPTH {
            let (node, _) = self.follow(latent)?;
            if node.inputs.contains_key("pixels") || node.class_has("LoadImage") {
                return None;
            }
            let width = node.first_input(&["width", "empty_latent_width"]);
            let height = node.first_input(&["height", "empty_latent_height"]);
            if let (Some((_, w)), Some((_, h))) = (width, height) {
                return Some((self.integer(w, 0)?, self.integer(h, 0)?));
            }
            if let Some((_, dims)) = node.first_input(&["dimensions", "resolution", "size"])
                && let Some(text) = dims.as_str()
            {
                return crate::metadata::formats::json::size_text(text);
            }
            if node.class_has("Switch") {
                latent = self.switch(node, 0)?;
                continue;
            }
            let (_, next) = node.first_input(&["samples", "latent", "latent_image", "latents"])?;
            latent = next;
        }
        self.too_deep()
    }
}
