//! Every container and text encoding, written by kiln's own metadata writer (`metadata::write`)
//! and read back by the extractor.

mod metadata_support;

use kiln_stages::metadata::write::{self, ByteOrder, ExifFields, PngChunk, UserComment};
use kiln_stages::metadata::{Extraction, Generation, ImageFormat, extract};
use metadata_support::{INFOTEXT, jpeg, png, stealth_png, webp};
use serde_json::json;

fn read(bytes: &[u8]) -> Extraction {
    extract(bytes, None).expect("an image")
}

fn assert_infotext(g: &Generation) {
    assert_eq!(g.generator.as_deref(), Some("a1111"));
    assert_eq!(
        g.positive_prompt.as_deref(),
        Some("a cat, <lora:catStyle:0.8>, café")
    );
    assert_eq!(g.negative_prompt.as_deref(), Some("dog, 犬"));
    assert_eq!(g.seed, Some(4_294_967_296));
    assert_eq!((g.steps, g.cfg), (Some(28), Some(6.5)));
    assert_eq!(g.sampler.as_deref(), Some("DPM++ 2M"));
    assert_eq!(g.scheduler.as_deref(), Some("Karras"));
    assert_eq!((g.width, g.height), (Some(832), Some(1216)));
    assert_eq!(g.model.as_deref(), Some("sdxl_base"));
    assert_eq!(g.model_hash.as_deref(), Some("45a21ea00a"));
    assert_eq!(g.clip_skip, Some(2));
    let loras = g.loras.as_ref().expect("loras");
    assert_eq!(
        (loras[0].name.as_str(), loras[0].strength),
        ("catStyle", Some(0.8))
    );
    let hires = g.hires.as_ref().expect("hires");
    assert_eq!(
        (hires.scale, hires.steps, hires.denoise),
        (Some(2.0), Some(12), Some(0.4))
    );
    assert_eq!(hires.upscaler.as_deref(), Some("Latent"));
}

#[test]
fn infotext_in_every_png_text_chunk() {
    let chunks = [
        write::itxt_chunk("parameters", INFOTEXT, false).expect("itxt"),
        write::itxt_chunk("parameters", INFOTEXT, true).expect("compressed itxt"),
        // Real tools write UTF-8 into tEXt although the specification says Latin-1.
        PngChunk::new(
            *b"tEXt",
            [b"parameters\0".as_slice(), INFOTEXT.as_bytes()].concat(),
        ),
    ];
    for chunk in chunks {
        let x = read(&write::insert_png_chunks(&png(), &[chunk]).expect("insert"));
        assert_eq!(x.format, Some(ImageFormat::Png));
        assert_infotext(&x.generation);
        assert!(x.problems.is_empty(), "{:?}", x.problems);
    }
    // Latin-1 in tEXt and zTXt (no CJK there).
    let latin = INFOTEXT.replace(", 犬", "");
    for chunk in [
        write::text_chunk("parameters", &latin).expect("text"),
        write::ztxt_chunk("parameters", &latin).expect("ztxt"),
    ] {
        let x = read(&write::append_png_chunks(&png(), &[chunk]).expect("insert"));
        assert_eq!(
            x.generation.positive_prompt.as_deref(),
            Some("a cat, <lora:catStyle:0.8>, café")
        );
        assert_eq!(x.generation.negative_prompt.as_deref(), Some("dog"));
    }
}

#[test]
fn infotext_in_user_comment_of_either_byte_order() {
    for order in [ByteOrder::Little, ByteOrder::Big] {
        for big_endian in [false, true] {
            let tiff = ExifFields::new()
                .user_comment(UserComment::Unicode {
                    text: INFOTEXT.to_owned(),
                    big_endian,
                })
                .to_tiff(order);
            let x = read(&write::insert_jpeg_exif(&jpeg(), &tiff).expect("insert"));
            assert_infotext(&x.generation);
            assert_eq!(
                x.raw.get("EXIF:UserComment").map(String::as_str),
                Some(INFOTEXT)
            );
            let x = read(&write::insert_webp_exif(&webp(), &tiff).expect("insert"));
            assert_infotext(&x.generation);
        }
    }
}

