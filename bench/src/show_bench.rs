//! What `kiln show` costs on a large store.
//!
//! `cargo run --release -p kiln-bench --bin show_bench -- [ASSETS] [--keep DIR]`
//! builds a store of ASSETS (default 50,000) assets through the engine, with
//! stand-in stages that write facts shaped like the built-in ones
//! (generation parameters plus ~2 KB of raw text, a 143-float embedding and
//! perceptual hash, a score, session features) and the real search stages.
//! It then times what `show` does for one asset — read the asset, find its
//! session and its near-duplicates — and, as the baseline in the same run,
//! the whole-store way: every asset's facts decoded to compute sessions and
//! every embedding loaded for the top-20 neighbours. With `--keep DIR` the
//! store is left in DIR, so the real binary can be timed on it
//! (`kiln --store DIR show 123 --json`).
//!
//! Prints `assets=<N> show_p50_ms=<A> show_p99_ms=<B> open_ms=<C>
//! whole_store_ms=<D> whole_store_vs_show=<ratio>`, then the build time and
//! what the index catch-up every open runs costs on its own.

use kiln::engine::{AssetId, Priority, Until};
use kiln::plugin_api::{
    CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, TIER_BROWSABLE,
    TIER_ENRICHED, TIER_SEARCHABLE, Value,
};
use kiln::stages::cluster::{CLUSTER_STAGE_NAME, SessionFeatures, assign_sessions};
use kiln::stages::embed::vector_to_bytes;
use kiln::{EnrichmentCriteria, Kiln};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

const MODELS: [&str; 6] = [
    "juggernautXL_v9",
    "dreamshaper_8",
    "sdxl_base_1.0",
    "ponyDiffusionV6XL",
    "realisticVision_v60",
    "flux1-dev",
];

/// A pseudo-random number from the asset id: the facts are reproducible.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

/// The number in a file name `a0001234.bin`, which stand-in stages derive
/// their facts from.
fn number(input: &StageInput) -> u64 {
    Path::new(&input.path)
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.trim_start_matches('a').parse().ok())
        .unwrap_or(0)
}

type MakeFacts = fn(u64) -> Value;

/// A stage that writes `make(n)` for file number `n`; the root stage also
/// declares the content identity, as the real hash stage does.
struct StandIn {
    info: StageInfo,
    make: MakeFacts,
    hashes: bool,
}

impl Stage for StandIn {
    fn info(&self) -> StageInfo {
        self.info.clone()
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let n = number(input);
        let out = StageOutput::facts((self.make)(n));
        if !self.hashes {
            return Ok(out);
        }
        // Every file holds its own number: the number is its identity.
        let mut hash = [0u8; 32];
        for (slot, byte) in hash.iter_mut().zip(n.to_le_bytes()) {
            *slot = byte;
        }
        Ok(out.with_content_hash(hash))
    }
}

fn model(n: u64) -> &'static str {
    MODELS[(mix(n / 40) % MODELS.len() as u64) as usize]
}

fn metadata(n: u64) -> Value {
    let generation = Value::map([
        ("generator", Value::from("ComfyUI")),
        ("model", Value::from(model(n))),
        (
            "positive_prompt",
            Value::from(format!("a lighthouse at dusk, variation {}", n % 97).as_str()),
        ),
        ("seed", Value::from(mix(n) >> 16)),
        ("steps", Value::from(20 + n % 30)),
    ]);
    Value::map([
        ("generation", generation),
        ("raw", Value::from("x".repeat(2048).as_str())),
    ])
}

/// Embeddings in groups of eight near-identical vectors, so near-duplicates exist.
fn embed(n: u64) -> Value {
    let group = n / 8;
    let mut vector: Vec<f32> = (0..143u64)
        .map(|i| ((mix(group * 1000 + i) % 2000) as f32 - 1000.0) / 1000.0 + (n % 8) as f32 * 1e-3)
        .collect();
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
    vector.iter_mut().for_each(|v| *v /= norm);
    let phash = mix(group) ^ (1u64 << (n % 8));
    Value::map([
        ("vector", Value::Bytes(vector_to_bytes(&vector))),
        ("dims", Value::from(143u64)),
        ("phash", Value::from(phash)),
    ])
}

fn score(n: u64) -> Value {
    Value::map([("score", Value::from((mix(n) % 1000) as f64 / 10.0))])
}

/// Sittings of 40 images a minute apart, one every three hours.
fn cluster(n: u64) -> Value {
    let time = 1_780_000_000 + (n / 40) as i64 * 3 * 3600 + (n % 40) as i64 * 60;
    Value::map([
        ("time", Value::from(time)),
        (
            "family",
            Value::from(format!("comfyui|{}", model(n).to_lowercase()).as_str()),
        ),
    ])
}

fn size(_: u64) -> Value {
    Value::map([
        ("width", Value::from(768u64)),
        ("height", Value::from(512u64)),
    ])
}

