//! The SIGKILL loop of the crash tests: start a child, let it get part way,
//! kill it, and start the next one on the same state.

use std::process::{Child, ExitStatus};
use std::time::Duration;

/// What became of a child given some time before its kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// It was still running and was killed (SIGKILL on Unix).
    Killed,
    /// It exited by itself before the kill.
    Exited(ExitStatus),
}

/// Lets `child` run for `delay`, then kills it if it is still running;
/// returns once the child is reaped.
pub fn kill_after(mut child: Child, delay: Duration) -> Fate {
    std::thread::sleep(delay);
    let fate = match child.try_wait().expect("the child can be polled") {
        Some(status) => Fate::Exited(status),
        None => {
            child.kill().expect("the child can be killed");
            Fate::Killed
        }
    };
    let _ = child.wait();
    fate
}

/// What the loop does when a child exits before its kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExit {
    /// Stop: the work is done and nothing is left to interrupt.
    Stop,
    /// Go on with the next delay (each child starts its work afresh).
    Continue,
}

/// One round per delay: starts a child with `spawn(round)` and kills it
/// after that delay (see [`kill_after`]). Returns how many kills landed.
pub fn kill_rounds(
    delays: impl IntoIterator<Item = Duration>,
    on_exit: OnExit,
    mut spawn: impl FnMut(usize) -> Child,
) -> usize {
    let mut kills = 0;
    for (round, delay) in delays.into_iter().enumerate() {
        match kill_after(spawn(round), delay) {
            Fate::Killed => kills += 1,
            Fate::Exited(_) if on_exit == OnExit::Stop => break,
            Fate::Exited(_) => {}
        }
    }
    kills
}

/// Delays in whole milliseconds, for [`kill_rounds`].
pub fn millis(delays: &[u64]) -> Vec<Duration> {
    delays.iter().copied().map(Duration::from_millis).collect()
}
