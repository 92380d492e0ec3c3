//! Matroska and WebM: the EBML element tree is walked, clusters (the media
//! data) are skipped by their size. What is kept: every `SimpleTag` as a
//! text (`mkv:COMMENT`, `mkv:ENCODER`, ...), the first video track's pixel
//! size and frame duration, and the segment's duration. ComfyUI's savers
//! write the prompt and workflow into the `COMMENT` tag as they do in MP4.

use super::{Animation, Container, read_up_to, read_vec, skip};
use crate::metadata::text::latin1_or_utf8;
use std::io::{self, Read, Seek, SeekFrom};

const SEGMENT: u64 = 0x1853_8067;
const INFO: u64 = 0x1549_A966;
const TIMESTAMP_SCALE: u64 = 0x2A_D7B1;
const DURATION: u64 = 0x4489;
const TRACKS: u64 = 0x1654_AE6B;
const TRACK_ENTRY: u64 = 0xAE;
const TRACK_TYPE: u64 = 0x83;
const DEFAULT_DURATION: u64 = 0x23_E383;
const VIDEO: u64 = 0xE0;
const PIXEL_WIDTH: u64 = 0xB0;
const PIXEL_HEIGHT: u64 = 0xBA;
const TAGS: u64 = 0x1254_C367;
const TAG: u64 = 0x7373;
const SIMPLE_TAG: u64 = 0x67C8;
const TAG_NAME: u64 = 0x45A3;
const TAG_STRING: u64 = 0x4487;

/// The deepest nesting followed (`Segment/Tags/Tag/SimpleTag/TagString`).
const MAX_DEPTH: usize = 8;
/// The most elements looked at.
const MAX_ELEMENTS: usize = 200_000;
/// The largest number or short string read.
const MAX_SMALL: u64 = 4096;

#[derive(Default)]
struct Walk {
    elements: usize,
    scale_ns: Option<u64>,
    duration: Option<f64>,
    /// The track being read: type, size, frame duration (ns).
    track: (Option<u64>, Option<u32>, Option<u32>, Option<u64>),
    video: Option<(Option<u32>, Option<u32>, Option<u64>)>,
    tag_name: Option<String>,
    stopped: bool,
}

pub(super) fn read<R: Read + Seek>(source: &mut R, out: &mut Container) -> io::Result<()> {
    let end = source.seek(SeekFrom::End(0))?;
    source.seek(SeekFrom::Start(0))?;
    let mut walk = Walk::default();
    // What was found before a read error is kept.
    let outcome = elements(source, out, &mut walk, end, 0);
    if let Some((width, height, frame_ns)) = walk.video {
        if let (Some(w), Some(h)) = (width, height)
            && out.pixel_size.is_none()
        {
            out.pixel_size = Some((w, h));
        }
        let scale = walk.scale_ns.unwrap_or(1_000_000) as f64;
        let duration = walk
            .duration
            .map(|d| d * scale / 1e9)
            .filter(|d| d.is_finite() && *d > 0.0);
        let fps = frame_ns.filter(|n| *n > 0).map(|n| 1e9 / n as f64);
        let frames = match (duration, fps) {
            (Some(d), Some(f)) => Some((d * f).round() as u64),
            _ => None,
        };
        out.animation = Some(Animation {
            frames,
            duration,
            fps,
        });
    }
    outcome
}

