//! The tier-3 image stages on real and generated images: the embedding
//! finds re-encoded and resized copies, and the quality score falls for
//! blurred, noised, darkened and over-exposed versions of every image.

use image::{ImageFormat, RgbImage};
use kiln::stages::embed::{
    EnrichmentCriteria, NEAR_DUPLICATE_BITS, distance, embed_image, hamming,
};
use kiln::stages::score::score_image;
use std::path::PathBuf;

/// Real fixtures when KILN_REAL_FIXTURES is set, each shrunk to proxy size.
fn real_images() -> Vec<(String, RgbImage)> {
    let Some(dir) = kiln_testkit::fixtures::real() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    for path in entries {
        let Ok(image) = image::open(&path) else {
            continue;
        };
        // Smaller images are turned away by the tier-3 gate.
        let gate = EnrichmentCriteria::default().min_side;
        if u64::from(image.width().min(image.height())) < gate {
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push((name, proxy_like(&image.to_rgb8())));
    }
    out
}

/// Shrinks to at most 512 px and passes through JPEG 80, as the proxy does.
fn proxy_like(image: &RgbImage) -> RgbImage {
    let scale = 512.0 / f64::from(image.width().max(image.height()));
    let resized = if scale < 1.0 {
        let w = ((f64::from(image.width()) * scale).round() as u32).max(1);
        let h = ((f64::from(image.height()) * scale).round() as u32).max(1);
        image::imageops::resize(image, w, h, image::imageops::FilterType::Triangle)
    } else {
        image.clone()
    };
    jpeg_round_trip(&resized, 80)
}

fn jpeg_round_trip(image: &RgbImage, quality: u8) -> RgbImage {
    let mut bytes = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality);
    image.write_with_encoder(encoder).expect("test setup");
    image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg)
        .expect("test setup")
        .to_rgb8()
}

/// A deterministic generated picture: gradients, shapes and fine texture.
fn generated(seed: u32, width: u32, height: u32) -> RgbImage {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let circles: Vec<(f32, f32, f32, [u8; 3])> = (0..6)
        .map(|_| {
            let v = next();
            (
                (v % width) as f32,
                ((v >> 8) % height) as f32,
                (20 + (v >> 16) % 90) as f32,
                [
                    (next() % 256) as u8,
                    (next() % 256) as u8,
                    (next() % 256) as u8,
                ],
            )
        })
        .collect();
    let tilt = (seed % 7) as f32;
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let mut p = [
            (60.0 + 120.0 * fx / width as f32) as u8,
            (40.0 + 100.0 * fy / height as f32) as u8,
            (90.0 + 30.0 * ((fx + tilt * fy) / 40.0).sin()) as u8,
        ];
        for (cx, cy, r, colour) in &circles {
            if (fx - cx).powi(2) + (fy - cy).powi(2) < r * r {
                p = *colour;
            }
        }
        // Fine stripes give the picture real detail to lose under blur.
        if (x / 3 + y / 5) % 2 == 0 {
            p = p.map(|c| c.saturating_add(12));
        }
        image::Rgb(p)
    })
}

fn blurred(image: &RgbImage) -> RgbImage {
    image::imageops::blur(image, 2.5)
}

fn noised(image: &RgbImage, seed: u32) -> RgbImage {
    let mut state = seed | 1;
    let mut out = image.clone();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            // A sum of four uniforms: roughly Gaussian, σ ≈ 20 levels.
            let mut sum = 0i32;
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                sum += (state % 70) as i32 - 35;
            }
            *c = (i32::from(*c) + sum).clamp(0, 255) as u8;
        }
    }
    out
}

fn exposed(image: &RgbImage, gain: f32, offset: f32) -> RgbImage {
    let mut out = image.clone();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = (f32::from(*c) * gain + offset).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

fn test_images() -> Vec<(String, RgbImage)> {
    let mut images = real_images();
    for seed in 1..=6 {
        images.push((
            format!("generated-{seed}"),
            jpeg_round_trip(&generated(seed, 480, 360), 80),
        ));
    }
    images
}

#[test]
fn degraded_versions_score_lower_every_time() {
    let mut failures = Vec::new();
    for (name, image) in test_images() {
        let original = score_image(&image);
        let versions = [
            ("blurred", jpeg_round_trip(&blurred(&image), 80)),
            ("noised", jpeg_round_trip(&noised(&image, 7), 80)),
            ("darkened", jpeg_round_trip(&exposed(&image, 0.35, 0.0), 80)),
            (
                "over-exposed",
                jpeg_round_trip(&exposed(&image, 2.2, 40.0), 80),
            ),
        ];
        for (what, version) in versions {
            let degraded = score_image(&version);
            println!(
                "{name}: {what} {:.1} vs original {:.1} ({degraded:?} / {original:?})",
                degraded.score, original.score
            );
            if degraded.score >= original.score {
                failures.push(format!(
                    "{name}: {what} {:.1} >= {:.1}",
                    degraded.score, original.score
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "degraded versions did not score lower: {failures:#?}"
    );
}

#[test]
fn re_encoded_and_resized_copies_are_nearest_neighbours() {
    let originals = test_images();
    let embedded: Vec<_> = originals.iter().map(|(_, i)| embed_image(i)).collect();
    let mut failures = Vec::new();
    for (k, (name, image)) in originals.iter().enumerate() {
        let (w, h) = (image.width() * 3 / 5, image.height() * 3 / 5);
        let copies = [
            ("re-encoded", jpeg_round_trip(image, 55)),
            (
                "resized",
                jpeg_round_trip(
                    &image::imageops::resize(image, w, h, image::imageops::FilterType::Lanczos3),
                    85,
                ),
            ),
        ];
        for (what, copy) in copies {
            let e = embed_image(&copy);
            // The fixtures hold some pictures in several containers (the
            // same image as PNG, JPEG and WebP): those count as the original.
            let own = &embedded[k];
            let same_picture = |o: &kiln::stages::embed::Embedding| {
                hamming(o.phash, own.phash) <= NEAR_DUPLICATE_BITS
                    && distance(&o.vector, &own.vector) < 0.05
            };
            let nearest = embedded
                .iter()
                .enumerate()
                .min_by(|a, b| {
                    distance(&e.vector, &a.1.vector).total_cmp(&distance(&e.vector, &b.1.vector))
                })
                .map(|(i, _)| i);
            let found = nearest.is_some_and(|i| i == k || same_picture(&embedded[i]));
            let bits = hamming(own.phash, e.phash);
            if !found || bits > NEAR_DUPLICATE_BITS {
                failures.push(format!(
                    "{name}: {what} copy nearest {nearest:?}, hash {bits} bits apart"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "copies not found: {failures:#?}");
}
