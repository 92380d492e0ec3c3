//! Resolving one input to a value by walking upstream. [`Graph::locate`]
//! follows links through every node the rule table (`rules.rs`) describes
//! as passing a value on — reroutes, pipes and contexts (by field), switches
//! whose selection is in the graph, primitives — and stops at the node that
//! makes the value. The readers below then interpret that node: text
//! (literal, joined), numbers, prompts (through text encoders and
//! conditioning nodes), the generation size.
//!
//! Every walk is bounded: at most [`MAX_DEPTH`] links per value and per
//! level of recursion, and the graph's step budget overall. When a value
//! cannot be resolved the reason is recorded ([`Graph::unresolved`]).

use super::graph::{Graph, MAX_DEPTH, Node, describe, link, natural_key};
use super::rules::{Kind, rule_for};
use serde_json::Value;

/// Inputs that carry a node's text, in order of preference.
const TEXT_INPUTS: [&str; 13] = [
    "populated_text",
    "text",
    "Text",
    "value",
    "string",
    "STRING",
    "prompt",
    "t5xxl",
    "text_positive",
    "positive_prompt",
    "wildcard_text",
    "source",
    "text_a",
];

/// Inputs whose text a single-input selector node passes on (sampler,
/// scheduler and checkpoint selectors of saver packs), after
/// [`TEXT_INPUTS`].
const SELECTOR_INPUTS: [&str; 4] = ["sampler_name", "scheduler", "ckpt_name", "lora_name"];

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

/// Inputs that carry a bundle (pipe, context, tuple) into a node.
pub(super) fn is_bundle_input(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("pipe")
        || name.contains("ctx")
        || name.contains("context")
        || name == "sdxl_tuple"
}

/// The longest chain of bundle fields followed at once.
const MAX_PATH: usize = 8;

/// Where a value comes from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Found<'a> {
    /// A literal in the graph.
    Literal(&'a Value),
    /// Output `slot` of a node the rules do not pass through; `field` is
    /// the field still wanted of it when the link carries a bundle.
    Node(Node<'a>, u64, Option<&'static str>),
}

/// What a conditioning input was made from.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Prompt {
    /// Encoded text; the id of the encoder node is kept for CLIP skip.
    Text(String, String),
    /// `ConditioningZeroOut`: an empty negative.
    Zeroed,
}

