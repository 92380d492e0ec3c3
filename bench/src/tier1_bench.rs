//! Tier-1 benchmark: how close does making a folder browsable (hash +
//! thumbnail + proxy) come to the cost of only decoding its images?
//!
//! ```text
//! cargo run --release -p kiln-bench --bin tier1_bench -- [dir] [--files N] [--threads T]
//! ```
//!
//! With `dir`, the corpus cycles its PNG files (each copy made unique by one
//! text chunk); without it, real-size images are generated. Three passes
//! run on a warm page cache with the same thread count: the floor (read and
//! decode every file, nothing else), the hash and thumbnail stages called
//! directly, and a real import through the engine into a fresh store until
//! tier 1 is done. Each runs three times, interleaved, and the best time of
//! each is kept. Wall and CPU-time ratios are printed (CPU time is steadier
//! on a shared machine); the last line is
//! `files=<N> tier1_s=<T> decode_floor_s=<F> ratio=<T/F>`, with `T` the
//! engine import.

use kiln::engine::{Config, Engine, Priority, Sharing, Tier, Until};
use kiln::plugin_api::{Stage, StageInput};
use kiln::stages::hash::HashStage;
use kiln::stages::thumbnail::ThumbnailStage;
use kiln_bench::args::number;
use kiln_bench::{Pass, decode_only, process_cpu_seconds, run_pool};
use kiln_testkit::corpus::{self, GeneratedKind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Passes of each kind, interleaved; the best of each is kept.
const ROUNDS: usize = 3;

struct Args {
    dir: Option<PathBuf>,
    files: usize,
    threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        dir: None,
        files: 500,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--files" => args.files = number(it.next(), "--files")?,
            "--threads" => args.threads = number::<usize>(it.next(), "--threads")?.max(1),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            dir => args.dir = Some(PathBuf::from(dir)),
        }
    }
    Ok(args)
}

/// The best (smallest) wall and CPU times over several passes.
#[derive(Default)]
struct Best {
    wall: Option<Duration>,
    cpu: Option<f64>,
}

impl Best {
    fn record(&mut self, label: &str, round: usize, pass: &Pass) {
        let cpu_text = pass.cpu.map_or("n/a".to_string(), |c| format!("{c:.2}s"));
        println!(
            "round {round}: {label}: wall {:.3}s cpu {cpu_text} ({} failed)",
            pass.wall.as_secs_f64(),
            pass.failed
        );
        self.wall = Some(self.wall.map_or(pass.wall, |w| w.min(pass.wall)));
        self.cpu = match (self.cpu, pass.cpu) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    fn wall_s(&self) -> f64 {
        self.wall.map_or(f64::NAN, |w| w.as_secs_f64())
    }
}

fn cpu_ratio(a: &Best, b: &Best) -> String {
    a.cpu
        .zip(b.cpu)
        .map_or("n/a".to_string(), |(a, b)| format!("{:.3}", a / b))
}

/// Imports `corpus_dir` into a fresh store in `store_dir` with the two tier-1
/// stages and runs the engine until tier 1 is done for it.
fn engine_pass(corpus_dir: &Path, store_dir: &Path, threads: usize) -> Result<Pass, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(async {
        let config = Config {
            workers: threads,
            sharing: Sharing::Exclusive,
            ..Config::default()
        };
        let cpu_start = process_cpu_seconds();
        let start = Instant::now();
        let engine = Engine::open(store_dir, config).map_err(|e| e.to_string())?;
        engine
            .register_stage(Arc::new(HashStage::new()))
            .map_err(|e| e.to_string())?;
        engine
            .register_stage(Arc::new(ThumbnailStage::new()))
            .map_err(|e| e.to_string())?;
        let import = engine
            .import_dir(corpus_dir, Priority::Batch)
            .await
            .map_err(|e| e.to_string())?;
        engine
            .run_until(Until::Tier {
                tier: Tier::Browsable,
                imports: Some(vec![import]),
            })
            .await
            .map_err(|e| e.to_string())?;
        let wall = start.elapsed();
        let cpu = cpu_start.zip(process_cpu_seconds()).map(|(a, b)| b - a);
        let status = engine.status().map_err(|e| e.to_string())?;
        engine.shutdown().await;
        let failed = status
            .tiers
            .get(&Tier::Browsable)
            .map_or(0, |c| c.dead + c.pending());
        Ok(Pass {
            wall,
            cpu,
            failed: usize::try_from(failed).unwrap_or(usize::MAX),
        })
    })
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("tier1_bench: {message}");
            eprintln!("usage: tier1_bench [dir] [--files N] [--threads T]");
            std::process::exit(2);
        }
    };
    let scratch = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("tier1_bench: cannot create a scratch folder: {e}");
            std::process::exit(1);
        }
    };
    let corpus_dir = scratch.path().join("corpus");
    let built = match &args.dir {
        Some(dir) => corpus::from_png_folder(dir, &corpus_dir, args.files),
        None => corpus::generated(&corpus_dir, args.files, GeneratedKind::RealSize),
    };
    let built = match built {
        Ok(built) => built,
        Err(e) => {
            eprintln!("tier1_bench: cannot build the corpus: {e}");
            std::process::exit(1);
        }
    };
    let files = built.files;
    println!(
        "corpus: {} files, {:.1} MB, threads={}",
        files.len(),
        built.total_bytes as f64 / 1e6,
        args.threads
    );

    // Warm the page cache so both passes read from memory.
    for path in &files {
        let _ = std::fs::read(path);
    }

    let hash = HashStage::new();
    let thumbnail = ThumbnailStage::new();
    let stages_only = |path: &Path| {
        let mut input = StageInput::for_path(0, path.to_string_lossy());
        match hash.process(&input) {
            Ok(out) => input.content_hash = out.content_hash,
            Err(_) => return false,
        }
        thumbnail.process(&input).is_ok()
    };

    let mut floor = Best::default();
    let mut stage = Best::default();
    let mut engine = Best::default();
    for round in 1..=ROUNDS {
        floor.record(
            "decode floor",
            round,
            &run_pool(&files, args.threads, decode_only),
        );
        stage.record(
            "hash+thumbnail stages, no engine",
            round,
            &run_pool(&files, args.threads, stages_only),
        );
        let store_dir = scratch.path().join(format!("store-{round}"));
        match engine_pass(&corpus_dir, &store_dir, args.threads) {
            Ok(pass) => engine.record("engine import to tier 1", round, &pass),
            Err(e) => {
                eprintln!("tier1_bench: the engine pass failed: {e}");
                std::process::exit(1);
            }
        }
        // Each round's store holds ~100 KB of blobs per file; drop it.
        let _ = std::fs::remove_dir_all(&store_dir);
    }
    println!(
        "stage-only: wall ratio={:.3} cpu ratio={}",
        stage.wall_s() / floor.wall_s(),
        cpu_ratio(&stage, &floor)
    );
    println!(
        "engine: wall ratio={:.3} cpu ratio={}",
        engine.wall_s() / floor.wall_s(),
        cpu_ratio(&engine, &floor)
    );
    println!(
        "files={} tier1_s={:.3} decode_floor_s={:.3} ratio={:.3}",
        files.len(),
        engine.wall_s(),
        floor.wall_s(),
        engine.wall_s() / floor.wall_s()
    );
}
