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
use std::io::{BufRead, BufReader, ErrorKind};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

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

/// What went wrong driving the browser. Messages name the DevTools method
/// and Chromium's own error text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrowserError {
    /// No executable: neither `KILN_CHROMIUM` nor one on `PATH`.
    #[error(
        "no Chromium found: set {CHROMIUM_VAR} to its executable, or install one of \
         chromium, chromium-browser, google-chrome on PATH (Debian: apt-get install chromium)"
    )]
    NotFound,
    /// The executable (or its profile folder) could not be set up.
    #[error("could not start {}: {source}", executable.display())]
    Spawn {
        /// The executable.
        executable: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Chromium did not print its DevTools address.
    #[error(
        "Chromium did not print its DevTools address ({reason}); its last stderr lines:\n{stderr}"
    )]
    Startup {
        /// Why: a timeout, or the process exited.
        reason: String,
        /// The last lines Chromium wrote to stderr.
        stderr: String,
    },
    /// The websocket to the DevTools address could not be opened.
    #[error("could not connect to Chromium's DevTools at {url}: {message}")]
    Connect {
        /// The DevTools address.
        url: String,
        /// What failed.
        message: String,
    },
    /// Chromium answered a command with an error.
    #[error("{method}: Chromium answered with error {code}: {message}")]
    Protocol {
        /// The DevTools method.
        method: String,
        /// Chromium's error code.
        code: i64,
        /// Chromium's error message (and data, when it gave some).
        message: String,
    },
    /// Chromium's answer lacked what the method promises.
    #[error("{method}: unexpected answer from Chromium: {answer}")]
    Unexpected {
        /// The DevTools method.
        method: String,
        /// The answer, as JSON.
        answer: String,
    },
    /// No answer (or event) within the timeout.
    #[error("{method}: no answer from Chromium within {after:?}")]
    Timeout {
        /// The DevTools method (or the event) waited for.
        method: String,
        /// The timeout.
        after: Duration,
    },
    /// The websocket failed or closed.
    #[error("{method}: the DevTools connection failed: {message}")]
    Connection {
        /// The DevTools method under way.
        method: String,
        /// What failed.
        message: String,
    },
    /// The page's renderer crashed.
    #[error("{method}: the page crashed")]
    Crashed {
        /// The DevTools method under way.
        method: String,
    },
    /// The evaluated script threw (or its promise rejected).
    #[error("the page's script threw: {text}")]
    Exception {
        /// The exception's description, with its stack when it has one.
        text: String,
    },
    /// A navigation failed before a document loaded.
    #[error("navigation to {url} failed: {error}")]
    Navigation {
        /// The address.
        url: String,
        /// Chromium's error text (`net::ERR_CONNECTION_REFUSED`, ...).
        error: String,
    },
    /// [`Page::wait_for`]'s condition stayed false.
    #[error("condition `{condition}` still false after {after:?}{}", last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    WaitTimeout {
        /// The condition.
        condition: String,
        /// How long it was polled.
        after: Duration,
        /// The error its last evaluation gave, if it threw.
        last_error: Option<String>,
    },
    /// No element matches the selector.
    #[error("no element matches the selector `{selector}`")]
    NoElement {
        /// The CSS selector.
        selector: String,
    },
    /// The element has no area to click.
    #[error("`{selector}` cannot be clicked: it has no area ({width}x{height})")]
    NotClickable {
        /// The CSS selector.
        selector: String,
        /// Its width in CSS pixels.
        width: f64,
        /// Its height in CSS pixels.
        height: f64,
    },
    /// [`Page::press_key`] does not know the key.
    #[error(
        "unknown key `{0}`: use a letter, a digit, \" \", or one of Enter, Escape, Tab, \
         Backspace, Delete, ArrowLeft, ArrowRight, ArrowUp, ArrowDown, Home, End, PageUp, PageDown"
    )]
    UnknownKey(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// Shorthand for this module's results.
pub type Result<T, E = BrowserError> = std::result::Result<T, E>;

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
    println!("skipped: no Chromium (set {CHROMIUM_VAR} or install chromium)");
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
    }
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
        let mut child = Command::new(executable)
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

