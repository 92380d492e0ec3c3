//! `kiln serve` benchmark: the real binary serving its gallery to a
//! headless Chromium, every figure compared with a baseline of the same
//! run.
//!
//! ```text
//! cargo build --release -p kiln-cli -p kiln-bench
//! cargo run --release -p kiln-bench --bin serve_bench -- [--work DIR] [--kiln PATH]
//!     [--files N] [--from DIR] [--rounds R] [--sizes SMALL,LARGE] [--no-scroll]
//!     [--idle-secs S] [--samples DIR] [--only import|gallery|idle]
//!     [--page PATH] [--block-thumbnails]
//! ```
//!
//! 1. Import (`import`): `N` (500) real-size PNGs imported by `kiln serve
//!    DIR` with the gallery open in Chromium from the start, against `kiln
//!    import DIR` without a server (and at the priority the server imports
//!    at, and the server with no page), `R` (5) rounds with the sides'
//!    order alternating; medians.
//!    Targets: first thumbnail drawn within 1 s; browsable with the server
//!    at most 1.1 times without.
//! 2. Gallery (`gallery`): stores of SMALL and LARGE (5,000 and 50,000)
//!    assets made with stand-in stages, served with no folders: first
//!    paint, the server's memory after a scroll through the whole grid,
//!    `/api/assets` and search latency against the same reads made
//!    in-process, the large store against the small. Targets: listing p99
//!    at most 20 ms; peak memory after the scroll growing by less than
//!    0.2 KB per asset.
//! 3. Idle (`idle`): CPU clock ticks of an idle `kiln serve` over `S` (30)
//!    seconds, on an empty store and watching the samples, beside an idle
//!    `kiln watch`. Target: at most 0.1% of a core.
//!
//! For diagnosis, `--page PATH` opens another page of the server than the
//! gallery during the import (`/status`), and `--block-thumbnails` keeps
//! the browser from loading thumbnails there.
//!
//! Each part ends with a `key=value` line. Corpora and stores are kept in
//! `--work` for the next run (the stand-in stores take minutes to build);
//! without it a temporary folder is used. The `kiln` binary is the one next
//! to this benchmark (`cargo build --release -p kiln-cli`) or `--kiln`.

mod gallery;
mod http;
mod idle;
mod import;
mod page;
mod server;

use kiln_bench::args::{number, path};
use kiln_bench::work::{Work, kiln_binary};
use std::path::PathBuf;

/// Everything the command line can ask for.
#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) kiln: PathBuf,
    pub(crate) work: Option<PathBuf>,
    pub(crate) files: usize,
    pub(crate) from: Option<PathBuf>,
    pub(crate) rounds: usize,
    pub(crate) sizes: (u64, u64),
    pub(crate) scroll: bool,
    pub(crate) idle_secs: u64,
    pub(crate) samples: PathBuf,
    pub(crate) only: Option<String>,
    /// Diagnosis: the page the browser opens during the import.
    pub(crate) page: String,
    /// Diagnosis: the browser loads no thumbnails during the import.
    pub(crate) block_thumbnails: bool,
}

const USAGE: &str = "usage: serve_bench [--work DIR] [--kiln PATH] [--files N] [--from DIR] \
                     [--rounds R] [--sizes SMALL,LARGE] [--no-scroll] [--idle-secs S] \
                     [--samples DIR] [--only import|gallery|idle] [--page PATH] \
                     [--block-thumbnails]";

fn parse_args() -> Result<Args, String> {
    let mut kiln = None;
    let mut args = Args {
        kiln: PathBuf::new(),
        work: None,
        files: 500,
        from: None,
        rounds: 5,
        sizes: (5_000, 50_000),
        scroll: true,
        idle_secs: 30,
        samples: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples"),
        only: None,
        page: "/".to_owned(),
        block_thumbnails: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--kiln" => kiln = Some(path(it.next(), "--kiln")?),
            "--work" => args.work = Some(path(it.next(), "--work")?),
            "--files" => args.files = number::<usize>(it.next(), "--files")?.max(1),
            "--from" => args.from = Some(path(it.next(), "--from")?),
            "--rounds" => args.rounds = number::<usize>(it.next(), "--rounds")?.max(1),
            "--sizes" => {
                let text = it.next().unwrap_or_default();
                let (a, b) = text.split_once(',').ok_or("--sizes needs SMALL,LARGE")?;
                args.sizes = (
                    number(Some(a.to_owned()), "--sizes")?,
                    number(Some(b.to_owned()), "--sizes")?,
                );
                if args.sizes.0 == 0 || args.sizes.0 >= args.sizes.1 {
                    return Err("--sizes needs 0 < SMALL < LARGE".to_owned());
                }
            }
            "--no-scroll" => args.scroll = false,
            "--page" => {
                args.page = it
                    .next()
                    .filter(|p| p.starts_with('/'))
                    .ok_or("--page needs a path")?;
            }
            "--block-thumbnails" => args.block_thumbnails = true,
            "--idle-secs" => args.idle_secs = number::<u64>(it.next(), "--idle-secs")?.max(1),
            "--samples" => args.samples = path(it.next(), "--samples")?,
            "--only" => {
                let part = it.next().unwrap_or_default();
                if !["import", "gallery", "idle"].contains(&part.as_str()) {
                    return Err("--only takes import, gallery or idle".to_owned());
                }
                args.only = Some(part);
            }
            other => return Err(format!("unknown argument {}", other.escape_debug())),
        }
    }
    args.kiln = kiln_binary(kiln.as_deref()).ok_or(
        "no kiln binary next to this benchmark: build it with `cargo build --release -p kiln-cli` or pass --kiln PATH",
    )?;
    Ok(args)
}

/// Milliseconds from seconds.
pub(crate) fn ms(seconds: f64) -> f64 {
    seconds * 1000.0
}

/// Seconds with three decimals, for `key=value` lines.
pub(crate) fn secs(seconds: f64) -> String {
    format!("{seconds:.3}")
}

fn run(args: &Args) -> Result<(), String> {
    if kiln_testkit::browser::available().is_none() {
        return Err(
            "no Chromium: install Debian's `chromium` or set KILN_CHROMIUM to its executable"
                .to_owned(),
        );
    }
    let work = Work::open(args.work.as_deref())?;
    println!(
        "kiln binary: {}; work folder: {}",
        args.kiln.display(),
        work.path().display()
    );
    let wanted = |part: &str| args.only.as_deref().is_none_or(|only| only == part);
    let mut lines = Vec::new();
    if wanted("import") {
        lines.push(import::run(args, work.path())?);
    }
    if wanted("gallery") {
        lines.push(gallery::run(args, work.path())?);
    }
    if wanted("idle") {
        lines.push(idle::run(args, work.path())?);
    }
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("serve_bench: {message}");
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(message) = run(&args) {
        eprintln!("serve_bench: {message}");
        std::process::exit(1);
    }
}
