//! Nothing is fixed to the test pack's shapes: packs with another image
//! size, context length, embedding length, preprocessing, text input type
//! and batch dimension load and embed as their models say. The models are
//! linear maps written here, so every expected embedding is computed by
//! the test itself from the preprocessed image or the token ids.

mod common;

use common::onnx::{Dim, FLOAT, INT32, INT64, linear_model};
use common::{pack_dir, runtime_or_skip};
use image::{Rgb, RgbImage};
use kiln_clip::{Clip, pack};
use serde_json::json;
use std::path::Path;

/// Deterministic weights in −1..1.
fn weights(count: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// `input` times `matrix` (`input.len() × outputs`), scaled to unit length.
fn expected(input: &[f32], matrix: &[f32], outputs: usize) -> Vec<f32> {
    let mut out = vec![0f64; outputs];
    for (i, x) in input.iter().enumerate() {
        for (j, o) in out.iter_mut().enumerate() {
            *o += f64::from(*x) * f64::from(matrix[i * outputs + j]);
        }
    }
    let norm = out.iter().map(|v| v * v).sum::<f64>().sqrt();
    out.iter().map(|v| (v / norm) as f32).collect()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
}

struct Shape {
    size: u32,
    context: usize,
    dim: usize,
    batch: fn() -> Dim,
    text_type: i64,
    preprocess: serde_json::Value,
}

/// Writes a pack of `shape` into `dir`, its tokenizer from `tokenizer_from`;
/// returns the image and text matrices.
fn write_pack(dir: &Path, tokenizer_from: &Path, shape: &Shape) -> (Vec<f32>, Vec<f32>) {
    let pixels = 3 * (shape.size * shape.size) as usize;
    let image_matrix = weights(pixels * shape.dim, 7);
    let text_matrix = weights(shape.context * shape.dim, 11);
    std::fs::create_dir_all(dir.join("visual")).expect("create");
    std::fs::create_dir_all(dir.join("textual")).expect("create");
    let size = i64::from(shape.size);
    std::fs::write(
        dir.join(pack::VISUAL_MODEL),
        linear_model(
            "image",
            FLOAT,
            (shape.batch)(),
            &[3, size, size],
            &image_matrix,
            shape.dim,
        ),
    )
    .expect("write");
    std::fs::write(
        dir.join(pack::TEXTUAL_MODEL),
        linear_model(
            "text",
            shape.text_type,
            (shape.batch)(),
            &[shape.context as i64],
            &text_matrix,
            shape.dim,
        ),
    )
    .expect("write");
    let config = json!({
        "embed_dim": shape.dim,
        "vision_cfg": {"image_size": shape.size, "layers": 1, "width": 8, "patch_size": 8},
        "text_cfg": {"context_length": shape.context, "vocab_size": 49408},
    });
    std::fs::write(dir.join(pack::CONFIG), config.to_string()).expect("write");
    std::fs::write(dir.join(pack::PREPROCESS), shape.preprocess.to_string()).expect("write");
    for file in [pack::TOKENIZER, pack::TOKENIZER_CONFIG] {
        std::fs::copy(tokenizer_from.join(file), dir.join(file)).expect("copy");
    }
    (image_matrix, text_matrix)
}

fn images() -> Vec<RgbImage> {
    [(300, 200), (64, 64), (31, 97), (500, 499), (48, 48)]
        .into_iter()
        .enumerate()
        .map(|(i, (w, h))| {
            RgbImage::from_fn(w, h, |x, y| {
                Rgb([
                    (x * 3 + i as u32 * 40) as u8,
                    (y * 5) as u8,
                    ((x * y) % 251) as u8,
                ])
            })
        })
        .collect()
}

fn check(shape: &Shape, batches: bool) {
    let Some(test_pack) = pack_dir() else { return };
    if !runtime_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (image_matrix, text_matrix) = write_pack(dir.path(), &test_pack, shape);
    let clip = Clip::load(dir.path(), 1).expect("the pack loads");
    assert_eq!(clip.dim(), shape.dim);
    assert_eq!(clip.batches_images(), batches);
    let images = images();
    let mut alone = Vec::new();
    for image in &images {
        let input = clip.image_input(image).expect("input");
        assert_eq!(input.len(), 3 * (shape.size * shape.size) as usize);
        let embedding = clip.embed_rgb(image).expect("embeds");
        assert!(close(
            &embedding,
            &expected(&input, &image_matrix, shape.dim)
        ));
        alone.push(embedding);
    }
    let together = clip.embed_images(&images).expect("embeds");
    for (a, b) in alone.iter().zip(&together) {
        assert!(close(a, b), "a batch gives what each image gives alone");
    }
    for text in ["a lighthouse at dusk", "", &"long prompt, ".repeat(30)] {
        let ids = clip.tokenize(text);
        assert_eq!(ids.len(), shape.context);
        let as_floats: Vec<f32> = ids.iter().map(|&i| i as f32).collect();
        let embedding = clip.embed_text(text).expect("embeds");
        assert!(close(
            &embedding,
            &expected(&as_floats, &text_matrix, shape.dim)
        ));
    }
}

#[test]
fn a_batching_pack_of_other_shapes() {
    check(
        &Shape {
            size: 40,
            context: 20,
            dim: 12,
            batch: || Dim::Named("batch"),
            text_type: INT64,
            preprocess: json!({
                "size": 40,
                "mean": 0.5,
                "std": 0.25,
                "interpolation": "bilinear",
                "resize_mode": "squash",
            }),
        },
        true,
    );
}

#[test]
fn a_one_image_pack_of_other_shapes() {
    check(
        &Shape {
            size: 24,
            context: 9,
            dim: 5,
            batch: || Dim::Fixed(1),
            text_type: INT32,
            preprocess: json!({
                "size": [24, 24],
                "mean": [0.1, 0.2, 0.3],
                "std": [0.3, 0.2, 0.1],
                "interpolation": "bicubic",
                "resize_mode": "longest",
                "fill_color": 128,
            }),
        },
        false,
    );
}
