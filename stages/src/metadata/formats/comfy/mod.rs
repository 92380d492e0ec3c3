//! ComfyUI API graphs: find the output node that produced the file, walk
//! upstream to its sampler, and read every parameter through the links.
//!
//! Several outputs: the one whose `filename_prefix` the file name starts
//! with wins; otherwise the first save node (save nodes before previews,
//! then in natural id order), and the result is marked ambiguous when
//! another output would give different parameters. A value made at run time
//! (an LLM-written prompt, a random node) is left unknown and also marks the
//! result ambiguous.

mod graph;
mod sampler;
mod values;

pub(crate) use graph::Graph;

use crate::metadata::model::{Generation, Hires};
use graph::{Node, natural_key};
use serde_json::{Map, Value};
use values::Prompt;

/// The most output branches compared for ambiguity.
const MAX_OUTPUTS: usize = 16;

/// Whether a JSON object is an API graph (some value is a node).
pub(crate) fn is_graph(map: &Map<String, Value>) -> bool {
    map.values()
        .any(|v| v.get("class_type").is_some_and(Value::is_string) && v.get("inputs").is_some())
}

/// Extracts the parameters of the branch that produced `file_name`.
///
/// `pixel_width` is the decoded width the container states; it gives the
/// scale of an upscaling pass when the graph computes the target size.
pub(crate) fn extract(
    root: &Map<String, Value>,
    file_name: Option<&str>,
    pixel_width: Option<u32>,
    notes: &mut Vec<String>,
) -> Option<Generation> {
    let graph = Graph::new(root)?;
    let outputs = outputs(&graph);
    let (mut g, runtime) = match choose(&outputs, file_name) {
        Choice::One(output) => {
            let g = branch(&graph, Some(output), pixel_width);
            (g, graph.take_runtime())
        }
        Choice::FirstOf(output) => {
            let mut g = branch(&graph, Some(output), pixel_width);
            let runtime = graph.take_runtime();
            g.ambiguous = outputs
                .iter()
                .take(MAX_OUTPUTS)
                .filter(|o| o.id != output.id)
                .any(|o| !same_parameters(&g, &branch(&graph, Some(*o), pixel_width)));
            graph.take_runtime();
            (g, runtime)
        }
        Choice::None => {
            let g = branch(&graph, None, pixel_width);
            (g, graph.take_runtime())
        }
    };
    if runtime {
        g.ambiguous = true;
        notes.push("a value in the graph is computed at run time; it is left unknown".to_owned());
    }
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
    g.generator = Some("comfyui".to_owned());
    g.metadata_format = Some("comfyui-graph".to_owned());
    Some(g)
}

enum Choice<'a> {
    One(Node<'a>),
    FirstOf(Node<'a>),
    None,
}

/// Output nodes: save and preview nodes that take images, save nodes first.
fn outputs<'a>(graph: &Graph<'a>) -> Vec<Node<'a>> {
    let mut outputs: Vec<Node<'a>> = graph
        .nodes()
        .filter(|n| n.class_has("Save") || n.class_has("Preview"))
        .filter(|n| {
            n.first_input(&["images", "image"])
                .is_some_and(|(_, v)| graph::link(v).is_some())
        })
        .copied()
        .collect();
    outputs.sort_by_key(|n| (!n.class_has("Save"), natural_key(n.id)));
    outputs
}

