//! A headless Chromium for the tests of `kiln serve`: started with a
//! throwaway profile, driven over the DevTools protocol (one websocket, one
//! page), and killed with its profile removed when dropped, also when the
//! test panics.
//!
//! One reader loop ([`Page::command`]) sends a command and reads until its
//! reply arrives, routing every event it meets on the way into the page's
//! records: console messages, uncaught exceptions, dialogs (dismissed at
//! once, so that an `alert()` never hangs the page) and log entries (where
//! Content Security Policy violations appear). Every wait has a deadline.
//!
//! Without Chromium a test skips with a printed line ([`require`]), except
//! under CI (`CI=true`), where it fails, as with the real fixtures.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::json;

mod connection;
mod error;
mod keys;
mod page;

use connection::Connection;
pub use error::{BrowserError, Result};
pub use page::{ConsoleMessage, Dialog, JsException, LogEntry, Page};

/// The variable that names the Chromium executable to use; without it,
/// `chromium`, `chromium-browser` and `google-chrome` are looked up on
/// `PATH`.
pub const CHROMIUM_VAR: &str = "KILN_CHROMIUM";

/// How long a command, a navigation or the browser's start may take unless
/// [`Page::set_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The viewport every page starts with, in CSS pixels (scale factor 1).
pub const VIEWPORT: (u32, u32) = (1280, 900);

/// The names looked up on `PATH`, in order.
const EXECUTABLES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// How many of Chromium's last stderr lines a start-up error shows.
const STDERR_TAIL: usize = 40;

/// How long [`Browser`]'s drop waits for Chromium to close by itself before
/// it kills it.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// The Chromium executable: `KILN_CHROMIUM` if set, else the first of
/// `chromium`, `chromium-browser`, `google-chrome` on `PATH`; `None` when
/// there is none (or `KILN_CHROMIUM` names no file).
pub fn available() -> Option<PathBuf> {
    if let Some(named) = std::env::var_os(CHROMIUM_VAR) {
        let named = PathBuf::from(named);
        return if named.components().count() == 1 {
            on_path(&named.to_string_lossy())
        } else {
            named.is_file().then_some(named)
        };
    }
    EXECUTABLES.iter().find_map(|name| on_path(name))
}

/// The Chromium executable, or `None` (after printing why the test is
/// skipped) when there is none.
///
/// # Panics
/// When there is none and `CI=true`: there a skip would hide a missing
/// check.
pub fn require() -> Option<PathBuf> {
    if let Some(found) = available() {
        return Some(found);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "no Chromium and CI=true: this test drives a real browser; install Debian's \
             `chromium` (apt-get install chromium) or set {CHROMIUM_VAR} to its executable"
        );
    }
    match std::env::var_os(CHROMIUM_VAR) {
        Some(named) => println!(
            "skipped: {CHROMIUM_VAR}={} is not an executable",
            named.to_string_lossy()
        ),
        None => println!("skipped: no Chromium (set {CHROMIUM_VAR} or install chromium)"),
    }
    None
}

fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The flags Chromium starts with, besides the profile folder: headless,
/// no first-run or background traffic (updates, sync, translation), no
/// proxy (the tests talk to 127.0.0.1), quiet stderr, and rendering that
/// does not vary between machines (no GPU, sRGB, no scrollbars, no timer
/// throttling of a page it believes hidden).
const FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-port=0",
    "--window-size=1280,900",
    "--no-proxy-server",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-crash-reporter",
    "--disable-features=Translate,MediaRouter,OptimizationHints,DialMediaRouteProvider",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-hang-monitor",
    "--disable-popup-blocking",
    "--metrics-recording-only",
    "--password-store=basic",
    "--use-mock-keychain",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
    "--font-render-hinting=none",
    "--log-level=3",
];

/// A running headless Chromium with one page. It dereferences to its
/// [`Page`]. Dropping it closes Chromium (killing it if it does not close
/// in time), reaps it and removes its profile folder.
#[derive(Debug)]
pub struct Browser {
    page: Page,
    process: Process,
}

/// The Chromium process and its profile folder; on drop (also after a
/// failed start) the process is killed and reaped, then the folder removed.
#[derive(Debug)]
struct Process {
    child: Child,
    profile: tempfile::TempDir,
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        // Chromium's helpers (zygote, renderer, GPU) run in the browser's
        // process group and may outlive a killed browser for a moment,
        // still writing into the profile: end them, wait until none is
        // left, then remove the folder (a helper writing into it while it
        // is removed would leave it behind).
        kill_group(self.child.id());
        let deadline = Instant::now() + CLOSE_GRACE;
        while group_alive(self.child.id()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for _ in 0..10 {
            match std::fs::remove_dir_all(self.profile.path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => break,
            }
        }
    }
}

