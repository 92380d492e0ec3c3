//! The names of kiln's built-in stages and the facts each one writes.
//!
//! A stage that runs after a built-in stage names it in
//! [`StageInfo::after`](crate::StageInfo::after) and finds its facts in
//! [`StageInput::facts`](crate::StageInput::facts) under the same name; the
//! tables below say what those facts are. Types are [`Value`](crate::Value)
//! variants; `or Null` means the key is always there but its value may be
//! unknown. A row `a.b` is key `b` of the map under `a`. Facts only grow:
//! a later version of a stage may add keys, never take one away or change
//! its type without a new stage version.
//!
//! ```
//! use kiln_plugin_api::{builtin, StageInput, Value};
//!
//! fn describe(input: &StageInput) -> String {
//!     let model = input.fact(builtin::METADATA, ["generation", "model"]).and_then(Value::as_str);
//!     let width = input.fact(builtin::THUMBNAIL, ["width"]).and_then(Value::as_u64);
//!     format!("{} at {} px", model.unwrap_or("unknown model"), width.unwrap_or(0))
//! }
//! # assert_eq!(describe(&StageInput::for_path(1, "/a.png")), "unknown model at 0 px");
//! ```
//!
//! The same tables are data in [`SCHEMA`] (see [`schema`]). The key tables,
//! tiers and `after` lists, and that data, are checked against what the
//! stages declare and write, on kiln's sample images, by a test of
//! `kiln-stages` (`tests/facts_schema.rs`).

/// `hash`: the asset's content identity.
///
/// Tier 1; runs after: nothing. Returns the blake3 digest as
/// [`StageOutput::content_hash`](crate::StageOutput::content_hash), so a file
/// whose content is already known becomes another path of that asset and no
/// later stage runs for it.
///
/// | key | type | example | meaning |
/// |---|---|---|---|
/// | `size` | UInt | `129702` | bytes hashed: the file's length |
/// | `hash` | Text | `"9c1e…"` | the blake3 digest, 64 lower-case hex digits |
pub const HASH: &str = "hash";

/// `thumbnail`: decodes the image once and makes the proxy and the thumbnail.
///
/// Tier 1; runs after: `hash`. Artifacts:
/// [`PROXY_ARTIFACT`](crate::PROXY_ARTIFACT) (longest side at most 512 px,
/// JPEG; later stages read it through
/// [`StageInput::proxy_path`](crate::StageInput::proxy_path) instead of
/// decoding the original) and [`THUMBNAIL_ARTIFACT`](crate::THUMBNAIL_ARTIFACT)
/// (at most 256 px, JPEG). A file that cannot be decoded fails permanently
/// here.
///
/// | key | type | example | meaning |
/// |---|---|---|---|
/// | `format` | Text | `"PNG"` | the decoded format: `"PNG"`, `"JPEG"`, `"WebP"`, `"GIF"`, or a video's container, `"MP4"` or `"Matroska"` (its frame taken by ffmpeg) |
/// | `width` | UInt | `1024` | width as displayed, after EXIF orientation |
/// | `height` | UInt | `768` | height as displayed, after EXIF orientation |
/// | `orientation` | UInt | `1` | the EXIF orientation applied, 1 (none) to 8 |
/// | `orientation_applied` | Bool | `false` | whether `orientation` is not 1 |
/// | `has_alpha` | Bool | `false` | whether the pixels have an alpha channel |
/// | `uses_alpha` | Bool | `false` | whether some pixel is not fully opaque |
/// | `animated` | Bool | `false` | whether the file is animated (the first frame was used) |
/// | `color_type` | Text | `"Rgb8"` | the decoded colour type, e.g. `"Rgba8"`, `"L8"`, `"Rgb16"` |
/// | `truncated` | Bool | `false` | whether the file is shorter than its format says |
/// | `placeholder` | Bool | `false` | whether the thumbnail and proxy are a placeholder, not the file's pixels (a video with no ffmpeg to take its frame); the enrichment gate skips tier 3 for it |
/// | `note` | Text or Null | `null` | for a placeholder, how to get the real thumbnails |
/// | `proxy_width` | UInt | `512` | the proxy's width |
/// | `proxy_height` | UInt | `384` | the proxy's height |
/// | `thumbnail_width` | UInt | `256` | the thumbnail's width |
/// | `thumbnail_height` | UInt | `192` | the thumbnail's height |
pub const THUMBNAIL: &str = "thumbnail";

