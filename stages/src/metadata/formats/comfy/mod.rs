//! ComfyUI graphs: find the output that produced the file, every sampling
//! pass feeding it, and read each pass's values through the links.
//!
//! - Sampling passes are found by what a node takes (`sampler.rs`), values
//!   by following links through the node families of the rule table
//!   (`rules.rs`, interpreted by `values.rs`).
//! - Which output is this file: save nodes before previews; then the saver
//!   whose `filename_prefix` the file's name starts with; then the branch
//!   whose size matches the image. Outputs that remain with different passes
//!   make the result ambiguous, and only values every pass agrees on are
//!   stated.
//! - A top-level field is stated only when every sampling pass feeding the
//!   chosen output(s) states the same value (a pass that adds no noise does
//!   not count for the seed; a pass without a latent, such as a detailer,
//!   not for the size). One exception keeps the usual shape of a hires fix:
//!   one pass, an upscale, and one more pass continuing it are reported as
//!   the first pass plus `hires`.
//! - Every pass is listed in `samplers`, and every reason a field is not
//!   stated in `ambiguity`.
//!
//! Files that embed only the UI workflow are read by converting it to the
//! API shape first (`workflow.rs`), where each node's widget order is known.

mod graph;
mod rules;
mod sampler;
mod values;
mod workflow;

pub(crate) use graph::Graph;
pub(crate) use workflow::{from_workflow, is_workflow};

use crate::metadata::model::{Generation, Hires, SamplingPass};
use graph::{Node, describe, natural_key};
use sampler::{Between, Pass, Start};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The most outputs examined.
const MAX_OUTPUTS: usize = 64;

/// The most ambiguity reasons kept.
const MAX_REASONS: usize = 24;

/// Whether a JSON object is an API graph (some value is a node).
pub(crate) fn is_graph(map: &Map<String, Value>) -> bool {
    map.values()
        .any(|v| v.get("class_type").is_some_and(Value::is_string) && v.get("inputs").is_some())
}

/// The most distinct node classes kept for search.
const MAX_CLASSES: usize = 1024;

/// The most bytes of literal strings kept for search.
const MAX_STRING_BYTES: usize = 256 << 10;

/// The longest single string kept for search (a longer one is cut).
const MAX_STRING: usize = 16 << 10;

/// The node classes and literal strings of an API graph and a UI workflow,
/// bounded, for search.
pub(crate) fn graph_text(
    api: Option<&Map<String, Value>>,
    workflow: Option<&Map<String, Value>>,
) -> crate::metadata::GraphText {
    let mut out = crate::metadata::GraphText::default();
    let mut classes = BTreeSet::new();
    let mut strings = BTreeSet::new();
    let mut bytes = 0;
    let mut add_class = |class: &str, out: &mut crate::metadata::GraphText| {
        if out.nodes.len() < MAX_CLASSES && classes.insert(class.to_owned()) {
            out.nodes.push(cut(class, 200).to_owned());
        }
    };
    let mut add_string = |text: &str, out: &mut crate::metadata::GraphText| {
        let text = cut(text.trim(), MAX_STRING);
        if text.is_empty() || bytes + text.len() > MAX_STRING_BYTES {
            return;
        }
        if strings.insert(text.to_owned()) {
            bytes += text.len();
            out.strings.push(text.to_owned());
        }
    };
    for node in api.into_iter().flat_map(|m| m.values()) {
        let Some(class) = node.get("class_type").and_then(Value::as_str) else {
            continue;
        };
        add_class(class, &mut out);
        for value in node
            .get("inputs")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|i| i.values())
        {
            if let Value::String(s) = value {
                add_string(s, &mut out);
            }
        }
    }
    for node in workflow
        .and_then(|w| w.get("nodes"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(class) = node.get("type").and_then(Value::as_str) {
            add_class(class, &mut out);
        }
        for value in node
            .get("widgets_values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Value::String(s) = value {
                add_string(s, &mut out);
            }
        }
    }
    out
}

/// `text` cut to at most `max` bytes at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// One output node and the passes feeding it.
struct Output<'a> {
    node: Option<Node<'a>>,
    save: bool,
    /// Pass node ids, nearest first, with what lies before each.
    passes: Vec<(sampler::PassNode<'a>, Between)>,
    head: Between,
}

impl Output<'_> {
    fn pass_set(&self) -> BTreeSet<&str> {
        self.passes.iter().map(|(p, _)| p.node.id).collect()
    }
}

