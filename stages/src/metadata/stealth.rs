//! "Stealth" metadata: a copy of the parameters hidden in the least
//! significant bit of the alpha channel (A1111 stealth pnginfo, NovelAI).
//!
//! The bits run column by column (x outer, y inner), most significant bit
//! first: a 15-byte signature (`stealth_pnginfo` plain, `stealth_pngcomp`
//! gzip), a 32-bit payload length in bits, then the payload. Reading it
//! needs the decoded pixels, so it is only tried on images with an alpha
//! channel whose chunks name no generator and carry no C2PA manifest.

use std::io::Cursor;

const SIGNATURE_BITS: usize = 15 * 8;

/// The largest image decoded for stealth data (both sides, in pixels).
const MAX_SIDE: u32 = 16_384;

/// The largest payload accepted, in bytes.
const MAX_PAYLOAD_BYTES: usize = 16 << 20;

/// The hidden text, `Ok(None)` when the image carries none.
pub(crate) fn read(bytes: &[u8]) -> Result<Option<String>, String> {
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot read the image for stealth metadata: {e}"))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|e| format!("cannot decode the image for stealth metadata: {e}"))?;
    if !decoded.color().has_alpha() {
        return Ok(None);
    }
    let rgba = decoded.into_rgba8();
    let (width, height) = rgba.dimensions();
    let alpha_bits = (0..width)
        .flat_map(|x| (0..height).map(move |y| (x, y)))
        .map(|(x, y)| rgba.get_pixel(x, y).0[3] & 1);
    decode_bits(alpha_bits)
}

/// Decodes the signature, length and payload from a stream of bits.
fn decode_bits(mut bits: impl Iterator<Item = u8>) -> Result<Option<String>, String> {
    let signature = take_bytes(&mut bits, SIGNATURE_BITS / 8);
    let compressed = match signature.as_deref() {
        Some(b"stealth_pnginfo") => false,
        Some(b"stealth_pngcomp") => true,
        _ => return Ok(None),
    };
    let Some(length) = take_bytes(&mut bits, 4) else {
        return Err("stealth metadata is cut short before its length".to_owned());
    };
    let bit_len = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
    let byte_len = bit_len / 8;
    if byte_len > MAX_PAYLOAD_BYTES {
        return Err(format!("stealth metadata claims {byte_len} bytes; skipped"));
    }
    let payload = take_bytes(&mut bits, byte_len)
        .ok_or_else(|| "stealth metadata is cut short".to_owned())?;
    let text = if compressed {
        gunzip(&payload)?
    } else {
        payload
    };
    Ok(Some(String::from_utf8_lossy(&text).into_owned()))
}

fn take_bytes(bits: &mut impl Iterator<Item = u8>, count: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(count.min(1 << 20));
    for _ in 0..count {
        let mut byte = 0u8;
        for _ in 0..8 {
            byte = (byte << 1) | bits.next()?;
        }
        out.push(byte);
    }
    Some(out)
}

/// Unwraps a gzip member (RFC 1952) and inflates it with a size limit.
fn gunzip(data: &[u8]) -> Result<Vec<u8>, String> {
    let bad = || "stealth metadata is not valid gzip".to_owned();
    let [0x1F, 0x8B, 8, flags, _, _, _, _, _, _, rest @ ..] = data else {
        return Err(bad());
    };
    let mut body = rest;
    if flags & 0x04 != 0 {
        let [lo, hi, tail @ ..] = body else {
            return Err(bad());
        };
        body = tail
            .get(usize::from(u16::from_le_bytes([*lo, *hi]))..)
            .ok_or_else(bad)?;
    }
    for flag in [0x08, 0x10] {
        if flags & flag != 0 {
            let end = body.iter().position(|&b| b == 0).ok_or_else(bad)?;
            body = body.get(end + 1..).ok_or_else(bad)?;
        }
    }
    if flags & 0x02 != 0 {
        body = body.get(2..).ok_or_else(bad)?;
    }
    miniz_oxide::inflate::decompress_to_vec_with_limit(body, MAX_PAYLOAD_BYTES)
        .map_err(|e| format!("stealth metadata does not inflate ({:?})", e.status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits_of(bytes: &[u8]) -> Vec<u8> {
        bytes
            .iter()
            .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
            .collect()
    }

    #[test]
    fn plain_payload_round_trips() {
        let mut bytes = b"stealth_pnginfo".to_vec();
        bytes.extend_from_slice(&(5u32 * 8).to_be_bytes());
        bytes.extend_from_slice(b"hello");
        let text = decode_bits(bits_of(&bytes).into_iter()).expect("ok");
        assert_eq!(text.as_deref(), Some("hello"));
    }

    #[test]
    fn other_bits_are_not_stealth() {
        assert_eq!(decode_bits(std::iter::repeat_n(1, 400)), Ok(None));
        assert!(gunzip(b"\x1f\x8b").is_err());
    }
}
