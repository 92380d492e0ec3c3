//! `kiln import`, `kiln run` and `kiln rerun`: enqueue, process with live
//! progress, report.

use super::args::{GlobalArgs, ImportArgs, PriorityArg, RerunArgs, RunArgs, UntilArg};
use super::progress::{Display, Renderer};
use super::signals::stop_requested;
use super::terminal::{eprint_line, print_line};
use super::{EXIT_DEAD, EXIT_ERROR, EXIT_OK};
use anyhow::Context;
use kiln::engine::{
    AssetId, Engine, ImportId, ImportInfo, ImportOptions, Priority, UnreadableFolder, Until,
};
use kiln::{Kiln, SortBy};

pub(crate) fn priority(p: PriorityArg) -> Priority {
    match p {
        PriorityArg::Interactive => Priority::Interactive,
        PriorityArg::Batch => Priority::Batch,
        PriorityArg::Background => Priority::Background,
    }
}

pub(crate) async fn import(
    kiln: &Kiln,
    global: &GlobalArgs,
    args: &ImportArgs,
) -> anyhow::Result<i32> {
    let engine = kiln.engine();
    for path in &args.paths {
        if std::fs::symlink_metadata(path).is_err() {
            eprint_line!(
                "kiln: {}: no such file or folder; nothing was imported",
                path.display()
            );
            return Ok(EXIT_ERROR);
        }
    }
    if !engine.is_primary() && !global.quiet {
        eprint_line!(
            "kiln: another kiln process is working on {}; handing it these files and waiting for them",
            global.store.display()
        );
    }
    let mut ids = Vec::with_capacity(args.paths.len());
    for path in &args.paths {
        let mut options = ImportOptions::new(priority(args.priority));
        options.budget = args.enrich_budget;
        let id = engine
            .import_with(path, options)
            .await
            .with_context(|| format!("cannot import {}", path.display()))?;
        ids.push(id);
    }
    if args.detach {
        wait_for_walks(engine, &ids).await?;
        if !global.quiet {
            print_line!(
                "queued {} import(s); process them with `kiln --store {} run`",
                ids.len(),
                global.store.display()
            );
        }
        return Ok(EXIT_OK);
    }
    let code = drive(kiln, global, Some(ids), args.until).await?;
    if matches!(code, EXIT_OK | EXIT_DEAD) {
        take_sidecars(engine, global, &args.paths).await?;
    }
    Ok(code)
}

/// Takes the rating and keywords of XMP sidecars beside the imported
/// files as the curation of contents that have none yet; a sidecar that
/// cannot be read is a warning about that file.
async fn take_sidecars(
    engine: &Engine,
    global: &GlobalArgs,
    roots: &[std::path::PathBuf],
) -> anyhow::Result<()> {
    let found = kiln::xmp::take_sidecars(engine, roots)
        .await
        .context("cannot take curation from sidecars")?;
    for (sidecar, why) in &found.problems {
        eprint_line!("kiln: warning: sidecar {}: {why}", sidecar.display());
    }
    if found.taken > 0 && !global.quiet {
        print_line!(
            "took ratings and keywords from {} sidecar(s) (.xmp) for content not curated yet",
            found.taken
        );
    }
    Ok(())
}

pub(crate) async fn run(kiln: &Kiln, global: &GlobalArgs, args: &RunArgs) -> anyhow::Result<i32> {
    let engine = kiln.engine();
    if !engine.is_primary() && !global.quiet {
        eprint_line!(
            "kiln: another kiln process is already processing {}; waiting for it",
            global.store.display()
        );
    }
    drive(kiln, global, None, args.until).await
}

/// Enqueues `args.stage` again for every active asset, or for the assets
/// `args.query` matches, and processes the re-run as `run` does.
pub(crate) async fn rerun(
    kiln: &Kiln,
    global: &GlobalArgs,
    args: &RerunArgs,
) -> anyhow::Result<i32> {
    let engine = kiln.engine();
    if !engine.stages().iter().any(|s| s.name == args.stage) {
        eprint_line!(
            "kiln: no stage named {:?}; `kiln stages` lists them",
            args.stage
        );
        return Ok(EXIT_ERROR);
    }
    let assets = match &args.query {
        None => None,
        Some(query) => {
            // Every hit: the total says how many there are.
            let total = kiln.search(query, SortBy::Relevance, 1)?.total;
            let limit = total.max(1);
            let hits = kiln.search(query, SortBy::Relevance, limit)?.hits;
            Some(hits.iter().map(|h| h.id).collect::<Vec<AssetId>>())
        }
    };
    if assets.as_ref().is_some_and(Vec::is_empty) {
        // Nothing matches: no import to create and nothing to wait for.
        if !global.quiet {
            print_line!("enqueued 0 job(s) of {}", args.stage);
        }
        return Ok(EXIT_OK);
    }
    let (import, count) = engine
        .rerun(&args.stage, assets.as_deref(), priority(args.priority))
        .await
        .with_context(|| format!("cannot re-run {}", args.stage))?;
    if !global.quiet {
        print_line!("enqueued {count} job(s) of {}", args.stage);
    }
    drive(kiln, global, Some(vec![import]), args.until).await
}

