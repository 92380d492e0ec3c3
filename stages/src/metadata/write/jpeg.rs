//! JPEG segment writers: EXIF (APP1), XMP (APP1) and comments (COM).

use super::EmbedError;

const XMP_HEADER: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";

/// Inserts an APP1 `Exif\0\0` segment holding `tiff` (see
/// [`ExifFields::to_tiff`](super::ExifFields::to_tiff); any bytes are
/// accepted, so tests can write malformed EXIF on purpose).
pub fn insert_jpeg_exif(jpeg: &[u8], tiff: &[u8]) -> Result<Vec<u8>, EmbedError> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(tiff);
    insert_segment(jpeg, 0xE1, &payload, "EXIF block")
}

/// Inserts an APP1 XMP segment holding the XMP packet `xmp`.
pub fn insert_jpeg_xmp(jpeg: &[u8], xmp: &str) -> Result<Vec<u8>, EmbedError> {
    let mut payload = XMP_HEADER.to_vec();
    payload.extend_from_slice(xmp.as_bytes());
    insert_segment(jpeg, 0xE1, &payload, "XMP packet")
}

/// Inserts a COM segment holding `text` as UTF-8.
pub fn insert_jpeg_comment(jpeg: &[u8], text: &str) -> Result<Vec<u8>, EmbedError> {
    insert_segment(jpeg, 0xFE, text.as_bytes(), "comment")
}

/// Inserts a segment after SOI and any APP0 (JFIF) segments that follow it.
fn insert_segment(
    jpeg: &[u8],
    marker: u8,
    payload: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, EmbedError> {
    if jpeg.get(..2) != Some([0xFF, 0xD8].as_slice()) {
        return Err(EmbedError::NotJpeg);
    }
    let len = u16::try_from(payload.len() + 2).map_err(|_| EmbedError::SegmentTooLarge {
        what,
        len: payload.len(),
    })?;
    let mut at = 2;
    while let Some(&[0xFF, 0xE0, hi, lo]) = jpeg.get(at..at + 4) {
        let next = at + 2 + usize::from(u16::from_be_bytes([hi, lo]));
        if next > jpeg.len() {
            break;
        }
        at = next;
    }
    let mut out = Vec::with_capacity(jpeg.len() + payload.len() + 4);
    out.extend_from_slice(jpeg.get(..at).ok_or(EmbedError::NotJpeg)?);
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(jpeg.get(at..).ok_or(EmbedError::NotJpeg)?);
    Ok(out)
}
