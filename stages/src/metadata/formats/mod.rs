//! Recognising generator formats by content and mapping them to
//! [`Generation`].
//!
//! Every metadata text is looked at for what it contains, never for which
//! tool is expected: `parameters` alone may hold A1111 infotext, SwarmUI,
//! Fooocus or diffusers JSON. When several formats are present, the most
//! specific application format is the primary source; a ComfyUI graph in the
//! same file then supplies what actually ran (seed, steps, cfg, sampler,
//! scheduler) and fills anything else the primary lacks.

mod a1111;
mod apps;
pub(crate) mod comfy;
pub(crate) mod json;

use super::container::RawText;
use super::{Generation, Problem};
use serde_json::{Map, Value};

/// Where to look for each format.
struct Texts<'a> {
    entries: &'a [RawText],
}

impl<'a> Texts<'a> {
    /// A PNG text chunk by keyword, whichever chunk type holds it.
    fn chunk(&self, keyword: &str) -> Option<&'a RawText> {
        self.entries.iter().find(|e| {
            e.key.split_once(':').is_some_and(|(kind, key)| {
                matches!(kind, "tEXt" | "iTXt" | "zTXt") && key == keyword
            })
        })
    }

    fn exif(&self, tag: &str) -> Option<&'a RawText> {
        self.entries
            .iter()
            .find(|e| e.key.strip_prefix("EXIF:") == Some(tag))
    }
}

/// Maps the metadata texts of one file to generation parameters.
pub(crate) fn interpret(
    entries: &[RawText],
    file_name: Option<&str>,
    pixel_size: Option<(u32, u32)>,
    problems: &mut Vec<Problem>,
    graph_text: &mut Option<super::GraphText>,
) -> Generation {
    let texts = Texts { entries };
    let mut objects = JsonCache::default();
    for entry in entries {
        objects.parse(entry, problems);
    }
    *graph_text = graph_text_of(&texts, &objects);

    let mut notes = Vec::new();
    // Without an API graph, a UI workflow converted to one.
    let converted = match find_graph(&texts, &objects) {
        Some(_) => None,
        None => find_workflow(&objects),
    };
    let found = find_graph(&texts, &objects).or_else(|| {
        converted
            .as_ref()
            .map(|(location, map)| (location.clone(), map))
    });
    let graph = found.and_then(|(location, root)| {
        let mut g = comfy::extract(root, file_name, pixel_size, &mut notes)?;
        if converted.is_some() {
            g.metadata_format = Some("comfyui-workflow".to_owned());
            notes.push(
                "no API graph: values read from the UI workflow's widgets where the node's widget order is known"
                    .to_owned(),
            );
        }
        problems.extend(notes.drain(..).map(|n| Problem::new(location.clone(), n)));
        let g = match root.get("extraMetadata").and_then(Value::as_str) {
            Some(extra) => {
                let mut g = g;
                if let Some(more) = apps::civitai_extra(extra) {
                    g.fill_from(&more);
                }
                g.generator = Some("civitai".to_owned());
                g
            }
            None => g,
        };
        Some(g)
    });

    let primary = application_format(&texts, &objects);
    let infotext = || {
        let candidates = ["parameters"]
            .iter()
            .filter_map(|k| texts.chunk(k))
            .chain(
                ["UserComment", "ImageDescription", "XPComment"]
                    .iter()
                    .filter_map(|t| texts.exif(t)),
            )
            .chain(
                entries
                    .iter()
                    .filter(|e| e.key == "COM" || e.key == "XMP" || e.key.starts_with("stealth:")),
            );
        candidates
            .map(|e| e.text.as_str())
            .find(|t| a1111::looks_like_infotext(t))
            .map(a1111::parse)
    };
    match (primary, graph) {
        (Some(mut primary), Some(graph)) => {
            // The graph is what ran; the application's JSON keeps its own
            // prompts and model names.
            primary.seed = graph.seed.or(primary.seed);
            primary.steps = graph.steps.or(primary.steps);
            primary.cfg = graph.cfg.or(primary.cfg);
            primary.sampler = graph.sampler.clone().or(primary.sampler);
            primary.scheduler = graph.scheduler.clone().or(primary.scheduler);
            primary.fill_from(&graph);
            primary
        }
        (Some(primary), None) => primary,
        // A graph that states nothing (no sampler reached) yields to
        // infotext written beside it.
        (None, Some(graph)) if graph.is_empty() => infotext().unwrap_or(graph),
        (None, Some(graph)) => graph,
        (None, None) => infotext().unwrap_or_default(),
    }
}