/// The websocket to Chromium's browser endpoint. Page commands go through
/// it with their session id (flattened sessions), so one socket and one
/// reader carry everything.
#[derive(Debug)]
struct Connection {
    socket: WebSocket<TcpStream>,
    next_id: u64,
}

impl Connection {
    fn open(url: &str) -> Result<Connection> {
        let connect_error = |message: String| BrowserError::Connect {
            url: url.to_owned(),
            message,
        };
        let authority = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .ok_or_else(|| connect_error("not a ws:// address".into()))?;
        let address: SocketAddr = authority
            .to_socket_addrs()
            .map_err(|e| connect_error(e.to_string()))?
            .next()
            .ok_or_else(|| connect_error("the host resolves to nothing".into()))?;
        let stream = TcpStream::connect_timeout(&address, DEFAULT_TIMEOUT)
            .map_err(|e| connect_error(e.to_string()))?;
        for set in [TcpStream::set_read_timeout, TcpStream::set_write_timeout] {
            set(&stream, Some(DEFAULT_TIMEOUT)).map_err(|e| connect_error(e.to_string()))?;
        }
        stream
            .set_nodelay(true)
            .map_err(|e| connect_error(e.to_string()))?;
        // Full-page screenshots arrive as one large message.
        let config = WebSocketConfig::default()
            .max_message_size(Some(1 << 30))
            .max_frame_size(Some(1 << 30));
        let (socket, _response) =
            tungstenite::client::client_with_config(url, stream, Some(config))
                .map_err(|e| connect_error(e.to_string()))?;
        Ok(Connection { socket, next_id: 1 })
    }

    /// Sends a command; returns its id.
    fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = Value::from(session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .map_err(|e| BrowserError::Connection {
                method: method.to_owned(),
                message: e.to_string(),
            })?;
        Ok(id)
    }

    /// The next message, or `None` once `deadline` passes.
    fn receive(&mut self, method: &str, deadline: Instant) -> Result<Option<Value>> {
        let failed = |message: String| BrowserError::Connection {
            method: method.to_owned(),
            message,
        };
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            // A zero timeout would mean "block forever".
            let wait = (deadline - now).max(Duration::from_millis(1));
            self.socket
                .get_mut()
                .set_read_timeout(Some(wait))
                .map_err(|e| failed(e.to_string()))?;
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    return serde_json::from_str(text.as_str())
                        .map(Some)
                        .map_err(|e| failed(format!("not JSON: {e}")));
                }
                Ok(Message::Close(frame)) => {
                    return Err(failed(format!("Chromium closed it ({frame:?})")));
                }
                // Pings are answered by tungstenite; binary frames are not
                // part of the protocol.
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(failed(e.to_string())),
            }
        }
    }
}

/// A console call of the page (`console.log`, `console.error`, ...).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConsoleMessage {
    /// `log`, `error`, `warning`, `info`, `debug`, ...
    pub kind: String,
    /// The arguments, as text, joined by spaces.
    pub text: String,
}

/// An exception the page did not catch.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JsException {
    /// The description (message and stack), or Chromium's summary.
    pub text: String,
    /// The script's address, when known.
    pub url: String,
    /// The line (0-based), when known.
    pub line: u64,
}

/// A JavaScript dialog the page opened; it was answered at once.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Dialog {
    /// `alert`, `confirm`, `prompt` or `beforeunload`.
    pub kind: String,
    /// Its message.
    pub message: String,
}

/// An entry of the browser's log: network errors, interventions, and
/// Content Security Policy violations (source `security` or `other`, text
/// naming the policy).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LogEntry {
    /// `javascript`, `network`, `security`, `violation`, `other`, ...
    pub source: String,
    /// `verbose`, `info`, `warning` or `error`.
    pub level: String,
    /// The text.
    pub text: String,
    /// The address it concerns, when known.
    pub url: String,
}

/// The page of a [`Browser`]: navigation, scripts, input, screenshots, and
/// the records of what the page did.
#[derive(Debug)]
pub struct Page {
    connection: Connection,
    session: String,
    timeout: Duration,
    accept_dialogs: bool,
    crashed: bool,
    /// The loader ids whose main-frame `load` lifecycle event arrived since
    /// the last navigation started.
    loaded: Vec<String>,
    console: Vec<ConsoleMessage>,
    exceptions: Vec<JsException>,
    dialogs: Vec<Dialog>,
    log_entries: Vec<LogEntry>,
}

