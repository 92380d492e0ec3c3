//! PNG chunk walk: text chunks (`tEXt`, `zTXt`, `iTXt`), `eXIf`, C2PA `caBX`.

use super::{Animation, Container, read_vec, skip};
use crate::metadata::text::latin1_or_utf8;
use std::io::{self, Read, Seek};

/// A chunk length above 2^31 - 1 is invalid by the PNG specification.
const MAX_CHUNK_LEN: u64 = 0x7FFF_FFFF;

/// The most chunks walked; a real file has a handful plus its IDATs.
const MAX_CHUNKS: usize = 1_000_000;

pub(super) fn read<R: Read + Seek>(source: &mut R, out: &mut Container) -> io::Result<()> {
    let mut frames = Frames::default();
    let outcome = walk(source, out, &mut frames);
    frames.finish(out);
    outcome
}

/// An APNG's frame count (`acTL`) and the delays of its frames (`fcTL`).
#[derive(Default)]
struct Frames {
    declared: Option<u64>,
    delays: u64,
    seconds: f64,
}

impl Frames {
    fn finish(self, out: &mut Container) {
        let Some(frames) = self.declared.filter(|n| *n > 1) else {
            return;
        };
        let duration = (self.delays == frames && self.seconds > 0.0).then_some(self.seconds);
        out.animation = Some(Animation {
            frames: Some(frames),
            duration,
            fps: duration.map(|d| frames as f64 / d),
        });
    }
}

fn walk<R: Read + Seek>(
    source: &mut R,
    out: &mut Container,
    frames: &mut Frames,
) -> io::Result<()> {
    skip(source, 8)?;
    for _ in 0..MAX_CHUNKS {
        let mut header = [0u8; 8];
        source.read_exact(&mut header)?;
        let [l0, l1, l2, l3, k0, k1, k2, k3] = header;
        let len = u64::from(u32::from_be_bytes([l0, l1, l2, l3]));
        let kind = [k0, k1, k2, k3];
        // Only a problem or a kept chunk needs the name; IDATs are skipped.
        let name = || String::from_utf8_lossy(&kind).into_owned();
        if len > MAX_CHUNK_LEN {
            out.problem(
                format!("PNG {}", name()),
                format!("chunk claims {len} bytes, beyond the PNG maximum; stopped reading"),
            );
            return Ok(());
        }
        match &kind {
            b"IEND" => return Ok(()),
            b"IHDR" if len >= 8 => {
                let data = read_vec(source, len)?;
                if let Some(&[w0, w1, w2, w3, h0, h1, h2, h3]) = data.get(..8) {
                    out.pixel_size = Some((
                        u32::from_be_bytes([w0, w1, w2, w3]),
                        u32::from_be_bytes([h0, h1, h2, h3]),
                    ));
                }
                // Colour types 4 and 6 carry an alpha channel.
                out.has_alpha = matches!(data.get(9), Some(4 | 6));
            }
            b"tEXt" | b"zTXt" | b"iTXt" | b"eXIf" | b"caBX" => {
                let location = format!("PNG {}", name());
                if out.admit(&location, len) {
                    let data = read_vec(source, len)?;
                    chunk(&kind, &data, out);
                } else {
                    skip(source, len)?;
                }
            }
            b"acTL" if len == 8 => {
                let data = read_vec(source, len)?;
                frames.declared = Some(u64::from(u32::from_be_bytes([
                    data[0], data[1], data[2], data[3],
                ])));
            }
            b"fcTL" if len == 26 => {
                let data = read_vec(source, len)?;
                let num = u16::from_be_bytes([data[20], data[21]]);
                // A denominator of 0 means hundredths of a second.
                let den = match u16::from_be_bytes([data[22], data[23]]) {
                    0 => 100,
                    d => d,
                };
                frames.delays += 1;
                frames.seconds += f64::from(num) / f64::from(den);
            }
            _ => skip(source, len)?,
        }
        skip(source, 4)?; // CRC
    }
    out.problem("PNG", "more than a million chunks; stopped reading");
    Ok(())
}

fn chunk(kind: &[u8; 4], data: &[u8], out: &mut Container) {
    match kind {
        b"tEXt" => {
            let Some((keyword, text)) = split_keyword(data, out, "tEXt") else {
                return;
            };
            out.push_text(format!("tEXt:{keyword}"), latin1_or_utf8(text));
        }
        b"zTXt" => {
            let Some((keyword, rest)) = split_keyword(data, out, "zTXt") else {
                return;
            };
            let location = format!("PNG zTXt {keyword}");
            match rest.split_first() {
                Some((0, compressed)) => match out.inflate(compressed) {
                    Ok(text) => out.push_text(format!("zTXt:{keyword}"), latin1_or_utf8(&text)),
                    Err(message) => out.problem(location, message),
                },
                _ => out.problem(location, "unknown compression method; skipped"),
            }
        }
        b"iTXt" => itxt(data, out),
        b"eXIf" if out.exif.is_none() => {
            out.exif = Some(data.to_vec());
        }
        b"caBX" if out.c2pa.is_none() => {
            out.c2pa = Some(data.to_vec());
        }
        _ => {}
    }
}

/// Splits `keyword\0rest`, recording a problem when there is no separator.
fn split_keyword<'a>(
    data: &'a [u8],
    out: &mut Container,
    kind: &str,
) -> Option<(String, &'a [u8])> {
    let Some(nul) = data.iter().position(|&b| b == 0) else {
        out.problem(
            format!("PNG {kind}"),
            "chunk has no keyword separator; skipped",
        );
        return None;
    };
    let keyword = latin1_or_utf8(data.get(..nul).unwrap_or_default());
    Some((keyword, data.get(nul + 1..).unwrap_or_default()))
}

fn itxt(data: &[u8], out: &mut Container) {
    let Some((keyword, rest)) = split_keyword(data, out, "iTXt") else {
        return;
    };
    let location = format!("PNG iTXt {keyword}");
    let Some((&[flag, method], rest)) = rest.split_first_chunk::<2>() else {
        out.problem(location, "chunk is truncated before its text; skipped");
        return;
    };
    // Language tag and translated keyword, each NUL-terminated.
    let mut fields = rest.splitn(3, |&b| b == 0);
    let (Some(_language), Some(_translated), Some(body)) =
        (fields.next(), fields.next(), fields.next())
    else {
        out.problem(location, "chunk is missing its language fields; skipped");
        return;
    };
    let bytes = if flag == 0 {
        body.to_vec()
    } else if method == 0 {
        match out.inflate(body) {
            Ok(bytes) => bytes,
            Err(message) => {
                out.problem(location, message);
                return;
            }
        }
    } else {
        out.problem(location, "unknown compression method; skipped");
        return;
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            out.problem(location, "text is not valid UTF-8; decoded lossily");
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    };
    out.push_text(format!("iTXt:{keyword}"), text);
}