fn elements<R: Read + Seek>(
    source: &mut R,
    out: &mut Container,
    walk: &mut Walk,
    end: u64,
    depth: usize,
) -> io::Result<()> {
    while !walk.stopped {
        let start = source.stream_position()?;
        if start >= end {
            return Ok(());
        }
        walk.elements += 1;
        if walk.elements > MAX_ELEMENTS {
            out.problem(
                "Matroska",
                format!("more than {MAX_ELEMENTS} elements; stopped reading"),
            );
            walk.stopped = true;
            return Ok(());
        }
        let Some(id) = vint(source, true)? else {
            out.problem(
                "Matroska",
                format!("bad element id at byte {start}; stopped reading"),
            );
            walk.stopped = true;
            return Ok(());
        };
        let Some(size) = vint(source, false)? else {
            out.problem(
                "Matroska",
                format!("bad element size at byte {start}; stopped reading"),
            );
            walk.stopped = true;
            return Ok(());
        };
        let body_start = source.stream_position()?;
        let unknown = size == u64::MAX;
        let body_end = if unknown {
            end
        } else {
            body_start.saturating_add(size)
        };
        if body_end > end && !unknown {
            out.problem(
                "Matroska",
                format!("element {id:X} of {size} bytes runs past its parent; stopped reading"),
            );
            walk.stopped = true;
            return Ok(());
        }
        match id {
            SEGMENT | INFO | TRACKS | TAGS | TAG | VIDEO => {
                if depth + 1 >= MAX_DEPTH {
                    out.problem("Matroska", "elements nested too deep; skipped");
                } else {
                    elements(source, out, walk, body_end, depth + 1)?;
                }
            }
            TRACK_ENTRY => {
                walk.track = (None, None, None, None);
                if depth + 1 < MAX_DEPTH {
                    elements(source, out, walk, body_end, depth + 1)?;
                }
                let (kind, w, h, frame) = walk.track;
                if kind == Some(1) && walk.video.is_none() {
                    walk.video = Some((w, h, frame));
                }
            }
            SIMPLE_TAG => {
                walk.tag_name = None;
                if depth + 1 < MAX_DEPTH {
                    elements(source, out, walk, body_end, depth + 1)?;
                }
            }
            TIMESTAMP_SCALE => walk.scale_ns = uint(source, size)?,
            DURATION => walk.duration = float(source, size)?,
            TRACK_TYPE => walk.track.0 = uint(source, size)?,
            DEFAULT_DURATION => walk.track.3 = uint(source, size)?,
            PIXEL_WIDTH => walk.track.1 = uint(source, size)?.and_then(|v| u32::try_from(v).ok()),
            PIXEL_HEIGHT => walk.track.2 = uint(source, size)?.and_then(|v| u32::try_from(v).ok()),
            TAG_NAME if size <= MAX_SMALL => {
                walk.tag_name = Some(latin1_or_utf8(&read_vec(source, size)?).trim().to_owned());
            }
            TAG_STRING => {
                let name = walk.tag_name.clone().unwrap_or_else(|| "tag".to_owned());
                if out.admit(&format!("Matroska tag {name}"), size) {
                    let text = latin1_or_utf8(&read_vec(source, size)?);
                    if name.eq_ignore_ascii_case("comment") {
                        super::unwrap_comfy_comment("mkv", &text, out);
                    }
                    // ffmpeg writes tag names in capitals: the two graphs
                    // ComfyUI saves are read under their usual names.
                    let key = if ["prompt", "workflow"]
                        .iter()
                        .any(|k| name.eq_ignore_ascii_case(k))
                    {
                        name.to_ascii_lowercase()
                    } else {
                        name
                    };
                    out.push_text(format!("mkv:{key}"), text);
                }
            }
            _ if unknown => {
                // A cluster of unknown size (a live recording) cannot be
                // skipped; what follows it is not read.
                out.problem(
                    "Matroska",
                    format!("element {id:X} of unknown size; stopped reading"),
                );
                walk.stopped = true;
                return Ok(());
            }
            _ => {}
        }
        source.seek(SeekFrom::Start(body_end))?;
    }
    Ok(())
}

/// An EBML variable-length integer: an element id keeps its length marker,
/// a size loses it (all ones meaning "unknown", returned as `u64::MAX`).
/// `None` for a first byte of zero (longer than 8 bytes).
fn vint<R: Read>(source: &mut R, keep_marker: bool) -> io::Result<Option<u64>> {
    let mut first = [0u8; 1];
    source.read_exact(&mut first)?;
    let len = first[0].leading_zeros() as usize + 1;
    if len > 8 || (keep_marker && len > 4) {
        return Ok(None);
    }
    let mut rest = [0u8; 7];
    if read_up_to(source, &mut rest[..len - 1])? < len - 1 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let mut value = if keep_marker {
        u64::from(first[0])
    } else {
        u64::from(first[0]) & (0xFF_u64 >> len)
    };
    for b in &rest[..len - 1] {
        value = (value << 8) | u64::from(*b);
    }
    if !keep_marker && value == (1u64 << (7 * len)) - 1 {
        return Ok(Some(u64::MAX));
    }
    Ok(Some(value))
}

fn uint<R: Read + Seek>(source: &mut R, size: u64) -> io::Result<Option<u64>> {
    if size == 0 || size > 8 {
        skip(source, size.min(MAX_SMALL))?;
        return Ok(None);
    }
    let bytes = read_vec(source, size)?;
    Ok(Some(
        bytes.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b)),
    ))
}

