//! The `metadata` stage: runs [`extract_from_reader`] on the asset's file and
//! writes the extraction as facts.
//!
//! Facts shape (a map):
//! - `format`: `"png" | "jpeg" | "webp"`; `pixel_width`, `pixel_height`: the
//!   header's pixel size (or null);
//! - `generation`: a map with exactly the keys `generator`,
//!   `metadata_format`, `positive_prompt`, `negative_prompt`, `seed` (UInt),
//!   `steps` (UInt), `cfg` (Float), `sampler`, `scheduler`, `model`,
//!   `model_hash`, `loras` (list of `{name, strength}` or null), `width`,
//!   `height`, `clip_skip` (UInt), `denoise` (Float), `hires` (map of
//!   `upscaler`, `scale`, `steps`, `denoise`, or null), `character_prompts`
//!   (list of `{prompt, negative_prompt, center_x, center_y}`), `use_coords`,
//!   `use_order` (Bool or null), `negative_zeroed`, `ambiguous` (Bool),
//!   `ambiguity` (list of text), `samplers` (list of maps, one per sampling
//!   pass of a node graph: `node`, `class_type`, `seed`, `adds_noise`,
//!   `steps`, `cfg`, `sampler`, `scheduler`, `denoise`, `positive_prompt`,
//!   `negative_prompt`, `model`, `loras`, `width`, `height`, `notes`), `c2pa`
//!   (map of `claim_generator`, `vendor`, `digital_source_type`,
//!   `ai_generated`, or null). Unknown values are null.
//! - `exif`: a map of `camera_make`, `camera_model`, `software`, `date_time`,
//!   `date_time_original`, `orientation`, `pixel_width`, `pixel_height`, or
//!   null when the file has no EXIF block;
//! - `graph`: a map of `nodes` (the distinct node classes) and `strings`
//!   (the distinct literal strings) of an embedded node graph, or null;
//! - `raw`: a map from location (`tEXt:prompt`, `EXIF:UserComment`, …) to
//!   text;
//! - `problems`: a list of `{location, message}`.

use super::{ExtractError, Extraction, extract_from_reader};
use kiln_plugin_api::{
    CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, Value, builtin,
};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// The built-in tier-2 stage that extracts EXIF and generation parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetadataStage;

impl MetadataStage {
    /// The stage's name, which its facts are stored under
    /// ([`builtin::METADATA`], where the facts are described).
    pub const NAME: &'static str = builtin::METADATA;
    /// Bump when the facts change for the same file.
    pub const VERSION: u32 = 2;
}

impl Stage for MetadataStage {
    fn info(&self) -> StageInfo {
        StageInfo::new(Self::NAME, Self::VERSION, kiln_plugin_api::TIER_SEARCHABLE)
            .after([builtin::HASH])
            .cost(CostClass::Io)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let path = Path::new(&input.path);
        let file = crate::file::open_regular(path).map_err(|e| {
            let message = format!("metadata: cannot open {}: {e}", input.path);
            if e.kind() == std::io::ErrorKind::Interrupted {
                StageError::transient(message)
            } else {
                StageError::permanent(message)
            }
        })?;
        let name = path.file_name().and_then(|n| n.to_str());
        let mut reader = SkippingReader(BufReader::with_capacity(16 << 10, file));
        match extract_from_reader(&mut reader, name) {
            Ok(extraction) => Ok(StageOutput::facts(extraction_to_value(&extraction))),
            Err(ExtractError::Io(e)) if e.kind() == std::io::ErrorKind::Interrupted => {
                Err(StageError::transient(format!(
                    "metadata: reading {} was interrupted: {e}",
                    input.path
                )))
            }
            Err(e) => Err(StageError::permanent(format!(
                "metadata: {}: {e}",
                input.path
            ))),
        }
    }
}

/// A buffered file whose forward skips stay inside the buffer when they can:
/// walking a PNG seeks over every image-data chunk.
struct SkippingReader(BufReader<std::fs::File>);

impl Read for SkippingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Seek for SkippingReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match pos {
            SeekFrom::Current(offset) => {
                self.0.seek_relative(offset)?;
                self.0.stream_position()
            }
            other => self.0.seek(other),
        }
    }
}

