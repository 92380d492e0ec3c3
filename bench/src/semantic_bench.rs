//! Semantic search benchmark, on a CLIP pack given by path (a full-size
//! ViT-B/32 one with random weights from `make_clip_pack.py --arch vitb32
//! --no-reference` measures what a real model costs).
//!
//! ```text
//! cargo run --release -p kiln-bench --bin semantic_bench -- --pack DIR [--only import|query]
//!     [--files N] [--from DIR] [--rounds R] [--threads T] [--assets N] [--queries Q] [--work DIR]
//! ```
//!
//! **Import.** Over `R` rounds, the same corpus (`N` real-size PNGs cycled
//! from `--from`, as `import_bench` builds it) is imported into a fresh
//! store through every tier (`--until enriched`), once without a model and
//! once with the pack added first; the difference is what semantic
//! embedding adds to an import. The peer, run on the same files in the same
//! run, is Immich's image pipeline in miniature: Python, Pillow decode,
//! resize and centre crop, normalisation in NumPy, an ONNX Runtime session
//! with every core, one image after the other (skipped, and said, when
//! `python3` lacks Pillow, NumPy or onnxruntime). Prints
//! `kiln_images_per_s=<A> peer_images_per_s=<B> ratio=<A/B>`. In each
//! import with the model, three urgent files of their own are submitted at
//! interactive priority while the semantic stage runs, and three more once
//! the engine is idle: `urgent_during_ms urgent_idle_ms urgent_ratio` (the
//! stage must not hold an upload back).
//!
//! **Query.** A store of `--assets` stand-in assets (see `standin`) gets a
//! synthetic unit vector per asset, stored as the `semantic` stage stores
//! them. A handle on it answers `--queries` distinct `~"text"` queries
//! (each text encoded by the pack's text model), alone and with a filter,
//! each text a second time at once (its encoding kept by the handle, as
//! for the next page of results). The text model
//! alone is timed on the same texts, and the in-memory int8 scan against a
//! plain scan of the same vectors as floats. Prints
//! `query_p50_ms query_p99_ms encode_p99_ms rank_p99_ms` and the memory a
//! vector takes, in the handle and in the store's file.

use kiln::engine::{AssetId, Config, Priority, Tier, Until};
use kiln::plugin_api::{
    CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, TIER_ENRICHED, builtin,
};
use kiln::semantic::vectors::{VectorTable, bytes_per_vector};
use kiln::semantic::{Quantised, SEMANTIC_STAGE, version_of};
use kiln::{Kiln, ModelRecord, SortBy};
use kiln_bench::args::{number, path};
use kiln_bench::proc::Memory;
use kiln_bench::standin;
use kiln_bench::work::{Work, fresh_dir, median, percentile, real_size_corpus};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Urgent files per round: half submitted while the semantic stage runs,
/// half on the idle engine.
const URGENT_FILES: usize = 6;

