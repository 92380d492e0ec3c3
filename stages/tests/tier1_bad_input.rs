//! Files whose pixels cannot be decoded get a permanent, readable error and
//! never a panic; files that are fine but oddly named still work.

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use kiln_plugin_api::{Stage, StageError, StageInput};
use kiln_stages::thumbnail::{ThumbnailConfig, ThumbnailError, ThumbnailStage, make_thumbnails};
use kiln_testkit::paint;
use std::path::Path;

fn encode(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x % 251) as u8, (y % 241) as u8, ((x * y) % 239) as u8])
    });
    paint::encode(&DynamicImage::ImageRgb8(image), format)
}

fn run_stage(
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<kiln_plugin_api::StageOutput, StageError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("test setup and valid inputs must succeed");
    ThumbnailStage::new().process(&StageInput::for_path(9, path.to_string_lossy()))
}

fn permanent_error(result: Result<kiln_plugin_api::StageOutput, StageError>, name: &str) -> String {
    match result {
        Ok(_) => panic!("{name}: expected an error"),
        Err(e) => {
            assert!(!e.is_transient(), "{name}: {e}");
            assert!(
                e.message().contains(name),
                "{name}: the message must name the file: {e}"
            );
            e.message().to_string()
        }
    }
}

/// CRC-32 as PNG chunks use it (IEEE, reflected), bit by bit: tests only.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose (valid, correctly checksummed) header declares `width` x
/// `height`, followed by a tiny IDAT: a decompression bomb's shape.
fn bomb_png(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    // An IDAT holding a zlib stream of zeros would inflate to gigabytes.
    let idat = b"IDAT\x78\x9c\xed\xc1\x01\x0d\x00\x00\x00\xc2\xa0\xf7\x4f\x6d\x0e\x37\xa0\x00\x00";
    png.extend_from_slice(&((idat.len() - 4) as u32).to_be_bytes());
    png.extend_from_slice(idat);
    png.extend_from_slice(&crc32(idat).to_be_bytes());
    png.extend_from_slice(&0u32.to_be_bytes());
    png.extend_from_slice(b"IEND");
    png.extend_from_slice(&crc32(b"IEND").to_be_bytes());
    png
}

#[test]
fn zero_byte_file_is_a_clear_permanent_error() {
    let dir = tempfile::tempdir().expect("test setup and valid inputs must succeed");
    let message = permanent_error(run_stage(dir.path(), "empty.png", b""), "empty.png");
    assert!(message.contains("empty file"), "{message}");
    assert_eq!(
        make_thumbnails(b"", &ThumbnailConfig::default()),
        Err(ThumbnailError::Empty)
    );
}

#[test]
fn truncated_files_fail_permanently_at_every_offset() {
    let dir = tempfile::tempdir().expect("test setup and valid inputs must succeed");
    for (format, ext) in [
        (ImageFormat::Png, "png"),
        (ImageFormat::Jpeg, "jpg"),
        (ImageFormat::WebP, "webp"),
    ] {
        let whole = encode(300, 200, format);
        let len = whole.len();
        for cut in [
            1,
            4,
            8,
            12,
            16,
            20,
            30,
            33,
            40,
            64,
            100,
            len / 4,
            len / 2,
            len * 3 / 4,
            len - 20,
        ] {
            let cut = cut.min(len - 1);
            let name = format!("cut-{cut}.{ext}");
            match run_stage(dir.path(), &name, &whole[..cut]) {
                Err(e) => {
                    assert!(!e.is_transient(), "{name}: {e}");
                    assert!(e.message().contains(&name), "{name}: {e}");
                    assert!(e.message().contains("truncated"), "{name}: {e}");
                }
                // A JPEG cut late still decodes (the missing part comes out
                // grey); the asset is kept and the cut is recorded.
                Ok(out) => {
                    assert_eq!(
                        format,
                        ImageFormat::Jpeg,
                        "{name} decoded although truncated"
                    );
                    assert_eq!(
                        out.facts.get("truncated").and_then(|v| v.as_bool()),
                        Some(true),
                        "{name}"
                    );
                }
            }
        }
        // A PNG cut in its image data says so in words.
        if format == ImageFormat::Png {
            let message = permanent_error(
                run_stage(dir.path(), "half.png", &whole[..len / 2]),
                "half.png",
            );
            assert!(message.contains("truncated PNG"), "{message}");
        }
    }
}

#[test]
fn text_named_png_is_not_an_image() {
    let dir = tempfile::tempdir().expect("test setup and valid inputs must succeed");
    let message = permanent_error(
        run_stage(
            dir.path(),
            "notes.png",
            b"Steps: 20, Sampler: Euler a, CFG scale: 7\n",
        ),
        "notes.png",
    );
    assert!(message.contains("not an image"), "{message}");
    assert!(
        message.contains("Steps: 20"),
        "the message shows how the file starts: {message}"
    );
}

