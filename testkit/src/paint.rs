//! Synthetic images for tests: painters with known pixels, encoders to
//! bytes, and writers that add a PNG text chunk or set a file's mtime.

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use std::io::Cursor;
use std::path::Path;
use std::time::SystemTime;

/// A `width` × `height` image of one colour.
pub fn solid(width: u32, height: u32, colour: [u8; 3]) -> RgbImage {
    RgbImage::from_pixel(width, height, Rgb(colour))
}

/// A `width` × `height` image of one colour with alpha.
pub fn solid_rgba(width: u32, height: u32, colour: [u8; 4]) -> RgbaImage {
    RgbaImage::from_pixel(width, height, Rgba(colour))
}

/// A `width` × `height` image whose left half is `left` and right half
/// `right` (the middle column belongs to the right half).
pub fn halves(width: u32, height: u32, left: [u8; 3], right: [u8; 3]) -> RgbImage {
    RgbImage::from_fn(width, height, |x, _| {
        Rgb(if x < width / 2 { left } else { right })
    })
}

/// A gradient with some structure (red across, green down, an xor texture
/// in blue), so that encoders and resizers do real work.
pub fn gradient(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x * 255 / width.max(1)) as u8,
            (y * 255 / height.max(1)) as u8,
            ((x ^ y) & 0xff) as u8,
        ])
    })
}

/// Pixels that differ everywhere from their neighbours (an xorshift
/// sequence, the same for every call): the worst case for compression.
pub fn noise(width: u32, height: u32) -> RgbImage {
    let mut state = 0x9e37_79b9_u32;
    RgbImage::from_fn(width, height, |_, _| {
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        };
        Rgb([next(), next(), next()])
    })
}

/// `image` encoded in `format`.
pub fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, format)
        .expect("a test image encodes");
    out.into_inner()
}

/// An RGB image encoded as PNG.
pub fn png(image: &RgbImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, ImageFormat::Png)
        .expect("a test image encodes");
    out.into_inner()
}

/// `png` with a `tEXt` (or `iTXt`) chunk `keyword` = `text` added, the way
/// generators store their parameters.
pub fn with_png_text(png: &[u8], keyword: &str, text: &str) -> Vec<u8> {
    kiln_stages::metadata::write::insert_png_text(png, keyword, text)
        .expect("a test text chunk is valid")
}

/// Writes `image` as a PNG file at `path`, with a `parameters` text chunk
/// when `parameters` is given.
pub fn write_png(path: &Path, image: &RgbImage, parameters: Option<&str>) {
    let mut bytes = png(image);
    if let Some(text) = parameters {
        bytes = with_png_text(&bytes, "parameters", text);
    }
    std::fs::write(path, bytes)
        .unwrap_or_else(|e| panic!("cannot write test image {}: {e}", path.display()));
}

/// Sets the modification time of the file at `path`.
pub fn set_modified(path: &Path, mtime: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(mtime))
        .unwrap_or_else(|e| panic!("cannot set the mtime of {}: {e}", path.display()));
}
