//! ISO base media files (MP4, MOV, M4V): the box tree is walked without
//! reading any media data. What is kept: the item list's texts (`©cmt`,
//! `desc`, `©too`, freeform `----` items; QuickTime's plain `udta`
//! strings), the first video track's size, and the movie's duration,
//! frame count and frame rate.
//!
//! ComfyUI's video savers (VideoHelperSuite's `VHS_VideoCombine`, the core
//! `SaveVideo`) have ffmpeg write the API prompt and the workflow into the
//! comment as one JSON object, `{"prompt": "<json>", "workflow": "<json>"}`;
//! its two members are also kept as texts of their own (`mp4:prompt`,
//! `mp4:workflow`) so that they are read like a PNG's chunks.

use super::{Animation, Container, read_vec};
use crate::metadata::text::latin1_or_utf8;
use std::io::{self, Read, Seek, SeekFrom};

/// The deepest box nesting followed (`moov/udta/meta/ilst/©cmt/data` is 6).
const MAX_DEPTH: usize = 12;
/// The most boxes looked at in one file.
const MAX_BOXES: usize = 100_000;
/// The largest leaf box read for sizes and times (`stts` of a long video
/// can be large; only its first entries are needed).
const MAX_TABLE: u64 = 64 << 10;

/// What the walk gathers besides the container's texts.
#[derive(Default)]
struct Movie {
    boxes: usize,
    /// `mvhd`: (timescale, duration).
    movie_time: Option<(u32, u64)>,
    /// The track being walked: its handler, size, media time, samples.
    track: Track,
    /// The first video track, once its `trak` ended.
    video: Option<Track>,
    /// The names of the `mdta` keys of the `meta` box being walked.
    keys: Vec<String>,
}

#[derive(Default, Clone)]
struct Track {
    handler: Option<[u8; 4]>,
    size: Option<(u32, u32)>,
    /// `mdhd`: (timescale, duration).
    media_time: Option<(u32, u64)>,
    /// `stsz` sample count: one sample is one frame of a video track.
    samples: Option<u64>,
}

pub(super) fn read<R: Read + Seek>(source: &mut R, out: &mut Container) -> io::Result<()> {
    let end = source.seek(SeekFrom::End(0))?;
    source.seek(SeekFrom::Start(0))?;
    let mut movie = Movie::default();
    // What was found before a read error is kept.
    let outcome = walk(source, out, &mut movie, end, 0, Parent::Top);
    finish(out, &movie);
    outcome
}

/// The key names of a `keys` box: a count, then entries of a size, a
/// 4-byte namespace and the name.
fn mdta_keys(data: &[u8]) -> Vec<String> {
    let mut keys = Vec::new();
    let mut at = 8; // version, flags, entry count
    while let Some(size) = data.get(at..at + 4) {
        let size = u32::from_be_bytes([size[0], size[1], size[2], size[3]]) as usize;
        let Some(name) = size
            .checked_sub(8)
            .and_then(|n| data.get(at + 8..at + 8 + n))
        else {
            break;
        };
        keys.push(latin1_or_utf8(name).trim().to_owned());
        at += size;
        if keys.len() >= 1024 {
            break;
        }
    }
    keys
}

/// The box whose children are being walked, where their meaning depends
/// on it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parent {
    Top,
    Other,
    /// `udta`: QuickTime keeps `©xxx` strings here directly.
    UserData,
    /// `mdia`: its `hdlr` names the track's kind (QuickTime has another
    /// `hdlr` in `minf`, naming the data handler).
    Media,
    /// `ilst`: each child is one item whose `data` holds its value.
    ItemList,
    /// One item of `ilst`, with its type.
    Item([u8; 4]),
}

