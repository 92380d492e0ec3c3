//! A small TIFF/EXIF block builder: the tags generator tools write.

/// The byte order of a TIFF block: `II` (little-endian) or `MM` (big-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ByteOrder {
    /// `II`: Intel, little-endian.
    Little,
    /// `MM`: Motorola, big-endian.
    Big,
}

impl ByteOrder {
    fn u16(self, v: u16) -> [u8; 2] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }

    fn u32(self, v: u32) -> [u8; 4] {
        match self {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        }
    }
}

/// The content of an EXIF `UserComment` tag.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserComment {
    /// `UNICODE\0` followed by UTF-16; `big_endian` is chosen independently
    /// of the TIFF byte order because real tools disagree (A1111 writes
    /// big-endian into little-endian TIFF).
    Unicode {
        /// The text.
        text: String,
        /// Whether the UTF-16 code units are big-endian.
        big_endian: bool,
    },
    /// `ASCII\0\0\0` followed by the text bytes.
    Ascii(String),
    /// Bytes written as they are, without a character-set header (some
    /// ComfyUI savers put raw JSON there).
    Raw(Vec<u8>),
}

impl UserComment {
    fn encode(&self) -> Vec<u8> {
        match self {
            UserComment::Unicode { text, big_endian } => {
                let mut out = b"UNICODE\0".to_vec();
                for unit in text.encode_utf16() {
                    let bytes = if *big_endian {
                        unit.to_be_bytes()
                    } else {
                        unit.to_le_bytes()
                    };
                    out.extend_from_slice(&bytes);
                }
                out
            }
            UserComment::Ascii(text) => {
                let mut out = b"ASCII\0\0\0".to_vec();
                out.extend_from_slice(text.as_bytes());
                out
            }
            UserComment::Raw(bytes) => bytes.clone(),
        }
    }
}

/// The EXIF fields to write, built with chained setters.
///
/// ```
/// use kiln_stages::metadata::write::{ByteOrder, ExifFields, UserComment};
///
/// let tiff = ExifFields::new()
///     .make("workflow:{}")
///     .user_comment(UserComment::Unicode { text: "hi".into(), big_endian: true })
///     .to_tiff(ByteOrder::Little);
/// assert_eq!(&tiff[..2], b"II");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExifFields {
    make: Option<String>,
    model: Option<String>,
    image_description: Option<String>,
    software: Option<String>,
    artist: Option<String>,
    date_time: Option<String>,
    date_time_original: Option<String>,
    orientation: Option<u16>,
    pixel_size: Option<(u32, u32)>,
    user_comment: Option<UserComment>,
}

impl ExifFields {
    /// No fields.
    pub fn new() -> Self {
        ExifFields::default()
    }

    /// Sets `Make` (0x010F).
    pub fn make(mut self, text: impl Into<String>) -> Self {
        self.make = Some(text.into());
        self
    }

    /// Sets `Model` (0x0110).
    pub fn model(mut self, text: impl Into<String>) -> Self {
        self.model = Some(text.into());
        self
    }

    /// Sets `ImageDescription` (0x010E).
    pub fn image_description(mut self, text: impl Into<String>) -> Self {
        self.image_description = Some(text.into());
        self
    }

    /// Sets `Software` (0x0131).
    pub fn software(mut self, text: impl Into<String>) -> Self {
        self.software = Some(text.into());
        self
    }

    /// Sets `Artist` (0x013B).
    pub fn artist(mut self, text: impl Into<String>) -> Self {
        self.artist = Some(text.into());
        self
    }

    /// Sets `DateTime` (0x0132), formatted `YYYY:MM:DD HH:MM:SS`.
    pub fn date_time(mut self, text: impl Into<String>) -> Self {
        self.date_time = Some(text.into());
        self
    }

    /// Sets `DateTimeOriginal` (0x9003), formatted `YYYY:MM:DD HH:MM:SS`.
    pub fn date_time_original(mut self, text: impl Into<String>) -> Self {
        self.date_time_original = Some(text.into());
        self
    }

    /// Sets `Orientation` (0x0112), 1 to 8.
    pub fn orientation(mut self, value: u16) -> Self {
        self.orientation = Some(value);
        self
    }

    /// Sets `PixelXDimension`/`PixelYDimension` (0xA002/0xA003).
    pub fn pixel_size(mut self, width: u32, height: u32) -> Self {
        self.pixel_size = Some((width, height));
        self
    }

    /// Sets `UserComment` (0x9286).
    pub fn user_comment(mut self, comment: UserComment) -> Self {
        self.user_comment = Some(comment);
        self
    }

