//! What curation costs on a large store.
//!
//! `cargo run --release -p kiln-bench --bin curation_bench -- [ASSETS] [--keep DIR]`
//! builds a store of ASSETS (default 50,000) assets with the stand-in
//! stages (`kiln_bench::standin`), rates a tenth of them 1 to 5, and times:
//! - rating one asset and finding it with a `rating:>=4` search, end to end
//!   through the library (the durable commit and the search, resolved
//!   against the curation tables), p50 and p99 of 50;
//! - the same through the real `kiln` binary, when it is built beside the
//!   benchmark (`cargo build --release -p kiln-cli`): `kiln rate` then
//!   `kiln search`, two processes, each opening the store, alone and while
//!   another kiln (`kiln watch`, as `kiln serve` would) is the primary;
//! - tagging 5,000 assets in one operation (resolving their content hashes
//!   and the one durable transaction);
//! - exporting the curation of every asset to a file, re-importing it into
//!   a new store (parse, check and merge), and again into the same store
//!   (a merge that changes nothing).
//!
//! Prints `key=value` lines; asserts no timing.

use kiln::engine::{AssetId, ContentHash, CurationEdit};
use kiln::{Kiln, SortBy};
use kiln_bench::standin::{self, mix};
use kiln_bench::work::{kiln_binary, percentile};
use std::time::Instant;

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

