//! The tokenizer on inputs beyond the references: any context length,
//! special tokens written in the text, and hostile texts that must stay
//! fast.

mod common;

use common::pack_dir;
use kiln_clip::{Tokenizer, pack};
use std::time::{Duration, Instant};

const START: u32 = 49406;
const END: u32 = 49407;

fn tokenizer(context_length: usize) -> Option<Tokenizer> {
    let dir = pack_dir()?;
    Some(
        Tokenizer::from_files(
            &dir.join(pack::TOKENIZER),
            Some(&dir.join(pack::TOKENIZER_CONFIG)),
            context_length,
        )
        .expect("the tokenizer loads"),
    )
}

#[test]
fn every_context_length_ends_with_end_of_text() {
    let Some(reference) = tokenizer(77) else {
        return;
    };
    let long = "a lighthouse at dusk, ".repeat(40);
    let full = reference.encode(&long);
    for context in [2, 3, 16, 77, 100] {
        let Some(t) = tokenizer(context) else { return };
        let ids = t.encode(&long);
        assert_eq!(ids.len(), context);
        assert_eq!(ids[0], START);
        assert_eq!(ids[context - 1], END, "context {context}");
        // The tokens kept are the first ones of the full encoding.
        let kept = context.min(77) - 2;
        assert_eq!(ids[1..1 + kept], full[1..1 + kept], "context {context}");
    }
    let Some(t) = tokenizer(77) else { return };
    assert_eq!(t.encode("")[..2], [START, END]);
}

#[test]
fn special_tokens_in_the_text_are_tokens() {
    let Some(t) = tokenizer(77) else { return };
    let ids = t.encode("a<|endoftext|>b");
    let a = t.token_id("a</w>").expect("a");
    let b = t.token_id("b</w>").expect("b");
    assert_eq!(ids[..5], [START, a, END, b, END]);
    // Written otherwise, they are plain text: lowercased, then three words
    // ("<|", the name, "|>"), as the Hugging Face tokenizer has them.
    assert_eq!(
        t.encode("a <|ENDOFTEXT|>, b")[..11],
        [START, 320, 27, 347, 40786, 4160, 91, 285, 267, 321, END]
    );
    assert_eq!(
        t.encode("a<|Endoftext|>b")[..10],
        [START, 320, 27, 347, 40786, 4160, 91, 285, 321, END]
    );
    // Other punctuation like it is one word.
    assert_eq!(t.encode("<||>")[..6], [START, 27, 91, 91, 285, END]);
}

#[test]
fn lowercasing_is_per_character() {
    let Some(t) = tokenizer(77) else { return };
    // No final-sigma rule: "σασ", not "σας" (the Hugging Face tokenizer's
    // answer; Python's str.lower would differ).
    assert_eq!(
        t.encode("ΣΑΣ")[..8],
        [START, 139, 225, 138, 109, 139, 481, END]
    );
    // Ligatures, title case and dotted capitals as the same tokenizer has
    // them.
    assert_eq!(
        t.encode("ﬁ ǅ İstanbul")[..10],
        [START, 171, 105, 479, 131, 484, 328, 16384, 11231, END]
    );
}

#[test]
fn hostile_texts_are_bounded() {
    let Some(t) = tokenizer(77) else { return };
    let start = Instant::now();
    for text in [
        "x".repeat(5_000_000),
        "é".repeat(1_000_000),
        " ".repeat(3_000_000) + "word",
        "🌸".repeat(500_000),
        "ab".repeat(2_000_000),
        "<|endoftext|>".repeat(200_000),
    ] {
        let ids = t.encode(&text);
        assert_eq!(ids.len(), 77);
        assert_eq!(ids[0], START);
        assert!(ids.contains(&END));
    }
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "hostile texts took {:?}",
        start.elapsed()
    );
}

#[test]
fn whitespace_and_case_do_not_change_tokens() {
    let Some(t) = tokenizer(77) else { return };
    assert_eq!(
        t.encode("A Photo\tof  a\n\nCAT"),
        t.encode("a photo of a cat")
    );
    // NFC: a decomposed é is the composed one.
    assert_eq!(t.encode("cafe\u{301}"), t.encode("caf\u{e9}"));
}
