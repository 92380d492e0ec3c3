//! Bad input: files that are not images get a clear permanent error; images
//! with broken or hostile metadata get a normal extraction with the problem
//! recorded. A batch of them all completes, and nothing panics.

mod metadata_support;

use kiln_plugin_api::{Stage, StageError, StageInput, StageOutput, Value};
use kiln_stages::metadata::write::{self, ByteOrder, ExifFields, PngChunk, UserComment};
use kiln_stages::metadata::{ExtractError, MetadataStage, extract};
use metadata_support::{INFOTEXT, image_bytes, jpeg, png, webp};

fn deep_json(depth: usize) -> String {
    let mut text = "[".repeat(depth);
    text.push_str(&"]".repeat(depth));
    text
}

fn problems(output: &StageOutput) -> Vec<String> {
    output
        .facts
        .get("problems")
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.get("message").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// A PNG whose IHDR claims 100,000 × 100,000 RGBA pixels.
fn bomb_png() -> Vec<u8> {
    let mut bytes = png();
    // IHDR data starts at 16: width, height, bit depth, colour type.
    bytes[16..24].copy_from_slice(&[0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0]);
    bytes[25] = 6;
    bytes
}

/// The bad-input corpus: (file name, bytes, whether it is an image).
fn corpus() -> Vec<(String, Vec<u8>, bool)> {
    let infotext_png = write::insert_png_text(&png(), "parameters", INFOTEXT).expect("insert");
    let mut files = vec![
        ("zero.png".to_owned(), Vec::new(), false),
        (
            "text.png".to_owned(),
            b"hello, I am not an image\n".to_vec(),
            false,
        ),
        ("valid-png-named.jpg".to_owned(), infotext_png.clone(), true),
        ("bomb.png".to_owned(), bomb_png(), true),
    ];
    for cut in [4, 9, 20, 40, infotext_png.len() / 2, infotext_png.len() - 3] {
        let image = cut >= 8;
        files.push((format!("cut{cut}.png"), infotext_png[..cut].to_vec(), image));
    }
    let exif_jpeg = write::insert_jpeg_exif(
        &jpeg(),
        &ExifFields::new()
            .user_comment(UserComment::Unicode {
                text: INFOTEXT.into(),
                big_endian: true,
            })
            .to_tiff(ByteOrder::Little),
    )
    .expect("insert");
    for cut in [2, 5, 30, exif_jpeg.len() / 2] {
        files.push((format!("cut{cut}.jpg"), exif_jpeg[..cut].to_vec(), cut >= 3));
    }
    let webp_bytes = webp();
    files.push(("cut.webp".to_owned(), webp_bytes[..20].to_vec(), true));
    files
}

#[test]
fn the_bad_input_batch_completes_with_clear_outcomes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stage = MetadataStage;
    let mut completed = 0;
    for (name, bytes, is_image) in corpus() {
        let path = dir.path().join(&name);
        std::fs::write(&path, &bytes).expect("write");
        let outcome = stage.process(&StageInput::for_path(
            1,
            path.to_string_lossy().into_owned(),
        ));
        match (outcome, is_image) {
            (Ok(output), true) => {
                assert!(output.facts.get("generation").is_some(), "{name}");
            }
            (Err(StageError::Permanent(message)), false) => {
                assert!(
                    message.contains(&name),
                    "{name}: the message names the file: {message}"
                );
                assert!(
                    message.contains("empty") || message.contains("not a PNG, JPEG or WebP"),
                    "{name}: {message}"
                );
            }
            (other, _) => panic!("{name}: unexpected outcome {other:?}"),
        }
        completed += 1;
    }
    assert_eq!(completed, corpus().len());

    let missing = stage.process(&StageInput::for_path(
        1,
        dir.path().join("gone.png").to_string_lossy().into_owned(),
    ));
    assert!(matches!(missing, Err(StageError::Permanent(m)) if m.contains("cannot open")));
}

