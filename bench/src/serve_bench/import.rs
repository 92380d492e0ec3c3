//! Part 1: a folder of real-size PNGs imported by `kiln serve` with the
//! gallery open in Chromium, against the same folder imported by `kiln
//! import` with no server.
//!
//! Every side is one process of the real binary on a fresh store, started
//! with the files already in the folder, timed from its start:
//! - `import`: `kiln import --until browsable DIR` (batch priority, as
//!   typed);
//! - `import-interactive`: the same at `--priority interactive`, the
//!   priority `kiln serve` imports the folders it watches at, so the
//!   difference from `serve` is the server and the browser alone;
//! - `serve-no-page`: `kiln serve DIR` with no browser: the server alone;
//! - `serve`: `kiln serve DIR` with a headless Chromium already started
//!   (and given a moment to settle, as a browser a person has open),
//!   which opens the gallery as soon as the server listens.
//!
//! Every file of the corpus has pixels of its own (a pattern of blocks
//! encoding its number, stamped on one of eight renders), so every file
//! gets a thumbnail and a proxy of its own: the blob store never finds one
//! already there.
//!
//! When is a side browsable? `import_bench` asks the engine when every
//! tier-1 job of the import is done; here the processes are the real
//! binary, and asking a store from outside while it imports costs the
//! import CPU. Every side is measured the same way afterwards instead:
//! every thumbnail and proxy is a blob file the tier-1 stage writes and the
//! engine renames into place before it records the job done, so the last
//! blob's change time is when the last tier-1 job finished, within a commit
//! (a few ms). The first blob is when the first asset got its thumbnail.
//! For `serve` the page also notes when its first thumbnail was drawn and
//! when the page's own event stream first said every file was browsable.

use crate::page;
use crate::server::{Process, Server};
use crate::{Args, ms, secs};
use kiln_bench::proc::{TICKS_PER_SECOND, tree_ticks_by, waited_children_ticks};
use kiln_bench::work::{fresh_dir, median};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a side may take before the benchmark gives up.
const SIDE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the gallery may take to count every file once the event
/// stream said they are browsable.
const GRID_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a freshly started browser is left alone before the server
/// starts: its own start-up is not part of the import.
const BROWSER_SETTLE: Duration = Duration::from_secs(2);
/// Side of the generated renders.
const SIDE_PX: u32 = 1024;
/// Blocks of the number stamped on each file: 16 bits, 32 px each.
const STAMP_BITS: u32 = 16;
const STAMP_PX: u32 = 32;

/// The ways the folder is imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Import,
    ImportInteractive,
    ServeNoPage,
    Serve,
}

impl Side {
    const ALL: [Side; 4] = [
        Side::Import,
        Side::ImportInteractive,
        Side::ServeNoPage,
        Side::Serve,
    ];

    fn name(self) -> &'static str {
        match self {
            Side::Import => "import",
            Side::ImportInteractive => "import-interactive",
            Side::ServeNoPage => "serve-no-page",
            Side::Serve => "serve",
        }
    }
}

