//! `--scale`: peak memory of a small and a large import of small generated
//! images, each in a fresh child process, and the corpus they share with
//! `--health`.

use crate::Args;
use crate::run::{self, TierTimes};
use kiln::engine::Priority;
use kiln::stages::metadata::write;
use kiln_bench::work::Work;
use kiln_testkit::corpus;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Words the generated prompts are made of; `--health` searches for one.
pub(crate) const WORDS: [&str; 16] = [
    "lighthouse",
    "forest",
    "portrait",
    "neon",
    "castle",
    "harbor",
    "dragon",
    "desert",
    "garden",
    "robot",
    "winter",
    "library",
    "market",
    "nebula",
    "village",
    "waterfall",
];
const MODELS: [&str; 4] = [
    "dreamshaper_8",
    "juggernautXL_v9",
    "realisticVision_v51",
    "ponyDiffusionV6XL",
];

/// Distinct pictures; files cycle them and differ in their parameters.
const DISTINCT: u32 = 8;

/// The folder of the small corpus of `count` files.
pub(crate) fn corpus_dir(work: &Path, count: usize, side: u32) -> PathBuf {
    work.join(format!("corpus-small-{count}-{side}px"))
}

/// The store the child imports `count` small files into.
pub(crate) fn store_dir(work: &Path, count: usize) -> PathBuf {
    work.join(format!("store-scale-{count}"))
}

/// A1111-style parameters for file `index`: a prompt of four words, a seed
/// of its own, so every file is distinct and searchable.
fn infotext(index: usize, side: u32) -> String {
    let word = |k: usize| WORDS[(index.wrapping_mul(2654435761) >> (k * 4)) % WORDS.len()];
    let model = MODELS[index % MODELS.len()];
    format!(
        "a {} by the {}, {} and {}, detailed\nNegative prompt: blurry, lowres\n\
         Steps: {}, Sampler: Euler a, CFG scale: 7, Seed: {index}, Size: {side}x{side}, Model: {model}",
        word(0),
        word(1),
        word(2),
        word(3),
        20 + index % 20
    )
}

fn encode(image: &image::RgbImage) -> Result<Vec<u8>, String> {
    use image::ImageEncoder;
    use image::codecs::png::PngEncoder;
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| format!("cannot encode a generated image: {e}"))?;
    Ok(out)
}

/// Builds (or reuses, when a previous run completed it) `count` small PNG
/// files carrying A1111 parameters.
pub(crate) fn build_corpus(work: &Path, count: usize, side: u32) -> Result<PathBuf, String> {
    let dir = corpus_dir(work, count, side);
    let marker = dir.with_extension("complete");
    if marker.exists() {
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    let started = Instant::now();
    let mut pictures = Vec::new();
    for variant in 0..DISTINCT {
        pictures.push(encode(&corpus::render(side, side, variant))?);
    }
    // A thousand files per folder, like dated output folders.
    for index in 0..count {
        let Some(picture) = pictures.get(index % pictures.len()) else {
            break;
        };
        let tagged = write::insert_png_text(picture, "parameters", &infotext(index, side))
            .map_err(|e| format!("cannot tag a generated image: {e}"))?;
        let folder = dir.join(format!("{:03}", index / 1000));
        if index % 1000 == 0 {
            std::fs::create_dir_all(&folder)
                .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
        }
        let path = folder.join(format!("{index:06}.png"));
        std::fs::write(&path, tagged)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    std::fs::write(&marker, count.to_string())
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    println!(
        "built {count} small images in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(dir)
}

/// What a child import reported.
pub(crate) struct ChildReport {
    pub(crate) peak_kb: u64,
    pub(crate) line: String,
}

/// Imports `corpus` into a fresh `store` in a child process of this benchmark.
pub(crate) fn import_in_child(
    corpus: &Path,
    store: &Path,
    args: &Args,
) -> Result<ChildReport, String> {
    if store.exists() {
        std::fs::remove_dir_all(store)
            .map_err(|e| format!("cannot clear {}: {e}", store.display()))?;
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut command = Command::new(exe);
    if let Some(poll) = args.idle_poll {
        command
            .arg("--idle-poll-ms")
            .arg(poll.as_millis().to_string());
    }
    let output = command
        .arg("--child-import")
        .arg(corpus)
        .arg("--child-store")
        .arg(store)
        .arg("--threads")
        .arg(args.threads.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start the child import: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "the child import failed ({}): {stdout}",
            output.status
        ));
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("peak_rss_kb="))
        .ok_or_else(|| format!("the child printed no peak memory: {stdout}"))?
        .to_owned();
    let peak_kb = line
        .split_whitespace()
        .find_map(|field| field.strip_prefix("peak_rss_kb="))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("cannot read the child's peak memory in `{line}`"))?;
    Ok(ChildReport { peak_kb, line })
}

/// The child: imports the corpus through every tier and prints its times
/// and peak memory.
pub(crate) fn child(corpus: &Path, store: &Path, args: &Args) -> Result<(), String> {
    let runtime = run::runtime()?;
    let (times, dead, files) = runtime.block_on(async {
        let kiln = run::start(store, &args.config()).await?;
        let engine = kiln.engine();
        let start = Instant::now();
        let import = engine
            .import_dir(corpus, Priority::Batch)
            .await
            .map_err(|e| format!("cannot import {}: {e}", corpus.display()))?;
        let mut last_report = Instant::now();
        let times = run::follow(engine, import, start, async |_: &TierTimes| {
            if last_report.elapsed() >= Duration::from_secs(30) {
                last_report = Instant::now();
                if let Some(p) = engine
                    .progress()
                    .ok()
                    .and_then(|p| p.import(import).cloned())
                {
                    let tiers: Vec<String> = p
                        .tiers
                        .iter()
                        .map(|(t, c)| format!("tier {t} {}/{}", c.done, c.total))
                        .collect();
                    eprintln!(
                        "  child: {:.0}s, {} files seen, {}",
                        start.elapsed().as_secs_f64(),
                        p.files_seen,
                        tiers.join(", ")
                    );
                }
            }
            Ok(())
        })
        .await?;
        let status = engine.status().map_err(|e| e.to_string())?;
        run::close(kiln).await?;
        Ok::<_, String>((times, status.jobs.dead, status.files))
    })?;
    println!(
        "child files={files} browsable_s={:.3} searchable_s={:.3} enriched_s={:.3} dead_jobs={dead} peak_rss_kb={}",
        TierTimes::secs(times.browsable),
        TierTimes::secs(times.searchable),
        TierTimes::secs(times.enriched),
        run::peak_rss_kb().unwrap_or(0)
    );
    Ok(())
}

/// `--scale`: see the crate documentation.
pub(crate) fn run(args: &Args, work: &Work) -> Result<(), String> {
    let work = work.path();
    let (small, large) = args.scale_sizes;
    let mut peaks = Vec::new();
    for count in [small, large] {
        let corpus = build_corpus(work, count, args.small_side)?;
        let started = Instant::now();
        let report = import_in_child(&corpus, &store_dir(work, count), args)?;
        println!(
            "import of {count} images ({}px) in a fresh process: {:.1}s wall; {}",
            args.small_side,
            started.elapsed().as_secs_f64(),
            report.line
        );
        peaks.push(report.peak_kb);
    }
    let a = kiln_bench::proc::mb(peaks.first().copied());
    let b = kiln_bench::proc::mb(peaks.get(1).copied());
    println!("scale: small={small} large={large} files (target ratio <= 1.25)");
    println!("rss_5k_mb={a:.1} rss_50k_mb={b:.1} ratio={:.3}", b / a);
    Ok(())
}
