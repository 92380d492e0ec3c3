//! The signals that stop a command gracefully: Ctrl-C (SIGINT), SIGTERM
//! (a service manager, `kill`) and SIGHUP (the terminal went away). Each
//! stops the work the same way: running jobs finish or are released, and
//! the command says how to continue.

use tokio::signal::unix::{SignalKind, signal};

/// Which signal asked the command to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGHUP.
    Hangup,
}

impl Stop {
    /// What a shell reports for a process ended by this signal (128 plus
    /// its number), so scripts see the same status as before a graceful stop.
    pub(crate) fn exit_code(self) -> i32 {
        128 + match self {
            Stop::Interrupt => libc::SIGINT,
            Stop::Terminate => libc::SIGTERM,
            Stop::Hangup => libc::SIGHUP,
        }
    }

    /// How the user's message names it.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Stop::Interrupt => "Ctrl-C",
            Stop::Terminate => "SIGTERM",
            Stop::Hangup => "SIGHUP (the terminal closed)",
        }
    }
}

/// Waits for the first of SIGINT, SIGTERM and SIGHUP. A signal whose
/// handler cannot be installed is never reported (the others still are).
pub(crate) async fn stop_requested() -> Stop {
    let wait = |kind: SignalKind, stop: Stop| async move {
        match signal(kind) {
            Ok(mut stream) => {
                stream.recv().await;
                stop
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        stop = wait(SignalKind::interrupt(), Stop::Interrupt) => stop,
        stop = wait(SignalKind::terminate(), Stop::Terminate) => stop,
        stop = wait(SignalKind::hangup(), Stop::Hangup) => stop,
    }
}
