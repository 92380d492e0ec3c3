//! The store's doorbell: how other processes tell the primary that they
//! committed, so an idle primary sleeps until then instead of polling the
//! database for their work.
//!
//! The primary's running scheduler binds a Unix datagram socket in the store
//! directory ([`DOORBELL_FILE`]); every process that is not the primary
//! sends it one byte after each of its commits (a submission, a re-run, a
//! dead letter retried). A lost or unsent ring (no primary, a full socket
//! buffer) costs nothing: a primary that starts looks at the queue anyway.
//! Where there is no such socket (another platform, a store path too long
//! for a socket address) the feeder and the progress publisher fall back to
//! polling every `Config::idle_poll`, as does the progress publisher of a
//! process that is not the primary (no ring reaches it).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::store::DOORBELL_FILE;

/// Whether this process's primary listens on the doorbell, so commits of
/// other processes reach it as a wake-up and no poll is needed.
#[derive(Debug, Default)]
pub(crate) struct Listening(AtomicBool);

impl Listening {
    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn set(&self, on: bool) {
        self.0.store(on, Ordering::SeqCst);
    }
}

/// A bound doorbell and the thread that answers it.
#[derive(Debug)]
pub(crate) struct Doorbell {
    path: PathBuf,
    /// The bound socket again, to wake the answering thread by shutting it
    /// down: a ring through the path cannot reach it once the file is gone.
    waker: Option<Socket>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    listening: Arc<Listening>,
}

impl Doorbell {
    /// Binds the doorbell of the store in `dir` (only the holder of the
    /// engine lock may: a socket left by a primary that died is replaced)
    /// and runs `ring` on a thread of its own for every ring. `None` when
    /// it cannot be bound; `listening` then stays false.
    pub(crate) fn listen(
        dir: &Path,
        listening: Arc<Listening>,
        ring: impl Fn() + Send + 'static,
    ) -> Option<Doorbell> {
        let path = dir.join(DOORBELL_FILE);
        let socket = bind(&path)?;
        let waker = duplicate(&socket);
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("kiln-doorbell".into())
            .spawn(move || answer(&socket, &thread_stop, ring))
            .ok()?;
        listening.set(true);
        Some(Doorbell {
            path,
            waker,
            stop,
            thread: Some(thread),
            listening,
        })
    }

    /// Stops answering and removes the socket.
    pub(crate) fn close(mut self) {
        self.listening.set(false);
        self.stop.store(true, Ordering::SeqCst);
        // The thread blocks in `recv`: shutting the socket down returns it
        // (also when the socket's file was removed), and one last ring does
        // where shutting down is not possible.
        if let Some(waker) = self.waker.take() {
            wake(&waker);
        }
        ring(self.path.parent().unwrap_or(Path::new(".")));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(unix)]
type Socket = std::os::unix::net::UnixDatagram;

#[cfg(unix)]
fn bind(path: &Path) -> Option<Socket> {
    // Only the lock holder binds, so a socket already there is a dead
    // primary's.
    let _ = std::fs::remove_file(path);
    Socket::bind(path).ok()
}

#[cfg(unix)]
fn duplicate(socket: &Socket) -> Option<Socket> {
    socket.try_clone().ok()
}

#[cfg(unix)]
fn wake(socket: &Socket) {
    let _ = socket.shutdown(std::net::Shutdown::Both);
}

#[cfg(unix)]
fn answer(socket: &Socket, stop: &AtomicBool, ring: impl Fn()) {
    let mut buffer = [0u8; 16];
    while !stop.load(Ordering::SeqCst) {
        // An error, or nothing after a shutdown, ends the thread.
        if socket.recv(&mut buffer).map_or(true, |n| n == 0) {
            return;
        }
        if !stop.load(Ordering::SeqCst) {
            ring();
        }
    }
}

/// Rings the doorbell of the store in `dir`, if a primary listens; never
/// waits.
#[cfg(unix)]
pub(crate) fn ring(dir: &Path) {
    if let Ok(socket) = Socket::unbound() {
        let _ = socket.set_nonblocking(true);
        let _ = socket.send_to(&[1], dir.join(DOORBELL_FILE));
    }
}

#[cfg(not(unix))]
struct Socket;

#[cfg(not(unix))]
fn bind(_path: &Path) -> Option<Socket> {
    None
}

#[cfg(not(unix))]
fn duplicate(_socket: &Socket) -> Option<Socket> {
    None
}

#[cfg(not(unix))]
fn wake(_socket: &Socket) {}

#[cfg(not(unix))]
fn answer(_socket: &Socket, _stop: &AtomicBool, _ring: impl Fn()) {}

/// Without Unix sockets there is no doorbell; the primary polls.
#[cfg(not(unix))]
pub(crate) fn ring(_dir: &Path) {}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn closing_returns_when_the_socket_file_is_gone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let listening = Arc::new(Listening::default());
        let doorbell =
            Doorbell::listen(dir.path(), listening.clone(), || {}).expect("the doorbell binds");
        assert!(listening.get());
        std::fs::remove_file(dir.path().join(DOORBELL_FILE)).expect("socket file removed");
        let (done, closed) = mpsc::channel();
        std::thread::spawn(move || {
            doorbell.close();
            let _ = done.send(());
        });
        assert!(
            closed.recv_timeout(Duration::from_secs(30)).is_ok(),
            "close hung on a doorbell whose file was removed"
        );
        assert!(!listening.get());
    }

    #[test]
    fn a_ring_reaches_the_listener() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (rang, heard) = mpsc::channel();
        let doorbell = Doorbell::listen(dir.path(), Arc::new(Listening::default()), move || {
            let _ = rang.send(());
        })
        .expect("the doorbell binds");
        ring(dir.path());
        assert!(heard.recv_timeout(Duration::from_secs(30)).is_ok());
        doorbell.close();
        assert!(!dir.path().join(DOORBELL_FILE).exists());
    }
}
