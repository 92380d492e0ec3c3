//! The command line: parsing, dispatch, exit codes.
//!
//! Exit status: 0 when everything asked for completed, 3 when some files ended
//! in the dead-letter table (all others completed), 1 on a usage or store
//! error, 130 when interrupted with Ctrl-C, 141 when the reader of its output
//! went away.

mod args;
mod import;
mod json;
mod progress;
mod report;
mod search;
mod watch;

use args::{Cli, Command, DeadAction, GlobalArgs};
use clap::Parser;
use kiln::engine::Engine;
use kiln::{StageSource, StoreOptions};

/// Everything completed.
pub(crate) const EXIT_OK: i32 = 0;
/// A usage or store error.
pub(crate) const EXIT_ERROR: i32 = 1;
/// Some files ended in dead letter.
pub(crate) const EXIT_DEAD: i32 = 3;
/// Stopped by Ctrl-C.
pub(crate) const EXIT_INTERRUPTED: i32 = 130;

/// Runs the command line and returns the process exit status.
pub(crate) fn main() -> i32 {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kiln: cannot start the async runtime: {e}");
            return EXIT_ERROR;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kiln: {e:#}");
            EXIT_ERROR
        }
    }
}

/// The exit status of a command whose output reader went away (`kiln
/// assets | head`): what a shell reports for a process ended by SIGPIPE.
const EXIT_BROKEN_PIPE: i32 = 141;

/// A panic is a bug in kiln, never the user's fault: say so in one line,
/// without a backtrace.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_owned());
        // Printing to a closed pipe is the reader's choice, not a fault:
        // stop quietly, as other command-line tools do. Work already done is
        // durable, and leases still held are reclaimed by the next open.
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(EXIT_BROKEN_PIPE);
        }
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "kiln: internal error{place}: {message}. Nothing stored was lost; please report this."
        );
    }));
}

/// An opened store and where each of its stages came from.
pub(crate) struct Opened {
    pub(crate) engine: Engine,
    pub(crate) sources: Vec<(String, StageSource)>,
}

fn open(global: &GlobalArgs) -> anyhow::Result<Opened> {
    let mut options = StoreOptions {
        plugins: global.plugins.clone(),
        replace: global.replace_stages.clone(),
        ..StoreOptions::default()
    };
    options.config.gate.rule = Some(kiln::enrich_rule(kiln::stages::embed::Tier3Gate {
        min_side: global.enrich_min_side,
        require_generation: global.enrich_require_generation,
    }));
    let (engine, sources) = kiln::open_store(&global.store, options)?;
    Ok(Opened { engine, sources })
}

async fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let global = &cli.global;
    let opened = open(global)?;
    let code = match &cli.command {
        Command::Import(args) => import::import(&opened.engine, global, args).await?,
        Command::Run(args) => import::run(&opened.engine, global, args).await?,
        Command::Status(a) => report::status(&opened.engine, a.json)?,
        Command::Show(a) => report::show(&opened.engine, &a.asset, a.json)?,
        Command::Assets(a) => report::assets(&opened.engine, a.json)?,
        Command::Stages(a) => report::stages(&opened, a.json)?,
        Command::Search(a) => search::search(&opened.engine, a)?,
        Command::Similar(a) => search::similar_cmd(&opened.engine, a)?,
        Command::Sessions(a) => search::sessions_cmd(&opened.engine, a.json)?,
        Command::Reindex(a) => search::reindex(&opened.engine, a.json)?,
        Command::Watch(a) => watch::watch(&opened.engine, global, a).await?,
        Command::Dead(d) => match &d.action {
            DeadAction::List(a) => report::dead_list(&opened.engine, a.json)?,
            DeadAction::Retry { id, all, json } => {
                report::dead_retry(&opened.engine, *id, *all, *json).await?
            }
            DeadAction::Purge(a) => report::dead_purge(&opened.engine, a.json).await?,
        },
    };
    opened.engine.shutdown().await;
    kiln::search::finish(&opened.engine)?;
    Ok(code)
}
