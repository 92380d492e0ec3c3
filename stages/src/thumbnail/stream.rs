//! Shrink-on-load for the commonest input: an opaque PNG that decodes to
//! 8-bit RGB or RGBA, not interlaced or animated, at least twice the size
//! it is shrunk to.
//!
//! Its rows are decoded two at a time into a pair of row buffers and halved
//! at once, so the full-size pixels are never held in memory, which lowers
//! an import's peak memory (docs/PERFORMANCE.md). The result is exactly
//! what decoding the whole image and halving it gives.
//!
//! Anything else (another format, a PNG that does not expand to 8-bit RGB
//! or RGBA, an interlaced or animated PNG, transparency, a file the decoder
//! refuses) yields `None`, and the caller decodes the whole file as usual,
//! which also produces the precise error for a broken one. Such a file
//! costs the part decoded before the path gave up: a little for most, up to
//! a whole decode for an RGBA image whose first transparent pixel is near
//! its end or a PNG broken near its end.

use super::decode::{DecodeLimits, png_declared_size};
use super::halve::RowPairHalver;
use super::resize::{OPAQUE_ALPHA, halving_applies, min_alpha};
use image::metadata::Orientation;
use image::{ColorType, RgbImage};
use std::io::Cursor;

/// A PNG decoded and halved in one pass.
#[derive(Debug)]
pub(crate) struct HalvedPng {
    /// The source halved once (2 × 2 area average), RGB.
    pub(crate) halved: RgbImage,
    /// The source's width as stored.
    pub(crate) width: u32,
    /// The source's height as stored.
    pub(crate) height: u32,
    /// The source's pixel type: `Rgb8` or `Rgba8`.
    pub(crate) color: ColorType,
    /// The orientation its eXIf chunk asks for.
    pub(crate) orientation: Orientation,
}

/// Decodes `bytes` and halves it on the way, when it is a PNG this path
/// handles and its longest side is at least `2 * longest`; `None` otherwise.
pub(crate) fn png_halved(bytes: &[u8], limits: DecodeLimits, longest: u32) -> Option<HalvedPng> {
    // The decoder sees hostile input; a panic in it falls back to the whole
    // decode, whose own guard turns it into a per-file error.
    std::panic::catch_unwind(|| decode_halved(bytes, limits, longest)).ok()?
}

fn decode_halved(bytes: &[u8], limits: DecodeLimits, longest: u32) -> Option<HalvedPng> {
    // The size in IHDR settles most files (anything but a PNG, or one too
    // small to halve) before the chunks ahead of the pixels are read.
    let (width, height) = png_declared_size(bytes)?;
    if !halving_applies(width, height, longest) {
        return None;
    }
    let png_limits = png::Limits {
        bytes: usize::try_from(limits.max_alloc).unwrap_or(usize::MAX),
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), png_limits);
    // The same settings as the whole decode: palettes and transparency
    // chunks become RGB(A), low bit depths become 8 bits, and text and
    // colour-profile chunks are read as it reads them, so a file that
    // exhausts the limits there fails the same way.
    decoder.set_transformations(png::Transformations::EXPAND);
    decoder.set_ignore_text_chunk(false);
    let mut reader = decoder.read_info().ok()?;
    let info = reader.info();
    // The decoder read the same IHDR.
    if (info.width, info.height) != (width, height)
        || info.interlaced
        || info.animation_control.is_some()
    {
        return None;
    }
    let orientation = info
        .exif_metadata
        .as_deref()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let (color, halved) = match reader.output_color_type() {
        (png::ColorType::Rgb, png::BitDepth::Eight) => {
            limits.check(width, height, 3).ok()?;
            (ColorType::Rgb8, rows::<3>(&mut reader, width, height)?)
        }
        (png::ColorType::Rgba, png::BitDepth::Eight) => {
            limits.check(width, height, 4).ok()?;
            (ColorType::Rgba8, rows::<4>(&mut reader, width, height)?)
        }
        _ => return None,
    };
    Some(HalvedPng {
        halved,
        width,
        height,
        color,
        orientation,
    })
}

