//! Child processes for tests: the running test binary re-run as a child in
//! one role (a single test of its own, selected by name), waiting for a child
//! to finish, and a guard that kills a child the test leaves behind.

use std::ffi::OsStr;
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The line a child role prints when its work is done. A child that exits
/// successfully without it ran no test at all (for example a renamed role).
pub const FINISHED: &str = "CHILD FINISHED";

/// How long [`wait`] lets a child run before it fails the test.
pub const CHILD_PATIENCE: Duration = Duration::from_secs(300);

/// Runs the test named `test` of the running test binary alone in a child
/// process with `env` set; its stdout is piped (roles print [`FINISHED`])
/// and its stderr dropped.
pub fn spawn_test(test: &str, env: &[(&str, &OsStr)]) -> Child {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let mut command = Command::new(exe);
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    command.spawn().expect("the child test process starts")
}

/// Waits for a child to exit by itself and returns its status and whatever
/// it printed on a piped stdout. Kills it and fails the test after
/// [`CHILD_PATIENCE`].
pub fn wait(mut child: Child) -> (ExitStatus, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            let mut out = String::new();
            if let Some(mut stdout) = child.stdout.take() {
                let _ = stdout.read_to_string(&mut out);
            }
            return (status, out);
        }
        if started.elapsed() > CHILD_PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the child process did not finish within {} s",
                CHILD_PATIENCE.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a child role ran to its end: it exited successfully and printed
/// [`FINISHED`].
pub fn finished(status: &ExitStatus, stdout: &str) -> bool {
    status.success() && stdout.contains(FINISHED)
}

/// A running child that is killed and reaped if the test ends (or panics)
/// while it still runs.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