fn walk<R: Read + Seek>(
    source: &mut R,
    out: &mut Container,
    movie: &mut Movie,
    end: u64,
    depth: usize,
    parent: Parent,
) -> io::Result<()> {
    // A freeform item's name arrives in a `name` box before its `data`.
    let mut freeform_name: Option<String> = None;
    loop {
        let start = source.stream_position()?;
        if start.saturating_add(8) > end {
            return Ok(());
        }
        movie.boxes += 1;
        if movie.boxes > MAX_BOXES {
            out.problem(
                "MP4",
                format!("more than {MAX_BOXES} boxes; stopped reading"),
            );
            return Ok(());
        }
        let mut header = [0u8; 8];
        source.read_exact(&mut header)?;
        let [s0, s1, s2, s3, k0, k1, k2, k3] = header;
        let kind = [k0, k1, k2, k3];
        let mut size = u64::from(u32::from_be_bytes([s0, s1, s2, s3]));
        let mut header_len = 8;
        if size == 1 {
            let mut large = [0u8; 8];
            source.read_exact(&mut large)?;
            size = u64::from_be_bytes(large);
            header_len = 16;
        } else if size == 0 {
            size = end - start;
        }
        if size < header_len || start.saturating_add(size) > end {
            out.problem(
                format!("MP4 {}", name(&kind)),
                format!("box of {size} bytes does not fit in its parent; stopped reading"),
            );
            return Ok(());
        }
        let box_end = start + size;
        let body = size - header_len;
        match (&kind, parent) {
            (b"moov" | b"mdia" | b"minf" | b"stbl", _)
            | (b"udta", Parent::Top | Parent::Other | Parent::Media) => {
                let inner = match &kind {
                    b"udta" => Parent::UserData,
                    b"mdia" => Parent::Media,
                    _ => Parent::Other,
                };
                descend(source, out, movie, box_end, depth, inner)?;
            }
            (b"trak", _) => {
                movie.track = Track::default();
                descend(source, out, movie, box_end, depth, Parent::Other)?;
                if movie.video.is_none() && movie.track.handler == Some(*b"vide") {
                    movie.video = Some(movie.track.clone());
                }
            }
            (b"meta", _) => {
                // ISO's `meta` is a full box (4 bytes of version and flags
                // before its children); QuickTime's is not.
                if body >= 4 {
                    let mut peek = [0u8; 4];
                    source.read_exact(&mut peek)?;
                    if peek != [0, 0, 0, 0] {
                        source.seek(SeekFrom::Current(-4))?;
                    }
                }
                // Item names may come from a `keys` box (QuickTime's
                // `mdta` metadata, what ffmpeg writes for arbitrary tags).
                movie.keys.clear();
                descend(source, out, movie, box_end, depth, Parent::Other)?;
            }
            (b"keys", _) => {
                let data = small(source, out, body, &kind)?;
                movie.keys = mdta_keys(&data);
            }
            (b"ilst", _) => descend(source, out, movie, box_end, depth, Parent::ItemList)?,
            (_, Parent::ItemList) => {
                descend(source, out, movie, box_end, depth, Parent::Item(kind))?;
            }
            (b"name", Parent::Item(item)) if &item == b"----" => {
                let data = small(source, out, body, &kind)?;
                freeform_name = data.get(4..).map(|n| latin1_or_utf8(n).trim().to_owned());
            }
            (b"data", Parent::Item(item)) => {
                let location = format!("MP4 {}", name(&item));
                if out.admit(&location, body) {
                    let data = read_vec(source, body)?;
                    // 4 bytes of type, 4 of locale, then the value; type 1
                    // is UTF-8 text, 0 is implicit (text in practice).
                    if let (Some(kind), Some(value)) = (data.get(..4), data.get(8..))
                        && matches!(kind, [0, 0, 0, 0 | 1])
                    {
                        let index = u32::from_be_bytes(item) as usize;
                        let key = match (&item, freeform_name.take()) {
                            (b"----", Some(name)) if !name.is_empty() => name,
                            _ if index >= 1 && index <= movie.keys.len() => {
                                movie.keys[index - 1].clone()
                            }
                            _ => item_key(&item),
                        };
                        push(out, &key, latin1_or_utf8(value));
                    }
                }
            }
            (&[0xA9, ..], Parent::UserData) => {
                // A QuickTime string: 2 bytes of length, 2 of language.
                let location = format!("MP4 udta {}", name(&kind));
                if out.admit(&location, body) {
                    let data = read_vec(source, body)?;
                    if let [l0, l1, _, _, text @ ..] = data.as_slice() {
                        // ffmpeg writes the length as 16 bits even for a
                        // longer text: the box's size is what holds.
                        let len = match usize::from(u16::from_be_bytes([*l0, *l1])) {
                            _ if text.len() > 0xFFFF => text.len(),
                            len => len.min(text.len()),
                        };
                        push(out, &item_key(&kind), latin1_or_utf8(&text[..len]));
                    }
                }
            }
            (b"mvhd", _) => movie.movie_time = times(&small(source, out, body, &kind)?, 12, 20),
            (b"mdhd", _) => {
                movie.track.media_time = times(&small(source, out, body, &kind)?, 12, 20)
            }
            (b"hdlr", Parent::Media) => {
                let data = small(source, out, body, &kind)?;
                movie.track.handler = data.get(8..12).and_then(|h| h.try_into().ok());
            }
            (b"tkhd", _) => {
                let data = small(source, out, body, &kind)?;
                // Width and height end the box, as 16.16 fixed point.
                if let Some(tail) = data.len().checked_sub(8).and_then(|i| data.get(i..)) {
                    let w = u32::from_be_bytes([tail[0], tail[1], tail[2], tail[3]]) >> 16;
                    let h = u32::from_be_bytes([tail[4], tail[5], tail[6], tail[7]]) >> 16;
                    if w > 0 && h > 0 {
                        movie.track.size = Some((w, h));
                    }
                }
            }
            (b"stsz", _) => {
                let data = small(source, out, body.min(20), &kind)?;
                movie.track.samples = data
                    .get(8..12)
                    .map(|n| u64::from(u32::from_be_bytes([n[0], n[1], n[2], n[3]])));
            }
            _ => {}
        }
        source.seek(SeekFrom::Start(box_end))?;
        if box_end >= end {
            return Ok(());
        }
    }
}

