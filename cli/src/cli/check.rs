//! `kiln check` and `kiln repair`: whether a store is sound, and fixing
//! what can be derived again.

use super::args::{CheckArgs, GlobalArgs, UntilArg};
use super::import::drive;
use super::json::print;
use super::terminal::{eprint_line, print_line};
use super::{EXIT_ERROR, EXIT_OK, open};
use anyhow::Context;
use kiln::IndexHealth;
use kiln::Kiln;
use kiln::engine::{AssetId, BlobHealth, Config, DatabaseHealth, DatabaseState, Engine, Priority};
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, BTreeSet};

/// Everything `kiln check` found.
struct Findings {
    database: DatabaseHealth,
    /// Why opening started the search index afresh, if it did.
    index_rebuilt: Option<String>,
    blobs: Option<BlobHealth>,
    index: Option<IndexHealth>,
    dead: u64,
}

impl Findings {
    fn is_sound(&self) -> bool {
        self.database.state == DatabaseState::Sound
            && self.index_rebuilt.is_none()
            && self.blobs.as_ref().is_some_and(BlobHealth::is_sound)
            && self.index.as_ref().is_some_and(IndexHealth::is_sound)
    }
}

/// Looks at the database first, and at the rest only when the database can
/// be read.
fn inspect(global: &GlobalArgs, deep: bool) -> anyhow::Result<(Findings, Option<Kiln>)> {
    let database = Engine::check_database(&global.store, &Config::default())
        .with_context(|| format!("cannot check the store in {}", global.store.display()))?;
    let mut findings = Findings {
        database,
        index_rebuilt: None,
        blobs: None,
        index: None,
        dead: 0,
    };
    if let DatabaseState::Damaged(_) = findings.database.state {
        return Ok((findings, None));
    }
    let kiln = open(global)?;
    findings.index_rebuilt = kiln.index_started_afresh().map(ToString::to_string);
    findings.blobs = Some(kiln.engine().blob_health(deep)?);
    findings.index = Some(kiln.index_health()?);
    findings.dead = kiln.engine().status()?.jobs.dead;
    Ok((findings, Some(kiln)))
}

