//! Properties over arbitrary inputs: any text tokenizes to exactly the
//! context length, opened and closed; any image of any size preprocesses
//! to finite values of the model's size, whatever the settings.

mod common;

use common::pack_dir;
use image::{Rgb, RgbImage};
use kiln_clip::{Pack, Tokenizer, pack};
use proptest::prelude::*;
use std::sync::OnceLock;

const START: u32 = 49406;
const END: u32 = 49407;

fn tokenizer() -> Option<&'static Tokenizer> {
    static TOKENIZER: OnceLock<Option<Tokenizer>> = OnceLock::new();
    TOKENIZER
        .get_or_init(|| {
            let dir = pack_dir()?;
            Some(
                Tokenizer::from_files(
                    &dir.join(pack::TOKENIZER),
                    Some(&dir.join(pack::TOKENIZER_CONFIG)),
                    16,
                )
                .expect("the tokenizer loads"),
            )
        })
        .as_ref()
}

/// Packs whose preprocessing is each mode and filter, at side 7 (settings
/// only: opening a pack reads no model).
fn packs() -> &'static Vec<(tempfile::TempDir, Pack)> {
    static PACKS: OnceLock<Vec<(tempfile::TempDir, Pack)>> = OnceLock::new();
    PACKS.get_or_init(|| {
        let mut packs = Vec::new();
        for mode in ["shortest", "squash", "longest"] {
            for filter in ["bicubic", "bilinear"] {
                let dir = tempfile::tempdir().expect("a temporary folder");
                for sub in ["visual", "textual"] {
                    std::fs::create_dir(dir.path().join(sub)).expect("create");
                }
                for file in [pack::VISUAL_MODEL, pack::TEXTUAL_MODEL, pack::TOKENIZER] {
                    std::fs::write(dir.path().join(file), b"").expect("write");
                }
                let settings = serde_json::json!({
                    "size": 7, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                    "interpolation": filter, "resize_mode": mode,
                });
                std::fs::write(dir.path().join(pack::PREPROCESS), settings.to_string())
                    .expect("write");
                let config = serde_json::json!({
                    "embed_dim": 64,
                    "vision_cfg": {"image_size": 7},
                    "text_cfg": {"context_length": 77},
                });
                std::fs::write(dir.path().join(pack::CONFIG), config.to_string()).expect("write");
                let pack = Pack::open(dir.path()).expect("opens");
                packs.push((dir, pack));
            }
        }
        packs
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn any_text_fills_the_context(text in any::<String>()) {
        let Some(t) = tokenizer() else { return Ok(()) };
        let ids = t.encode(&text);
        prop_assert_eq!(ids.len(), 16);
        prop_assert_eq!(ids[0], START);
        prop_assert_eq!(ids[15], END);
        prop_assert!(ids.iter().all(|&id| id <= t.max_id()));
    }

    #[test]
    fn any_image_preprocesses(width in 1u32..90, height in 1u32..90, seed in any::<u8>()) {
        let image = RgbImage::from_fn(width, height, |x, y| {
            Rgb([seed.wrapping_add(x as u8), (y * 3) as u8, (x ^ y) as u8])
        });
        for (_, pack) in packs() {
            let input = pack.preprocess().input(&image).expect("an input");
            prop_assert_eq!(input.len(), 3 * 7 * 7);
            // Values in 0..=1, normalised by 0.5 and 0.5: −1..=1.
            prop_assert!(input.iter().all(|v| v.is_finite() && (-1.0..=1.0).contains(v)));
        }
    }
}
