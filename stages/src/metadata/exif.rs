//! EXIF (TIFF) blocks read with kamadak-exif: a camera summary, and every
//! text tag as a raw entry (generator tools hide prompts in Make, Model,
//! ImageDescription and UserComment).

use super::container::RawText;
use super::text::{trim_nuls, user_comment, utf16_sniffed};
use exif::{Field, In, Tag, Value};

/// What the EXIF block says about the picture itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExifSummary {
    /// Camera maker (`Make`), unless the tag carries a generator payload.
    pub camera_make: Option<String>,
    /// Camera model (`Model`), unless the tag carries a generator payload.
    pub camera_model: Option<String>,
    /// `Software`.
    pub software: Option<String>,
    /// `DateTime`: when the file was last changed, as written.
    pub date_time: Option<String>,
    /// `DateTimeOriginal`: when the picture was taken or made, as written.
    pub date_time_original: Option<String>,
    /// `Orientation`, 1 to 8.
    pub orientation: Option<u16>,
    /// `PixelXDimension` (or `ImageWidth`).
    pub pixel_width: Option<u32>,
    /// `PixelYDimension` (or `ImageLength`).
    pub pixel_height: Option<u32>,
}

/// Parses a TIFF block; text tags go to `texts` as `EXIF:<TagName>`.
///
/// Damaged blocks are read as far as possible: `Err` carries the reason when
/// nothing could be read, and recoverable damage is returned as notes.
pub(crate) fn read(
    tiff: Vec<u8>,
    texts: &mut Vec<RawText>,
) -> Result<(ExifSummary, Vec<String>), String> {
    let mut notes = Vec::new();
    let mut reader = exif::Reader::new();
    reader.continue_on_error(true);
    let parsed = reader
        .read_raw(tiff)
        .or_else(|e| {
            e.distill_partial_result(|errors| {
                // A non-zero next-IFD offset after the Exif IFD is a
                // harmless quirk of a common writer (piexif), not damage.
                notes.extend(
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .filter(|e| !e.contains("Unexpected next IFD"))
                        .map(|e| format!("damaged EXIF entry: {e}")),
                );
            })
        })
        .map_err(|e| format!("EXIF block is unreadable: {e}"))?;
    let big_endian = !parsed.little_endian();
    let mut summary = ExifSummary::default();
    for field in parsed.fields().filter(|f| f.ifd_num == In::PRIMARY) {
        if let Some(text) = field_text(field, big_endian) {
            texts.push(RawText {
                key: format!("EXIF:{}", tag_name(field.tag)),
                text,
            });
        }
    }
    let text = |tag| {
        parsed
            .get_field(tag, In::PRIMARY)
            .and_then(|f| ascii_text(&f.value))
    };
    summary.camera_make = text(Tag::Make).filter(|t| !is_payload(t));
    summary.camera_model = text(Tag::Model).filter(|t| !is_payload(t));
    summary.software = text(Tag::Software).filter(|t| !is_payload(t));
    summary.date_time = text(Tag::DateTime);
    summary.date_time_original = text(Tag::DateTimeOriginal);
    let uint = |tag| {
        parsed
            .get_field(tag, In::PRIMARY)
            .and_then(|f| f.value.get_uint(0))
    };
    summary.orientation = uint(Tag::Orientation).and_then(|v| u16::try_from(v).ok());
    summary.pixel_width = uint(Tag::PixelXDimension).or_else(|| uint(Tag::ImageWidth));
    summary.pixel_height = uint(Tag::PixelYDimension).or_else(|| uint(Tag::ImageLength));
    Ok((summary, notes))
}

/// The name of a text tag, by number: writers put tags such as UserComment
/// into IFD0 as well as into the Exif IFD, and both must read the same.
fn tag_name(tag: Tag) -> String {
    let name = match tag.number() {
        0x010D => "DocumentName",
        0x010E => "ImageDescription",
        0x010F => "Make",
        0x0110 => "Model",
        0x0131 => "Software",
        0x013B => "Artist",
        0x8298 => "Copyright",
        0x9286 => "UserComment",
        0x9C9B => "XPTitle",
        0x9C9C => "XPComment",
        0x9C9D => "XPAuthor",
        0x9C9E => "XPKeywords",
        0x9C9F => "XPSubject",
        _ => return tag.to_string(),
    };
    name.to_owned()
}

/// A text tag's content, or `None` for tags that are not text.
fn field_text(field: &Field, big_endian: bool) -> Option<String> {
    match (&field.value, field.tag) {
        (Value::Undefined(bytes, _), tag) if tag.number() == 0x9286 => {
            Some(user_comment(bytes, big_endian))
        }
        (Value::Ascii(_), _) => ascii_text(&field.value),
        // Windows XP tags (XPComment, XPTitle, ...) are UTF-16LE in BYTE form.
        (Value::Byte(bytes), tag) if (0x9C9B..=0x9C9F).contains(&tag.number()) => {
            Some(utf16_sniffed(bytes, false))
        }
        _ => None,
    }
    .filter(|t| !t.is_empty())
}

/// ASCII-typed tags hold UTF-8 in practice; the parts kamadak-exif splits at
/// NUL bytes are joined again (NovelAI pads ImageDescription with NULs).
fn ascii_text(value: &Value) -> Option<String> {
    let Value::Ascii(parts) = value else {
        return None;
    };
    let joined: Vec<u8> = parts.iter().flatten().copied().collect();
    let text = trim_nuls(String::from_utf8_lossy(&joined).into_owned());
    (!text.is_empty()).then_some(text)
}

/// Whether a Make/Model/Software value is a generator payload, not a name.
fn is_payload(text: &str) -> bool {
    text.len() > 200 || text.contains('{')
}