fn comfy_graph() -> serde_json::Value {
    json!({
        "4:1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "base.safetensors"}},
        "4:2": {"class_type": "LoraLoader", "inputs": {"lora_name": "style.safetensors", "strength_model": 0.7, "strength_clip": 1.0, "model": ["4:1", 0], "clip": ["4:1", 1]}},
        "4:3": {"class_type": "LoraLoaderModelOnly", "inputs": {"lora_name": "detail.safetensors", "strength_model": -0.5, "model": ["4:2", 0]}},
        "skip": {"class_type": "CLIPSetLastLayer", "inputs": {"stop_at_clip_layer": -2, "clip": ["4:2", 1]}},
        "10": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "a red fox"}},
        "11": {"class_type": "PrimitiveString", "inputs": {"value": "snow"}},
        "12": {"class_type": "StringConcatenate", "inputs": {"string_a": ["10", 0], "string_b": ["11", 0], "delimiter": ", "}},
        "13": {"class_type": "CLIPTextEncode", "inputs": {"text": ["12", 0], "clip": ["skip", 0]}},
        "14": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["skip", 0]}},
        "20": {"class_type": "RandomNoise", "inputs": {"noise_seed": ["21", 0]}},
        "21": {"class_type": "PrimitiveInt", "inputs": {"value": 18_446_744_073_709_551_000u64}},
        "22": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "dpmpp_2m"}},
        "23": {"class_type": "BasicScheduler", "inputs": {"scheduler": "karras", "steps": 30, "denoise": 1.0, "model": ["4:3", 0]}},
        "24": {"class_type": "CFGGuider", "inputs": {"cfg": 4.5, "model": ["4:3", 0], "positive": ["13", 0], "negative": ["14", 0]}},
        "25": {"class_type": "EmptyLatentImage", "inputs": {"width": ["26", 0], "height": 768, "batch_size": 1}},
        "26": {"class_type": "PrimitiveInt", "inputs": {"value": 1344}},
        "30": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["20", 0], "guider": ["24", 0], "sampler": ["22", 0], "sigmas": ["23", 0], "latent_image": ["25", 0]}},
        "31": {"class_type": "VAEDecode", "inputs": {"samples": ["30", 0], "vae": ["4:1", 2]}},
        "32": {"class_type": "SaveImage", "inputs": {"filename_prefix": "fox", "images": ["31", 0]}}
    })
}

fn assert_comfy(g: &Generation) {
    assert_eq!(g.generator.as_deref(), Some("comfyui"));
    assert_eq!(g.positive_prompt.as_deref(), Some("a red fox, snow"));
    assert_eq!(g.negative_prompt.as_deref(), Some("blurry"));
    assert_eq!(g.seed, Some(18_446_744_073_709_551_000));
    assert_eq!((g.steps, g.cfg), (Some(30), Some(4.5)));
    assert_eq!(g.sampler.as_deref(), Some("dpmpp_2m"));
    assert_eq!(g.scheduler.as_deref(), Some("karras"));
    assert_eq!(g.model.as_deref(), Some("base.safetensors"));
    assert_eq!((g.width, g.height), (Some(1344), Some(768)));
    assert_eq!(g.clip_skip, Some(2));
    let loras: Vec<_> = g
        .loras
        .iter()
        .flatten()
        .map(|l| (l.name.as_str(), l.strength))
        .collect();
    // In the order they are applied: the loader next to the checkpoint first.
    assert_eq!(
        loras,
        [
            ("style.safetensors", Some(0.7)),
            ("detail.safetensors", Some(-0.5))
        ]
    );
    assert!(!g.ambiguous);
}