struct Args {
    pack: PathBuf,
    only: Option<String>,
    files: usize,
    from: Option<PathBuf>,
    rounds: usize,
    threads: usize,
    assets: u64,
    queries: usize,
    work: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        pack: PathBuf::new(),
        only: None,
        files: 200,
        from: None,
        rounds: 3,
        threads: std::thread::available_parallelism().map_or(1, usize::from),
        assets: 100_000,
        queries: 200,
        work: None,
    };
    let mut pack = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--pack" => pack = Some(path(it.next(), "--pack")?),
            "--only" => args.only = it.next(),
            "--files" => args.files = number(it.next(), "--files")?,
            "--from" => args.from = Some(path(it.next(), "--from")?),
            "--rounds" => args.rounds = number(it.next(), "--rounds")?,
            "--threads" => args.threads = number(it.next(), "--threads")?,
            "--assets" => args.assets = number(it.next(), "--assets")?,
            "--queries" => args.queries = number(it.next(), "--queries")?,
            "--work" => args.work = Some(path(it.next(), "--work")?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    args.pack = pack.ok_or("--pack DIR is required: a CLIP pack in Immich's layout")?;
    if let Some(only) = &args.only
        && only != "import"
        && only != "query"
    {
        return Err(format!("--only {only}: give import or query"));
    }
    Ok(args)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("semantic_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let work = Work::open(args.work.as_deref())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    if args.only.as_deref() != Some("query") {
        runtime.block_on(import_part(&args, work.path()))?;
    }
    if args.only.as_deref() != Some("import") {
        runtime.block_on(query_part(&args, work.path()))?;
    }
    Ok(())
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn config(threads: usize) -> Config {
    Config {
        workers: threads,
        ..Config::default()
    }
}

/// What one import measured.
struct Imported {
    /// Seconds from the import's start to enriched.
    seconds: f64,
    /// Vectors made.
    vectors: u64,
    /// Seconds from submission to searchable of urgent files submitted
    /// while the import's tier 3 ran, and of as many once the engine was
    /// idle again.
    urgent: Option<(Vec<f64>, Vec<f64>)>,
}

/// Seconds from submitting `file` at interactive priority to searchable.
async fn time_urgent(kiln: &Kiln, file: &Path) -> Result<f64, String> {
    let start = Instant::now();
    let id = kiln
        .engine()
        .submit_file(file, Priority::Interactive)
        .await
        .map_err(|e| format!("cannot submit {}: {e}", file.display()))?;
    let searchable = Until::Tier {
        tier: Tier::Searchable,
        imports: Some(vec![id]),
    };
    while !kiln
        .engine()
        .reached(&searchable)
        .map_err(|e| e.to_string())?
    {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// One import of `corpus` into a fresh store, with the pack added first
/// when `pack` is given. With `urgent` files, half of them are submitted at
/// interactive priority once the import is searchable (its tier 3, the
/// semantic stage's work, running), the other half once all is idle.
async fn import_once(
    store: &Path,
    corpus: &Path,
    pack: Option<&Path>,
    threads: usize,
    urgent: &[PathBuf],
) -> Result<Imported, String> {
    fresh_dir(store.to_path_buf())?;
    let kiln = Kiln::builder(store)
        .config(config(threads))
        .open()
        .map_err(|e| format!("cannot open {}: {e}", store.display()))?;
    if let Some(pack) = pack {
        kiln.add_model(pack, Some("bench"), threads)
            .await
            .map_err(|e| e.to_string())?;
    }
    // Workers run until shutdown, so urgent files submitted late still
    // get done.
    kiln.engine()
        .start()
        .await
        .map_err(|e| format!("cannot start the engine: {e}"))?;
    let start = Instant::now();
    let import = kiln
        .engine()
        .import_dir(corpus, Priority::Batch)
        .await
        .map_err(|e| format!("cannot import: {e}"))?;
    let enriched = Until::Tier {
        tier: Tier::Enriched,
        imports: Some(vec![import]),
    };
    let searchable = Until::Tier {
        tier: Tier::Searchable,
        imports: Some(vec![import]),
    };
    let (during, after) = urgent.split_at(urgent.len() / 2);
    let probe = async {
        let mut times = Vec::new();
        if during.is_empty() {
            return Ok(times);
        }
        while !kiln
            .engine()
            .reached(&searchable)
            .map_err(|e| e.to_string())?
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        for file in during {
            times.push(time_urgent(&kiln, file).await?);
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        Ok::<_, String>(times)
    };
    let (ran, during_times) = tokio::join!(kiln.wait_until(enriched), probe);
    ran.map_err(|e| format!("cannot run the import: {e}"))?;
    let seconds = start.elapsed().as_secs_f64();
    let during_times = during_times?;
    if let Some(memory) = Memory::of(std::process::id()) {
        println!(
            "    {} a model: RSS {:.0} MB at the end of the import (peak so far {:.0} MB)",
            if pack.is_some() { "with" } else { "without" },
            memory.rss_kb as f64 / 1024.0,
            memory.peak_kb as f64 / 1024.0
        );
    }
    let vectors = kiln
        .engine()
        .stage_done_count(SEMANTIC_STAGE)
        .map_err(|e| e.to_string())?;
    let urgent = if urgent.is_empty() {
        None
    } else {
        kiln.wait_until(Until::Idle)
            .await
            .map_err(|e| format!("cannot finish the urgent files: {e}"))?;
        let mut idle = Vec::new();
        for file in after {
            idle.push(time_urgent(&kiln, file).await?);
        }
        Some((during_times, idle))
    };
    kiln.shutdown().await.map_err(|e| e.to_string())?;
    Ok(Imported {
        seconds,
        vectors,
        urgent,
    })
}

/// Immich's image pipeline in miniature, as the peer.
const PEER: &str = r#"
import json, os, sys, time
import numpy as np, onnxruntime as ort
from PIL import Image
pack, threads, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
cfg = json.load(open(os.path.join(pack, "visual", "preprocess_cfg.json")))
size = cfg["size"][0] if isinstance(cfg["size"], list) else cfg["size"]
mean = np.array(cfg["mean"], dtype=np.float32)
std = np.array(cfg["std"], dtype=np.float32)
resample = Image.Resampling.BICUBIC if cfg.get("interpolation", "bicubic") == "bicubic" else Image.Resampling.BILINEAR
options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
session = ort.InferenceSession(os.path.join(pack, "visual", "model.onnx"), options, providers=["CPUExecutionProvider"])
def embed(path):
    image = Image.open(path).convert("RGB")
    scale = size / min(image.size)
    image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))), resample)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    image = image.crop((left, top, left + size, top + size))
    x = (np.asarray(image, dtype=np.float32) / 255.0 - mean) / std
    return session.run(None, {"image": x.transpose(2, 0, 1)[np.newaxis]})[0]