impl<'a> Graph<'a> {
    /// Follows `start` through pass-through nodes to the node (or literal)
    /// that makes its value; with `field`, the value is that field of the
    /// bundle `start` carries.
    pub(super) fn locate(
        &self,
        start: &'a Value,
        field: Option<&'static str>,
    ) -> Option<Found<'a>> {
        let mut value = start;
        let mut path: Vec<&'static str> = field.into_iter().collect();
        for _ in 0..MAX_DEPTH {
            if link(value).is_none() {
                return match path.as_slice() {
                    [] => Some(Found::Literal(value)),
                    _ => self.unresolved("a bundle input holds no link"),
                };
            }
            let Some((node, slot)) = self.follow(value) else {
                return self.unresolved("a link points to a node missing from the graph");
            };
            if path.len() > MAX_PATH {
                return self.too_deep();
            }
            let want = path.last().copied();
            let slot_index = usize::try_from(slot).unwrap_or(usize::MAX);
            match rule_for(node.class).map(|r| r.kind) {
                Some(Kind::Pass(slots)) => {
                    let names = slots
                        .get(slot_index)
                        .or(slots.last())
                        .copied()
                        .unwrap_or(&[]);
                    value = if names.is_empty() {
                        let mut linked = node.inputs.values().filter(|v| link(v).is_some());
                        match (linked.next(), linked.next()) {
                            (Some(only), None) => only,
                            _ => {
                                return self.unresolved(format!(
                                    "{} passes on no single input",
                                    describe(&node)
                                ));
                            }
                        }
                    } else {
                        match node.first_input(names) {
                            Some((_, v)) => v,
                            None => {
                                return self.unresolved(format!(
                                    "{} has no input to pass on",
                                    describe(&node)
                                ));
                            }
                        }
                    };
                }
                Some(Kind::Outputs(slots)) => match slots.get(slot_index).copied() {
                    Some(name) if !name.is_empty() => {
                        value = match node.input(name) {
                            Some(v) => v,
                            None => {
                                return self
                                    .unresolved(format!("{} has no {name}", describe(&node)));
                            }
                        };
                    }
                    _ => return Some(Found::Node(node, slot, want)),
                },
                Some(Kind::Bundle { base, fields }) => {
                    let field = if slot == 0 {
                        match want {
                            Some(f) => {
                                path.pop();
                                f
                            }
                            None => return Some(Found::Node(node, slot, None)),
                        }
                    } else {
                        match fields.get(slot_index - 1) {
                            Some(f) => f,
                            None => {
                                return self.unresolved(format!(
                                    "{} has no output {slot}",
                                    describe(&node)
                                ));
                            }
                        }
                    };
                    if let Some(v) = node.input(field) {
                        value = v;
                    } else if let Some(v) = (!base.is_empty()).then(|| node.input(base)).flatten() {
                        path.push(field);
                        value = v;
                    } else {
                        return self.unresolved(format!("{} carries no {field}", describe(&node)));
                    }
                }
                Some(Kind::Unpack { bundle, fields }) => {
                    match fields.get(slot_index) {
                        Some(&"*") => {}
                        Some(f) => path.push(f),
                        None => {
                            return self
                                .unresolved(format!("{} has no output {slot}", describe(&node)));
                        }
                    }
                    value = match node.input(bundle) {
                        Some(v) => v,
                        None => {
                            return self.unresolved(format!("{} has no {bundle}", describe(&node)));
                        }
                    };
                }
                Some(Kind::FirstConnected { prefix, fields }) => {
                    let mut candidates: Vec<(&String, &'a Value)> = node
                        .inputs
                        .iter()
                        .filter(|(k, v)| {
                            k.starts_with(prefix)
                                && link(v).is_some_and(|(id, _)| self.node(&id).is_some())
                        })
                        .collect();
                    candidates.sort_by_key(|(k, _)| natural_key(k.trim_start_matches(prefix)));
                    let Some((_, chosen)) = candidates.first() else {
                        return self
                            .unresolved(format!("{} has no connected input", describe(&node)));
                    };
                    if slot > 0 {
                        match fields.get(slot_index - 1) {
                            Some(f) => path.push(f),
                            None => {
                                return self.unresolved(format!(
                                    "{} has no output {slot}",
                                    describe(&node)
                                ));
                            }
                        }
                    }
                    value = chosen;
                }
                Some(Kind::Switch) => value = self.switch(node)?,
                Some(Kind::Runtime(reason)) => {
                    return self.unresolved(format!("{}: {reason}", describe(&node)));
                }
                Some(Kind::Generated(reason)) => {
                    self.mark_runtime();
                    return self.unresolved(format!("{}: {reason}", describe(&node)));
                }
                Some(Kind::Literal) if want.is_none() => {
                    value = match node.first_input(&[
                        "value", "text", "string", "prompt", "seed", "int", "float", "number",
                    ]) {
                        Some((_, v)) => v,
                        None => {
                            return self.unresolved(format!("{} holds no value", describe(&node)));
                        }
                    };
                }
                Some(Kind::Loader { slots }) => {
                    let field = match (slots.get(slot_index), want) {
                        (Some(&"sdxl_tuple"), Some(f)) => Some(f),
                        (Some(f), _) => Some(*f),
                        (None, _) => None,
                    };
                    return Some(Found::Node(node, slot, field));
                }
                _ => {
                    // No rule: a wanted field is read by name, or through
                    // the node's own bundle input (a pipe passed along).
                    let Some(f) = want else {
                        return Some(Found::Node(node, slot, None));
                    };
                    if let Some(v) = node.input(f) {
                        path.pop();
                        value = v;
                    } else if let Some((_, v)) = node
                        .inputs
                        .iter()
                        .find(|(k, v)| is_bundle_input(k) && link(v).is_some())
                    {
                        value = v;
                    } else {
                        return Some(Found::Node(node, slot, Some(f)));
                    }
                }
            }
        }
        self.too_deep()
    }

