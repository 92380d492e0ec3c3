//! Search benchmark: indexes synthetic assets (metadata and embeddings
//! only, no images), then times a mix of free-text and filtered queries and
//! nearest-neighbour lookups.
//!
//! `cargo run --release -p kiln-bench --bin search_bench [-- ASSETS]` prints
//! `assets=<N> index_build_s=<T> query_p50_ms=<A> query_p99_ms=<B>` and
//! `similar_p99_ms=<C>`, with a baseline measured in the same run: a linear
//! scan over the same documents held in memory. A last line times what
//! `show` reads per asset (one family's session features and every
//! perceptual hash) against loading every embedding, and all sessions.

use kiln::plugin_api::AssetId;
use kiln::stages::cluster::{SessionFeatures, assign_sessions};
use kiln_bench::work::percentile;
use kiln_search::{AssetDoc, SearchIndex, SortBy};
use std::time::Instant;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items
            .get(self.below(items.len() as u64) as usize)
            .copied()
            .unwrap_or_default()
    }
}

const WORDS: [&str; 48] = [
    "neon",
    "city",
    "night",
    "rain",
    "forest",
    "lake",
    "portrait",
    "woman",
    "man",
    "cat",
    "dragon",
    "castle",
    "sunset",
    "ocean",
    "mountain",
    "street",
    "market",
    "robot",
    "cyberpunk",
    "fantasy",
    "oil",
    "painting",
    "watercolor",
    "photo",
    "cinematic",
    "lighting",
    "detailed",
    "masterpiece",
    "snow",
    "desert",
    "flowers",
    "garden",
    "space",
    "nebula",
    "ship",
    "harbor",
    "old",
    "young",
    "smiling",
    "armor",
    "knight",
    "witch",
    "library",
    "books",
    "coffee",
    "window",
    "mist",
    "glow",
];
const MODELS: [&str; 12] = [
    "juggernautXL_v9Rundiffusion",
    "dreamshaper_8",
    "realisticVision_v51",
    "sdxl_base_1.0",
    "ponyDiffusionV6XL",
    "animagineXL_3.1",
    "epicrealism_naturalSin",
    "revAnimated_v122",
    "flux1-dev-fp8",
    "zavychroma_v10",
    "protovision_xl",
    "counterfeit_v30",
];
const LORAS: [&str; 8] = [
    "film_grain",
    "cyberpunk_style",
    "add_detail",
    "lowra",
    "epi_noiseoffset",
    "more_details",
    "ghibli_style",
    "pixel_art",
];
const SAMPLERS: [&str; 5] = [
    "euler",
    "euler_ancestral",
    "dpmpp_2m",
    "dpmpp_sde",
    "uni_pc",
];
const DIMS: usize = 143;

