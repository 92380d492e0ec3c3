//! ComfyUI API graphs written for these tests, one per family of custom
//! nodes the resolver follows (detailers, pipes, Efficiency loaders and
//! LoRA stackers, rgthree contexts and switches, text nodes, primitives,
//! use-everywhere broadcasts, Searge prompt and sampler inputs, Crystools
//! primitives, AnimateDiff into VideoHelperSuite's video combiner, several
//! outputs, workflow-only files), with
//! the values read off each graph by hand; and hostile graphs (cycles, a
//! 100,000-link chain, huge strings, 5,000 nodes) that must stay bounded.
//!
//! `graphs_resolve_summary` prints how many of these graphs resolve fully,
//! partly, or not at all.

mod metadata_support;

use kiln_stages::metadata::{Extraction, Generation, extract, write};
use kiln_testkit::paint;
use metadata_support::png;
use serde_json::{Value, json};
use std::time::Instant;

fn read_graph(graph: &Value, file_name: Option<&str>) -> Extraction {
    read_graph_in(&png(), graph, file_name)
}

fn read_graph_in(image: &[u8], graph: &Value, file_name: Option<&str>) -> Extraction {
    let bytes = write::insert_png_text(image, "prompt", &graph.to_string()).expect("insert");
    extract(&bytes, file_name).expect("an image")
}

fn loras(g: &Generation) -> Vec<(String, Option<f64>)> {
    g.loras
        .iter()
        .flatten()
        .map(|l| (l.name.clone(), l.strength))
        .collect()
}

fn lora(name: &str, strength: f64) -> (String, Option<f64>) {
    (name.to_owned(), Some(strength))
}

/// A checkpoint, two encoders and an empty latent that the graphs share.
fn base() -> Value {
    json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dream.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse at dusk", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "fog, blur", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 640, "height": 896, "batch_size": 1}}
    })
}

fn with(mut graph: Value, more: Value) -> Value {
    if let (Some(graph), Value::Object(more)) = (graph.as_object_mut(), more) {
        graph.extend(more);
    }
    graph
}

// ---------------------------------------------------------------- detailers

fn detailer_graph() -> Value {
    with(
        base(),
        json!({
            "5": {"class_type": "KSampler", "inputs": {"seed": 11, "steps": 30, "cfg": 6.5, "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 1.0,
                "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0]}},
            "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
            "7": {"class_type": "UltralyticsDetectorProvider", "inputs": {"model_name": "bbox/face_yolov8m.pt"}},
            "8": {"class_type": "FaceDetailer", "inputs": {"guide_size": 512, "seed": 99, "steps": 20, "cfg": 6.5, "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 0.45,
                "image": ["6", 0], "model": ["1", 0], "clip": ["1", 1], "vae": ["1", 2], "positive": ["2", 0], "negative": ["3", 0], "bbox_detector": ["7", 0]}},
            "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "detailed", "images": ["8", 0]}},
            "10": {"class_type": "PreviewImage", "inputs": {"images": ["8", 1]}}
        }),
    )
}

#[test]
fn a_detailer_is_a_sampling_pass() {
    let g = read_graph(&detailer_graph(), Some("detailed_00001_.png")).generation;
    // Two passes feed the save: the sampler, then the detailer.
    let nodes: Vec<&str> = g.samplers.iter().map(|p| p.node.as_str()).collect();
    assert_eq!(nodes, ["5", "8"]);
    assert!(g.ambiguous);
    let detailer = &g.samplers[1];
    assert_eq!(detailer.class_type, "FaceDetailer");
    assert_eq!(
        (detailer.seed, detailer.steps, detailer.denoise),
        (Some(99), Some(20), Some(0.45))
    );
    assert_eq!(detailer.model.as_deref(), Some("dream.safetensors"));
    // Where they agree, the top level says so; where not, nothing.
    assert_eq!(g.positive_prompt.as_deref(), Some("a lighthouse at dusk"));
    assert_eq!(g.negative_prompt.as_deref(), Some("fog, blur"));
    assert_eq!((g.cfg, g.sampler.as_deref()), (Some(6.5), Some("dpmpp_2m")));
    assert_eq!(g.model.as_deref(), Some("dream.safetensors"));
    assert_eq!((g.seed, g.steps, g.denoise), (None, None, None));
    // The detailer works on an image: the size is the sampler's.
    assert_eq!((g.width, g.height), (Some(640), Some(896)));
    assert!(g.ambiguity.iter().any(|r| r.contains("2 sampling passes")));
}

#[test]
fn a_detailer_alone_states_everything() {
    let graph = json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dream.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "smiling face", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "frown", "clip": ["1", 1]}},
        "4": {"class_type": "LoadImage", "inputs": {"image": "portrait.png"}},
        "5": {"class_type": "DetailerForEach", "inputs": {"guide_size": 384, "seed": 7, "steps": 18, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 0.5,
            "image": ["4", 0], "segs": ["6", 0], "model": ["1", 0], "clip": ["1", 1], "vae": ["1", 2], "positive": ["2", 0], "negative": ["3", 0]}},
        "6": {"class_type": "ImpactSimpleDetectorSEGS", "inputs": {"image": ["4", 0]}},
        "7": {"class_type": "SaveImage", "inputs": {"filename_prefix": "fixed", "images": ["5", 0]}}
    });
    let g = read_graph(&graph, None).generation;
    assert!(!g.ambiguous, "{:?}", g.ambiguity);
    assert_eq!(
        (g.seed, g.steps, g.cfg, g.denoise),
        (Some(7), Some(18), Some(5.0), Some(0.5))
    );
    assert_eq!(g.positive_prompt.as_deref(), Some("smiling face"));
    assert_eq!(g.negative_prompt.as_deref(), Some("frown"));
    assert_eq!((g.width, g.height), (None, None));
}

#[test]
fn a_detailer_wildcard_replaces_its_prompt() {
    let mut graph = pipes_graph();
    graph["16"]["inputs"]["wildcard"] = json!("detailed eyes, __expression__");
    let g = read_graph(&graph, None).generation;
    let detailer = g.samplers.iter().find(|p| p.node == "18").expect("pass 18");
    assert_eq!(detailer.positive_prompt, None);
    assert_eq!(detailer.negative_prompt.as_deref(), Some("fog, blur"));
    assert_eq!(g.positive_prompt, None);
    // An empty wildcard changes nothing.
    graph["16"]["inputs"]["wildcard"] = json!("");
    let g = read_graph(&graph, None).generation;
    assert_eq!(
        g.positive_prompt.as_deref(),
        Some("a lighthouse at dusk, oil painting")
    );
}

// -------------------------------------------------------------------- pipes