    /// The text an input holds, literally or through upstream nodes.
    pub(super) fn text(&self, value: &'a Value, depth: usize) -> Option<String> {
        if depth >= MAX_DEPTH {
            return self.too_deep();
        }
        match self.locate(value, None)? {
            Found::Literal(Value::String(s)) => Some(s.clone()),
            // Combo widgets with previews (pysssss loaders) wrap the name.
            Found::Literal(Value::Object(widget)) => {
                widget.get("content")?.as_str().map(str::to_owned)
            }
            Found::Literal(_) => None,
            Found::Node(node, slot, field) => self.node_text(node, slot, field, depth + 1),
        }
    }

    fn node_text(
        &self,
        node: Node<'a>,
        slot: u64,
        field: Option<&str>,
        depth: usize,
    ) -> Option<String> {
        if let Some(f) = field
            && let Some(v) = node.input(f)
        {
            return self.text(v, depth);
        }
        match rule_for(node.class).map(|r| r.kind) {
            Some(Kind::Join) => return self.join(node, depth),
            Some(Kind::Template { result }) => return self.template(node, result, depth),
            _ => {}
        }
        // Nodes that output several strings (e.g. a positive/negative pair)
        // are told apart by the slot the link reads.
        if let (Some(pos), Some(neg)) = (node.input("positive"), node.input("negative"))
            && (pos.is_string() || link(pos).is_some())
            && self.only_inputs(&node, &["positive", "negative"])
        {
            return self.text(if slot == 0 { pos } else { neg }, depth);
        }
        let Some((name, input)) = node
            .first_input(&TEXT_INPUTS)
            .or_else(|| node.first_input(&SELECTOR_INPUTS))
        else {
            return self.unresolved(format!(
                "{} gives no text the resolver knows",
                describe(&node)
            ));
        };
        if !self.only_inputs(&node, &[name]) {
            return None;
        }
        self.text(input, depth)
    }

    /// Whether `node` has no inputs but `names` (and inert ones): a node
    /// the rule table does not describe is read as passing a value on only
    /// then, since any other input may change its output.
    pub(super) fn only_inputs(&self, node: &Node<'a>, names: &[&str]) -> bool {
        let other = node.inputs.iter().find(|(k, v)| {
            !v.is_null()
                && !names.contains(&k.as_str())
                && !super::rules::INERT_INPUTS.contains(&k.as_str())
        });
        match other {
            None => true,
            Some((k, _)) => {
                let key: String = k.chars().take(40).collect();
                self.unresolved::<()>(format!(
                    "{} computes its output with other inputs ({key}) the resolver does not know",
                    describe(node)
                ));
                false
            }
        }
    }

    /// The stored result of a template node, when it holds no run-time
    /// syntax any more.
    fn template(&self, node: Node<'a>, result: &str, depth: usize) -> Option<String> {
        let Some(v) = node.input(result) else {
            return self.unresolved(format!("{}: expanded at run time", describe(&node)));
        };
        let text = self.text(v, depth)?;
        if text.contains("__") || (text.contains('{') && text.contains('|')) {
            return self.unresolved(format!(
                "{}: a wildcard or choice expanded at run time",
                describe(&node)
            ));
        }
        Some(text)
    }