/// `metadata`: EXIF and the generation parameters, read from the file's
/// metadata without decoding pixels.
///
/// Tier 2; runs after: `hash`. Broken or hostile metadata never fails the
/// stage: it is skipped and listed under `problems`. A value the file does
/// not state is Null, never guessed.
///
/// | key | type | example | meaning |
/// |---|---|---|---|
/// | `format` | Text or Null | `"png"` | the container: `"png"`, `"jpeg"`, `"webp"`, `"gif"`, `"mp4"` or `"matroska"` |
/// | `pixel_width` | UInt or Null | `1024` | the width the image header states |
/// | `pixel_height` | UInt or Null | `768` | the height the image header states |
/// | `generation` | Map | | the generation parameters, normalised (rows below) |
/// | `exif` | Map or Null | | an EXIF summary (rows below); Null without an EXIF block |
/// | `animation` | Map or Null | | a video's or an animated image's length as its container states it (rows below); Null for a still image |
/// | `raw` | Map | `{"tEXt:parameters": "a cat…"}` | every metadata text as found, by location (`tEXt:prompt`, `iTXt:parameters`, `EXIF:UserComment`, `COM`, `XMP`; a repeated location gets `#2`, …), values Text |
/// | `problems` | List | `[{"location": "tEXt:prompt", "message": "…"}]` | what was wrong with the metadata: maps of `location` and `message`, both Text |
/// | `generation.generator` | Text or Null | `"comfyui"` | the tool family that wrote the metadata: `comfyui`, `a1111`, `novelai`, `invokeai`, `swarmui`, `fooocus`, `ruined-fooocus`, `civitai`, `hf-space`, `stability-matrix`, `tensorart`, `c2pa-only` |
/// | `generation.metadata_format` | Text or Null | `"comfyui-graph"` | the format the parameters were read from, e.g. `a1111-infotext`, `novelai-json` |
/// | `generation.positive_prompt` | Text or Null | `"a lighthouse at dusk"` | the positive prompt |
/// | `generation.negative_prompt` | Text or Null | `"blurry"` | the negative prompt |
/// | `generation.seed` | UInt or Null | `1234567890` | the seed (the full `u64` range occurs) |
/// | `generation.steps` | UInt or Null | `30` | sampling steps |
/// | `generation.cfg` | Float or Null | `7.0` | the CFG scale |
/// | `generation.sampler` | Text or Null | `"euler_ancestral"` | the sampler, as the tool names it |
/// | `generation.scheduler` | Text or Null | `"karras"` | the noise schedule, as the tool names it |
/// | `generation.model` | Text or Null | `"juggernautXL_v9"` | the checkpoint or UNET, as written |
/// | `generation.model_hash` | Text or Null | `"c9e3e68f89"` | the checkpoint's hash as the tool wrote it |
/// | `generation.loras` | List or Null | `[{"name": "detail", "strength": 0.8}]` | LoRAs: maps of `name` (Text) and `strength` (Float or Null); Null when the format was not understood well enough to say |
/// | `generation.width` | UInt or Null | `1024` | the width the metadata states (not the pixel width) |
/// | `generation.height` | UInt or Null | `768` | the height the metadata states (not the pixel height) |
/// | `generation.clip_skip` | UInt or Null | `2` | CLIP skip (1 = last layer) |
/// | `generation.denoise` | Float or Null | `0.6` | denoising strength of the (first) sampling pass, when below 1 |
/// | `generation.hires` | Map or Null | `{"upscaler": "4x-UltraSharp", "scale": 2.0, "steps": 15, "denoise": 0.4}` | the high-resolution pass: `upscaler` (Text), `scale` (Float), `steps` (UInt), `denoise` (Float), each or Null |
/// | `generation.character_prompts` | List | `[]` | NovelAI character prompts: maps of `prompt` (Text), `negative_prompt` (Text or Null), `center_x`, `center_y` (Float or Null) |
/// | `generation.use_coords` | Bool or Null | `false` | NovelAI: whether character positions were used |
/// | `generation.use_order` | Bool or Null | `true` | NovelAI: whether character order was used |
/// | `generation.negative_zeroed` | Bool | `false` | whether the negative conditioning is zeroed (ComfyUI `ConditioningZeroOut`) |
/// | `generation.ambiguous` | Bool | `false` | whether several outputs of the graph could have produced this file and nothing said which, several sampling passes made it, or a value was made at run time |
/// | `generation.ambiguity` | List | `["2 sampling passes feed the output …"]` | why fields are not stated or the result is ambiguous (Text each) |
/// | `generation.samplers` | List | `[{"node": "3", "class_type": "KSampler", "seed": 42, …}]` | every sampling pass of a node graph feeding the file, in graph order: maps of `node`, `class_type` (Text), `seed` (UInt or Null), `adds_noise` (Bool or Null), `steps` (UInt or Null), `cfg` (Float or Null), `sampler`, `scheduler` (Text or Null), `denoise` (Float or Null), `positive_prompt`, `negative_prompt`, `model` (Text or Null), `loras` (List or Null), `width`, `height` (UInt or Null), `notes` (List of Text) |
/// | `generation.c2pa` | Map or Null | `{"claim_generator": "ChatGPT", "vendor": "OpenAI", "digital_source_type": "…", "ai_generated": true}` | a C2PA manifest's claim: `claim_generator`, `vendor`, `digital_source_type` (Text), `ai_generated` (Bool), each or Null |
/// | `animation.frames` | UInt or Null | `16` | frames: a video track's samples, an animation's frames; for Matroska, duration times frame rate |
/// | `animation.duration` | Float or Null | `2.0` | seconds |
/// | `animation.fps` | Float or Null | `8.0` | frames per second |
/// | `graph` | Map or Null | `{"nodes": ["KSampler", "FaceDetailer"], "strings": ["a castle"]}` | what an embedded node graph contains, for search: `nodes` (the distinct node classes) and `strings` (its distinct literal strings), Lists of Text; Null without a graph |
/// | `graph.nodes` | List | `["KSampler", "FaceDetailer"]` | the distinct node classes of the graph (API prompt and UI workflow) |
/// | `graph.strings` | List | `["a castle"]` | the distinct literal strings of node inputs and widgets (bounded) |
/// | `exif.camera_make` | Text or Null | `"Canon"` | EXIF Make |
/// | `exif.camera_model` | Text or Null | `"EOS R5"` | EXIF Model |
/// | `exif.software` | Text or Null | `"ComfyUI"` | EXIF Software |
/// | `exif.date_time` | Text or Null | `"2024:05:01 12:00:00"` | EXIF DateTime |
/// | `exif.date_time_original` | Text or Null | `"2024:05:01 12:00:00"` | EXIF DateTimeOriginal |
/// | `exif.orientation` | UInt or Null | `1` | EXIF Orientation |
/// | `exif.pixel_width` | UInt or Null | `1024` | EXIF PixelXDimension |
/// | `exif.pixel_height` | UInt or Null | `768` | EXIF PixelYDimension |
pub const METADATA: &str = "metadata";

