//! The command line: parsing, dispatch, exit codes.
//!
//! Exit status: 0 when everything asked for completed, 3 when some files ended
//! in the dead-letter table or were in a folder that could not be read (all
//! others completed), 1 on a usage or store
//! error, 128 plus the signal's number when stopped by SIGINT (130, Ctrl-C),
//! SIGHUP (129) or SIGTERM (143), 141 when the reader of its output went
//! away.

mod args;
mod check;
mod curation;
mod import;
mod json;
mod model;
mod plugin_log;
mod progress;
mod report;
mod search;
mod serve;
mod signals;
mod terminal;
mod watch;

use args::{Cli, Command, DeadAction, GlobalArgs, ModelAction};
use clap::Parser;
use kiln::Kiln;
use terminal::eprint_line;

/// Everything completed.
pub(crate) const EXIT_OK: i32 = 0;
/// A usage or store error.
pub(crate) const EXIT_ERROR: i32 = 1;
/// Some files ended in dead letter, or were in a folder that could not be
/// read.
pub(crate) const EXIT_DEAD: i32 = 3;

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
            eprint_line!("kiln: cannot start the async runtime: {e}");
            return EXIT_ERROR;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprint_line!("kiln: {}", error_text(&e));
            EXIT_ERROR
        }
    }
}

/// An error and its causes on one line, each said once: a cause whose text
/// the message already holds (an error that quotes its source, as most of
/// kiln's do) is not repeated.
fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// The exit status of a command whose output reader went away (`kiln
/// assets | head`): what a shell reports for a process ended by SIGPIPE.
const EXIT_BROKEN_PIPE: i32 = 141;

/// A panic is a bug in kiln, never the user's fault: say so in one line,
/// without a backtrace. A panic the engine contains (a damaged database
/// file) is not one: the engine reports it as an error.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        // The engine catches this one and reports it as damage to the
        // store's database, naming the file.
        if kiln::engine::panic_is_contained() {
            return;
        }
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
        eprint_line!(
            "kiln: internal error{place}: {message}. Nothing stored was lost; please report this."
        );
    }));
}

fn open(global: &GlobalArgs) -> anyhow::Result<Kiln> {
    kiln::stages::memory::set_budget(global.memory);
    let mut config = kiln::engine::Config::default();
    if let Some(workers) = global.workers {
        config.workers = usize::from(workers);
    }
    let kiln = Kiln::builder(&global.store)
        .config(config)
        .plugins(&global.plugins)
        .replace(&global.replace_stages)
        .enrichment(kiln::EnrichmentCriteria {
            min_side: global.enrich_min_side,
            require_generation: global.enrich_require_generation,
        })
        .open()?;
    if let Some(why) = kiln.index_started_afresh() {
        eprint_line!(
            "kiln: the search index in {} could not be used, so it was rebuilt from the store: {why}",
            kiln.index().dir().display()
        );
    }
    Ok(kiln)
}

async fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let global = &cli.global;
    if let Command::Stages(a) = &cli.command
        && a.schema
    {
        // The built-in schema is the same for every store: open none.
        return Ok(report::schema(a.json));
    }
    // Before the plugins load: a plugin may log while it is opened.
    plugin_log::install(global.verbose);
    // These look at the database before opening the store, which a damaged
    // database would not allow.
    match &cli.command {
        Command::Check(a) => return check::check(global, a),
        Command::Model(m) => {
            if let ModelAction::Embed(args) = &m.action
                && let Some(dir) = &args.pack
            {
                return model::embed_pack(dir, args, global);
            }
        }
        Command::Repair => return check::repair(global).await,
        _ => {}
    }
    let kiln = open(global)?;
    if let Command::Serve(args) = &cli.command {
        // The server shares the handle with its request handlers and shuts
        // it down itself.
        return serve::serve(kiln, global, args).await;
    }
    let engine = kiln.engine();
    let code = match &cli.command {
        Command::Import(args) => import::import(&kiln, global, args).await?,
        Command::Run(args) => import::run(&kiln, global, args).await?,
        Command::Rerun(args) => import::rerun(&kiln, global, args).await?,
        Command::Status(a) => report::status(engine, a.json)?,
        Command::Show(a) if a.raw => report::show_raw(&kiln, &a.asset)?,
        Command::Show(a) => report::show(&kiln, &a.asset, a.json)?,
        Command::Assets(a) => report::assets(engine, a.json)?,
        Command::Stages(a) => report::stages(&kiln, a.json)?,
        Command::Search(a) => search::search(&kiln, a)?,
        Command::Similar(a) => search::similar_cmd(&kiln, a)?,
        Command::Sessions(a) => search::sessions_cmd(&kiln, a.json)?,
        Command::Reindex(a) => search::reindex(&kiln, a.json)?,
        Command::Watch(a) => watch::watch(engine, global, a).await?,
        Command::Model(m) => model::model(&kiln, global, &m.action).await?,
        Command::Rate(a) => curation::rate(&kiln, a).await?,
        Command::Favorite(a) => curation::favorite(&kiln, a).await?,
        Command::Tag(a) => curation::tag(&kiln, a).await?,
        Command::Collection(c) => curation::collection(&kiln, &c.action).await?,
        Command::Curation(c) => curation::curation(&kiln, &c.action).await?,
        Command::Cull(a) => curation::cull(&kiln, a).await?,
        Command::Check(_) | Command::Repair | Command::Serve(_) => EXIT_ERROR,
        Command::Dead(d) => match &d.action {
            DeadAction::List(a) => report::dead_list(engine, a.json)?,
            DeadAction::Retry { id, all, json } => {
                report::dead_retry(engine, *id, *all, *json).await?
            }
            DeadAction::Purge(a) => report::dead_purge(engine, a.json).await?,
        },
    };
    kiln.shutdown().await?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::error_text;
    use anyhow::Context;

    #[test]
    fn a_cause_the_message_already_quotes_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "Permission denied");
        let quoting = Err::<(), _>(io)
            .with_context(|| "cannot open store at /s: Permission denied".to_owned())
            .context("cannot open the store in /s: cannot open store at /s: Permission denied");
        assert_eq!(
            error_text(&quoting.unwrap_err()),
            "cannot open the store in /s: cannot open store at /s: Permission denied"
        );
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let chained = Err::<(), _>(io).context("cannot list assets");
        assert_eq!(
            error_text(&chained.unwrap_err()),
            "cannot list assets: No such file"
        );
    }
}