fn pipes_graph() -> Value {
    with(
        base(),
        json!({
            "10": {"class_type": "ToBasicPipe", "inputs": {"model": ["1", 0], "clip": ["1", 1], "vae": ["1", 2], "positive": ["2", 0], "negative": ["3", 0]}},
            "11": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse at dusk, oil painting", "clip": ["1", 1]}},
            "12": {"class_type": "EditBasicPipe", "inputs": {"basic_pipe": ["10", 0], "positive": ["11", 0]}},
            "13": {"class_type": "FromBasicPipe_v2", "inputs": {"basic_pipe": ["12", 0]}},
            "14": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 25, "cfg": 7.0, "sampler_name": "euler_ancestral", "scheduler": "normal", "denoise": 1.0,
                "model": ["13", 1], "positive": ["13", 4], "negative": ["13", 5], "latent_image": ["4", 0]}},
            "15": {"class_type": "VAEDecode", "inputs": {"samples": ["14", 0], "vae": ["13", 3]}},
            "16": {"class_type": "BasicPipeToDetailerPipe", "inputs": {"basic_pipe": ["12", 0], "bbox_detector": ["17", 0]}},
            "17": {"class_type": "UltralyticsDetectorProvider", "inputs": {"model_name": "bbox/hand_yolov8s.pt"}},
            "18": {"class_type": "FaceDetailerPipe", "inputs": {"seed": 5, "steps": 25, "cfg": 7.0, "sampler_name": "euler_ancestral", "scheduler": "normal", "denoise": 0.3,
                "image": ["15", 0], "detailer_pipe": ["16", 0]}},
            "19": {"class_type": "SaveImage", "inputs": {"filename_prefix": "pipes", "images": ["18", 0]}}
        }),
    )
}

#[test]
fn pipes_carry_model_and_prompts_by_field() {
    let g = read_graph(&pipes_graph(), None).generation;
    let nodes: Vec<&str> = g.samplers.iter().map(|p| p.node.as_str()).collect();
    assert_eq!(nodes, ["14", "18"]);
    for pass in &g.samplers {
        // The edited pipe's positive replaces the original; the negative
        // comes from the pipe it extends.
        assert_eq!(
            pass.positive_prompt.as_deref(),
            Some("a lighthouse at dusk, oil painting"),
            "{pass:?}"
        );
        assert_eq!(pass.negative_prompt.as_deref(), Some("fog, blur"));
        assert_eq!(pass.model.as_deref(), Some("dream.safetensors"));
    }
    assert_eq!((g.seed, g.steps, g.cfg), (Some(5), Some(25), Some(7.0)));
    assert_eq!(g.denoise, None);
    assert_eq!(g.sampler.as_deref(), Some("euler_ancestral"));
    assert_eq!((g.width, g.height), (Some(640), Some(896)));
}

// ------------------------------------------------ Efficiency loader + stack

fn efficiency_graph() -> Value {
    json!({
        "1": {"class_type": "LoRA Stacker", "inputs": {"input_mode": "simple", "lora_count": 3,
            "lora_name_1": "ink.safetensors", "lora_wt_1": 0.6, "lora_name_2": "None", "lora_wt_2": 1.0, "lora_name_3": "paper.safetensors", "lora_wt_3": 0.25}},
        "2": {"class_type": "Efficient Loader", "inputs": {"ckpt_name": "castle_xl.safetensors", "vae_name": "Baked VAE", "clip_skip": -2,
            "lora_name": "base_style.safetensors", "lora_model_strength": 0.8, "lora_clip_strength": 1.0,
            "positive": "a castle on a cliff", "negative": "people", "empty_latent_width": 832, "empty_latent_height": 1216, "batch_size": 1, "lora_stack": ["1", 0]}},
        "3": {"class_type": "KSampler (Efficient)", "inputs": {"sampler_state": "Sample", "seed": 123456789, "steps": 28, "cfg": 5.5, "sampler_name": "dpmpp_2m_sde", "scheduler": "karras", "denoise": 1.0,
            "preview_method": "none", "vae_decode": "true", "model": ["2", 0], "positive": ["2", 1], "negative": ["2", 2], "latent_image": ["2", 3], "optional_vae": ["2", 4]}},
        "4": {"class_type": "SaveImage", "inputs": {"filename_prefix": "castle", "images": ["3", 5]}}
    })
}

#[test]
fn efficient_loader_with_a_lora_stack() {
    let g = read_graph(&efficiency_graph(), None).generation;
    assert!(!g.ambiguous, "{:?}", g.ambiguity);
    assert_eq!(g.model.as_deref(), Some("castle_xl.safetensors"));
    assert_eq!(
        loras(&g),
        [
            lora("base_style.safetensors", 0.8),
            lora("ink.safetensors", 0.6),
            lora("paper.safetensors", 0.25)
        ]
    );
    assert_eq!(g.positive_prompt.as_deref(), Some("a castle on a cliff"));
    assert_eq!(g.negative_prompt.as_deref(), Some("people"));
    assert_eq!((g.width, g.height), (Some(832), Some(1216)));
    assert_eq!(
        (g.seed, g.steps, g.cfg, g.clip_skip),
        (Some(123_456_789), Some(28), Some(5.5), Some(2))
    );
    assert_eq!(g.scheduler.as_deref(), Some("karras"));
}

#[test]
fn an_efficiency_sampler_passes_its_conditioning_on_by_slot() {
    // A second Efficiency sampler takes the first's model and prompts from
    // its outputs (model 0, positive 1, negative 2) and its latent (3).
    let graph = with(
        efficiency_graph(),
        json!({
            "5": {"class_type": "KSampler (Efficient)", "inputs": {"sampler_state": "Sample", "seed": 1, "steps": 12, "cfg": 5.5, "sampler_name": "dpmpp_2m_sde", "scheduler": "karras", "denoise": 0.4,
                "model": ["3", 0], "positive": ["3", 1], "negative": ["3", 2], "latent_image": ["3", 3]}},
            "4": {"class_type": "SaveImage", "inputs": {"filename_prefix": "castle", "images": ["5", 5]}}
        }),
    );
    let g = read_graph(&graph, None).generation;
    let second = g.samplers.iter().find(|p| p.node == "5").expect("pass 5");
    assert_eq!(
        second.positive_prompt.as_deref(),
        Some("a castle on a cliff")
    );
    assert_eq!(second.negative_prompt.as_deref(), Some("people"));
    assert_eq!(second.model.as_deref(), Some("castle_xl.safetensors"));
    // The latent continues the first pass unchanged: same size.
    assert_eq!((second.width, second.height), (Some(832), Some(1216)));
    assert_eq!(g.positive_prompt.as_deref(), Some("a castle on a cliff"));
    assert_eq!(g.seed, None);
}

