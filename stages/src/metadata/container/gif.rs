//! GIF: the block stream is walked without decompressing any frame. What is
//! kept: comment extensions (`GIF:comment`), the screen size, and the frame
//! count and duration (from each frame's graphic control delay).
//! Application extensions (loop counts, XMP) are skipped.

use super::{Animation, Container, read_up_to, skip};
use crate::metadata::text::{latin1_or_utf8, trim_nuls};
use std::io::{self, Read, Seek};

/// The most frames counted; a longer animation stops the walk.
const MAX_FRAMES: u64 = 100_000;

pub(super) fn read<R: Read + Seek>(source: &mut R, out: &mut Container) -> io::Result<()> {
    let mut header = [0u8; 13];
    source.read_exact(&mut header)?;
    let width = u16::from_le_bytes([header[6], header[7]]);
    let height = u16::from_le_bytes([header[8], header[9]]);
    if width > 0 && height > 0 {
        out.pixel_size = Some((u32::from(width), u32::from(height)));
    }
    let packed = header[10];
    if packed & 0x80 != 0 {
        skip(source, 3 << ((packed & 0x07) + 1))?;
    }
    let mut frames = 0u64;
    let mut centiseconds = 0u64;
    let mut delay = 0u16;
    let outcome = loop {
        let mut introducer = [0u8; 1];
        if read_up_to(source, &mut introducer)? == 0 {
            out.problem("GIF", "file ends without a trailer; it may be truncated");
            break Ok(());
        }
        match introducer[0] {
            0x3B => break Ok(()),
            0x2C => {
                let mut descriptor = [0u8; 9];
                source.read_exact(&mut descriptor)?;
                let local = descriptor[8];
                if local & 0x80 != 0 {
                    skip(source, 3 << ((local & 0x07) + 1))?;
                }
                skip(source, 1)?; // LZW minimum code size
                sub_blocks(source, None)?;
                frames += 1;
                centiseconds += u64::from(delay);
                delay = 0;
                if frames >= MAX_FRAMES {
                    out.problem(
                        "GIF",
                        format!("more than {MAX_FRAMES} frames; stopped counting"),
                    );
                    break Ok(());
                }
            }
            0x21 => {
                let mut label = [0u8; 1];
                source.read_exact(&mut label)?;
                match label[0] {
                    0xF9 => {
                        let mut block = Vec::new();
                        sub_blocks(source, Some((&mut block, 16)))?;
                        if let [_, d0, d1, ..] = block.as_slice() {
                            delay = u16::from_le_bytes([*d0, *d1]);
                        }
                    }
                    0xFE => {
                        let mut text = Vec::new();
                        let limit = super::MAX_PAYLOAD as usize;
                        let total = sub_blocks(source, Some((&mut text, limit)))?;
                        if out.admit("GIF comment", total) {
                            out.push_text(
                                "GIF:comment".to_owned(),
                                trim_nuls(latin1_or_utf8(&text)),
                            );
                        }
                    }
                    _ => {
                        sub_blocks(source, None)?;
                    }
                }
            }
            other => {
                out.problem(
                    "GIF",
                    format!("unknown block 0x{other:02x}; stopped reading"),
                );
                break Ok(());
            }
        }
    };
    if frames > 1 {
        let duration = (centiseconds > 0).then(|| centiseconds as f64 / 100.0);
        out.animation = Some(Animation {
            frames: Some(frames),
            duration,
            fps: duration.map(|d| frames as f64 / d),
        });
    }
    outcome
}

/// Reads (or skips) sub-blocks up to the terminator and returns their total
/// length. With a buffer, keeps them while they all fit in `limit` bytes;
/// once one does not, the buffer is emptied and nothing more is kept (a
/// text with a gap in it would say something the file does not).
fn sub_blocks<R: Read + Seek>(
    source: &mut R,
    mut keep: Option<(&mut Vec<u8>, usize)>,
) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let mut len = [0u8; 1];
        source.read_exact(&mut len)?;
        let len = usize::from(len[0]);
        if len == 0 {
            return Ok(total);
        }
        total += len as u64;
        match keep.as_mut() {
            Some((buffer, limit)) if buffer.len() + len <= *limit => {
                let at = buffer.len();
                buffer.resize(at + len, 0);
                source.read_exact(&mut buffer[at..])?;
            }
            Some((buffer, _)) => {
                **buffer = Vec::new();
                keep = None;
                skip(source, len as u64)?;
            }
            None => skip(source, len as u64)?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::read as read_container;
    use std::io::Cursor;

    /// A two-frame GIF, 1×1, with a comment and 0.5 s delays.
    fn gif() -> Vec<u8> {
        let mut out = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff".to_vec();
        out.extend_from_slice(b"\x21\xfe\x05hello\x00");
        for _ in 0..2 {
            out.extend_from_slice(b"\x21\xf9\x04\x00\x32\x00\x00\x00");
            out.extend_from_slice(b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00");
        }
        out.push(0x3B);
        out
    }

    #[test]
    fn counts_frames_and_reads_comments() {
        let found = read_container(&mut Cursor::new(gif())).unwrap();
        assert_eq!(found.pixel_size, Some((1, 1)));
        let a = found.animation.unwrap();
        assert_eq!(
            (a.frames, a.duration, a.fps),
            (Some(2), Some(1.0), Some(2.0))
        );
        assert_eq!(found.texts[0].key, "GIF:comment");
        assert_eq!(found.texts[0].text, "hello");
        assert!(found.problems.is_empty(), "{:?}", found.problems);
        let whole = gif();
        for cut in 6..whole.len() {
            assert!(
                read_container(&mut Cursor::new(&whole[..cut])).is_ok(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_comment_over_the_limit_is_skipped_whole() {
        let whole = gif();
        // The comment's sub-blocks: full ones past the limit, then a short
        // one that would fit if the walk kept reading after a gap.
        let mut comment = b"\x21\xfe".to_vec();
        let blocks = (super::super::MAX_PAYLOAD as usize) / 255 + 2;
        for _ in 0..blocks {
            comment.push(255);
            comment.extend(std::iter::repeat_n(b'a', 255));
        }
        comment.extend_from_slice(b"\x03end\x00");
        let bytes = [&whole[..19], &comment, &whole[19..]].concat();
        let found = read_container(&mut Cursor::new(bytes)).unwrap();
        assert_eq!(found.texts[0].text, "hello", "{:?}", found.texts.len());
        assert_eq!(found.texts.len(), 1, "the long comment is not kept");
        assert!(
            found.problems.iter().any(|p| p.message.contains("limit")),
            "{:?}",
            found.problems
        );
    }
}
