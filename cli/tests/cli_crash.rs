//! SIGKILL `kiln import` and `kiln run` at several moments; every asset ends
//! done exactly once.

mod common;

use common::{import_then_run, json, kiln, num, run, succeed};
use kiln_testkit::child::ChildGuard;
use kiln_testkit::corpus::{GeneratedKind, generated};
use kiln_testkit::kill::{self, OnExit};
use std::time::Duration;

const FILES: usize = 200;
const COPIES: usize = 10;
/// Built-in stages a distinct asset runs: hash, thumbnail, metadata,
/// search-index, embed, score, cluster, search-enrich.
const STAGES_PER_ASSET: usize = 8;

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

    // Kill moments from start-up (open, reclaim, intake) through claims,
    // stage work and commits. The delays are short next to the whole run, so
    // the kills land before the work can finish even on a fast machine. A
    // fixed sequence keeps failures reproducible.
    let delays = kill::millis(&[150, 60, 240, 90, 200, 40, 120, 180]);
    // A child that finishes before its kill leaves nothing to interrupt.
    let kills = kill::kill_rounds(
        delays,
        OnExit::Stop,
        import_then_run(store.path(), corpus_dir.path()),
    );

    assert!(
        kills >= 5,
        "only {kills} kills landed before the work finished"
    );
    // The final run completes.
    succeed(kiln(store.path()).args(["run", "-q"]));
    let status = json(store.path(), &["status"]);
    assert_eq!(num(&status, "/files"), (FILES + COPIES) as u64, "{status}");
    assert_eq!(
        num(&status, "/assets"),
        FILES as u64,
        "one asset per distinct content"
    );
    for state in ["ready", "running", "retrying", "dead"] {
        assert_eq!(
            num(&status, &format!("/jobs/{state}")),
            0,
            "{state}: {status}"
        );
    }
    // Each distinct asset ran every built-in stage once; each copy ran
    // only hash, which found the existing content.
    assert_eq!(
        num(&status, "/jobs/done"),
        (FILES * STAGES_PER_ASSET + COPIES) as u64,
        "every job applied exactly once: {status}"
    );
    let assets = json(store.path(), &["assets"]);
    let list = assets["assets"].as_array().expect("assets");
    let done = list.iter().filter(|a| a["state"] == "done").count();
    let duplicates = list.iter().filter(|a| a["state"] == "duplicate").count();
    assert_eq!(done, FILES, "{assets}");
    assert_eq!(duplicates, COPIES);
}

#[test]
fn ctrl_c_stops_gracefully_and_run_resumes() {
    stops_gracefully_and_run_resumes("INT", 130);
}

#[test]
fn sigterm_stops_gracefully_and_run_resumes() {
    stops_gracefully_and_run_resumes("TERM", 143);
}

#[test]
fn sighup_stops_gracefully_and_run_resumes() {
    stops_gracefully_and_run_resumes("HUP", 129);
}

/// Sends `signal` to an import part way through: the import stops with
/// `code` (128 plus the signal's number), says how to resume, holds no
/// lease, and `kiln run` finishes the work exactly once.
fn stops_gracefully_and_run_resumes(signal: &str, code: i32) {
    let corpus_dir = tempfile::tempdir().expect("temp dir");
    generated(corpus_dir.path(), 150, GeneratedKind::Small { side: 512 }).expect("corpus builds");
    let store = tempfile::tempdir().expect("temp dir");
    let child = kiln(store.path())
        .args(["import", "-q"])
        .arg(corpus_dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kiln starts");
    let mut child = ChildGuard(child);

    // Interrupt once some work is done and much remains.
    let started = std::time::Instant::now();
    loop {
        let status = json(store.path(), &["status"]);
        if num(&status, "/tiers/1/done") >= 2 {
            break;
        }
        if child.0.try_wait().expect("state").is_some() {
            let (code, stderr) = child.0.wait_with_output_ref();
            panic!("the import ended ({code:?}) before it could be interrupted: {stderr}");
        }
        assert!(started.elapsed() < Duration::from_secs(300), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    let interrupted = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &child.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(interrupted.success());
    let out = child.0.wait_with_output_ref();
    assert_eq!(out.0, Some(code), "SIG{signal} exits {code}: {}", out.1);
    assert!(
        out.1.contains("nothing is lost") && out.1.contains("run"),
        "says how to resume: {}",
        out.1
    );

    let status = json(store.path(), &["status"]);
    assert_eq!(
        num(&status, "/jobs/running"),
        0,
        "leases were released: {status}"
    );
    assert!(
        num(&status, "/tiers/1/pending") + num(&status, "/tiers/2/pending") > 0,
        "work was left to resume: {status}"
    );

    let resumed = run(kiln(store.path()).args(["run", "-q"]));
    assert_eq!(resumed.status.code(), Some(0));
    let status = json(store.path(), &["status"]);
    assert_eq!(num(&status, "/assets"), 150);
    assert_eq!(num(&status, "/jobs/done"), 150 * STAGES_PER_ASSET as u64);
}

/// Waits for a child whose stderr is piped; returns its exit code and stderr.
trait WaitWithOutputRef {
    fn wait_with_output_ref(&mut self) -> (Option<i32>, String);
}

impl WaitWithOutputRef for std::process::Child {
    fn wait_with_output_ref(&mut self) -> (Option<i32>, String) {
        use std::io::Read;
        let mut stderr = String::new();
        if let Some(mut pipe) = self.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let code = self.wait().ok().and_then(|s| s.code());
        (code, stderr)
    }
}