fn descend<R: Read + Seek>(
    source: &mut R,
    out: &mut Container,
    movie: &mut Movie,
    box_end: u64,
    depth: usize,
    parent: Parent,
) -> io::Result<()> {
    if depth + 1 >= MAX_DEPTH {
        out.problem(
            "MP4",
            format!("boxes nested deeper than {MAX_DEPTH}; skipped"),
        );
        return Ok(());
    }
    walk(source, out, movie, box_end, depth + 1, parent)
}

/// Reads a small leaf box whole (at most [`MAX_TABLE`] bytes of it).
fn small<R: Read + Seek>(
    source: &mut R,
    out: &mut Container,
    body: u64,
    kind: &[u8; 4],
) -> io::Result<Vec<u8>> {
    if body > MAX_TABLE {
        out.problem(
            format!("MP4 {}", name(kind)),
            format!("box of {body} bytes, larger than expected; read in part"),
        );
    }
    let data = read_vec(source, body.min(MAX_TABLE))?;
    Ok(data)
}

/// (timescale, duration) of an `mvhd` or `mdhd` body: version 0 keeps
/// 32-bit times (timescale at `v0`), version 1 64-bit ones (at `v1`).
fn times(data: &[u8], v0: usize, v1: usize) -> Option<(u32, u64)> {
    let u32_at = |i: usize| {
        data.get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    match data.first()? {
        0 => Some((u32_at(v0)?, u64::from(u32_at(v0 + 4)?))),
        1 => {
            let b = data.get(v1 + 4..v1 + 12)?;
            let duration = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            Some((u32_at(v1)?, duration))
        }
        _ => None,
    }
}

/// The text key of an item type: `©cmt` → `comment`, others by name.
fn item_key(kind: &[u8; 4]) -> String {
    match kind {
        [0xA9, b'c', b'm', b't'] => "comment".to_owned(),
        [0xA9, b'n', b'a', b'm'] => "title".to_owned(),
        [0xA9, b't', b'o', b'o'] => "encoder".to_owned(),
        [0xA9, b'd', b'e', b's'] | b"desc" => "description".to_owned(),
        _ => name(kind),
    }
}

/// A box type as text (`©` for the 0xA9 byte).
fn name(kind: &[u8; 4]) -> String {
    kind.iter()
        .map(|&b| match b {
            0xA9 => '©',
            b if b.is_ascii_graphic() => char::from(b),
            _ => '?',
        })
        .collect()
}

/// Keeps one text, and the prompt and workflow a ComfyUI saver wrapped in
/// a comment as texts of their own.
fn push(out: &mut Container, key: &str, text: String) {
    if key == "comment" {
        super::unwrap_comfy_comment("mp4", &text, out);
    }
    out.push_text(format!("mp4:{key}"), text);
}

/// Size, duration, frames and frame rate from what the walk found.
fn finish(out: &mut Container, movie: &Movie) {
    let video = movie.video.as_ref();
    if out.pixel_size.is_none() {
        out.pixel_size = video.and_then(|v| v.size);
    }
    let seconds = |(scale, duration): (u32, u64)| {
        (scale > 0 && duration > 0 && duration != u64::from(u32::MAX) && duration != u64::MAX)
            .then(|| duration as f64 / f64::from(scale))
    };
    let duration = movie
        .movie_time
        .and_then(seconds)
        .or_else(|| video.and_then(|v| v.media_time).and_then(seconds));
    let frames = video.and_then(|v| v.samples).filter(|n| *n > 0);
    let track_seconds = video.and_then(|v| v.media_time).and_then(seconds);
    let fps = match (frames, track_seconds) {
        (Some(frames), Some(seconds)) => Some(frames as f64 / seconds),
        _ => None,
    };
    if video.is_some() || duration.is_some() {
        out.animation = Some(Animation {
            frames,
            duration,
            fps,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ImageFormat, read as read_container};
    use std::io::Cursor;

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    /// A full box body: version, flags, then `rest`.
    fn full(version: u8, rest: &[u8]) -> Vec<u8> {
        let mut out = vec![version, 0, 0, 0];
        out.extend_from_slice(rest);
        out
    }

    fn movie(comment: &str) -> Vec<u8> {
        let mvhd = full(
            0,
            &cat(&[
                vec![0; 8],
                1000u32.to_be_bytes().to_vec(),
                2000u32.to_be_bytes().to_vec(),
                vec![0; 80],
            ]),
        );
        let mut tkhd = full(0, &[0; 72]);
        tkhd.extend_from_slice(&(512u32 << 16).to_be_bytes());
        tkhd.extend_from_slice(&(768u32 << 16).to_be_bytes());
        let mdhd = full(
            0,
            &cat(&[
                vec![0; 8],
                16000u32.to_be_bytes().to_vec(),
                32000u32.to_be_bytes().to_vec(),
                vec![0; 4],
            ]),
        );
        let hdlr = full(0, &cat(&[vec![0; 4], b"vide".to_vec(), vec![0; 13]]));
        let stsz = full(0, &cat(&[vec![0; 4], 16u32.to_be_bytes().to_vec()]));
        let trak = bx(
            b"trak",
            &cat(&[
                bx(b"tkhd", &tkhd),
                bx(
                    b"mdia",
                    &cat(&[
                        bx(b"mdhd", &mdhd),
                        bx(b"hdlr", &hdlr),
                        bx(b"minf", &bx(b"stbl", &bx(b"stsz", &stsz))),
                    ]),
                ),
            ]),
        );
        let data = bx(
            b"data",
            &cat(&[vec![0, 0, 0, 1, 0, 0, 0, 0], comment.as_bytes().to_vec()]),
        );
        let ilst = bx(
            b"ilst",
            &cat(&[
                bx(b"\xa9cmt", &data),
                bx(b"\xa9too", &bx(b"data", b"\0\0\0\x01\0\0\0\0Lavf")),
            ]),
        );
        let meta = bx(
            b"meta",
            &cat(&[vec![0; 4], bx(b"hdlr", &full(0, &[0; 21])), ilst]),
        );
        cat(&[
            bx(b"ftyp", b"isom\0\0\x02\0isomiso2mp41"),
            bx(b"mdat", &[0x55; 300]),
            bx(
                b"moov",
                &cat(&[bx(b"mvhd", &mvhd), trak, bx(b"udta", &meta)]),
            ),
        ])
    }

    #[test]
    fn reads_the_comment_size_and_frames_without_the_media() {
        let comment = r#"{"prompt": "{\"3\": {\"class_type\": \"KSampler\", \"inputs\": {}}}", "workflow": "{\"nodes\": []}"}"#;
        let found = read_container(&mut Cursor::new(movie(comment))).unwrap();
        assert_eq!(found.format, Some(ImageFormat::Mp4));
        assert_eq!(found.pixel_size, Some((512, 768)));
        let animation = found.animation.unwrap();
        assert_eq!(animation.frames, Some(16));
        assert_eq!(animation.duration, Some(2.0));
        assert_eq!(animation.fps, Some(8.0));
        let text = |key: &str| {
            found
                .texts
                .iter()
                .find(|t| t.key == key)
                .map(|t| t.text.as_str())
        };
        assert_eq!(text("mp4:comment"), Some(comment));
        assert_eq!(
            text("mp4:prompt"),
            Some(r#"{"3": {"class_type": "KSampler", "inputs": {}}}"#)
        );
        assert_eq!(text("mp4:workflow"), Some(r#"{"nodes": []}"#));
        assert_eq!(text("mp4:encoder"), Some("Lavf"));
        assert!(found.problems.is_empty(), "{:?}", found.problems);
    }

    #[test]
    fn hostile_boxes_are_bounded_and_said() {
        // Cut anywhere: never a panic, never an error past the signature.
        let whole = movie("plain comment");
        for cut in (12..whole.len()).step_by(7) {
            assert!(
                read_container(&mut Cursor::new(&whole[..cut])).is_ok(),
                "cut at {cut}"
            );
        }
        // A box claiming more than the file holds.
        let mut lying = bx(b"ftyp", b"isom");
        lying.extend_from_slice(&u32::MAX.to_be_bytes());
        lying.extend_from_slice(b"moov");
        lying.extend_from_slice(&[0; 16]);
        let found = read_container(&mut Cursor::new(lying)).unwrap();
        assert!(
            found
                .problems
                .iter()
                .any(|p| p.message.contains("does not fit")),
            "{:?}",
            found.problems
        );
        // A 64-bit size of zero length (a loop on the same box) and huge counts.
        let mut looping = bx(b"ftyp", b"isom");
        looping.extend_from_slice(&1u32.to_be_bytes());
        looping.extend_from_slice(b"free");
        looping.extend_from_slice(&0u64.to_be_bytes());
        let found = read_container(&mut Cursor::new(looping)).unwrap();
        assert!(!found.problems.is_empty());
        // Nesting far deeper than any real file.
        let mut deep = bx(b"free", &[]);
        for _ in 0..40 {
            deep = bx(b"moov", &deep);
        }
        let file = cat(&[bx(b"ftyp", b"isom"), deep]);
        let found = read_container(&mut Cursor::new(file)).unwrap();
        assert!(
            found.problems.iter().any(|p| p.message.contains("nested")),
            "{:?}",
            found.problems
        );
        // Many empty boxes: stopped at the limit.
        let mut many = bx(b"ftyp", b"isom");
        for _ in 0..(super::MAX_BOXES + 10) {
            many.extend_from_slice(&bx(b"free", &[]));
        }
        let found = read_container(&mut Cursor::new(many)).unwrap();
        assert!(
            found
                .problems
                .iter()
                .any(|p| p.message.contains("boxes; stopped")),
            "{:?}",
            found.problems
        );
    }
}