/// With `--detach`, each folder walk runs until every file is queued or the
/// queue reaches its high watermark; `kiln run` resumes a walk that paused.
async fn wait_for_walks(engine: &Engine, ids: &[ImportId]) -> anyhow::Result<()> {
    for id in ids {
        engine.wait_intake(*id).await?;
    }
    Ok(())
}

/// Runs the workers until the imports (all, when `None`) reach `until`,
/// drawing progress. Waiting goes through the handle, so it also covers
/// the earlier unfinished imports a re-import resumes (after a crash, the
/// jobs that make a re-imported folder's files searchable are theirs), and
/// the search index is current when it returns. The summary still counts
/// only the imports asked for.
pub(crate) async fn drive(
    kiln: &Kiln,
    global: &GlobalArgs,
    imports: Option<Vec<ImportId>>,
    until: UntilArg,
) -> anyhow::Result<i32> {
    let engine = kiln.engine();
    let target = Until::Tier {
        tier: until.tier(),
        imports: imports.clone(),
    };
    let renderer = Renderer::start(
        engine.subscribe(),
        imports.clone(),
        until.tier(),
        Display::choose(global.quiet),
    );
    let outcome = tokio::select! {
        result = kiln.run_until(target) => Ok(result),
        stop = stop_requested() => Err(stop),
    };
    renderer.finish(engine.progress().ok()).await;
    let result = match outcome {
        Ok(result) => result,
        Err(stop) => {
            engine.shutdown().await;
            eprint_line!(
                "kiln: stopped by {}; running jobs were finished or released and nothing is lost. \
                 Resume with `kiln --store {} run`",
                stop.describe(),
                global.store.display()
            );
            return Ok(stop.exit_code());
        }
    };
    result.context("processing stopped")?;
    summarize(engine, global, imports.as_deref())
}

/// How many assets of these imports the gate kept from the guarded tiers:
/// their skipped guarded jobs over the number of guarded stages.
fn gated_assets(engine: &Engine, imports: &[&ImportInfo]) -> u64 {
    let gate_tier = engine.config().gate.tier;
    let guarded = engine
        .stages()
        .iter()
        .filter(|s| s.tier >= gate_tier.number())
        .count() as u64;
    let skipped: u64 = imports
        .iter()
        .flat_map(|i| i.tiers.iter())
        .filter(|(tier, _)| **tier >= gate_tier)
        .map(|(_, c)| c.skipped)
        .sum();
    skipped / guarded.max(1)
}

fn summarize(
    engine: &Engine,
    global: &GlobalArgs,
    imports: Option<&[ImportId]>,
) -> anyhow::Result<i32> {
    let status = engine.status()?;
    let ours: Vec<_> = status
        .imports
        .iter()
        .filter(|i| imports.is_none_or(|ids| ids.contains(&i.id)))
        .collect();
    let files: u64 = ours.iter().map(|i| i.files_seen).sum();
    let unchanged: u64 = ours.iter().map(|i| i.files_unchanged).sum();
    let dead: u64 = ours.iter().map(|i| i.jobs().dead).sum();
    if !global.quiet {
        let mut line = format!("done: {files} file(s)");
        if unchanged > 0 {
            line.push_str(&format!(" ({unchanged} unchanged since the last import)"));
        }
        line.push_str(&format!(
            "; the store holds {} asset(s) from {} file(s)",
            status.assets, status.files
        ));
        let gated = gated_assets(engine, &ours);
        if gated > 0 {
            line.push_str(&format!(
                "; {gated} asset(s) skipped tier 3 (`kiln show` says why)"
            ));
        }
        print_line!("{line}");
    }
    if dead > 0 && global.verbose {
        for letter in engine.dead_letters()? {
            eprint_line!(
                "dead: {} [{}]: {}",
                letter.path,
                letter.stage,
                letter.last_error
            );
        }
    }
    let unreadable: Vec<&UnreadableFolder> = ours
        .iter()
        .flat_map(|i| i.unreadable_folders.iter())
        .collect();
    report_unreadable(&unreadable);
    if dead > 0 {
        eprint_line!(
            "kiln: {dead} job(s) ended in the dead-letter table; every other file completed. \
             See why with `kiln --store {} dead list`",
            global.store.display()
        );
    }
    Ok(if dead > 0 || !unreadable.is_empty() {
        EXIT_DEAD
    } else {
        EXIT_OK
    })
}

/// Says which folders could not be read, each with why: their files were
/// not imported. Printed even with `-q`, as errors are.
pub(crate) fn report_unreadable(folders: &[&UnreadableFolder]) {
    if folders.is_empty() {
        return;
    }
    eprint_line!(
        "kiln: {} folder(s) could not be read; their files were not imported:",
        folders.len()
    );
    for folder in folders {
        eprint_line!("kiln:   {}: {}", folder.path, folder.reason);
    }
}