async fn rate(kiln: &Kiln, hashes: Vec<ContentHash>, rating: u8) -> Result<u64, String> {
    let edit = CurationEdit {
        rating: Some(rating),
        ..CurationEdit::default()
    };
    kiln.engine()
        .curate(hashes, edit)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let standin::BenchStore {
        scratch,
        store,
        assets,
        build_s,
    } = standin::store_from_args().await?;
    println!("assets={assets} build_s={build_s:.1}");

    let kiln = standin::open(&store, None)?;
    let engine = kiln.engine();
    let all: Vec<AssetId> = (1..=assets).map(AssetId::new).collect();
    let resolved = Instant::now();
    let hashes: Vec<ContentHash> = engine
        .content_hashes(&all)?
        .into_iter()
        .map(|h| h.ok_or("an asset is not hashed"))
        .collect::<Result<_, _>>()?;
    let resolve_all_ms = ms(resolved);

    // A tenth of the store rated 1 to 5, one transaction per rating.
    for rating in 1..=5u8 {
        let picked: Vec<ContentHash> = (0..assets)
            .filter(|n| mix(*n).is_multiple_of(10) && mix(*n) % 50 / 10 == u64::from(rating) - 1)
            .map(|n| hashes[n as usize])
            .collect();
        rate(&kiln, picked, rating).await?;
    }
    let before = kiln.search("rating:>=4", SortBy::Relevance, 20)?.total;

    // Rate one, see it in the search: the library.
    let mut times = Vec::new();
    let mut seen = 0;
    let mut rated = std::collections::HashSet::new();
    for i in 0..50u64 {
        let n = (mix(i + 1_000_000) % assets) as usize;
        if mix(n as u64).is_multiple_of(10) {
            continue;
        }
        let t = Instant::now();
        rate(&kiln, vec![hashes[n]], 5).await?;
        let found = kiln.search("rating:>=4", SortBy::Relevance, 20)?;
        times.push(ms(t));
        rated.insert(n);
        seen += usize::from(found.total == before + rated.len());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "rate_and_search_p50_ms={:.2} rate_and_search_p99_ms={:.2} rated_ge4={} found={seen}/{}",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        before,
        times.len()
    );
    let t = Instant::now();
    let total = kiln.search("rating:>=4", SortBy::Relevance, 20)?.total;
    let search_only = ms(t);
    let t = Instant::now();
    let combined = kiln
        .search("lighthouse rating:>=4 -tag:draft", SortBy::Score, 20)?
        .total;
    println!(
        "search_rating_ge4_ms={search_only:.2} matches={total} search_combined_ms={:.2} combined_matches={combined}",
        ms(t)
    );

    // Tag 5,000 in one operation: resolve their hashes, one transaction.
    let chosen: Vec<AssetId> = (0..5_000u64)
        .map(|i| AssetId::new(1 + mix(i + 7) % assets))
        .collect();
    let t = Instant::now();
    let chosen_hashes: Vec<ContentHash> = engine
        .content_hashes(&chosen)?
        .into_iter()
        .flatten()
        .collect();
    let resolve_ms = ms(t);
    let edit = CurationEdit {
        add_tags: vec!["keeper".into(), "client A".into()],
        ..CurationEdit::default()
    };
    let t = Instant::now();
    let changed = engine.curate(chosen_hashes, edit).await?;
    println!(
        "tag_5000_ms={:.1} resolve_5000_ms={resolve_ms:.1} changed={changed}",
        ms(t)
    );

    // Every asset curated, then exported and re-imported.
    let edit = CurationEdit {
        add_tags: vec!["imported".into()],
        ..CurationEdit::default()
    };
    let t = Instant::now();
    engine.curate(hashes.clone(), edit).await?;
    println!("tag_all_ms={:.1} resolve_all_ms={resolve_all_ms:.1}", ms(t));
    let file = scratch.path().join("curation.json");
    let t = Instant::now();
    {
        let out = std::io::BufWriter::new(std::fs::File::create(&file)?);
        kiln::curation::export(engine, out)?;
    }
    let export_ms = ms(t);
    let bytes = std::fs::metadata(&file)?.len();
    let other = Kiln::builder(scratch.path().join("other")).open()?;
    let t = Instant::now();
    let read = kiln::curation::read_import(&file)?;
    let parse_ms = ms(t);
    let count = read.assets.len();
    let report = other
        .engine()
        .merge_curation(read.assets, read.collections)
        .await?;
    let import_ms = ms(t);
    let t = Instant::now();
    let read = kiln::curation::read_import(&file)?;
    let again = engine.merge_curation(read.assets, read.collections).await?;
    let reimport_ms = ms(t);
    println!(
        "export_ms={export_ms:.0} file_mb={:.1} records={count} import_new_store_ms={import_ms:.0} (parse {parse_ms:.0}) changed={} reimport_same_store_ms={reimport_ms:.0} changed={}",
        bytes as f64 / 1e6,
        report.assets_changed,
        again.assets_changed
    );
    other.shutdown().await?;

    // The real binary: two processes, each opening the store; first as the
    // only kiln on the store (each opens as the primary, which checks for
    // outdated work and catches the index up), then while a `kiln watch`
    // holds it as the primary (as `kiln serve` would), so each is a client.
    kiln.shutdown().await?;
    if let Some(binary) = kiln_binary(None) {
        let alone = binary_rounds(&binary, &store, assets, 0)?;
        let idle = scratch.path().join("watched");
        std::fs::create_dir_all(&idle)?;
        let mut primary = std::process::Command::new(&binary)
            .arg("--store")
            .arg(&store)
            .args(["-q", "watch"])
            .arg(&idle)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        // Give it time to open the store and take the lock.
        std::thread::sleep(std::time::Duration::from_secs(3));
        let beside = binary_rounds(&binary, &store, assets, 100);
        let _ = primary.kill();
        let _ = primary.wait();
        let beside = beside?;
        println!(
            "binary_rate_then_search_alone_p50_ms={:.1} binary_rate_then_search_beside_primary_p50_ms={:.1} beside_max_ms={:.1}",
            percentile(&alone, 0.5),
            percentile(&beside, 0.5),
            beside.last().copied().unwrap_or(0.0)
        );
    } else {
        println!("binary=absent (cargo build --release -p kiln-cli times the real binary too)");
    }
    Ok(())
}

/// `kiln rate ID 5` then `kiln search 'rating:>=4'`, ten times; the
/// wall times, sorted.
fn binary_rounds(
    binary: &std::path::Path,
    store: &std::path::Path,
    assets: u64,
    salt: u64,
) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let mut times = Vec::new();
    for i in 0..10u64 {
        let id = 1 + mix(i + salt + 2_000_000) % assets;
        let t = Instant::now();
        let rated = std::process::Command::new(binary)
            .arg("--store")
            .arg(store)
            .args(["rate", &id.to_string(), "5", "--json"])
            .output()?;
        let searched = std::process::Command::new(binary)
            .arg("--store")
            .arg(store)
            .args(["search", "rating:>=4", "--json", "--limit", "20"])
            .output()?;
        times.push(ms(t));
        if !rated.status.success() || !searched.status.success() {
            return Err(format!(
                "the binary failed: {}{}",
                String::from_utf8_lossy(&rated.stderr),
                String::from_utf8_lossy(&searched.stderr)
            )
            .into());
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times)
}