#[test]
fn comfy_graph_through_links_in_png_webp_and_jpeg() {
    let graph = comfy_graph().to_string();
    let png_bytes = write::insert_png_chunks(
        &png(),
        &[
            write::text_chunk("prompt", &graph).expect("latin-1"),
            write::text_chunk("workflow", "{\"nodes\": []}").expect("latin-1"),
        ],
    )
    .expect("insert");
    assert_comfy(&read(&png_bytes).generation);

    // Core ComfyUI WebP: EXIF Model = "prompt:" + JSON, Make = "workflow:" + JSON.
    let tiff = ExifFields::new()
        .model(format!("prompt:{graph}"))
        .make("workflow:{}")
        .to_tiff(ByteOrder::Little);
    assert_comfy(&read(&write::insert_webp_exif(&webp(), &tiff).expect("insert")).generation);

    // A custom saver: raw JSON {"prompt": …, "workflow": …} in UserComment.
    let wrapped = json!({"prompt": comfy_graph(), "workflow": {}}).to_string();
    let tiff = ExifFields::new()
        .user_comment(UserComment::Raw(wrapped.into_bytes()))
        .to_tiff(ByteOrder::Big);
    assert_comfy(&read(&write::insert_jpeg_exif(&jpeg(), &tiff).expect("insert")).generation);
}

fn two_outputs() -> serde_json::Value {
    let mut graph = comfy_graph();
    let extra = json!({
        "40": {"class_type": "KSampler", "inputs": {"seed": 7, "steps": 12, "cfg": 2.0, "sampler_name": "euler", "scheduler": "simple", "denoise": 0.5, "model": ["4:1", 0], "positive": ["13", 0], "negative": ["14", 0], "latent_image": ["41", 0]}},
        "41": {"class_type": "LatentUpscaleBy", "inputs": {"upscale_method": "nearest-exact", "scale_by": 1.5, "samples": ["30", 0]}},
        "42": {"class_type": "VAEDecode", "inputs": {"samples": ["40", 0], "vae": ["4:1", 2]}},
        "43": {"class_type": "SaveImage", "inputs": {"filename_prefix": "fox_hires", "images": ["42", 0]}}
    });
    if let (Some(base), serde_json::Value::Object(more)) = (graph.as_object_mut(), extra) {
        base.extend(more);
    }
    graph
}

#[test]
fn several_outputs_choose_by_file_name_else_first_and_ambiguous() {
    let bytes =
        write::insert_png_text(&png(), "prompt", &two_outputs().to_string()).expect("insert");

    let plain = extract(&bytes, Some("fox_00001_.png"))
        .expect("image")
        .generation;
    assert_comfy(&plain);
    assert!(plain.hires.is_none());

    let hires = extract(&bytes, Some("fox_hires_00001_.png"))
        .expect("image")
        .generation;
    // Two passes made the file (it is ambiguous which one a field means),
    // in the usual hires shape: base parameters plus a hires pass.
    assert!(hires.ambiguous);
    assert_eq!(hires.samplers.len(), 2);
    assert_eq!(
        (hires.seed, hires.steps),
        (Some(18_446_744_073_709_551_000), Some(30))
    );
    let pass = hires.hires.expect("hires pass");
    assert_eq!(
        (pass.scale, pass.steps, pass.denoise),
        (Some(1.5), Some(12), Some(0.5))
    );

    let unknown = extract(&bytes, Some("other.png"))
        .expect("image")
        .generation;
    // Either output may be the file: only what both branches' passes
    // agree on is stated, and why the rest is not is said.
    assert!(unknown.ambiguous);
    assert_eq!(unknown.steps, None);
    assert_eq!(unknown.positive_prompt.as_deref(), Some("a red fox, snow"));
    assert!(
        unknown
            .ambiguity
            .iter()
            .any(|r| r.contains("several outputs")),
        "{:?}",
        unknown.ambiguity
    );
}

#[test]
fn run_time_values_are_unknown_not_guessed() {
    let mut graph = comfy_graph();
    graph["13"]["inputs"]["text"] = json!(["50", 0]);
    graph["50"] =
        json!({"class_type": "TextGenerate", "inputs": {"prompt": ["10", 0], "max_length": 100}});
    graph["21"] = json!({"class_type": "Seed (rgthree)", "inputs": {"seed": -1}});
    let bytes = write::insert_png_text(&png(), "prompt", &graph.to_string()).expect("insert");
    let x = read(&bytes);
    assert_eq!(x.generation.positive_prompt, None);
    assert_eq!(x.generation.seed, None);
    assert!(x.generation.ambiguous);
    assert!(x.problems.iter().any(|p| p.message.contains("run time")));
}

