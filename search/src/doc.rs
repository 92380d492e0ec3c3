//! What one asset contributes to the index, and the index schema.

use kiln_plugin_api::AssetId;
use kiln_plugin_api::{Value, builtin};
use std::collections::BTreeMap;
use tantivy::TantivyDocument;
use tantivy::schema::{FAST, Field, INDEXED, STORED, STRING, Schema, TEXT};

/// The fact key under which the `search-index` stage records the file's
/// modification time (seconds since the Unix epoch), so a rebuild reads the
/// date from the store instead of from a file that may have moved.
pub const DATE_FACT: &str = "date";

/// Everything the index knows about one asset. Text fields are as written in
/// the metadata; the index lowercases what it matches on.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetDoc {
    /// The asset id.
    pub id: AssetId,
    /// The asset's first path.
    pub path: String,
    /// The tool that made the image (`ComfyUI`, `A1111`…).
    pub generator: Option<String>,
    /// The positive prompt.
    pub prompt: Option<String>,
    /// The negative prompt.
    pub negative_prompt: Option<String>,
    /// The checkpoint.
    pub model: Option<String>,
    /// LoRA names.
    pub loras: Vec<String>,
    /// The sampler.
    pub sampler: Option<String>,
    /// The scheduler.
    pub scheduler: Option<String>,
    /// The seed.
    pub seed: Option<u64>,
    /// Sampling steps.
    pub steps: Option<u64>,
    /// CFG scale.
    pub cfg: Option<f64>,
    /// Width in pixels.
    pub width: Option<u64>,
    /// Height in pixels.
    pub height: Option<u64>,
    /// File modification time, seconds since the Unix epoch.
    pub date: Option<i64>,
    /// Quality score 0–100 (tier 3).
    pub quality: Option<f64>,
    /// The embedding vector (tier 3).
    pub embedding: Option<Vec<f32>>,
    /// The 64-bit perceptual hash (tier 3).
    pub phash: Option<u64>,
    /// The session family (`generator|model`) the `cluster` stage recorded (tier 3).
    pub session_family: Option<String>,
    /// The session time (seconds since the Unix epoch) the `cluster` stage recorded.
    pub session_time: Option<i64>,
    /// The node classes of an embedded node graph (`node:` queries).
    pub nodes: Vec<String>,
    /// The literal strings of an embedded node graph, searchable as free
    /// text also where no prompt was resolved.
    pub graph_strings: Vec<String>,
}

fn text(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::Text(s)) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn number_u64(value: Option<&Value>) -> Option<u64> {
    match value {
        Some(Value::UInt(u)) => Some(*u),
        Some(Value::Int(i)) => u64::try_from(*i).ok(),
        Some(Value::Float(f)) if *f >= 0.0 && f.fract() == 0.0 => Some(*f as u64),
        _ => None,
    }
}

fn number_i64(value: Option<&Value>) -> Option<i64> {
    match value {
        Some(Value::Int(i)) => Some(*i),
        Some(Value::UInt(u)) => i64::try_from(*u).ok(),
        _ => None,
    }
}

fn number_f64(value: Option<&Value>) -> Option<f64> {
    match value {
        Some(Value::Float(f)) if f.is_finite() => Some(*f),
        Some(Value::UInt(u)) => Some(*u as f64),
        Some(Value::Int(i)) => Some(*i as f64),
        _ => None,
    }
}

