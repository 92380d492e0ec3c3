//! The thumbnail stage on images the test makes itself: sizes, aspect,
//! orientation, alpha, formats and artifacts.

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use kiln_plugin_api::{CostClass, PROXY_ARTIFACT, Stage, StageInput, THUMBNAIL_ARTIFACT, Value};
use kiln_stages::metadata::write::{ByteOrder, ExifFields, insert_jpeg_exif};
use kiln_stages::thumbnail::{
    ArtifactEncoding, SourceFormat, ThumbnailConfig, ThumbnailStage, make_thumbnails,
};
use kiln_testkit::paint::{encode, gradient as picture, noise};
use std::path::Path;

fn decode(bytes: &[u8]) -> DynamicImage {
    image::load_from_memory(bytes).expect("test setup and valid inputs must succeed")
}

fn process_file(dir: &Path, name: &str, bytes: &[u8]) -> kiln_plugin_api::StageOutput {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("test setup and valid inputs must succeed");
    ThumbnailStage::new()
        .process(&StageInput::for_path(1, path.to_string_lossy()))
        .expect("test setup and valid inputs must succeed")
}

fn fact_u64(facts: &Value, key: &str) -> u64 {
    facts
        .get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("fact {key} missing in {facts:?}"))
}

#[test]
fn declares_tier_one_cpu_stage_after_hash() {
    let info = ThumbnailStage::new().info();
    assert_eq!(info.name, "thumbnail");
    assert_eq!(info.tier, 1);
    assert_eq!(info.version, 2);
    assert_eq!(info.after, vec!["hash".to_string()]);
    assert_eq!(info.cost, CostClass::Cpu);
}

#[test]
fn proxy_and_thumbnail_fit_their_sides_and_keep_the_aspect() {
    let config = ThumbnailConfig::default();
    for (width, height) in [
        (1024, 1024),
        (1000, 400),
        (400, 1000),
        (1536, 1024),
        (832, 1216),
        (5000, 10),
    ] {
        let png = encode(
            &DynamicImage::ImageRgb8(picture(width, height)),
            ImageFormat::Png,
        );
        let out = make_thumbnails(&png, &config).expect("test setup and valid inputs must succeed");
        assert_eq!((out.facts.width, out.facts.height), (width, height));
        for (image, side) in [
            (&out.proxy, config.proxy_side),
            (&out.thumbnail, config.thumbnail_side),
        ] {
            assert_eq!(image.width.max(image.height), side, "{width}x{height}");
            let ideal_short =
                f64::from(width.min(height)) * f64::from(side) / f64::from(width.max(height));
            let short = f64::from(image.width.min(image.height));
            assert!(
                (short - ideal_short.max(1.0)).abs() <= 1.0,
                "{width}x{height}: short side {short}, ideal {ideal_short}"
            );
            assert_eq!(width >= height, image.width >= image.height);
            // The artifact really is an image of the size it claims.
            let decoded = decode(&image.bytes);
            assert_eq!(
                (decoded.width(), decoded.height()),
                (image.width, image.height)
            );
        }
    }
}

#[test]
fn small_images_are_never_enlarged() {
    let png = encode(&DynamicImage::ImageRgb8(picture(40, 30)), ImageFormat::Png);
    let out = make_thumbnails(&png, &ThumbnailConfig::default())
        .expect("test setup and valid inputs must succeed");
    assert_eq!((out.proxy.width, out.proxy.height), (40, 30));
    assert_eq!((out.thumbnail.width, out.thumbnail.height), (40, 30));

    let png = encode(
        &DynamicImage::ImageRgb8(picture(300, 200)),
        ImageFormat::Png,
    );
    let out = make_thumbnails(&png, &ThumbnailConfig::default())
        .expect("test setup and valid inputs must succeed");
    assert_eq!((out.proxy.width, out.proxy.height), (300, 200));
    assert_eq!((out.thumbnail.width, out.thumbnail.height), (256, 171));
}

