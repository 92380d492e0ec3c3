//! Fuzzes the format parsers behind one PNG text chunk: the first byte picks
//! the keyword, the rest is the chunk's text (ComfyUI graphs, infotext,
//! application JSON), so mutations reach the parsers without first having
//! to form a valid container.
#![no_main]

use kiln_stages::metadata::{extract, write};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const KEYWORDS: [&str; 8] = [
    "prompt",
    "parameters",
    "Comment",
    "invokeai_metadata",
    "sd-metadata",
    "Dream",
    "generation_data",
    "parameters-json",
];

fn base_png() -> &'static [u8] {
    static PNG: OnceLock<Vec<u8>> = OnceLock::new();
    PNG.get_or_init(|| {
        let mut out = std::io::Cursor::new(Vec::new());
        image::RgbImage::new(1, 1)
            .write_to(&mut out, image::ImageFormat::Png)
            .expect("a 1x1 PNG encodes");
        out.into_inner()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let keyword = KEYWORDS[usize::from(pick) % KEYWORDS.len()];
    let Ok(chunk) = write::itxt_chunk(keyword, text, false) else {
        return;
    };
    let Ok(png) = write::insert_png_chunks(base_png(), &[chunk]) else {
        return;
    };
    let name = if pick & 0x80 == 0 { None } else { Some("ComfyUI_00001_.png") };
    let extraction = extract(&png, name).expect("a PNG with a text chunk is an image");
    let _ = kiln_stages::metadata::extraction_to_value(&extraction);
});
