//! Metadata benchmark: what the tier-2 metadata stage costs per file, and
//! how long one large ComfyUI graph takes to resolve.
//!
//! ```text
//! cargo run --release -p kiln-bench --bin metadata_bench -- [dir] [--files N] [--rounds R] [--extra DIR]
//! ```
//!
//! With `dir`, the corpus cycles its PNG files (as `tier1_bench` does);
//! without it, real-size images are generated. On one thread and a warm
//! page cache, each round runs two passes, each over the corpus ten times:
//! the floor (read every file whole, nothing else) and the metadata stage on
//! every file. The best and median wall time per file over the rounds are
//! printed, and the ratio of stage to floor (what compares across builds
//! and machines); run it on an otherwise quiet machine. `--extra DIR` also
//! runs the stage over the files of another folder (every file, not
//! cycled), e.g. ComfyUI outputs built with custom nodes.
//!
//! Then two graphs of 5,000 nodes, each embedded in a small PNG and
//! extracted 20 times (best and median wall time): a realistic one (a LoRA
//! chain, a text-concatenation chain, reroutes, several sampling passes)
//! and a hostile one (every node linked to the next two, closing a cycle).
//!
//! The last line is `files=<N> metadata_ms_per_file=<M> floor_ms_per_file=<F>
//! ratio=<M/F> graph5000_ms=<G> hostile5000_ms=<H>`.

use kiln::plugin_api::{Stage, StageInput};
use kiln::stages::metadata::{MetadataStage, extract, write};
use kiln_bench::args::{number, path};
use kiln_bench::process_cpu_seconds;
use kiln_bench::work::median;
use kiln_testkit::corpus::{self, GeneratedKind};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How many times each pass goes over the corpus.
const REPEAT: usize = 10;

struct Args {
    dir: Option<PathBuf>,
    extra: Option<PathBuf>,
    files: usize,
    rounds: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        dir: None,
        extra: None,
        files: 500,
        rounds: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--files" => args.files = number(it.next(), "--files")?,
            "--rounds" => args.rounds = number::<usize>(it.next(), "--rounds")?.max(1),
            "--extra" => args.extra = Some(path(it.next(), "--extra")?),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            dir => args.dir = Some(PathBuf::from(dir)),
        }
    }
    Ok(args)
}

