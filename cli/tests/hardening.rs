//! Hostile and unlucky conditions, driven through the real binary: files
//! that turn into something else, and what kiln says about them.

mod common;

use common::{json, kiln, run};
use kiln_testkit::child::ChildGuard;
use kiln_testkit::corpus::{GeneratedKind, generated};
use std::time::{Duration, Instant};

/// A FIFO where a queued file was: `kiln run` does not wait on it; the file
/// is a dead letter that says what it found, and the other files complete.
#[cfg(unix)]
#[test]
fn a_fifo_where_a_queued_file_was_is_a_dead_letter_not_a_hang() {
    let input = tempfile::tempdir().expect("temp dir");
    generated(input.path(), 3, GeneratedKind::Small { side: 256 }).expect("corpus builds");
    let store = tempfile::tempdir().expect("temp dir");
    let queued = run(kiln(store.path())
        .args(["import", "-q", "--detach"])
        .arg(input.path()));
    assert_eq!(queued.status.code(), Some(0), "{queued:?}");

    let victim = std::fs::read_dir(input.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .min()
        .expect("a sample");
    std::fs::remove_file(&victim).expect("remove");
    let made = std::process::Command::new("mkfifo")
        .arg(&victim)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());

    let child = kiln(store.path())
        .args(["run", "-q"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kiln starts");
    let mut child = ChildGuard(child);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("state") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "kiln run is stuck on the FIFO"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(3), "some file is a dead letter");

    let dead = json(store.path(), &["dead", "list"]);
    let letters = dead["dead"].as_array().expect("dead letters");
    assert_eq!(letters.len(), 1, "{dead}");
    let letter = &letters[0];
    assert_eq!(letter["path"], victim.to_string_lossy().as_ref(), "{dead}");
    assert_eq!(letter["attempts"], 1, "not retried: {dead}");
    let error = letter["error"].as_str().expect("error");
    assert!(error.contains("FIFO"), "{error}");
    let status = json(store.path(), &["status"]);
    assert_eq!(status["jobs"]["dead"], 1, "{status}");
    assert_eq!(status["jobs"]["ready"], 0, "{status}");
}