/// The pictures the corpus stamps: the PNG files of `from`, or eight
/// generated renders.
fn bases(from: Option<&Path>) -> Result<Vec<image::RgbImage>, String> {
    let Some(from) = from else {
        return Ok((0..8)
            .map(|v| kiln_testkit::corpus::render(SIDE_PX, SIDE_PX, v))
            .collect());
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(from)
        .map_err(|e| format!("cannot list {}: {e}", from.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let picture =
            image::open(&file).map_err(|e| format!("cannot decode {}: {e}", file.display()))?;
        out.push(picture.to_rgb8());
    }
    if out.is_empty() {
        return Err(format!("no PNG files in {}", from.display()));
    }
    Ok(out)
}

/// `picture` with `number` stamped in its top-left corner as a row of
/// black and white blocks, large enough to show in the thumbnail.
fn stamp(picture: &mut image::RgbImage, number: usize) {
    for bit in 0..STAMP_BITS {
        let white = (number >> bit) & 1 == 1;
        let colour = if white { [255, 255, 255] } else { [0, 0, 0] };
        for y in 0..STAMP_PX.min(picture.height()) {
            for x in bit * STAMP_PX..((bit + 1) * STAMP_PX).min(picture.width()) {
                picture.put_pixel(x, y, image::Rgb(colour));
            }
        }
    }
}

fn encode_png(picture: &image::RgbImage) -> Result<Vec<u8>, String> {
    use image::ImageEncoder;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Default, FilterType::Adaptive)
        .write_image(
            picture.as_raw(),
            picture.width(),
            picture.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| format!("cannot encode a corpus file: {e}"))?;
    Ok(out)
}

/// `count` PNG files in `dir`, each with pixels of its own; reused when a
/// previous run built the same corpus. Returns the files and their bytes.
fn corpus(dir: &Path, count: usize, from: Option<&Path>) -> Result<(Vec<PathBuf>, u64), String> {
    let marker = dir.with_extension("complete");
    let recipe = format!(
        "{count} files from {}",
        from.map_or("generated renders".to_owned(), |f| f.display().to_string())
    );
    let name = |i: usize| dir.join(format!("{i:05}.png"));
    let size = |files: &[PathBuf]| {
        files
            .iter()
            .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
            .sum::<u64>()
    };
    if std::fs::read_to_string(&marker).is_ok_and(|r| r == recipe) {
        let files: Vec<PathBuf> = (0..count).map(name).collect();
        return Ok((files.clone(), size(&files)));
    }
    let _ = std::fs::remove_file(&marker);
    let dir = fresh_dir(dir.to_path_buf())?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let started = Instant::now();
    let bases = bases(from)?;
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<(), String> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return Ok(());
                        }
                        let Some(base) = bases.get(i % bases.len()) else {
                            return Ok(());
                        };
                        let mut picture = base.clone();
                        stamp(&mut picture, i);
                        let path = name(i);
                        std::fs::write(&path, encode_png(&picture)?)
                            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err("a corpus thread panicked".to_owned()))
            })
            .collect::<Result<Vec<()>, String>>()
    })?;
    std::fs::write(&marker, &recipe)
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    let files: Vec<PathBuf> = (0..count).map(name).collect();
    let bytes = size(&files);
    println!("built {recipe} in {:.1}s", started.elapsed().as_secs_f64());
    Ok((files, bytes))
}

/// What one side measured, in seconds from its process's start.
#[derive(Debug, Default, Clone)]
struct Timing {
    /// The first blob written: the first thumbnail made.
    first_blob: f64,
    /// The last blob written: every file browsable.
    last_blob: f64,
    /// Blob files in the store.
    blobs: u64,
    /// `import`: when `kiln import --until browsable` ended (after its
    /// shutdown).
    exited: Option<f64>,
    /// `serve`: when the server accepted connections.
    listening: Option<f64>,
    /// `serve`: when the page drew its first thumbnail.
    first_visible: Option<f64>,
    /// `serve`: when the page's event stream said every file was browsable.
    all_by_events: Option<f64>,
    /// `serve`: progress messages the page received.
    messages: Option<u64>,
    /// `serve`: when the gallery's summary first counted every file, with
    /// the newest tile's thumbnail loaded (looked at every 50 ms).
    grid_all: Option<f64>,
    /// `serve`: what the gallery's summary said when it did not count
    /// every file in time.
    grid_said: Option<String>,
    /// `serve`: distinct assets a scroll through the gallery found once
    /// the import was browsable.
    grid_distinct: Option<u64>,
    /// `serve`: where that scroll stopped, when a part of the grid never
    /// filled.
    grid_stuck: Option<String>,
    /// CPU seconds of the `kiln` process: the whole `kiln import`, or the
    /// server until every file was browsable.
    kiln_cpu: Option<f64>,
    /// `serve`: CPU seconds of the browser (all its processes) from the
    /// server's start until every file was browsable.
    browser_cpu: Option<f64>,
    /// `serve`: the same by kind of Chromium process (`browser` for the
    /// main one, else its `--type`).
    browser_kinds: Vec<(String, f64)>,
    /// `serve`: thumbnails and `/api/assets` pages the page fetched until
    /// then.
    fetched: Option<(u64, u64)>,
}