#[test]
fn an_xy_plot_script_states_nothing_of_its_pass() {
    let graph = with(
        efficiency_graph(),
        json!({
            "5": {"class_type": "XY Input: Steps", "inputs": {"target_parameter": "steps", "batch_count": 3, "first_step": 10, "last_step": 30}},
            "6": {"class_type": "XY Plot", "inputs": {"grid_spacing": 0, "XY_flip": "False", "Y_label_orientation": "Horizontal", "cache_models": "True", "ksampler_output_image": "Plot", "X": ["5", 0]}}
        }),
    );
    let mut graph = graph;
    graph["3"]["inputs"]["script"] = json!(["6", 0]);
    let g = read_graph(&graph, None).generation;
    assert_eq!((g.seed, g.steps, g.cfg), (None, None, None));
    assert_eq!(g.positive_prompt, None);
    assert!(
        g.ambiguity.iter().any(|r| r.contains("XY plot")),
        "{:?}",
        g.ambiguity
    );
}

// ------------------------------------------------- rgthree context + switch

fn context_graph() -> Value {
    with(
        base(),
        json!({
            "20": {"class_type": "Seed (rgthree)", "inputs": {"seed": 4242}},
            "21": {"class_type": "Context (rgthree)", "inputs": {"model": ["1", 0], "clip": ["1", 1], "vae": ["1", 2], "latent": ["4", 0], "seed": ["20", 0]}},
            "22": {"class_type": "Context (rgthree)", "inputs": {"base_ctx": ["21", 0], "positive": ["2", 0], "negative": ["3", 0]}},
            // ctx_01 comes from a muted node, gone from the saved graph.
            "23": {"class_type": "Context Switch (rgthree)", "inputs": {"ctx_01": ["99", 0], "ctx_02": ["22", 0], "ctx_03": ["21", 0]}},
            "24": {"class_type": "KSampler", "inputs": {"seed": ["23", 8], "steps": 22, "cfg": 4.0, "sampler_name": "euler", "scheduler": "sgm_uniform", "denoise": 1.0,
                "model": ["23", 1], "positive": ["23", 4], "negative": ["23", 5], "latent_image": ["23", 6]}},
            "25": {"class_type": "VAEDecode", "inputs": {"samples": ["24", 0], "vae": ["23", 3]}},
            "26": {"class_type": "Context (rgthree)", "inputs": {"base_ctx": ["23", 0], "images": ["25", 0]}},
            "27": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ctx", "images": ["26", 7]}},
            // A core switch whose boolean comes from a primitive.
            "30": {"class_type": "PrimitiveBoolean", "inputs": {"value": false}},
            "31": {"class_type": "ComfySwitchNode", "inputs": {"switch": ["30", 0], "on_true": ["2", 0], "on_false": ["3", 0]}}
        }),
    )
}

#[test]
fn rgthree_contexts_and_a_switch_chosen_in_the_graph() {
    let g = read_graph(&context_graph(), None).generation;
    assert!(!g.ambiguous, "{:?}", g.ambiguity);
    assert_eq!(g.seed, Some(4242));
    assert_eq!(g.model.as_deref(), Some("dream.safetensors"));
    assert_eq!(g.positive_prompt.as_deref(), Some("a lighthouse at dusk"));
    assert_eq!(g.negative_prompt.as_deref(), Some("fog, blur"));
    assert_eq!((g.width, g.height), (Some(640), Some(896)));
    assert_eq!(
        (g.steps, g.scheduler.as_deref()),
        (Some(22), Some("sgm_uniform"))
    );

    // The core switch off: its false input (the negative encoder) goes on.
    let mut graph = context_graph();
    graph["24"]["inputs"]["positive"] = json!(["31", 0]);
    let g = read_graph(&graph, None).generation;
    assert_eq!(g.positive_prompt.as_deref(), Some("fog, blur"));
}

// ------------------------------------------------------------- text nodes

fn text_graph() -> Value {
    with(
        base(),
        json!({
            "40": {"class_type": "Text Multiline", "inputs": {"text": "  a lighthouse  "}},
            "41": {"class_type": "String_", "inputs": {"value": "at dusk"}},
            "42": {"class_type": "Text Concatenate", "inputs": {"delimiter": ", ", "clean_whitespace": "true", "text_a": ["40", 0], "text_b": ["41", 0], "text_c": ["43", 0]}},
            "43": {"class_type": "Text Multiline", "inputs": {"text": "   "}},
            "44": {"class_type": "StringConcatenate", "inputs": {"string_a": ["42", 0], "string_b": "volumetric light", "delimiter": " | "}},
            "45": {"class_type": "Text to Conditioning", "inputs": {"text": ["44", 0], "clip": ["1", 1]}},
            "46": {"class_type": "KSampler", "inputs": {"seed": 3, "steps": 20, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
                "model": ["1", 0], "positive": ["45", 0], "negative": ["3", 0], "latent_image": ["4", 0]}},
            "47": {"class_type": "VAEDecode", "inputs": {"samples": ["46", 0], "vae": ["1", 2]}},
            "48": {"class_type": "SaveImage", "inputs": {"filename_prefix": "text", "images": ["47", 0]}}
        }),
    )
}

#[test]
fn text_nodes_are_evaluated() {
    let g = read_graph(&text_graph(), None).generation;
    // WAS-style join: parts trimmed, the empty part left out; then the core
    // join with its own delimiter.
    assert_eq!(
        g.positive_prompt.as_deref(),
        Some("a lighthouse, at dusk | volumetric light")
    );
    assert!(!g.ambiguous);
}

#[test]
fn a_random_line_leaves_the_prompt_unknown_with_the_reason() {
    let graph = with(
        text_graph(),
        json!({
            "49": {"class_type": "Text Random Line", "inputs": {"seed": 3, "text": ["40", 0]}},
            "41": {"class_type": "String_", "inputs": {"value": ["49", 0]}}
        }),
    );
    let x = read_graph(&graph, None);
    let g = &x.generation;
    assert_eq!(g.positive_prompt, None);
    assert_eq!(g.negative_prompt.as_deref(), Some("fog, blur"));
    // One output, one pass: the file is not ambiguous; the prompt is
    // unknown, and why is said.
    assert!(!g.ambiguous);
    assert!(
        g.ambiguity
            .iter()
            .any(|r| r.contains("positive_prompt") && r.contains("random line")),
        "{:?}",
        g.ambiguity
    );
    // The literal template stays searchable.
    let strings = &x.graph.as_ref().expect("graph text").strings;
    assert!(strings.iter().any(|s| s == "a lighthouse"), "{strings:?}");
}

// --------------------------------------------------------------- primitives

#[test]
fn wildcards_give_their_stored_result_or_nothing() {
    let mut graph = text_graph();
    graph["62"] = json!({"class_type": "ImpactWildcardProcessor", "inputs": {"wildcard_text": "a __animal__ by the sea",
        "populated_text": "a heron by the sea", "mode": true, "seed": 5}});
    graph["45"]["inputs"]["text"] = json!(["62", 0]);
    let g = read_graph(&graph, None).generation;
    assert_eq!(g.positive_prompt.as_deref(), Some("a heron by the sea"));

    // Not populated in the saved graph: expanded at run time.
    graph["62"]["inputs"]["populated_text"] = json!("a __animal__ by the sea");
    let g = read_graph(&graph, None).generation;
    assert_eq!(g.positive_prompt, None);
    assert!(!g.ambiguous);
}

