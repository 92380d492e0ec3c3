//! Where stages' log messages go: standard error, one line each, prefixed
//! with the stage's name; errors and warnings always, the rest with `-v`.
//!
//! A plugin's messages arrive through the host's log callback
//! (`kiln_plugin_api::log`), from any worker thread, and are third-party
//! text: every control character is escaped before it reaches the terminal.

use super::terminal::escape_controls;
use kiln::plugin_api::log::{self, LogLevel};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether messages below warnings are printed too (`-v`). The handler is a
/// plain function pointer, so the setting lives here.
static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Routes every stage's log messages to standard error for the rest of the
/// process.
pub(crate) fn install(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
    log::set_log_handler(Some(print_record));
}

/// Whether a message of `level` is printed.
fn shown(level: LogLevel, verbose: bool) -> bool {
    level <= LogLevel::Warn || verbose
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warning",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
        LogLevel::Trace => "trace",
        _ => "log",
    }
}

/// One log record as the line printed for it, without the newline.
fn format_record(level: LogLevel, target: &str, message: &str) -> String {
    format!(
        "kiln: [{}] {}: {}",
        escape_controls(target),
        level_name(level),
        escape_controls(message)
    )
}

fn print_record(level: LogLevel, target: &str, message: &str) {
    if !shown(level, VERBOSE.load(Ordering::Relaxed)) {
        return;
    }
    let line = format_record(level, target, message);
    // One write per line, so lines from several workers never interleave;
    // a closed standard error is not worth failing a stage over.
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_warnings_always_the_rest_only_when_verbose() {
        assert!(shown(LogLevel::Error, false));
        assert!(shown(LogLevel::Warn, false));
        assert!(!shown(LogLevel::Info, false));
        assert!(!shown(LogLevel::Debug, false));
        assert!(shown(LogLevel::Debug, true));
        assert!(shown(LogLevel::Trace, true));
    }

    #[test]
    fn a_record_is_one_escaped_line_prefixed_with_its_stage() {
        assert_eq!(
            format_record(LogLevel::Warn, "pal\u{1b}ette", "bad\r\nproxy\u{7}"),
            "kiln: [pal\\x1bette] warning: bad\\r\\nproxy\\x07"
        );
    }
}
