//! The keys `Page::press_key` knows, with what Chromium needs to type them.

/// What Chromium needs to type a key: its `code`, its Windows key code, the
/// text it inserts, and the modifiers (Shift for capitals).
pub(super) struct KeySpec {
    pub(super) code: String,
    pub(super) key_code: u32,
    pub(super) text: Option<String>,
    pub(super) modifiers: u32,
}

impl KeySpec {
    const SHIFT: u32 = 8;

    pub(super) fn of(key: &str) -> Option<KeySpec> {
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