#[test]
fn an_unknown_text_node_with_settings_is_not_guessed_through() {
    // A styler rewrites its text with a template: the text input alone is
    // not what was encoded.
    let mut graph = text_graph();
    graph["63"] = json!({"class_type": "SDXLPromptStyler", "inputs": {"text_positive": "a harbour", "text_negative": "", "style": "sai-origami", "log_prompt": false}});
    graph["45"]["inputs"]["text"] = json!(["63", 0]);
    let g = read_graph(&graph, None).generation;
    assert_eq!(g.positive_prompt, None);
    assert!(
        g.ambiguity.iter().any(|r| r.contains("SDXLPromptStyler")),
        "{:?}",
        g.ambiguity
    );
}

#[test]
fn an_encoder_named_after_a_model_family_is_still_an_encoder() {
    let mut graph = text_graph();
    graph["65"] = json!({"class_type": "TextEncodeQwenImageEdit", "inputs": {"clip": ["1", 1], "prompt": "replace the sky with stars"}});
    graph["46"]["inputs"]["positive"] = json!(["65", 0]);
    let g = read_graph(&graph, None).generation;
    assert_eq!(
        g.positive_prompt.as_deref(),
        Some("replace the sky with stars")
    );
    assert!(!g.ambiguous);
}

#[test]
fn combined_conditionings_state_a_prompt_only_when_alike() {
    let mut graph = text_graph();
    graph["60"] = json!({"class_type": "CLIPTextEncode", "inputs": {"text": "a second subject", "clip": ["1", 1]}});
    graph["61"] = json!({"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["45", 0], "conditioning_2": ["60", 0]}});
    graph["46"]["inputs"]["positive"] = json!(["61", 0]);
    let g = read_graph(&graph, None).generation;
    assert_eq!(g.positive_prompt, None);
    assert!(
        g.ambiguity
            .iter()
            .any(|r| r.contains("two different prompts"))
    );

    graph["61"]["inputs"]["conditioning_2"] = json!(["45", 0]);
    let g = read_graph(&graph, None).generation;
    assert_eq!(
        g.positive_prompt.as_deref(),
        Some("a lighthouse, at dusk | volumetric light")
    );
}

#[test]
fn lora_stacks_in_the_order_each_pack_applies_them() {
    let graph = json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dream.safetensors"}},
        "2": {"class_type": "CR LoRA Stack", "inputs": {"switch_1": "On", "lora_name_1": "first.safetensors", "model_weight_1": 0.5, "clip_weight_1": 0.5,
            "switch_2": "Off", "lora_name_2": "off.safetensors", "model_weight_2": 1.0, "clip_weight_2": 1.0}},
        "3": {"class_type": "CR LoRA Stack", "inputs": {"switch_1": "On", "lora_name_1": "second.safetensors", "model_weight_1": 0.7, "clip_weight_1": 0.7, "lora_stack": ["2", 0]}},
        "4": {"class_type": "CR Apply LoRA Stack", "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_stack": ["3", 0]}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "a mill", "clip": ["4", 1]}},
        "6": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "7": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
            "model": ["4", 0], "positive": ["5", 0], "negative": ["5", 0], "latent_image": ["6", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["7", 0], "vae": ["1", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "mill", "images": ["8", 0]}}
    });
    let g = read_graph(&graph, None).generation;
    // Comfyroll stacks put the stack they extend first.
    assert_eq!(
        loras(&g),
        [
            lora("first.safetensors", 0.5),
            lora("second.safetensors", 0.7)
        ]
    );
}

#[test]
fn loras_from_prompt_tags_are_not_listed_as_none() {
    let mut graph = text_graph();
    graph["64"] = json!({"class_type": "LoraTagLoader", "inputs": {"text": "a mill <lora:windmill:0.8>", "model": ["1", 0], "clip": ["1", 1]}});
    graph["46"]["inputs"]["model"] = json!(["64", 0]);
    let g = read_graph(&graph, None).generation;
    assert_eq!(g.model.as_deref(), Some("dream.safetensors"));
    assert_eq!(g.loras, None);
}

#[test]
fn a_size_picker_with_a_preset_states_no_size() {
    let mut graph = text_graph();
    graph["4"] = json!({"class_type": "CR SDXL Aspect Ratio", "inputs": {"width": 1024, "height": 1024, "aspect_ratio": "3:4 portrait 896x1152", "swap_dimensions": "Off", "upscale_factor": 1.0, "batch_size": 1}});
    graph["46"]["inputs"]["latent_image"] = json!(["4", 5]);
    let g = read_graph(&graph, None).generation;
    assert_eq!((g.width, g.height), (None, None));
    // "custom" keeps the width and height inputs.
    graph["4"]["inputs"]["aspect_ratio"] = json!("custom");
    let g = read_graph(&graph, None).generation;
    assert_eq!((g.width, g.height), (Some(1024), Some(1024)));
}

#[test]
fn dedicated_sampler_and_scheduler_nodes() {
    let graph = json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dream.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a dune", "clip": ["1", 1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "4": {"class_type": "SamplerDPMPP_2M_SDE", "inputs": {"solver_type": "midpoint", "eta": 1.0, "s_noise": 1.0, "noise_device": "gpu"}},
        "5": {"class_type": "KarrasScheduler", "inputs": {"steps": 25, "sigma_max": 14.6, "sigma_min": 0.03, "rho": 7.0}},
        "6": {"class_type": "SamplerCustom", "inputs": {"add_noise": true, "noise_seed": 9, "cfg": 6.0, "model": ["1", 0], "positive": ["2", 0], "negative": ["2", 0],
            "sampler": ["4", 0], "sigmas": ["5", 0], "latent_image": ["3", 0]}},
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
        "8": {"class_type": "SaveImage", "inputs": {"filename_prefix": "dune", "images": ["7", 0]}}
    });
    let g = read_graph(&graph, None).generation;
    assert_eq!(g.sampler.as_deref(), Some("dpmpp_2m_sde"));
    assert_eq!(g.scheduler.as_deref(), Some("karras"));
    assert_eq!((g.steps, g.seed, g.cfg), (Some(25), Some(9), Some(6.0)));
    // A sampler node the table does not know states no sampler.
    let mut graph = graph;
    graph["4"]["class_type"] = json!("SamplerSomethingNew");
    let g = read_graph(&graph, None).generation;
    assert_eq!(g.sampler, None);
}