/// Extracts the parameters of the branch that produced `file_name`.
///
/// `pixel_size` is the decoded size the container states: it picks the
/// branch whose size matches, and gives the scale of an upscaling pass when
/// the graph computes the target size.
pub(crate) fn extract(
    root: &Map<String, Value>,
    file_name: Option<&str>,
    pixel_size: Option<(u32, u32)>,
    notes: &mut Vec<String>,
) -> Option<Generation> {
    let graph = Graph::new(root)?;
    let mut g = resolve(&graph, file_name, pixel_size);
    if graph.was_too_deep() {
        notes.push(
            "the graph has a cycle or a chain deeper than 64 links; values behind it are unknown"
                .to_owned(),
        );
    }
    if graph.exhausted() {
        notes.push(
            "the graph is too large or cyclic; the walk stopped at its step budget".to_owned(),
        );
    }
    if graph.take_runtime() {
        g.ambiguous = true;
        notes.push("a value in the graph is computed at run time; it is left unknown".to_owned());
    }
    g.ambiguity.truncate(MAX_REASONS);
    g.generator = Some("comfyui".to_owned());
    g.metadata_format = Some("comfyui-graph".to_owned());
    Some(g)
}

fn resolve(
    graph: &Graph<'_>,
    file_name: Option<&str>,
    pixel_size: Option<(u32, u32)>,
) -> Generation {
    let mut reasons = Vec::new();
    let outputs = outputs(graph);
    let candidates = choose(graph, outputs, file_name, pixel_size);
    // Runtime values met while choosing say nothing about the chosen branch.
    graph.take_runtime();
    let Some(first) = candidates.first() else {
        reasons.push("no sampling pass feeds an output of the graph".to_owned());
        return Generation {
            loras: Some(Vec::new()),
            ambiguity: reasons,
            ..Generation::default()
        };
    };
    let distinct: BTreeSet<BTreeSet<&str>> = candidates.iter().map(Output::pass_set).collect();
    let mut ambiguous = false;
    if distinct.len() > 1 {
        ambiguous = true;
        let names: Vec<String> = candidates
            .iter()
            .filter_map(|o| o.node.map(|n| describe(&n)))
            .collect();
        reasons.push(format!(
            "several outputs ({}) are fed by different sampling passes; the file does not say which one it is",
            names.join(", ")
        ));
    }

    // Every pass feeding the candidates, read once, in graph order.
    let mut passes: Vec<Pass> = Vec::new();
    let mut order: Vec<(Vec<(u64, String)>, usize)> = Vec::new();
    let mut seen = BTreeSet::new();
    for output in &candidates {
        for (found, _) in &output.passes {
            if !seen.insert(found.node.id) {
                continue;
            }
            let pass = graph.pass(found.node);
            let key = natural_key(found.node.id);
            if let Some(script) = found.script {
                let second = graph.script_pass(&pass, script);
                order.push((key.clone(), 0));
                passes.push(pass);
                order.push((key, 1));
                passes.push(second);
            } else {
                order.push((key, 0));
                passes.push(pass);
            }
        }
    }
    let mut indices: Vec<usize> = (0..passes.len()).collect();
    indices.sort_by(|a, b| order[*a].cmp(&order[*b]));
    let passes: Vec<Pass> = indices.into_iter().map(|i| passes[i].clone()).collect();

    if passes.len() > 1 {
        ambiguous = true;
        reasons.push(format!(
            "{} sampling passes feed the output (a multi-pass chain, detailer or refiner passes, or branches)",
            passes.len()
        ));
    }
    for pass in &passes {
        if pass.two_models {
            ambiguous = true;
        }
        reasons.extend(
            pass.notes
                .iter()
                .filter(|n| n.contains("base and a refiner"))
                .cloned(),
        );
        for (field, why) in &pass.unresolved {
            reasons.push(format!("unresolved {field}: {why}"));
        }
    }

    let hires = (candidates.len() == 1 || distinct.len() == 1)
        .then(|| hires_chain(first, &passes))
        .flatten();
    let mut g = match hires {
        Some((base, second, between)) => {
            let mut g = from_pass(base);
            let scale = between.scale.or_else(|| {
                let ratio = f64::from(pixel_size?.0) / g.width? as f64;
                (ratio > 1.0 && ratio.is_finite()).then_some(ratio)
            });
            g.hires = Some(Hires {
                upscaler: between.upscaler.clone(),
                scale,
                steps: second.steps,
                denoise: second.denoise,
            });
            g
        }
        None => {
            let mut g = agreement(&passes);
            if passes.len() == 1
                && let Some(upscaler) = first.passes.first().and_then(|(_, b)| b.upscaler.clone())
            {
                // One pass over an upscaled image (img2img of an upscale).
                g.hires = Some(Hires {
                    upscaler: Some(upscaler),
                    scale: first.passes[0].1.scale,
                    steps: passes[0].steps,
                    denoise: passes[0].denoise,
                });
            }
            g
        }
    };
    g.ambiguous = ambiguous;
    g.ambiguity = reasons;
    g.samplers = passes.iter().map(to_sampling_pass).collect();
    g
}