    /// Joins the text inputs of a concatenate node in name order. Nodes
    /// with a `clean_whitespace` setting (WAS and its descendants) trim the
    /// parts when it is on and leave empty parts out; nodes with
    /// `linebreak_addition` (older WAS) put a line break between parts;
    /// others join every part with the delimiter.
    fn join(&self, node: Node<'a>, depth: usize) -> Option<String> {
        let delimiter = match node
            .first_input(&["delimiter", "separator", "Delimiter"])
            .map(|(_, v)| v)
        {
            Some(Value::String(s)) if s == "\\n" => "\n",
            Some(Value::String(s)) => s.as_str(),
            Some(_) => {
                return self
                    .unresolved(format!("{}: the delimiter is not literal", describe(&node)));
            }
            None => "",
        };
        let flag = |name: &str| -> Option<Option<bool>> {
            let v = node.input(name)?;
            Some(self.boolean(v, depth))
        };
        let clean = flag("clean_whitespace");
        let linebreak = flag("linebreak_addition");
        if matches!(clean, Some(None)) || matches!(linebreak, Some(None)) {
            return self.unresolved(format!("{}: a setting is not literal", describe(&node)));
        }
        let mut parts: Vec<(&String, &'a Value)> = node
            .inputs
            .iter()
            .filter(|(k, v)| {
                let k = k.to_ascii_lowercase();
                (k.starts_with("string") || k.starts_with("text")) && !v.is_null()
            })
            .collect();
        parts.sort_by_key(|(k, _)| natural_key(k));
        let mut texts = Vec::with_capacity(parts.len());
        for (_, value) in parts {
            let text = self.text(value, depth)?;
            match clean {
                Some(Some(trim)) => {
                    let text = if trim { text.trim().to_owned() } else { text };
                    if !text.is_empty() {
                        texts.push(text);
                    }
                }
                _ => texts.push(text),
            }
        }
        let separator = match linebreak {
            Some(Some(true)) => format!("{delimiter}\n"),
            _ => delimiter.to_owned(),
        };
        Some(texts.join(&separator))
    }

    /// The input a switch node passes on, when its selection is in the
    /// graph.
    pub(super) fn switch(&self, node: Node<'a>) -> Option<&'a Value> {
        if let Some((_, condition)) =
            node.first_input(&["switch", "boolean", "condition", "Switch"])
        {
            let on = self.boolean(condition, 0)?;
            let pick = if on {
                ["on_true", "true", "input_true", "on"]
            } else {
                ["on_false", "false", "input_false", "off"]
            };
            return node.first_input(&pick).map(|(_, v)| v).or_else(|| {
                self.unresolved(format!(
                    "{}: the chosen input is not connected",
                    describe(&node)
                ))
            });
        }
        if let Some((_, select)) = node.first_input(&["select", "Input", "input", "index"]) {
            let wanted = self.number(select, 0)?;
            return node
                .inputs
                .iter()
                .filter(|(k, _)| k.ends_with(|c: char| c.is_ascii_digit()))
                .find(|(k, _)| {
                    let digits = k.trim_start_matches(|c: char| !c.is_ascii_digit());
                    digits.parse::<f64>().ok() == Some(wanted)
                })
                .map(|(_, v)| v)
                .or_else(|| {
                    self.unresolved(format!(
                        "{}: the chosen input is not connected",
                        describe(&node)
                    ))
                });
        }
        // An "any" switch passes the first non-empty input at run time.
        self.unresolved(format!(
            "{}: the input is chosen at run time",
            describe(&node)
        ))
    }

    /// A boolean input, literally or from a primitive node.
    pub(super) fn boolean(&self, value: &'a Value, depth: usize) -> Option<bool> {
        if depth >= MAX_DEPTH {
            return self.too_deep();
        }
        match self.locate(value, None)? {
            Found::Literal(Value::Bool(b)) => Some(*b),
            Found::Literal(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "on" | "true" | "enable" | "enabled" | "yes" => Some(true),
                "off" | "false" | "disable" | "disabled" | "no" => Some(false),
                _ => None,
            },
            Found::Literal(Value::Number(n)) => n.as_f64().map(|n| n != 0.0),
            Found::Literal(_) => None,
            Found::Node(node, _, _) => {
                let (_, inner) = node.first_input(&["value", "boolean", "bool"])?;
                self.boolean(inner, depth + 1)
            }
        }
    }

    /// A number input, literally or through seed and primitive nodes.
    pub(super) fn number(&self, value: &'a Value, depth: usize) -> Option<f64> {
        self.numeric(value, depth, &serde_json::Number::as_f64, &|n| {
            Some(n as f64)
        })
    }

    /// An integer input (a seed uses the full `u64` range, so integers are
    /// read exactly rather than through `f64`).
    pub(super) fn integer(&self, value: &'a Value, depth: usize) -> Option<u64> {
        self.numeric(
            value,
            depth,
            &crate::metadata::formats::json::number_uint,
            &|n: u64| Some(n),
        )
    }

    /// A numeric input read with `literal`, following links through seed,
    /// primitive and resolution nodes.
    fn numeric<T>(
        &self,
        value: &'a Value,
        depth: usize,
        literal: &dyn Fn(&serde_json::Number) -> Option<T>,
        from_u64: &dyn Fn(u64) -> Option<T>,
    ) -> Option<T> {
        if depth >= MAX_DEPTH {
            return self.too_deep();
        }
        match self.locate(value, None)? {
            Found::Literal(Value::Number(n)) => literal(n),
            Found::Literal(Value::String(s)) => {
                // Number widgets of some packs hold the number as text.
                let n: serde_json::Number = s.trim().parse().ok()?;
                literal(&n)
            }
            Found::Literal(_) => None,
            Found::Node(node, slot, field) => {
                if let Some(f) = field
                    && let Some(v) = node.input(f)
                {
                    return self.numeric(v, depth + 1, literal, from_u64);
                }
                if let Some(Kind::Resolution { text }) = rule_for(node.class).map(|r| r.kind) {
                    let (w, h) = self.resolution(node, text, depth + 1)?;
                    return from_u64(if slot == 0 { w } else { h });
                }
                let Some((name, inner)) = node.first_input(&NUMBER_INPUTS) else {
                    return self.unresolved(format!("{} gives no literal number", describe(&node)));
                };
                if !self.only_inputs(&node, &[name]) {
                    return None;
                }
                self.numeric(inner, depth + 1, literal, from_u64)
            }
        }
    }

    /// The `(width, height)` of a resolution node's `WxH` text. When the
    /// node can turn it (portrait/landscape), only a square size is known.
    fn resolution(&self, node: Node<'a>, input: &str, depth: usize) -> Option<(u64, u64)> {
        let text = self.text(node.input(input)?, depth)?;
        let (w, h) = crate::metadata::formats::json::size_text(&text)?;
        if w != h
            && node
                .first_input(&["direction", "orientation", "flip"])
                .is_some()
        {
            return self.unresolved(format!(
                "{}: the orientation decides width and height",
                describe(&node)
            ));
        }
        Some((w, h))
    }

    /// The prompt behind a conditioning input.
    pub(super) fn prompt(&self, value: &'a Value, depth: usize) -> Option<Prompt> {
        if depth >= MAX_DEPTH {
            return self.too_deep();
        }
        match self.locate(value, None)? {
            Found::Node(node, slot, field) => self.prompt_node(node, slot, field, depth),
            Found::Literal(_) => self.unresolved("a conditioning input holds no link"),
        }
    }

    /// The prompt behind output `slot` of a located node (`field`: the
    /// field wanted of it when it was reached through a bundle).
    pub(super) fn prompt_node(
        &self,
        node: Node<'a>,
        slot: u64,
        field: Option<&str>,
        depth: usize,
    ) -> Option<Prompt> {
        if node.class == "ConditioningZeroOut" {
            return Some(Prompt::Zeroed);
        }
        let text = |v: &'a Value| {
            self.text(v, depth + 1)
                .map(|t| Prompt::Text(t, node.id.to_owned()))
        };
        // Loaders that encode their own prompts (Efficiency loaders).
        if let Some(Kind::Loader { .. }) = rule_for(node.class).map(|r| r.kind) {
            let wanted =
                field.map(|f| f.trim_start_matches("base_").trim_start_matches("refiner_"));
            return match wanted.and_then(|f| node.input(f)) {
                Some(v) => text(v),
                None => self.unresolved(format!("{} gives no prompt here", describe(&node))),
            };
        }
        if let Some(f) = field {
            return match node.input(f) {
                Some(v) if link(v).is_some() => self.prompt(v, depth + 1),
                Some(v) => text(v),
                None => self.unresolved(format!("{} carries no {f}", describe(&node))),
            };
        }
        if let Some(Kind::Template { result }) = rule_for(node.class).map(|r| r.kind) {
            return self
                .template(node, result, depth + 1)
                .map(|t| Prompt::Text(t, node.id.to_owned()));
        }
        if node.class_has("Schedul") && (node.class_has("Prompt") || node.class_has("Batch")) {
            return self.unresolved(format!(
                "{}: a prompt schedule, not one literal prompt",
                describe(&node)
            ));
        }
        // Conditioning pass-through with a positive/negative pair
        // (ControlNetApplyAdvanced, InstructPix2PixConditioning, guiders).
        if let (Some(pos), Some(neg)) = (node.input("positive"), node.input("negative"))
            && link(pos).is_some()
            && link(neg).is_some()
        {
            return self.prompt(if slot == 0 { pos } else { neg }, depth + 1);
        }
        // Encoders of a positive and a negative text: slot 0 is the
        // positive conditioning, slot 1 the negative one.
        let negative = slot == 1;
        let has_text = node.input("text").is_some();
        // Searge's prompt encoder: the base positive and negative come
        // first, the refiner's after them.
        let searge = match slot {
            0 => ("pos_g", "pos_l"),
            1 => ("neg_g", "neg_l"),
            _ => ("", ""),
        };
        for (g, l) in [
            ("text_g", "text_l"),
            ("prompt_g", "prompt_l"),
            ("t5xxl", "clip_l"),
            searge,
            if negative {
                ("negative_g", "negative_l")
            } else {
                ("positive_g", "positive_l")
            },
        ] {
            if let (false, Some(g), Some(l)) = (has_text, node.input(g), node.input(l)) {
                let (g, l) = (self.text(g, depth + 1)?, self.text(l, depth + 1)?);
                return if g == l {
                    Some(Prompt::Text(g, node.id.to_owned()))
                } else {
                    self.unresolved(format!(
                        "{}: two different texts (g and l)",
                        describe(&node)
                    ))
                };
            }
        }
        let pair = if negative {
            [
                "negative",
                "negative_prompt",
                "text_negative",
                "negative_text",
            ]
        } else {
            [
                "positive",
                "positive_prompt",
                "text_positive",
                "positive_text",
            ]
        };
        if node
            .first_input(&[
                "negative",
                "negative_prompt",
                "text_negative",
                "negative_text",
            ])
            .is_some()
            && let Some((_, v)) = node.first_input(&pair).or_else(|| {
                (!negative)
                    .then(|| node.first_input(&["prompt", "text"]))
                    .flatten()
            })
        {
            return text(v);
        }
        if let Some((_, input)) = node.first_input(&TEXT_INPUTS) {
            return text(input);
        }
        // Two conditionings combined, concatenated or averaged: one prompt
        // only when both are the same text.
        for (a, b) in [
            ("conditioning_1", "conditioning_2"),
            ("conditioning_to", "conditioning_from"),
        ] {
            if let (Some(a), Some(b)) = (node.input(a), node.input(b)) {
                let (a, b) = (self.prompt(a, depth + 1)?, self.prompt(b, depth + 1)?);
                return match (a, b) {
                    (Prompt::Text(a, encoder), Prompt::Text(b, _)) if a == b => {
                        Some(Prompt::Text(a, encoder))
                    }
                    (Prompt::Zeroed, Prompt::Zeroed) => Some(Prompt::Zeroed),
                    _ => self.unresolved(format!(
                        "{}: combines two different prompts",
                        describe(&node)
                    )),
                };
            }
        }
        let Some((_, upstream)) = node.first_input(&[
            "conditioning",
            "conditioning_to",
            "conditioning_1",
            "cond",
            "base_conditioning",
            "positive",
        ]) else {
            return self.unresolved(format!(
                "{} is not a text encoder the resolver knows",
                describe(&node)
            ));
        };
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
            let Found::Node(node, _, field) = self.locate(clip, None)? else {
                return None;
            };
            if field.is_some() {
                // An Efficiency loader's CLIP: its own clip_skip.
                let skip = self.number(node.input("clip_skip")?, 0)?;
                return (skip != 0.0).then_some(skip.abs() as u64);
            }
            if node.class == "CLIPSetLastLayer" {
                let layer = self.number(node.input("stop_at_clip_layer")?, 0)?;
                return (layer < 0.0).then_some((-layer) as u64);
            }
            clip = node.input("clip")?;
        }
        self.too_deep()
    }
}