impl Page {
    fn open(mut connection: Connection) -> Result<Page> {
        let target = browser_command(
            &mut connection,
            "Target.createTarget",
            json!({ "url": "about:blank" }),
        )?;
        let target_id = string_field(&target, "targetId", "Target.createTarget")?;
        let attached = browser_command(
            &mut connection,
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        )?;
        let session = string_field(&attached, "sessionId", "Target.attachToTarget")?;
        let mut page = Page {
            connection,
            session,
            timeout: DEFAULT_TIMEOUT,
            accept_dialogs: false,
            crashed: false,
            loaded: Vec::new(),
            console: Vec::new(),
            exceptions: Vec::new(),
            dialogs: Vec::new(),
            log_entries: Vec::new(),
        };
        page.command("Page.enable", json!({}))?;
        page.command("Page.setLifecycleEventsEnabled", json!({ "enabled": true }))?;
        page.command("Runtime.enable", json!({}))?;
        page.command("Log.enable", json!({}))?;
        page.set_viewport(VIEWPORT.0, VIEWPORT.1)?;
        Ok(page)
    }

    /// The timeout of every command and navigation.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets the timeout of every later command and navigation.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Whether dialogs are accepted (`confirm` returns true) rather than
    /// dismissed (the default: `confirm` returns false).
    pub fn set_accept_dialogs(&mut self, accept: bool) {
        self.accept_dialogs = accept;
    }

    /// Sends a DevTools command to the page and returns its result,
    /// recording the events that arrive meanwhile.
    pub fn command(&mut self, method: &str, params: Value) -> Result<Value> {
        self.command_within(method, params, self.timeout)
    }

    fn command_within(&mut self, method: &str, params: Value, timeout: Duration) -> Result<Value> {
        if self.crashed {
            return Err(BrowserError::Crashed {
                method: method.to_owned(),
            });
        }
        let id = self.connection.send(method, params, Some(&self.session))?;
        let deadline = Instant::now() + timeout;
        loop {
            let Some(message) = self.connection.receive(method, deadline)? else {
                return Err(BrowserError::Timeout {
                    method: method.to_owned(),
                    after: timeout,
                });
            };
            if message.get("id").and_then(Value::as_u64) == Some(id) {
                return reply_result(method, message);
            }
            // Replies to commands that timed out, or to the dialogs
            // answered without waiting, are dropped here.
            self.record(&message);
            if self.crashed {
                return Err(BrowserError::Crashed {
                    method: method.to_owned(),
                });
            }
        }
    }

