//! Encoding the proxy and the thumbnail into the bytes stored as artifacts.
//!
//! JPEG goes through the stage's own encoder (`jpeg.rs`), built for the one
//! case it serves; encoding is otherwise a large share of the stage's work
//! on top of the decode.

use super::ThumbnailError;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ExtendedColorType, ImageEncoder};

/// How the proxy and thumbnail are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArtifactEncoding {
    /// JPEG at the given quality (1–100) for opaque images; images with
    /// transparency fall back to fast PNG, which keeps it.
    Jpeg {
        /// 1 (smallest) to 100 (best).
        quality: u8,
    },
    /// PNG with the fastest deflate setting: lossless, larger files.
    PngFast,
    /// Lossless WebP with the `image` crate's simple encoder.
    WebpLossless,
}

impl ArtifactEncoding {
    /// Encodes an 8-bit RGB or RGBA image; returns the bytes and their media type.
    pub(crate) fn encode(
        self,
        image: &DynamicImage,
    ) -> Result<(Vec<u8>, &'static str), ThumbnailError> {
        let (width, height) = (image.width(), image.height());
        let (pixels, color) = match image {
            DynamicImage::ImageRgb8(buffer) => (buffer.as_raw(), ExtendedColorType::Rgb8),
            DynamicImage::ImageRgba8(buffer) => (buffer.as_raw(), ExtendedColorType::Rgba8),
            _ => {
                return Err(ThumbnailError::Encode(format!(
                    "expected 8-bit RGB or RGBA pixels, got {:?}",
                    image.color()
                )));
            }
        };
        if let ArtifactEncoding::Jpeg { quality } = self
            && color == ExtendedColorType::Rgb8
        {
            let bytes = super::jpeg::encode_rgb(pixels, width as usize, height as usize, quality)
                .map_err(ThumbnailError::Encode)?;
            return Ok((bytes, "image/jpeg"));
        }
        let failed = |e: image::ImageError| ThumbnailError::Encode(e.to_string());
        // Encoded output is a fraction of the raw pixels; reserving it once
        // avoids regrowing the buffer for every image.
        let mut out = Vec::with_capacity(pixels.len() / 4);
        let media_type = match self {
            ArtifactEncoding::Jpeg { .. } | ArtifactEncoding::PngFast => {
                PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
                    .write_image(pixels, width, height, color)
                    .map_err(failed)?;
                "image/png"
            }
            ArtifactEncoding::WebpLossless => {
                WebPEncoder::new_lossless(&mut out)
                    .write_image(pixels, width, height, color)
                    .map_err(failed)?;
                "image/webp"
            }
        };
        Ok((out, media_type))
    }
}
