//! `--health`: on the large store of `--scale`, how long `kiln status`,
//! `kiln show` and `kiln search` take (the real binary, and the library
//! calls behind them one by one), and whether re-importing the same folder
//! grows the redb file.

use crate::Args;
use crate::run::{self, TierTimes};
use crate::scale;
use kiln::engine::{AssetId, Config, DATABASE_FILE, Priority};
use kiln::search::SortBy;
use kiln_bench::work::{Work, kiln_binary};
use redb::{ReadableDatabase, ReadableTableMetadata, TableHandle};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs of each timed command; the median and the slowest are printed.
const RUNS: usize = 5;
/// Re-imports of the same folder.
const REIMPORTS: usize = 10;
/// The word searched for: one of the generated prompts' words.
const QUERY: &str = scale::WORDS[0];

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median and maximum of some timings, in ms.
fn summary(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let median = times.get(times.len() / 2).copied().map_or(f64::NAN, ms);
    let max = times.last().copied().map_or(f64::NAN, ms);
    (median, max)
}

/// Times `f` `RUNS` times.
fn time_runs(mut f: impl FnMut() -> Result<(), String>) -> Result<Vec<Duration>, String> {
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed());
    }
    Ok(times)
}

/// Times whole `kiln` processes, as a person typing the command waits for
/// them; returns each command's median.
fn time_binary(kiln: &Path, store: &Path, id: AssetId) -> Result<Vec<(String, f64)>, String> {
    let commands: [(&str, Vec<String>); 3] = [
        ("status", vec!["status".into()]),
        ("show", vec!["show".into(), id.to_string()]),
        ("search", vec!["search".into(), QUERY.into()]),
    ];
    let mut out = Vec::new();
    for (name, rest) in commands {
        let times = time_runs(|| {
            let status = Command::new(kiln)
                .arg("--store")
                .arg(store)
                .args(&rest)
                .stdout(Stdio::null())
                .status()
                .map_err(|e| format!("cannot run {}: {e}", kiln.display()))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("`kiln {name}` failed: {status}"))
            }
        })?;
        let (median, max) = summary(times);
        println!(
            "binary: kiln {}: median {median:.1} ms, max {max:.1} ms",
            rest.join(" ")
        );
        out.push((name.to_owned(), median));
    }
    Ok(out)
}

/// A named call to time.
type Call<'a> = (&'a str, &'a dyn Fn() -> Result<(), String>);

/// Times the library calls behind the commands, each on its own, in one
/// process that keeps the store open.
fn time_calls(store: &Path, id: AssetId, config: &Config) -> Result<(), String> {
    let opened = time_runs(|| {
        let runtime = run::runtime()?;
        let kiln = run::open(store, config)?;
        runtime.block_on(run::close(kiln))
    })?;
    let (median, max) = summary(opened);
    println!(
        "library: Kiln::open (with search catch-up) + shutdown: median {median:.1} ms, max {max:.1} ms"
    );
    // The engine alone, without the stages and the search index, to tell
    // the store's own opening from the search index's.
    let bare = time_runs(|| {
        let runtime = run::runtime()?;
        let engine = kiln::engine::Engine::open(store, config.clone())
            .map_err(|e| format!("cannot open {}: {e}", store.display()))?;
        runtime.block_on(engine.shutdown());
        Ok(())
    })?;
    let (median, max) = summary(bare);
    println!("library: Engine::open + shutdown, no stages: median {median:.1} ms, max {max:.1} ms");
    let runtime = run::runtime()?;
    let kiln = run::open(store, config)?;
    let engine = kiln.engine();
    let calls: [Call<'_>; 7] = [
        ("Kiln::catch_up() with nothing to catch up", &|| {
            kiln.catch_up().map(drop).map_err(|e| e.to_string())
        }),
        ("engine.status()", &|| {
            engine.status().map(drop).map_err(|e| e.to_string())
        }),
        ("engine.asset(id)", &|| {
            engine.asset(id).map(drop).map_err(|e| e.to_string())
        }),
        ("Kiln::sessions()", &|| {
            kiln.sessions().map(drop).map_err(|e| e.to_string())
        }),
        ("Kiln::enrichment()", &|| {
            let detail = engine
                .asset(id)
                .map_err(|e| e.to_string())?
                .ok_or("no asset")?;
            drop(kiln.enrichment(&detail));
            Ok(())
        }),
        ("engine.assets()", &|| {
            engine.assets().map(drop).map_err(|e| e.to_string())
        }),
        ("index.search(query)", &|| {
            kiln.index()
                .search(QUERY, SortBy::Relevance, 20)
                .map(drop)
                .map_err(|e| e.to_string())
        }),
    ];
    for (name, call) in calls {
        let (median, max) = summary(time_runs(call)?);
        println!("library: {name}: median {median:.1} ms, max {max:.1} ms");
    }
    runtime.block_on(run::close(kiln))
}

