//! A large store built quickly: stand-in stages in place of the built-in
//! ones write facts shaped like theirs (generation parameters plus ~2 KB of
//! raw text, a 143-float embedding and perceptual hash, a score, session
//! features), and, when asked, a small JPEG thumbnail per asset; the search
//! stages are the real ones.
//!
//! Each stand-in declares the name, version, tier and `after` of the
//! built-in stage it stands for, so the real `kiln` binary opening the
//! store finds nothing outdated and starts no work.
//!
//! The inputs are files `a0001234.bin` holding their own number, from which
//! every fact is derived: the store is the same on every run.

use kiln::engine::{Priority, Until};
use kiln::plugin_api::{
    Artifact, CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, THUMBNAIL_ARTIFACT,
    Value,
};
use kiln::stages::cluster::CLUSTER_STAGE_NAME;
use kiln::stages::embed::vector_to_bytes;
use kiln::{EnrichmentCriteria, Kiln};
use std::path::Path;
use std::sync::Arc;

/// The models the stand-in metadata names; asset `n` has `model(n)`.
pub const MODELS: [&str; 6] = [
    "juggernautXL_v9",
    "dreamshaper_8",
    "sdxl_base_1.0",
    "ponyDiffusionV6XL",
    "realisticVision_v60",
    "flux1-dev",
];

/// The word every stand-in prompt holds ("a lighthouse at dusk, variation
/// N"), for queries that match every asset.
pub const PROMPT_WORD: &str = "lighthouse";