/// Reads every row of the image, two at a time, into its halved RGB image.
/// `None` as soon as a pixel is not opaque (RGBA) or the decoder fails.
fn rows<const CHANNELS: usize>(
    reader: &mut png::Reader<Cursor<&[u8]>>,
    width: u32,
    height: u32,
) -> Option<RgbImage> {
    let row_len = usize::try_from(width).ok()? * CHANNELS;
    let mut halver = RowPairHalver::<CHANNELS>::new(usize::try_from(width).ok()?)?;
    let out_height = usize::try_from(height.div_ceil(2)).ok()?;
    let mut out = vec![0u8; halver.out_row_len() * out_height];
    let mut top = vec![0u8; row_len];
    let mut bottom = vec![0u8; row_len];
    let opaque = |row: &[u8]| CHANNELS != 4 || min_alpha::<4, 64>(row) >= OPAQUE_ALPHA;
    for out_row in out.chunks_exact_mut(halver.out_row_len()) {
        reader.read_row(&mut top).ok()??;
        // A last odd row is its own partner.
        let pair = match reader.read_row(&mut bottom).ok()? {
            Some(_) => bottom.as_slice(),
            None => top.as_slice(),
        };
        if !opaque(&top) || !opaque(pair) {
            return None;
        }
        halver.halve(&top, pair, out_row)?;
    }
    // Past the last row the decoder finishes the image data (the chunks'
    // CRCs included), as a whole decode does.
    if reader.read_row(&mut top).ok()?.is_some() {
        return None;
    }
    RgbImage::from_raw(width.div_ceil(2), height.div_ceil(2), out)
}

