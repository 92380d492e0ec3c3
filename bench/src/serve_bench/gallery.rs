//! Part 2: `kiln serve` over a large store and a small one, built with
//! stand-in stages (`kiln_bench::standin`, each asset with a thumbnail
//! blob) and served by the real binary with no folders to watch.
//!
//! For each store: the first paint of the gallery in fresh browsers; the
//! server's memory after a browser scrolled through the whole grid (its
//! peak then is the figure compared between the stores); then the latency
//! of `/api/assets` pages (the first page, every page of the newest
//! listing and of the path listing by cursor, every page by score) and of
//! searches, over one kept-alive connection, and the memory after those.
//! Baselines in
//! the same run: the same reads made in-process through the library (what
//! the handlers call, without HTTP and JSON), a request that reaches no
//! store (`/api/none`, answered 404), and the small store against the
//! large one.

use crate::http::{Http, encode};
use crate::page;
use crate::server::Server;
use crate::{Args, ms};
use kiln::engine::{BrowseCursor, BrowseOrder};
use kiln::{After, SortBy};
use kiln_bench::proc::{Memory, mb};
use kiln_bench::standin::{self, Thumbnails};
use kiln_bench::work::{fresh_dir, median, percentile};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The page size of the gallery's listing (`PAGE` of `static/app.js`).
const PAGE: usize = 200;
/// Fresh browsers whose first paint is timed.
const PAINTS: usize = 5;
/// Repetitions of the first page and of each search.
const REPEAT: usize = 100;
/// Searches: a model filter, a numeric filter, a word every prompt holds,
/// and a combination.
const QUERIES: [&str; 4] = [
    "model:dreamshaper_8",
    "steps:>=30",
    standin::PROMPT_WORD,
    "model:flux1-dev steps:<25",
];

/// Latencies of one kind of request, in ms.
#[derive(Debug, Default, Clone)]
struct Timings(Vec<f64>);

impl Timings {
    fn push(&mut self, started: Instant) {
        self.0.push(ms(started.elapsed().as_secs_f64()));
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    fn p50(&self) -> f64 {
        percentile(&self.sorted(), 0.5)
    }

    fn p99(&self) -> f64 {
        percentile(&self.sorted(), 0.99)
    }

    fn max(&self) -> f64 {
        self.0.iter().copied().fold(f64::NAN, f64::max)
    }

    fn describe(&self) -> String {
        format!(
            "n={} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.0.len(),
            self.p50(),
            self.p99(),
            self.max()
        )
    }
}

/// Kinds of reads, in the order they are printed.
const LISTINGS: [&str; 4] = [
    "first page",
    "newest by cursor",
    "path by cursor",
    "score pages",
];
const SEARCH: &str = "search";
/// `Engine::browsable_count`, which the server runs again after every
/// change of progress (reading every asset record).
const COUNT: &str = "browsable count";

/// What one store's run measured.
#[derive(Debug, Default)]
struct Measured {
    assets: u64,
    first_paint_ms: Vec<f64>,
    library: BTreeMap<&'static str, Timings>,
    http: BTreeMap<&'static str, Timings>,
    floor: Timings,
    at_start: Option<Memory>,
    after_scroll: Option<Memory>,
    after_api: Option<Memory>,
    scroll: page::Scroll,
}

impl Measured {
    fn all_listings(map: &BTreeMap<&'static str, Timings>) -> Timings {
        Timings(
            LISTINGS
                .iter()
                .filter_map(|k| map.get(k))
                .flat_map(|t| t.0.iter().copied())
                .collect(),
        )
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))
}