/// Sends SIGKILL to every process of the group `pgid` (the browser started
/// it as its own group).
#[cfg(unix)]
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(not(unix))]
fn kill_group(_pgid: u32) {}

/// Whether a process of the group `pgid` is still there (Linux: read from
/// `/proc`; elsewhere always false).
fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        // pid (comm) state ppid pgrp ...: the comm may hold spaces, so read
        // after its closing parenthesis.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2))
            .and_then(|g| g.parse::<u32>().ok())
            == Some(pgid)
    })
}

impl Browser {
    /// Starts the Chromium [`available`] finds. See [`Browser::launch_with`].
    pub fn launch() -> Result<Browser> {
        let executable = available().ok_or(BrowserError::NotFound)?;
        Browser::launch_with(&executable)
    }

    /// Starts `executable` headless with a new profile, waits (up to
    /// [`DEFAULT_TIMEOUT`]) for its DevTools address, opens a page on
    /// `about:blank` with a [`VIEWPORT`]-sized viewport, and enables the
    /// events the page records.
    pub fn launch_with(executable: &Path) -> Result<Browser> {
        let spawn_error = |source| BrowserError::Spawn {
            executable: executable.to_path_buf(),
            source,
        };
        let profile = tempfile::Builder::new()
            .prefix("kiln-chromium-")
            .tempdir()
            .map_err(spawn_error)?;
        let data = profile.path().join("profile");
        let mut command = Command::new(executable);
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", data.display()))
            .arg("about:blank")
            // Chromium's crash handler and caches would otherwise write
            // under the user's home.
            .env("XDG_CONFIG_HOME", profile.path().join("config"))
            .env("XDG_CACHE_HOME", profile.path().join("cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_error)?;
        let stderr = child.stderr.take();
        let process = Process { child, profile };

        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (address_tx, address_rx) = mpsc::channel();
        if let Some(stderr) = stderr {
            let tail = Arc::clone(&tail);
            // Chromium blocks once a full pipe is not read: this thread
            // drains stderr for the browser's whole life.
            std::thread::spawn(move || drain_stderr(stderr, &tail, &address_tx));
        }
        let url = match address_rx.recv_timeout(DEFAULT_TIMEOUT) {
            Ok(url) => url,
            Err(e) => {
                let reason = match e {
                    mpsc::RecvTimeoutError::Timeout => format!("none within {DEFAULT_TIMEOUT:?}"),
                    mpsc::RecvTimeoutError::Disconnected => "it closed stderr (exited?)".into(),
                };
                drop(process);
                let stderr = tail
                    .lock()
                    .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
                    .unwrap_or_default();
                return Err(BrowserError::Startup { reason, stderr });
            }
        };

        let connection = Connection::open(&url)?;
        let page = Page::open(connection)?;
        Ok(Browser { page, process })
    }

    /// The page.
    pub fn page(&mut self) -> &mut Page {
        &mut self.page
    }

    /// The browser process's id.
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// The folder holding the profile (and Chromium's other files), removed
    /// on drop.
    pub fn profile_dir(&self) -> &Path {
        self.process.profile.path()
    }
}

impl std::ops::Deref for Browser {
    type Target = Page;
    fn deref(&self) -> &Page {
        &self.page
    }
}

impl std::ops::DerefMut for Browser {
    fn deref_mut(&mut self) -> &mut Page {
        &mut self.page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing lets Chromium end its helper processes itself; the kill
        // in `Process::drop` is for a browser that does not answer.
        self.page.connection.limit_sends(CLOSE_GRACE);
        if self
            .page
            .connection
            .send("Browser.close", json!({}), None)
            .is_ok()
        {
            let deadline = Instant::now() + CLOSE_GRACE;
            while Instant::now() < deadline {
                match self.process.child.try_wait() {
                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                    _ => break,
                }
            }
        }
    }
}

fn drain_stderr(
    stderr: std::process::ChildStderr,
    tail: &Mutex<VecDeque<String>>,
    address: &mpsc::Sender<String>,
) {
    const PREFIX: &str = "DevTools listening on ";
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        if let Some(url) = text.strip_prefix(PREFIX) {
            let _ = address.send(url.to_owned());
        }
        if let Ok(mut tail) = tail.lock() {
            if tail.len() == STDERR_TAIL {
                tail.pop_front();
            }
            tail.push_back(text);
        }
    }
}