/// `search-index`: adds the asset to the search index as soon as it is
/// searchable (a stage of `kiln-search`, registered by whoever opens the
/// index).
///
/// Tier 2; runs after: `metadata`.
///
/// | key | type | example | meaning |
/// |---|---|---|---|
/// | `indexed` | Bool | `true` | always true: the asset is in the index |
/// | `date` | Int or Null | `1714564800` | the file's modification time in seconds since the Unix epoch, so a rebuild of the index need not read the file |
pub const SEARCH_INDEX: &str = "search-index";

/// `embed`: a compact perceptual embedding of the proxy image and a 64-bit
/// perceptual hash (visual similarity, not semantics).
///
/// Tier 3; runs after: `thumbnail`, `metadata`; reads the proxy.
///
/// | key | type | example | meaning |
/// |---|---|---|---|
/// | `vector` | Bytes | | the L2-normalised vector: `dims` little-endian `f32`s |
/// | `dims` | UInt | `143` | the vector's dimensions |
/// | `phash` | UInt | `9214036217438265344` | the DCT perceptual hash; at most 10 differing bits mark a near-duplicate |
/// | `version` | UInt | `1` | the embedding's version: vectors of different versions are not comparable |
pub const EMBED: &str = "embed";

/// `score`: a no-reference technical quality score of the proxy image, with
/// the components it is made of (sharpness, noise, exposure; not aesthetics).
///
/// Tier 3; runs after: `thumbnail`, `metadata`; reads the proxy.
///
/// | key | type | example | meaning |
/// |---|---|---|---|
/// | `score` | Float | `71.4` | the overall score, 0 to 100: a weighted geometric mean of the components |
/// | `sharpness` | Float | `0.82` | edge strength, 0 to 1 |
/// | `noise` | Float | `0.9` | absence of noise, 0 to 1 |
/// | `exposure` | Float | `0.75` | absence of clipping and extreme brightness, with a full tonal range, 0 to 1 |
/// | `contrast` | Float | `0.6` | RMS contrast, 0 to 1 |
/// | `colourfulness` | Float | `0.55` | colourfulness, 0.3 to 1 |
/// | `noise_sigma` | Float | `1.8` | the estimated noise standard deviation, in 0–255 levels |
/// | `clipped` | Float | `0.02` | the fraction of 4 × 4 blocks clipped to white (shadow blocks count a quarter) |
pub const SCORE: &str = "score";