/// A pseudo-random number from the asset id: the facts are reproducible.
pub fn mix(mut x: u64) -> u64 {
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
/// declares the content identity, as the real hash stage does, and the
/// thumbnail stage stores a thumbnail when it has pictures.
struct StandIn {
    info: StageInfo,
    make: MakeFacts,
    hashes: bool,
    thumbnails: Option<Arc<Thumbnails>>,
}

impl Stage for StandIn {
    fn info(&self) -> StageInfo {
        self.info.clone()
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let n = number(input);
        let mut out = StageOutput::facts((self.make)(n));
        if let Some(thumbnails) = &self.thumbnails {
            out = out.with(Artifact::new(
                THUMBNAIL_ARTIFACT,
                "image/jpeg",
                thumbnails.for_asset(n),
            ));
        }
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

/// Small JPEG pictures, one chosen per asset and made unique by a comment
/// segment holding the asset's number, so every asset has a blob of its own
/// without encoding a picture per asset.
#[derive(Debug)]
pub struct Thumbnails {
    pictures: Vec<Vec<u8>>,
}

impl Thumbnails {
    /// `count` distinct `side`-pixel pictures.
    pub fn new(count: u32, side: u32) -> Result<Thumbnails, String> {
        use image::ImageEncoder;
        let mut pictures = Vec::new();
        for variant in 0..count.max(1) {
            let picture = kiln_testkit::corpus::render(side, side, variant);
            let mut jpeg = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
                .write_image(picture.as_raw(), side, side, image::ExtendedColorType::Rgb8)
                .map_err(|e| format!("cannot encode a thumbnail: {e}"))?;
            pictures.push(jpeg);
        }
        Ok(Thumbnails { pictures })
    }

    /// Asset `n`'s thumbnail: a picture with a COM segment naming `n`
    /// right after the start-of-image marker.
    fn for_asset(&self, n: u64) -> Vec<u8> {
        let Some(picture) = self.pictures.get((n % self.pictures.len() as u64) as usize) else {
            return Vec::new();
        };
        let text = format!("kiln stand-in {n}");
        let length = (text.len() + 2) as u16;
        let mut out = Vec::with_capacity(picture.len() + text.len() + 4);
        out.extend_from_slice(picture.get(..2).unwrap_or_default());
        out.extend_from_slice(&[0xff, 0xfe]);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(picture.get(2..).unwrap_or_default());
        out
    }
}

/// Asset `n`'s model: forty assets in a row share one.
pub fn model(n: u64) -> &'static str {
    MODELS[(mix(n / 40) % MODELS.len() as u64) as usize]
}

/// Asset `n`'s steps: 20 to 49.
pub fn steps(n: u64) -> u64 {
    20 + n % 30
}

fn metadata(n: u64) -> Value {
    let generation = Value::map([
        ("generator", Value::from("ComfyUI")),
        ("model", Value::from(model(n))),
        (
            "positive_prompt",
            Value::from(format!("a {PROMPT_WORD} at dusk, variation {}", n % 97).as_str()),
        ),
        ("seed", Value::from(mix(n) >> 16)),
        ("steps", Value::from(steps(n))),
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

/// The stand-ins, each declaring what the built-in stage of its name
/// declares (version, tier, `after`) but cheap I/O-class work; the
/// thumbnail stand-in stores `thumbnails` when given.
pub fn stand_ins(thumbnails: Option<Arc<Thumbnails>>) -> Vec<Arc<dyn Stage>> {
    let facts: [(&str, MakeFacts); 6] = [
        ("hash", |_| Value::map([("ok", Value::from(true))])),
        ("thumbnail", size),
        ("metadata", metadata),
        ("embed", embed),
        ("score", score),
        (CLUSTER_STAGE_NAME, cluster),
    ];
    let builtin: Vec<StageInfo> = kiln::builtin_stages().iter().map(|s| s.info()).collect();
    facts
        .into_iter()
        .filter_map(|(name, make)| {
            let real = builtin.iter().find(|info| info.name == name)?;
            let stage: Arc<dyn Stage> = Arc::new(StandIn {
                info: StageInfo::new(name, real.version, real.tier)
                    .after(real.after.iter().cloned())
                    .cost(CostClass::Io),
                make,
                hashes: real.after.is_empty(),
                thumbnails: (name == "thumbnail").then(|| thumbnails.clone()).flatten(),
            });
            Some(stage)
        })
        .collect()
}

/// Opens the store in `dir` with the stand-ins in place of the built-in
/// stages, the real search stages, and no enrichment rule.
pub fn open(dir: &Path, thumbnails: Option<Arc<Thumbnails>>) -> Result<Kiln, String> {
    let mut builder = Kiln::builder(dir).enrichment(EnrichmentCriteria::OPEN);
    for stage in stand_ins(thumbnails) {
        let name = stage.info().name;
        builder = builder.stage(stage).replace([name]);
    }
    builder
        .open()
        .map_err(|e| format!("cannot open the store in {}: {e}", dir.display()))
}

/// Builds a store of `assets` assets in `store` from input files written to
/// `input` (created), through every stage; with `thumbnails`, each asset
/// also gets a thumbnail blob.
pub async fn build(
    store: &Path,
    input: &Path,
    assets: u64,
    thumbnails: Option<Arc<Thumbnails>>,
) -> Result<(), String> {
    std::fs::create_dir_all(input)
        .map_err(|e| format!("cannot create {}: {e}", input.display()))?;
    for n in 0..assets {
        let path = input.join(format!("a{n:07}.bin"));
        std::fs::write(&path, n.to_le_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let kiln = open(store, thumbnails)?;
    kiln.engine()
        .import_dir(input, Priority::Batch)
        .await
        .map_err(|e| format!("cannot import {}: {e}", input.display()))?;
    kiln.engine()
        .run_until(Until::Idle)
        .await
        .map_err(|e| format!("cannot build the store: {e}"))?;
    kiln.shutdown()
        .await
        .map_err(|e| format!("cannot close the store: {e}"))
}

/// A stand-in store for a benchmark, as its command line asks: `[ASSETS]
/// [--keep DIR]`.
#[derive(Debug)]
pub struct BenchStore {
    /// The scratch folder (removed when dropped).
    pub scratch: tempfile::TempDir,
    /// The store: in `--keep DIR` when given (reused as it is by a later
    /// run), else in the scratch folder.
    pub store: std::path::PathBuf,
    /// The assets asked for (the first argument; 50,000 without it).
    pub assets: u64,
    /// Seconds building it took (near 0 for a kept store).
    pub build_s: f64,
}

/// Builds (or finds, kept from an earlier run) the store the command line
/// asks for (see [`BenchStore`]).
pub async fn store_from_args() -> Result<BenchStore, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let assets: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let keep = args
        .iter()
        .position(|a| a == "--keep")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let scratch = tempfile::tempdir()?;
    let store = keep.unwrap_or_else(|| scratch.path().join("store"));
    let built = std::time::Instant::now();
    // A kept store from an earlier run is timed again as it is.
    if !store.join(kiln::engine::DATABASE_FILE).exists() {
        build(&store, &scratch.path().join("in"), assets, None).await?;
    }
    Ok(BenchStore {
        scratch,
        store,
        assets,
        build_s: built.elapsed().as_secs_f64(),
    })
}
