//! WebP writers: an `EXIF` or `XMP ` chunk in an extended (VP8X) file.

use super::EmbedError;

const FLAG_ALPHA: u8 = 0x10;
const FLAG_EXIF: u8 = 0x08;
const FLAG_XMP: u8 = 0x04;

/// Adds an `EXIF` chunk holding `tiff` (the TIFF block itself, as the WebP
/// container specification says, without an `Exif\0\0` prefix). A simple
/// (VP8/VP8L) file is first turned into an extended (VP8X) one.
pub fn insert_webp_exif(webp: &[u8], tiff: &[u8]) -> Result<Vec<u8>, EmbedError> {
    insert_chunk(webp, *b"EXIF", tiff, FLAG_EXIF)
}

/// Adds an `XMP ` chunk holding the XMP packet `xmp`.
pub fn insert_webp_xmp(webp: &[u8], xmp: &str) -> Result<Vec<u8>, EmbedError> {
    insert_chunk(webp, *b"XMP ", xmp.as_bytes(), FLAG_XMP)
}

fn insert_chunk(
    webp: &[u8],
    kind: [u8; 4],
    payload: &[u8],
    flag: u8,
) -> Result<Vec<u8>, EmbedError> {
    if webp.get(..4) != Some(b"RIFF".as_slice()) || webp.get(8..12) != Some(b"WEBP".as_slice()) {
        return Err(EmbedError::NotWebp("missing RIFF/WEBP header".into()));
    }
    let first_kind = webp
        .get(12..16)
        .ok_or_else(|| EmbedError::NotWebp("no chunk after the header".into()))?;
    let first_len = webp
        .get(16..20)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(|| EmbedError::NotWebp("truncated first chunk".into()))?;
    let first_data = webp
        .get(20..20 + first_len)
        .ok_or_else(|| EmbedError::NotWebp("truncated first chunk".into()))?;

    let mut body = b"WEBP".to_vec();
    match first_kind {
        b"VP8X" => {
            let mut vp8x = first_data.to_vec();
            if let Some(flags) = vp8x.first_mut() {
                *flags |= flag;
            }
            push_chunk(&mut body, *b"VP8X", &vp8x)?;
            let rest_start = 20 + first_len + first_len % 2;
            body.extend_from_slice(webp.get(rest_start..).unwrap_or_default());
        }
        b"VP8 " | b"VP8L" => {
            let (width, height, alpha) = simple_canvas(first_kind, first_data)?;
            let mut vp8x = vec![flag | if alpha { FLAG_ALPHA } else { 0 }, 0, 0, 0];
            vp8x.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
            vp8x.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
            push_chunk(&mut body, *b"VP8X", &vp8x)?;
            body.extend_from_slice(webp.get(12..).unwrap_or_default());
        }
        other => {
            return Err(EmbedError::NotWebp(format!(
                "unexpected first chunk {:?}",
                String::from_utf8_lossy(other)
            )));
        }
    }
    // A chunk that ends on an odd offset is padded; keep the body even.
    if body.len() % 2 == 1 {
        body.push(0);
    }
    push_chunk(&mut body, kind, payload)?;

    let riff_len = u32::try_from(body.len()).map_err(|_| EmbedError::RiffTooLarge)?;
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_len.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

fn push_chunk(out: &mut Vec<u8>, kind: [u8; 4], data: &[u8]) -> Result<(), EmbedError> {
    let len = u32::try_from(data.len()).map_err(|_| EmbedError::RiffTooLarge)?;
    out.extend_from_slice(&kind);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
    Ok(())
}

/// The canvas size and alpha use of a simple-format WebP image chunk.
fn simple_canvas(kind: &[u8], data: &[u8]) -> Result<(u32, u32, bool), EmbedError> {
    let bad = || EmbedError::NotWebp("image chunk header is truncated or invalid".into());
    if kind == b"VP8L" {
        let bits = match data.get(..5) {
            Some(&[0x2F, a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
            _ => return Err(bad()),
        };
        let width = (bits & 0x3FFF) + 1;
        let height = ((bits >> 14) & 0x3FFF) + 1;
        let alpha = (bits >> 28) & 1 == 1;
        Ok((width, height, alpha))
    } else {
        match data.get(3..10) {
            Some(&[0x9D, 0x01, 0x2A, w0, w1, h0, h1]) => {
                let width = u32::from(u16::from_le_bytes([w0, w1]) & 0x3FFF);
                let height = u32::from(u16::from_le_bytes([h0, h1]) & 0x3FFF);
                if width == 0 || height == 0 {
                    return Err(bad());
                }
                Ok((width, height, false))
            }
            _ => Err(bad()),
        }
    }
}
