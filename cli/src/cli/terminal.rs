//! Text from elsewhere (plugins, file names, file metadata) made safe to
//! print on a terminal: one line, no escape sequences.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every character a terminal could act on written as a
/// visible escape instead: control characters (ESC, BEL, CR, LF, DEL, the
/// C1 range) as `\x1b` or `\u{9b}`, and the bidirectional-text overrides
/// that reorder what is shown as `\u{202e}`. A backslash stays as it is,
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
        } else if u32::from(c) < 0x80 {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

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
            "\\x1b[31mred\\x07\\x0d\\x0anext\\x7f\\u{9b}\\x09"
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