/// Parsed JSON objects of the texts that hold one, by raw key.
#[derive(Default)]
struct JsonCache {
    objects: Vec<(String, Map<String, Value>)>,
}

impl JsonCache {
    fn parse(&mut self, entry: &RawText, problems: &mut Vec<Problem>) {
        let body = strip_label(&entry.text);
        if !body.starts_with('{') {
            return;
        }
        match json::parse(body) {
            Ok(Value::Object(map)) => self.objects.push((entry.key.clone(), map)),
            Ok(_) => {}
            Err(message) => problems.push(Problem::new(entry.key.clone(), message)),
        }
    }

    fn get(&self, key: &str) -> Option<&Map<String, Value>> {
        self.objects.iter().find(|(k, _)| k == key).map(|(_, m)| m)
    }

    fn get_entry(&self, entry: Option<&RawText>) -> Option<&Map<String, Value>> {
        self.get(&entry?.key)
    }
}

/// Strips a `prompt:` / `Workflow: ` label that ComfyUI writers put before
/// JSON in EXIF tags.
fn strip_label(text: &str) -> &str {
    let trimmed = text.trim_start_matches(|c: char| c == '\0' || c.is_whitespace());
    if let Some((label, rest)) = trimmed.split_once(':')
        && label.len() <= 16
        && label.chars().all(|c| c.is_ascii_alphabetic())
    {
        let rest = rest.trim_start();
        if rest.starts_with('{') {
            return rest;
        }
    }
    trimmed
}

/// The first ComfyUI API graph in the file and where it was found.
fn find_graph<'a>(
    texts: &Texts<'_>,
    objects: &'a JsonCache,
) -> Option<(String, &'a Map<String, Value>)> {
    let preferred = texts.chunk("prompt").map(|e| e.key.clone());
    let ordered = preferred
        .iter()
        .filter_map(|k| objects.get(k).map(|m| (k.clone(), m)))
        .chain(objects.objects.iter().map(|(k, m)| (k.clone(), m)));
    for (key, map) in ordered {
        if key.ends_with(":workflow") {
            continue;
        }
        if comfy::is_graph(map) {
            return Some((key, map));
        }
        // Savers that wrap both graphs: {"prompt": {...}, "workflow": {...}}.
        if let Some(Value::Object(inner)) = map.get("prompt")
            && comfy::is_graph(inner)
        {
            return Some((key, inner));
        }
    }
    None
}

/// The node classes and literal strings of the file's graphs (API and UI).
fn graph_text_of(texts: &Texts<'_>, objects: &JsonCache) -> Option<super::GraphText> {
    let api = find_graph(texts, objects).map(|(_, m)| m);
    let workflow = objects.objects.iter().find_map(|(_, map)| {
        if comfy::is_workflow(map) {
            return Some(map);
        }
        match map.get("workflow") {
            Some(Value::Object(inner)) if comfy::is_workflow(inner) => Some(inner),
            _ => None,
        }
    });
    if api.is_none() && workflow.is_none() {
        return None;
    }
    Some(comfy::graph_text(api, workflow))
}

/// The first UI workflow in the file, converted to an API graph.
fn find_workflow(objects: &JsonCache) -> Option<(String, Map<String, Value>)> {
    objects.objects.iter().find_map(|(key, map)| {
        let workflow = if comfy::is_workflow(map) {
            map
        } else {
            match map.get("workflow") {
                Some(Value::Object(inner)) if comfy::is_workflow(inner) => inner,
                _ => return None,
            }
        };
        comfy::from_workflow(workflow).map(|api| (key.clone(), api))
    })
}

