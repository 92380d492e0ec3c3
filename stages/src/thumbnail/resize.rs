//! Shrinking a decoded image to the proxy and the thumbnail: exact 2 × 2
//! halving while an opaque image is at least twice too large, SIMD
//! convolution for the rest, orienting only the (small) proxy.

use super::ThumbnailError;
use super::halve::halve_opaque;
use fast_image_resize::{FilterType, IntoImageView, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, RgbImage};
use std::borrow::Cow;

/// The filter for the source-to-proxy reduction: an area average. It is the
/// cheapest convolution (the fewest taps per output pixel), it never
/// aliases when shrinking, and at the usual factor of two or more its
/// softness is invisible.
pub(crate) const PROXY_FILTER: FilterType = FilterType::Box;

/// The filter for the proxy-to-thumbnail reduction: Hamming costs what
/// bilinear costs and keeps edges closer to bicubic; on a proxy-sized image
/// its cost is negligible.
pub(crate) const THUMBNAIL_FILTER: FilterType = FilterType::Hamming;

/// The largest size with the same aspect ratio whose longest side is at most
/// `longest`; images already small enough keep their size (never enlarged).
pub(crate) fn fit_within(width: u32, height: u32, longest: u32) -> (u32, u32) {
    let longest = longest.max(1);
    let side = width.max(height);
    if side <= longest {
        return (width.max(1), height.max(1));
    }
    let scale = |short: u32| -> u32 {
        let scaled =
            (u64::from(short) * u64::from(longest) + u64::from(side) / 2) / u64::from(side);
        u32::try_from(scaled).unwrap_or(longest).clamp(1, longest)
    };
    if width >= height {
        (longest, scale(height))
    } else {
        (scale(width), longest)
    }
}

/// The two reductions of one image, 8-bit RGB or RGBA, already oriented.
#[derive(Debug)]
pub(crate) struct Reduced {
    pub(crate) proxy: DynamicImage,
    pub(crate) thumbnail: DynamicImage,
    /// Whether every pixel of the source is fully opaque (or it has no alpha).
    pub(crate) opaque: bool,
}

/// Makes the proxy from `source` and the thumbnail from the proxy.
///
/// The proxy is resized in the source's own pixel type, so a 16-bit image is
/// narrowed to 8 bits only after it has been shrunk; orientation is applied to
/// the proxy, a quarter of the pixels of a typical source or fewer.
pub(crate) fn reduce(
    source: &DynamicImage,
    orientation: Orientation,
    proxy_side: u32,
    thumbnail_side: u32,
) -> Result<Reduced, ThumbnailError> {
    let opaque = is_opaque(source);
    let mut resizer = Resizer::new();
    let converted;
    let source = if source.pixel_type().is_some() {
        source
    } else {
        converted = DynamicImage::ImageRgba8(source.to_rgba8());
        &converted
    };
    let native = shrink(
        source,
        opaque,
        proxy_side,
        &mut resizer,
        &options(PROXY_FILTER, opaque),
    )?
    .map_or(Cow::Borrowed(source), Cow::Owned);
    finish(native, opaque, orientation, thumbnail_side, &mut resizer)
}

/// [`reduce`] for an opaque source that has already been halved once (see
/// `stream`): the same proxy and thumbnail as reducing the whole source.
pub(crate) fn reduce_halved(
    halved: RgbImage,
    orientation: Orientation,
    proxy_side: u32,
    thumbnail_side: u32,
) -> Result<Reduced, ThumbnailError> {
    let mut resizer = Resizer::new();
    let halved = DynamicImage::ImageRgb8(halved);
    let native = shrink(
        &halved,
        true,
        proxy_side,
        &mut resizer,
        &options(PROXY_FILTER, true),
    )?
    .unwrap_or(halved);
    finish(
        Cow::Owned(native),
        true,
        orientation,
        thumbnail_side,
        &mut resizer,
    )
}

/// The convolution with `filter`, premultiplying alpha unless `opaque`.
fn options(filter: FilterType, opaque: bool) -> ResizeOptions {
    ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(filter))
        .use_alpha(!opaque)
}

/// The proxy from `native` (the source at proxy size, in its own pixel
/// type), oriented, and the thumbnail made from it.
fn finish(
    native: Cow<'_, DynamicImage>,
    opaque: bool,
    orientation: Orientation,
    thumbnail_side: u32,
    resizer: &mut Resizer,
) -> Result<Reduced, ThumbnailError> {
    let mut proxy = to_eight_bit(native, opaque);
    proxy.apply_orientation(orientation);
    let thumbnail = shrink(
        &proxy,
        opaque,
        thumbnail_side,
        resizer,
        &options(THUMBNAIL_FILTER, opaque),
    )?
    .unwrap_or_else(|| proxy.clone());
    Ok(Reduced {
        proxy,
        thumbnail,
        opaque,
    })
}

