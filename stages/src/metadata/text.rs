//! Text decoding for metadata payloads whose encoding is declared badly or not
//! at all: Latin-1 versus UTF-8 in PNG `tEXt`, UTF-16 of either byte order in
//! EXIF `UserComment`.

/// Decodes text that is specified as Latin-1 but is often UTF-8 in practice.
///
/// Bytes that are valid UTF-8 and contain a multi-byte sequence are taken as
/// UTF-8 (a Latin-1 text almost never forms valid UTF-8 by accident); any
/// other bytes are Latin-1, which maps every byte to one character.
pub(crate) fn latin1_or_utf8(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Decodes UTF-16 whose byte order is uncertain.
///
/// A byte-order mark wins. Otherwise the order is sniffed: generation
/// metadata always contains ASCII (keys, digits, punctuation), whose high
/// byte is zero, so the side with more zero bytes is the high byte. Ties fall
/// back to `default_big_endian` (the TIFF byte order).
pub(crate) fn utf16_sniffed(bytes: &[u8], default_big_endian: bool) -> String {
    let (body, big_endian) = match bytes {
        [0xFE, 0xFF, rest @ ..] => (rest, true),
        [0xFF, 0xFE, rest @ ..] => (rest, false),
        _ => {
            let sample = &bytes[..bytes.len().min(4096)];
            let mut zeros_even = 0usize;
            let mut zeros_odd = 0usize;
            for pair in sample.chunks_exact(2) {
                zeros_even += usize::from(pair[0] == 0);
                zeros_odd += usize::from(pair[1] == 0);
            }
            let big = match zeros_even.cmp(&zeros_odd) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Equal => default_big_endian,
            };
            (bytes, big)
        }
    };
    let units = body.chunks_exact(2).map(|pair| {
        if big_endian {
            u16::from_be_bytes([pair[0], pair[1]])
        } else {
            u16::from_le_bytes([pair[0], pair[1]])
        }
    });
    let text: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    trim_nuls(text)
}

/// Decodes an EXIF `UserComment`: an 8-byte character-set header followed by
/// the text, or (as some ComfyUI savers write) the text with no header.
pub(crate) fn user_comment(bytes: &[u8], tiff_big_endian: bool) -> String {
    match bytes.split_at_checked(8) {
        Some((b"UNICODE\0", rest)) => utf16_sniffed(rest, tiff_big_endian),
        Some((b"ASCII\0\0\0", rest)) | Some((b"\0\0\0\0\0\0\0\0", rest)) => {
            trim_nuls(latin1_or_utf8(rest))
        }
        Some((b"JIS\0\0\0\0\0", rest)) => trim_nuls(String::from_utf8_lossy(rest).into_owned()),
        _ => trim_nuls(latin1_or_utf8(bytes)),
    }
}

/// Drops NUL characters at either end, which C-string writers leave behind.
pub(crate) fn trim_nuls(text: String) -> String {
    let trimmed = text.trim_matches('\0');
    if trimmed.len() == text.len() {
        text
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_order_is_sniffed_from_ascii() {
        let be: Vec<u8> = "Steps: 5"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        let le: Vec<u8> = "Steps: 5"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(utf16_sniffed(&be, false), "Steps: 5");
        assert_eq!(utf16_sniffed(&le, true), "Steps: 5");
    }

    #[test]
    fn latin1_is_kept_when_not_utf8() {
        assert_eq!(latin1_or_utf8(b"caf\xe9"), "café");
        assert_eq!(latin1_or_utf8("café".as_bytes()), "café");
    }

    #[test]
    fn user_comment_headers() {
        assert_eq!(user_comment(b"ASCII\0\0\0{}\0", false), "{}");
        assert_eq!(user_comment(b"{\"a\":1}", false), "{\"a\":1}");
        assert_eq!(user_comment(b"UNICODE\0\0h\0i", false), "hi");
    }
}
