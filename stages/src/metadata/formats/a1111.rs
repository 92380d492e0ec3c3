//! A1111-style infotext (AUTOMATIC1111, Forge, reForge, SD.Next, Civitai,
//! and ComfyUI savers that imitate it):
//!
//! ```text
//! prompt lines…
//! Negative prompt: negative lines…
//! Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512, Lora hashes: "a: 1f2e"
//! ```
//!
//! The last line holds `Key: value` pairs; a quoted value is a JSON string,
//! and some tools write unquoted JSON arrays or objects. LoRAs appear inline
//! in the prompt as `<lora:name:weight>`.

use super::json::size_text;
use crate::metadata::model::{Generation, Hires, Lora};

/// Keys whose presence marks a line as the parameter line.
const KNOWN_KEYS: [&str; 6] = ["Steps", "Sampler", "Seed", "Size", "CFG scale", "Model"];

/// Whether `text` looks like infotext: one of its last eight lines is a
/// `Key: value` parameter line with a known key.
pub(crate) fn looks_like_infotext(text: &str) -> bool {
    text.lines().rev().take(8).any(is_parameter_line)
}

pub(crate) fn parse(text: &str) -> Generation {
    let lines: Vec<&str> = text.lines().collect();
    let param_index = lines.iter().rposition(|line| is_parameter_line(line));
    let (body, params) = match param_index {
        Some(i) => (
            lines.get(..i).unwrap_or_default(),
            lines.get(i..).unwrap_or_default().join(", "),
        ),
        None => (lines.as_slice(), String::new()),
    };
    let mut positive = Vec::new();
    let mut negative: Option<Vec<&str>> = None;
    for line in body {
        if let Some(rest) = line.strip_prefix("Negative prompt:") {
            negative = Some(vec![rest]);
        } else if let Some(neg) = negative.as_mut() {
            neg.push(line);
        } else {
            positive.push(*line);
        }
    }
    let positive = positive.join("\n").trim().to_owned();
    let pairs = parse_pairs(&params);
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    };
    let number = |key: &str| get(key).and_then(|v| v.trim().parse::<f64>().ok());
    let integer = |key: &str| get(key).and_then(|v| v.trim().parse::<u64>().ok());

    let mut g = Generation {
        generator: Some("a1111".to_owned()),
        metadata_format: Some("a1111-infotext".to_owned()),
        negative_prompt: Some(
            negative
                .map(|lines| lines.join("\n").trim().to_owned())
                .unwrap_or_default(),
        ),
        steps: integer("Steps"),
        sampler: get("Sampler").map(str::to_owned),
        scheduler: get("Schedule type").map(str::to_owned),
        cfg: number("CFG scale"),
        seed: integer("Seed"),
        model: get("Model").map(str::to_owned),
        model_hash: get("Model hash").map(str::to_owned),
        clip_skip: integer("Clip skip"),
        loras: Some(inline_loras(&positive)),
        ..Generation::default()
    };
    if let Some((w, h)) = get("Size").and_then(size_text) {
        g.width = Some(w);
        g.height = Some(h);
    }
    let denoise = number("Denoising strength");
    let has_hires = pairs.iter().any(|(k, _)| k.starts_with("Hires "));
    if has_hires {
        g.hires = Some(Hires {
            upscaler: get("Hires upscaler").map(str::to_owned),
            scale: number("Hires upscale"),
            steps: integer("Hires steps").filter(|&s| s > 0),
            denoise,
        });
    } else {
        g.denoise = denoise;
    }
    if get("Version").is_some_and(|v| v.eq_ignore_ascii_case("ComfyUI")) {
        g.generator = Some("comfyui".to_owned());
    } else if get("Civitai resources").is_some() || get("Civitai metadata").is_some() {
        g.generator = Some("civitai".to_owned());
    }
    g.positive_prompt = Some(positive);
    g
}

/// Whether a line is a `Key: value, Key: value` parameter line.
fn is_parameter_line(line: &str) -> bool {
    let pairs = parse_pairs(line);
    pairs.len() >= 2
        && pairs
            .iter()
            .any(|(k, _)| KNOWN_KEYS.iter().any(|known| k.eq_ignore_ascii_case(known)))
}