    /// Reads and records events until `done` holds or `deadline` passes
    /// (then `Ok(false)`).
    fn pump_until(
        &mut self,
        waiting_for: &str,
        deadline: Instant,
        done: impl Fn(&Page) -> bool,
    ) -> Result<bool> {
        while !done(self) {
            if self.crashed {
                return Err(BrowserError::Crashed {
                    method: waiting_for.to_owned(),
                });
            }
            match self.connection.receive(waiting_for, deadline)? {
                Some(message) => self.record(&message),
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Routes one message that is not an awaited reply.
    fn record(&mut self, message: &Value) {
        if message.get("sessionId").and_then(Value::as_str) != Some(&self.session) {
            return;
        }
        let Some(method) = message.get("method").and_then(Value::as_str) else {
            return;
        };
        let params = &message["params"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        match method {
            "Page.lifecycleEvent" if params["name"] == "load" => {
                self.loaded.push(text(&params["loaderId"]));
            }
            "Runtime.consoleAPICalled" => {
                let args = params["args"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                self.console.push(ConsoleMessage {
                    kind: text(&params["type"]),
                    text: args.iter().map(remote_text).collect::<Vec<_>>().join(" "),
                });
            }
            "Runtime.exceptionThrown" => {
                let details = &params["exceptionDetails"];
                self.exceptions.push(JsException {
                    text: exception_text(details),
                    url: text(&details["url"]),
                    line: details["lineNumber"].as_u64().unwrap_or(0),
                });
            }
            "Log.entryAdded" => {
                let entry = &params["entry"];
                self.log_entries.push(LogEntry {
                    source: text(&entry["source"]),
                    level: text(&entry["level"]),
                    text: text(&entry["text"]),
                    url: text(&entry["url"]),
                });
            }
            "Page.javascriptDialogOpening" => {
                self.dialogs.push(Dialog {
                    kind: text(&params["type"]),
                    message: text(&params["message"]),
                });
                // Answered without waiting: the reply is dropped by the
                // reader, and a failure shows as the page staying blocked,
                // which the next command's timeout reports.
                let _ = self.connection.send(
                    "Page.handleJavaScriptDialog",
                    json!({ "accept": self.accept_dialogs }),
                    Some(&self.session),
                );
            }
            "Inspector.targetCrashed" => self.crashed = true,
            _ => {}
        }
    }

    /// Loads `url` in the page and waits for its `load` event (a
    /// same-document navigation, such as a new `#fragment`, returns at
    /// once).
    pub fn goto(&mut self, url: &str) -> Result<()> {
        const METHOD: &str = "Page.navigate";
        self.loaded.clear();
        let started = Instant::now();
        let reply = self.command(METHOD, json!({ "url": url }))?;
        if let Some(error) = reply.get("errorText").and_then(Value::as_str)
            && !error.is_empty()
        {
            return Err(BrowserError::Navigation {
                url: url.to_owned(),
                error: error.to_owned(),
            });
        }
        let Some(loader) = reply.get("loaderId").and_then(Value::as_str) else {
            return Ok(());
        };
        let loader = loader.to_owned();
        let deadline = started + self.timeout;
        if self.pump_until("Page.lifecycleEvent load", deadline, |page| {
            page.loaded.contains(&loader)
        })? {
            Ok(())
        } else {
            Err(BrowserError::Timeout {
                method: format!("{METHOD} to {url} (waiting for the load event)"),
                after: self.timeout,
            })
        }
    }

    /// Evaluates `js` as an expression in the page, awaits it if it is a
    /// promise, and returns its value as JSON (`undefined` becomes `null`;
    /// `NaN`, `Infinity`, `-0` and big integers become strings; DOM nodes
    /// become `{}`). A thrown exception or rejected promise is
    /// [`BrowserError::Exception`] with its text.
    pub fn eval(&mut self, js: &str) -> Result<Value> {
        self.eval_within(js, self.timeout)
    }

    fn eval_within(&mut self, js: &str, timeout: Duration) -> Result<Value> {
        let reply = self.command_within(
            "Runtime.evaluate",
            json!({
                "expression": js,
                "returnByValue": true,
                "awaitPromise": true,
                "userGesture": true,
            }),
            timeout,
        )?;
        if let Some(details) = reply.get("exceptionDetails") {
            return Err(BrowserError::Exception {
                text: exception_text(details),
            });
        }
        let result = &reply["result"];
        Ok(match result.get("value") {
            Some(value) => value.clone(),
            None => result
                .get("unserializableValue")
                .cloned()
                .unwrap_or(Value::Null),
        })
    }

    /// Evaluates the expression `js_condition` every 50 ms until it is
    /// truthy (awaiting promises) and returns its value; a throw counts as
    /// not yet (the element may not exist yet, the page may be between
    /// documents). After `timeout`, [`BrowserError::WaitTimeout`] with the
    /// last error.
    pub fn wait_for(&mut self, js_condition: &str, timeout: Duration) -> Result<Value> {
        const POLL: Duration = Duration::from_millis(50);
        let wrapped = format!(
            "(async () => {{ const value = await ({js_condition}\n); \
             return value ? {{ done: true, value }} : {{ done: false }}; }})()"
        );
        let deadline = Instant::now() + timeout;
        let mut last_error = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.eval_within(&wrapped, left.min(self.timeout)) {
                Ok(result) if result["done"] == true => {
                    return Ok(result.get("value").cloned().unwrap_or(Value::Null));
                }
                Ok(_) => {}
                Err(e @ (BrowserError::Exception { .. } | BrowserError::Protocol { .. })) => {
                    last_error = Some(e.to_string());
                }
                Err(BrowserError::Timeout { .. }) => break,
                Err(e) => return Err(e),
            }
            let next = (Instant::now() + POLL).min(deadline);
            self.pump_until("events between polls", next, |_| false)?;
        }
        Err(BrowserError::WaitTimeout {
            condition: js_condition.to_owned(),
            after: timeout,
            last_error,
        })
    }

    /// Sets the viewport to `width` x `height` CSS pixels at scale 1.
    pub fn set_viewport(&mut self, width: u32, height: u32) -> Result<()> {
        self.command(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )?;
        Ok(())
    }

    /// Writes a PNG of the viewport to `path`.
    pub fn screenshot(&mut self, path: &Path) -> Result<()> {
        self.capture(path, json!({ "format": "png" }))
    }

    /// Writes a PNG of the whole document (beyond the viewport) to `path`.
    pub fn screenshot_full_page(&mut self, path: &Path) -> Result<()> {
        const METHOD: &str = "Page.getLayoutMetrics";
        let metrics = self.command(METHOD, json!({}))?;
        let size = &metrics["cssContentSize"];
        let (Some(width), Some(height)) = (size["width"].as_f64(), size["height"].as_f64()) else {
            return Err(unexpected(METHOD, &metrics));
        };
        self.capture(
            path,
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": width.ceil(), "height": height.ceil(), "scale": 1 },
            }),
        )
    }

    fn capture(&mut self, path: &Path, params: Value) -> Result<()> {
        const METHOD: &str = "Page.captureScreenshot";
        let reply = self.command(METHOD, params)?;
        let png = reply
            .get("data")
            .and_then(Value::as_str)
            .and_then(|data| data_encoding::BASE64.decode(data.as_bytes()).ok())
            .ok_or_else(|| unexpected(METHOD, &json!({ "keys": keys(&reply) })))?;
        std::fs::write(path, png).map_err(|source| BrowserError::File {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Selects `files` in the `<input type=file>` matching `css_selector`,
    /// as a user picking them would: the input fires `input` and `change`.
    pub fn set_files(&mut self, css_selector: &str, files: &[&Path]) -> Result<()> {
        let mut paths = Vec::with_capacity(files.len());
        for file in files {
            let absolute = std::fs::canonicalize(file).map_err(|source| BrowserError::File {
                path: file.to_path_buf(),
                source,
            })?;
            paths.push(absolute.to_string_lossy().into_owned());
        }
        let node = self.query_selector(css_selector)?;
        self.command(
            "DOM.setFileInputFiles",
            json!({ "files": paths, "nodeId": node }),
        )?;
        Ok(())
    }

    fn query_selector(&mut self, css_selector: &str) -> Result<u64> {
        let document = self.command("DOM.getDocument", json!({ "depth": 0 }))?;
        let root = document["root"]["nodeId"]
            .as_u64()
            .ok_or_else(|| unexpected("DOM.getDocument", &document))?;
        let found = self.command(
            "DOM.querySelector",
            json!({ "nodeId": root, "selector": css_selector }),
        )?;
        match found["nodeId"].as_u64() {
            Some(0) => Err(BrowserError::NoElement {
                selector: css_selector.to_owned(),
            }),
            Some(node) => Ok(node),
            None => Err(unexpected("DOM.querySelector", &found)),
        }
    }

    /// Presses and releases `key` (a DOM `KeyboardEvent.key`: a letter, a
    /// digit, `" "`, `Enter`, `Escape`, `Tab`, `Backspace`, `Delete`, the
    /// arrows, `Home`, `End`, `PageUp`, `PageDown`) on the focused element,
    /// as trusted keyboard events with the matching `code` and key code.
    pub fn press_key(&mut self, key: &str) -> Result<()> {
        let spec = KeySpec::of(key).ok_or_else(|| BrowserError::UnknownKey(key.to_owned()))?;
        let mut down = json!({
            "type": if spec.text.is_some() { "keyDown" } else { "rawKeyDown" },
            "key": key,
            "code": spec.code,
            "windowsVirtualKeyCode": spec.key_code,
            "nativeVirtualKeyCode": spec.key_code,
            "modifiers": spec.modifiers,
        });
        if let Some(text) = &spec.text {
            down["text"] = Value::from(text.as_str());
            down["unmodifiedText"] = Value::from(text.as_str());
        }
        self.command("Input.dispatchKeyEvent", down)?;
        self.command(
            "Input.dispatchKeyEvent",
            json!({
                "type": "keyUp",
                "key": key,
                "code": spec.code,
                "windowsVirtualKeyCode": spec.key_code,
                "nativeVirtualKeyCode": spec.key_code,
                "modifiers": spec.modifiers,
            }),
        )?;
        Ok(())
    }

    /// Clicks the centre of the element matching `css_selector` with the
    /// left mouse button, after scrolling it into view: trusted mouse
    /// events, so whatever lies on top at that point gets the click, as it
    /// would for a user.
    pub fn click(&mut self, css_selector: &str) -> Result<()> {
        let selector = Value::from(css_selector).to_string();
        let script = format!(
            "(() => {{ const element = document.querySelector({selector}); \
             if (!element) return null; \
             element.scrollIntoView({{ block: 'center', inline: 'center' }}); \
             const r = element.getBoundingClientRect(); \
             return [r.left + r.width / 2, r.top + r.height / 2, r.width, r.height]; }})()"
        );
        let found = self.eval(&script)?;
        let Some([x, y, width, height]) = found.as_array().and_then(|values| {
            let numbers: Vec<f64> = values.iter().filter_map(Value::as_f64).collect();
            <[f64; 4]>::try_from(numbers).ok()
        }) else {
            return Err(BrowserError::NoElement {
                selector: css_selector.to_owned(),
            });
        };
        if width <= 0.0 || height <= 0.0 {
            return Err(BrowserError::NotClickable {
                selector: css_selector.to_owned(),
                width,
                height,
            });
        }
        for (kind, buttons) in [("mouseMoved", 0), ("mousePressed", 1), ("mouseReleased", 0)] {
            let mut event = json!({ "type": kind, "x": x, "y": y, "buttons": buttons });
            if kind != "mouseMoved" {
                event["button"] = Value::from("left");
                event["clickCount"] = Value::from(1);
            }
            self.command("Input.dispatchMouseEvent", event)?;
        }
        Ok(())
    }

    /// Scrolls the page to `y` CSS pixels from the top.
    pub fn scroll_to(&mut self, y: f64) -> Result<()> {
        self.eval(&format!("window.scrollTo(0, {y})"))?;
        Ok(())
    }

    /// Brings the records up to date: events the page sent before this call
    /// arrive before the reply to a round trip through it. Best effort (a
    /// blocked or crashed page leaves the records as they are).
    fn settle(&mut self) {
        let _ = self.command("Runtime.evaluate", json!({ "expression": "0" }));
    }

    /// The page's console calls so far.
    pub fn console(&mut self) -> &[ConsoleMessage] {
        self.settle();
        &self.console
    }

    /// The exceptions the page did not catch so far.
    pub fn exceptions(&mut self) -> &[JsException] {
        self.settle();
        &self.exceptions
    }

    /// The dialogs the page opened so far (each answered at once: see
    /// [`Page::set_accept_dialogs`]).
    pub fn dialogs(&mut self) -> &[Dialog] {
        self.settle();
        &self.dialogs
    }

    /// The browser's log entries for the page so far, among them Content
    /// Security Policy violations.
    pub fn log_entries(&mut self) -> &[LogEntry] {
        self.settle();
        &self.log_entries
    }

    /// Forgets the console messages, exceptions, dialogs and log entries
    /// recorded so far.
    pub fn clear_records(&mut self) {
        self.settle();
        self.console.clear();
        self.exceptions.clear();
        self.dialogs.clear();
        self.log_entries.clear();
    }
}

/// A command to the browser itself (no session), before the page exists.
fn browser_command(connection: &mut Connection, method: &str, params: Value) -> Result<Value> {
    let id = connection.send(method, params, None)?;
    let deadline = Instant::now() + DEFAULT_TIMEOUT;
    loop {
        let Some(message) = connection.receive(method, deadline)? else {
            return Err(BrowserError::Timeout {
                method: method.to_owned(),
                after: DEFAULT_TIMEOUT,
            });
        };
        if message.get("id").and_then(Value::as_u64) == Some(id) {
            return reply_result(method, message);
        }
    }
}

fn reply_result(method: &str, mut message: Value) -> Result<Value> {
    if let Some(error) = message.get("error") {
        let mut text = error["message"]
            .as_str()
            .unwrap_or("(no message)")
            .to_owned();
        if let Some(data) = error.get("data").and_then(Value::as_str) {
            text = format!("{text} ({data})");
        }
        return Err(BrowserError::Protocol {
            method: method.to_owned(),
            code: error["code"].as_i64().unwrap_or(0),
            message: text,
        });
    }
    Ok(message
        .get_mut("result")
        .map(Value::take)
        .unwrap_or(Value::Null))
}

fn string_field(reply: &Value, field: &str, method: &str) -> Result<String> {
    reply
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| unexpected(method, reply))
}

fn unexpected(method: &str, answer: &Value) -> BrowserError {
    BrowserError::Unexpected {
        method: method.to_owned(),
        answer: answer.to_string(),
    }
}

fn keys(value: &Value) -> Vec<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// An exception's text: the thrown value's description (an `Error`'s
/// message and stack) when there is one, else Chromium's summary.
fn exception_text(details: &Value) -> String {
    let exception = &details["exception"];
    exception["description"]
        .as_str()
        .or_else(|| exception["value"].as_str())
        .map(str::to_owned)
        .or_else(|| exception.get("value").map(Value::to_string))
        .or_else(|| details["text"].as_str().map(str::to_owned))
        .unwrap_or_else(|| details.to_string())
}

/// A console argument as text: strings as they are, other values as JSON,
/// objects by their description.
fn remote_text(argument: &Value) -> String {
    match argument.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(value) => value.to_string(),
        None => argument["unserializableValue"]
            .as_str()
            .or_else(|| argument["description"].as_str())
            .or_else(|| argument["type"].as_str())
            .unwrap_or_default()
            .to_owned(),
    }
}

/// What Chromium needs to type a key: its `code`, its Windows key code, the
/// text it inserts, and the modifiers (Shift for capitals).
struct KeySpec {
    code: String,
    key_code: u32,
    text: Option<String>,
    modifiers: u32,
}

impl KeySpec {
    const SHIFT: u32 = 8;

    fn of(key: &str) -> Option<KeySpec> {
        let named = |code: &str, key_code, text: Option<&str>| KeySpec {
            code: code.to_owned(),
            key_code,
            text: text.map(str::to_owned),
            modifiers: 0,
        };
        Some(match key {
            "Enter" => named("Enter", 13, Some("\r")),
            "Escape" => named("Escape", 27, None),
            "Tab" => named("Tab", 9, None),
            "Backspace" => named("Backspace", 8, None),
            "Delete" => named("Delete", 46, None),
            " " => named("Space", 32, Some(" ")),
            "ArrowLeft" => named("ArrowLeft", 37, None),
            "ArrowUp" => named("ArrowUp", 38, None),
            "ArrowRight" => named("ArrowRight", 39, None),
            "ArrowDown" => named("ArrowDown", 40, None),
            "Home" => named("Home", 36, None),
            "End" => named("End", 35, None),
            "PageUp" => named("PageUp", 33, None),
            "PageDown" => named("PageDown", 34, None),
            _ => {
                let mut chars = key.chars();
                let (Some(c), None) = (chars.next(), chars.next()) else {
                    return None;
                };
                let upper = c.to_ascii_uppercase();
                let (code, modifiers) = if c.is_ascii_lowercase() {
                    (format!("Key{upper}"), 0)
                } else if c.is_ascii_uppercase() {
                    (format!("Key{c}"), Self::SHIFT)
                } else if c.is_ascii_digit() {
                    (format!("Digit{c}"), 0)
                } else {
                    return None;
                };
                KeySpec {
                    code,
                    key_code: u32::from(upper),
                    text: Some(c.to_string()),
                    modifiers,
                }
            }
        })
    }
}