#[test]
fn truncated_images_keep_what_was_read_and_say_so() {
    let full = write::insert_png_text(&png(), "parameters", INFOTEXT).expect("insert");
    let x = extract(&full[..full.len() - 20], None).expect("still a PNG");
    assert_eq!(x.generation.seed, Some(4_294_967_296));
    assert!(
        x.problems.iter().any(|p| p.message.contains("truncated")),
        "{:?}",
        x.problems
    );
    assert!(matches!(extract(&[], None), Err(ExtractError::Empty)));
    assert!(matches!(
        extract(b"BM\x36\x00\x00\x00", None),
        Err(ExtractError::UnknownFormat { .. })
    ));
    // A GIF cut after its signature is still a GIF, and says it is cut.
    let x = extract(b"GIF89a", None).expect("a GIF");
    assert!(!x.problems.is_empty(), "{:?}", x.problems);
}

#[test]
fn a_bomb_header_costs_nothing() {
    // No text chunks and an alpha channel would send the extractor to look
    // for stealth data; the declared size is refused before any allocation.
    let x = extract(&bomb_png(), None).expect("metadata of a PNG header");
    assert_eq!(x.pixel_size, Some((100_000, 100_000)));
    assert!(
        x.problems.iter().any(|p| p.location == "stealth"),
        "{:?}",
        x.problems
    );
}

#[test]
fn a_thirty_megabyte_text_chunk_is_skipped_and_the_rest_read() {
    let huge = PngChunk::new(
        *b"tEXt",
        [b"prompt\0".as_slice(), &vec![b'a'; 30 << 20]].concat(),
    );
    let bytes = write::insert_png_chunks(
        &png(),
        &[
            huge,
            write::text_chunk("parameters", &INFOTEXT.replace(", 犬", "")).expect("text"),
        ],
    )
    .expect("insert");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.png");
    std::fs::write(&path, &bytes).expect("write");
    let output = MetadataStage
        .process(&StageInput::for_path(
            1,
            path.to_string_lossy().into_owned(),
        ))
        .expect("a normal asset");
    let seed = output
        .facts
        .get("generation")
        .and_then(|g| g.get("seed"))
        .and_then(Value::as_u64);
    assert_eq!(seed, Some(4_294_967_296));
    assert!(
        problems(&output).iter().any(|m| m.contains("limit")),
        "{:?}",
        problems(&output)
    );
}

#[test]
fn json_nested_a_hundred_thousand_deep_is_a_problem_not_a_crash() {
    let deep = deep_json(100_000);
    let deep_object = format!("{{\"a\":{}}}", deep);
    for keyword in ["prompt", "parameters", "Comment", "invokeai_metadata"] {
        let bytes = write::insert_png_chunks(
            &png(),
            &[write::ztxt_chunk(keyword, &deep_object).expect("ztxt")],
        )
        .expect("insert");
        let x = extract(&bytes, None).expect("an image");
        assert!(x.generation.positive_prompt.is_none());
        assert!(
            x.problems
                .iter()
                .any(|p| p.message.contains("recursion limit")),
            "{keyword}: {:?}",
            x.problems
        );
    }
    // Deep brackets in an infotext value are scanned, not recursed.
    let infotext = format!("cat\nSteps: 5, Seed: 1, Civitai resources: {deep}");
    let x = extract(
        &write::insert_png_text(&png(), "parameters", &infotext).expect("insert"),
        None,
    )
    .expect("an image");
    assert_eq!(x.generation.seed, Some(1));
    // And in a WebP EXIF block, where the JPEG segment limit does not apply.
    let tiff = ExifFields::new()
        .model(format!("prompt:{deep_object}"))
        .to_tiff(ByteOrder::Little);
    let x = extract(
        &write::insert_webp_exif(&webp(), &tiff).expect("insert"),
        None,
    )
    .expect("an image");
    assert!(!x.problems.is_empty());
}

#[test]
fn malformed_exif_is_recorded() {
    let garbage: Vec<u8> = (0..200u8).map(|i| i.wrapping_mul(37)).collect();
    let mut offsets_past_the_end = ExifFields::new().make("Canon").to_tiff(ByteOrder::Big);
    offsets_past_the_end[4..8].copy_from_slice(&[0x7F, 0xFF, 0xFF, 0xFF]);
    for tiff in [garbage, offsets_past_the_end, b"MM\0*".to_vec(), Vec::new()] {
        let x = extract(
            &write::insert_jpeg_exif(&jpeg(), &tiff).expect("insert"),
            None,
        )
        .expect("an image");
        assert!(
            x.problems.iter().any(|p| p.location == "EXIF"),
            "{:?}",
            x.problems
        );
        let x = extract(
            &write::insert_webp_exif(&webp(), &tiff).expect("insert"),
            None,
        )
        .expect("an image");
        assert!(
            x.problems.iter().any(|p| p.location == "EXIF"),
            "{:?}",
            x.problems
        );
    }
}

