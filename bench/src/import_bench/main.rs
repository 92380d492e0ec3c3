//! Import benchmark: a whole import of real-size images through every tier,
//! an urgent upload in the middle of it, memory at scale and the store's
//! health at 50,000 assets.
//!
//! ```text
//! cargo run --release -p kiln-bench --bin import_bench -- [--files N] [--from DIR] [--threads T]
//! cargo run --release -p kiln-bench --bin import_bench -- --scale [--health] [--work DIR]
//! cargo run --release -p kiln-bench --bin import_bench -- --health [--work DIR] [--kiln PATH]
//! ```
//!
//! The default run builds a corpus of `N` real-size PNG files (cycled from
//! `--from` with one unique text chunk each, or generated), times three
//! urgent files alone on an idle engine, then runs three rounds of a
//! decode-floor pass with the same thread count (see `tier1_bench`) and an
//! import of the corpus as a batch, on a fresh store with every built-in
//! stage, submitting the three files at interactive priority while the
//! batch is still in tier 1. The best import is compared with the best floor
//! pass, as `tier1_bench` does, and the median import is printed too; the
//! urgent files' medians are compared. Its last line is
//! `files=<N> browsable_s=<A> searchable_s=<B> enriched_s=<C> interactive_s=<D> idle_s=<E> interactive_ratio=<D/E> peak_rss_mb=<M>`.
//!
//! `--scale` imports 5,000 and then 50,000 small generated images, each in
//! a fresh child process (peak RSS is a high-water mark), and prints
//! `rss_5k_mb=<A> rss_50k_mb=<B> ratio=<B/A>`. `--health` times `kiln
//! status`, `kiln show` and `kiln search` on the 50,000-asset store and
//! re-imports its folder ten times, printing the redb file's size after each.

mod batch;
mod health;
mod run;
mod scale;

use kiln_bench::args::{number, path};
use kiln_bench::work::Work;
use std::path::PathBuf;

/// Everything the command line can ask for.
pub(crate) struct Args {
    /// Files in the real-size corpus.
    pub(crate) files: usize,
    /// Folder of PNG files to cycle; generated when absent.
    pub(crate) from: Option<PathBuf>,
    /// Worker threads for the engine and the decode floor.
    pub(crate) threads: usize,
    /// Measure peak memory at two import sizes.
    pub(crate) scale: bool,
    /// Time the commands and re-imports on the large store.
    pub(crate) health: bool,
    /// Where corpora and stores are kept between runs; a temporary folder
    /// (removed at the end) when absent.
    pub(crate) work: Option<PathBuf>,
    /// The small and the large import of `--scale`.
    pub(crate) scale_sizes: (usize, usize),
    /// Side of the generated images of `--scale`.
    pub(crate) small_side: u32,
    /// The `kiln` binary timed by `--health`.
    pub(crate) kiln: Option<PathBuf>,
    /// Diagnosis: the engine's idle poll period (how often a busy engine
    /// looks for interactive work); the engine's default when absent.
    pub(crate) idle_poll: Option<std::time::Duration>,
    /// Diagnosis: the engine's background commit window (how long a commit
    /// of batch completions is gathered); the engine's default when absent.
    pub(crate) background_window: Option<std::time::Duration>,
    /// Hidden: import this folder into `child_store` and report memory.
    pub(crate) child_import: Option<PathBuf>,
    /// Hidden: the store of `child_import`.
    pub(crate) child_store: Option<PathBuf>,
}

impl Args {
    /// The engine configuration of every store the benchmark opens: the
    /// one `kiln import` uses by default (its tier-3 gate included), with
    /// `--threads` workers.
    pub(crate) fn config(&self) -> kiln::engine::Config {
        let mut config = kiln::engine::Config {
            workers: self.threads,
            ..kiln::engine::Config::default()
        };
        if let Some(poll) = self.idle_poll {
            config.idle_poll = poll;
        }
        if let Some(window) = self.background_window {
            config.background_commit_window = window;
        }
        config.gate.rule = Some(kiln::enrichment_rule(kiln::EnrichmentCriteria::default()));
        config
    }
}

const USAGE: &str = "usage: import_bench [--files N] [--from DIR] [--threads T] \
                     [--scale] [--health] [--work DIR] [--scale-sizes SMALL,LARGE] \
                     [--small-side PX] [--kiln PATH] [--idle-poll-ms MS] \
                     [--background-window-ms MS]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        files: 500,
        from: None,
        threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        scale: false,
        health: false,
        work: None,
        scale_sizes: (5_000, 50_000),
        small_side: 64,
        kiln: None,
        idle_poll: None,
        background_window: None,
        child_import: None,
        child_store: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--files" => args.files = number::<usize>(it.next(), "--files")?.max(1),
            "--from" => args.from = Some(path(it.next(), "--from")?),
            "--threads" => args.threads = number::<usize>(it.next(), "--threads")?.max(1),
            "--scale" => args.scale = true,
            "--health" => args.health = true,
            "--work" => args.work = Some(path(it.next(), "--work")?),
            "--scale-sizes" => args.scale_sizes = pair(it.next())?,
            "--small-side" => {
                let side: usize = number(it.next(), "--small-side")?;
                args.small_side = u32::try_from(side.max(8)).map_err(|e| e.to_string())?;
            }
            "--idle-poll-ms" => {
                let ms: u64 = number(it.next(), "--idle-poll-ms")?;
                args.idle_poll = Some(std::time::Duration::from_millis(ms));
            }
            "--background-window-ms" => {
                let ms: u64 = number(it.next(), "--background-window-ms")?;
                args.background_window = Some(std::time::Duration::from_millis(ms));
            }
            "--kiln" => args.kiln = Some(path(it.next(), "--kiln")?),
            "--child-import" => args.child_import = Some(path(it.next(), "--child-import")?),
            "--child-store" => args.child_store = Some(path(it.next(), "--child-store")?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn pair(value: Option<String>) -> Result<(usize, usize), String> {
    let text = value.unwrap_or_default();
    let (small, large) = text
        .split_once(',')
        .ok_or("--scale-sizes needs SMALL,LARGE")?;
    Ok((
        number(Some(small.to_owned()), "--scale-sizes")?,
        number(Some(large.to_owned()), "--scale-sizes")?,
    ))
}

fn main() {
    // The same allocator setting the `kiln` command makes, so the figures
    // are those of `kiln import`.
    kiln_cli::memory::one_malloc_arena();
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("import_bench: {message}");
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let result = if let (Some(corpus), Some(store)) = (&args.child_import, &args.child_store) {
        scale::child(corpus, store, &args)
    } else {
        Work::open(args.work.as_deref()).and_then(|work| {
            if args.scale || args.health {
                if args.scale {
                    scale::run(&args, &work)?;
                }
                if args.health {
                    health::run(&args, &work)?;
                }
                Ok(())
            } else {
                batch::run(&args, &work)
            }
        })
    };
    if let Err(message) = result {
        eprintln!("import_bench: {message}");
        std::process::exit(1);
    }
}