embed(files[0])
start, cpu = time.perf_counter(), time.process_time()
for f in files:
    embed(f)
print(json.dumps({"images": len(files), "seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}))
"#;

/// Runs the peer on `files`: (seconds, images), or why it cannot run.
fn peer_once(work: &Path, pack: &Path, threads: usize, files: &[PathBuf]) -> Result<f64, String> {
    let script = work.join("peer.py");
    std::fs::write(&script, PEER).map_err(|e| format!("cannot write the peer: {e}"))?;
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(pack)
        .arg(threads.to_string())
        .args(files)
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let last = said.lines().last().unwrap_or_default().to_owned();
        return Err(format!("the Python peer did not run ({last})"));
    }
    let said: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("the peer printed no result: {e}"))?;
    said["seconds"]
        .as_f64()
        .ok_or_else(|| "the peer printed no time".to_owned())
}

async fn import_part(args: &Args, work: &Path) -> Result<(), String> {
    let corpus_dir = work.join("semantic-corpus");
    let corpus = real_size_corpus(&corpus_dir, args.files, args.from.as_deref())?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus_dir)
        .map_err(|e| format!("cannot list the corpus: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    drop(corpus);
    println!(
        "import: {} files, {} rounds, {} worker(s); pack {}",
        files.len(),
        args.rounds,
        args.threads,
        args.pack.display()
    );
    let store = work.join("semantic-import-store");
    // Urgent files: unique real-size PNGs of their own, made per round.
    let urgent_dir = work.join("semantic-urgent");
    let (mut without, mut with, mut added, mut peer) = (vec![], vec![], vec![], vec![]);
    let (mut during, mut idle) = (vec![], vec![]);
    let mut vectors = 0;
    for round in 1..=args.rounds {
        let plain = import_once(&store, &corpus_dir, None, args.threads, &[])
            .await?
            .seconds;
        let urgent_corpus = real_size_corpus(
            &urgent_dir.join(round.to_string()),
            URGENT_FILES,
            args.from.as_deref(),
        )?;
        let mut urgent: Vec<PathBuf> = urgent_corpus.files;
        urgent.sort();
        // The corpus numbers its copies from 0 like the main one: a text
        // chunk of their own makes them other files, not duplicates.
        for (k, file) in urgent.iter().enumerate() {
            let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let own = kiln::stages::metadata::write::insert_png_text(
                &bytes,
                "kiln-bench-urgent",
                &format!("round {round} file {k}"),
            )
            .map_err(|e| format!("{}: {e}", file.display()))?;
            std::fs::write(file, own).map_err(|e| format!("{}: {e}", file.display()))?;
        }
        let imported =
            import_once(&store, &corpus_dir, Some(&args.pack), args.threads, &urgent).await?;
        let (semantic, made) = (imported.seconds, imported.vectors);
        if let Some((d, i)) = imported.urgent {
            println!(
                "    urgent files to searchable: {} ms while the semantic stage ran, {} ms idle",
                d.iter()
                    .map(|t| format!("{:.0}", t * 1000.0))
                    .collect::<Vec<_>>()
                    .join(", "),
                i.iter()
                    .map(|t| format!("{:.0}", t * 1000.0))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            during.extend(d);
            idle.extend(i);
        }
        vectors = made;
        let peer_s = match peer_once(work, &args.pack, args.threads, &files) {
            Ok(s) => Some(s),
            Err(e) => {
                println!("  peer: {e}");
                None
            }
        };
        println!(
            "  round {round}: enriched without a model {plain:.2} s, with {semantic:.2} s ({made} vectors): +{:.2} s; peer {}",
            semantic - plain,
            peer_s.map_or("-".to_owned(), |s| format!("{s:.2} s"))
        );
        without.push(plain);
        with.push(semantic);
        added.push(semantic - plain);
        peer.extend(peer_s);
    }
    let added_s = median(added);
    let kiln_ips = vectors as f64 / added_s;
    println!(
        "enriched_without_s={:.2} enriched_with_s={:.2} added_s={added_s:.2} vectors={vectors}",
        median(without),
        median(with)
    );
    if !during.is_empty() && !idle.is_empty() {
        let (d, i) = (median(during), median(idle));
        println!(
            "urgent_during_ms={:.0} urgent_idle_ms={:.0} urgent_ratio={:.2}",
            d * 1000.0,
            i * 1000.0,
            d / i
        );
    }
    if peer.is_empty() {
        println!(
            "kiln_images_per_s={kiln_ips:.2} peer_images_per_s=- ratio=- (the peer did not run)"
        );
    } else {
        let peer_ips = files.len() as f64 / median(peer);
        println!(
            "kiln_images_per_s={kiln_ips:.2} peer_images_per_s={peer_ips:.2} ratio={:.2}",
            kiln_ips / peer_ips
        );
    }
    Ok(())
}

/// A stand-in for the `semantic` stage: a synthetic unit vector per asset,
/// stored as the real stage stores one, under the real stage's version for
/// the recorded model (so nothing is outdated).
#[derive(Debug)]
struct SyntheticVectors {
    record: ModelRecord,
}

/// Asset `n`'s synthetic vector: pseudo-random, unit length.
fn synthetic(n: u64, dims: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dims as u64)
        .map(|i| {
            (standin::mix(n.wrapping_mul(7919).wrapping_add(i)) % 20_001) as f32 / 10_000.0 - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

impl Stage for SyntheticVectors {
    fn info(&self) -> StageInfo {
        StageInfo::new(SEMANTIC_STAGE, version_of(&self.record), TIER_ENRICHED)
            .after([builtin::THUMBNAIL, builtin::METADATA])
            .cost(CostClass::Io)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let vector = synthetic(input.asset_id, self.record.dim);
        Ok(StageOutput::facts(
            Quantised::new(&vector).to_value(&self.record.name),
        ))
    }
}

/// Opens the query store with the stand-ins and, when the store records a
/// model, the synthetic vectors in place of the real stage.
fn open_query_store(store: &Path) -> Result<Kiln, String> {
    let probe = standin::open(store, None)?;
    let record = probe
        .models()
        .map_err(|e| e.to_string())?
        .into_iter()
        .next();
    drop(probe);
    let mut builder = Kiln::builder(store).enrichment(kiln::EnrichmentCriteria::OPEN);
    for stage in standin::stand_ins(None) {
        let name = stage.info().name;
        builder = builder.stage(stage).replace([name]);
    }
    if let Some(record) = record {
        builder = builder.stage(Arc::new(SyntheticVectors { record }));
    }
    builder
        .open()
        .map_err(|e| format!("cannot open the store in {}: {e}", store.display()))
}

/// Builds (once; kept in `--work`) the store of `assets` stand-in assets
/// with a synthetic vector each.
async fn query_store(args: &Args, work: &Path) -> Result<PathBuf, String> {
    let store = work.join(format!("semantic-query-{}", args.assets));
    let ready = store.join("bench-ready");
    if ready.is_file() {
        return Ok(store);
    }
    let started = Instant::now();
    fresh_dir(store.clone())?;
    let input = work.join(format!("semantic-query-input-{}", args.assets));
    fresh_dir(input.clone())?;
    standin::build(&store, &input, args.assets, None).await?;
    let size_before = std::fs::metadata(store.join("kiln.redb")).map_or(0, |m| m.len());
    {
        let kiln = standin::open(&store, None)?;
        kiln.add_model(&args.pack, Some("bench"), args.threads)
            .await
            .map_err(|e| e.to_string())?;
        kiln.shutdown().await.map_err(|e| e.to_string())?;
    }
    let kiln = open_query_store(&store)?;
    kiln.run_until(Until::Idle)
        .await
        .map_err(|e| format!("cannot make the vectors: {e}"))?;
    kiln.shutdown().await.map_err(|e| e.to_string())?;
    let size_after = std::fs::metadata(store.join("kiln.redb")).map_or(0, |m| m.len());
    std::fs::write(&ready, format!("{size_before} {size_after}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    println!(
        "query store: {} assets built in {:.0} s",
        args.assets,
        started.elapsed().as_secs_f64()
    );
    Ok(store)
}

fn p(values: &mut [f64], at: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    percentile(values, at)
}

async fn query_part(args: &Args, work: &Path) -> Result<(), String> {
    let store = query_store(args, work).await?;
    let sizes = std::fs::read_to_string(store.join("bench-ready")).unwrap_or_default();
    let sizes: Vec<u64> = sizes
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let kiln = open_query_store(&store)?;
    let record = kiln
        .choose_model(None)
        .map_err(|e| format!("the query store has no model: {e}"))?;
    let pid = std::process::id();
    let before = Memory::of(pid).ok_or("cannot read /proc")?;
    // Vectors first (no model needed): their memory alone.
    let t = Instant::now();
    kiln.similar_semantic(AssetId::new(1), 10)
        .map_err(|e| e.to_string())?
        .ok_or("asset 1 has no vector")?;
    let load_vectors_ms = ms(t);
    let after = Memory::of(pid).ok_or("cannot read /proc")?;
    let per_vector_rss =
        (after.anon_kb.saturating_sub(before.anon_kb) * 1024) as f64 / args.assets as f64;
    let t = Instant::now();
    kiln.search(r#"~"warm up""#, SortBy::Relevance, 20)
        .map_err(|e| e.to_string())?;
    let first_query_ms = ms(t);

    let texts: Vec<String> = (0..args.queries)
        .map(|k| format!("a lighthouse at dusk, {} and {k}", standin::model(k as u64)))
        .collect();
    let run = |query: &str| -> Result<(f64, usize), String> {
        let t = Instant::now();
        let found = kiln
            .search(query, SortBy::Relevance, 50)
            .map_err(|e| format!("{query}: {e}"))?;
        Ok((ms(t), found.total))
    };
    let (mut alone, mut filtered, mut again) = (vec![], vec![], vec![]);
    let (mut total_alone, mut total_filtered) = (0, 0);
    for text in &texts {
        let query = format!("~\"{text}\"");
        let (t, total) = run(&query)?;
        alone.push(t);
        total_alone = total;
        // The same text at once again, as the next page would be.
        again.push(run(&query)?.0);
    }
    let filter = format!("model:{}", standin::MODELS[0]);
    for text in &texts {
        // New texts, so each is encoded again.
        let (t, total) = run(&format!("~\"{text} again\" {filter}"))?;
        filtered.push(t);
        total_filtered = total;
    }

    // The text model alone, on the same texts.
    let clip = kiln::clip::Clip::load(&record.dir, args.threads).map_err(|e| e.to_string())?;
    let mut encode = Vec::new();
    for text in &texts {
        let t = Instant::now();
        clip.embed_text(text).map_err(|e| e.to_string())?;
        encode.push(ms(t));
    }

    // The scan alone: int8 with AVX2 against floats.
    let dims = record.dim;
    let mut table = VectorTable::new(dims);
    let mut floats = Vec::with_capacity(args.assets as usize * dims);
    for n in 0..args.assets {
        let v = synthetic(n, dims);
        table.insert(AssetId::new(n + 1), &Quantised::new(&v));
        floats.extend(Quantised::new(&v).to_unit());
    }
    let query = synthetic(u64::MAX, dims);
    let (mut int8, mut float) = (vec![], vec![]);
    let mut sink = 0.0f32;
    for _ in 0..30 {
        let t = Instant::now();
        sink += table
            .cosines(&query)
            .iter()
            .map(|c| c.1)
            .fold(0.0, f32::max);
        int8.push(ms(t));
        let t = Instant::now();
        let best = floats
            .chunks_exact(dims)
            .map(|row| row.iter().zip(&query).map(|(a, b)| a * b).sum::<f32>())
            .fold(f32::MIN, f32::max);
        sink += best;
        float.push(ms(t));
    }
    std::hint::black_box(sink);
    kiln.shutdown().await.map_err(|e| e.to_string())?;

    println!(
        "query: {} assets with a vector ({} dims), {} distinct texts; vectors loaded in {load_vectors_ms:.0} ms, first query (model load) {first_query_ms:.0} ms",
        total_alone,
        dims,
        texts.len()
    );
    println!(
        "  ~text alone:         p50 {:.1} ms  p99 {:.1} ms",
        p(&mut alone, 0.5),
        p(&mut alone, 0.99)
    );
    println!(
        "  ~text {filter} ({total_filtered} match): p50 {:.1} ms  p99 {:.1} ms",
        p(&mut filtered, 0.5),
        p(&mut filtered, 0.99)
    );
    println!(
        "  each text again at once (encoding kept): p50 {:.1} ms  p99 {:.1} ms",
        p(&mut again, 0.5),
        p(&mut again, 0.99)
    );
    println!(
        "  text model alone:    p50 {:.1} ms  p99 {:.1} ms",
        p(&mut encode, 0.5),
        p(&mut encode, 0.99)
    );
    println!(
        "  scan of {} vectors: int8 (AVX2 when present) median {:.2} ms, floats median {:.2} ms: ratio {:.2}",
        args.assets,
        median(int8.clone()),
        median(float.clone()),
        median(float) / median(int8)
    );
    let disk = match sizes.as_slice() {
        [before, after] => format!(
            "{:.0}",
            after.saturating_sub(*before) as f64 / args.assets as f64
        ),
        _ => "-".to_owned(),
    };
    println!(
        "  memory per vector: {per_vector_rss:.0} B measured in the handle ({} B by layout), {disk} B in the store's file",
        bytes_per_vector(dims)
    );
    println!(
        "query_p50_ms={:.1} query_p99_ms={:.1} encode_p99_ms={:.1} rank_p99_ms={:.1}",
        p(&mut alone, 0.5),
        p(&mut alone, 0.99),
        p(&mut encode, 0.99),
        p(&mut again, 0.99)
    );
    Ok(())
}
