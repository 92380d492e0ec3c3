//! Logging from stages, in-process or across the plugin boundary.
//!
//! Every cdylib has its own copy of std and of any logging crate, so a logger
//! set up by the host is invisible inside a plugin. A stage therefore logs
//! through [`log`]: inside a plugin the message goes to the host's
//! [`HostApi::log`](crate::abi::HostApi::log) callback; in the host process it
//! goes straight to the handler the application installed with
//! [`set_log_handler`]. Either way it ends in the same place.

use crate::abi;
use std::sync::{PoisonError, RwLock};

/// How important a log message is.
///
/// ```
/// use kiln_plugin_api::log::LogLevel;
/// assert!(LogLevel::Error < LogLevel::Debug);
/// assert_eq!(LogLevel::from_raw(LogLevel::Warn.as_raw()), Some(LogLevel::Warn));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something looks wrong but processing continues.
    Warn,
    /// Progress a user may want to see.
    Info,
    /// Detail for the stage's author.
    Debug,
    /// Very verbose detail.
    Trace,
}

impl LogLevel {
    /// The integer that crosses the boundary (one of `abi::LOG_*`).
    ///
    /// ```
    /// use kiln_plugin_api::{abi, log::LogLevel};
    /// assert_eq!(LogLevel::Info.as_raw(), abi::LOG_INFO);
    /// ```
    pub fn as_raw(self) -> u32 {
        match self {
            LogLevel::Error => abi::LOG_ERROR,
            LogLevel::Warn => abi::LOG_WARN,
            LogLevel::Info => abi::LOG_INFO,
            LogLevel::Debug => abi::LOG_DEBUG,
            LogLevel::Trace => abi::LOG_TRACE,
        }
    }

    /// The level for an integer from the boundary, `None` if unknown.
    ///
    /// ```
    /// use kiln_plugin_api::log::LogLevel;
    /// assert_eq!(LogLevel::from_raw(1), Some(LogLevel::Error));
    /// assert_eq!(LogLevel::from_raw(0), None);
    /// ```
    pub fn from_raw(raw: u32) -> Option<LogLevel> {
        match raw {
            abi::LOG_ERROR => Some(LogLevel::Error),
            abi::LOG_WARN => Some(LogLevel::Warn),
            abi::LOG_INFO => Some(LogLevel::Info),
            abi::LOG_DEBUG => Some(LogLevel::Debug),
            abi::LOG_TRACE => Some(LogLevel::Trace),
            _ => None,
        }
    }
}

/// Receives every log message in the host process: level, target (usually
/// the stage name) and message. It must not block for long; it may be called
/// from any worker thread.
///
/// ```
/// use kiln_plugin_api::log::{LogHandler, LogLevel};
/// let handler: LogHandler = |level, target, message| {
///     if level <= LogLevel::Warn {
///         eprintln!("[{target}] {message}");
///     }
/// };
/// # let _ = handler;
/// ```
pub type LogHandler = fn(level: LogLevel, target: &str, message: &str);

static HANDLER: RwLock<Option<LogHandler>> = RwLock::new(None);

/// Installs (or with `None` removes) the process-wide log handler. Messages
/// logged while no handler is installed are dropped.
///
/// ```
/// use kiln_plugin_api::log::{log, set_log_handler, LogLevel};
/// set_log_handler(Some(|level, target, message| eprintln!("{level:?} {target}: {message}")));
/// log(LogLevel::Info, "palette", "ready");
/// set_log_handler(None);
/// ```
pub fn set_log_handler(handler: Option<LogHandler>) {
    *HANDLER.write().unwrap_or_else(PoisonError::into_inner) = handler;
}

/// Logs a message from a stage. `target` names the source, usually the
/// stage's name.
///
/// ```
/// use kiln_plugin_api::log::{log, LogLevel};
/// log(LogLevel::Debug, "palette", "decoded proxy in 3 ms");
/// ```
pub fn log(level: LogLevel, target: &str, message: &str) {
    if !crate::ffi::forward_log_to_host(level, target, message) {
        dispatch(level, target, message);
    }
}

/// Hands a message to the handler installed in this process, if any, and
/// never forwards it to a host.
///
/// This is for hosts: the host's [`HostApi::log`](crate::abi::HostApi::log)
/// callback delivers what a plugin logged with it. A stage calls [`log`].
///
/// ```
/// use kiln_plugin_api::log::{dispatch, LogLevel};
/// dispatch(LogLevel::Warn, "palette", "a message received from a plugin");
/// ```
pub fn dispatch(level: LogLevel, target: &str, message: &str) {
    let handler = *HANDLER.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(handler) = handler {
        handler(level, target, message);
    }
}