pub(crate) fn check(global: &GlobalArgs, args: &CheckArgs) -> anyhow::Result<i32> {
    let (findings, _kiln) = inspect(global, args.deep)?;
    if args.json {
        print(&findings_json(&findings));
    } else {
        report(&findings);
    }
    Ok(if findings.is_sound() {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

fn findings_json(f: &Findings) -> Json {
    let (state, detail) = match &f.database.state {
        DatabaseState::Sound => ("sound", None),
        DatabaseState::Repaired => ("repaired", None),
        DatabaseState::Damaged(detail) => ("damaged", Some(detail.clone())),
        _ => ("unknown", None),
    };
    let problems = |list: &[kiln::engine::BlobProblem]| -> Vec<Json> {
        list.iter()
            .map(|p| {
                json!({"asset": p.asset, "stage": p.stage, "artifact": p.artifact,
                       "path": p.path.to_string_lossy()})
            })
            .collect()
    };
    json!({
        "sound": f.is_sound(),
        "database": {
            "file": f.database.file.to_string_lossy(),
            "state": state,
            "detail": detail,
            "leases": f.database.leases,
            "engine_running": f.database.engine_running,
        },
        "blobs": f.blobs.as_ref().map(|b| json!({
            "checked": b.checked,
            "missing": problems(&b.missing),
            "corrupt": problems(&b.corrupt),
        })),
        "index": f.index.as_ref().map(|i| json!({
            "documents": i.documents,
            "missing": i.missing,
            "extra": i.extra,
            "rebuilt_on_open": f.index_rebuilt,
        })),
        "dead_letters": f.dead,
    })
}

fn report(f: &Findings) {
    let file = f.database.file.display();
    match &f.database.state {
        DatabaseState::Sound => print_line!("database  sound ({file})"),
        DatabaseState::Repaired => print_line!(
            "database  was damaged; redb rolled {file} back to its last sound commit (work after it is done again by `kiln run`)"
        ),
        DatabaseState::Damaged(detail) => {
            print_line!("database  DAMAGED: {file}: {detail}");
            print_line!(
                "          `kiln repair` says how to recover; nothing else can be checked until then"
            );
        }
        _ => print_line!("database  in an unknown state ({file})"),
    }
    if f.database.leases > 0 {
        if f.database.engine_running {
            print_line!(
                "leases    {} job(s) running in the kiln process that runs this store",
                f.database.leases
            );
        } else {
            print_line!(
                "leases    {} job(s) left leased by a kiln process that stopped; the next `kiln run` takes them back",
                f.database.leases
            );
        }
    }
    if let Some(blobs) = &f.blobs {
        if blobs.is_sound() {
            print_line!("blobs     {} present", blobs.checked);
        } else {
            print_line!(
                "blobs     {} checked: {} missing, {} damaged; `kiln repair` makes them again",
                blobs.checked,
                blobs.missing.len(),
                blobs.corrupt.len()
            );
            let listed = [("missing", &blobs.missing), ("damaged", &blobs.corrupt)];
            for (what, list) in listed {
                for p in list {
                    print_line!(
                        "          {what}: asset {} {} ({}): {}",
                        p.asset,
                        p.artifact,
                        p.stage,
                        p.path.display()
                    );
                }
            }
        }
    }
    if let Some(why) = &f.index_rebuilt {
        print_line!("index     could not be used ({why}); opening the store rebuilt it");
    }
    if let Some(index) = &f.index {
        if index.is_sound() {
            print_line!(
                "index     {} document(s), the same assets as the store",
                index.documents
            );
        } else {
            print_line!(
                "index     {} document(s): {} asset(s) missing, {} stray; `kiln repair` rebuilds it",
                index.documents,
                index.missing.len(),
                index.extra.len()
            );
        }
    }
    if f.dead > 0 {
        print_line!(
            "dead      {} dead letter(s): `kiln dead list` says why",
            f.dead
        );
    }
    print_line!(
        "{}",
        if f.is_sound() {
            "the store is sound"
        } else {
            "the store has problems"
        }
    );
}

pub(crate) async fn repair(global: &GlobalArgs) -> anyhow::Result<i32> {
    let (findings, kiln) = inspect(global, true)?;
    let Some(kiln) = kiln else {
        let DatabaseState::Damaged(detail) = &findings.database.state else {
            return Ok(EXIT_ERROR);
        };
        eprint_line!(
            "kiln: the store database {} is damaged and cannot be repaired in place: {detail}",
            findings.database.file.display()
        );
        eprint_line!(
            "kiln: everything in it is derived from your image files: move {} aside and import the folders it was built from into a new store.",
            global.store.display()
        );
        return Ok(EXIT_ERROR);
    };
    if findings.database.state == DatabaseState::Repaired {
        print_line!(
            "database: redb rolled {} back to its last sound commit",
            findings.database.file.display()
        );
    }
    if findings.index_rebuilt.is_some() || findings.index.as_ref().is_some_and(|i| !i.is_sound()) {
        let done = kiln
            .reindex()
            .context("rebuilding the search index failed")?;
        print_line!("index: rebuilt from the store ({} assets)", done.indexed);
    }
    let blobs = findings.blobs.unwrap_or_default();
    if blobs.is_sound() {
        print_line!("blobs: {} present, nothing to make again", blobs.checked);
        return Ok(EXIT_OK);
    }
    // A damaged blob must go before its stage writes it again: blobs are
    // named by their content, and one that exists is not rewritten.
    for p in &blobs.corrupt {
        std::fs::remove_file(&p.path)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            })
            .with_context(|| format!("cannot remove the damaged blob {}", p.path.display()))?;
    }
    let mut by_stage: BTreeMap<&str, BTreeSet<AssetId>> = BTreeMap::new();
    for p in blobs.missing.iter().chain(&blobs.corrupt) {
        by_stage.entry(&p.stage).or_default().insert(p.asset);
    }
    let engine = kiln.engine();
    let mut imports = Vec::new();
    for (stage, assets) in &by_stage {
        let assets: Vec<AssetId> = assets.iter().copied().collect();
        let (import, count) = engine
            .rerun(stage, Some(&assets), Priority::Interactive)
            .await
            .with_context(|| format!("cannot re-run {stage}"))?;
        print_line!("blobs: re-running {stage} for {count} asset(s)");
        imports.push(import);
    }
    // Later stages that failed for want of these blobs (a missing proxy)
    // get their attempts back.
    let touched: BTreeSet<AssetId> = by_stage.values().flatten().copied().collect();
    for letter in engine.dead_letters()? {
        if letter.asset_id.is_some_and(|a| touched.contains(&a)) {
            engine.retry_dead(letter.job_id).await?;
        }
    }
    drive(&kiln, global, Some(imports), UntilArg::All).await
}