#[cfg(test)]
mod tests {
    use super::super::{ThumbnailConfig, make_thumbnails_via, test_noise};
    use super::*;
    use crate::metadata::write::{ByteOrder, ExifFields, PngChunk, insert_png_chunks};
    use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb};

    /// A picture with smooth areas and fine detail, as renders have.
    fn pixels(width: u32, height: u32, channels: usize, seed: u32) -> Vec<u8> {
        let noise = test_noise((width * height) as usize * channels, seed);
        (0..height)
            .flat_map(|y| (0..width).map(move |x| (x, y)))
            .zip(noise.chunks_exact(channels))
            .flat_map(|((x, y), n)| {
                let base = [(x * 255 / width) as u8, (y * 255 / height) as u8, 96, 255];
                (0..channels).map(move |c| {
                    if c == 3 {
                        255
                    } else {
                        base[c].wrapping_add(n[c] >> 4)
                    }
                })
            })
            .collect()
    }

    fn png_of(image: &DynamicImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        bytes
    }

    fn rgb(width: u32, height: u32) -> Vec<u8> {
        let raw = pixels(width, height, 3, (width ^ (height << 3)) | 1);
        png_of(&DynamicImage::ImageRgb8(
            ImageBuffer::from_raw(width, height, raw).unwrap(),
        ))
    }

    fn rgba(width: u32, height: u32, alpha: impl Fn(u32, u32) -> u8) -> Vec<u8> {
        let raw = pixels(width, height, 4, (width ^ (height << 5)) | 1);
        let mut image: image::RgbaImage = ImageBuffer::from_raw(width, height, raw).unwrap();
        for (x, y, pixel) in image.enumerate_pixels_mut() {
            pixel.0[3] = alpha(x, y);
        }
        png_of(&DynamicImage::ImageRgba8(image))
    }

    /// An indexed-colour PNG written by the `png` encoder, with a
    /// transparency chunk when `trns` is given.
    fn indexed(width: u32, height: u32, trns: Option<&[u8]>) -> Vec<u8> {
        let palette: Vec<u8> = (0..=255u8).flat_map(|i| [i, 255 - i, i / 2]).collect();
        let indices = pixels(width, height, 1, 77);
        let mut bytes = Vec::new();
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_palette(palette);
        if let Some(trns) = trns {
            encoder.set_trns(trns.to_vec());
        }
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&indices).unwrap();
        writer.finish().unwrap();
        bytes
    }

    /// Asserts that `bytes` takes the shrink-on-load path exactly when
    /// `streams`, and that both paths give the same result.
    fn check(name: &str, bytes: &[u8], streams: bool) {
        let config = ThumbnailConfig::default();
        let halved = png_halved(bytes, config.limits, config.proxy_side);
        assert_eq!(halved.is_some(), streams, "{name}: shrink-on-load taken");
        same_either_way(name, bytes);
    }

    /// Asserts that both paths give the same result.
    fn same_either_way(name: &str, bytes: &[u8]) {
        let config = ThumbnailConfig::default();
        let whole = make_thumbnails_via(bytes, &config, false);
        let streamed = make_thumbnails_via(bytes, &config, true);
        assert_eq!(streamed, whole, "{name}: same result either way");
    }

    #[test]
    fn opaque_eight_bit_pngs_shrink_on_load_to_the_same_result() {
        check("rgb 1024x1024", &rgb(1024, 1024), true);
        check("rgb odd 1217x833", &rgb(1217, 833), true);
        check("rgb twice halved, odd 1025x2051", &rgb(1025, 2051), true);
        check("rgb exactly twice 1024x40", &rgb(1024, 40), true);
        check("rgba opaque", &rgba(1024, 768, |_, _| 255), true);
        let stealth = |x: u32, y: u32| if (x + y).is_multiple_of(2) { 254 } else { 255 };
        check("rgba with stealth alpha", &rgba(1100, 900, stealth), true);
        check("palette", &indexed(1030, 1030, None), true);
        check(
            "palette, opaque tRNS",
            &indexed(1030, 1030, Some(&[255; 16])),
            true,
        );
    }

    #[test]
    fn orientation_comes_from_the_exif_chunk() {
        let tiff = ExifFields::new().orientation(6).to_tiff(ByteOrder::Big);
        let bytes = insert_png_chunks(&rgb(1200, 1040), &[PngChunk::new(*b"eXIf", tiff)]).unwrap();
        check("rgb with orientation 6", &bytes, true);
        let config = ThumbnailConfig::default();
        let halved = png_halved(&bytes, config.limits, config.proxy_side).unwrap();
        assert_eq!(halved.orientation, Orientation::Rotate90);
        let made = make_thumbnails_via(&bytes, &config, true).unwrap();
        assert_eq!((made.facts.width, made.facts.height), (1040, 1200));
        assert_eq!(made.facts.orientation, 6);
    }

    #[test]
    fn everything_else_is_decoded_whole() {
        let last_row_clear = |_: u32, y: u32| if y == 899 { 0 } else { 255 };
        check(
            "rgba, transparent last row",
            &rgba(1100, 900, last_row_clear),
            false,
        );
        check(
            "rgba, half transparent",
            &rgba(1100, 900, |x, _| (x % 256) as u8),
            false,
        );
        check(
            "palette with clear entries",
            &indexed(1030, 1030, Some(&[0; 8])),
            false,
        );
        check("small rgb", &rgb(1023, 600), false);
        let grey = DynamicImage::new_luma8(1200, 1200);
        check("grey", &png_of(&grey), false);
        let deep = DynamicImage::ImageRgb16(ImageBuffer::from_pixel(1100, 1100, Rgb([9000u16; 3])));
        check("16 bit", &png_of(&deep), false);
        let jpeg = {
            let image =
                DynamicImage::ImageRgb8(ImageBuffer::from_pixel(1100, 1100, Rgb([5, 6, 7])));
            let mut bytes = Vec::new();
            image
                .write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Jpeg)
                .unwrap();
            bytes
        };
        check("jpeg", &jpeg, false);
    }

    #[test]
    fn broken_pngs_get_the_whole_decodes_error() {
        let good = rgb(1100, 1100);
        let idat = good.windows(4).position(|w| w == b"IDAT").unwrap();
        for cut in [idat + 200, good.len() / 2, good.len() - 20] {
            let name = format!("cut at {cut}");
            check(&name, &good[..cut], false);
            let config = ThumbnailConfig::default();
            assert!(
                make_thumbnails_via(&good[..cut], &config, true).is_err(),
                "{name}"
            );
        }
        let mut flipped = good.clone();
        flipped[good.len() / 2] ^= 0x55;
        check("a flipped byte", &flipped, false);
        assert!(make_thumbnails_via(&flipped, &ThumbnailConfig::default(), true).is_err());
    }

    #[test]
    fn a_declared_size_over_the_limits_is_refused_before_decoding() {
        let bytes = rgb(1100, 1100);
        let limits = DecodeLimits {
            max_width: 1000,
            ..DecodeLimits::default()
        };
        assert!(png_halved(&bytes, limits, 256).is_none());
    }

    #[test]
    fn real_pngs_give_the_same_result_either_way() {
        let Some(dir) = kiln_testkit::fixtures::real() else {
            return;
        };
        let mut streamed = 0;
        let mut whole = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            if !bytes.starts_with(b"\x89PNG") {
                continue;
            }
            let config = ThumbnailConfig::default();
            same_either_way(&path.display().to_string(), &bytes);
            if png_halved(&bytes, config.limits, config.proxy_side).is_some() {
                streamed += 1;
            } else {
                whole += 1;
            }
        }
        println!("{streamed} PNGs shrunk on load, {whole} decoded whole");
        assert!(streamed > 0, "no real PNG took the shrink-on-load path");
    }
}