/// `image` made to fit within `longest`: halved while at least twice too
/// large, then resized with `options`; `None` when it already fits.
fn shrink(
    image: &DynamicImage,
    opaque: bool,
    longest: u32,
    resizer: &mut Resizer,
    options: &ResizeOptions,
) -> Result<Option<DynamicImage>, ThumbnailError> {
    let halved = halve_while_large(image, opaque, longest);
    let current = halved.as_ref().unwrap_or(image);
    let (width, height) = fit_within(current.width(), current.height(), longest);
    if (width, height) == (current.width(), current.height()) {
        return Ok(halved);
    }
    let mut target = DynamicImage::new(width, height, current.color());
    resizer
        .resize(current, &mut target, options)
        .map_err(|e| ThumbnailError::Resize(e.to_string()))?;
    Ok(Some(target))
}

/// Whether an image of this size is halved on its way to fit within
/// `longest`: its longest side is at least twice that. Shrink-on-load
/// (`stream`) and the whole decode's reduction must agree on it.
pub(crate) fn halving_applies(width: u32, height: u32, longest: u32) -> bool {
    width.max(height) / 2 >= longest.max(1)
}

/// An opaque 8-bit image halved (2 × 2 area average) as long as its longest
/// side stays at least `longest`; `None` when no halving applies (too small,
/// transparent, or another pixel type), so the caller resizes the original.
fn halve_while_large(image: &DynamicImage, opaque: bool, longest: u32) -> Option<DynamicImage> {
    let fits = |image: &DynamicImage| halving_applies(image.width(), image.height(), longest);
    if !opaque || !fits(image) {
        return None;
    }
    let mut halved = DynamicImage::ImageRgb8(halve_opaque(image)?);
    while fits(&halved) {
        match halve_opaque(&halved) {
            Some(smaller) => halved = DynamicImage::ImageRgb8(smaller),
            None => break,
        }
    }
    Some(halved)
}

/// RGB8 when the image is opaque, RGBA8 otherwise; an owned image that
/// already has the right type is moved, not copied.
fn to_eight_bit(image: Cow<'_, DynamicImage>, opaque: bool) -> DynamicImage {
    match (image, opaque) {
        (Cow::Owned(owned @ DynamicImage::ImageRgb8(_)), true)
        | (Cow::Owned(owned @ DynamicImage::ImageRgba8(_)), false) => owned,
        (image, true) => DynamicImage::ImageRgb8(image.to_rgb8()),
        (image, false) => DynamicImage::ImageRgba8(image.to_rgba8()),
    }
}

/// The alpha value from which a pixel counts as opaque. Some generators
/// hide data in the lowest bit of alpha (NovelAI's "stealth" copy of its
/// metadata), making an image that looks opaque carry alpha 254 and 255;
/// treating it as opaque lets it be stored as JPEG and resized without
/// premultiplication, and nobody can see the difference of 2 %.
pub(crate) const OPAQUE_ALPHA: u8 = 250;

/// Whether the image has no alpha channel or every alpha value is at least
/// [`OPAQUE_ALPHA`] (its 16-bit equivalent for 16-bit images). Many
/// generators save opaque renders as RGBA; knowing it lets the resize skip
/// alpha premultiplication and the encoders drop a channel.
pub(crate) fn is_opaque(image: &DynamicImage) -> bool {
    match image {
        DynamicImage::ImageRgba8(buffer) => min_alpha::<4, 64>(buffer.as_raw()) >= OPAQUE_ALPHA,
        DynamicImage::ImageLumaA8(buffer) => min_alpha::<2, 64>(buffer.as_raw()) >= OPAQUE_ALPHA,
        DynamicImage::ImageRgba16(buffer) => buffer.as_raw().chunks_exact(4).all(|p| {
            p.get(3)
                .is_some_and(|&a| a >= u16::from(OPAQUE_ALPHA) * 257)
        }),
        DynamicImage::ImageLumaA16(buffer) => buffer.as_raw().chunks_exact(2).all(|p| {
            p.get(1)
                .is_some_and(|&a| a >= u16::from(OPAQUE_ALPHA) * 257)
        }),
        other => !other.color().has_alpha(),
    }
}

/// The smallest alpha value of 8-bit pixels of `PIXEL` bytes with alpha
/// last. `BLOCK` is a multiple of `PIXEL`: fixed-size blocks let the
/// compiler drop bounds checks and vectorise the minimum, so an opaque
/// megapixel image costs a fraction of a millisecond.
pub(crate) fn min_alpha<const PIXEL: usize, const BLOCK: usize>(raw: &[u8]) -> u8 {
    let mut blocks = raw.chunks_exact(BLOCK);
    let mut minimum = u8::MAX;
    for block in blocks.by_ref() {
        if let Ok(block) = <&[u8; BLOCK]>::try_from(block) {
            let mut index = PIXEL - 1;
            while index < BLOCK {
                minimum = minimum.min(block[index]);
                index += PIXEL;
            }
        }
    }
    blocks
        .remainder()
        .chunks_exact(PIXEL)
        .filter_map(|pixel| pixel.last())
        .fold(minimum, |m, &a| m.min(a))
}
