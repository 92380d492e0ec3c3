//! Sampling passes and what feeds them. A node is a sampling pass by what
//! it takes, whatever its class: a seed (or noise), steps (or sigmas), a
//! guidance scale (or guider), a sampler or scheduler, and conditioning (or
//! a guider, a pipe, a tuple). Its values are read through the resolver,
//! with the helper nodes of custom sampling (noise, guider, sampler,
//! sigmas) and the bundles detailers and Efficiency samplers take.

use super::graph::{Graph, MAX_DEPTH, Node, describe, link, natural_key};
use super::rules::{Kind, rule_for};
use super::values::{Found, Prompt, is_bundle_input};
use crate::metadata::model::Lora;
use serde_json::Value;
use std::collections::{BTreeSet, VecDeque};

/// Inputs a flow walk never follows: they carry models, conditioning and
/// settings, not the image or latent being made.
const SIDE_INPUTS: [&str; 19] = [
    "model",
    "clip",
    "vae",
    "positive",
    "negative",
    "conditioning",
    "control",
    "guider",
    "sigmas",
    "noise",
    "seed",
    "text",
    "prompt",
    "pipe",
    "tuple",
    "hook",
    "detector",
    "upscale_model",
    "script",
];

fn is_side_input(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SIDE_INPUTS.iter().any(|side| name.contains(side)) || name.ends_with("_model")
}

/// Inputs along which a pass continues an earlier image or latent.
const PASS_FLOW: [&str; 7] = [
    "latent_image",
    "latent",
    "samples",
    "image",
    "images",
    "pixels",
    "latents",
];

/// Whether a node samples: it takes a seed or noise, steps or sigmas, a
/// sampler or scheduler, and conditioning (or a guider, a pipe, a tuple).
/// A guidance scale usually comes with them but is not required (some
/// samplers take none).
pub(super) fn is_pass(node: &Node<'_>) -> bool {
    let has = |names: &[&str]| names.iter().any(|n| node.inputs.contains_key(*n));
    let bundle = node.inputs.keys().any(|k| is_bundle_input(k));
    has(&["seed", "noise_seed", "noise"])
        && has(&["steps", "sigmas"])
        && has(&["sampler_name", "sampler", "scheduler"])
        && (has(&["positive", "guider", "base_positive"]) || bundle)
}

/// Like [`is_pass`], for a graph with use-everywhere nodes: a sampler whose
/// seed or conditioning inputs a broadcast fills is saved without them, so
/// steps, a sampler or scheduler, a guidance scale and a latent suffice.
pub(super) fn is_pass_in(node: &Node<'_>, broadcasts: bool) -> bool {
    if is_pass(node) {
        return true;
    }
    let has = |names: &[&str]| names.iter().any(|n| node.inputs.contains_key(*n));
    broadcasts
        && has(&["steps"])
        && has(&["sampler_name", "scheduler"])
        && has(&["cfg"])
        && has(&["latent_image"])
}

