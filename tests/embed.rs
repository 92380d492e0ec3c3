//! `examples/embed.rs`, the README's embedding journey, run as a real child
//! process: on the samples it prints the paths of the lighthouse pictures;
//! killed part way through a large import and run again on the same store,
//! it still finds every one of them, the interrupted import's work
//! included.

use kiln::engine::Tier;
use kiln::engine::{Config, Engine, Until};
use kiln_testkit::kill::{Fate, kill_after};
use kiln_testkit::{cargo, corpus};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// The files of `folder` a search for `lighthouse` must find, judged
/// without kiln: those whose bytes name a lighthouse (in their prompt). A
/// truncated copy still carries its metadata, so it is searchable although
/// it never gets a thumbnail.
fn lighthouse_files(folder: &Path) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(folder).expect("the folder is readable") {
        let path = entry.expect("a folder entry").path();
        let bytes = std::fs::read(&path).expect("the file is readable");
        if bytes.windows(10).any(|w| w == b"lighthouse") {
            found.insert(path.canonicalize().expect("the file exists"));
        }
    }
    found
}

/// The hit paths the example printed after its `N matching` line.
fn printed_hits(out: &Output) -> BTreeSet<PathBuf> {
    assert!(
        out.status.success(),
        "the embed example failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.ends_with("matching `lighthouse`"),
        "unexpected output:\n{stdout}"
    );
    let hits: BTreeSet<PathBuf> = lines.map(PathBuf::from).collect();
    let total: usize = header
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {header:?}"));
    assert_eq!(total, hits.len(), "every hit is printed:\n{stdout}");
    hits
}

fn embed(folder: &Path, store: Option<&Path>) -> Command {
    // Built once per test binary into this test's target directory and profile.
    let mut cmd = Command::new(cargo::example("kiln", "embed"));
    cmd.arg(folder);
    if let Some(store) = store {
        cmd.arg(store);
    }
    cmd
}

#[test]
fn the_embed_example_finds_the_lighthouse_samples() {
    let expected = lighthouse_files(&samples_dir());
    assert!(!expected.is_empty(), "the samples hold a lighthouse");
    let out = embed(&samples_dir(), None)
        .output()
        .expect("the example starts");
    assert_eq!(printed_hits(&out), expected);
}

/// `(files taken in, whether tier-1 or tier-2 work is left)` of the
/// store in `store`.
fn progress(store: &Path) -> (u64, bool) {
    let engine = Engine::open(store, Config::default()).expect("the store opens");
    let files = engine.status().expect("the store reads").files;
    let done = engine
        .reached(&Until::Tier {
            tier: Tier::Searchable,
            imports: None,
        })
        .expect("the store reads");
    (files, !done)
}

#[test]
fn after_a_kill_part_way_the_embed_flow_still_finds_everything() {
    let work = tempfile::tempdir().expect("temp dir");
    let input = work.path().join("in");
    corpus::from_png_folder(&samples_dir(), &input, 400).expect("the corpus builds");
    let expected = lighthouse_files(&input);
    assert!(expected.len() >= 10, "{} lighthouse files", expected.len());

    // Kill the example part way through its import: late enough for some
    // files to be taken in, early enough for work to be left. The first
    // delay that lands there is the one tested.
    let mut store = None;
    for (attempt, delay_ms) in [400u64, 900, 1800, 3500, 200, 80].into_iter().enumerate() {
        let dir = work.path().join(format!("store-{attempt}"));
        let child = embed(&input, Some(&dir))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the example starts");
        if kill_after(child, Duration::from_millis(delay_ms)) != Fate::Killed {
            continue;
        }
        if !dir.join(kiln::engine::DATABASE_FILE).exists() {
            continue;
        }
        let (files, unfinished) = progress(&dir);
        println!("killed after {delay_ms} ms: {files} file(s) taken in, work left: {unfinished}");
        if files > 0 && unfinished {
            store = Some(dir);
            break;
        }
    }
    let store = store.expect("one kill landed part way through the import");

    let out = embed(&input, Some(&store))
        .output()
        .expect("the example starts");
    assert_eq!(printed_hits(&out), expected);
    assert!(
        !progress(&store).1,
        "the second run waited for the work of the killed one"
    );
}
