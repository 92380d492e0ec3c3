//! WebP RIFF chunk walk: `EXIF`, `XMP `, C2PA and the canvas size.

use super::{Animation, Container, read_vec, skip};
use crate::metadata::text::{latin1_or_utf8, trim_nuls};
use std::io::{self, Read, Seek};

/// The most chunks walked; an animation has one per frame.
const MAX_CHUNKS: usize = 1_000_000;

pub(super) fn read<R: Read + Seek>(source: &mut R, out: &mut Container) -> io::Result<()> {
    // An animation's frames (`ANMF`) and their durations in milliseconds.
    let mut frames = (0u64, 0u64);
    let outcome = walk(source, out, &mut frames);
    if frames.0 > 1 {
        let duration = (frames.1 > 0).then(|| frames.1 as f64 / 1000.0);
        out.animation = Some(Animation {
            frames: Some(frames.0),
            duration,
            fps: duration.map(|d| frames.0 as f64 / d),
        });
    }
    outcome
}

fn walk<R: Read + Seek>(
    source: &mut R,
    out: &mut Container,
    frames: &mut (u64, u64),
) -> io::Result<()> {
    let mut header = [0u8; 12];
    source.read_exact(&mut header)?;
    for _ in 0..MAX_CHUNKS {
        let mut chunk_header = [0u8; 8];
        match source.read_exact(&mut chunk_header) {
            Ok(()) => {}
            // A RIFF file simply ends after its last chunk.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let [k0, k1, k2, k3, l0, l1, l2, l3] = chunk_header;
        let kind = [k0, k1, k2, k3];
        let len = u64::from(u32::from_le_bytes([l0, l1, l2, l3]));
        let padded = len + len % 2;
        match &kind {
            b"EXIF" | b"XMP " | b"C2PA" => {
                let location = format!("WebP {}", String::from_utf8_lossy(&kind).trim_end());
                if out.admit(&location, len) {
                    let data = read_vec(source, len)?;
                    skip(source, padded - len)?;
                    chunk(&kind, data, out);
                } else {
                    skip(source, padded)?;
                }
            }
            b"VP8X" | b"VP8 " | b"VP8L" if out.pixel_size.is_none() => {
                let data = read_vec(source, len.min(16))?;
                skip(source, padded - len.min(16))?;
                out.pixel_size = canvas(&kind, &data);
                out.has_alpha = match (&kind, data.as_slice()) {
                    (b"VP8X", [flags, ..]) => flags & 0x10 != 0,
                    (b"VP8L", [_, _, _, _, d, ..]) => d & 0x10 != 0,
                    _ => false,
                };
            }
            b"ANMF" if len >= 16 => {
                let data = read_vec(source, 16)?;
                skip(source, padded - 16)?;
                frames.0 += 1;
                frames.1 += u64::from(u32::from_le_bytes([data[12], data[13], data[14], 0]));
            }
            _ => skip(source, padded)?,
        }
    }
    out.problem("WebP", "more than a million chunks; stopped reading");
    Ok(())
}

fn chunk(kind: &[u8; 4], data: Vec<u8>, out: &mut Container) {
    match kind {
        b"EXIF" => {
            if out.exif.is_none() {
                // The specification says the payload is the TIFF block; some
                // writers keep the JPEG-style `Exif\0\0` prefix anyway.
                let tiff = match data.strip_prefix(b"Exif\0\0".as_slice()) {
                    Some(tiff) => tiff.to_vec(),
                    None => data,
                };
                out.exif = Some(tiff);
            }
        }
        b"XMP " => out.push_text("XMP".to_owned(), trim_nuls(latin1_or_utf8(&data))),
        _ => {
            if out.c2pa.is_none() {
                out.c2pa = Some(data);
            }
        }
    }
}

/// The canvas size from the first image-describing chunk.
fn canvas(kind: &[u8; 4], data: &[u8]) -> Option<(u32, u32)> {
    match (kind, data) {
        (b"VP8X", [_, _, _, _, w0, w1, w2, h0, h1, h2, ..]) => Some((
            u32::from_le_bytes([*w0, *w1, *w2, 0]) + 1,
            u32::from_le_bytes([*h0, *h1, *h2, 0]) + 1,
        )),
        (b"VP8L", [0x2F, a, b, c, d, ..]) => {
            let bits = u32::from_le_bytes([*a, *b, *c, *d]);
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        (b"VP8 ", [_, _, _, 0x9D, 0x01, 0x2A, w0, w1, h0, h1, ..]) => Some((
            u32::from(u16::from_le_bytes([*w0, *w1]) & 0x3FFF),
            u32::from(u16::from_le_bytes([*h0, *h1]) & 0x3FFF),
        )),
        _ => None,
    }
}