fn synthetic(id: u64, rng: &mut Rng) -> AssetDoc {
    let words: Vec<&str> = (0..8 + rng.below(12)).map(|_| rng.pick(&WORDS)).collect();
    let mut vector: Vec<f32> = (0..DIMS)
        .map(|_| (rng.below(2000) as f32 - 1000.0) / 1000.0)
        .collect();
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
    vector.iter_mut().for_each(|v| *v /= norm);
    let loras = (0..rng.below(3))
        .map(|_| rng.pick(&LORAS).to_owned())
        .collect();
    let generator = if rng.below(2) == 0 {
        "ComfyUI"
    } else {
        "A1111"
    };
    let model = rng.pick(&MODELS);
    let date = 1_780_000_000 + rng.below(90 * 86_400) as i64;
    AssetDoc {
        id: AssetId::new(id),
        path: format!(
            "/outputs/2026-11-{:02}/ComfyUI_{id:06}_.png",
            1 + rng.below(28)
        ),
        generator: Some(generator.to_owned()),
        prompt: Some(words.join(" ")),
        negative_prompt: Some("blurry, lowres, bad anatomy".to_owned()),
        model: Some(model.to_owned()),
        loras,
        sampler: Some(rng.pick(&SAMPLERS).to_owned()),
        scheduler: Some("karras".to_owned()),
        seed: Some(rng.next() >> 20),
        steps: Some(10 + rng.below(50)),
        cfg: Some(1.0 + rng.below(120) as f64 / 10.0),
        width: Some(512 + 64 * rng.below(12)),
        height: Some(512 + 64 * rng.below(12)),
        date: Some(date),
        quality: Some(rng.below(1000) as f64 / 10.0),
        embedding: Some(vector),
        phash: Some(rng.next()),
        session_family: Some(format!(
            "{}|{}",
            generator.to_lowercase(),
            model.to_lowercase()
        )),
        session_time: Some(date),
        nodes: Vec::new(),
        graph_strings: Vec::new(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let assets: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let index = SearchIndex::open(&dir.path().join("search"))?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let docs: Vec<AssetDoc> = (1..=assets).map(|id| synthetic(id, &mut rng)).collect();

    let started = Instant::now();
    for doc in &docs {
        index.upsert(doc)?;
    }
    index.commit()?;
    let build_s = started.elapsed().as_secs_f64();

    let queries: Vec<String> = (0..400)
        .map(|i| {
            let a = rng.pick(&WORDS);
            let b = rng.pick(&WORDS);
            match i % 6 {
                0 => format!("{a} {b}"),
                1 => format!("{a} model:{}", &rng.pick(&MODELS)[..6]),
                2 => format!("{a} steps:>=30 cfg:4..8"),
                3 => format!("\"{a} {b}\" -{}", rng.pick(&WORDS)),
                4 => format!("lora:{} seed:<{}", rng.pick(&LORAS), 1u64 << 40),
                _ => format!("{a} {b} model:xl width:>=1024 -blurry"),
            }
        })
        .collect();
    let mut times = Vec::with_capacity(queries.len());
    let mut matched = 0usize;
    for (i, q) in queries.iter().enumerate() {
        let sort = match i % 5 {
            3 => SortBy::Date,
            4 => SortBy::Score,
            _ => SortBy::Relevance,
        };
        let t = Instant::now();
        let result = index.search(q, sort, 20)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        matched += result.total;
    }
    times.sort_by(f64::total_cmp);

    // Baseline: a linear scan over the same documents in memory, testing
    // one prompt word and one numeric filter per document.
    let mut scan_times = Vec::new();
    for _ in 0..20 {
        let word = rng.pick(&WORDS);
        let t = Instant::now();
        let n = docs
            .iter()
            .filter(|d| {
                d.steps.is_some_and(|s| s >= 30)
                    && d.prompt
                        .as_deref()
                        .is_some_and(|p| p.split(' ').any(|w| w == word))
            })
            .count();
        scan_times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(n);
    }
    scan_times.sort_by(f64::total_cmp);

    let load = Instant::now();
    let vectors = index.vectors()?;
    let load_ms = load.elapsed().as_secs_f64() * 1000.0;
    let mut similar_times = Vec::new();
    for _ in 0..100 {
        let id = AssetId::new(1 + rng.below(assets));
        let Some((vector, phash)) = vectors.get(id) else {
            continue;
        };
        let vector = vector.to_vec();
        let t = Instant::now();
        let near = vectors.nearest(&vector, phash, 10, Some(id));
        similar_times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(near);
    }
    similar_times.sort_by(f64::total_cmp);

    // What `show` reads for one asset instead of every embedding: the
    // session features of its family and every perceptual hash.
    let mut show_times = Vec::new();
    for _ in 0..20 {
        let family = format!("comfyui|{}", rng.pick(&MODELS).to_lowercase());
        let t = Instant::now();
        let members = index.session_entries(Some(&family))?;
        let hashes = index.phashes()?;
        show_times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box((members, hashes));
    }
    show_times.sort_by(f64::total_cmp);
    let all_sessions = Instant::now();
    let entries = index.session_entries(None)?;
    let features: Vec<SessionFeatures> = entries
        .into_iter()
        .map(|e| SessionFeatures {
            id: e.id,
            time: e.time,
            family: e.family,
        })
        .collect();
    let sessions = assign_sessions(&features).len();
    let all_sessions_ms = all_sessions.elapsed().as_secs_f64() * 1000.0;

    println!(
        "assets={assets} index_build_s={build_s:.2} query_p50_ms={:.2} query_p99_ms={:.2}",
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );
    println!(
        "similar_p99_ms={:.2} similar_p50_ms={:.2} vectors={} vector_load_ms={load_ms:.0}",
        percentile(&similar_times, 0.99),
        percentile(&similar_times, 0.5),
        vectors.len()
    );
    println!(
        "baseline_linear_scan_p50_ms={:.2} query_p50_vs_scan={:.2} mean_total_hits={}",
        percentile(&scan_times, 0.5),
        percentile(&times, 0.5) / percentile(&scan_times, 0.5).max(1e-9),
        matched / queries.len().max(1)
    );
    println!(
        "show_family_and_hashes_p50_ms={:.2} show_vs_vector_load={:.2} all_sessions_ms={all_sessions_ms:.0} sessions={sessions}",
        percentile(&show_times, 0.5),
        percentile(&show_times, 0.5) / load_ms.max(1e-9)
    );
    Ok(())
}
