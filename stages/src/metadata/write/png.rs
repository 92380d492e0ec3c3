//! PNG text-chunk writers: `tEXt`, `iTXt` (plain or compressed) and `zTXt`.

use super::EmbedError;

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// One PNG chunk ready to be inserted: its four-letter type and its data.
///
/// The length and CRC are computed when the chunk is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PngChunk {
    /// The chunk type, e.g. `*b"tEXt"`.
    pub kind: [u8; 4],
    /// The chunk data, without length or CRC.
    pub data: Vec<u8>,
}

impl PngChunk {
    /// A chunk of any type with raw data, for writing what real tools write
    /// even when it breaks the specification (UTF-8 in `tEXt`, `caBX`, …).
    pub fn new(kind: [u8; 4], data: Vec<u8>) -> Self {
        PngChunk { kind, data }
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        let len = u32::try_from(self.data.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.kind);
        out.extend_from_slice(&self.data);
        let crc = crc32(crc32(0, &self.kind), &self.data);
        out.extend_from_slice(&crc.to_be_bytes());
    }
}

/// A `tEXt` chunk; the text must be Latin-1 (as the PNG specification says).
pub fn text_chunk(keyword: &str, text: &str) -> Result<PngChunk, EmbedError> {
    let mut data = keyword_bytes(keyword)?;
    data.push(0);
    data.extend(latin1_bytes(text).ok_or_else(|| EmbedError::NotLatin1(keyword.to_owned()))?);
    Ok(PngChunk::new(*b"tEXt", data))
}

/// A `zTXt` chunk: Latin-1 text, zlib-compressed.
pub fn ztxt_chunk(keyword: &str, text: &str) -> Result<PngChunk, EmbedError> {
    let mut data = keyword_bytes(keyword)?;
    data.push(0);
    data.push(0); // compression method 0: zlib deflate
    let latin1 = latin1_bytes(text).ok_or_else(|| EmbedError::NotLatin1(keyword.to_owned()))?;
    data.extend(miniz_oxide::deflate::compress_to_vec_zlib(&latin1, 6));
    Ok(PngChunk::new(*b"zTXt", data))
}

/// An `iTXt` chunk: UTF-8 text, optionally zlib-compressed, with empty
/// language tag and translated keyword.
pub fn itxt_chunk(keyword: &str, text: &str, compressed: bool) -> Result<PngChunk, EmbedError> {
    let mut data = keyword_bytes(keyword)?;
    data.push(0);
    data.push(u8::from(compressed));
    data.push(0); // compression method 0: zlib deflate
    data.push(0); // empty language tag
    data.push(0); // empty translated keyword
    if compressed {
        data.extend(miniz_oxide::deflate::compress_to_vec_zlib(
            text.as_bytes(),
            6,
        ));
    } else {
        data.extend_from_slice(text.as_bytes());
    }
    Ok(PngChunk::new(*b"iTXt", data))
}

/// Inserts `tEXt` (when the text is Latin-1) or else uncompressed `iTXt`
/// right after IHDR, which is what A1111 and ComfyUI do.
pub fn insert_png_text(png: &[u8], keyword: &str, text: &str) -> Result<Vec<u8>, EmbedError> {
    let chunk = match text_chunk(keyword, text) {
        Ok(chunk) => chunk,
        Err(EmbedError::NotLatin1(_)) => itxt_chunk(keyword, text, false)?,
        Err(other) => return Err(other),
    };
    insert_png_chunks(png, std::slice::from_ref(&chunk))
}

/// Inserts chunks right after IHDR, before any image data.
pub fn insert_png_chunks(png: &[u8], chunks: &[PngChunk]) -> Result<Vec<u8>, EmbedError> {
    let ihdr_end = ihdr_end(png)?;
    let mut out =
        Vec::with_capacity(png.len() + chunks.iter().map(|c| c.data.len() + 12).sum::<usize>());
    out.extend_from_slice(png.get(..ihdr_end).ok_or(EmbedError::NotPng)?);
    for chunk in chunks {
        chunk.write_to(&mut out);
    }
    out.extend_from_slice(png.get(ihdr_end..).ok_or(EmbedError::NotPng)?);
    Ok(out)
}

/// Inserts chunks just before IEND, after the image data (some tools do so).
/// When the file has no IEND, the chunks are appended at its end.
pub fn append_png_chunks(png: &[u8], chunks: &[PngChunk]) -> Result<Vec<u8>, EmbedError> {
    let mut pos = ihdr_end(png)?;
    let mut iend = png.len();
    while let Some(header) = pos.checked_add(8).and_then(|end| png.get(pos..end)) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if &header[4..8] == b"IEND" {
            iend = pos;
            break;
        }
        pos = pos.saturating_add(12).saturating_add(len);
    }
    let mut out =
        Vec::with_capacity(png.len() + chunks.iter().map(|c| c.data.len() + 12).sum::<usize>());
    out.extend_from_slice(png.get(..iend).ok_or(EmbedError::NotPng)?);
    for chunk in chunks {
        chunk.write_to(&mut out);
    }
    out.extend_from_slice(png.get(iend..).ok_or(EmbedError::NotPng)?);
    Ok(out)
}

/// The offset just past the IHDR chunk, which must come first.
fn ihdr_end(png: &[u8]) -> Result<usize, EmbedError> {
    if png.get(..8) != Some(SIGNATURE.as_slice()) || png.get(12..16) != Some(b"IHDR".as_slice()) {
        return Err(EmbedError::NotPng);
    }
    let len = png
        .get(8..12)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or(EmbedError::NotPng)?;
    let end = 8 + 12 + len;
    if end > png.len() {
        return Err(EmbedError::NotPng);
    }
    Ok(end)
}

fn keyword_bytes(keyword: &str) -> Result<Vec<u8>, EmbedError> {
    let bytes = latin1_bytes(keyword)
        .filter(|b| (1..=79).contains(&b.len()) && !b.contains(&0))
        .ok_or_else(|| EmbedError::BadKeyword(keyword.to_owned()))?;
    Ok(bytes)
}

fn latin1_bytes(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

/// CRC-32 (ISO 3309, as PNG uses it), bitwise: chunk writing is not hot.
fn crc32(previous: u32, bytes: &[u8]) -> u32 {
    let mut crc = !previous;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::crc32;

    #[test]
    fn crc_matches_the_iend_constant() {
        // Every PNG ends with IEND and this CRC.
        assert_eq!(crc32(0, b"IEND"), 0xAE42_6082);
    }
}