/// Bytes of a file, 0 when it cannot be read.
fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Bytes of every file under a folder.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// Per table: entries, stored bytes and bytes of pages, so that a growing
/// file can be traced to the table that grows.
fn table_stats(database: &Path) -> Result<Vec<(String, u64, u64, u64)>, String> {
    let db = redb::ReadOnlyDatabase::open(database)
        .map_err(|e| format!("cannot open {} to read its tables: {e}", database.display()))?;
    let txn = db.begin_read().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for handle in txn.list_tables().map_err(|e| e.to_string())? {
        let name = handle.name().to_owned();
        let table = txn.open_untyped_table(handle).map_err(|e| e.to_string())?;
        let stats = table.stats().map_err(|e| e.to_string())?;
        let entries = table.len().map_err(|e| e.to_string())?;
        let pages = (stats.leaf_pages() + stats.branch_pages()) * 4096;
        out.push((name, entries, stats.stored_bytes(), pages));
    }
    Ok(out)
}

fn print_tables(label: &str, database: &Path) {
    match table_stats(database) {
        Ok(tables) => {
            let pages: u64 = tables.iter().map(|t| t.3).sum();
            println!(
                "{label}: file {} bytes, table pages {pages} bytes",
                file_size(database)
            );
            for (name, entries, stored, pages) in tables {
                println!(
                    "  table {name:<16} {entries:>9} entries {stored:>12} stored bytes {pages:>12} page bytes"
                );
            }
        }
        Err(e) => println!("{label}: {e}"),
    }
}

/// Imports `corpus` again into `store` and waits until every tier is done.
fn reimport(store: &Path, corpus: &Path, config: &Config) -> Result<(Duration, u64), String> {
    let runtime = run::runtime()?;
    runtime.block_on(async {
        let kiln = run::start(store, config).await?;
        let engine = kiln.engine();
        let start = Instant::now();
        let import = engine
            .import_dir(corpus, Priority::Batch)
            .await
            .map_err(|e| format!("cannot import {}: {e}", corpus.display()))?;
        let times = run::follow(engine, import, start, async |_: &TierTimes| Ok(())).await?;
        let unchanged = engine
            .status()
            .map_err(|e| e.to_string())?
            .imports
            .iter()
            .find(|i| i.id == import)
            .map_or(0, |i| i.files_unchanged);
        run::close(kiln).await?;
        Ok((times.enriched.unwrap_or_default(), unchanged))
    })
}

/// `--health`: see the crate documentation.
pub(crate) fn run(args: &Args, work: &Work) -> Result<(), String> {
    let work = work.path();
    let large = args.scale_sizes.1;
    let corpus = scale::build_corpus(work, large, args.small_side)?;
    let store = scale::store_dir(work, large);
    let database = store.join(DATABASE_FILE);
    if !database.exists() {
        println!("health: importing {large} images first (in a child process)");
        scale::import_in_child(&corpus, &store, args)?;
    }
    // An asset from the middle of the import, found by its path.
    let probe = scale::corpus_dir(work, large, args.small_side)
        .join(format!("{:03}", large / 2 / 1000))
        .join(format!("{:06}.png", large / 2));
    let id = {
        let runtime = run::runtime()?;
        let kiln = run::open(&store, &args.config())?;
        let engine = kiln.engine();
        let status = engine.status().map_err(|e| e.to_string())?;
        println!(
            "health: store {} holds {} assets, {} files",
            store.display(),
            status.assets,
            status.files
        );
        let id = engine.asset_by_path(&probe).map_err(|e| e.to_string())?;
        runtime.block_on(run::close(kiln))?;
        id.ok_or_else(|| format!("{} is not in the store", probe.display()))?
    };
    println!("health: probe asset {id} ({})", probe.display());

    let mut worst: Vec<(String, f64)> = Vec::new();
    match kiln_binary(args.kiln.as_deref()) {
        Some(kiln) => match time_binary(&kiln, &store, id) {
            Ok(timed) => worst.extend(timed),
            Err(e) => println!("binary: {e}; timing the library calls only"),
        },
        None => println!(
            "binary: no kiln binary next to this benchmark; build it with `cargo build --release` or pass --kiln PATH"
        ),
    }
    time_calls(&store, id, &args.config())?;
    if !worst.is_empty() {
        let fields: Vec<String> = worst
            .iter()
            .map(|(name, median)| format!("{name}_ms={median:.1}"))
            .collect();
        println!("{} (target < 100 each)", fields.join(" "));
    }

    print_tables("before re-imports", &database);
    let mut sizes = vec![file_size(&database)];
    for round in 1..=REIMPORTS {
        let (took, unchanged) = reimport(&store, &corpus, &args.config())?;
        let size = file_size(&database);
        println!(
            "re-import {round}: {:.1}s, {unchanged} files unchanged, kiln.redb {size} bytes, search index {} bytes",
            took.as_secs_f64(),
            dir_size(&store.join("search"))
        );
        sizes.push(size);
    }
    print_tables("after re-imports", &database);
    let listed: Vec<String> = sizes
        .iter()
        .map(|s| format!("{:.1}", *s as f64 / 1e6))
        .collect();
    println!("redb_mb={}", listed.join(","));
    Ok(())
}