/// The store of `assets` stand-in assets in `work`, built unless a
/// previous run completed it.
fn ensure_store(work: &Path, assets: u64) -> Result<PathBuf, String> {
    let store = work.join(format!("store-standin-{assets}"));
    let marker = store.with_extension("complete");
    if marker.exists() {
        return Ok(store);
    }
    let store = fresh_dir(store)?;
    let input = fresh_dir(work.join(format!("standin-input-{assets}")))?;
    let started = Instant::now();
    let thumbnails = Arc::new(Thumbnails::new(16, 192)?);
    runtime()?.block_on(standin::build(&store, &input, assets, Some(thumbnails)))?;
    std::fs::write(&marker, assets.to_string())
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    println!(
        "built a store of {assets} stand-in assets with thumbnails in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(store)
}

/// The reads the handlers make, made in-process: the baseline of the
/// HTTP latencies.
fn library(store: &Path) -> Result<BTreeMap<&'static str, Timings>, String> {
    let runtime = runtime()?;
    let kiln = standin::open(store, None)?;
    let engine = kiln.engine();
    let fail = |e: &dyn std::fmt::Display| format!("library read failed: {e}");
    let mut out: BTreeMap<&'static str, Timings> = BTreeMap::new();
    for _ in 0..REPEAT / 10 {
        let t = Instant::now();
        engine.browsable_count().map_err(|e| fail(&e))?;
        out.entry(COUNT).or_default().push(t);
    }
    for _ in 0..REPEAT {
        let t = Instant::now();
        engine
            .browse(&BrowseOrder::Newest, None, PAGE)
            .map_err(|e| fail(&e))?;
        out.entry("first page").or_default().push(t);
    }
    for (kind, order) in [
        ("newest by cursor", BrowseOrder::Newest),
        ("path by cursor", BrowseOrder::Path),
    ] {
        let mut cursor: Option<BrowseCursor> = None;
        loop {
            let t = Instant::now();
            let page = engine
                .browse(&order, cursor.as_ref(), PAGE)
                .map_err(|e| fail(&e))?;
            out.entry(kind).or_default().push(t);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    let mut after = None;
    let mut seen = 0;
    loop {
        let t = Instant::now();
        let found = kiln
            .search_page("", SortBy::Score, after, PAGE)
            .map_err(|e| fail(&e))?;
        let ids: Vec<_> = found.hits.iter().map(|h| h.id).collect();
        engine.browse_entries(&ids).map_err(|e| fail(&e))?;
        out.entry("score pages").or_default().push(t);
        seen += found.hits.len();
        after = found.hits.last().map(After::from);
        if found.hits.len() < PAGE || seen >= found.total {
            break;
        }
    }
    for query in QUERIES {
        for _ in 0..REPEAT / 4 {
            let t = Instant::now();
            let found = kiln
                .search_page(query, SortBy::Relevance, None, PAGE)
                .map_err(|e| fail(&e))?;
            let ids: Vec<_> = found.hits.iter().map(|h| h.id).collect();
            engine.browse_entries(&ids).map_err(|e| fail(&e))?;
            out.entry(SEARCH).or_default().push(t);
        }
    }
    runtime
        .block_on(kiln.shutdown())
        .map_err(|e| format!("cannot close the store: {e}"))?;
    Ok(out)
}

/// GETs `path`, timing it; returns the JSON body.
fn timed(http: &mut Http, path: &str, into: &mut Timings) -> Result<serde_json::Value, String> {
    let t = Instant::now();
    let body = http.get_json(path)?;
    into.push(t);
    Ok(body)
}

/// Follows a listing by its `next_cursor` from `first` to its end.
fn walk(http: &mut Http, first: &str, into: &mut Timings) -> Result<u64, String> {
    let mut path = first.to_owned();
    let mut seen = 0;
    loop {
        let body = timed(http, &path, into)?;
        seen += body["assets"].as_array().map_or(0, |a| a.len() as u64);
        match body["next_cursor"].as_str() {
            Some(cursor) => path = format!("{first}&cursor={}", encode(cursor)),
            None => return Ok(seen),
        }
    }
}

fn api(server: &Server, assets: u64, m: &mut Measured) -> Result<(), String> {
    let mut http = server.http();
    for _ in 0..REPEAT {
        let t = Instant::now();
        let r = http.get("/api/none")?;
        m.floor.push(t);
        if r.status != 404 {
            return Err(format!("/api/none answered {}", r.status));
        }
    }
    let first = format!("/api/assets?sort=date&limit={PAGE}");
    for _ in 0..REPEAT {
        timed(&mut http, &first, m.http.entry("first page").or_default())?;
    }
    for (kind, start) in [
        ("newest by cursor", first.clone()),
        (
            "path by cursor",
            format!("/api/assets?sort=path&limit={PAGE}"),
        ),
        (
            "score pages",
            format!("/api/assets?sort=score&limit={PAGE}"),
        ),
    ] {
        let seen = walk(&mut http, &start, m.http.entry(kind).or_default())?;
        if seen != assets {
            println!("note: the {kind} listing held {seen} assets, not {assets}");
        }
    }
    for query in QUERIES {
        let path = format!(
            "/api/assets?sort=relevance&limit={PAGE}&q={}",
            encode(query)
        );
        for _ in 0..REPEAT / 4 {
            timed(&mut http, &path, m.http.entry(SEARCH).or_default())?;
        }
    }
    Ok(())
}

/// First paint in a fresh browser: ms from the navigation's start to the
/// frame after the first thumbnail decoded; and how long the page's first
/// `/api/assets` took.
fn first_paint(server: &Server, assets: u64) -> Result<(f64, f64), String> {
    let mut browser = page::launch(assets)?;
    browser
        .goto(&server.url("/"))
        .map_err(|e| format!("cannot open the gallery: {e}"))?;
    let painted = page::wait_noted(&mut browser, "first_page_ms", Duration::from_secs(60))?;
    let api = browser
        .eval(
            "(performance.getEntriesByType('resource').find((e) => e.name.includes('/api/assets')) || { duration: NaN }).duration",
        )
        .map_err(|e| format!("cannot read the page's timings: {e}"))?
        .as_f64()
        .unwrap_or(f64::NAN);
    Ok((painted, api))
}

fn serve(args: &Args, store: &Path, assets: u64, work: &Path) -> Result<Measured, String> {
    let mut m = Measured {
        assets,
        ..Measured::default()
    };
    let log = work.join(format!("serve-{assets}.log"));
    let mut server = Server::start(&args.kiln, store, &[], &log)?;
    server.wait_listening(Duration::from_secs(60))?;
    let pending = server.pending_jobs()?;
    if pending > 0 {
        println!(
            "note: the server has {pending} jobs to run on this store; its figures include that work"
        );
    }
    m.at_start = server.process.memory();
    for sample in 0..PAINTS {
        let (painted, api) = first_paint(&server, assets)?;
        println!(
            "{assets} assets: first paint {}: {painted:.0} ms after the navigation started (its first /api/assets took {api:.1} ms)",
            sample + 1
        );
        m.first_paint_ms.push(painted);
    }
    if args.scroll {
        let mut browser = page::launch(assets)?;
        browser
            .goto(&server.url("/"))
            .map_err(|e| format!("cannot open the gallery: {e}"))?;
        page::wait_noted(&mut browser, "first_page_ms", Duration::from_secs(60))?;
        m.scroll = page::scroll_grid(&mut browser, assets)?;
        m.after_scroll = server.process.memory();
        drop(browser);
    }
    api(&server, assets, &mut m)?;
    m.after_api = server.process.memory();
    server.stop()?;
    Ok(m)
}

fn print_store(m: &Measured) {
    let n = m.assets;
    println!(
        "{n} assets: first paint median {:.0} ms (of {})",
        median(m.first_paint_ms.clone()),
        m.first_paint_ms.len()
    );
    println!(
        "{n} assets: HTTP floor (/api/none, 404): {}",
        m.floor.describe()
    );
    for kind in LISTINGS.iter().copied().chain([SEARCH]) {
        let (Some(http), Some(lib)) = (m.http.get(kind), m.library.get(kind)) else {
            continue;
        };
        println!(
            "{n} assets: {kind}: HTTP {}; library {}; HTTP/library p50 {:.2}",
            http.describe(),
            lib.describe(),
            http.p50() / lib.p50()
        );
    }
    if let Some(count) = m.library.get(COUNT) {
        println!(
            "{n} assets: library {COUNT} (read by every /api/assets listing and event message): {}",
            count.describe()
        );
    }
    let all = Measured::all_listings(&m.http);
    println!(
        "{n} assets: every listing request: {} (target p99 <= 20 ms)",
        all.describe()
    );
    let show = |label: &str, memory: Option<Memory>| {
        if let Some(memory) = memory {
            println!(
                "{n} assets: server memory {label}: VmRSS {:.1} MiB (anonymous {:.1}, file-backed {:.1}), VmHWM {:.1} MiB",
                mb(Some(memory.rss_kb)),
                mb(Some(memory.anon_kb)),
                mb(Some(memory.file_kb)),
                mb(Some(memory.peak_kb))
            );
        }
    };
    show("after start", m.at_start);
    show("after the first paints and the scroll", m.after_scroll);
    show("after the API requests", m.after_api);
    if m.scroll.steps > 0 {
        println!(
            "{n} assets: scrolled the whole grid in {} steps, {:.1}s; {} distinct assets seen, {} thumbnails fetched, {} broken",
            m.scroll.steps,
            m.scroll.took.as_secs_f64(),
            m.scroll.distinct,
            m.scroll.thumbnails,
            m.scroll.broken
        );
    }
}

/// Part 2; see the module documentation. Returns the summary line.
pub(crate) fn run(args: &Args, work: &Path) -> Result<String, String> {
    let (small, large) = args.sizes;
    let mut measured = Vec::new();
    for assets in [small, large] {
        let store = ensure_store(work, assets)?;
        let library = library(&store)?;
        let mut m = serve(args, &store, assets, work)?;
        m.library = library;
        print_store(&m);
        measured.push(m);
    }
    let (Some(s), Some(l)) = (measured.first(), measured.get(1)) else {
        return Err("no store was measured".to_owned());
    };
    let per_asset = |peak: fn(&Measured) -> Option<u64>| match (peak(s), peak(l)) {
        (Some(a), Some(b)) => (b as f64 - a as f64) / (large as f64 - small as f64),
        _ => f64::NAN,
    };
    let peak = |m: &Measured| m.after_scroll.map(|x| x.peak_kb);
    let growth = per_asset(peak);
    let peak_api = |m: &Measured| m.after_api.map(|x| x.peak_kb);
    println!(
        "{large} / {small} assets: server peak memory after the scroll {:.1} / {:.1} MiB, growth {growth:.3} KB per asset (target < 0.2); after the API requests too {:.1} / {:.1} MiB, {:.3} KB per asset",
        mb(peak(l)),
        mb(peak(s)),
        mb(peak_api(l)),
        mb(peak_api(s)),
        per_asset(peak_api),
    );
    let listing = |m: &Measured| Measured::all_listings(&m.http);
    let search = |m: &Measured| m.http.get(SEARCH).cloned().unwrap_or_default();
    let paint = |m: &Measured| median(m.first_paint_ms.clone());
    println!(
        "{large} / {small} assets: first paint {:.2}x, listing p99 {:.2}x, search p99 {:.2}x",
        paint(l) / paint(s),
        listing(l).p99() / listing(s).p99(),
        search(l).p99() / search(s).p99(),
    );
    Ok(format!(
        "assets={small},{large} first_paint_ms={:.0},{:.0} listing_p50_ms={:.2},{:.2} listing_p99_ms={:.2},{:.2} search_p99_ms={:.2},{:.2} peak_rss_mb={:.1},{:.1} kb_per_asset={growth:.3}",
        paint(s),
        paint(l),
        listing(s).p50(),
        listing(l).p50(),
        listing(s).p99(),
        listing(l).p99(),
        search(s).p99(),
        search(l).p99(),
        mb(peak(s)),
        mb(peak(l)),
    ))
}