#[test]
fn stage_returns_both_artifacts_and_facts() {
    let dir = tempfile::tempdir().expect("test setup and valid inputs must succeed");
    let jpeg = encode(
        &DynamicImage::ImageRgb8(picture(1200, 800)),
        ImageFormat::Jpeg,
    );
    let out = process_file(dir.path(), "render.jpg", &jpeg);
    let names: Vec<&str> = out.artifacts.iter().map(|a| a.name.as_str()).collect();
    assert!(
        names.contains(&THUMBNAIL_ARTIFACT) && names.contains(&PROXY_ARTIFACT),
        "{names:?}"
    );
    for artifact in &out.artifacts {
        assert_eq!(artifact.media_type, "image/jpeg");
        let decoded = decode(&artifact.bytes);
        let side = if artifact.name == PROXY_ARTIFACT {
            512
        } else {
            256
        };
        assert_eq!(decoded.width(), side);
    }
    assert_eq!(fact_u64(&out.facts, "width"), 1200);
    assert_eq!(fact_u64(&out.facts, "height"), 800);
    assert_eq!(fact_u64(&out.facts, "proxy_width"), 512);
    assert_eq!(fact_u64(&out.facts, "thumbnail_width"), 256);
    assert_eq!(
        out.facts.get("format").and_then(Value::as_str),
        Some("JPEG")
    );
    assert_eq!(
        out.facts.get("color_type").and_then(Value::as_str),
        Some("Rgb8")
    );
    assert_eq!(
        out.facts.get("animated").and_then(Value::as_bool),
        Some(false)
    );
    assert_eq!(
        out.facts.get("has_alpha").and_then(Value::as_bool),
        Some(false)
    );
    assert_eq!(
        out.facts
            .get("orientation_applied")
            .and_then(Value::as_bool),
        Some(false)
    );
    assert_eq!(
        out.facts.get("truncated").and_then(Value::as_bool),
        Some(false)
    );
    assert!(out.content_hash.is_none());
}

/// A landscape JPEG whose top-left corner is red and the rest blue.
fn red_corner_jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        if x < width / 4 && y < height / 4 {
            Rgb([230, 20, 20])
        } else {
            Rgb([20, 20, 230])
        }
    });
    encode(&DynamicImage::ImageRgb8(image), ImageFormat::Jpeg)
}

fn is_red(pixel: Rgb<u8>) -> bool {
    pixel[0] > 150 && pixel[2] < 100
}

#[test]
fn exif_orientation_is_applied_to_proxy_thumbnail_and_facts() {
    // Orientation 6: the stored image must be turned 90 degrees clockwise to
    // display, so the stored top-left corner is shown top-right.
    let tiff = ExifFields::new().orientation(6).to_tiff(ByteOrder::Big);
    let jpeg = insert_jpeg_exif(&red_corner_jpeg(800, 400), &tiff)
        .expect("test setup and valid inputs must succeed");
    let out = make_thumbnails(&jpeg, &ThumbnailConfig::default())
        .expect("test setup and valid inputs must succeed");
    assert_eq!(out.facts.orientation, 6);
    assert_eq!((out.facts.width, out.facts.height), (400, 800));
    for image in [&out.proxy, &out.thumbnail] {
        assert!(
            image.height > image.width,
            "{}x{}",
            image.width,
            image.height
        );
        let decoded = decode(&image.bytes).to_rgb8();
        let (w, h) = decoded.dimensions();
        assert!(
            is_red(*decoded.get_pixel(w - 1 - w / 20, h / 20)),
            "top-right should be red"
        );
        assert!(
            !is_red(*decoded.get_pixel(w / 20, h / 20)),
            "top-left should not be red"
        );
    }

    // Without the tag the same pixels stay where they are stored.
    let plain = make_thumbnails(&red_corner_jpeg(800, 400), &ThumbnailConfig::default())
        .expect("test setup and valid inputs must succeed");
    assert_eq!(plain.facts.orientation, 1);
    let decoded = decode(&plain.thumbnail.bytes).to_rgb8();
    assert!(is_red(*decoded.get_pixel(5, 5)));
}

#[test]
fn every_orientation_gives_the_displayed_size() {
    for orientation in 1..=8u16 {
        let tiff = ExifFields::new()
            .orientation(orientation)
            .to_tiff(ByteOrder::Little);
        let jpeg = insert_jpeg_exif(&red_corner_jpeg(600, 300), &tiff)
            .expect("test setup and valid inputs must succeed");
        let out = make_thumbnails(&jpeg, &ThumbnailConfig::default())
            .expect("test setup and valid inputs must succeed");
        let turned = orientation >= 5;
        let expected = if turned { (300, 600) } else { (600, 300) };
        assert_eq!(
            (out.facts.width, out.facts.height),
            expected,
            "orientation {orientation}"
        );
        assert_eq!(
            out.thumbnail.width > out.thumbnail.height,
            !turned,
            "orientation {orientation}"
        );
    }
}

