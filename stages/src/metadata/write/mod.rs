//! Writers that put generation metadata into image bytes, the way real tools do.
//!
//! kiln's own tests, sample images and benchmarks use these to produce files
//! with real metadata: PNG text chunks (`tEXt`, `iTXt` plain or compressed,
//! `zTXt`), an EXIF block in JPEG (APP1) or WebP (`EXIF` chunk in a VP8X
//! file), and a JPEG comment. Every writer takes the bytes of an existing,
//! valid image and returns new bytes; the pixels are never touched.
//!
//! ```
//! use kiln_stages::metadata::write;
//!
//! # fn tiny_png() -> Vec<u8> {
//! #     let img = image::RgbImage::new(2, 2);
//! #     let mut out = std::io::Cursor::new(Vec::new());
//! #     img.write_to(&mut out, image::ImageFormat::Png).unwrap();
//! #     out.into_inner()
//! # }
//! let png = tiny_png();
//! let tagged = write::insert_png_text(&png, "parameters", "a cat\nSteps: 20, Seed: 7").unwrap();
//! assert_eq!(image::load_from_memory(&tagged).unwrap().width(), 2);
//! assert!(tagged.windows(10).any(|w| w == b"parameters"));
//! ```

mod jpeg;
mod png;
mod tiff;
mod webp;

pub use jpeg::{insert_jpeg_comment, insert_jpeg_exif, insert_jpeg_xmp};
pub use png::{
    PngChunk, append_png_chunks, insert_png_chunks, insert_png_text, itxt_chunk, text_chunk,
    ztxt_chunk,
};
pub use tiff::{ByteOrder, ExifFields, UserComment};
pub use webp::{insert_webp_exif, insert_webp_xmp};

/// Why metadata could not be written into an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The input is not a PNG (no signature or no IHDR chunk first).
    #[error(
        "the input is not a PNG file (missing signature or IHDR); pass the bytes of a valid PNG"
    )]
    NotPng,
    /// The input is not a JPEG (no SOI marker).
    #[error("the input is not a JPEG file (missing SOI marker); pass the bytes of a valid JPEG")]
    NotJpeg,
    /// The input is not a WebP file, or its first chunk is not an image chunk.
    #[error("the input is not a WebP file this writer understands: {0}")]
    NotWebp(String),
    /// A PNG text keyword must be 1 to 79 Latin-1 characters, without NUL.
    #[error("PNG text keyword {0:?} is invalid: it must be 1-79 printable Latin-1 characters")]
    BadKeyword(String),
    /// `tEXt` and `zTXt` hold Latin-1 only; use `iTXt` for other text.
    #[error("text for PNG chunk {0:?} is not Latin-1; write it as iTXt instead")]
    NotLatin1(String),
    /// A JPEG segment holds at most 65,533 bytes of payload.
    #[error("{what} is {len} bytes, more than a JPEG segment can hold (65,533)")]
    SegmentTooLarge {
        /// Which payload did not fit.
        what: &'static str,
        /// Its size in bytes.
        len: usize,
    },
    /// A RIFF chunk or file grew past the 32-bit size limit.
    #[error("the WebP file would exceed the 4 GiB RIFF size limit")]
    RiffTooLarge,
}
