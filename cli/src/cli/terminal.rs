//! Text from elsewhere (plugins, file names, file metadata) made safe to
//! print on a terminal: one line, no escape sequences.
//!
//! The one rule for human output: every line the command line prints goes
//! through [`print_line!`] or [`eprint_line!`], which escape the whole line.
//! kiln's own format strings hold no control characters, so escaping the
//! line is escaping every value in it (a file name, a prompt, a stage name,
//! an error that quotes either). JSON output is printed as serde writes it,
//! which escapes control characters itself.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every character a terminal could act on written as a
/// visible escape instead: line feed, carriage return and tab as `\n`,
/// `\r` and `\t`, other control characters (ESC, BEL, DEL, the C1 range)
/// as `\x1b` or `\u{9b}`, and the bidirectional-text overrides that
/// reorder what is shown as `\u{202e}`. A backslash stays as it is,
/// so the escapes are for reading, not a reversible encoding. Borrowed
/// when nothing needed escaping.
pub(crate) fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs_escape(c) {
            out.push(c);
        } else if let Some(named) = named_escape(c) {
            out.push_str(named);
        } else if u32::from(c) < 0x80 {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
    Cow::Owned(out)
}

fn named_escape(c: char) -> Option<&'static str> {
    match c {
        '\n' => Some("\\n"),
        '\r' => Some("\\r"),
        '\t' => Some("\\t"),
        _ => None,
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `println!` for human output: the line is printed with every control
/// character escaped (see the module's rule).
macro_rules! print_line {
    () => {
        println!()
    };
    ($($arg:tt)*) => {
        println!("{}", $crate::cli::terminal::escape_controls(&format!($($arg)*)))
    };
}

/// `eprintln!` for human output, escaped as [`print_line!`] is.
macro_rules! eprint_line {
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::cli::terminal::escape_controls(&format!($($arg)*)))
    };
}

pub(crate) use {eprint_line, print_line};

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "a lighthouse at dusk, 東京 — 100%";
        assert!(matches!(escape_controls(text), std::borrow::Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(
            escape_controls("\u{1b}[31mred\u{7}\r\nnext\u{7f}\u{9b}\t"),
            "\\x1b[31mred\\x07\\r\\nnext\\x7f\\u{9b}\\t"
        );
    }

    #[test]
    fn bidirectional_overrides_are_escaped() {
        assert_eq!(
            escape_controls("a\u{202e}b\u{2066}c"),
            "a\\u{202e}b\\u{2066}c"
        );
    }
}