/// `cluster`: the asset's session features. Sessions themselves are assigned
/// from all assets' features when they are read, so they never depend on the
/// order in which assets completed.
///
/// Tier 3; runs after: `metadata`.
///
/// | key | type | example | meaning |
/// |---|---|---|---|
/// | `time` | Int or Null | `1714564800` | the file's modification time in seconds since the Unix epoch |
/// | `family` | Text | `"comfyui\|juggernautxl_v9"` | generator and model, lower-cased, joined by `\|` (either may be empty) |
pub const CLUSTER: &str = "cluster";

/// `search-enrich`: re-indexes the asset with its quality score, embedding
/// and session features (a stage of `kiln-search`).
///
/// Tier 3; runs after: `embed`, `score`, `cluster`, `search-index`.
///
/// | key | type | example | meaning |
/// |---|---|---|---|
/// | `indexed` | Bool | `true` | always true: the index holds the enriched asset |
pub const SEARCH_ENRICH: &str = "search-enrich";

/// Every built-in stage, in the order they run for one asset.
///
/// ```
/// use kiln_plugin_api::builtin;
/// assert!(builtin::ALL.contains(&builtin::THUMBNAIL));
/// assert!(!builtin::ALL.contains(&"palette"));
/// ```
pub const ALL: [&str; 8] = [
    HASH,
    THUMBNAIL,
    METADATA,
    SEARCH_INDEX,
    EMBED,
    SCORE,
    CLUSTER,
    SEARCH_ENRICH,
];