    /// Serialises the fields as a TIFF block (what follows `Exif\0\0` in a
    /// JPEG APP1 segment, or the whole payload of a WebP `EXIF` chunk).
    pub fn to_tiff(&self, order: ByteOrder) -> Vec<u8> {
        let mut ifd0 = Vec::new();
        let text_tags = [
            (0x010E, &self.image_description),
            (0x010F, &self.make),
            (0x0110, &self.model),
            (0x0131, &self.software),
            (0x0132, &self.date_time),
            (0x013B, &self.artist),
        ];
        for (tag, text) in text_tags {
            if let Some(text) = text {
                ifd0.push(Entry::ascii(tag, text));
            }
        }
        if let Some(orientation) = self.orientation {
            ifd0.push(Entry::short(order, 0x0112, orientation));
        }
        let mut exif = Vec::new();
        if let Some(text) = &self.date_time_original {
            exif.push(Entry::ascii(0x9003, text));
        }
        if let Some(comment) = &self.user_comment {
            let data = comment.encode();
            exif.push(Entry {
                tag: 0x9286,
                kind: 7,
                count: data.len(),
                data,
            });
        }
        if let Some((width, height)) = self.pixel_size {
            exif.push(Entry::long(order, 0xA002, width));
            exif.push(Entry::long(order, 0xA003, height));
        }

        let mut out = match order {
            ByteOrder::Little => b"II".to_vec(),
            ByteOrder::Big => b"MM".to_vec(),
        };
        out.extend_from_slice(&order.u16(42));
        out.extend_from_slice(&order.u32(8));
        if !exif.is_empty() {
            // The Exif IFD pointer's value is the offset of the second IFD,
            // which follows the first IFD and its out-of-line data.
            let pointer_slot = ifd0.len() + 1;
            let ifd0_size = ifd_size(pointer_slot, ifd0.iter());
            let exif_offset = 8 + ifd0_size;
            ifd0.push(Entry::long(order, 0x8769, to_u32(exif_offset)));
        }
        ifd0.sort_by_key(|e| e.tag);
        write_ifd(&mut out, order, &ifd0);
        if !exif.is_empty() {
            exif.sort_by_key(|e| e.tag);
            write_ifd(&mut out, order, &exif);
        }
        out
    }
}

struct Entry {
    tag: u16,
    kind: u16,
    count: usize,
    data: Vec<u8>,
}

impl Entry {
    fn ascii(tag: u16, text: &str) -> Self {
        let mut data = text.as_bytes().to_vec();
        data.push(0);
        Entry {
            tag,
            kind: 2,
            count: data.len(),
            data,
        }
    }

    fn short(order: ByteOrder, tag: u16, value: u16) -> Self {
        Entry {
            tag,
            kind: 3,
            count: 1,
            data: order.u16(value).to_vec(),
        }
    }

    fn long(order: ByteOrder, tag: u16, value: u32) -> Self {
        Entry {
            tag,
            kind: 4,
            count: 1,
            data: order.u32(value).to_vec(),
        }
    }

    fn out_of_line_len(&self) -> usize {
        if self.data.len() > 4 {
            self.data.len() + self.data.len() % 2
        } else {
            0
        }
    }
}

fn to_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// The size of an IFD with `entry_count` entries (one of which may not be
/// built yet and has inline data) plus the out-of-line data of `entries`.
fn ifd_size<'a>(entry_count: usize, entries: impl Iterator<Item = &'a Entry>) -> usize {
    2 + entry_count * 12 + 4 + entries.map(Entry::out_of_line_len).sum::<usize>()
}

/// Writes an IFD at the end of `out` with its out-of-line data after it;
/// the next-IFD offset is zero.
fn write_ifd(out: &mut Vec<u8>, order: ByteOrder, entries: &[Entry]) {
    let start = out.len();
    let count = u16::try_from(entries.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&order.u16(count));
    let mut data_offset = start + 2 + entries.len() * 12 + 4;
    let mut data_area = Vec::new();
    for entry in entries {
        out.extend_from_slice(&order.u16(entry.tag));
        out.extend_from_slice(&order.u16(entry.kind));
        out.extend_from_slice(&order.u32(to_u32(entry.count)));
        if entry.data.len() > 4 {
            out.extend_from_slice(&order.u32(to_u32(data_offset)));
            data_area.extend_from_slice(&entry.data);
            if entry.data.len() % 2 == 1 {
                data_area.push(0);
            }
            data_offset += entry.out_of_line_len();
        } else {
            let mut inline = entry.data.clone();
            inline.resize(4, 0);
            out.extend_from_slice(&inline);
        }
    }
    out.extend_from_slice(&order.u32(0));
    out.extend_from_slice(&data_area);
}