fn float<R: Read + Seek>(source: &mut R, size: u64) -> io::Result<Option<f64>> {
    let bytes = read_vec(source, size.min(8))?;
    Ok(match bytes.as_slice() {
        [a, b, c, d] => Some(f64::from(f32::from_be_bytes([*a, *b, *c, *d]))),
        [a, b, c, d, e, f, g, h] => Some(f64::from_be_bytes([*a, *b, *c, *d, *e, *f, *g, *h])),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{ImageFormat, read as read_container};
    use std::io::Cursor;

    /// One element: its id bytes, an 8-byte size, its body.
    fn el(id: &[u8], body: &[u8]) -> Vec<u8> {
        let mut out = id.to_vec();
        out.push(0x01);
        out.extend_from_slice(&(body.len() as u64).to_be_bytes()[1..]);
        out.extend_from_slice(body);
        out
    }

    fn file(comment: &str) -> Vec<u8> {
        let info = el(
            &[0x15, 0x49, 0xA9, 0x66],
            &[
                el(&[0x2A, 0xD7, 0xB1], &1_000_000u32.to_be_bytes()),
                el(&[0x44, 0x89], &2000f64.to_be_bytes()),
            ]
            .concat(),
        );
        let video = el(
            &[0xE0],
            &[el(&[0xB0], &[1, 64]), el(&[0xBA], &[240])].concat(),
        );
        let track = el(
            &[0xAE],
            &[
                el(&[0x83], &[1]),
                el(&[0x23, 0xE3, 0x83], &125_000_000u32.to_be_bytes()),
                video,
            ]
            .concat(),
        );
        let tracks = el(&[0x16, 0x54, 0xAE, 0x6B], &track);
        let cluster = el(&[0x1F, 0x43, 0xB6, 0x75], &[0u8; 500]);
        let tag = el(
            &[0x67, 0xC8],
            &[
                el(&[0x45, 0xA3], b"COMMENT"),
                el(&[0x44, 0x87], comment.as_bytes()),
            ]
            .concat(),
        );
        let tags = el(&[0x12, 0x54, 0xC3, 0x67], &el(&[0x73, 0x73], &tag));
        let segment = el(
            &[0x18, 0x53, 0x80, 0x67],
            &[info, tracks, cluster, tags].concat(),
        );
        [
            el(&[0x1A, 0x45, 0xDF, 0xA3], &el(&[0x42, 0x82], b"webm")),
            segment,
        ]
        .concat()
    }

    #[test]
    fn reads_tags_size_and_duration_past_the_clusters() {
        let comment = r#"{"prompt": "{\"1\": {}}"}"#;
        let found = read_container(&mut Cursor::new(file(comment))).unwrap();
        assert_eq!(found.format, Some(ImageFormat::Matroska));
        assert_eq!(found.pixel_size, Some((320, 240)));
        let a = found.animation.unwrap();
        assert_eq!(
            (a.duration, a.fps, a.frames),
            (Some(2.0), Some(8.0), Some(16))
        );
        let text = |key: &str| {
            found
                .texts
                .iter()
                .find(|t| t.key == key)
                .map(|t| t.text.as_str())
        };
        assert_eq!(text("mkv:COMMENT"), Some(comment));
        assert_eq!(text("mkv:prompt"), Some(r#"{"1": {}}"#));
        assert!(found.problems.is_empty(), "{:?}", found.problems);
    }

    #[test]
    fn hostile_elements_are_bounded_and_said() {
        let whole = file("x");
        for cut in 4..whole.len() {
            assert!(
                read_container(&mut Cursor::new(&whole[..cut])).is_ok(),
                "cut at {cut}"
            );
        }
        // An id of a zero byte, a size past the file, an unknown-size cluster.
        for bad in [
            [&[0x1A, 0x45, 0xDF, 0xA3, 0x80][..], &[0x00, 0x81, 0x00]].concat(),
            [
                &[0x1A, 0x45, 0xDF, 0xA3, 0x80][..],
                &[0x18, 0x53, 0x80, 0x67, 0x08, 0xFF, 0, 0, 0, 0, 0, 0, 0],
            ]
            .concat(),
            [
                &[0x1A, 0x45, 0xDF, 0xA3, 0x80][..],
                &[0x1F, 0x43, 0xB6, 0x75, 0xFF, 1, 2, 3],
            ]
            .concat(),
        ] {
            let found = read_container(&mut Cursor::new(bad)).unwrap();
            assert!(!found.problems.is_empty());
        }
        // Elements nested past any real file.
        let mut deep = el(&[0xEC], &[]);
        for _ in 0..30 {
            deep = el(&[0x12, 0x54, 0xC3, 0x67], &deep);
        }
        let file = [el(&[0x1A, 0x45, 0xDF, 0xA3], &[]), deep].concat();
        let found = read_container(&mut Cursor::new(file)).unwrap();
        assert!(
            found
                .problems
                .iter()
                .any(|p| p.message.contains("too deep")),
            "{:?}",
            found.problems
        );
    }
}
