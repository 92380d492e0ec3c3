//! SIGKILL `kiln import` and `kiln run` at several moments; every asset ends
//! done exactly once.

mod common;

use common::{json, kiln, num, run};
use kiln::corpus::{GeneratedKind, generated};
use std::time::Duration;

const FILES: usize = 200;
const COPIES: usize = 10;

#[test]
fn killed_imports_resume_with_run_and_finish_exactly_once() {
    let corpus_dir = tempfile::tempdir().expect("temp dir");
    let corpus = generated(corpus_dir.path(), FILES, GeneratedKind::Small { side: 384 })
        .expect("corpus builds");
    // Byte-identical copies under other names: the same assets, other paths.
    for (i, file) in corpus.files.iter().take(COPIES).enumerate() {
        std::fs::copy(file, corpus_dir.path().join(format!("copy-{i}.png"))).expect("copy");
    }
    let store = tempfile::tempdir().expect("temp dir");

    // Kill moments spread over the run: early (intake, first claims), middle
    // (stage work, commits) and late. A fixed sequence keeps failures reproducible.
    let delays_ms = [150u64, 420, 90, 700, 260, 530, 330];
    for (round, delay) in delays_ms.iter().enumerate() {
        let mut cmd = kiln(store.path());
        if round == 0 {
            cmd.args(["import", "-q"]).arg(corpus_dir.path());
        } else {
            cmd.args(["run", "-q"]);
        }
        let mut child = cmd.spawn().expect("kiln starts");
        std::thread::sleep(Duration::from_millis(*delay));
        match child.try_wait().expect("child state") {
            // Finished before the kill: nothing left to interrupt.
            Some(_) => break,
            None => {
                child.kill().expect("SIGKILL");
                let _ = child.wait();
            }
        }
    }

    let last = run(kiln(store.path()).args(["run", "-q"]));
    assert_eq!(
        last.status.code(),
        Some(0),
        "the final run completes: {}",
        String::from_utf8_lossy(&last.stderr)
    );
    let status = json(store.path(), &["status"]);
    assert_eq!(num(&status, "/files"), (FILES + COPIES) as u64, "{status}");
    assert_eq!(
        num(&status, "/assets"),
        FILES as u64,
        "one asset per distinct content"
    );
    for state in ["ready", "leased", "retrying", "dead"] {
        assert_eq!(
            num(&status, &format!("/jobs/{state}")),
            0,
            "{state}: {status}"
        );
    }
    // Each distinct asset ran hash, thumbnail and metadata once; each copy ran
    // only hash, which found the existing content.
    assert_eq!(
        num(&status, "/jobs/done"),
        (FILES * 3 + COPIES) as u64,
        "every job applied exactly once: {status}"
    );
    let assets = json(store.path(), &["assets"]);
    let list = assets["assets"].as_array().expect("assets");
    let done = list.iter().filter(|a| a["state"] == "done").count();
    let duplicates = list.iter().filter(|a| a["state"] == "duplicate").count();
    assert_eq!(done, FILES, "{assets}");
    assert_eq!(duplicates, COPIES);
}