/// A hires-fix chain: the output is fed by exactly two passes, the later
/// continuing the earlier through an upscale (or a HighRes-Fix script).
fn hires_chain<'p>(
    output: &Output<'_>,
    passes: &'p [Pass],
) -> Option<(&'p Pass, &'p Pass, Between)> {
    let [a, b] = passes else {
        return None;
    };
    if let Some((first, _)) = output.passes.first()
        && first.script.is_some()
        && output.passes.len() == 1
    {
        let between = Between {
            upscaled: true,
            ..Between::default()
        };
        return Some((a, b, between));
    }
    let [(later, between), (earlier, _)] = output.passes.as_slice() else {
        return None;
    };
    if !between.upscaled || between.from.as_deref() != Some(earlier.node.id) {
        return None;
    }
    let (base, second) = if a.node == earlier.node.id {
        (a, b)
    } else {
        (b, a)
    };
    (second.node == later.node.id).then(|| (base, second, between.clone()))
}

/// Every value of one pass, as the top level.
fn from_pass(pass: &Pass) -> Generation {
    Generation {
        positive_prompt: pass.positive.clone(),
        negative_prompt: pass.negative.clone(),
        negative_zeroed: pass.negative_zeroed,
        seed: pass.seed,
        steps: pass.steps,
        cfg: pass.cfg,
        sampler: pass.sampler.clone(),
        scheduler: pass.scheduler.clone(),
        denoise: pass.denoise,
        model: pass.model.clone(),
        loras: pass.loras.clone(),
        clip_skip: pass.clip_skip,
        width: pass.size.map(|(w, _)| w),
        height: pass.size.map(|(_, h)| h),
        ..Generation::default()
    }
}

/// The value every counted pass states alike, or `None`.
fn agree<T: PartialEq + Clone>(mut values: impl Iterator<Item = Option<T>>) -> Option<T> {
    let first = values.next()??;
    for v in values {
        if v.as_ref() != Some(&first) {
            return None;
        }
    }
    Some(first)
}

/// The top level from several passes: each field only where they agree.
fn agreement(passes: &[Pass]) -> Generation {
    let all = || passes.iter();
    let noisy: Vec<&Pass> = passes
        .iter()
        .filter(|p| p.adds_noise != Some(false))
        .collect();
    let sized: Vec<&Pass> = passes.iter().filter(|p| p.has_latent).collect();
    let size = agree(sized.iter().map(|p| p.size));
    Generation {
        positive_prompt: agree(all().map(|p| p.positive.clone())),
        negative_prompt: agree(all().map(|p| p.negative.clone())),
        negative_zeroed: !passes.is_empty() && all().all(|p| p.negative_zeroed),
        seed: agree(noisy.iter().map(|p| p.seed)),
        steps: agree(all().map(|p| p.steps)),
        cfg: agree(all().map(|p| p.cfg)),
        sampler: agree(all().map(|p| p.sampler.clone())),
        scheduler: agree(all().map(|p| p.scheduler.clone())),
        denoise: agree(all().map(|p| p.denoise)),
        model: agree(all().map(|p| p.model.clone())),
        loras: agree(all().map(|p| p.loras.clone())),
        clip_skip: agree(all().map(|p| Some(p.clip_skip))).flatten(),
        width: size.map(|(w, _)| w),
        height: size.map(|(_, h)| h),
        ..Generation::default()
    }
}

fn to_sampling_pass(p: &Pass) -> SamplingPass {
    let mut notes = p.notes.clone();
    notes.extend(
        p.unresolved
            .iter()
            .map(|(f, why)| format!("unresolved {f}: {why}")),
    );
    SamplingPass {
        node: p.node.clone(),
        class_type: p.class.clone(),
        seed: p.seed,
        adds_noise: p.adds_noise,
        steps: p.steps,
        cfg: p.cfg,
        sampler: p.sampler.clone(),
        scheduler: p.scheduler.clone(),
        denoise: p.denoise,
        positive_prompt: p.positive.clone(),
        negative_prompt: p.negative.clone(),
        model: p.model.clone(),
        loras: p.loras.clone(),
        width: p.size.map(|(w, _)| w),
        height: p.size.map(|(_, h)| h),
        notes,
    }
}