#[test]
fn primitives_and_number_nodes() {
    let mut graph = with(
        base(),
        json!({
            "50": {"class_type": "PrimitiveNode", "inputs": {"value": 8_675_309}},
            "51": {"class_type": "INTConstant", "inputs": {"value": 26}},
            "52": {"class_type": "PrimitiveFloat", "inputs": {"value": 3.5}},
            "53": {"class_type": "SDXL Resolutions (WLSH)", "inputs": {"resolution": "1024x1024", "direction": "landscape"}},
            "54": {"class_type": "EmptyLatentImage", "inputs": {"width": ["53", 0], "height": ["53", 1], "batch_size": 1}},
            "55": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
            "56": {"class_type": "KSampler", "inputs": {"seed": ["50", 0], "steps": ["51", 0], "cfg": ["52", 0], "sampler_name": "lms", "scheduler": "exponential", "denoise": 1.0,
                "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["54", 0]}},
            "57": {"class_type": "VAEDecode", "inputs": {"samples": ["56", 0], "vae": ["1", 2]}},
            "58": {"class_type": "PreviewImage", "inputs": {"images": ["57", 0]}}
        }),
    );
    // Saver packs' selector and literal nodes.
    graph["70"] =
        json!({"class_type": "Sampler Selector", "inputs": {"sampler_name": "dpmpp_3m_sde"}});
    graph["71"] = json!({"class_type": "Checkpoint Selector", "inputs": {"ckpt_name": "selected.safetensors"}});
    graph["72"] =
        json!({"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ["71", 0]}});
    graph["56"]["inputs"]["sampler_name"] = json!(["70", 0]);
    graph["56"]["inputs"]["model"] = json!(["72", 0]);
    let g = read_graph(&graph, None).generation;
    assert_eq!(
        (g.seed, g.steps, g.cfg),
        (Some(8_675_309), Some(26), Some(3.5))
    );
    assert_eq!(g.sampler.as_deref(), Some("dpmpp_3m_sde"));
    assert_eq!(g.model.as_deref(), Some("selected.safetensors"));
    assert_eq!((g.width, g.height), (Some(1024), Some(1024)));

    // A non-square resolution that an orientation input may turn: unknown.
    graph["53"]["inputs"]["resolution"] = json!("1152x896");
    let g = read_graph(&graph, None).generation;
    assert_eq!((g.width, g.height), (None, None));
    assert!(g.ambiguity.iter().any(|r| r.contains("orientation")));
}

// ----------------------------------------------------------- use-everywhere

fn everywhere_graph() -> Value {
    // An older save: the broadcast inputs are missing from the sampler.
    with(
        base(),
        json!({
            "60": {"class_type": "Anything Everywhere", "inputs": {"MODEL": ["1", 0]}},
            "61": {"class_type": "Prompts Everywhere", "inputs": {"CONDITIONING": ["2", 0], "CONDITIONING_1": ["3", 0]}},
            "62": {"class_type": "Seed Everywhere", "inputs": {"seed": 31337}},
            "63": {"class_type": "KSampler", "inputs": {"steps": 24, "cfg": 6.0, "sampler_name": "heun", "scheduler": "normal", "denoise": 1.0,
                "latent_image": ["4", 0]}},
            "64": {"class_type": "VAEDecode", "inputs": {"samples": ["63", 0], "vae": ["1", 2]}},
            "65": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ue", "images": ["64", 0]}}
        }),
    )
}

#[test]
fn use_everywhere_broadcasts_fill_missing_inputs() {
    let g = read_graph(&everywhere_graph(), None).generation;
    assert_eq!(g.model.as_deref(), Some("dream.safetensors"));
    assert_eq!(g.positive_prompt.as_deref(), Some("a lighthouse at dusk"));
    assert_eq!(g.negative_prompt.as_deref(), Some("fog, blur"));
    assert_eq!(g.seed, Some(31337));
    assert_eq!(g.steps, Some(24));

    // Two nodes broadcasting different models: which one arrives is not
    // stated, so the model is not either.
    let graph = with(
        everywhere_graph(),
        json!({
            "66": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "other.safetensors"}},
            "67": {"class_type": "Anything Everywhere", "inputs": {"MODEL": ["66", 0]}}
        }),
    );
    let g = read_graph(&graph, None).generation;
    assert_eq!(g.model, None);
    assert_eq!(g.positive_prompt.as_deref(), Some("a lighthouse at dusk"));
    assert!(
        g.ambiguity.iter().any(|r| r.contains("use-everywhere")),
        "{:?}",
        g.ambiguity
    );
}

// --------------------------------------------------------- several outputs

fn two_outputs() -> Value {
    json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dream.safetensors"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a harbour", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 48, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0]}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"filename_prefix": "harbour/base", "images": ["6", 0]}},
        "8": {"class_type": "LatentUpscaleBy", "inputs": {"upscale_method": "nearest-exact", "scale_by": 2.0, "samples": ["5", 0]}},
        "9": {"class_type": "KSampler", "inputs": {"seed": 2, "steps": 10, "cfg": 7.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 0.5,
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["8", 0]}},
        "10": {"class_type": "VAEDecode", "inputs": {"samples": ["9", 0], "vae": ["1", 2]}},
        "11": {"class_type": "SaveImage", "inputs": {"filename_prefix": "harbour/big", "images": ["10", 0]}},
        "12": {"class_type": "PreviewImage", "inputs": {"images": ["10", 0]}}
    })
}

#[test]
fn the_file_name_picks_the_output() {
    let g = read_graph(&two_outputs(), Some("base_00003_.png")).generation;
    let nodes: Vec<&str> = g.samplers.iter().map(|p| p.node.as_str()).collect();
    assert_eq!(nodes, ["5"]);
    assert!(!g.ambiguous, "{:?}", g.ambiguity);
    assert_eq!((g.seed, g.steps, g.denoise), (Some(1), Some(20), Some(1.0)));
    assert_eq!((g.width, g.height), (Some(64), Some(48)));

    let g = read_graph(&two_outputs(), Some("big_00003_.png")).generation;
    assert_eq!(g.samplers.len(), 2);
    // The big branch is a hires fix: the first pass plus the second.
    assert_eq!((g.seed, g.steps), (Some(1), Some(20)));
    let hires = g.hires.expect("hires");
    assert_eq!(
        (hires.scale, hires.steps, hires.denoise),
        (Some(2.0), Some(10), Some(0.5))
    );
}

#[test]
fn the_image_size_picks_the_output_when_the_name_cannot() {
    let image = |w, h| {
        paint::encode(
            &image::DynamicImage::ImageRgb8(paint::solid(w, h, [1, 2, 3])),
            image::ImageFormat::Png,
        )
    };
    // The big branch upscales the 64×48 latent by 2 (128×96); the base
    // branch saves it as it is (64×48).
    let g = read_graph_in(&image(128, 96), &two_outputs(), Some("renamed.png")).generation;
    assert_eq!(g.samplers.len(), 2, "{:?}", g.ambiguity);
    assert!(g.hires.is_some());
    let g = read_graph_in(&image(64, 48), &two_outputs(), Some("renamed.png")).generation;
    assert_eq!(g.samplers.len(), 1, "{:?}", g.ambiguity);
    assert_eq!(g.seed, Some(1));

    // A size neither branch makes: ambiguous, and only shared values.
    let g = read_graph_in(&image(100, 100), &two_outputs(), Some("renamed.png")).generation;
    assert!(g.ambiguous);
    assert!(g.ambiguity.iter().any(|r| r.contains("several outputs")));
    assert_eq!(g.seed, None);
    assert_eq!(g.positive_prompt.as_deref(), Some("a harbour"));
    assert_eq!(g.cfg, Some(7.0));
}