#[test]
fn cycles_stop_the_walk_with_a_problem() {
    let mut graph = comfy_graph();
    graph["12"]["inputs"]["string_b"] = json!(["60", 0]);
    graph["60"] = json!({"class_type": "StringConcatenate", "inputs": {"string_a": ["12", 0], "string_b": ["60", 0]}});
    graph["4:1"] = json!({"class_type": "ModelSamplingDiscrete", "inputs": {"model": ["4:3", 0]}});
    let bytes = write::insert_png_text(&png(), "prompt", &graph.to_string()).expect("insert");
    let x = read(&bytes);
    assert_eq!(x.generation.positive_prompt, None);
    assert_eq!(x.generation.model, None);
    assert_eq!(x.generation.steps, Some(30));
    assert!(
        x.problems.iter().any(|p| p.message.contains("cycle")),
        "{:?}",
        x.problems
    );
}

#[test]
fn application_json_formats() {
    let novelai = json!({"prompt": "1girl", "uc": "lowres", "steps": 28, "scale": 5.0, "seed": 12, "sampler": "k_euler_ancestral", "noise_schedule": "karras", "width": 832, "height": 1216,
        "v4_prompt": {"caption": {"base_caption": "1girl", "char_captions": [{"char_caption": "miku", "centers": [{"x": 0.5, "y": 0.3}]}]}, "use_coords": true, "use_order": false}});
    let bytes = write::insert_png_chunks(
        &png(),
        &[
            write::text_chunk("Software", "NovelAI").expect("text"),
            write::text_chunk("Source", "NovelAI Diffusion V4.5 4BDE2A90").expect("text"),
            write::text_chunk("Comment", &novelai.to_string()).expect("text"),
        ],
    )
    .expect("insert");
    let g = read(&bytes).generation;
    assert_eq!(g.generator.as_deref(), Some("novelai"));
    assert_eq!(
        (g.positive_prompt.as_deref(), g.negative_prompt.as_deref()),
        (Some("1girl"), Some("lowres"))
    );
    assert_eq!((g.cfg, g.scheduler.as_deref()), (Some(5.0), Some("karras")));
    assert_eq!(g.model_hash.as_deref(), Some("4BDE2A90"));
    assert_eq!(g.character_prompts[0].center, Some((0.5, 0.3)));
    assert_eq!((g.use_coords, g.use_order), (Some(true), Some(false)));

    let invoke = json!({"positive_prompt": "castle", "negative_prompt": "", "seed": 3, "steps": 20, "cfg_scale": 7.5, "scheduler": "euler_a", "width": 512, "height": 512,
        "model": {"name": "juggernaut", "hash": "blake3:ab"}, "loras": [{"model": {"name": "ink"}, "weight": 0.6}]});
    let g = read(
        &write::insert_png_text(&png(), "invokeai_metadata", &invoke.to_string()).expect("insert"),
    )
    .generation;
    assert_eq!(g.generator.as_deref(), Some("invokeai"));
    assert_eq!(
        (g.sampler.as_deref(), g.scheduler.as_deref()),
        (Some("euler_a"), None)
    );
    assert_eq!(g.model.as_deref(), Some("juggernaut"));
    assert_eq!(g.loras.expect("loras")[0].strength, Some(0.6));

    let dream = "\"a house [fog, rain]\" -s 40 -S 99 -W 640 -H 480 -C 7 -A k_lms";
    let g = read(&write::insert_png_text(&png(), "Dream", dream).expect("insert")).generation;
    assert_eq!(
        (g.positive_prompt.as_deref(), g.negative_prompt.as_deref()),
        (Some("a house"), Some("fog, rain"))
    );
    assert_eq!(
        (g.seed, g.width, g.sampler.as_deref()),
        (Some(99), Some(640), Some("k_lms"))
    );

    let swarm = json!({"sui_image_params": {"prompt": "p", "negativeprompt": "n", "seed": 5, "steps": 20, "cfgscale": 7.0, "model": "m", "loras": ["a"], "loraweights": [0.5]}});
    let g =
        read(&write::insert_png_text(&png(), "parameters", &swarm.to_string()).expect("insert"))
            .generation;
    assert_eq!(g.generator.as_deref(), Some("swarmui"));
    assert_eq!(g.loras.expect("loras")[0].strength, Some(0.5));

    let fooocus = json!({"prompt": "goldfish", "negative_prompt": "", "seed": "6952411511246973023", "steps": 30, "guidance_scale": 4, "resolution": "(768, 1280)", "base_model": "juggernautXL", "loras": [["add.safetensors", 0.25]]});
    let bytes = write::insert_png_chunks(
        &png(),
        &[
            write::text_chunk("parameters", &fooocus.to_string()).expect("text"),
            write::text_chunk("fooocus_scheme", "fooocus").expect("text"),
        ],
    )
    .expect("insert");
    let g = read(&bytes).generation;
    assert_eq!(g.generator.as_deref(), Some("fooocus"));
    assert_eq!(
        (g.seed, g.width, g.height),
        (Some(6_952_411_511_246_973_023), Some(768), Some(1280))
    );
    assert_eq!(g.loras.expect("loras")[0].name, "add.safetensors");

    // Easy Diffusion: one text chunk per parameter.
    let chunks: Vec<PngChunk> = [
        ("prompt", "a lighthouse"),
        ("negative_prompt", "people"),
        ("seed", "1234"),
        ("num_inference_steps", "25"),
        ("guidance_scale", "7.5"),
        ("sampler_name", "euler_a"),
        ("width", "768"),
        ("height", "512"),
        ("use_stable_diffusion_model", "sd-v1-5"),
        ("use_lora_model", "ink,paper"),
        ("lora_alpha", "0.5,0.25"),
    ]
    .iter()
    .map(|(k, v)| write::text_chunk(k, v).expect("text"))
    .collect();
    let g = read(&write::insert_png_chunks(&png(), &chunks).expect("insert")).generation;
    assert_eq!(g.generator.as_deref(), Some("easy-diffusion"));
    assert_eq!((g.seed, g.steps, g.cfg), (Some(1234), Some(25), Some(7.5)));
    assert_eq!((g.model.as_deref(), g.width), (Some("sd-v1-5"), Some(768)));
    let loras: Vec<_> = g
        .loras
        .iter()
        .flatten()
        .map(|l| (l.name.as_str(), l.strength))
        .collect();
    assert_eq!(loras, [("ink", Some(0.5)), ("paper", Some(0.25))]);
}