/// The facts value tree for an extraction (shape in the module docs).
pub fn extraction_to_value(extraction: &Extraction) -> Value {
    let (pixel_width, pixel_height) = match extraction.pixel_size {
        Some((w, h)) => (Value::from(w), Value::from(h)),
        None => (Value::Null, Value::Null),
    };
    let exif = extraction.exif.as_ref().map_or(Value::Null, |e| {
        Value::map([
            ("camera_make", text(&e.camera_make)),
            ("camera_model", text(&e.camera_model)),
            ("software", text(&e.software)),
            ("date_time", text(&e.date_time)),
            ("date_time_original", text(&e.date_time_original)),
            ("orientation", Value::from(e.orientation.map(u32::from))),
            ("pixel_width", Value::from(e.pixel_width)),
            ("pixel_height", Value::from(e.pixel_height)),
        ])
    });
    let animation = extraction.animation.map_or(Value::Null, |a| {
        Value::map([
            ("frames", Value::from(a.frames)),
            ("duration", Value::from(a.duration)),
            ("fps", Value::from(a.fps)),
        ])
    });
    let raw = Value::map(
        extraction
            .raw
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str()))),
    );
    let problems = extraction
        .problems
        .iter()
        .map(|p| {
            Value::map([
                ("location", Value::from(p.location.as_str())),
                ("message", Value::from(p.message.as_str())),
            ])
        })
        .collect::<Vec<_>>();
    Value::map([
        (
            "format",
            extraction
                .format
                .map_or(Value::Null, |f| Value::from(f.name())),
        ),
        ("pixel_width", pixel_width),
        ("pixel_height", pixel_height),
        ("animation", animation),
        ("generation", generation_to_value(&extraction.generation)),
        (
            "graph",
            extraction.graph.as_ref().map_or(Value::Null, |g| {
                let list = |items: &[String]| {
                    Value::List(items.iter().map(|s| Value::from(s.as_str())).collect())
                };
                Value::map([("nodes", list(&g.nodes)), ("strings", list(&g.strings))])
            }),
        ),
        ("exif", exif),
        ("raw", raw),
        ("problems", Value::List(problems)),
    ])
}

fn loras_to_value(loras: Option<&Vec<super::Lora>>) -> Value {
    loras.map_or(Value::Null, |loras| {
        Value::List(
            loras
                .iter()
                .map(|l| {
                    Value::map([
                        ("name", Value::from(l.name.as_str())),
                        ("strength", Value::from(l.strength)),
                    ])
                })
                .collect(),
        )
    })
}

fn pass_to_value(p: &super::SamplingPass) -> Value {
    Value::map([
        ("node", Value::from(p.node.as_str())),
        ("class_type", Value::from(p.class_type.as_str())),
        ("seed", Value::from(p.seed)),
        ("adds_noise", Value::from(p.adds_noise)),
        ("steps", Value::from(p.steps)),
        ("cfg", Value::from(p.cfg)),
        ("sampler", text(&p.sampler)),
        ("scheduler", text(&p.scheduler)),
        ("denoise", Value::from(p.denoise)),
        ("positive_prompt", text(&p.positive_prompt)),
        ("negative_prompt", text(&p.negative_prompt)),
        ("model", text(&p.model)),
        ("loras", loras_to_value(p.loras.as_ref())),
        ("width", Value::from(p.width)),
        ("height", Value::from(p.height)),
        (
            "notes",
            Value::List(p.notes.iter().map(|n| Value::from(n.as_str())).collect()),
        ),
    ])
}

fn generation_to_value(g: &super::Generation) -> Value {
    let loras = loras_to_value(g.loras.as_ref());
    let hires = g.hires.as_ref().map_or(Value::Null, |h| {
        Value::map([
            ("upscaler", text(&h.upscaler)),
            ("scale", Value::from(h.scale)),
            ("steps", Value::from(h.steps)),
            ("denoise", Value::from(h.denoise)),
        ])
    });
    let characters = g
        .character_prompts
        .iter()
        .map(|c| {
            Value::map([
                ("prompt", Value::from(c.prompt.as_str())),
                ("negative_prompt", text(&c.negative_prompt)),
                ("center_x", Value::from(c.center.map(|(x, _)| x))),
                ("center_y", Value::from(c.center.map(|(_, y)| y))),
            ])
        })
        .collect::<Vec<_>>();
    let c2pa = g.c2pa.as_ref().map_or(Value::Null, |c| {
        Value::map([
            ("claim_generator", text(&c.claim_generator)),
            ("vendor", text(&c.vendor)),
            ("digital_source_type", text(&c.digital_source_type)),
            ("ai_generated", Value::from(c.ai_generated)),
        ])
    });
    Value::map([
        ("generator", text(&g.generator)),
        ("metadata_format", text(&g.metadata_format)),
        ("positive_prompt", text(&g.positive_prompt)),
        ("negative_prompt", text(&g.negative_prompt)),
        ("seed", Value::from(g.seed)),
        ("steps", Value::from(g.steps)),
        ("cfg", Value::from(g.cfg)),
        ("sampler", text(&g.sampler)),
        ("scheduler", text(&g.scheduler)),
        ("model", text(&g.model)),
        ("model_hash", text(&g.model_hash)),
        ("loras", loras),
        ("width", Value::from(g.width)),
        ("height", Value::from(g.height)),
        ("clip_skip", Value::from(g.clip_skip)),
        ("denoise", Value::from(g.denoise)),
        ("hires", hires),
        ("character_prompts", Value::List(characters)),
        ("use_coords", Value::from(g.use_coords)),
        ("use_order", Value::from(g.use_order)),
        ("negative_zeroed", Value::from(g.negative_zeroed)),
        ("ambiguous", Value::from(g.ambiguous)),
        (
            "ambiguity",
            Value::List(
                g.ambiguity
                    .iter()
                    .map(|a| Value::from(a.as_str()))
                    .collect(),
            ),
        ),
        (
            "samplers",
            Value::List(g.samplers.iter().map(pass_to_value).collect()),
        ),
        ("c2pa", c2pa),
    ])
}

fn text(value: &Option<String>) -> Value {
    value.as_deref().map_or(Value::Null, Value::from)
}
