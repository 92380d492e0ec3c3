//! Small images to write metadata into, for the metadata tests.
#![allow(dead_code)]

use kiln_testkit::paint;

/// A 5×3 image encoded in `format`, with an (opaque) alpha channel when asked.
pub(crate) fn image_bytes(format: image::ImageFormat, alpha: bool) -> Vec<u8> {
    solid_image(format, alpha, 255)
}

/// A 5×3 image of one colour encoded in `format`, with alpha `opacity` when
/// `alpha` is asked.
pub(crate) fn solid_image(format: image::ImageFormat, alpha: bool, opacity: u8) -> Vec<u8> {
    let image = if alpha {
        image::DynamicImage::ImageRgba8(paint::solid_rgba(5, 3, [10, 200, 30, opacity]))
    } else {
        image::DynamicImage::ImageRgb8(paint::solid(5, 3, [10, 200, 30]))
    };
    paint::encode(&image, format)
}

pub(crate) fn png() -> Vec<u8> {
    image_bytes(image::ImageFormat::Png, false)
}

pub(crate) fn jpeg() -> Vec<u8> {
    image_bytes(image::ImageFormat::Jpeg, false)
}

pub(crate) fn webp() -> Vec<u8> {
    image_bytes(image::ImageFormat::WebP, false)
}

/// A PNG whose alpha channel hides `text` the way A1111's stealth pnginfo
/// does: bits column by column, most significant first, after a signature
/// and a 32-bit length in bits.
pub(crate) fn stealth_png(text: &str) -> Vec<u8> {
    let mut payload = b"stealth_pnginfo".to_vec();
    payload.extend_from_slice(&(u32::try_from(text.len() * 8).expect("fits")).to_be_bytes());
    payload.extend_from_slice(text.as_bytes());
    let bits: Vec<u8> = payload
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| (b >> i) & 1))
        .collect();
    let height = 32u32;
    let width = u32::try_from(bits.len()).expect("fits").div_ceil(height);
    let mut img = image::RgbaImage::from_pixel(width, height, image::Rgba([90, 90, 90, 254]));
    for (i, bit) in bits.iter().enumerate() {
        let i = u32::try_from(i).expect("fits");
        let pixel = img.get_pixel_mut(i / height, i % height);
        pixel.0[3] = 254 | bit;
    }
    paint::encode(
        &image::DynamicImage::ImageRgba8(img),
        image::ImageFormat::Png,
    )
}

/// A1111 infotext with a LoRA and hires fields.
pub(crate) const INFOTEXT: &str = "a cat, <lora:catStyle:0.8>, café\nNegative prompt: dog, 犬\nSteps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 4294967296, Size: 832x1216, Model hash: 45a21ea00a, Model: sdxl_base, Denoising strength: 0.4, Clip skip: 2, Hires upscale: 2, Hires steps: 12, Hires upscaler: Latent, Lora hashes: \"catStyle: 1f2e3d4c5b6a\", Version: v1.10.1";