/// The most specific application format present, if any.
fn application_format(texts: &Texts<'_>, objects: &JsonCache) -> Option<Generation> {
    if let Some(g) = novelai(texts, objects) {
        return Some(g);
    }
    if let Some(meta) = objects.get_entry(texts.chunk("invokeai_metadata")) {
        let mut g = apps::invokeai(meta);
        if let Some(dream) = texts.chunk("Dream") {
            g.fill_from(&apps::invokeai_dream(&dream.text));
        }
        return Some(g);
    }
    if let Some(meta) = objects.get_entry(texts.chunk("sd-metadata")) {
        return Some(apps::invokeai_legacy(meta));
    }
    if let Some(dream) = texts.chunk("Dream") {
        return Some(apps::invokeai_dream(&dream.text));
    }
    for (_, map) in &objects.objects {
        if let Some(g) = apps::swarmui(map) {
            return Some(g);
        }
    }
    if let Some(map) = objects.get_entry(texts.chunk("parameters-json")) {
        return Some(apps::stability_matrix(map));
    }
    if let Some(map) = objects.get_entry(texts.chunk("generation_data")) {
        return Some(apps::tensorart(map));
    }
    if let Some(g) = key_per_chunk(texts) {
        return Some(g);
    }
    let fooocus = texts.chunk("fooocus_scheme").is_some();
    let parameters = objects.get_entry(texts.chunk("parameters"))?;
    if comfy::is_graph(parameters) {
        return None;
    }
    apps::parameters_json(parameters, fooocus)
}

/// NovelAI: a `Comment` JSON in PNG text, or an EXIF UserComment wrapping
/// the same chunks as JSON (`{"Comment": "<json>", "Description": …}`).
fn novelai(texts: &Texts<'_>, objects: &JsonCache) -> Option<Generation> {
    let is_novelai_comment = |m: &Map<String, Value>| {
        ["uc", "v4_prompt", "noise_schedule", "n_samples"]
            .iter()
            .any(|k| m.contains_key(*k))
    };
    let software = texts.chunk("Software").map(|e| e.text.as_str());
    if let Some(comment) = objects.get_entry(texts.chunk("Comment"))
        && (software == Some("NovelAI") || is_novelai_comment(comment))
    {
        return Some(apps::novelai(
            comment,
            texts.chunk("Description").map(|e| e.text.as_str()),
            texts.chunk("Source").map(|e| e.text.as_str()),
        ));
    }
    let wrapper = objects
        .get_entry(texts.exif("UserComment"))
        .or_else(|| objects.get("stealth:alpha"))?;
    let inner = json::parse_object(wrapper.get("Comment")?.as_str()?)?;
    if !is_novelai_comment(&inner) {
        return None;
    }
    let description = json::text(wrapper.get("Description"))
        .or_else(|| texts.exif("ImageDescription").map(|e| e.text.clone()));
    let source = json::text(wrapper.get("Source"))
        .or_else(|| texts.exif("Software").map(|e| e.text.clone()));
    Some(apps::novelai(
        &inner,
        description.as_deref(),
        source.as_deref(),
    ))
}

/// Easy Diffusion writes one PNG text chunk per parameter (`prompt`,
/// `num_inference_steps`, `use_stable_diffusion_model`, …).
fn key_per_chunk(texts: &Texts<'_>) -> Option<Generation> {
    texts.chunk("use_stable_diffusion_model")?;
    let map: Map<String, Value> = texts
        .entries
        .iter()
        .filter_map(|e| {
            let (kind, key) = e.key.split_once(':')?;
            matches!(kind, "tEXt" | "iTXt" | "zTXt")
                .then(|| (key.to_owned(), Value::String(e.text.clone())))
        })
        .collect();
    Some(apps::easy_diffusion(&map))
}