#[test]
fn transparency_is_kept_and_opaque_rgba_is_stored_without_alpha() {
    let transparent = RgbaImage::from_fn(600, 600, |x, _| {
        Rgba([200, 100, 50, if x < 300 { 0 } else { 255 }])
    });
    let png = encode(&DynamicImage::ImageRgba8(transparent), ImageFormat::Png);
    let out = make_thumbnails(&png, &ThumbnailConfig::default())
        .expect("test setup and valid inputs must succeed");
    assert!(out.facts.has_alpha && out.facts.uses_alpha);
    assert_eq!(out.thumbnail.media_type, "image/png");
    let thumb = decode(&out.thumbnail.bytes).to_rgba8();
    assert_eq!(thumb.get_pixel(10, 10)[3], 0);
    assert_eq!(thumb.get_pixel(250, 10)[3], 255);

    let opaque = RgbaImage::from_fn(600, 600, |x, y| Rgba([x as u8, y as u8, 9, 255]));
    let png = encode(&DynamicImage::ImageRgba8(opaque), ImageFormat::Png);
    let out = make_thumbnails(&png, &ThumbnailConfig::default())
        .expect("test setup and valid inputs must succeed");
    assert!(out.facts.has_alpha && !out.facts.uses_alpha);
    assert_eq!(out.facts.color_type, "Rgba8");
    assert_eq!(out.proxy.media_type, "image/jpeg");
}

#[test]
fn webp_sixteen_bit_and_grey_images_thumbnail() {
    let cases: Vec<(Vec<u8>, SourceFormat, &str)> = vec![
        (
            encode(
                &DynamicImage::ImageRgb8(picture(700, 500)),
                ImageFormat::WebP,
            ),
            SourceFormat::WebP,
            "Rgb8",
        ),
        (
            encode(
                &DynamicImage::ImageRgb16(DynamicImage::ImageRgb8(picture(700, 500)).to_rgb16()),
                ImageFormat::Png,
            ),
            SourceFormat::Png,
            "Rgb16",
        ),
        (
            encode(
                &DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(picture(700, 500)).to_luma8()),
                ImageFormat::Jpeg,
            ),
            SourceFormat::Jpeg,
            "L8",
        ),
    ];
    for (bytes, format, color) in cases {
        let out = make_thumbnails(&bytes, &ThumbnailConfig::default())
            .expect("test setup and valid inputs must succeed");
        assert_eq!(out.facts.format, format);
        assert_eq!(out.facts.color_type, color);
        assert_eq!((out.proxy.width, out.proxy.height), (512, 366));
        assert_eq!(decode(&out.thumbnail.bytes).width(), 256);
    }
}

#[test]
fn other_artifact_encodings_produce_what_they_claim() {
    let png = encode(
        &DynamicImage::ImageRgb8(picture(900, 600)),
        ImageFormat::Png,
    );
    for (encoding, media_type, format) in [
        (ArtifactEncoding::PngFast, "image/png", ImageFormat::Png),
        (
            ArtifactEncoding::WebpLossless,
            "image/webp",
            ImageFormat::WebP,
        ),
        (
            ArtifactEncoding::Jpeg { quality: 60 },
            "image/jpeg",
            ImageFormat::Jpeg,
        ),
    ] {
        let config = ThumbnailConfig {
            proxy_encoding: encoding,
            thumbnail_encoding: encoding,
            ..ThumbnailConfig::default()
        };
        let out = make_thumbnails(&png, &config).expect("test setup and valid inputs must succeed");
        for image in [&out.proxy, &out.thumbnail] {
            assert_eq!(image.media_type, media_type);
            assert_eq!(
                image::guess_format(&image.bytes)
                    .expect("test setup and valid inputs must succeed"),
                format
            );
        }
    }
}

#[test]
fn same_bytes_give_the_same_artifacts() {
    let png = encode(
        &DynamicImage::ImageRgb8(picture(1024, 768)),
        ImageFormat::Png,
    );
    let a = make_thumbnails(&png, &ThumbnailConfig::default())
        .expect("test setup and valid inputs must succeed");
    let b = make_thumbnails(&png, &ThumbnailConfig::default())
        .expect("test setup and valid inputs must succeed");
    assert_eq!(a, b);
}

/// The `VP8L` chunk (header included) of a lossless WebP of one colour.
fn lossless_frame(width: u32, height: u32, colour: [u8; 3]) -> Vec<u8> {
    let still = encode(
        &DynamicImage::ImageRgb8(RgbImage::from_pixel(width, height, Rgb(colour))),
        ImageFormat::WebP,
    );
    assert_eq!(
        &still[12..16],
        b"VP8L",
        "the encoder writes a simple lossless file"
    );
    still[12..].to_vec()
}

