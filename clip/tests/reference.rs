//! Acceptance: kiln's tokens and embeddings against what open_clip itself
//! computed for the test pack (`reference.json`): token ids exactly, every
//! text's and every image's embedding within a cosine of 0.999.

mod common;

use common::{clip, cosine, floats, ids, pack_dir, real_dir, reference};
use kiln_clip::{Pack, Tokenizer, pack};
use sha2::Digest;

const MIN_COSINE: f64 = 0.999;

fn tokenizer(dir: &std::path::Path, with_config: bool) -> Tokenizer {
    let pack = Pack::open(dir).expect("the test pack opens");
    let config = dir.join(pack::TOKENIZER_CONFIG);
    Tokenizer::from_files(
        &dir.join(pack::TOKENIZER),
        with_config.then_some(config.as_path()),
        pack.config().context_length,
    )
    .expect("the tokenizer loads")
}

#[test]
fn token_ids_are_exactly_the_references() {
    let Some(dir) = pack_dir() else { return };
    let reference = reference(&dir);
    let texts = reference["texts"].as_object().expect("texts");
    assert_eq!(texts.len(), 10);
    // Padded as tokenizer_config.json says (<|endoftext|>): the Hugging
    // Face ids; padded with 0, as without it: open_clip's.
    let padded_as_pack = tokenizer(&dir, true);
    let padded_with_zero = tokenizer(&dir, false);
    for (text, expected) in texts {
        assert_eq!(
            padded_as_pack.encode(text),
            ids(&expected["hf_ids"]),
            "hf_ids of {text:?}"
        );
        assert_eq!(
            padded_with_zero.encode(text),
            ids(&expected["ids"]),
            "ids of {text:?}"
        );
    }
}

#[test]
fn text_embeddings_match_the_references() {
    let Some((dir, clip)) = clip() else { return };
    let reference = reference(&dir);
    let mut worst = 1.0f64;
    for (text, expected) in reference["texts"].as_object().expect("texts") {
        let embedding = clip.embed_text(text).expect("the text embeds");
        assert_eq!(embedding.len(), clip.dim());
        let cos = cosine(&embedding, &floats(&expected["embedding"]));
        assert!(cos >= MIN_COSINE, "{text:?}: cosine {cos}");
        worst = worst.min(cos);
    }
    println!("texts: worst cosine {worst:.7}");
}

#[test]
fn the_text_side_alone_matches_the_references_and_refuses_images() {
    let Some((dir, _)) = clip() else { return };
    let text_only = kiln_clip::Clip::load_text(&dir, 1).expect("the text side loads");
    assert!(!text_only.embeds_images());
    let reference = reference(&dir);
    for (text, expected) in reference["texts"].as_object().expect("texts") {
        let embedding = text_only.embed_text(text).expect("the text embeds");
        let cos = cosine(&embedding, &floats(&expected["embedding"]));
        assert!(cos >= MIN_COSINE, "{text:?}: cosine {cos}");
    }
    let image = image::RgbImage::from_pixel(32, 32, image::Rgb([10, 20, 30]));
    let refused = text_only.embed_rgb(&image).expect_err("no image model");
    assert!(
        refused.to_string().contains("loaded for texts only"),
        "{refused}"
    );
}

#[test]
fn threads_share_one_clip() {
    let Some((dir, clip)) = clip() else { return };
    let reference = reference(&dir);
    let texts: Vec<(&String, Vec<f32>)> = reference["texts"]
        .as_object()
        .expect("texts")
        .iter()
        .map(|(text, expected)| (text, floats(&expected["embedding"])))
        .collect();
    std::thread::scope(|scope| {
        for offset in 0..3 {
            let (clip, texts) = (&clip, &texts);
            scope.spawn(move || {
                for i in 0..20 {
                    let (text, expected) = &texts[(i + offset) % texts.len()];
                    let embedding = clip.embed_text(text).expect("the text embeds");
                    assert!(cosine(&embedding, expected) >= MIN_COSINE, "{text:?}");
                }
            });
        }
    });
}

#[test]
fn image_embeddings_match_the_references() {
    let Some((dir, clip)) = clip() else { return };
    let Some(real) = real_dir() else { return };
    let reference = reference(&dir);
    let images = reference["images"].as_object().expect("images");
    assert_eq!(images.len(), 8);
    let mut decoded = Vec::new();
    for (name, expected) in images {
        let path = real.join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let sha: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            Some(sha.as_str()),
            expected["sha256"].as_str(),
            "{name} is not the file the reference was computed from"
        );
        let image =
            image::load_from_memory(&bytes).unwrap_or_else(|e| panic!("{name} decodes: {e}"));
        let embedding = clip.embed_image(&image).expect("the image embeds");
        let cos = cosine(&embedding, &floats(&expected["embedding"]));
        let noise = expected["noise_cosine"].as_f64().expect("noise_cosine");
        println!(
            "{name}: {}×{} cosine {cos:.7} (noise {noise})",
            image.width(),
            image.height()
        );
        assert!(cos >= MIN_COSINE, "{name}: cosine {cos}");
        // PNG and WebP decode to the same pixels everywhere and the resize
        // is Pillow's to the byte: only float rounding is left. (A JPEG
        // decoder may differ from libjpeg by a level here and there.)
        if !name.ends_with(".jpg") && !name.ends_with(".jpeg") {
            assert!(cos >= 0.99999, "{name}: cosine {cos}, not Pillow's resize");
        }
        decoded.push((image.to_rgb8(), embedding));
    }
    // In batches (or one by one when the model does not batch), the same.
    let batch: Vec<_> = decoded.iter().map(|(image, _)| image.clone()).collect();
    let together = clip.embed_images(&batch).expect("the batch embeds");
    for ((_, alone), in_batch) in decoded.iter().zip(&together) {
        assert!(cosine(alone, in_batch) > 0.99999);
    }
}

/// Loaded for workers (two sessions of the image model), the embeddings
/// are the same, whether the workers embed one after the other or at once.
#[test]
fn workers_embedding_at_once_get_the_same_embeddings() {
    let Some((dir, clip)) = clip() else { return };
    let workers = kiln_clip::Clip::load_for_workers(&dir, 2).expect("the pack loads for workers");
    let images: Vec<image::RgbImage> = (0..6u32)
        .map(|k| {
            image::RgbImage::from_fn(200 + 30 * k, 180, |x, y| {
                image::Rgb([(x * (k + 1) % 256) as u8, (y % 256) as u8, (k * 40) as u8])
            })
        })
        .collect();
    let alone: Vec<Vec<f32>> = images
        .iter()
        .map(|i| clip.embed_rgb(i).expect("embeds"))
        .collect();
    let at_once: Vec<Vec<Vec<f32>>> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    images
                        .iter()
                        .map(|i| workers.embed_rgb(i).expect("embeds at once"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("a worker"))
            .collect()
    });
    for run in at_once {
        for (a, b) in alone.iter().zip(&run) {
            assert!(cosine(a, b) > 0.99999, "{}", cosine(a, b));
        }
    }
    let text = "a lighthouse at dusk";
    let cos = cosine(
        &clip.embed_text(text).expect("text"),
        &workers.embed_text(text).expect("text"),
    );
    assert!(cos > 0.99999, "{cos}");
}
