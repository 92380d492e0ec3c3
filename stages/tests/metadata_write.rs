//! The metadata writers produce files that real decoders still accept, with
//! the metadata where other tools look for it.

mod metadata_support;

use kiln_stages::metadata::write::{
    self, ByteOrder, EmbedError, ExifFields, PngChunk, UserComment,
};
use std::io::Cursor;

/// A 5×3 image in `format`; with alpha, half transparent.
fn encoded(format: image::ImageFormat, alpha: bool) -> Vec<u8> {
    metadata_support::solid_image(format, alpha, 128)
}

fn png_chunk_kinds(png: &[u8]) -> Vec<String> {
    let mut kinds = Vec::new();
    let mut pos = 8;
    while pos + 8 <= png.len() {
        let len = u32::from_be_bytes(png[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        kinds.push(String::from_utf8_lossy(&png[pos + 4..pos + 8]).into_owned());
        pos += 12 + len;
    }
    kinds
}

#[test]
fn png_text_chunks_keep_the_file_decodable() {
    let png = encoded(image::ImageFormat::Png, false);
    let chunks = [
        write::text_chunk("parameters", "café").expect("latin-1"),
        write::itxt_chunk("prompt", "テスト", true).expect("itxt"),
        write::itxt_chunk("workflow", "テスト", false).expect("itxt"),
        write::ztxt_chunk("Comment", "{}").expect("ztxt"),
    ];
    let out = write::insert_png_chunks(&png, &chunks).expect("insert");
    assert_eq!(
        &png_chunk_kinds(&out)[..5],
        ["IHDR", "tEXt", "iTXt", "iTXt", "zTXt"]
    );
    let decoded = image::load_from_memory(&out).expect("still a PNG");
    assert_eq!((decoded.width(), decoded.height()), (5, 3));

    let after = write::append_png_chunks(&png, &[PngChunk::new(*b"tEXt", b"k\0v".to_vec())])
        .expect("append");
    let kinds = png_chunk_kinds(&after);
    assert_eq!(kinds[kinds.len() - 2..], ["tEXt", "IEND"]);
    image::load_from_memory(&after).expect("still a PNG");
}

#[test]
fn png_text_falls_back_to_itxt_and_rejects_bad_input() {
    let png = encoded(image::ImageFormat::Png, false);
    let out = write::insert_png_text(&png, "parameters", "初音ミク").expect("insert");
    assert_eq!(png_chunk_kinds(&out)[1], "iTXt");
    assert!(matches!(
        write::text_chunk("", "x"),
        Err(EmbedError::BadKeyword(_))
    ));
    assert!(matches!(
        write::text_chunk("k", "初"),
        Err(EmbedError::NotLatin1(_))
    ));
    assert_eq!(
        write::insert_png_text(b"not a png", "k", "v"),
        Err(EmbedError::NotPng)
    );
}

#[test]
fn jpeg_exif_is_read_back_by_kamadak_exif() {
    let jpeg = encoded(image::ImageFormat::Jpeg, false);
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let tiff = ExifFields::new()
            .make("workflow:{}")
            .model("prompt:{}")
            .orientation(6)
            .pixel_size(5, 3)
            .user_comment(UserComment::Unicode {
                text: "Steps: 20".into(),
                big_endian: true,
            })
            .to_tiff(order);
        let out = write::insert_jpeg_exif(&jpeg, &tiff).expect("insert");
        image::load_from_memory(&out).expect("still a JPEG");
        let exif = exif::Reader::new()
            .read_from_container(&mut Cursor::new(&out))
            .expect("exif parses");
        let make = exif
            .get_field(exif::Tag::Make, exif::In::PRIMARY)
            .expect("make");
        assert_eq!(make.display_value().to_string(), "\"workflow:{}\"");
        let orientation = exif
            .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
            .and_then(|f| f.value.get_uint(0));
        assert_eq!(orientation, Some(6));
        let comment = exif
            .get_field(exif::Tag::UserComment, exif::In::PRIMARY)
            .expect("comment");
        match &comment.value {
            exif::Value::Undefined(bytes, _) => {
                assert_eq!(&bytes[..10], b"UNICODE\0\0S");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let commented = write::insert_jpeg_comment(&jpeg, "hello").expect("comment");
    image::load_from_memory(&commented).expect("still a JPEG");
    assert!(matches!(
        write::insert_jpeg_exif(&jpeg, &vec![0; 70_000]),
        Err(EmbedError::SegmentTooLarge { .. })
    ));
}

#[test]
fn webp_exif_turns_simple_files_into_extended_ones() {
    for alpha in [false, true] {
        let webp = encoded(image::ImageFormat::WebP, alpha);
        let tiff = ExifFields::new()
            .model("prompt:{}")
            .to_tiff(ByteOrder::Little);
        let out = write::insert_webp_exif(&webp, &tiff).expect("insert");
        assert_eq!(&out[12..16], b"VP8X");
        let decoded = image::load_from_memory(&out).expect("still a WebP");
        assert_eq!((decoded.width(), decoded.height()), (5, 3));
        assert_eq!(decoded.color().has_alpha(), alpha);
        // Adding a second chunk to an extended file keeps it valid.
        let both = write::insert_webp_xmp(&out, "<x/>").expect("xmp");
        image::load_from_memory(&both).expect("still a WebP");
        let declared = u32::from_le_bytes(both[4..8].try_into().expect("4 bytes")) as usize;
        assert_eq!(declared + 8, both.len());
    }
}