fn stand_ins() -> Vec<Arc<dyn Stage>> {
    let stage = |name: &str, tier: u8, after: &[&str], make: MakeFacts| -> Arc<dyn Stage> {
        Arc::new(StandIn {
            info: StageInfo::new(name, 1, tier)
                .after(after.iter().copied())
                .cost(CostClass::Io),
            make,
            hashes: after.is_empty(),
        })
    };
    vec![
        stage("hash", TIER_BROWSABLE, &[], |_| {
            Value::map([("ok", Value::from(true))])
        }),
        stage("thumbnail", TIER_BROWSABLE, &["hash"], size),
        stage("metadata", TIER_SEARCHABLE, &["hash"], metadata),
        stage("embed", TIER_ENRICHED, &["thumbnail", "metadata"], embed),
        stage("score", TIER_ENRICHED, &["thumbnail", "metadata"], score),
        stage(CLUSTER_STAGE_NAME, TIER_ENRICHED, &["metadata"], cluster),
    ]
}

/// Opens the store with the stand-ins in place of the built-in stages, the
/// real search stages, and no enrichment rule.
fn open(dir: &Path) -> Result<Kiln, Box<dyn std::error::Error>> {
    let mut builder = Kiln::builder(dir).enrichment(EnrichmentCriteria::OPEN);
    for stage in stand_ins() {
        let name = stage.info().name;
        builder = builder.stage(stage).replace([name]);
    }
    Ok(builder.open()?)
}

/// The whole-store way `show` used to work: every asset's facts decoded to
/// compute all sessions, every embedding loaded for the top-20 neighbours.
fn whole_store(kiln: &Kiln, id: AssetId) -> Result<usize, Box<dyn std::error::Error>> {
    let mut features = Vec::new();
    for asset in kiln.engine().assets()? {
        if let Some(detail) = kiln.engine().asset(asset.id)?
            && let Some(facts) = detail
                .stages
                .get(CLUSTER_STAGE_NAME)
                .and_then(|s| s.facts.as_ref())
        {
            features.push(SessionFeatures::from_facts(asset.id, facts));
        }
    }
    let sessions = assign_sessions(&features);
    let vectors = kiln.index().vectors()?;
    let near = vectors
        .get(id)
        .map(|(v, h)| vectors.nearest(v, h, 20, Some(id)).len())
        .unwrap_or(0);
    Ok(sessions.len() + near)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(at).copied().unwrap_or(0.0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let assets: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let keep = args
        .iter()
        .position(|a| a == "--keep")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let scratch = tempfile::tempdir()?;
    let store = keep.unwrap_or_else(|| scratch.path().join("store"));
    let built = Instant::now();
    // A kept store from an earlier run is timed again as it is.
    if !store.join(kiln::engine::DATABASE_FILE).exists() {
        let input = scratch.path().join("in");
        std::fs::create_dir_all(&input)?;
        for n in 0..assets {
            std::fs::write(input.join(format!("a{n:07}.bin")), n.to_le_bytes())?;
        }
        let kiln = open(&store)?;
        kiln.engine().import_dir(&input, Priority::Batch).await?;
        kiln.engine().run_until(Until::Idle).await?;
        kiln.shutdown().await?;
    }
    let build_s = built.elapsed().as_secs_f64();

    let opened = Instant::now();
    let kiln = open(&store)?;
    let engine = kiln.engine();
    let open_ms = opened.elapsed().as_secs_f64() * 1000.0;
    let caught = Instant::now();
    kiln.catch_up()?;
    let catch_up_ms = caught.elapsed().as_secs_f64() * 1000.0;
    let ids: Vec<AssetId> = (0..60).map(|i| AssetId::new(1 + mix(i) % assets)).collect();
    let mut times = Vec::new();
    let mut found = (0usize, 0usize);
    for &id in &ids {
        let t = Instant::now();
        let Some(detail) = engine.asset(id)? else {
            continue;
        };
        let shown = kiln.enrichment(&detail);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        found.0 += usize::from(shown.session.is_some());
        found.1 += shown.near_duplicates.len();
    }
    times.sort_by(f64::total_cmp);
    let mut baseline = Vec::new();
    for &id in ids.iter().take(3) {
        let t = Instant::now();
        std::hint::black_box(whole_store(&kiln, id)?);
        baseline.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    baseline.sort_by(f64::total_cmp);
    let whole = percentile(&baseline, 0.5);
    let p50 = percentile(&times, 0.5);
    println!(
        "assets={assets} show_p50_ms={p50:.2} show_p99_ms={:.2} open_ms={open_ms:.0} whole_store_ms={whole:.0} whole_store_vs_show={:.0}",
        percentile(&times, 0.99),
        whole / p50.max(1e-9)
    );
    println!(
        "build_s={build_s:.1} catch_up_ms={catch_up_ms:.1} sessions_found={}/{} near_duplicates_per_show={:.1}",
        found.0,
        times.len(),
        found.1 as f64 / times.len().max(1) as f64
    );
    kiln.shutdown().await?;
    Ok(())
}
