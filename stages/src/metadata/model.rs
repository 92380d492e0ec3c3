//! The normalised shape every generator format is mapped to.

/// A LoRA (or LyCORIS, …) applied during generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Lora {
    /// The name as written (file name or network name).
    pub name: String,
    /// The model strength, when stated.
    pub strength: Option<f64>,
}

/// A second (upscaling) pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hires {
    /// The upscaler model or method.
    pub upscaler: Option<String>,
    /// The scale factor.
    pub scale: Option<f64>,
    /// Sampling steps of the second pass.
    pub steps: Option<u64>,
    /// Denoising strength of the second pass.
    pub denoise: Option<f64>,
}

/// A per-character prompt (NovelAI V4 multi-character generation).
#[derive(Debug, Clone, PartialEq)]
pub struct CharacterPrompt {
    /// The character's prompt.
    pub prompt: String,
    /// The character's negative prompt, when stated.
    pub negative_prompt: Option<String>,
    /// Where the character is placed, as `(x, y)` in 0..1.
    pub center: Option<(f64, f64)>,
}

/// What a C2PA manifest says about the image's origin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct C2pa {
    /// The program that signed the claim.
    pub claim_generator: Option<String>,
    /// The vendor, derived from the claim generator (e.g. `openai`).
    pub vendor: Option<String>,
    /// The IPTC digital source type of the creating action.
    pub digital_source_type: Option<String>,
    /// Whether the source type says a trained model made the image.
    pub ai_generated: Option<bool>,
}

/// What a node graph embedded in the file contains, for search: the node
/// classes and the literal strings, also where the resolver states nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GraphText {
    /// The distinct node classes, in order of first appearance.
    pub nodes: Vec<String>,
    /// The distinct literal strings of node inputs and widgets.
    pub strings: Vec<String>,
}

/// One sampling pass of a node graph (a sampler, a detailer, a refiner…),
/// as the graph states it. Values the pass takes through links that could
/// not be followed to a literal are `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SamplingPass {
    /// The node's id in the graph.
    pub node: String,
    /// The node's class, as written.
    pub class_type: String,
    /// The seed of the noise the pass adds.
    pub seed: Option<u64>,
    /// `Some(false)` when the pass adds no noise (it continues another
    /// pass's latent); its seed then does not shape the image.
    pub adds_noise: Option<bool>,
    /// Sampling steps.
    pub steps: Option<u64>,
    /// Guidance scale.
    pub cfg: Option<f64>,
    /// The sampler.
    pub sampler: Option<String>,
    /// The noise schedule.
    pub scheduler: Option<String>,
    /// Denoising strength.
    pub denoise: Option<f64>,
    /// The prompt the positive conditioning was encoded from.
    pub positive_prompt: Option<String>,
    /// The prompt the negative conditioning was encoded from.
    pub negative_prompt: Option<String>,
    /// The checkpoint or UNET the pass samples with.
    pub model: Option<String>,
    /// LoRAs applied to that model, in order.
    pub loras: Option<Vec<Lora>>,
    /// The size of the empty latent the pass starts from (not stated for
    /// encoded or resized latents).
    pub width: Option<u64>,
    /// See `width`.
    pub height: Option<u64>,
    /// Why values of this pass are unknown, and what the pass is.
    pub notes: Vec<String>,
}

/// Generation parameters, normalised across tools. A field is `None` when
/// the metadata does not state it; values made only at run time (a seed
/// drawn by a random node, a prompt written by an LLM node) are `None` too.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Generation {
    /// The tool family that wrote the metadata: `comfyui`, `a1111`, `novelai`,
    /// `invokeai`, `swarmui`, `fooocus`, `ruined-fooocus`, `civitai`,
    /// `hf-space`, `stability-matrix`, `tensorart`, `c2pa-only`.
    pub generator: Option<String>,
    /// The format the parameters were read from, e.g. `a1111-infotext`.
    pub metadata_format: Option<String>,
    /// The prompt.
    pub positive_prompt: Option<String>,
    /// The negative prompt.
    pub negative_prompt: Option<String>,
    /// The seed (the full `u64` range is used by some tools).
    pub seed: Option<u64>,
    /// Sampling steps.
    pub steps: Option<u64>,
    /// Classifier-free guidance scale.
    pub cfg: Option<f64>,
    /// The sampler, as the tool names it.
    pub sampler: Option<String>,
    /// The noise schedule, as the tool names it.
    pub scheduler: Option<String>,
    /// The checkpoint or UNET, as written.
    pub model: Option<String>,
    /// The model hash, as written.
    pub model_hash: Option<String>,
    /// LoRAs; `None` when the format was not understood well enough to say.
    pub loras: Option<Vec<Lora>>,
    /// Generation width stated in the metadata (not the pixel width).
    pub width: Option<u64>,
    /// Generation height stated in the metadata (not the pixel height).
    pub height: Option<u64>,
    /// CLIP skip (1 = last layer).
    pub clip_skip: Option<u64>,
    /// Denoising strength of the (first) sampling pass, when below 1.
    pub denoise: Option<f64>,
    /// The second (hires / upscale) pass.
    pub hires: Option<Hires>,
    /// NovelAI per-character prompts.
    pub character_prompts: Vec<CharacterPrompt>,
    /// NovelAI: whether character positions were used.
    pub use_coords: Option<bool>,
    /// NovelAI: whether character order was used.
    pub use_order: Option<bool>,
    /// The negative conditioning is zeroed (ComfyUI `ConditioningZeroOut`).
    pub negative_zeroed: bool,
    /// Several outputs could have produced this file and nothing said which,
    /// several sampling passes made it, or a value was made at run time.
    pub ambiguous: bool,
    /// Why fields are not stated or the result is ambiguous (several outputs,
    /// passes that disagree, a value that cannot be resolved).
    pub ambiguity: Vec<String>,
    /// Every sampling pass of a node graph feeding the file, in graph order
    /// (empty for formats without a graph).
    pub samplers: Vec<SamplingPass>,
    /// C2PA provenance, when the file carries a manifest.
    pub c2pa: Option<C2pa>,
}

impl Generation {
    /// Whether any generation parameter is known.
    pub fn is_empty(&self) -> bool {
        self.positive_prompt.is_none()
            && self.negative_prompt.is_none()
            && self.seed.is_none()
            && self.steps.is_none()
            && self.cfg.is_none()
            && self.sampler.is_none()
            && self.model.is_none()
    }

    /// Fills every field that `self` lacks from `other`.
    pub(crate) fn fill_from(&mut self, other: &Generation) {
        fn fill<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
        fill(&mut self.positive_prompt, &other.positive_prompt);
        fill(&mut self.negative_prompt, &other.negative_prompt);
        fill(&mut self.seed, &other.seed);
        fill(&mut self.steps, &other.steps);
        fill(&mut self.cfg, &other.cfg);
        fill(&mut self.sampler, &other.sampler);
        fill(&mut self.scheduler, &other.scheduler);
        fill(&mut self.model, &other.model);
        fill(&mut self.model_hash, &other.model_hash);
        fill(&mut self.loras, &other.loras);
        fill(&mut self.width, &other.width);
        fill(&mut self.height, &other.height);
        fill(&mut self.clip_skip, &other.clip_skip);
        fill(&mut self.denoise, &other.denoise);
        fill(&mut self.hires, &other.hires);
    }
}