#[test]
fn binary_garbage_is_not_an_image() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let err = make_thumbnails(&garbage, &ThumbnailConfig::default())
        .expect_err("this input must be rejected");
    assert!(matches!(err, ThumbnailError::NotAnImage { .. }), "{err}");
}

#[test]
fn decompression_bomb_fails_fast_without_allocating() {
    let dir = tempfile::tempdir().expect("test setup and valid inputs must succeed");
    let bomb = bomb_png(100_000, 100_000);
    let message = permanent_error(run_stage(dir.path(), "bomb.png", &bomb), "bomb.png");
    assert!(
        message.contains("image too large: declares 100000x100000"),
        "{message}"
    );
    assert!(message.contains("limit"), "{message}");

    // Within the side limits but above the pixel budget.
    let err = make_thumbnails(&bomb_png(16_000, 16_000), &ThumbnailConfig::default())
        .expect_err("this input must be rejected");
    assert!(
        matches!(
            err,
            ThumbnailError::TooLarge {
                width: 16_000,
                height: 16_000,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn limits_are_enforced_for_every_format() {
    let mut config = ThumbnailConfig::default();
    config.limits.max_width = 100;
    config.limits.max_height = 100;
    for format in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::WebP] {
        let err = make_thumbnails(&encode(300, 50, format), &config)
            .expect_err("this input must be rejected");
        assert!(
            err.to_string().contains("image too large"),
            "{format:?}: {err}"
        );
    }
}

#[test]
fn a_valid_png_named_jpg_thumbnails_as_png() {
    let dir = tempfile::tempdir().expect("test setup and valid inputs must succeed");
    let out = run_stage(
        dir.path(),
        "mislabelled.jpg",
        &encode(640, 480, ImageFormat::Png),
    )
    .expect("test setup and valid inputs must succeed");
    assert_eq!(
        out.facts.get("format").and_then(|v| v.as_str()),
        Some("PNG")
    );
    assert_eq!(out.artifacts.len(), 2);
}

#[test]
fn a_format_kiln_does_not_decode_is_named() {
    let bmp = b"BM\x3a\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00";
    let err =
        make_thumbnails(bmp, &ThumbnailConfig::default()).expect_err("this input must be rejected");
    let message = err.to_string();
    assert!(
        message.contains("unsupported image format") && message.contains("Bmp"),
        "{message}"
    );
    // A GIF cut short is decoded as far as it goes, or named as cut.
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
    let err =
        make_thumbnails(gif, &ThumbnailConfig::default()).expect_err("this input must be rejected");
    assert!(err.to_string().contains("incomplete"), "{err}");
}

#[test]
fn corrupted_image_data_is_a_permanent_error() {
    let dir = tempfile::tempdir().expect("test setup and valid inputs must succeed");
    for (format, ext) in [(ImageFormat::Png, "png"), (ImageFormat::WebP, "webp")] {
        let mut bytes = encode(200, 200, format);
        let len = bytes.len();
        for byte in &mut bytes[len / 3..len / 3 + 64] {
            *byte ^= 0x5a;
        }
        let name = format!("flipped.{ext}");
        let result = run_stage(dir.path(), &name, &bytes);
        if let Err(e) = result {
            assert!(!e.is_transient(), "{name}: {e}");
        }
    }
}

#[test]
fn missing_file_names_the_file_and_is_permanent() {
    let dir = tempfile::tempdir().expect("test setup and valid inputs must succeed");
    let path = dir.path().join("gone.webp");
    let err = ThumbnailStage::new()
        .process(&StageInput::for_path(1, path.to_string_lossy()))
        .expect_err("this input must be rejected");
    assert!(!err.is_transient());
    assert!(
        err.message().contains("gone.webp") && err.message().contains("no longer exists"),
        "{err}"
    );
}

#[test]
fn files_over_the_size_limit_are_refused_before_reading() {
    let dir = tempfile::tempdir().expect("test setup and valid inputs must succeed");
    let path = dir.path().join("big.png");
    std::fs::write(&path, encode(64, 64, ImageFormat::Png))
        .expect("test setup and valid inputs must succeed");
    let config = ThumbnailConfig {
        max_file_bytes: 100,
        ..ThumbnailConfig::default()
    };
    let err = ThumbnailStage::with_config(config)
        .process(&StageInput::for_path(1, path.to_string_lossy()))
        .expect_err("this input must be rejected");
    assert!(!err.is_transient());
    assert!(err.message().contains("file too large"), "{err}");
}
