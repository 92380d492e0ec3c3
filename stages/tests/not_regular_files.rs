//! A FIFO or a device where an imported file was: every stage that reads
//! the file refuses it at once with a permanent error naming the file and
//! what it is, instead of waiting for data that never comes.
#![cfg(unix)]

use kiln_plugin_api::{Stage, StageError, StageInput, StageOutput};
use kiln_stages::hash::HashStage;
use kiln_stages::metadata::MetadataStage;
use kiln_stages::thumbnail::ThumbnailStage;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

/// Far longer than refusing takes; reached only when a stage blocks.
const HANG: Duration = Duration::from_secs(60);

fn stages() -> Vec<Arc<dyn Stage>> {
    vec![
        Arc::new(HashStage),
        Arc::new(MetadataStage),
        Arc::new(ThumbnailStage::new()),
    ]
}

/// Runs `stage` on `path` on its own thread; `None` when it did not return
/// (the thread is left blocked; the test fails).
fn run(stage: Arc<dyn Stage>, path: &Path) -> Option<Result<StageOutput, StageError>> {
    let (send, receive) = mpsc::channel();
    let input = StageInput::for_path(1, path.to_string_lossy());
    std::thread::spawn(move || {
        let _ = send.send(stage.process(&input));
    });
    receive.recv_timeout(HANG).ok()
}

fn assert_refused(path: &Path, what: &str) {
    for stage in stages() {
        let name = stage.info().name;
        let outcome = run(stage, path)
            .unwrap_or_else(|| panic!("{name} blocked on {what} {}", path.display()));
        let error = match outcome {
            Ok(_) => panic!("{name} accepted {what} {}", path.display()),
            Err(error) => error,
        };
        assert!(
            !error.is_transient(),
            "{name}: never better by waiting: {error}"
        );
        let message = error.message();
        assert!(
            message.contains(&*path.to_string_lossy()),
            "{name}: names the file: {message}"
        );
        assert!(message.contains(what), "{name}: says what it is: {message}");
    }
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("render.png");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", fifo.display());
    assert_refused(&fifo, "FIFO");
}

#[test]
fn a_device_is_refused_instead_of_read_forever() {
    let dir = tempfile::tempdir().expect("temp dir");
    let link = dir.path().join("endless.png");
    std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
    assert_refused(&link, "device");
}