#[test]
fn stealth_alpha_is_read_when_no_chunk_says_anything() {
    let x = read(&stealth_png(INFOTEXT));
    assert_infotext(&x.generation);
    assert!(x.raw.contains_key("stealth:alpha"));
}

#[test]
fn stealth_text_does_not_list_chunk_problems_twice() {
    let bytes =
        write::insert_png_text(&stealth_png(INFOTEXT), "junk", "{not json").expect("insert");
    let x = read(&bytes);
    assert_infotext(&x.generation);
    let listed = x
        .problems
        .iter()
        .filter(|p| p.location == "tEXt:junk")
        .count();
    assert_eq!(listed, 1, "{:?}", x.problems);
}

#[test]
fn c2pa_only_and_exif_summary() {
    // A minimal manifest fragment: CBOR text keys and values as C2PA writes them.
    let mut manifest = b"jumb....c2pa.claim.v2".to_vec();
    manifest.extend_from_slice(b"\x74claim_generator_info\xa1\x64name\x6fAcme Image Tool");
    manifest.extend_from_slice(b"\x71digitalSourceType\x78\x46http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia");
    let bytes =
        write::insert_png_chunks(&png(), &[PngChunk::new(*b"caBX", manifest)]).expect("insert");
    let g = read(&bytes).generation;
    assert_eq!(g.generator.as_deref(), Some("c2pa-only"));
    assert!(g.positive_prompt.is_none());
    let c2pa = g.c2pa.expect("c2pa");
    assert_eq!(c2pa.claim_generator.as_deref(), Some("Acme Image Tool"));
    assert_eq!(
        (c2pa.vendor.as_deref(), c2pa.ai_generated),
        (Some("acme"), Some(true))
    );

    let tiff = ExifFields::new()
        .make("Canon")
        .model("EOS R5")
        .orientation(6)
        .date_time_original("2024:05:01 10:00:00")
        .pixel_size(5, 3)
        .to_tiff(ByteOrder::Big);
    let x = read(&write::insert_jpeg_exif(&jpeg(), &tiff).expect("insert"));
    let exif = x.exif.expect("exif");
    assert_eq!(
        (exif.camera_make.as_deref(), exif.camera_model.as_deref()),
        (Some("Canon"), Some("EOS R5"))
    );
    assert_eq!((exif.orientation, exif.pixel_width), (Some(6), Some(5)));
    assert_eq!(
        exif.date_time_original.as_deref(),
        Some("2024:05:01 10:00:00")
    );
    assert!(x.generation.generator.is_none());
    assert_eq!(x.pixel_size, Some((5, 3)));
}