/// A Chromium process's kind: the value of its `--type=` argument, or
/// `browser` for the main process.
fn chromium_kind(args: &[String]) -> String {
    // Chromium rewrites a child's command line as one text with spaces.
    args.iter()
        .flat_map(|a| a.split_whitespace())
        .find_map(|a| a.strip_prefix("--type="))
        .unwrap_or("browser")
        .to_owned()
}

fn ticks_to_s(ticks: u64) -> f64 {
    ticks as f64 / TICKS_PER_SECOND
}

fn epoch_ms(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

/// The first and last change time of the store's blob files, in ms since
/// the epoch, and how many there are.
fn blob_times(store: &Path) -> Result<(f64, f64, u64), String> {
    let mut first = f64::INFINITY;
    let mut last = f64::NEG_INFINITY;
    let mut count = 0;
    let mut folders = vec![store.join("blobs")];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder)
            .map_err(|e| format!("cannot list {}: {e}", folder.display()))?;
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                folders.push(entry.path());
                continue;
            }
            // Temporary files are not blobs yet.
            if entry.file_name().to_string_lossy().contains(".tmp") {
                continue;
            }
            let at = meta.ctime() as f64 * 1000.0 + meta.ctime_nsec() as f64 / 1e6;
            first = first.min(at);
            last = last.max(at);
            count += 1;
        }
    }
    Ok((first, last, count))
}

/// Fills the blob figures of `timing` for a side started at `started`.
fn read_blobs(store: &Path, started: SystemTime, timing: &mut Timing) -> Result<(), String> {
    let (first, last, count) = blob_times(store)?;
    let origin = epoch_ms(started);
    timing.first_blob = (first - origin) / 1000.0;
    timing.last_blob = (last - origin) / 1000.0;
    timing.blobs = count;
    Ok(())
}

fn run_import(
    args: &Args,
    corpus: &Path,
    store: &Path,
    log: &Path,
    interactive: bool,
) -> Result<Timing, String> {
    let mut command: Vec<OsString> = vec!["--quiet".into(), "import".into()];
    if interactive {
        command.extend(["--priority".into(), "interactive".into()]);
    }
    command.extend(["--until".into(), "browsable".into(), corpus.into()]);
    let cpu_before = waited_children_ticks();
    let mut process = Process::spawn(&args.kiln, store, &command, log)?;
    let status = process.wait(SIDE_TIMEOUT)?;
    let exited = process.started.elapsed().as_secs_f64();
    let cpu = cpu_before
        .zip(waited_children_ticks())
        .map(|(a, b)| ticks_to_s(b.saturating_sub(a)));
    if !status.success() {
        return Err(format!(
            "kiln import failed ({status}); see {}",
            log.display()
        ));
    }
    let mut timing = Timing {
        exited: Some(exited),
        kiln_cpu: cpu,
        ..Timing::default()
    };
    read_blobs(store, process.started_wall, &mut timing)?;
    Ok(timing)
}