fn choose<'a>(outputs: &[Node<'a>], file_name: Option<&str>) -> Choice<'a> {
    match outputs {
        [] => return Choice::None,
        [only] => return Choice::One(*only),
        _ => {}
    }
    if let Some(name) = file_name {
        let stem = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let matching: Vec<(usize, Node<'a>)> = outputs
            .iter()
            .filter_map(|o| {
                let prefix = o
                    .input("filename_prefix")
                    .or_else(|| o.input("filename"))?
                    .as_str()?;
                let prefix = prefix.rsplit(['/', '\\']).next().unwrap_or(prefix);
                let prefix = prefix.split(['%', '[']).next().unwrap_or("");
                (!prefix.is_empty() && stem.starts_with(prefix)).then_some((prefix.len(), *o))
            })
            .collect();
        if let Some(longest) = matching.iter().map(|(len, _)| *len).max() {
            let best: Vec<_> = matching.iter().filter(|(len, _)| *len == longest).collect();
            if let [(_, only)] = best.as_slice() {
                return Choice::One(*only);
            }
        }
    }
    outputs
        .first()
        .map_or(Choice::None, |o| Choice::FirstOf(*o))
}

fn same_parameters(a: &Generation, b: &Generation) -> bool {
    a.positive_prompt == b.positive_prompt
        && a.negative_prompt == b.negative_prompt
        && a.seed == b.seed
        && a.steps == b.steps
        && a.cfg == b.cfg
        && a.sampler == b.sampler
        && a.scheduler == b.scheduler
        && a.model == b.model
        && a.loras == b.loras
        && a.width == b.width
        && a.height == b.height
        && a.hires == b.hires
}

/// The parameters of one output branch. Without an output node, the first
/// sampler in natural id order is used.
fn branch(graph: &Graph<'_>, output: Option<Node<'_>>, pixel_width: Option<u32>) -> Generation {
    let last = match output {
        Some(output) => graph.sampler_for_output(output),
        None => {
            let mut samplers: Vec<_> = graph
                .nodes()
                .filter(|n| sampler::is_sampler(n))
                .copied()
                .collect();
            samplers.sort_by_key(|n| natural_key(n.id));
            samplers.first().copied()
        }
    };
    let Some(last) = last else {
        return Generation {
            loras: Some(Vec::new()),
            ..Generation::default()
        };
    };
    let last_pass = graph.pass(last);
    let upstream = last_pass
        .latent
        .map(|latent| graph.upstream_sampler(latent))
        .unwrap_or_default();
    let base = upstream.sampler;
    let main = base.map_or_else(|| last_pass.clone(), |b| graph.pass(b));

    let mut g = Generation {
        seed: main.seed,
        steps: main.steps,
        cfg: main.cfg,
        sampler: main.sampler.clone(),
        scheduler: main.scheduler.clone(),
        denoise: main.denoise,
        ..Generation::default()
    };
    let mut loras = Vec::new();
    g.model = main.model.and_then(|m| graph.model(m, &mut loras));
    g.loras = Some(loras);
    if let Some(positive) = main.positive
        && let Some(Prompt::Text(text, encoder)) = graph.prompt(positive, 0)
    {
        g.positive_prompt = Some(text);
        g.clip_skip = graph.clip_skip(&encoder);
    }
    if let Some(negative) = main.negative {
        match graph.prompt(negative, 0) {
            Some(Prompt::Text(text, _)) => g.negative_prompt = Some(text),
            Some(Prompt::Zeroed) => {
                g.negative_prompt = Some(String::new());
                g.negative_zeroed = true;
            }
            None => {}
        }
    }
    if let Some((w, h)) = main.latent.and_then(|l| graph.latent_size(l)) {
        g.width = Some(w);
        g.height = Some(h);
    }
    if base.is_some() && upstream.upscaled {
        let scale = upstream.scale.or_else(|| {
            let ratio = f64::from(pixel_width?) / g.width? as f64;
            (ratio > 1.0 && ratio.is_finite()).then_some(ratio)
        });
        g.hires = Some(Hires {
            upscaler: upstream.upscaler,
            scale,
            steps: last_pass.steps,
            denoise: last_pass.denoise,
        });
    } else if base.is_none() && upstream.upscaler.is_some() {
        g.hires = Some(Hires {
            upscaler: upstream.upscaler,
            scale: upstream.scale,
            steps: last_pass.steps,
            denoise: last_pass.denoise,
        });
    }
    g
}
