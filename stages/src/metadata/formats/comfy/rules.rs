//! The rule table: what the output of a node family is, in terms of its
//! inputs. Every pass-through the resolver follows (reroutes, pipes,
//! contexts, switches, primitives, text joins, seed and resolution nodes)
//! and every node whose value is made at run time is described here, as
//! data; the resolver in `values.rs` only interprets these rules. A node
//! without a rule is read by what its inputs are called (see `values.rs`).
//!
//! A *bundle* is a value that carries named fields (an Impact pipe, an
//! rgthree context, an SDXL tuple): reading field `model` of a bundle made
//! by a node is reading that node's input `model`, or, when the node leaves
//! it out, the field of the bundle it extends (its `base`).

/// How a rule names the classes it applies to (ASCII case is ignored).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Class {
    /// The class name exactly.
    Is(&'static str),
    /// Any class name containing this text.
    Has(&'static str),
}

impl Class {
    fn matches(self, class: &str) -> bool {
        match self {
            Class::Is(name) => class.eq_ignore_ascii_case(name),
            Class::Has(part) => super::graph::contains_ignore_case(class, part),
        }
    }
}

/// What a node's outputs are.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Output slot `i` passes on the first present of the inputs listed
    /// for it (the last entry serves every later slot). An empty list means
    /// the node's only linked input (reroutes).
    Pass(&'static [&'static [&'static str]]),
    /// Outputs by slot: the named input passed on, or (an empty name, or
    /// a slot past the list) a value the node makes itself. Samplers that
    /// hand their model and conditioning on beside the latent (Efficiency).
    Outputs(&'static [&'static str]),
    /// A bundle maker: slot 0 is the bundle of the node's inputs on top of
    /// the bundle in input `base` (if any); slot `i ≥ 1` is field
    /// `fields[i - 1]` of that bundle.
    Bundle {
        base: &'static str,
        fields: &'static [&'static str],
    },
    /// A bundle reader: slot `i` is field `fields[i]` of the bundle in input
    /// `bundle` (a field named `*` passes the bundle itself on).
    Unpack {
        bundle: &'static str,
        fields: &'static [&'static str],
    },
    /// Like `Bundle`, choosing the bundle at run time: the first of the
    /// inputs whose name starts with `prefix` that is connected (rgthree
    /// switches pass the first input that is not empty; a muted node's
    /// link is gone from the saved graph).
    FirstConnected {
        prefix: &'static str,
        fields: &'static [&'static str],
    },
    /// One of several inputs, chosen by a boolean or index input whose
    /// value is in the graph.
    Switch,
    /// The text inputs joined (in name order) with the `delimiter` input.
    Join,
    /// A literal value node: slot 0 is its value input.
    Literal,
    /// A text made from a template at run time, unless the graph also
    /// holds the result: the named input, when it has no run-time syntax
    /// left (`__wildcard__`, `{a|b}`). Impact's wildcard nodes store the
    /// populated text there.
    Template { result: &'static str },
    /// A `WxH` text split into slot 0 (width) and slot 1 (height).
    Resolution { text: &'static str },
    /// A node that encodes its own prompts and loads its own checkpoint
    /// (Efficiency loaders): slot `i` is the named field; `positive` and
    /// `negative` are its text inputs, `model` its checkpoint, `latent` the
    /// empty latent of its width and height inputs.
    Loader { slots: &'static [&'static str] },
    /// The value is chosen only when the graph runs (a random line, a
    /// wildcard, a file's contents): unknown, with the reason; the literal
    /// template stays in the graph's searchable text.
    Runtime(&'static str),
    /// The value is written by a model when the graph runs (an LLM, a
    /// captioner, a tagger): the graph holds no version of it at all, so
    /// the result is marked ambiguous as well.
    Generated(&'static str),
}

/// One entry of the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    pub(crate) class: Class,
    pub(crate) kind: Kind,
}

const fn rule(class: Class, kind: Kind) -> Rule {
    Rule { class, kind }
}

use Class::{Has, Is};
use Kind::*;

/// The fields of an rgthree context, in output order after the context.
const CONTEXT: &[&str] = &[
    "model", "clip", "vae", "positive", "negative", "latent", "images", "seed",
];

/// The fields of an rgthree big context.
const CONTEXT_BIG: &[&str] = &[
    "model",
    "clip",
    "vae",
    "positive",
    "negative",
    "latent",
    "images",
    "seed",
    "steps",
    "step_refiner",
    "cfg",
    "ckpt_name",
    "sampler",
    "scheduler",
    "clip_width",
    "clip_height",
    "text_pos_g",
    "text_pos_l",
    "text_neg_g",
    "text_neg_l",
    "mask",
    "control_net",
];

const BASIC_PIPE: &[&str] = &["model", "clip", "vae", "positive", "negative"];

const DETAILER_PIPE: &[&str] = &[
    "model",
    "clip",
    "vae",
    "positive",
    "negative",
    "bbox_detector",
    "sam_model_opt",
    "segm_detector_opt",
    "detailer_hook",
];

const SDXL_TUPLE: &[&str] = &[
    "base_model",
    "base_clip",
    "base_positive",
    "base_negative",
    "refiner_model",
    "refiner_clip",
    "refiner_positive",
    "refiner_negative",
];

/// Dedicated sampler nodes of custom sampling, by class, and the sampler
/// name a KSampler would give the same sampler. Others state no sampler.
pub(crate) const SAMPLER_CLASSES: &[(&str, &str)] = &[
    ("SamplerEulerAncestral", "euler_ancestral"),
    ("SamplerEulerAncestralCFGPP", "euler_ancestral_cfg_pp"),
    ("SamplerLMS", "lms"),
    ("SamplerDPMPP_2M_SDE", "dpmpp_2m_sde"),
    ("SamplerDPMPP_3M_SDE", "dpmpp_3m_sde"),
    ("SamplerDPMPP_SDE", "dpmpp_sde"),
    ("SamplerDPMPP_2S_Ancestral", "dpmpp_2s_ancestral"),
    ("SamplerDPMAdaptative", "dpm_adaptive"),
];

/// Dedicated scheduler nodes, by class, and the scheduler name a KSampler
/// would give the same schedule. Others state no scheduler.
pub(crate) const SCHEDULER_CLASSES: &[(&str, &str)] = &[
    ("KarrasScheduler", "karras"),
    ("ExponentialScheduler", "exponential"),
    ("PolyexponentialScheduler", "polyexponential"),
    ("BetaSamplingScheduler", "beta"),
];

/// The name a dedicated sampler or scheduler class stands for.
pub(crate) fn class_name_in(table: &[(&str, &'static str)], class: &str) -> Option<&'static str> {
    table
        .iter()
        .find(|(c, _)| *c == class)
        .map(|(_, name)| *name)
}

/// Inputs that never change what a node outputs (labels, UI helpers): a
/// node the table does not describe passes a text or number on only when
/// it has no other input.
pub(crate) const INERT_INPUTS: &[&str] = &[
    "label",
    "title",
    "show_help",
    "print_to_screen",
    "speak_and_recognation",
    "control_after_generate",
    "control_before_generate",
];

/// LoRA stack nodes that list the stack they extend before their own
/// LoRAs (Comfyroll); other stacks list their own first (Efficiency).
pub(crate) const STACK_UPSTREAM_FIRST: &[Class] =
    &[Has("CR LoRA Stack"), Has("CR Random LoRA Stack")];

/// Whether a LoRA stack node lists its upstream stack first.
pub(crate) fn stack_upstream_first(class: &str) -> bool {
    STACK_UPSTREAM_FIRST.iter().any(|c| c.matches(class))
}

/// The table, searched in order; the first matching rule wins. More
/// specific names come before the broad `Has` patterns.
pub(crate) const RULES: &[Rule] = &[
    // Reroutes and other one-input pass-throughs.
    rule(Is("Reroute"), Pass(&[])),
    rule(Is("Reroute (rgthree)"), Pass(&[])),
    rule(Has("Reroute"), Pass(&[])),
    rule(Is("PrimitiveNode"), Literal),
    // rgthree contexts and switches.
    rule(
        Is("Context Big (rgthree)"),
        Bundle {
            base: "base_ctx",
            fields: CONTEXT_BIG,
        },
    ),
    rule(
        Is("Context Switch Big (rgthree)"),
        FirstConnected {
            prefix: "ctx_",
            fields: CONTEXT_BIG,
        },
    ),
    rule(
        Is("Context Switch (rgthree)"),
        FirstConnected {
            prefix: "ctx_",
            fields: CONTEXT,
        },
    ),
    rule(
        Is("Context Merge (rgthree)"),
        Runtime("a context merge combines its inputs at run time"),
    ),
    rule(
        Is("Context Merge Big (rgthree)"),
        Runtime("a context merge combines its inputs at run time"),
    ),
    rule(
        Is("Context (rgthree)"),
        Bundle {
            base: "base_ctx",
            fields: CONTEXT,
        },
    ),
    rule(
        Is("Any Switch (rgthree)"),
        FirstConnected {
            prefix: "any_",
            fields: &[],
        },
    ),
    rule(Is("Seed (rgthree)"), Literal),
    // Impact Pack pipes.
    rule(
        Is("ToBasicPipe"),
        Bundle {
            base: "",
            fields: &[],
        },
    ),
    rule(
        Is("EditBasicPipe"),
        Bundle {
            base: "basic_pipe",
            fields: &[],
        },
    ),
    rule(
        Is("FromBasicPipe"),
        Unpack {
            bundle: "basic_pipe",
            fields: BASIC_PIPE,
        },
    ),
    rule(
        Is("FromBasicPipe_v2"),
        Unpack {
            bundle: "basic_pipe",
            fields: &["*", "model", "clip", "vae", "positive", "negative"],
        },
    ),
    rule(
        Is("ToDetailerPipe"),
        Bundle {
            base: "",
            fields: &[],
        },
    ),
    rule(
        Is("ToDetailerPipeSDXL"),
        Bundle {
            base: "",
            fields: &[],
        },
    ),
    rule(
        Is("EditDetailerPipe"),
        Bundle {
            base: "detailer_pipe",
            fields: &[],
        },
    ),
    rule(
        Is("EditDetailerPipeSDXL"),
        Bundle {
            base: "detailer_pipe",
            fields: &[],
        },
    ),
    rule(
        Is("FromDetailerPipe"),
        Unpack {
            bundle: "detailer_pipe",
            fields: DETAILER_PIPE,
        },
    ),
    rule(
        Is("FromDetailerPipe_v2"),
        Unpack {
            bundle: "detailer_pipe",
            fields: &[
                "*",
                "model",
                "clip",
                "vae",
                "positive",
                "negative",
                "bbox_detector",
                "sam_model_opt",
                "segm_detector_opt",
                "detailer_hook",
            ],
        },
    ),
    rule(
        Is("BasicPipeToDetailerPipe"),
        Bundle {
            base: "basic_pipe",
            fields: &[],
        },
    ),
    rule(Is("DetailerPipeToBasicPipe"), Pass(&[&["detailer_pipe"]])),
    // Efficiency nodes.
    rule(
        Is("Efficient Loader"),
        Loader {
            slots: &["model", "positive", "negative", "latent", "vae", "clip"],
        },
    ),
    rule(
        Is("Eff. Loader SDXL"),
        Loader {
            slots: &["sdxl_tuple", "latent", "vae"],
        },
    ),
    rule(
        Is("Pack SDXL Tuple"),
        Bundle {
            base: "",
            fields: &[],
        },
    ),
    rule(
        Is("Unpack SDXL Tuple"),
        Unpack {
            bundle: "sdxl_tuple",
            fields: SDXL_TUPLE,
        },
    ),
    rule(
        Is("KSampler (Efficient)"),
        Outputs(&["model", "positive", "negative", "", "optional_vae", ""]),
    ),
    rule(
        Is("KSampler Adv. (Efficient)"),
        Outputs(&["model", "positive", "negative", "", "optional_vae", ""]),
    ),
    rule(
        Is("KSampler SDXL (Eff.)"),
        Outputs(&["sdxl_tuple", "", "optional_vae", ""]),
    ),
    // Text, number and seed primitives of common packs.
    rule(Is("String_"), Literal),
    rule(Is("Text Multiline"), Literal),
    rule(
        Is("Text String"),
        Pass(&[&["text"], &["text_b"], &["text_c"], &["text_d"]]),
    ),
    rule(Is("SeargePromptText"), Literal),
    rule(Is("StringConstantMultiline"), Literal),
    rule(Is("StringConstant"), Literal),
    rule(Is("Constant Number"), Literal),
    rule(
        Is("SeargeSamplerInputs"),
        Pass(&[&["sampler_name"], &["scheduler"]]),
    ),
    rule(Is("Text Concatenate"), Join),
    rule(
        Is("Text Parse Noodle Soup Prompts"),
        Runtime("noodle soup prompts expanded at run time"),
    ),
    rule(
        Has("(NSP)"),
        Runtime("noodle soup prompts expanded at run time"),
    ),
    rule(
        Is("Text Random Line"),
        Runtime("a random line chosen at run time"),
    ),
    rule(
        Is("Text Parse Tokens"),
        Runtime("token substitution at run time"),
    ),
    rule(
        Is("Text Add Token by Input"),
        Runtime("a token defined at run time"),
    ),
    rule(
        Is("Load Text File"),
        Runtime("the contents of a file read at run time"),
    ),
    rule(
        Is("Text Load Line From File"),
        Runtime("a line of a file read at run time"),
    ),
    rule(
        Is("Text File History Loader"),
        Runtime("a file read at run time"),
    ),
    rule(
        Is("ImpactWildcardProcessor"),
        Template {
            result: "populated_text",
        },
    ),
    rule(
        Is("ImpactWildcardEncode"),
        Template {
            result: "populated_text",
        },
    ),
    rule(Has("Wildcard"), Runtime("a wildcard expanded at run time")),
    rule(
        Is("DynamicPrompt"),
        Runtime("a dynamic prompt expanded at run time"),
    ),
    rule(
        Has("Dynamic Prompt"),
        Runtime("a dynamic prompt expanded at run time"),
    ),
    rule(Is("ShowText|pysssss"), Pass(&[&["text"]])),
    rule(Is("Text to Console"), Pass(&[&["text"]])),
    rule(
        Is("SDXL Resolutions (WLSH)"),
        Resolution { text: "resolution" },
    ),
    // Families recognised by part of their name.
    rule(Has("Switch"), Switch),
    rule(Has("Concat"), Join),
    rule(Has("Join String"), Join),
    rule(Has("Random"), Runtime("a value drawn at run time")),
    rule(
        Has("TextGenerate"),
        Generated("text written by a model at run time"),
    ),
    rule(Has("LLM"), Generated("text written by a model at run time")),
    rule(
        Has("Ollama"),
        Generated("text written by a model at run time"),
    ),
    rule(Has("GPT"), Generated("text written by a model at run time")),
    rule(
        Has("Gemini"),
        Generated("text written by a model at run time"),
    ),
    rule(Has("Florence"), Generated("a caption made at run time")),
    rule(Has("Caption"), Generated("a caption made at run time")),
    rule(
        Has("Tagger"),
        Generated("tags made from an image at run time"),
    ),
    rule(Has("Interrogat"), Generated("a caption made at run time")),
    // Vision-language models that write or describe text (not the
    // Qwen-Image text encoders, which encode a literal prompt).
    rule(
        Has("QwenVL"),
        Generated("text written by a model at run time"),
    ),
    rule(Has("JoyCaption"), Generated("a caption made at run time")),
];

/// The rule for a class, if the table has one.
pub(crate) fn rule_for(class: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.class.matches(class))
}
