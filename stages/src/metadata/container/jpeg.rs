//! JPEG segment walk up to the first scan: EXIF and XMP (APP1), C2PA
//! (APP11 JUMBF), comments (COM) and the frame size (SOFn).

use super::{Container, read_vec, skip};
use crate::metadata::text::{latin1_or_utf8, trim_nuls};
use std::io::{self, Read, Seek};

const XMP_HEADER: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";

/// The most segments walked before the scan; real files have a dozen.
const MAX_SEGMENTS: usize = 100_000;

pub(super) fn read<R: Read + Seek>(source: &mut R, out: &mut Container) -> io::Result<()> {
    skip(source, 2)?;
    for _ in 0..MAX_SEGMENTS {
        let marker = next_marker(source)?;
        match marker {
            // Markers without a length: TEM, RSTn, SOI.
            0x01 | 0xD0..=0xD8 => continue,
            // Start of scan or end of image: metadata comes before them.
            0xDA | 0xD9 => return Ok(()),
            _ => {}
        }
        let mut len_bytes = [0u8; 2];
        source.read_exact(&mut len_bytes)?;
        let len = u64::from(u16::from_be_bytes(len_bytes));
        if len < 2 {
            out.problem(
                "JPEG",
                format!("segment FF{marker:02X} has invalid length {len}; stopped"),
            );
            return Ok(());
        }
        let len = len - 2;
        match marker {
            0xE1 | 0xEB | 0xFE => {
                let location = format!("JPEG FF{marker:02X}");
                if out.admit(&location, len) {
                    let data = read_vec(source, len)?;
                    segment(marker, data, out);
                } else {
                    skip(source, len)?;
                }
            }
            0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                let data = read_vec(source, len)?;
                if let Some(&[_precision, h0, h1, w0, w1]) = data.get(..5) {
                    out.pixel_size = Some((
                        u32::from(u16::from_be_bytes([w0, w1])),
                        u32::from(u16::from_be_bytes([h0, h1])),
                    ));
                }
            }
            _ => skip(source, len)?,
        }
    }
    out.problem(
        "JPEG",
        "too many segments before the image data; stopped reading",
    );
    Ok(())
}

/// Reads the next marker byte, skipping fill bytes (`FF FF ...`).
fn next_marker<R: Read>(source: &mut R) -> io::Result<u8> {
    let mut byte = [0u8; 1];
    source.read_exact(&mut byte)?;
    if byte[0] != 0xFF {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("expected a segment marker, found byte {:02X}", byte[0]),
        ));
    }
    loop {
        source.read_exact(&mut byte)?;
        if byte[0] != 0xFF {
            return Ok(byte[0]);
        }
    }
}

fn segment(marker: u8, data: Vec<u8>, out: &mut Container) {
    match marker {
        0xE1 => {
            if let Some(tiff) = data.strip_prefix(b"Exif\0\0".as_slice()) {
                if out.exif.is_none() {
                    out.exif = Some(tiff.to_vec());
                }
            } else if let Some(xmp) = data.strip_prefix(XMP_HEADER) {
                out.push_text("XMP".to_owned(), trim_nuls(latin1_or_utf8(xmp)));
            }
        }
        0xEB
            // C2PA manifests travel in JUMBF boxes split over APP11 segments;
            // the pieces are joined in order so the text fields can be found.
            if data.windows(4).any(|w| w == b"jumb" || w == b"c2pa") => {
                let joined = out.c2pa.get_or_insert_with(Vec::new);
                joined.extend_from_slice(&data);
            }
        0xFE => {
            out.push_text("COM".to_owned(), trim_nuls(latin1_or_utf8(&data)));
        }
        _ => {}
    }
}