#[test]
fn hostile_graphs_stay_bounded() {
    // Every node links to the previous two: exponential paths, a cycle at
    // the start, and thousands of nodes.
    let mut graph = serde_json::Map::new();
    for i in 0..5_000u32 {
        let inputs = serde_json::json!({
            "string_a": [format!("{}", (i + 1) % 5_000), 0],
            "string_b": [format!("{}", (i + 2) % 5_000), 0],
        });
        graph.insert(
            i.to_string(),
            serde_json::json!({"class_type": "StringConcatenate", "inputs": inputs}),
        );
    }
    graph.insert(
        "enc".into(),
        serde_json::json!({"class_type": "CLIPTextEncode", "inputs": {"text": ["0", 0]}}),
    );
    graph.insert(
        "ks".into(),
        serde_json::json!({"class_type": "KSampler", "inputs": {"seed": 1, "steps": 2, "sampler_name": "euler", "positive": ["enc", 0], "negative": ["enc", 0], "model": ["ks", 0], "latent_image": ["ks", 0]}}),
    );
    graph.insert(
        "out".into(),
        serde_json::json!({"class_type": "SaveImage", "inputs": {"images": ["ks", 0]}}),
    );
    let text = serde_json::Value::Object(graph).to_string();
    let x = extract(
        &write::insert_png_text(&png(), "prompt", &text).expect("insert"),
        None,
    )
    .expect("an image");
    assert_eq!((x.generation.seed, x.generation.steps), (Some(1), Some(2)));
    assert!(x.generation.positive_prompt.is_none());
    assert!(!x.problems.is_empty());
}

#[test]
fn zip_bombs_in_text_chunks_are_cut() {
    let zeros = "0".repeat(17 << 20);
    let chunk = write::itxt_chunk("parameters", &zeros, true).expect("itxt");
    assert!(chunk.data.len() < 1 << 20);
    let bytes = write::insert_png_chunks(&image_bytes(image::ImageFormat::Png, false), &[chunk])
        .expect("insert");
    let x = extract(&bytes, None).expect("an image");
    assert!(x.raw.is_empty());
    assert!(
        x.problems.iter().any(|p| p.message.contains("limit")),
        "{:?}",
        x.problems
    );
}

#[test]
fn thousands_of_broken_or_empty_chunks_give_a_bounded_list() {
    // zTXt with an unknown compression method: one problem each.
    let broken: Vec<PngChunk> = (0..5_000)
        .map(|i| PngChunk::new(*b"zTXt", format!("k{i}\0\x07zz").into_bytes()))
        .collect();
    // Tiny texts pass every byte limit; their number is bounded on its own.
    let tiny: Vec<PngChunk> = (0..6_000)
        .map(|i| PngChunk::new(*b"tEXt", format!("t{i}\0v").into_bytes()))
        .collect();
    let bytes = write::insert_png_chunks(&png(), &[tiny, broken].concat()).expect("insert");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("many.png");
    std::fs::write(&path, &bytes).expect("write");
    let output = MetadataStage
        .process(&StageInput::for_path(
            1,
            path.to_string_lossy().into_owned(),
        ))
        .expect("a normal asset");
    let listed = problems(&output);
    assert!(listed.len() <= 66, "{} problems listed", listed.len());
    assert!(
        listed
            .iter()
            .any(|m| m.contains("unknown compression method")),
        "{listed:?}"
    );
    // 63 listed after the texts' line, the other 4,937 counted.
    assert!(
        listed.iter().any(|m| m == "4937 more problems not listed"),
        "{listed:?}"
    );
    assert!(
        listed
            .iter()
            .any(|m| m.contains("metadata texts; the rest")),
        "{listed:?}"
    );
}