/// Decodes little-endian f32 bytes, the layout the `embed` stage writes;
/// a trailing partial value is ignored.
pub(crate) fn vector_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl AssetDoc {
    /// Builds the document from an asset's facts by stage name: `metadata`
    /// (its `generation` map), `thumbnail` (pixel size), `search-index`
    /// (the date), `score`, `embed` and `cluster` (session features).
    /// Missing stages leave fields empty.
    pub fn from_facts(id: AssetId, path: &str, facts: &BTreeMap<String, Value>) -> AssetDoc {
        let generation = facts
            .get(builtin::METADATA)
            .and_then(|m| m.get("generation"));
        let field = |key: &str| generation.and_then(|g| g.get(key));
        let loras = match field("loras") {
            Some(Value::List(items)) => items.iter().filter_map(|l| text(l.get("name"))).collect(),
            _ => Vec::new(),
        };
        let thumbnail = facts.get(builtin::THUMBNAIL);
        let width = number_u64(field("width"))
            .or_else(|| number_u64(thumbnail.and_then(|t| t.get("width"))));
        let height = number_u64(field("height"))
            .or_else(|| number_u64(thumbnail.and_then(|t| t.get("height"))));
        let date = number_i64(
            facts
                .get(builtin::SEARCH_INDEX)
                .and_then(|f| f.get(DATE_FACT)),
        );
        let cluster = facts.get(builtin::CLUSTER);
        let session_time = number_i64(cluster.and_then(|c| c.get("time")));
        let graph = facts.get(builtin::METADATA).and_then(|m| m.get("graph"));
        let list = |key: &str| -> Vec<String> {
            match graph.and_then(|g| g.get(key)) {
                Some(Value::List(items)) => items.iter().filter_map(|v| text(Some(v))).collect(),
                _ => Vec::new(),
            }
        };
        let embed = facts.get(builtin::EMBED);
        let embedding = match embed.and_then(|e| e.get("vector")) {
            Some(Value::Bytes(bytes)) if bytes.len() >= 4 => Some(vector_from_bytes(bytes)),
            _ => None,
        };
        AssetDoc {
            id,
            path: path.to_owned(),
            generator: text(field("generator")),
            prompt: text(field("positive_prompt")),
            negative_prompt: text(field("negative_prompt")),
            model: text(field("model")),
            loras,
            sampler: text(field("sampler")),
            scheduler: text(field("scheduler")),
            seed: number_u64(field("seed")),
            steps: number_u64(field("steps")),
            cfg: number_f64(field("cfg")),
            width,
            height,
            date,
            quality: number_f64(facts.get(builtin::SCORE).and_then(|s| s.get("score"))),
            embedding,
            phash: embed.and_then(|e| e.get("phash")).and_then(Value::as_u64),
            session_family: cluster
                .and_then(|c| c.get("family"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            session_time,
            nodes: list("nodes"),
            graph_strings: list("strings"),
        }
    }

    /// Whether tier-3 results (score or embedding) are in the document.
    pub fn is_enriched(&self) -> bool {
        self.quality.is_some() || self.embedding.is_some()
    }
}

/// The schema's fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub(crate) id: Field,
    pub(crate) path: Field,
    pub(crate) prompt: Field,
    pub(crate) negative: Field,
    pub(crate) all: Field,
    pub(crate) model: Field,
    pub(crate) lora: Field,
    pub(crate) node: Field,
    pub(crate) sampler: Field,
    pub(crate) scheduler: Field,
    pub(crate) generator: Field,
    pub(crate) seed: Field,
    pub(crate) steps: Field,
    pub(crate) cfg: Field,
    pub(crate) width: Field,
    pub(crate) height: Field,
    pub(crate) date: Field,
    pub(crate) quality: Field,
    pub(crate) enriched: Field,
    pub(crate) phash: Field,
    pub(crate) embedding: Field,
    pub(crate) family: Field,
    pub(crate) session_time: Field,
}

impl Fields {
    pub(crate) fn schema() -> (Schema, Fields) {
        let mut b = Schema::builder();
        let numeric = INDEXED | FAST;
        let fields = Fields {
            id: b.add_u64_field("id", INDEXED | FAST | STORED),
            path: b.add_text_field("path", TEXT | STORED),
            prompt: b.add_text_field("prompt", TEXT),
            negative: b.add_text_field("negative", TEXT),
            all: b.add_text_field("all", TEXT),
            model: b.add_text_field("model", STRING),
            lora: b.add_text_field("lora", STRING),
            node: b.add_text_field("node", STRING),
            sampler: b.add_text_field("sampler", STRING),
            scheduler: b.add_text_field("scheduler", STRING),
            generator: b.add_text_field("generator", STRING),
            seed: b.add_u64_field("seed", numeric.clone()),
            steps: b.add_u64_field("steps", numeric.clone()),
            cfg: b.add_f64_field("cfg", numeric.clone()),
            width: b.add_u64_field("width", numeric.clone()),
            height: b.add_u64_field("height", numeric.clone()),
            date: b.add_i64_field("date", numeric.clone()),
            quality: b.add_f64_field("quality", numeric),
            enriched: b.add_u64_field("enriched", FAST),
            phash: b.add_u64_field("phash", FAST),
            embedding: b.add_bytes_field("embedding", FAST),
            family: b.add_text_field("family", STRING | FAST),
            session_time: b.add_i64_field("session_time", FAST),
        };
        (b.build(), fields)
    }

    pub(crate) fn document(&self, doc: &AssetDoc) -> TantivyDocument {
        let mut d = TantivyDocument::default();
        d.add_u64(self.id, doc.id.get());
        d.add_text(self.path, &doc.path);
        let mut all = String::new();
        let mut push_all = |s: &str| {
            all.push_str(s);
            all.push('\n');
        };
        push_all(&doc.path);
        if let Some(p) = &doc.prompt {
            d.add_text(self.prompt, p);
            push_all(p);
        }
        if let Some(n) = &doc.negative_prompt {
            d.add_text(self.negative, n);
        }
        for (field, value) in [
            (self.model, &doc.model),
            (self.sampler, &doc.sampler),
            (self.scheduler, &doc.scheduler),
            (self.generator, &doc.generator),
        ] {
            if let Some(v) = value {
                d.add_text(field, v.to_lowercase());
                push_all(v);
            }
        }
        for lora in &doc.loras {
            d.add_text(self.lora, lora.to_lowercase());
            push_all(lora);
        }
        for node in &doc.nodes {
            d.add_text(self.node, node.to_lowercase());
        }
        for text in &doc.graph_strings {
            if doc.prompt.as_deref() != Some(text.as_str()) {
                push_all(text);
            }
        }
        d.add_text(self.all, &all);
        for (field, value) in [
            (self.seed, doc.seed),
            (self.steps, doc.steps),
            (self.width, doc.width),
            (self.height, doc.height),
            (self.phash, doc.phash),
        ] {
            if let Some(v) = value {
                d.add_u64(field, v);
            }
        }
        if let Some(cfg) = doc.cfg {
            d.add_f64(self.cfg, cfg);
        }
        if let Some(q) = doc.quality {
            d.add_f64(self.quality, q);
        }
        if let Some(date) = doc.date {
            d.add_i64(self.date, date);
        }
        if let Some(v) = &doc.embedding {
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            d.add_bytes(self.embedding, &bytes);
        }
        if let Some(family) = &doc.session_family {
            d.add_text(self.family, family);
        }
        if let Some(time) = doc.session_time {
            d.add_i64(self.session_time, time);
        }
        d.add_u64(self.enriched, u64::from(doc.is_enriched()));
        d
    }
}
