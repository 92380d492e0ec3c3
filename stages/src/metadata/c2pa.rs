//! A shallow reading of C2PA manifests: the claim generator and the digital
//! source type, found as CBOR text values inside the JUMBF boxes. Signatures
//! are not verified; this is provenance as stated, for search.

use super::model::C2pa;

/// IPTC source types that mean a trained model made (part of) the image.
const AI_SOURCE_TYPES: [&str; 2] = [
    "trainedAlgorithmicMedia",
    "compositeWithTrainedAlgorithmicMedia",
];

pub(crate) fn summarise(manifest: &[u8]) -> C2pa {
    let claim_generator = text_after_key(manifest, b"claim_generator_info")
        .and_then(|at| {
            let window = manifest.get(at..at.saturating_add(256).min(manifest.len()))?;
            let name = find(window, &cbor_text_header(b"name"))?;
            cbor_text_at(window, name + 5)
        })
        .or_else(|| {
            let at = text_after_key(manifest, b"claim_generator")?;
            cbor_text_at(manifest, at)
        });
    let digital_source_type =
        text_after_key(manifest, b"digitalSourceType").and_then(|at| cbor_text_at(manifest, at));
    let ai_generated = digital_source_type.as_deref().map(|t| {
        let last = t.rsplit('/').next().unwrap_or(t);
        AI_SOURCE_TYPES.contains(&last)
    });
    let vendor = claim_generator.as_deref().and_then(|g| {
        g.split(|c: char| !c.is_alphanumeric())
            .find(|w| !w.is_empty())
            .map(str::to_lowercase)
    });
    C2pa {
        claim_generator,
        vendor,
        digital_source_type,
        ai_generated,
    }
}

/// The offset just past a CBOR text key equal to `key`.
fn text_after_key(data: &[u8], key: &[u8]) -> Option<usize> {
    let header = cbor_text_header(key);
    find(data, &header).map(|at| at + header.len())
}

/// The CBOR encoding of a short text string (major type 3).
fn cbor_text_header(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 2);
    match u8::try_from(key.len()) {
        Ok(len) if len < 24 => out.push(0x60 | len),
        Ok(len) => out.extend_from_slice(&[0x78, len]),
        Err(_) => return Vec::new(),
    }
    out.extend_from_slice(key);
    out
}

/// Decodes the CBOR text string that starts at `at`, if one does.
fn cbor_text_at(data: &[u8], at: usize) -> Option<String> {
    let first = *data.get(at)?;
    if first & 0xE0 != 0x60 {
        return None;
    }
    let (len, start) = match first & 0x1F {
        n @ 0..=23 => (usize::from(n), at + 1),
        24 => (usize::from(*data.get(at + 1)?), at + 2),
        25 => {
            let bytes = data.get(at + 1..at + 3)?;
            (
                usize::from(u16::from_be_bytes([bytes[0], bytes[1]])),
                at + 3,
            )
        }
        _ => return None,
    };
    let bytes = data.get(start..start.checked_add(len)?)?;
    String::from_utf8(bytes.to_vec()).ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
