//! OpenAI CLIP's byte-level BPE tokenizer, read from a pack's
//! `tokenizer.json` (vocabulary and merges), giving what the Hugging Face
//! tokenizer and open_clip's give: `<|startoftext|>`, the tokens, then
//! `<|endoftext|>`, cut to the context length with `<|endoftext|>` kept
//! last, and padded to it.
//!
//! The text is split on the two special tokens as written; each other part
//! is normalised (NFC, every run of whitespace one space, lowercase), split
//! into words by CLIP's pattern (letters, single digits, runs of other
//! non-space characters, English contractions), and each word's UTF-8 bytes
//! are mapped to printable characters, the last one marked as the end of
//! the word, and merged pair by pair in the order of the merge list.

use crate::error::{ClipError, Result};
use crate::pack::{MAX_TOKENIZER_BYTES, read_json};
use regex::Regex;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use unicode_normalization::UnicodeNormalization;

/// The most text bytes looked at: past this a text is cut (at a character
/// boundary). Even short tokens fill 77 places in far less.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// The most bytes of one word given to BPE: a longer word is cut.
/// Its first part alone gives more tokens than a context holds, and BPE's
/// cost grows with the square of a word's length.
pub const MAX_WORD_BYTES: usize = 1024;

const START: &str = "<|startoftext|>";
const END: &str = "<|endoftext|>";

/// CLIP's word pattern (the Hugging Face `Split` pre-tokenizer's, whose
/// matches are kept and the rest, whitespace, dropped). The special tokens
/// written in another case reach it lowercased, and are matched whole
/// (then split in three by the byte-level step).
const WORDS: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+";

/// A CLIP tokenizer.
#[derive(Debug)]
pub struct Tokenizer {
    vocab: HashMap<String, u32>,
    /// For a pair of token ids: the merge's rank and the merged token's id.
    merges: HashMap<(u32, u32), (u32, u32)>,
    /// The id of each byte's character, and of it ending a word.
    byte_ids: [u32; 256],
    byte_end_ids: [u32; 256],
    start: u32,
    end: u32,
    pad: u32,
    context_length: usize,
    words: Regex,
    whitespace: Regex,
}

/// GPT-2's reversible map from bytes to printable characters: printable
/// Latin-1 bytes stand for themselves, the others take the characters from
/// U+0100 on, in byte order.
fn byte_chars() -> [char; 256] {
    let mut chars = ['\0'; 256];
    let mut next = 256u32;
    for (b, slot) in chars.iter_mut().enumerate() {
        let printable = matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
        let code = if printable {
            b as u32
        } else {
            let c = next;
            next += 1;
            c
        };
        *slot = char::from_u32(code).unwrap_or('\0');
    }
    chars
}

#[derive(Deserialize)]
struct TokenizerFile {
    model: Model,
    #[serde(default)]
    added_tokens: Vec<AddedToken>,
}