fn chunk(id: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = id.to_vec();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    if payload.len() % 2 == 1 {
        out.push(0);
    }
    out
}

fn u24(value: u32) -> [u8; 3] {
    let b = value.to_le_bytes();
    [b[0], b[1], b[2]]
}

/// An animated WebP (VP8X + ANIM + one ANMF per frame) built from lossless
/// frames, the way animated-WebP savers lay it out.
fn animated_webp(width: u32, height: u32, colours: &[[u8; 3]]) -> Vec<u8> {
    let mut vp8x = vec![0x02, 0, 0, 0]; // animation flag
    vp8x.extend_from_slice(&u24(width - 1));
    vp8x.extend_from_slice(&u24(height - 1));
    let mut body = b"WEBP".to_vec();
    body.extend(chunk(b"VP8X", &vp8x));
    body.extend(chunk(b"ANIM", &[0, 0, 0, 0, 0, 0]));
    for &colour in colours {
        let mut frame = Vec::new();
        frame.extend_from_slice(&u24(0));
        frame.extend_from_slice(&u24(0));
        frame.extend_from_slice(&u24(width - 1));
        frame.extend_from_slice(&u24(height - 1));
        frame.extend_from_slice(&u24(100));
        frame.push(0);
        frame.extend(lossless_frame(width, height, colour));
        body.extend(chunk(b"ANMF", &frame));
    }
    let mut file = b"RIFF".to_vec();
    file.extend_from_slice(&(body.len() as u32).to_le_bytes());
    file.extend(body);
    file
}

#[test]
fn animated_webp_gives_its_first_frame() {
    let webp = animated_webp(600, 300, &[[220, 30, 30], [30, 220, 30], [30, 30, 220]]);
    let out = make_thumbnails(&webp, &ThumbnailConfig::default())
        .expect("test setup and valid inputs must succeed");
    assert!(out.facts.animated);
    assert_eq!(out.facts.format, SourceFormat::WebP);
    assert_eq!((out.facts.width, out.facts.height), (600, 300));
    for image in [&out.proxy, &out.thumbnail] {
        let decoded = decode(&image.bytes).to_rgb8();
        let centre = *decoded.get_pixel(decoded.width() / 2, decoded.height() / 2);
        assert!(
            is_red(centre),
            "the first (red) frame should be shown, got {centre:?}"
        );
    }
}

#[test]
fn an_image_thumbnails_the_same_after_a_larger_one_on_the_same_thread() {
    // The decoder's pixel buffer is reused per thread; a decoder that leaves
    // part of it unwritten (a JPEG cut short) must not show the previous
    // image there.
    let jpeg = encode(
        &DynamicImage::ImageRgb8(picture(640, 480)),
        ImageFormat::Jpeg,
    );
    let cut_jpeg = jpeg[..jpeg.len() * 3 / 5].to_vec();
    let grey = encode(
        &DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(picture(300, 200)).to_luma8()),
        ImageFormat::Png,
    );
    let translucent = encode(
        &DynamicImage::ImageRgba8(RgbaImage::from_fn(320, 240, |x, y| {
            Rgba([(x % 256) as u8, (y % 256) as u8, 90, ((x + y) % 256) as u8])
        })),
        ImageFormat::Png,
    );
    let webp = encode(
        &DynamicImage::ImageRgb8(picture(200, 150)),
        ImageFormat::WebP,
    );
    // Under twice the default proxy side (512), so it is decoded whole into
    // the per-thread buffer rather than shrunk on load.
    let larger = encode(&DynamicImage::ImageRgb8(noise(1000, 800)), ImageFormat::Png);
    let config = ThumbnailConfig::default();

    for (name, bytes) in [
        ("cut JPEG", &cut_jpeg),
        ("grey PNG", &grey),
        ("translucent PNG", &translucent),
        ("WebP", &webp),
    ] {
        // A fresh thread has no buffer to reuse.
        let alone = std::thread::scope(|scope| {
            scope
                .spawn(|| make_thumbnails(bytes, &config))
                .join()
                .expect("test setup and valid inputs must succeed")
        });
        assert!(alone.is_ok(), "{name} must thumbnail: {alone:?}");
        let after_noise = make_thumbnails(&larger, &config).map(|_| ());
        assert_eq!(after_noise, Ok(()), "the noise image must thumbnail");
        let reused = make_thumbnails(bytes, &config);
        assert_eq!(reused, alone, "{name} differs after a larger image");
    }
    let cut = make_thumbnails(&cut_jpeg, &config).expect("a cut JPEG still thumbnails");
    assert!(cut.facts.truncated, "{:?}", cut.facts);
}