/// `kiln serve DIR`, with the gallery open in a browser (`with_page`) or
/// alone; stopped once every file is browsable.
fn run_serve(
    args: &Args,
    corpus: &Path,
    store: &Path,
    log: &Path,
    with_page: bool,
) -> Result<Timing, String> {
    let files = args.files as u64;
    // Started before the server: its start is not part of the import.
    let mut browser = with_page.then(|| page::launch(files)).transpose()?;
    if browser.is_some() {
        std::thread::sleep(BROWSER_SETTLE);
    }
    let browser_pid = browser.as_ref().map(|b| b.pid());
    let browser_before = browser_pid.map(|pid| tree_ticks_by(pid, chromium_kind));
    let mut server = Server::start(&args.kiln, store, &[corpus.to_path_buf()], log)?;
    let started_wall = server.process.started_wall;
    let listening = server.wait_listening(Duration::from_secs(60))?;
    let origin = epoch_ms(started_wall);
    let mut timing = Timing {
        listening: Some(listening.as_secs_f64()),
        ..Timing::default()
    };
    match &mut browser {
        Some(browser) => {
            if args.block_thumbnails {
                for (method, params) in [
                    ("Network.enable", serde_json::json!({})),
                    (
                        "Network.setBlockedURLs",
                        serde_json::json!({ "urls": ["*/img/*"] }),
                    ),
                ] {
                    browser
                        .command(method, params)
                        .map_err(|e| format!("cannot block thumbnails: {e}"))?;
                }
            }
            browser
                .goto(&server.url(&args.page))
                .map_err(|e| format!("cannot open the page: {e}"))?;
            let all = page::wait_noted(browser, "all_epoch_ms", SIDE_TIMEOUT)?;
            timing.kiln_cpu = server.process.cpu_ticks().map(ticks_to_s);
            if let (Some(pid), Some(before)) = (browser_pid, &browser_before) {
                let after = tree_ticks_by(pid, chromium_kind);
                // A process that started meanwhile counts from zero; one
                // that ended is missed (none ends while the page is open).
                timing.browser_kinds = after
                    .iter()
                    .map(|(kind, ticks)| {
                        let was = before.get(kind).copied().unwrap_or(0);
                        (kind.clone(), ticks_to_s(ticks.saturating_sub(was)))
                    })
                    .collect();
                timing.browser_cpu = Some(timing.browser_kinds.iter().map(|(_, s)| s).sum());
            }
            let counted = browser
                .eval(
                    "(() => { const names = performance.getEntriesByType('resource').map((e) => e.name); \
                     return [new Set(names.filter((n) => n.includes('/img/'))).size, \
                     names.filter((n) => n.includes('/api/assets')).length]; })()",
                )
                .map_err(|e| format!("cannot read the page's fetches: {e}"))?;
            timing.fetched = counted[0].as_u64().zip(counted[1].as_u64());
            if args.page == "/" && !args.block_thumbnails {
                page::wait_noted(browser, "first_epoch_ms", SIDE_TIMEOUT)?;
                let shown = browser.wait_for(
                    &format!(
                        "(() => {{ const s = document.getElementById('summary'); \
                         const img = document.querySelector('#grid a.tile[data-index=\"0\"] img'); \
                         return s && s.textContent.startsWith(({files}).toLocaleString() + ' asset') \
                         && img && img.complete && img.naturalWidth > 0 ? Date.now() : false; }})()"
                    ),
                    GRID_TIMEOUT,
                );
                match shown {
                    Ok(at) => timing.grid_all = at.as_f64().map(|at| (at - origin) / 1000.0),
                    Err(_) => {
                        let said = browser
                            .eval("(document.getElementById('summary') || {}).textContent || ''")
                            .map_err(|e| format!("cannot read the gallery: {e}"))?;
                        timing.grid_said = Some(said.as_str().unwrap_or_default().to_owned());
                    }
                }
                match page::scroll_grid(browser, files) {
                    Ok(scroll) => timing.grid_distinct = Some(scroll.distinct),
                    Err(e) => {
                        let said = browser
                            .eval(
                                "[(document.getElementById('summary') || {}).textContent || '', \
                                 document.querySelectorAll('#grid a.tile').length, scrollY]",
                            )
                            .map_err(|e| format!("cannot read the gallery: {e}"))?;
                        let first_line = e.lines().next().unwrap_or_default().to_owned();
                        timing.grid_stuck = Some(format!(
                            "{first_line} (summary \"{}\", {} tiles in the page at {} px)",
                            said[0].as_str().unwrap_or_default().escape_debug(),
                            said[1],
                            said[2]
                        ));
                    }
                }
            }
            let notes = page::noted(browser)?;
            timing.first_visible = notes["first_epoch_ms"]
                .as_f64()
                .map(|first| (first - origin) / 1000.0);
            timing.all_by_events = Some((all - origin) / 1000.0);
            timing.messages = notes["messages"].as_u64();
        }
        None => {
            // Asked ten times a second: the answer only says when to stop.
            let mut http = server.http();
            let deadline = Instant::now() + SIDE_TIMEOUT;
            loop {
                let progress = http.get_json("/api/progress")?;
                if progress["browsable"].as_u64().is_some_and(|n| n >= files) {
                    timing.kiln_cpu = server.process.cpu_ticks().map(ticks_to_s);
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(format!("serve did not make {files} files browsable"));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    drop(browser);
    server.stop()?;
    read_blobs(store, started_wall, &mut timing)?;
    Ok(timing)
}

fn print_side(round: usize, side: Side, t: &Timing) {
    let mut line = format!(
        "round {round}: {:<18} first thumbnail made {:.3}s, browsable (last of {} blobs) {:.3}s",
        side.name(),
        t.first_blob,
        t.blobs,
        t.last_blob
    );
    if let Some(exited) = t.exited {
        line.push_str(&format!("; the command ended at {exited:.3}s"));
    }
    if let Some(cpu) = t.kiln_cpu {
        line.push_str(&format!("; kiln cpu {cpu:.2}s"));
    }
    if let Some(cpu) = t.browser_cpu {
        let kinds: Vec<String> = t
            .browser_kinds
            .iter()
            .map(|(kind, s)| format!("{kind} {s:.2}"))
            .collect();
        line.push_str(&format!(", browser cpu {cpu:.2}s ({})", kinds.join(", ")));
    }
    if let Some((thumbnails, pages)) = t.fetched {
        line.push_str(&format!(
            "; the page fetched {thumbnails} thumbnails and {pages} /api/assets pages"
        ));
    }
    if let Some(listening) = t.listening {
        line.push_str(&format!("; listening {listening:.3}s"));
    }
    if let Some(first) = t.first_visible {
        line.push_str(&format!(", first thumbnail drawn {first:.3}s"));
    }
    if let Some(all) = t.all_by_events {
        line.push_str(&format!(
            ", page told all browsable {all:.3}s ({} progress messages)",
            t.messages.unwrap_or(0)
        ));
    }
    if let Some(shown) = t.grid_all {
        line.push_str(&format!(", the grid showed them all {shown:.3}s"));
    }
    if let Some(said) = &t.grid_said {
        line.push_str(&format!(
            ", the grid did not count them all within {}s of that (it said \"{}\")",
            GRID_TIMEOUT.as_secs(),
            said.escape_debug()
        ));
    }
    if let Some(distinct) = t.grid_distinct {
        line.push_str(&format!(
            "; scrolling it then found {distinct} distinct assets"
        ));
    }
    if let Some(stuck) = &t.grid_stuck {
        line.push_str(&format!("; scrolling it then stopped: {stuck}"));
    }
    println!("{line}");
}

/// Part 1; see the module documentation. Returns the summary line.
pub(crate) fn run(args: &Args, work: &Path) -> Result<String, String> {
    let corpus_dir = work.join("corpus-serve");
    let (files, bytes) = corpus(&corpus_dir, args.files, args.from.as_deref())?;
    println!(
        "import: {} files, {:.1} MB, {} rounds; sides alternate their order",
        files.len(),
        bytes as f64 / 1e6,
        args.rounds
    );
    // Warm the page cache: every side reads the files from memory.
    for path in &files {
        let _ = std::fs::read(path);
    }
    let sides = Side::ALL;
    // Every store is cleared now, so that no side pays for deleting another's.
    let mut stores: Vec<Vec<PathBuf>> = Vec::new();
    for round in 1..=args.rounds {
        stores.push(
            sides
                .iter()
                .map(|side| fresh_dir(work.join(format!("store-{}-{round}", side.name()))))
                .collect::<Result<_, _>>()?,
        );
    }
    let log = work.join("serve-import.log");
    let mut results: Vec<(Side, Timing)> = Vec::new();
    for (round, round_stores) in (1..=args.rounds).zip(&stores) {
        let mut order: Vec<(Side, &PathBuf)> = sides.iter().copied().zip(round_stores).collect();
        if round % 2 == 0 {
            order.reverse();
        }
        for (side, store) in order {
            let timing = match side {
                Side::Import => run_import(args, &corpus_dir, store, &log, false)?,
                Side::ImportInteractive => run_import(args, &corpus_dir, store, &log, true)?,
                Side::ServeNoPage => run_serve(args, &corpus_dir, store, &log, false)?,
                Side::Serve => run_serve(args, &corpus_dir, store, &log, true)?,
            };
            print_side(round, side, &timing);
            results.push((side, timing));
        }
    }
    let of = |side: Side, f: fn(&Timing) -> Option<f64>| -> Vec<f64> {
        results
            .iter()
            .filter(|(s, _)| *s == side)
            .filter_map(|(_, t)| f(t))
            .collect()
    };
    let serve_first = median(of(Side::Serve, |t| t.first_visible));
    let serve_made = median(of(Side::Serve, |t| Some(t.first_blob)));
    let serve_listening = median(of(Side::Serve, |t| t.listening));
    let serve_all = median(of(Side::Serve, |t| Some(t.last_blob)));
    let serve_events = median(of(Side::Serve, |t| t.all_by_events));
    let import_all = median(of(Side::Import, |t| Some(t.last_blob)));
    let import_first = median(of(Side::Import, |t| Some(t.first_blob)));
    let interactive_all = median(of(Side::ImportInteractive, |t| Some(t.last_blob)));
    let no_page_all = median(of(Side::ServeNoPage, |t| Some(t.last_blob)));
    let no_page_first = median(of(Side::ServeNoPage, |t| Some(t.first_blob)));
    // The same ratios round by round: each round's sides ran back to back.
    let paired = |a: Side, b: Side, f: fn(&Timing) -> Option<f64>| -> f64 {
        let ratios = (0..args.rounds)
            .filter_map(|round| {
                let pick = |side: Side| {
                    results
                        .iter()
                        .filter(|(s, _)| *s == side)
                        .nth(round)
                        .and_then(|(_, t)| f(t))
                };
                Some(pick(a)? / pick(b)?)
            })
            .collect();
        median(ratios)
    };
    println!(
        "first thumbnail drawn in the browser (median of {}): {serve_first:.3}s (target <= 1 s); the server listened at {serve_listening:.3}s, the first thumbnail was made at {serve_made:.3}s ({import_first:.3}s in `kiln import`)",
        args.rounds
    );
    println!(
        "browsable, last thumbnail stored (medians): serve {serve_all:.3}s, serve with no page {no_page_all:.3}s (first thumbnail made {no_page_first:.3}s), import {import_all:.3}s, import --priority interactive {interactive_all:.3}s"
    );
    println!(
        "serve / import = {:.3} (target <= 1.1; paired by round {:.3}); serve / interactive import = {:.3} (paired {:.3}); serve with no page / interactive import = {:.3} (paired {:.3})",
        serve_all / import_all,
        paired(Side::Serve, Side::Import, |t| Some(t.last_blob)),
        serve_all / interactive_all,
        paired(Side::Serve, Side::ImportInteractive, |t| Some(t.last_blob)),
        no_page_all / interactive_all,
        paired(Side::ServeNoPage, Side::ImportInteractive, |t| Some(
            t.last_blob
        )),
    );
    println!(
        "cpu until browsable (medians): kiln import {:.2}s, interactive {:.2}s, serve with no page {:.2}s, serve {:.2}s and its browser {:.2}s",
        median(of(Side::Import, |t| t.kiln_cpu)),
        median(of(Side::ImportInteractive, |t| t.kiln_cpu)),
        median(of(Side::ServeNoPage, |t| t.kiln_cpu)),
        median(of(Side::Serve, |t| t.kiln_cpu)),
        median(of(Side::Serve, |t| t.browser_cpu)),
    );
    println!(
        "all browsable as the page's event stream said it: {serve_events:.3}s = {:.3} x import ({:.0} ms after the last thumbnail was stored: messages are coalesced for 400 ms); the gallery showed every file at {:.3}s",
        serve_events / import_all,
        ms(serve_events - serve_all),
        median(of(Side::Serve, |t| t.grid_all)),
    );
    let distinct = of(Side::Serve, |t| t.grid_distinct.map(|d| d as f64));
    if !distinct.is_empty() {
        println!(
            "scrolling the gallery once every file was browsable found {:.0} to {:.0} distinct assets of {} ({} of {} rounds counted them all in the summary within {}s)",
            distinct.iter().copied().fold(f64::INFINITY, f64::min),
            distinct.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            args.files,
            of(Side::Serve, |t| t.grid_all).len(),
            args.rounds,
            GRID_TIMEOUT.as_secs()
        );
    }
    Ok(format!(
        "files={} first_thumbnail_s={} serve_browsable_s={} import_browsable_s={} ratio={:.3} events_browsable_s={} events_ratio={:.3}",
        args.files,
        secs(serve_first),
        secs(serve_all),
        secs(import_all),
        serve_all / import_all,
        secs(serve_events),
        serve_events / import_all
    ))
}
