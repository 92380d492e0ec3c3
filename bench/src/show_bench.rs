//! What `kiln show` costs on a large store.
//!
//! `cargo run --release -p kiln-bench --bin show_bench -- [ASSETS] [--keep DIR]`
//! builds a store of ASSETS (default 50,000) assets through the engine, with
//! stand-in stages that write facts shaped like the built-in ones
//! (generation parameters plus ~2 KB of raw text, a 143-float embedding and
//! perceptual hash, a score, session features) and the real search stages
//! (`kiln_bench::standin`).
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

use kiln::Kiln;
use kiln::engine::AssetId;
use kiln::stages::cluster::{CLUSTER_STAGE_NAME, SessionFeatures, assign_sessions};
use kiln_bench::standin::{self, mix};
use kiln_bench::work::percentile;
use std::time::Instant;

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

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The scratch folder lives to the end (the store may be in it).
    let standin::BenchStore {
        scratch: _scratch,
        store,
        assets,
        build_s,
    } = standin::store_from_args().await?;

    let opened = Instant::now();
    let kiln = standin::open(&store, None)?;
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