/// Wall and CPU seconds of one pass over `files`, `repeat` times; counts the
/// files `work` failed on in the first.
fn pass(files: &[PathBuf], repeat: usize, work: impl Fn(u64, &Path) -> bool) -> (f64, f64, usize) {
    let cpu = process_cpu_seconds();
    let start = Instant::now();
    let mut failed = 0;
    for time in 0..repeat.max(1) {
        for (i, file) in files.iter().enumerate() {
            if !work(i as u64 + 1, file) && time == 0 {
                failed += 1;
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu
        .zip(process_cpu_seconds())
        .map_or(f64::NAN, |(a, b)| b - a);
    (wall, cpu, failed)
}

fn read_whole(_: u64, path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| !b.is_empty())
}

fn metadata(id: u64, path: &Path) -> bool {
    let input = StageInput::for_path(id, path.to_string_lossy().into_owned());
    MetadataStage.process(&input).is_ok()
}

/// Best and median of a list of seconds, in milliseconds per file.
fn per_file(values: &[f64], files: usize) -> (f64, f64) {
    let best = values.iter().copied().fold(f64::INFINITY, f64::min);
    let per = |s: f64| s * 1000.0 / files.max(1) as f64;
    (per(best), per(median(values.to_vec())))
}

/// A ComfyUI API graph of about `nodes` nodes as people build large ones:
/// wide rather than deep. A checkpoint and a chain of 20 LoRAs feed many
/// groups, each a prompt joined from two text nodes through reroutes, a
/// base pass and an upscaled second pass, decoded into a preview; the first
/// group's image is the one saved.
fn realistic_graph(nodes: usize) -> Value {
    let mut graph = serde_json::Map::new();
    let mut add = |id: String, class: &str, inputs: Value| {
        graph.insert(id, json!({"class_type": class, "inputs": inputs}));
    };
    add(
        "ckpt".into(),
        "CheckpointLoaderSimple",
        json!({"ckpt_name": "sdxl_base.safetensors"}),
    );
    let mut model = json!(["ckpt", 0]);
    let mut clip = json!(["ckpt", 1]);
    for i in 0..20 {
        let id = format!("lora{i}");
        add(
            id.clone(),
            "LoraLoader",
            json!({"model": model, "clip": clip, "lora_name": format!("style_{i}.safetensors"),
                   "strength_model": 0.5, "strength_clip": 0.5}),
        );
        model = json!([id, 0]);
        clip = json!([id, 1]);
    }
    const PER_GROUP: usize = 17;
    let groups = nodes.saturating_sub(22) / PER_GROUP;
    for g in 0..groups.max(1) {
        add(
            format!("a{g}"),
            "Text Multiline",
            json!({"text": format!("a lighthouse at dusk, variation {g}")}),
        );
        add(
            format!("b{g}"),
            "String_",
            json!({"value": "film grain, volumetric light"}),
        );
        add(
            format!("j{g}"),
            "Text Concatenate",
            json!({"text_a": [format!("a{g}"), 0], "text_b": [format!("b{g}"), 0],
                   "delimiter": ", ", "clean_whitespace": "true"}),
        );
        let mut text = json!([format!("j{g}"), 0]);
        for k in 0..6 {
            let id = format!("r{g}_{k}");
            add(id.clone(), "Reroute", json!({"": text}));
            text = json!([id, 0]);
        }
        add(
            format!("p{g}"),
            "CLIPTextEncode",
            json!({"text": text, "clip": clip}),
        );
        add(
            format!("n{g}"),
            "CLIPTextEncode",
            json!({"text": "blurry, watermark", "clip": clip}),
        );
        add(
            format!("l{g}"),
            "EmptyLatentImage",
            json!({"width": 1024, "height": 1024, "batch_size": 1}),
        );
        for (pass, latent, denoise) in [
            ("k", json!([format!("l{g}"), 0]), 1.0),
            ("h", json!([format!("u{g}"), 0]), 0.45),
        ] {
            add(
                format!("{pass}{g}"),
                "KSampler",
                json!({"seed": 1000 + g, "steps": 30, "cfg": 6.5, "sampler_name": "dpmpp_2m",
                       "scheduler": "karras", "denoise": denoise, "model": model,
                       "positive": [format!("p{g}"), 0], "negative": [format!("n{g}"), 0],
                       "latent_image": latent}),
            );
        }
        add(
            format!("u{g}"),
            "LatentUpscaleBy",
            json!({"samples": [format!("k{g}"), 0], "upscale_method": "nearest-exact", "scale_by": 1.5}),
        );
        add(
            format!("d{g}"),
            "VAEDecode",
            json!({"samples": [format!("h{g}"), 0], "vae": ["ckpt", 2]}),
        );
        add(
            format!("v{g}"),
            "PreviewImage",
            json!({"images": [format!("d{g}"), 0]}),
        );
    }
    add(
        "save".into(),
        "SaveImage",
        json!({"images": ["d0", 0], "filename_prefix": "ComfyUI"}),
    );
    Value::Object(graph)
}

/// Every node linked to the next two, the last ones back to the first:
/// exponentially many paths and a cycle.
fn hostile_graph(nodes: usize) -> Value {
    let mut graph = serde_json::Map::new();
    for i in 0..nodes {
        graph.insert(
            i.to_string(),
            json!({"class_type": "StringConcatenate", "inputs": {
                "string_a": [((i + 1) % nodes).to_string(), 0],
                "string_b": [((i + 2) % nodes).to_string(), 0]}}),
        );
    }
    graph.insert(
        "enc".into(),
        json!({"class_type": "CLIPTextEncode", "inputs": {"text": ["0", 0]}}),
    );
    graph.insert(
        "ks".into(),
        json!({"class_type": "KSampler", "inputs": {"seed": 1, "steps": 2, "cfg": 7,
            "sampler_name": "euler", "positive": ["enc", 0], "negative": ["enc", 0],
            "model": ["ks", 0], "latent_image": ["ks", 0]}}),
    );
    graph.insert(
        "out".into(),
        json!({"class_type": "SaveImage", "inputs": {"images": ["ks", 0]}}),
    );
    Value::Object(graph)
}

/// A 64×64 PNG carrying `graph` as ComfyUI's `prompt` text.
fn png_with(graph: &Value) -> Result<Vec<u8>, String> {
    let mut png = Vec::new();
    image::RgbImage::new(64, 64)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    write::insert_png_text(&png, "prompt", &graph.to_string()).map_err(|e| e.to_string())
}

/// Best and median milliseconds of `times` extractions of `bytes`, and what
/// the last one stated (seed, steps, positive prompt length).
fn time_graph(bytes: &[u8], times: usize) -> (f64, f64, String) {
    let mut walls = Vec::with_capacity(times);
    let mut said = String::new();
    for _ in 0..times {
        let start = Instant::now();
        let found = extract(bytes, None);
        walls.push(start.elapsed().as_secs_f64() * 1000.0);
        said = match found {
            Ok(x) => format!(
                "seed {:?}, steps {:?}, prompt of {} chars, {} problems",
                x.generation.seed,
                x.generation.steps,
                x.generation.positive_prompt.map_or(0, |p| p.len()),
                x.problems.len()
            ),
            Err(e) => format!("error: {e}"),
        };
    }
    let best = walls.iter().copied().fold(f64::INFINITY, f64::min);
    (best, median(walls), said)
}

fn files_of(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e != "json" && e != "md"))
        .collect();
    files.sort();
    Ok(files)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("metadata_bench: {e}");
            std::process::exit(2);
        }
    };
    let scratch = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("metadata_bench: cannot create a scratch folder: {e}");
            std::process::exit(1);
        }
    };
    let corpus_dir = scratch.path().join("corpus");
    let built = match &args.dir {
        Some(dir) => corpus::from_png_folder(dir, &corpus_dir, args.files),
        None => corpus::generated(&corpus_dir, args.files, GeneratedKind::RealSize),
    };
    let files = match built {
        Ok(built) => {
            println!(
                "corpus: {} files, {:.1} MB, one thread",
                built.files.len(),
                built.total_bytes as f64 / 1e6
            );
            built.files
        }
        Err(e) => {
            eprintln!("metadata_bench: cannot build the corpus: {e}");
            std::process::exit(1);
        }
    };
    // Warm the page cache.
    let _ = pass(&files, 1, read_whole);
    // Each pass goes over the corpus several times: a file's metadata takes
    // a fraction of a millisecond, and wall time on one thread with the
    // machine otherwise quiet is finer than the CPU clock's 10 ms ticks.
    let (mut floor_wall, mut stage_wall) = (Vec::new(), Vec::new());
    let seen = files.len() * REPEAT;
    for round in 1..=args.rounds {
        let (fw, fc, ff) = pass(&files, REPEAT, read_whole);
        let (mw, mc, mf) = pass(&files, REPEAT, metadata);
        println!(
            "round {round}: floor wall {fw:.3}s cpu {fc:.2}s ({ff} failed); \
             metadata wall {mw:.3}s cpu {mc:.2}s ({mf} failed), {seen} files each"
        );
        floor_wall.push(fw);
        stage_wall.push(mw);
    }
    let (floor_best, floor_median) = per_file(&floor_wall, seen);
    let (stage_best, stage_median) = per_file(&stage_wall, seen);
    println!(
        "per file: metadata {stage_best:.4} ms best, {stage_median:.4} ms median; \
         floor {floor_best:.4} ms best, {floor_median:.4} ms median"
    );

    if let Some(extra) = &args.extra {
        match files_of(extra) {
            Ok(extra_files) => {
                let mut walls = Vec::new();
                for _ in 0..args.rounds {
                    walls.push(pass(&extra_files, REPEAT * 5, metadata).0);
                }
                let (best, med) = per_file(&walls, extra_files.len() * REPEAT * 5);
                println!(
                    "extra: {} files of {}: metadata {best:.4} ms per file best, {med:.4} ms median",
                    extra_files.len(),
                    extra.display()
                );
            }
            Err(e) => eprintln!("metadata_bench: --extra: {e}"),
        }
    }

    let mut graph_ms = f64::NAN;
    let mut hostile_ms = f64::NAN;
    for (label, graph, out) in [
        ("wide", realistic_graph(5_000), &mut graph_ms),
        ("hostile", hostile_graph(5_000), &mut hostile_ms),
    ] {
        let nodes = graph.as_object().map_or(0, serde_json::Map::len);
        match png_with(&graph) {
            Ok(bytes) => {
                let (best, med, said) = time_graph(&bytes, 20);
                println!(
                    "graph {label}: {nodes} nodes, {} KB: {best:.2} ms best, {med:.2} ms median ({said})",
                    bytes.len() / 1024
                );
                *out = med;
            }
            Err(e) => eprintln!("metadata_bench: cannot build the {label} graph: {e}"),
        }
    }
    println!(
        "files={} metadata_ms_per_file={stage_best:.3} floor_ms_per_file={floor_best:.3} \
         ratio={:.3} graph5000_ms={graph_ms:.2} hostile5000_ms={hostile_ms:.2}",
        files.len(),
        stage_best / floor_best
    );
}