/// Output nodes (savers, previews, video combiners) that are fed by at
/// least one sampling pass; without any, the passes no other pass continues.
fn outputs<'a>(graph: &Graph<'a>) -> Vec<Output<'a>> {
    let mut nodes: Vec<Node<'a>> = graph
        .nodes()
        .filter(|n| {
            (n.class_has("Save") || n.class_has("Preview") || n.class_has("VideoCombine"))
                && !graph.is_pass(n)
        })
        .filter(|n| {
            n.first_input(&["images", "image", "IMAGE", "frames"])
                .is_some_and(|(_, v)| graph::link(v).is_some())
        })
        .copied()
        .collect();
    nodes.sort_by_key(|n| natural_key(n.id));
    nodes.truncate(MAX_OUTPUTS);
    let mut found = Vec::new();
    for node in nodes {
        let Some((_, image)) = node.first_input(&["images", "image", "IMAGE", "frames"]) else {
            continue;
        };
        let (passes, head) = graph.passes_upstream(Start::Input(image));
        if passes.is_empty() {
            continue;
        }
        let save = !node.class_has("Preview")
            && node
                .input("save_output")
                .and_then(|v| graph.boolean(v, 0))
                .unwrap_or(true);
        found.push(Output {
            node: Some(node),
            save,
            passes,
            head,
        });
    }
    graph.take_why();
    if !found.is_empty() {
        return found;
    }
    // No output node: every chain of passes ends at a pass nothing continues.
    let mut all: Vec<Node<'a>> = graph
        .nodes()
        .filter(|n| graph.is_pass(n))
        .copied()
        .collect();
    all.sort_by_key(|n| natural_key(n.id));
    all.truncate(MAX_OUTPUTS);
    let chains: Vec<Output<'a>> = all
        .iter()
        .map(|n| {
            let (passes, head) = graph.passes_upstream(Start::Pass(*n));
            Output {
                node: None,
                save: true,
                passes,
                head,
            }
        })
        .collect();
    let continued: BTreeSet<&str> = chains
        .iter()
        .flat_map(|c| c.passes.iter().skip(1).map(|(p, _)| p.node.id))
        .collect();
    graph.take_why();
    chains
        .into_iter()
        .filter(|c| {
            c.passes
                .first()
                .is_some_and(|(p, _)| !continued.contains(p.node.id))
        })
        .collect()
}

/// The outputs that may have produced this file.
fn choose<'a>(
    graph: &Graph<'a>,
    outputs: Vec<Output<'a>>,
    file_name: Option<&str>,
    pixel_size: Option<(u32, u32)>,
) -> Vec<Output<'a>> {
    let mut candidates = outputs;
    if candidates.iter().any(|o| o.save) {
        candidates.retain(|o| o.save);
    }
    if candidates.len() > 1
        && let Some(name) = file_name
    {
        let stem = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let prefix_of = |o: &Output<'a>| -> Option<usize> {
            let node = o.node?;
            let prefix = node
                .first_input(&["filename_prefix", "filename", "file_prefix"])?
                .1
                .as_str()?;
            let prefix = prefix.rsplit(['/', '\\']).next().unwrap_or(prefix);
            let prefix = prefix.split(['%', '[']).next().unwrap_or("");
            (!prefix.is_empty() && stem.starts_with(prefix)).then_some(prefix.len())
        };
        let lengths: Vec<Option<usize>> = candidates.iter().map(prefix_of).collect();
        if let Some(longest) = lengths.iter().flatten().max().copied() {
            let mut keep = lengths.iter().map(|l| *l == Some(longest));
            candidates.retain(|_| keep.next().unwrap_or(false));
        }
    }
    if candidates.len() > 1
        && let Some((w, h)) = pixel_size
    {
        let sizes: Vec<Option<(u64, u64)>> =
            candidates.iter().map(|o| branch_size(graph, o)).collect();
        let wanted = Some((u64::from(w), u64::from(h)));
        let matching = sizes.iter().filter(|s| **s == wanted).count();
        // Only when every other branch's size is known to differ.
        if matching >= 1 && sizes.iter().all(Option::is_some) && matching < candidates.len() {
            let mut keep = sizes.iter().map(|s| *s == wanted);
            candidates.retain(|_| keep.next().unwrap_or(false));
        }
    }
    candidates
}

/// The pixel size an output's branch produces, when the graph states it:
/// the nearest pass's latent size, or that of the pass it continues, times
/// the literal scale factors in between.
fn branch_size(graph: &Graph<'_>, output: &Output<'_>) -> Option<(u64, u64)> {
    let mut scale = 1.0;
    let mut step = &output.head;
    let mut current = output.passes.first();
    for _ in 0..output.passes.len() {
        let (found, between) = current?;
        if step.upscaled {
            scale *= step.scale?;
        }
        if found.script.is_some() {
            return None;
        }
        let pass = graph.pass(found.node);
        if let Some((w, h)) = pass.size {
            let w = (w as f64 * scale).round();
            let h = (h as f64 * scale).round();
            return (w.is_finite() && h.is_finite() && w >= 1.0 && h >= 1.0)
                .then_some((w as u64, h as u64));
        }
        if !pass.has_latent {
            return None;
        }
        let from = between.from.as_deref()?;
        current = output.passes.iter().find(|(p, _)| p.node.id == from);
        step = between;
    }
    None
}