// ------------------------------------------------------------ workflow only

fn workflow() -> Value {
    json!({
        "last_node_id": 9,
        "last_link_id": 9,
        "nodes": [
            {"id": 4, "type": "CheckpointLoaderSimple", "mode": 0, "inputs": [],
             "outputs": [{"name": "MODEL", "links": [1]}, {"name": "CLIP", "links": [3, 5]}, {"name": "VAE", "links": [8]}],
             "widgets_values": ["dream.safetensors"]},
            {"id": 6, "type": "CLIPTextEncode", "mode": 0, "inputs": [{"name": "clip", "type": "CLIP", "link": 3}],
             "widgets_values": ["a quiet library"]},
            {"id": 7, "type": "CLIPTextEncode", "mode": 0, "inputs": [{"name": "clip", "type": "CLIP", "link": 5}],
             "widgets_values": ["noise"]},
            {"id": 5, "type": "EmptyLatentImage", "mode": 0, "inputs": [], "widgets_values": [768, 512, 1]},
            {"id": 3, "type": "KSampler", "mode": 0,
             "inputs": [{"name": "model", "link": 1}, {"name": "positive", "link": 4}, {"name": "negative", "link": 6}, {"name": "latent_image", "link": 2}],
             "widgets_values": [987654321, "randomize", 24, 6.0, "dpmpp_2m", "karras", 1.0]},
            {"id": 8, "type": "VAEDecode", "mode": 0, "inputs": [{"name": "samples", "link": 7}, {"name": "vae", "link": 8}]},
            {"id": 9, "type": "SaveImage", "mode": 0, "inputs": [{"name": "images", "link": 9}], "widgets_values": ["library"]},
            {"id": 10, "type": "Note", "mode": 0, "widgets_values": ["remember the lamp"]},
            {"id": 11, "type": "KSampler", "mode": 2, "inputs": [], "widgets_values": [1, "fixed", 2, 3.0, "euler", "normal", 1.0]}
        ],
        "links": [
            [1, 4, 0, 3, 0, "MODEL"], [2, 5, 0, 3, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"], [4, 6, 0, 3, 1, "CONDITIONING"],
            [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 3, 2, "CONDITIONING"], [7, 3, 0, 8, 0, "LATENT"], [8, 4, 2, 8, 1, "VAE"], [9, 8, 0, 9, 0, "IMAGE"]
        ]
    })
}

#[test]
fn a_workflow_only_file_is_read_from_its_widgets() {
    let bytes =
        write::insert_png_text(&png(), "workflow", &workflow().to_string()).expect("insert");
    let x = extract(&bytes, None).expect("an image");
    let g = &x.generation;
    assert_eq!(g.metadata_format.as_deref(), Some("comfyui-workflow"));
    assert_eq!(g.positive_prompt.as_deref(), Some("a quiet library"));
    assert_eq!(g.negative_prompt.as_deref(), Some("noise"));
    assert_eq!(
        (g.seed, g.steps, g.cfg),
        (Some(987_654_321), Some(24), Some(6.0))
    );
    assert_eq!(
        (g.sampler.as_deref(), g.scheduler.as_deref()),
        (Some("dpmpp_2m"), Some("karras"))
    );
    assert_eq!((g.width, g.height), (Some(768), Some(512)));
    assert_eq!(g.model.as_deref(), Some("dream.safetensors"));
    // The muted sampler is not a pass.
    assert_eq!(g.samplers.len(), 1);
    assert!(x.problems.iter().any(|p| p.message.contains("UI workflow")));
    let graph = x.graph.expect("graph text");
    assert!(graph.nodes.iter().any(|n| n == "Note"));
    assert!(graph.strings.iter().any(|s| s == "remember the lamp"));
}

#[test]
fn bare_nan_in_a_saved_graph_is_read_as_null() {
    // ComfyUI's server writes Python's NaN for some node fields.
    let text = efficiency_graph().to_string().replacen(
        "\"batch_size\":1",
        "\"batch_size\":1,\"is_changed\":NaN,\"note\":\"NaN stays text\"",
        1,
    );
    assert!(text.contains(":NaN"), "{text}");
    let bytes = write::insert_png_text(&png(), "prompt", &text).expect("insert");
    let x = extract(&bytes, None).expect("an image");
    assert_eq!(x.generation.seed, Some(123_456_789));
    assert!(x.problems.is_empty(), "{:?}", x.problems);
    let strings = &x.graph.expect("graph text").strings;
    assert!(strings.iter().any(|s| s == "NaN stays text"));
}

// ------------------------------------------------------------------ hostile

#[test]
fn a_cycle_of_reroutes_is_bounded() {
    let mut graph = base();
    graph["70"] = json!({"class_type": "Reroute", "inputs": {"": ["71", 0]}});
    graph["71"] = json!({"class_type": "Reroute", "inputs": {"": ["70", 0]}});
    graph["72"] =
        json!({"class_type": "CLIPTextEncode", "inputs": {"text": ["70", 0], "clip": ["1", 1]}});
    graph["73"] = json!({"class_type": "KSampler", "inputs": {"seed": 1, "steps": 2, "cfg": 1.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
        "model": ["73", 0], "positive": ["72", 0], "negative": ["3", 0], "latent_image": ["73", 0]}});
    graph["74"] = json!({"class_type": "SaveImage", "inputs": {"images": ["73", 0]}});
    let x = read_graph(&graph, None);
    assert_eq!(x.generation.positive_prompt, None);
    assert_eq!(x.generation.negative_prompt.as_deref(), Some("fog, blur"));
    assert_eq!(x.generation.seed, Some(1));
    assert!(
        x.problems.iter().any(|p| p.message.contains("cycle")),
        "{:?}",
        x.problems
    );
}

#[test]
fn a_hundred_thousand_link_chain_is_bounded() {
    let mut graph = base();
    let n = 100_000;
    for i in 0..n {
        let next = if i + 1 == n {
            json!("the end of a long road")
        } else {
            json!([format!("r{}", i + 1), 0])
        };
        graph[format!("r{i}")] = json!({"class_type": "Reroute", "inputs": {"": next}});
    }
    graph["80"] =
        json!({"class_type": "CLIPTextEncode", "inputs": {"text": ["r0", 0], "clip": ["1", 1]}});
    graph["81"] = json!({"class_type": "KSampler", "inputs": {"seed": 1, "steps": 2, "cfg": 1.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
        "model": ["1", 0], "positive": ["80", 0], "negative": ["3", 0], "latent_image": ["4", 0]}});
    graph["82"] = json!({"class_type": "SaveImage", "inputs": {"images": ["81", 0]}});
    let started = Instant::now();
    let x = read_graph(&graph, None);
    println!("100,000-link chain: {:?}", started.elapsed());
    assert_eq!(x.generation.positive_prompt, None);
    assert_eq!(x.generation.model.as_deref(), Some("dream.safetensors"));
    assert!(
        x.generation
            .ambiguity
            .iter()
            .any(|r| r.contains("positive_prompt")),
        "{:?}",
        x.generation.ambiguity
    );
}

#[test]
fn huge_strings_are_bounded() {
    let huge = "x".repeat(1 << 20);
    let mut graph = base();
    graph["2"]["inputs"]["text"] = json!(huge.clone());
    graph[huge.clone()] = json!({"class_type": huge.clone(), "inputs": {"text": huge.clone()}});
    graph["90"] = json!({"class_type": "CLIPTextEncode", "inputs": {"text": [huge.clone(), 0], "clip": ["1", 1]}});
    graph["91"] = json!({"class_type": "KSampler", "inputs": {"seed": 1, "steps": 2, "cfg": 1.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
        "model": ["1", 0], "positive": ["2", 0], "negative": ["90", 0], "latent_image": ["4", 0]}});
    graph["92"] = json!({"class_type": "SaveImage", "inputs": {"images": ["91", 0]}});
    let x = read_graph(&graph, None);
    // The prompt itself is what the file says, however long.
    assert_eq!(x.generation.positive_prompt.as_deref(), Some(huge.as_str()));
    for reason in &x.generation.ambiguity {
        assert!(reason.len() < 1_000, "a reason of {} bytes", reason.len());
    }
    let graph = x.graph.expect("graph text");
    assert!(graph.nodes.iter().all(|n| n.len() <= 200));
    assert!(graph.strings.iter().map(String::len).sum::<usize>() <= 256 << 10);
}

/// A graph of 5,000 nodes: 999 side branches of five nodes each around one
/// main pipeline, all saved under other prefixes.
fn five_thousand_nodes() -> Value {
    let mut graph = base();
    graph["5"] = json!({"class_type": "KSampler", "inputs": {"seed": 77, "steps": 30, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
        "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0]}});
    graph["6"] =
        json!({"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}});
    graph["7"] = json!({"class_type": "SaveImage", "inputs": {"filename_prefix": "main", "images": ["6", 0]}});
    for b in 0..999 {
        let id = |k: u32| format!("b{b}_{k}");
        graph[id(0)] = json!({"class_type": "StringConcatenate", "inputs": {"string_a": format!("branch {b}"), "string_b": "detail", "delimiter": " "}});
        graph[id(1)] = json!({"class_type": "CLIPTextEncode", "inputs": {"text": [id(0), 0], "clip": ["1", 1]}});
        graph[id(2)] = json!({"class_type": "KSampler", "inputs": {"seed": b, "steps": 20, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
            "model": ["1", 0], "positive": [id(1), 0], "negative": ["3", 0], "latent_image": ["4", 0]}});
        graph[id(3)] =
            json!({"class_type": "VAEDecode", "inputs": {"samples": [id(2), 0], "vae": ["1", 2]}});
        graph[id(4)] = json!({"class_type": "SaveImage", "inputs": {"filename_prefix": format!("side{b}"), "images": [id(3), 0]}});
    }
    graph
}

#[test]
fn five_thousand_nodes_resolve() {
    let graph = five_thousand_nodes();
    let nodes = graph.as_object().map_or(0, serde_json::Map::len);
    assert!(nodes >= 5_000, "{nodes} nodes");
    let bytes = write::insert_png_text(&png(), "prompt", &graph.to_string()).expect("insert");
    let started = Instant::now();
    let x = extract(&bytes, Some("main_00001_.png")).expect("an image");
    println!(
        "{nodes}-node graph: extracted in {:?} (parse and resolve, this build's profile)",
        started.elapsed()
    );
    let g = &x.generation;
    assert!(!g.ambiguous, "{:?}", g.ambiguity);
    assert_eq!((g.seed, g.steps), (Some(77), Some(30)));
    assert_eq!(g.positive_prompt.as_deref(), Some("a lighthouse at dusk"));

    // Without a name, the many outputs are ambiguous: only what every
    // examined branch shares is stated.
    let x = extract(&bytes, None).expect("an image");
    assert!(x.generation.ambiguous);
    assert_eq!(x.generation.seed, None);
    assert_eq!(x.generation.model.as_deref(), Some("dream.safetensors"));
}

// ------------------------------------------ Searge, Crystools, AnimateDiff

fn searge_graph() -> Value {
    with(
        base(),
        json!({
            "50": {"class_type": "SeargePromptText", "inputs": {"prompt": "a red fox in fresh snow"}},
            "51": {"class_type": "SeargePromptText", "inputs": {"prompt": "low quality, text"}},
            "52": {"class_type": "SeargeSamplerInputs", "inputs": {"sampler_name": "dpmpp_2m_sde", "scheduler": "karras"}},
            "53": {"class_type": "CLIPTextEncode", "inputs": {"text": ["50", 0], "clip": ["1", 1]}},
            "54": {"class_type": "CLIPTextEncode", "inputs": {"text": ["51", 0], "clip": ["1", 1]}},
            "55": {"class_type": "KSampler", "inputs": {"seed": 8080, "steps": 28, "cfg": 5.5, "sampler_name": ["52", 0], "scheduler": ["52", 1], "denoise": 1.0,
                "model": ["1", 0], "positive": ["53", 0], "negative": ["54", 0], "latent_image": ["4", 0]}},
            "56": {"class_type": "VAEDecode", "inputs": {"samples": ["55", 0], "vae": ["1", 2]}},
            "57": {"class_type": "SaveImage", "inputs": {"filename_prefix": "searge", "images": ["56", 0]}}
        }),
    )
}

#[test]
fn searge_prompts_and_sampler_inputs_are_followed() {
    let g = read_graph(&searge_graph(), None).generation;
    assert_eq!(
        g.positive_prompt.as_deref(),
        Some("a red fox in fresh snow")
    );
    assert_eq!(g.negative_prompt.as_deref(), Some("low quality, text"));
    assert_eq!(g.sampler.as_deref(), Some("dpmpp_2m_sde"));
    assert_eq!(g.scheduler.as_deref(), Some("karras"));
    assert_eq!((g.seed, g.steps, g.cfg), (Some(8080), Some(28), Some(5.5)));
}

fn crystools_graph() -> Value {
    with(
        base(),
        json!({
            "70": {"class_type": "Primitive string multiline [Crystools]", "inputs": {"string": "an origami crane, studio light"}},
            "71": {"class_type": "Primitive integer [Crystools]", "inputs": {"int": 24}},
            "72": {"class_type": "Primitive float [Crystools]", "inputs": {"float": 4.5}},
            "73": {"class_type": "CLIPTextEncode", "inputs": {"text": ["70", 0], "clip": ["1", 1]}},
            "74": {"class_type": "KSampler", "inputs": {"seed": 5150, "steps": ["71", 0], "cfg": ["72", 0], "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
                "model": ["1", 0], "positive": ["73", 0], "negative": ["3", 0], "latent_image": ["4", 0]}},
            "75": {"class_type": "VAEDecode", "inputs": {"samples": ["74", 0], "vae": ["1", 2]}},
            "76": {"class_type": "SaveImage", "inputs": {"filename_prefix": "crane", "images": ["75", 0]}}
        }),
    )
}

#[test]
fn crystools_primitives_are_read() {
    let g = read_graph(&crystools_graph(), None).generation;
    assert_eq!(
        g.positive_prompt.as_deref(),
        Some("an origami crane, studio light")
    );
    assert_eq!((g.steps, g.cfg), (Some(24), Some(4.5)));
    assert_eq!(g.seed, Some(5150));
}

/// AnimateDiff's evolved sampling wraps the checkpoint's model; the frames
/// go to VideoHelperSuite's combiner, which writes the video.
fn animatediff_graph() -> Value {
    with(
        base(),
        json!({
            "60": {"class_type": "ADE_LoadAnimateDiffModel", "inputs": {"model_name": "mm_sd_v15_v2.ckpt"}},
            "61": {"class_type": "ADE_ApplyAnimateDiffModelSimple", "inputs": {"motion_model": ["60", 0]}},
            "62": {"class_type": "ADE_StandardStaticContextOptions", "inputs": {"context_length": 16, "context_overlap": 4}},
            "63": {"class_type": "ADE_UseEvolvedSampling", "inputs": {"beta_schedule": "autoselect", "model": ["1", 0], "m_models": ["61", 0], "context_options": ["62", 0]}},
            "64": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 16}},
            "65": {"class_type": "KSampler", "inputs": {"seed": 606, "steps": 20, "cfg": 7.5, "sampler_name": "euler_ancestral", "scheduler": "normal", "denoise": 1.0,
                "model": ["63", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["64", 0]}},
            "66": {"class_type": "VAEDecode", "inputs": {"samples": ["65", 0], "vae": ["1", 2]}},
            "67": {"class_type": "VHS_VideoCombine", "inputs": {"frame_rate": 8, "loop_count": 0, "filename_prefix": "AnimateDiff", "format": "video/h264-mp4",
                "pingpong": false, "save_output": true, "images": ["66", 0]}}
        }),
    )
}

#[test]
fn an_animatediff_video_graph_states_its_sampling() {
    let g = read_graph(&animatediff_graph(), Some("AnimateDiff_00001.mp4")).generation;
    assert_eq!(g.positive_prompt.as_deref(), Some("a lighthouse at dusk"));
    assert_eq!(g.negative_prompt.as_deref(), Some("fog, blur"));
    assert_eq!(g.model.as_deref(), Some("dream.safetensors"));
    assert_eq!((g.seed, g.steps, g.cfg), (Some(606), Some(20), Some(7.5)));
    assert_eq!(g.sampler.as_deref(), Some("euler_ancestral"));
    assert_eq!((g.width, g.height), (Some(512), Some(512)));
}

// ------------------------------------------------------------------ summary

/// The fields each graph above states, by hand, and how many of them kiln
/// extracts: printed as fully / partly / not resolved.
#[test]
fn graphs_resolve_summary() {
    type Check = fn(&Generation) -> Vec<bool>;
    let cases: Vec<(&str, Value, Option<&str>, Check)> = vec![
        ("detailer", detailer_graph(), Some("detailed_1.png"), |g| {
            vec![
                g.positive_prompt.as_deref() == Some("a lighthouse at dusk"),
                g.negative_prompt.as_deref() == Some("fog, blur"),
                g.model.as_deref() == Some("dream.safetensors"),
                g.cfg == Some(6.5),
                g.samplers.len() == 2,
            ]
        }),
        ("pipes", pipes_graph(), None, |g| {
            vec![
                g.positive_prompt.as_deref() == Some("a lighthouse at dusk, oil painting"),
                g.negative_prompt.as_deref() == Some("fog, blur"),
                g.model.as_deref() == Some("dream.safetensors"),
                g.seed == Some(5),
                g.width == Some(640),
            ]
        }),
        ("efficiency", efficiency_graph(), None, |g| {
            vec![
                g.positive_prompt.as_deref() == Some("a castle on a cliff"),
                g.model.as_deref() == Some("castle_xl.safetensors"),
                g.loras.as_ref().is_some_and(|l| l.len() == 3),
                g.seed == Some(123_456_789),
                g.width == Some(832),
            ]
        }),
        ("rgthree", context_graph(), None, |g| {
            vec![
                g.positive_prompt.as_deref() == Some("a lighthouse at dusk"),
                g.model.as_deref() == Some("dream.safetensors"),
                g.seed == Some(4242),
                g.width == Some(640),
            ]
        }),
        ("text", text_graph(), None, |g| {
            vec![g.positive_prompt.as_deref() == Some("a lighthouse, at dusk | volumetric light")]
        }),
        ("use-everywhere", everywhere_graph(), None, |g| {
            vec![
                g.positive_prompt.as_deref() == Some("a lighthouse at dusk"),
                g.model.as_deref() == Some("dream.safetensors"),
                g.seed == Some(31337),
            ]
        }),
        (
            "two outputs by name",
            two_outputs(),
            Some("base_1.png"),
            |g| vec![g.seed == Some(1), g.steps == Some(20), g.width == Some(64)],
        ),
        ("searge", searge_graph(), None, |g| {
            vec![
                g.positive_prompt.as_deref() == Some("a red fox in fresh snow"),
                g.negative_prompt.as_deref() == Some("low quality, text"),
                g.sampler.as_deref() == Some("dpmpp_2m_sde"),
                g.scheduler.as_deref() == Some("karras"),
                g.seed == Some(8080),
            ]
        }),
        ("crystools", crystools_graph(), None, |g| {
            vec![
                g.positive_prompt.as_deref() == Some("an origami crane, studio light"),
                g.steps == Some(24),
                g.cfg == Some(4.5),
            ]
        }),
        (
            "animatediff + video combine",
            animatediff_graph(),
            Some("AnimateDiff_00001.mp4"),
            |g| {
                vec![
                    g.positive_prompt.as_deref() == Some("a lighthouse at dusk"),
                    g.model.as_deref() == Some("dream.safetensors"),
                    g.seed == Some(606),
                    g.width == Some(512),
                ]
            },
        ),
    ];
    let (mut full, mut partial, mut none) = (0, 0, 0);
    for (name, graph, file, check) in cases {
        let results = check(&read_graph(&graph, file).generation);
        let ok = results.iter().filter(|r| **r).count();
        println!("{name}: {ok} of {} fields", results.len());
        match ok {
            n if n == results.len() => full += 1,
            0 => none += 1,
            _ => partial += 1,
        }
    }
    println!("own graphs: {full} fully, {partial} partly, {none} not resolved");
    assert_eq!((partial, none), (0, 0));
}