#[derive(Deserialize)]
struct Model {
    #[serde(rename = "type")]
    kind: Option<String>,
    vocab: HashMap<String, u32>,
    merges: Vec<Merge>,
    #[serde(default)]
    end_of_word_suffix: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Merge {
    Pair([String; 2]),
    Joined(String),
}

#[derive(Deserialize)]
struct AddedToken {
    id: u32,
    content: String,
}

#[derive(Deserialize)]
struct TokenizerConfig {
    pad_token: Option<PadToken>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PadToken {
    Text(String),
    Object { content: String },
}

impl Tokenizer {
    /// Reads `tokenizer.json` (and, when given, `tokenizer_config.json` for
    /// the padding token; without it padding is 0, as open_clip pads).
    ///
    /// # Errors
    /// [`ClipError::Invalid`] naming the file when it is not a CLIP BPE
    /// tokenizer: not BPE, a merge of unknown tokens, a byte without its
    /// token, a missing special token.
    pub fn from_files(
        tokenizer: &Path,
        config: Option<&Path>,
        context_length: usize,
    ) -> Result<Self> {
        let file: TokenizerFile = read_json(tokenizer, MAX_TOKENIZER_BYTES)?;
        let bad = |reason: String| ClipError::invalid(tokenizer, reason);
        if let Some(kind) = file.model.kind.as_deref()
            && kind != "BPE"
        {
            return Err(bad(format!("model type {kind:?}: a CLIP tokenizer is BPE")));
        }
        let suffix = file.model.end_of_word_suffix.unwrap_or_default();
        if suffix != "</w>" {
            return Err(bad(format!(
                "end_of_word_suffix {suffix:?}: a CLIP tokenizer marks word ends with \"</w>\""
            )));
        }
        let mut vocab = file.model.vocab;
        for added in &file.added_tokens {
            vocab.insert(added.content.clone(), added.id);
        }
        let id_of = |token: &str| vocab.get(token).copied();
        let chars = byte_chars();
        let mut byte_ids = [0u32; 256];
        let mut byte_end_ids = [0u32; 256];
        for (b, c) in chars.iter().enumerate() {
            let alone = c.to_string();
            let ending = format!("{c}{suffix}");
            match (id_of(&alone), id_of(&ending)) {
                (Some(a), Some(e)) => {
                    byte_ids[b] = a;
                    byte_end_ids[b] = e;
                }
                _ => {
                    return Err(bad(format!(
                        "the vocabulary lacks the token of byte {b:#04x} ({alone:?} or {ending:?})"
                    )));
                }
            }
        }
        let mut merges = HashMap::with_capacity(file.model.merges.len());
        for (rank, merge) in file.model.merges.iter().enumerate() {
            let (left, right) = match merge {
                Merge::Pair([l, r]) => (l.as_str(), r.as_str()),
                Merge::Joined(joined) => joined
                    .split_once(' ')
                    .ok_or_else(|| bad(format!("merge {rank} ({joined:?}) is not two tokens")))?,
            };
            let merged = format!("{left}{right}");
            let ids = (id_of(left), id_of(right), id_of(&merged));
            let (Some(l), Some(r), Some(m)) = ids else {
                return Err(bad(format!(
                    "merge {rank} ({left:?} {right:?}) names a token not in the vocabulary"
                )));
            };
            let rank = u32::try_from(rank).map_err(|_| bad("too many merges".into()))?;
            merges.entry((l, r)).or_insert((rank, m));
        }
        let special =
            |token: &str| id_of(token).ok_or_else(|| bad(format!("has no {token} token")));
        let start = special(START)?;
        let end = special(END)?;
        let pad = match config {
            None => 0,
            Some(path) => {
                let config: TokenizerConfig = read_json(path, 1 << 20)?;
                match config.pad_token {
                    None => 0,
                    Some(PadToken::Text(t) | PadToken::Object { content: t }) => id_of(&t)
                        .ok_or_else(|| {
                            ClipError::invalid(
                                path,
                                format!("pad_token {t:?} is not in {}", tokenizer.display()),
                            )
                        })?,
                }
            }
        };
        let compile = |pattern: &str| {
            Regex::new(pattern).map_err(|e| bad(format!("internal pattern failed: {e}")))
        };
        Ok(Self {
            merges,
            byte_ids,
            byte_end_ids,
            start,
            end,
            pad,
            context_length,
            words: compile(WORDS)?,
            whitespace: compile(r"\s+")?,
            vocab,
        })
    }

    /// The token count of every encoding.
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// The largest id the tokenizer can give.
    pub fn max_id(&self) -> u32 {
        self.vocab
            .values()
            .copied()
            .max()
            .unwrap_or(0)
            .max(self.pad)
    }

    /// The id of a token, if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.vocab.get(token).copied()
    }

    /// `text` as exactly [`Self::context_length`] token ids.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let room = self.context_length - 2;
        let mut ids = Vec::with_capacity(self.context_length);
        ids.push(self.start);
        let text = cut(text, MAX_TEXT_BYTES);
        let mut rest = text;
        while ids.len() <= room && !rest.is_empty() {
            let (plain, special, after) = split_special(rest);
            self.encode_plain(plain, &mut ids, room + 1);
            if let Some(special) = special
                && ids.len() <= room
            {
                ids.push(special_id(special, self.start, self.end));
            }
            rest = after;
        }
        ids.truncate(room + 1);
        ids.push(self.end);
        ids.resize(self.context_length, self.pad);
        ids
    }

