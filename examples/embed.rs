//! Embedding kiln in an app: open a store, import a folder, wait until it
//! is searchable, search it, shut down cleanly.
//!
//! `cargo run --example embed -- [FOLDER] [STORE]`
//!
//! `FOLDER` defaults to `samples`; `STORE` to a fresh folder under the
//! system's temporary directory, removed at the end. Given a `STORE` that
//! already holds work (say, of an import that was killed), the import
//! resumes it: the wait includes that work.

use kiln::engine::{Priority, Tier, Until};
use kiln::{Kiln, SortBy};
use std::path::PathBuf;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let folder = args
        .next()
        .map_or_else(|| PathBuf::from("samples"), PathBuf::from);
    let (store, temporary) = match args.next() {
        Some(store) => (PathBuf::from(store), false),
        None => {
            let dir = std::env::temp_dir().join(format!("kiln-embed-{}", std::process::id()));
            (dir, true)
        }
    };

    // The built-in stages, the search index and the enrichment rule the
    // `kiln` command uses; `.plugins([...])`, `.stage(...)` and
    // `.enrichment(...)` change them.
    let kiln = Kiln::builder(&store).open()?;
    let import = kiln.import(&folder, Priority::Batch).await?;

    // Runs the workers until every file of the import can be searched.
    kiln.run_until(Until::Tier {
        tier: Tier::Searchable,
        imports: Some(vec![import]),
    })
    .await?;

    let results = kiln.search("lighthouse", SortBy::Relevance, 100)?;
    println!("{} matching `lighthouse`", results.total);
    for hit in &results.hits {
        println!("{}", hit.path);
    }

    // Stops the workers and makes the index durable.
    kiln.shutdown().await?;
    if temporary {
        std::fs::remove_dir_all(&store)?;
    }
    Ok(())
}