/// What one sampling pass states.
#[derive(Debug, Clone, Default)]
pub(super) struct Pass {
    pub(super) node: String,
    pub(super) class: String,
    pub(super) seed: Option<u64>,
    pub(super) adds_noise: Option<bool>,
    pub(super) steps: Option<u64>,
    pub(super) cfg: Option<f64>,
    pub(super) sampler: Option<String>,
    pub(super) scheduler: Option<String>,
    pub(super) denoise: Option<f64>,
    pub(super) positive: Option<String>,
    pub(super) negative: Option<String>,
    pub(super) negative_zeroed: bool,
    pub(super) clip_skip: Option<u64>,
    pub(super) model: Option<String>,
    pub(super) loras: Option<Vec<Lora>>,
    /// The size of the empty latent the pass starts from.
    pub(super) size: Option<(u64, u64)>,
    /// False when the pass has no latent input at all (a detailer works on
    /// an image): it says nothing about the generation size.
    pub(super) has_latent: bool,
    /// The pass runs a base and a refiner model inside one node.
    pub(super) two_models: bool,
    /// Why values are unknown, by field.
    pub(super) unresolved: Vec<(&'static str, String)>,
    pub(super) notes: Vec<String>,
}

/// Where a walk for passes starts.
#[derive(Debug, Clone, Copy)]
pub(super) enum Start<'a> {
    /// An output's image input.
    Input(&'a Value),
    /// A pass that is itself the end of a chain.
    Pass(Node<'a>),
}

/// A pass found upstream of an output.
#[derive(Debug, Clone)]
pub(super) struct PassNode<'a> {
    pub(super) node: Node<'a>,
    /// A HighRes-Fix script attached to the node: a second, virtual pass.
    pub(super) script: Option<Node<'a>>,
}

/// What lies between a pass and the earlier pass it continues.
#[derive(Debug, Default, Clone)]
pub(super) struct Between {
    /// The earlier pass.
    pub(super) from: Option<String>,
    /// The upscale model the image went through on the way.
    pub(super) upscaler: Option<String>,
    /// A literal scale factor on the way.
    pub(super) scale: Option<f64>,
    /// Whether any upscaling or rescaling node was passed.
    pub(super) upscaled: bool,
}

impl<'a> Graph<'a> {
    /// The passes feeding an output: `start` is the output's image input,
    /// or a pass node itself. Nearest first; each pass with what lies
    /// between it and the earlier pass it continues. The second value is
    /// what lies between the output and the nearest pass.
    pub(super) fn passes_upstream(
        &self,
        start: Start<'a>,
    ) -> (Vec<(PassNode<'a>, Between)>, Between) {
        let mut found: Vec<(PassNode<'a>, Between)> = Vec::new();
        let mut head = Between::default();
        let mut seen = BTreeSet::new();
        // (value, the pass downstream this walk continues from)
        let mut queue: VecDeque<(&'a Value, Option<usize>)> = VecDeque::new();
        match start {
            Start::Input(value) => queue.push_back((value, None)),
            Start::Pass(node) => {
                self.push_pass(node, None, &mut found, &mut head, &mut seen, &mut queue)
            }
        }
        while let Some((value, downstream)) = queue.pop_front() {
            if found.len() >= MAX_PASSES {
                break;
            }
            let Some(Found::Node(node, _, _)) = self.locate(value, None) else {
                continue;
            };
            if self.is_pass(&node) {
                self.push_pass(
                    node, downstream, &mut found, &mut head, &mut seen, &mut queue,
                );
                continue;
            }
            if !seen.insert(node.id) {
                continue;
            }
            let between = match downstream {
                Some(d) => &mut found[d].1,
                None => &mut head,
            };
            if between.from.is_none() {
                if node.class_has("Upscale") && node.class_has("Loader") {
                    between.upscaler = between
                        .upscaler
                        .take()
                        .or_else(|| node.input("model_name").and_then(|v| self.text(v, 0)));
                }
                if let Some((_, model)) = node.first_input(&["upscale_model"]) {
                    let loader = self.follow(model).map(|(n, _)| n);
                    if between.upscaler.is_none() {
                        between.upscaler = loader
                            .and_then(|n| n.input("model_name").and_then(|v| self.text(v, 0)));
                    }
                }
                if node.class_has("Upscale") || node.class_has("Scale") || node.class_has("Resize")
                {
                    between.upscaled = true;
                }
                if let Some(factor) = node.input("scale_by").and_then(|v| self.number(v, 0)) {
                    between.scale = between.scale.or(Some(factor));
                }
            }
            let mut flow: Vec<(&String, &'a Value)> = node
                .inputs
                .iter()
                .filter(|(name, value)| !is_side_input(name) && link(value).is_some())
                .collect();
            flow.sort_by_key(|(name, _)| natural_key(name));
            for (_, v) in flow {
                queue.push_back((v, downstream));
            }
        }
        self.take_why();
        (found, head)
    }

    fn push_pass(
        &self,
        node: Node<'a>,
        downstream: Option<usize>,
        found: &mut Vec<(PassNode<'a>, Between)>,
        head: &mut Between,
        seen: &mut BTreeSet<&'a str>,
        queue: &mut VecDeque<(&'a Value, Option<usize>)>,
    ) {
        let between = match downstream {
            Some(d) => &mut found[d].1,
            None => head,
        };
        if between.from.is_none() {
            between.from = Some(node.id.to_owned());
        }
        if !seen.insert(node.id) {
            return;
        }
        let script = node
            .input("script")
            .and_then(|v| self.follow(v))
            .map(|(n, _)| n)
            .filter(|n| {
                n.inputs.contains_key("hires_steps") || n.inputs.contains_key("tiling_steps")
            });
        found.push((PassNode { node, script }, Between::default()));
        let index = found.len() - 1;
        for name in PASS_FLOW {
            if let Some(v) = node.input(name).filter(|v| link(v).is_some()) {
                queue.push_back((v, Some(index)));
            }
        }
    }

    /// Reads a pass node, following its helper nodes.
    pub(super) fn pass(&self, node: Node<'a>) -> Pass {
        let mut pass = Pass {
            node: node.id.to_owned(),
            class: node.class.to_owned(),
            ..Pass::default()
        };
        let field = |pass: &mut Pass, name: &'static str| {
            if let Some(why) = self.take_why() {
                pass.unresolved
                    .push((name, format!("{}: {why}", describe(&node))));
            }
        };
        self.take_why();

        // Seed and noise.
        pass.adds_noise = node.input("add_noise").and_then(|v| self.boolean(v, 0));
        if let Some((noise, _)) = node.input("noise").and_then(|v| self.follow(v)) {
            if noise.class_has("Disable") {
                pass.adds_noise = Some(false);
            } else {
                pass.seed = noise
                    .first_input(&["noise_seed", "seed"])
                    .and_then(|(_, v)| self.integer(v, 0));
            }
        } else {
            pass.seed = ["seed", "noise_seed"]
                .iter()
                .find_map(|n| self.input_or_broadcast(&node, n))
                .and_then(|v| self.integer(v, 0));
        }
        field(&mut pass, "seed");

        pass.steps = node.input("steps").and_then(|v| self.integer(v, 0));
        pass.cfg = node.input("cfg").and_then(|v| self.number(v, 0));
        pass.sampler = node.input("sampler_name").and_then(|v| self.text(v, 0));
        pass.scheduler = node.input("scheduler").and_then(|v| self.text(v, 0));
        pass.denoise = node.input("denoise").and_then(|v| self.number(v, 0));
        field(&mut pass, "steps");

        if let Some((sampler, _)) = node.input("sampler").and_then(|v| self.follow(v)) {
            pass.sampler = sampler
                .input("sampler_name")
                .and_then(|v| self.text(v, 0))
                .or_else(|| {
                    // Dedicated sampler nodes (SamplerEulerAncestral, …)
                    // stand for a sampler by their class.
                    super::rules::class_name_in(super::rules::SAMPLER_CLASSES, sampler.class)
                        .map(str::to_owned)
                        .or_else(|| {
                            self.unresolved(format!(
                                "{} is a sampler node with its own settings",
                                describe(&sampler)
                            ))
                        })
                });
        }
        let mut model_input = None;
        let mut positive_input = None;
        let mut negative_input = None;
        if let Some((sigmas, _)) = node.input("sigmas").and_then(|v| self.follow(v)) {
            pass.steps = sigmas.input("steps").and_then(|v| self.integer(v, 0));
            pass.denoise = sigmas.input("denoise").and_then(|v| self.number(v, 0));
            pass.scheduler = sigmas
                .input("scheduler")
                .and_then(|v| self.text(v, 0))
                .or_else(|| {
                    super::rules::class_name_in(super::rules::SCHEDULER_CLASSES, sigmas.class)
                        .map(str::to_owned)
                });
            model_input = sigmas.input("model");
        }
        if let Some((guider, _)) = node.input("guider").and_then(|v| self.follow(v)) {
            pass.cfg = guider.input("cfg").and_then(|v| self.number(v, 0));
            model_input = guider.input("model").or(model_input);
            positive_input = guider
                .first_input(&["positive", "conditioning", "cond1"])
                .map(|(_, v)| (v, None));
            negative_input = guider.input("negative").map(|v| (v, None));
        }
        field(&mut pass, "sampler");

        // Model and conditioning: own inputs, broadcasts, or a bundle.
        let bundle = node
            .inputs
            .iter()
            .find(|(k, v)| is_bundle_input(k) && link(v).is_some())
            .map(|(_, v)| v);
        let tuple = node.inputs.contains_key("sdxl_tuple");
        let from_bundle = |name: &'static str| bundle.map(|b| (b, Some(name)));
        let (model_field, pos_field, neg_field) = if tuple {
            ("base_model", "base_positive", "base_negative")
        } else {
            ("model", "positive", "negative")
        };
        // An input of the node itself, else of its helper nodes, else the
        // field of the bundle it takes; a use-everywhere broadcast only for
        // a node that takes no bundle (broadcasts fill inputs left empty).
        let own = |name: &str, base: &str| {
            node.input(name)
                .or_else(|| node.input(base))
                .map(|v| (v, None))
        };
        let broadcast = |name: &str| {
            bundle
                .is_none()
                .then(|| self.input_or_broadcast(&node, name))
                .flatten()
                .map(|v| (v, None))
        };
        let model = own("model", "base_model")
            .or_else(|| model_input.map(|v| (v, None)))
            .or_else(|| from_bundle(model_field))
            .or_else(|| broadcast("model"));
        positive_input = own("positive", "base_positive")
            .or(positive_input)
            .or_else(|| from_bundle(pos_field))
            .or_else(|| broadcast("positive"));
        negative_input = own("negative", "base_negative")
            .or(negative_input)
            .or_else(|| from_bundle(neg_field))
            .or_else(|| broadcast("negative"));

        if let Some((v, f)) = model {
            let mut loras = Vec::new();
            let (model, loras_known) = self.model(v, f, &mut loras);
            pass.model = model;
            if pass.model.is_some() && loras_known {
                pass.loras = Some(loras);
            }
        } else {
            self.unresolved::<()>("no model input");
        }
        let refiner = node
            .input("refiner_model")
            .map(|v| (v, None))
            .or_else(|| tuple.then(|| from_bundle("refiner_model")).flatten());
        if let Some((v, f)) = refiner {
            let mut ignored = Vec::new();
            let (refiner_model, _) = self.model(v, f, &mut ignored);
            self.take_why();
            if refiner_model.as_ref().is_some_and(|r| r != "None") {
                pass.two_models = true;
                pass.notes.push(format!(
                    "{} runs a base and a refiner pass inside one node",
                    describe(&node)
                ));
                pass.model = None;
                self.unresolved::<()>("a base and a refiner model both sample inside one node");
            }
        }
        field(&mut pass, "model");

        // A detailer's wildcard text, when given, replaces its positive
        // prompt for every region (expanded at run time).
        let wildcard = node.input("wildcard").or_else(|| {
            match bundle.map(|b| self.locate(b, Some("wildcard"))) {
                Some(Some(Found::Literal(v))) => Some(v),
                _ => None,
            }
        });
        self.take_why();
        let wildcard_replaces = wildcard
            .is_some_and(|w| link(w).is_some() || w.as_str().is_some_and(|t| !t.trim().is_empty()));
        if let Some((v, f)) = positive_input {
            match self.prompt_at(v, f) {
                Some(Prompt::Text(text, encoder)) => {
                    pass.positive = Some(text);
                    pass.clip_skip = self.clip_skip(&encoder);
                    self.take_why();
                }
                Some(Prompt::Zeroed) => pass.positive = Some(String::new()),
                None => {}
            }
        }
        if wildcard_replaces {
            pass.positive = None;
            pass.clip_skip = None;
            self.take_why();
            self.unresolved::<()>("the detailer's wildcard text replaces its prompt at run time");
        }
        field(&mut pass, "positive_prompt");
        if let Some((v, f)) = negative_input {
            match self.prompt_at(v, f) {
                Some(Prompt::Text(text, _)) => pass.negative = Some(text),
                Some(Prompt::Zeroed) => {
                    pass.negative = Some(String::new());
                    pass.negative_zeroed = true;
                }
                None => {}
            }
        }
        field(&mut pass, "negative_prompt");

        if let Some((_, latent)) = node.first_input(&["latent_image", "latent", "samples"]) {
            pass.has_latent = true;
            pass.size = self.latent_size(latent);
        } else if let Some(b) = bundle.filter(|_| tuple) {
            // Efficiency SDXL samplers take the latent beside the tuple.
            pass.has_latent = true;
            pass.size = self.latent_size(b);
        }
        field(&mut pass, "width");
        if let Some((script, _)) = node.input("script").and_then(|v| self.follow(v))
            && script.class_has("XY")
        {
            // An XY plot samples the node many times over varied values
            // (seeds, steps, samplers, checkpoints, prompts): none is the
            // pass's own.
            let kept_node = std::mem::take(&mut pass.node);
            let kept_class = std::mem::take(&mut pass.class);
            pass = Pass {
                node: kept_node,
                class: kept_class,
                ..Pass::default()
            };
            pass.unresolved.push((
                "seed",
                format!(
                    "{}: an XY plot varies this pass's values",
                    describe(&script)
                ),
            ));
            return pass;
        }
        if node.class_has("Detailer") {
            pass.notes
                .push("a detailer: an inpainting pass over detected regions".to_owned());
        }
        pass
    }

    /// The second pass a HighRes-Fix script adds to an Efficiency sampler:
    /// the same seed, guidance, sampler and model, its own steps and denoise,
    /// on the upscaled latent.
    pub(super) fn script_pass(&self, base: &Pass, script: Node<'a>) -> Pass {
        let mut pass = Pass {
            node: format!("{}+{}", base.node, script.id),
            class: format!("{} + {}", base.class, script.class),
            seed: base.seed,
            adds_noise: base.adds_noise,
            cfg: base.cfg,
            sampler: base.sampler.clone(),
            scheduler: base.scheduler.clone(),
            positive: base.positive.clone(),
            negative: base.negative.clone(),
            negative_zeroed: base.negative_zeroed,
            clip_skip: base.clip_skip,
            model: base.model.clone(),
            loras: base.loras.clone(),
            has_latent: true,
            steps: script
                .first_input(&["hires_steps", "tiling_steps"])
                .and_then(|(_, v)| self.integer(v, 0)),
            denoise: script.input("denoise").and_then(|v| self.number(v, 0)),
            ..Pass::default()
        };
        // Newer scripts may seed the second pass themselves, and sample it
        // with another checkpoint.
        let same_seed = script
            .input("use_same_seed")
            .and_then(|v| self.boolean(v, 0));
        if same_seed == Some(false) || (same_seed.is_none() && script.input("seed").is_some()) {
            pass.seed = script.input("seed").and_then(|v| self.integer(v, 0));
        }
        if let Some(name) = script
            .input("hires_ckpt_name")
            .and_then(|v| self.text(v, 0))
            && !name.starts_with('(')
        {
            pass.model = None;
            pass.loras = None;
            pass.unresolved.push((
                "model",
                format!("{}: samples with its own checkpoint", describe(&script)),
            ));
        }
        self.take_why();
        pass.unresolved.push((
            "width",
            format!(
                "{}: the latent is upscaled by the script",
                describe(&script)
            ),
        ));
        pass.notes
            .push("a hires-fix pass added by a script".to_owned());
        pass
    }

    fn prompt_at(&self, value: &'a Value, field: Option<&'static str>) -> Option<Prompt> {
        match self.locate(value, field)? {
            Found::Literal(Value::String(s)) if field.is_some() => {
                Some(Prompt::Text(s.clone(), String::new()))
            }
            Found::Literal(_) => self.unresolved("a conditioning input holds no link"),
            Found::Node(node, slot, f) => self.prompt_node(node, slot, f, 1),
        }
    }

    /// The checkpoint/UNET behind a model input (or the model field of a
    /// bundle), and the LoRAs applied on the way, in the order applied;
    /// the flag is false when which LoRAs were applied is not known.
    pub(super) fn model(
        &self,
        value: &'a Value,
        field: Option<&'static str>,
        loras: &mut Vec<Lora>,
    ) -> (Option<String>, bool) {
        let mut groups = Vec::new();
        let mut unknown_loras = false;
        let model = self.model_walk(value, field, &mut groups, &mut unknown_loras);
        // Found from the sampler upstream; listed in the order applied.
        loras.extend(groups.into_iter().rev().flatten());
        if unknown_loras {
            loras.clear();
            self.unresolved::<()>("a LoRA node takes its LoRAs from a text");
            return (model, false);
        }
        (model, true)
    }

    fn model_walk(
        &self,
        value: &'a Value,
        field: Option<&'static str>,
        groups: &mut Vec<Vec<Lora>>,
        unknown_loras: &mut bool,
    ) -> Option<String> {
        let mut current = value;
        let mut field = field;
        let mut seen = BTreeSet::new();
        for _ in 0..MAX_DEPTH {
            let (node, slot_field) = match self.locate(current, field)? {
                Found::Node(node, _, f) => (node, f),
                Found::Literal(v) => {
                    return v
                        .as_str()
                        .map(str::to_owned)
                        .or_else(|| self.unresolved("the model is not a name"));
                }
            };
            field = None;
            if !seen.insert(node.id) {
                return self.too_deep();
            }
            // Loaders such as Efficient Loader apply a LoRA themselves.
            if node.class_has("lora") || node.inputs.contains_key("lora_name") {
                let mut loras = Vec::new();
                self.collect_loras(node, &mut loras, 0);
                let named = node
                    .inputs
                    .keys()
                    .any(|k| k == "lora_name" || k == "lora_stack" || k.starts_with("lora_"));
                if loras.is_empty() && !named {
                    // A LoRA node that takes its LoRAs from elsewhere (tags
                    // in a prompt text): which ones is not known.
                    *unknown_loras = true;
                }
                groups.push(loras);
            }
            if let Some(Kind::Template { result }) = rule_for(node.class).map(|r| r.kind)
                && node
                    .input(result)
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.contains("<lora:"))
            {
                *unknown_loras = true;
            }
            let refiner = slot_field.is_some_and(|f| f.starts_with("refiner"));
            let names: &[&str] = if refiner {
                &["refiner_ckpt_name"]
            } else {
                &[
                    "ckpt_name",
                    "unet_name",
                    "base_ckpt_name",
                    "gguf_name",
                    "model_path",
                    "model_name",
                ]
            };
            if let Some((key, name)) = node.first_input(names) {
                if key == "model_name" && !node.class_has("Checkpoint") && !node.class_has("Loader")
                {
                    return self.unresolved(format!("{} is not a model loader", describe(&node)));
                }
                return self.text(name, 0);
            }
            if let Some(Kind::Loader { .. }) = rule_for(node.class).map(|r| r.kind) {
                return self.unresolved(format!("{} names no checkpoint", describe(&node)));
            }
            current = match node.first_input(&["model", "MODEL", "base_model"]) {
                Some((_, v)) => v,
                None => {
                    return self.unresolved(format!(
                        "{} is not a model loader the resolver knows",
                        describe(&node)
                    ));
                }
            };
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
        let upstream_first = super::rules::stack_upstream_first(node.class);
        if upstream_first
            && let Some((stack, _)) = node.input("lora_stack").and_then(|v| self.follow(v))
        {
            self.collect_loras(stack, loras, depth + 1);
        }
        let enabled = |v: Option<&'a Value>| v.and_then(|v| self.boolean(v, 0)).unwrap_or(true);
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
        let mut numbered: Vec<(&String, &'a Value)> = node.inputs.iter().collect();
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
                    // Efficiency's LoRA Stacker in its simple mode weighs
                    // model and clip alike (`lora_wt_N`).
                    let strength = [
                        format!("model_weight_{index}"),
                        format!("model_str_{index}"),
                        format!("lora_wt_{index}"),
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
        if !upstream_first
            && let Some((stack, _)) = node.input("lora_stack").and_then(|v| self.follow(v))
        {
            self.collect_loras(stack, loras, depth + 1);
        }
    }

    /// The generation size behind a latent input: an empty latent's width
    /// and height (or its `dimensions` text). A latent encoded from an
    /// image, resized, or made by another pass has no stated size.
    pub(super) fn latent_size(&self, value: &'a Value) -> Option<(u64, u64)> {
        let mut latent = value;
        for _ in 0..MAX_DEPTH {
            let (node, field) = match self.locate(latent, None)? {
                Found::Node(node, _, field) => (node, field),
                Found::Literal(_) => return None,
            };
            if field.is_some_and(|f| f != "latent" && f != "sdxl_tuple") {
                return self.unresolved(format!("{} gives no latent here", describe(&node)));
            }
            if self.is_pass(&node) {
                // Sampling keeps the size: a pass continuing another pass's
                // latent has that pass's size.
                latent = match node.first_input(&["latent_image", "latent", "samples"]) {
                    Some((_, v)) => v,
                    None => {
                        return self
                            .unresolved(format!("the latent comes from {}", describe(&node)));
                    }
                };
                continue;
            }
            if node.inputs.contains_key("pixels")
                || node.class_has("LoadImage")
                || node.class_has("Encode")
            {
                return self.unresolved(format!("the latent is encoded ({})", describe(&node)));
            }
            if node.class_has("Upscale")
                || node.class_has("Scale")
                || node.class_has("Resize")
                || node.class_has("Crop")
            {
                return self.unresolved(format!("the latent is resized ({})", describe(&node)));
            }
            // A size picker whose preset, ratio or override decides the
            // size: its width and height inputs are not the size.
            if let Some((key, _)) = node.inputs.iter().find(|(k, v)| {
                let k = k.to_ascii_lowercase();
                let neutral = match v {
                    Value::Null => true,
                    Value::Bool(b) => !b,
                    Value::Number(n) => {
                        n.as_f64() == Some(0.0)
                            || (k.contains("multipl") && n.as_f64() == Some(1.0))
                    }
                    Value::String(s) => matches!(
                        s.to_ascii_lowercase().as_str(),
                        "custom" | "off" | "false" | "disable" | "disabled" | "none" | ""
                    ),
                    _ => false,
                };
                [
                    "ratio", "aspect", "preset", "override", "swap", "flip", "multipl",
                ]
                .iter()
                .any(|p| k.contains(p))
                    && !neutral
            }) {
                let key: String = key.chars().take(40).collect();
                return self.unresolved(format!("{}: its {key} decides the size", describe(&node)));
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
            latent = match node.first_input(&["samples", "latent", "latent_image", "latents"]) {
                Some((_, v)) => v,
                None => {
                    return self.unresolved(format!("{} states no latent size", describe(&node)));
                }
            };
        }
        self.too_deep()
    }
}

/// The most passes read for one output.
pub(super) const MAX_PASSES: usize = 64;