    /// Appends the tokens of text without special tokens until `ids` holds
    /// `limit`.
    fn encode_plain(&self, text: &str, ids: &mut Vec<u32>, limit: usize) {
        if text.is_empty() {
            return;
        }
        let normalised: String = text.nfc().collect();
        // Character by character, as the Hugging Face normaliser does (no
        // final-sigma rule: Σ at a word's end is σ).
        let normalised: String = self
            .whitespace
            .replace_all(&normalised, " ")
            .chars()
            .flat_map(char::to_lowercase)
            .collect();
        let mut word = Vec::new();
        let words = self.words.find_iter(&normalised).flat_map(|found| {
            // The byte-level step's own pattern splits only these words
            // further (punctuation, letters, punctuation): they reach here
            // when written in another case, and were lowercased.
            let word = found.as_str();
            let parts: [&str; 3] = match word {
                START => ["<|", "startoftext", "|>"],
                END => ["<|", "endoftext", "|>"],
                _ => [word, "", ""],
            };
            parts.into_iter().filter(|part| !part.is_empty())
        });
        for found in words {
            if ids.len() >= limit {
                return;
            }
            word.clear();
            let bytes = found.as_bytes();
            let bytes = &bytes[..bytes.len().min(MAX_WORD_BYTES)];
            for (i, b) in bytes.iter().enumerate() {
                let table = if i + 1 == bytes.len() {
                    &self.byte_end_ids
                } else {
                    &self.byte_ids
                };
                word.push(table[usize::from(*b)]);
            }
            self.merge(&mut word);
            ids.extend(word.iter().take(limit - ids.len()));
        }
    }

    /// Applies merges to `word` (token ids), the lowest rank first, each
    /// merge to every occurrence of its pair left to right.
    fn merge(&self, word: &mut Vec<u32>) {
        while word.len() > 1 {
            let best = word
                .windows(2)
                .filter_map(|pair| self.merges.get(&(pair[0], pair[1])))
                .min_by_key(|(rank, _)| *rank);
            let Some(&(rank, merged)) = best else {
                return;
            };
            let mut out = 0;
            let mut i = 0;
            while i < word.len() {
                if i + 1 < word.len()
                    && self
                        .merges
                        .get(&(word[i], word[i + 1]))
                        .is_some_and(|(r, _)| *r == rank)
                {
                    word[out] = merged;
                    i += 2;
                } else {
                    word[out] = word[i];
                    i += 1;
                }
                out += 1;
            }
            word.truncate(out);
        }
    }
}

/// The text before the first special token, that token, and the rest.
fn split_special(text: &str) -> (&str, Option<&'static str>, &str) {
    let first = [START, END]
        .into_iter()
        .filter_map(|s| text.find(s).map(|at| (at, s)))
        .min();
    match first {
        Some((at, special)) => (&text[..at], Some(special), &text[at + special.len()..]),
        None => (text, None, ""),
    }
}

fn special_id(special: &str, start: u32, end: u32) -> u32 {
    if special == START { start } else { end }
}

/// `text` cut to at most `max` bytes at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut at = max;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    &text[..at]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_map_to_distinct_printable_characters() {
        let chars = byte_chars();
        let mut seen: Vec<char> = chars.to_vec();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 256);
        assert_eq!(chars[b'a' as usize], 'a');
        assert_eq!(chars[b' ' as usize], 'Ġ');
        assert_eq!(chars[0], 'Ā');
    }

    #[test]
    fn special_tokens_split_the_text() {
        assert_eq!(
            split_special("a<|endoftext|>b<|startoftext|>"),
            ("a", Some(END), "b<|startoftext|>")
        );
        assert_eq!(split_special("plain"), ("plain", None, ""));
    }

    #[test]
    fn cutting_keeps_whole_characters() {
        assert_eq!(cut("日本", 4), "日");
        assert_eq!(cut("abc", 10), "abc");
    }
}