#[test]
fn loader_nodes_that_encode_prompts_and_apply_loras() {
    let graph = json!({
        "1": {"class_type": "Efficient Loader", "inputs": {"ckpt_name": "dream.safetensors", "clip_skip": -2, "lora_name": "ink.safetensors", "lora_model_strength": 0.6,
            "positive": "a castle", "negative": "fog", "empty_latent_width": 640, "empty_latent_height": 896, "batch_size": 1}},
        "2": {"class_type": "KSampler (Efficient)", "inputs": {"model": ["1", 0], "positive": ["1", 1], "negative": ["1", 2], "latent_image": ["1", 3], "seed": 5, "steps": 22, "cfg": 6.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}},
        "3": {"class_type": "ImageBlend", "inputs": {"image1": ["2", 5], "image2": ["2", 5], "blend_factor": 0.5}},
        "4": {"class_type": "SaveImage", "inputs": {"filename_prefix": "castle", "images": ["3", 0]}}
    });
    let g = read(&write::insert_png_text(&png(), "prompt", &graph.to_string()).expect("insert"))
        .generation;
    assert_eq!(
        (g.positive_prompt.as_deref(), g.negative_prompt.as_deref()),
        (Some("a castle"), Some("fog"))
    );
    assert_eq!(
        (g.seed, g.steps, g.width, g.height),
        (Some(5), Some(22), Some(640), Some(896))
    );
    assert_eq!(
        (g.model.as_deref(), g.clip_skip),
        (Some("dream.safetensors"), Some(2))
    );
    let loras: Vec<_> = g
        .loras
        .iter()
        .flatten()
        .map(|l| (l.name.as_str(), l.strength))
        .collect();
    assert_eq!(loras, [("ink.safetensors", Some(0.6))]);
}

#[test]
fn a_refiner_pass_is_not_a_hires_pass() {
    let graph = json!({
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": {"content": "sdxl_base.safetensors", "image": null}}},
        "2": {"class_type": "CLIPTextEncodeSDXL", "inputs": {"text_g": "a valley", "text_l": "a valley", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
        "5": {"class_type": "KSamplerAdvanced", "inputs": {"add_noise": "enable", "noise_seed": 77, "steps": 30, "cfg": 7, "sampler_name": "euler", "scheduler": "normal", "start_at_step": 0, "end_at_step": 24, "return_with_leftover_noise": "enable", "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0]}},
        "6": {"class_type": "KSamplerAdvanced", "inputs": {"add_noise": "disable", "noise_seed": 77, "steps": 30, "cfg": 7, "sampler_name": "euler", "scheduler": "normal", "start_at_step": 24, "end_at_step": 10000, "return_with_leftover_noise": "disable", "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["5", 0]}},
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
        "8": {"class_type": "SaveImage", "inputs": {"filename_prefix": "valley", "images": ["7", 0]}}
    });
    let g = read(&write::insert_png_text(&png(), "prompt", &graph.to_string()).expect("insert"))
        .generation;
    assert_eq!(g.positive_prompt.as_deref(), Some("a valley"));
    assert_eq!(g.model.as_deref(), Some("sdxl_base.safetensors"));
    assert_eq!((g.seed, g.steps, g.width), (Some(77), Some(30), Some(1024)));
    assert_eq!(g.hires, None);
}