/// Splits `Key: value, Key: "quoted, value", Key: [json, array]` pairs.
///
/// Stops at the first piece that is not a pair; what was read is returned.
pub(crate) fn parse_pairs(line: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let Some(colon) = rest.find(':') else {
            break;
        };
        let key = rest.get(..colon).unwrap_or_default().trim();
        if key.is_empty()
            || key.len() > 64
            || !key.chars().all(|c| {
                c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '/' | '.' | '(' | ')')
            })
        {
            break;
        }
        let after = rest.get(colon + 1..).unwrap_or_default().trim_start();
        let (value, remainder) = split_value(after);
        pairs.push((key.to_owned(), value));
        rest = remainder.trim_start();
        match rest.strip_prefix(',') {
            Some(next) => rest = next.trim_start(),
            None => break,
        }
    }
    pairs
}

/// Reads one value: a JSON string, a bracketed JSON value, or plain text up
/// to the next comma. Returns the value and what follows it.
fn split_value(text: &str) -> (String, &str) {
    if text.starts_with('"')
        && let Some(end) = closing_quote(text)
    {
        let quoted = text.get(..=end).unwrap_or_default();
        let value = serde_json::from_str::<String>(quoted)
            .unwrap_or_else(|_| quoted.trim_matches('"').to_owned());
        return (value, text.get(end + 1..).unwrap_or_default());
    }
    if (text.starts_with('[') || text.starts_with('{'))
        && let Some(end) = closing_bracket(text)
    {
        return (
            text.get(..=end).unwrap_or_default().to_owned(),
            text.get(end + 1..).unwrap_or_default(),
        );
    }
    let end = text.find(',').unwrap_or(text.len());
    (
        text.get(..end).unwrap_or_default().trim().to_owned(),
        text.get(end..).unwrap_or_default(),
    )
}

fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// The index of the bracket closing the one at 0, skipping JSON strings.
/// Nesting is counted, not recursed, so deep input costs no stack.
fn closing_bracket(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => depth += 1,
            ']' | '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `<lora:name:weight>` (and `<lyco:…>`) tags in a prompt.
pub(crate) fn inline_loras(prompt: &str) -> Vec<Lora> {
    let mut loras = Vec::new();
    let mut rest = prompt;
    while let Some(start) = rest.find('<') {
        let tail = rest.get(start + 1..).unwrap_or_default();
        let Some(end) = tail.find('>') else {
            break;
        };
        let tag = tail.get(..end).unwrap_or_default();
        let mut parts = tag.split(':');
        if let (Some(kind), Some(name)) = (parts.next(), parts.next())
            && matches!(kind.trim(), "lora" | "lyco")
            && !name.trim().is_empty()
        {
            let strength = parts.next().and_then(|w| w.trim().parse().ok());
            loras.push(Lora {
                name: name.trim().to_owned(),
                strength,
            });
        }
        rest = tail.get(end + 1..).unwrap_or_default();
    }
    loras
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_with_quotes_and_brackets() {
        let pairs = parse_pairs(
            r#"Steps: 20, Lora hashes: "a: 1, b: 2", Civitai resources: [{"a":1,"b":[2,3]}], Seed: 5"#,
        );
        assert_eq!(pairs.len(), 4);
        assert_eq!(pairs[1].1, "a: 1, b: 2");
        assert_eq!(pairs[2].1, r#"[{"a":1,"b":[2,3]}]"#);
        assert_eq!(pairs[3], ("Seed".to_owned(), "5".to_owned()));
    }

    #[test]
    fn infotext_with_hires_and_lora() {
        let g = parse(
            "a <lora:x:0.5> cat\nNegative prompt: dog\nSteps: 4, Sampler: LCM, CFG scale: 1, Seed: 9, Size: 64x32, Denoising strength: 0.6, Hires upscale: 1.5",
        );
        assert_eq!(g.positive_prompt.as_deref(), Some("a <lora:x:0.5> cat"));
        assert_eq!(g.negative_prompt.as_deref(), Some("dog"));
        assert_eq!((g.width, g.height), (Some(64), Some(32)));
        let hires = g.hires.expect("hires");
        assert_eq!((hires.scale, hires.denoise), (Some(1.5), Some(0.6)));
        assert_eq!(g.denoise, None);
        assert_eq!(g.loras.expect("loras")[0].strength, Some(0.5));
    }
}
