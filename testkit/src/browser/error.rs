//! What can go wrong driving the browser; messages name the DevTools method
//! and Chromium's own error text.

use std::path::PathBuf;
use std::time::Duration;

use super::CHROMIUM_VAR;
#[cfg(doc)]
use super::Page;

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