/// What a built-in stage declares and writes, as data: the name, tier and
/// `after` list and the facts table from that stage's documentation above,
/// for tools that show the schema (`kiln stages --schema`).
///
/// ```
/// use kiln_plugin_api::builtin;
/// let metadata = builtin::schema(builtin::METADATA).expect("a built-in stage");
/// assert_eq!(metadata.tier, 2);
/// let seed = metadata.facts.iter().find(|f| f.key == "generation.seed").expect("documented");
/// assert_eq!(seed.types, "UInt or Null");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageSchema {
    /// The stage's name, one of [`ALL`].
    pub name: &'static str,
    /// The tier the stage belongs to (1 to 3).
    pub tier: u8,
    /// The stages it runs after.
    pub after: &'static [&'static str],
    /// The facts it writes, top-level keys first where a map's keys follow it.
    pub facts: &'static [FactSchema],
}

/// One fact a built-in stage writes: a row of its documented table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FactSchema {
    /// The key; `a.b` is key `b` of the map under `a`, as for
    /// [`Value::path`](crate::Value::path) with the parts split at dots.
    pub key: &'static str,
    /// The [`Value`](crate::Value) variants it holds, e.g. `"UInt"` or
    /// `"Text or Null"`.
    pub types: &'static str,
    /// An example value, as JSON-like text; empty when none is given.
    pub example: &'static str,
    /// What it means.
    pub meaning: &'static str,
}

const fn fact(
    key: &'static str,
    types: &'static str,
    example: &'static str,
    meaning: &'static str,
) -> FactSchema {
    FactSchema {
        key,
        types,
        example,
        meaning,
    }
}

/// The schema of every built-in stage, in the order of [`ALL`].
///
/// ```
/// use kiln_plugin_api::builtin;
/// let names: Vec<&str> = builtin::SCHEMA.iter().map(|s| s.name).collect();
/// assert_eq!(names, builtin::ALL);
/// ```
pub const SCHEMA: [StageSchema; 8] = [
    StageSchema {
        name: HASH,
        tier: 1,
        after: &[],
        facts: &[
            fact("size", "UInt", "129702", "bytes hashed: the file's length"),
            fact(
                "hash",
                "Text",
                r#""9c1e…""#,
                "the blake3 digest, 64 lower-case hex digits",
            ),
        ],
    },
    StageSchema {
        name: THUMBNAIL,
        tier: 1,
        after: &[HASH],
        facts: &[
            fact(
                "format",
                "Text",
                r#""PNG""#,
                r#"the decoded format: `"PNG"`, `"JPEG"`, `"WebP"`, `"GIF"`, or a video's container, `"MP4"` or `"Matroska"` (its frame taken by ffmpeg)"#,
            ),
            fact(
                "width",
                "UInt",
                "1024",
                "width as displayed, after EXIF orientation",
            ),
            fact(
                "height",
                "UInt",
                "768",
                "height as displayed, after EXIF orientation",
            ),
            fact(
                "orientation",
                "UInt",
                "1",
                "the EXIF orientation applied, 1 (none) to 8",
            ),
            fact(
                "orientation_applied",
                "Bool",
                "false",
                "whether `orientation` is not 1",
            ),
            fact(
                "has_alpha",
                "Bool",
                "false",
                "whether the pixels have an alpha channel",
            ),
            fact(
                "uses_alpha",
                "Bool",
                "false",
                "whether some pixel is not fully opaque",
            ),
            fact(
                "animated",
                "Bool",
                "false",
                "whether the file is animated (the first frame was used)",
            ),
            fact(
                "color_type",
                "Text",
                r#""Rgb8""#,
                r#"the decoded colour type, e.g. `"Rgba8"`, `"L8"`, `"Rgb16"`"#,
            ),
            fact(
                "truncated",
                "Bool",
                "false",
                "whether the file is shorter than its format says",
            ),
            fact(
                "placeholder",
                "Bool",
                "false",
                "whether the thumbnail and proxy are a placeholder, not the file's pixels (a video with no ffmpeg to take its frame); the enrichment gate skips tier 3 for it",
            ),
            fact(
                "note",
                "Text or Null",
                "null",
                "for a placeholder, how to get the real thumbnails",
            ),
            fact("proxy_width", "UInt", "512", "the proxy's width"),
            fact("proxy_height", "UInt", "384", "the proxy's height"),
            fact("thumbnail_width", "UInt", "256", "the thumbnail's width"),
            fact("thumbnail_height", "UInt", "192", "the thumbnail's height"),
        ],
    },
    StageSchema {
        name: METADATA,
        tier: 2,
        after: &[HASH],
        facts: &[
            fact(
                "format",
                "Text or Null",
                r#""png""#,
                r#"the container: `"png"`, `"jpeg"`, `"webp"`, `"gif"`, `"mp4"` or `"matroska"`"#,
            ),
            fact(
                "pixel_width",
                "UInt or Null",
                "1024",
                "the width the image header states",
            ),
            fact(
                "pixel_height",
                "UInt or Null",
                "768",
                "the height the image header states",
            ),
            fact(
                "generation",
                "Map",
                "",
                "the generation parameters, normalised (rows below)",
            ),
            fact(
                "exif",
                "Map or Null",
                "",
                "an EXIF summary (rows below); Null without an EXIF block",
            ),
            fact(
                "animation",
                "Map or Null",
                "",
                "a video's or an animated image's length as its container states it (rows below); Null for a still image",
            ),
            fact(
                "raw",
                "Map",
                r#"{"tEXt:parameters": "a cat…"}"#,
                "every metadata text as found, by location (`tEXt:prompt`, `iTXt:parameters`, `EXIF:UserComment`, `COM`, `XMP`; a repeated location gets `#2`, …), values Text",
            ),
            fact(
                "problems",
                "List",
                r#"[{"location": "tEXt:prompt", "message": "…"}]"#,
                "what was wrong with the metadata: maps of `location` and `message`, both Text",
            ),
            fact(
                "generation.generator",
                "Text or Null",
                r#""comfyui""#,
                "the tool family that wrote the metadata: `comfyui`, `a1111`, `novelai`, `invokeai`, `swarmui`, `fooocus`, `ruined-fooocus`, `civitai`, `hf-space`, `stability-matrix`, `tensorart`, `c2pa-only`",
            ),
            fact(
                "generation.metadata_format",
                "Text or Null",
                r#""comfyui-graph""#,
                "the format the parameters were read from, e.g. `a1111-infotext`, `novelai-json`",
            ),
            fact(
                "generation.positive_prompt",
                "Text or Null",
                r#""a lighthouse at dusk""#,
                "the positive prompt",
            ),
            fact(
                "generation.negative_prompt",
                "Text or Null",
                r#""blurry""#,
                "the negative prompt",
            ),
            fact(
                "generation.seed",
                "UInt or Null",
                "1234567890",
                "the seed (the full `u64` range occurs)",
            ),
            fact("generation.steps", "UInt or Null", "30", "sampling steps"),
            fact("generation.cfg", "Float or Null", "7.0", "the CFG scale"),
            fact(
                "generation.sampler",
                "Text or Null",
                r#""euler_ancestral""#,
                "the sampler, as the tool names it",
            ),
            fact(
                "generation.scheduler",
                "Text or Null",
                r#""karras""#,
                "the noise schedule, as the tool names it",
            ),
            fact(
                "generation.model",
                "Text or Null",
                r#""juggernautXL_v9""#,
                "the checkpoint or UNET, as written",
            ),
            fact(
                "generation.model_hash",
                "Text or Null",
                r#""c9e3e68f89""#,
                "the checkpoint's hash as the tool wrote it",
            ),
            fact(
                "generation.loras",
                "List or Null",
                r#"[{"name": "detail", "strength": 0.8}]"#,
                "LoRAs: maps of `name` (Text) and `strength` (Float or Null); Null when the format was not understood well enough to say",
            ),
            fact(
                "generation.width",
                "UInt or Null",
                "1024",
                "the width the metadata states (not the pixel width)",
            ),
            fact(
                "generation.height",
                "UInt or Null",
                "768",
                "the height the metadata states (not the pixel height)",
            ),
            fact(
                "generation.clip_skip",
                "UInt or Null",
                "2",
                "CLIP skip (1 = last layer)",
            ),
            fact(
                "generation.denoise",
                "Float or Null",
                "0.6",
                "denoising strength of the (first) sampling pass, when below 1",
            ),
            fact(
                "generation.hires",
                "Map or Null",
                r#"{"upscaler": "4x-UltraSharp", "scale": 2.0, "steps": 15, "denoise": 0.4}"#,
                "the high-resolution pass: `upscaler` (Text), `scale` (Float), `steps` (UInt), `denoise` (Float), each or Null",
            ),
            fact(
                "generation.character_prompts",
                "List",
                "[]",
                "NovelAI character prompts: maps of `prompt` (Text), `negative_prompt` (Text or Null), `center_x`, `center_y` (Float or Null)",
            ),
            fact(
                "generation.use_coords",
                "Bool or Null",
                "false",
                "NovelAI: whether character positions were used",
            ),
            fact(
                "generation.use_order",
                "Bool or Null",
                "true",
                "NovelAI: whether character order was used",
            ),
            fact(
                "generation.negative_zeroed",
                "Bool",
                "false",
                "whether the negative conditioning is zeroed (ComfyUI `ConditioningZeroOut`)",
            ),
            fact(
                "generation.ambiguous",
                "Bool",
                "false",
                "whether several outputs of the graph could have produced this file and nothing said which, several sampling passes made it, or a value was made at run time",
            ),
            fact(
                "generation.ambiguity",
                "List",
                r#"["2 sampling passes feed the output …"]"#,
                "why fields are not stated or the result is ambiguous (Text each)",
            ),
            fact(
                "generation.samplers",
                "List",
                r#"[{"node": "3", "class_type": "KSampler", "seed": 42, …}]"#,
                "every sampling pass of a node graph feeding the file, in graph order: maps of `node`, `class_type` (Text), `seed` (UInt or Null), `adds_noise` (Bool or Null), `steps` (UInt or Null), `cfg` (Float or Null), `sampler`, `scheduler` (Text or Null), `denoise` (Float or Null), `positive_prompt`, `negative_prompt`, `model` (Text or Null), `loras` (List or Null), `width`, `height` (UInt or Null), `notes` (List of Text)",
            ),
            fact(
                "generation.c2pa",
                "Map or Null",
                r#"{"claim_generator": "ChatGPT", "vendor": "OpenAI", "digital_source_type": "…", "ai_generated": true}"#,
                "a C2PA manifest's claim: `claim_generator`, `vendor`, `digital_source_type` (Text), `ai_generated` (Bool), each or Null",
            ),
            fact(
                "animation.frames",
                "UInt or Null",
                "16",
                "frames: a video track's samples, an animation's frames; for Matroska, duration times frame rate",
            ),
            fact("animation.duration", "Float or Null", "2.0", "seconds"),
            fact("animation.fps", "Float or Null", "8.0", "frames per second"),
            fact(
                "graph",
                "Map or Null",
                r#"{"nodes": ["KSampler", "FaceDetailer"], "strings": ["a castle"]}"#,
                "what an embedded node graph contains, for search: `nodes` (the distinct node classes) and `strings` (its distinct literal strings), Lists of Text; Null without a graph",
            ),
            fact(
                "graph.nodes",
                "List",
                r#"["KSampler", "FaceDetailer"]"#,
                "the distinct node classes of the graph (API prompt and UI workflow)",
            ),
            fact(
                "graph.strings",
                "List",
                r#"["a castle"]"#,
                "the distinct literal strings of node inputs and widgets (bounded)",
            ),
            fact(
                "exif.camera_make",
                "Text or Null",
                r#""Canon""#,
                "EXIF Make",
            ),
            fact(
                "exif.camera_model",
                "Text or Null",
                r#""EOS R5""#,
                "EXIF Model",
            ),
            fact(
                "exif.software",
                "Text or Null",
                r#""ComfyUI""#,
                "EXIF Software",
            ),
            fact(
                "exif.date_time",
                "Text or Null",
                r#""2024:05:01 12:00:00""#,
                "EXIF DateTime",
            ),
            fact(
                "exif.date_time_original",
                "Text or Null",
                r#""2024:05:01 12:00:00""#,
                "EXIF DateTimeOriginal",
            ),
            fact("exif.orientation", "UInt or Null", "1", "EXIF Orientation"),
            fact(
                "exif.pixel_width",
                "UInt or Null",
                "1024",
                "EXIF PixelXDimension",
            ),
            fact(
                "exif.pixel_height",
                "UInt or Null",
                "768",
                "EXIF PixelYDimension",
            ),
        ],
    },
    StageSchema {
        name: SEARCH_INDEX,
        tier: 2,
        after: &[METADATA],
        facts: &[
            fact(
                "indexed",
                "Bool",
                "true",
                "always true: the asset is in the index",
            ),
            fact(
                "date",
                "Int or Null",
                "1714564800",
                "the file's modification time in seconds since the Unix epoch, so a rebuild of the index need not read the file",
            ),
        ],
    },
    StageSchema {
        name: EMBED,
        tier: 3,
        after: &[THUMBNAIL, METADATA],
        facts: &[
            fact(
                "vector",
                "Bytes",
                "",
                "the L2-normalised vector: `dims` little-endian `f32`s",
            ),
            fact("dims", "UInt", "143", "the vector's dimensions"),
            fact(
                "phash",
                "UInt",
                "9214036217438265344",
                "the DCT perceptual hash; at most 10 differing bits mark a near-duplicate",
            ),
            fact(
                "version",
                "UInt",
                "1",
                "the embedding's version: vectors of different versions are not comparable",
            ),
        ],
    },
    StageSchema {
        name: SCORE,
        tier: 3,
        after: &[THUMBNAIL, METADATA],
        facts: &[
            fact(
                "score",
                "Float",
                "71.4",
                "the overall score, 0 to 100: a weighted geometric mean of the components",
            ),
            fact("sharpness", "Float", "0.82", "edge strength, 0 to 1"),
            fact("noise", "Float", "0.9", "absence of noise, 0 to 1"),
            fact(
                "exposure",
                "Float",
                "0.75",
                "absence of clipping and extreme brightness, with a full tonal range, 0 to 1",
            ),
            fact("contrast", "Float", "0.6", "RMS contrast, 0 to 1"),
            fact("colourfulness", "Float", "0.55", "colourfulness, 0.3 to 1"),
            fact(
                "noise_sigma",
                "Float",
                "1.8",
                "the estimated noise standard deviation, in 0–255 levels",
            ),
            fact(
                "clipped",
                "Float",
                "0.02",
                "the fraction of 4 × 4 blocks clipped to white (shadow blocks count a quarter)",
            ),
        ],
    },
    StageSchema {
        name: CLUSTER,
        tier: 3,
        after: &[METADATA],
        facts: &[
            fact(
                "time",
                "Int or Null",
                "1714564800",
                "the file's modification time in seconds since the Unix epoch",
            ),
            fact(
                "family",
                "Text",
                r#""comfyui|juggernautxl_v9""#,
                "generator and model, lower-cased, joined by `|` (either may be empty)",
            ),
        ],
    },
    StageSchema {
        name: SEARCH_ENRICH,
        tier: 3,
        after: &[EMBED, SCORE, CLUSTER, SEARCH_INDEX],
        facts: &[fact(
            "indexed",
            "Bool",
            "true",
            "always true: the index holds the enriched asset",
        )],
    },
];

/// The schema of the built-in stage of this name; `None` for any other
/// name.
///
/// ```
/// use kiln_plugin_api::builtin;
/// assert_eq!(builtin::schema(builtin::HASH).map(|s| s.tier), Some(1));
/// assert!(builtin::schema("palette").is_none());
/// ```
pub fn schema(stage: &str) -> Option<&'static StageSchema> {
    SCHEMA.iter().find(|s| s.name == stage)
}
