//! CLIP image and text embeddings for kiln's semantic search.
//!
//! A *pack* is a folder in the layout of Immich's CLIP models (see
//! [`pack`]): an open_clip `config.json`, an image model and a text model in
//! ONNX, the image preprocessing settings and a Hugging Face tokenizer.
//! [`Clip::load`] checks all of it against itself — files present, each
//! model's input and output against the configuration, the tokenizer, a
//! test embedding on each side — and then embeds images and texts exactly
//! as open_clip does: the same resize, crop and normalisation
//! ([`preprocess`](crate::Clip::image_input)), the same tokens
//! ([`Tokenizer`]).
//!
//! The models run in ONNX Runtime, loaded at run time from the library
//! named by `ORT_DYLIB_PATH` or inside an installed `onnxruntime` Python
//! package ([`runtime()`]); without one, [`Clip::load`] says how to get it
//! and nothing else in kiln needs it.
//!
//! A [`Clip`] is `Send + Sync`. Each model's sessions sit behind mutexes:
//! [`Clip::load`] gives each model one session of `threads` intra-op
//! threads, which threads share in turn; [`Clip::load_for_workers`] gives
//! the image model two sessions that split the workers' threads, so that
//! two workers embedding images at once do not wait on each other.
#![deny(missing_docs)]

mod error;
mod model;
pub mod pack;
mod preprocess;
mod runtime;
mod tokenizer;

pub use error::{ClipError, HOW_TO_GET_ORT, Result};
pub use pack::{FileStamp, Interpolation, Pack, PackConfig, PackFile, Preprocess, ResizeMode};
pub use runtime::{ORT_DYLIB_VAR, Runtime, runtime};
pub use tokenizer::{MAX_TEXT_BYTES, MAX_WORD_BYTES, Tokenizer};

use image::{DynamicImage, RgbImage};
use model::{Expect, Model, tensor};
use ort::value::TensorElementType;

/// `Clip` is shared between threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Clip>();
};

/// The most sessions of the image model [`Clip::load_for_workers`] opens.
pub const IMAGE_LANES: usize = 2;

/// The most images one run of a batching image model takes.
pub const MAX_BATCH: usize = 16;

/// A loaded, checked CLIP pack.
#[derive(Debug)]
pub struct Clip {
    pack: Pack,
    tokenizer: Tokenizer,
    /// `None` when loaded for texts only ([`Clip::load_text`]).
    visual: Option<Model>,
    textual: Model,
}

impl Clip {
    /// Opens the pack in `dir`, loads both models with `threads` intra-op
    /// threads each (one inter-op thread), checks them against the pack's
    /// configuration and runs a test embedding on each side.
    ///
    /// # Errors
    /// [`ClipError::Runtime`] without a usable ONNX Runtime; otherwise an
    /// error naming the pack's file at fault and what is wrong with it (see
    /// [`Pack::open`]; a model ONNX Runtime cannot load; an input or output
    /// whose name, type or shape disagrees with `config.json`; a tokenizer
    /// that is not CLIP's; a test embedding that is not finite).
    pub fn load(dir: impl AsRef<std::path::Path>, threads: usize) -> Result<Self> {
        Self::load_lanes(dir, threads, 1, threads)
    }

    /// Like [`Clip::load`], for `workers` threads that embed images at
    /// once: the image model gets [`IMAGE_LANES`] sessions (one per worker
    /// on two cores; their packed weights shared) that split the workers'
    /// threads between them, so two images are embedded at once and
    /// neither run's threads wait on a core the other holds; the text
    /// model, run for one query at a time, gets one session of `workers`
    /// threads. Each further session costs memory (about 400 MB for
    /// ViT-B/32), hence the cap.
    ///
    /// # Errors
    /// As [`Clip::load`].
    pub fn load_for_workers(dir: impl AsRef<std::path::Path>, workers: usize) -> Result<Self> {
        let workers = workers.max(1);
        let lanes = workers.min(IMAGE_LANES);
        Self::load_lanes(dir, workers, lanes, workers / lanes)
    }

    /// Like [`Clip::load`], without the image model: for a process that
    /// only ranks by query texts, which then needs neither the image
    /// model's load time nor its memory. Embedding an image is an error.
    ///
    /// # Errors
    /// As [`Clip::load`], for the files the text side reads.
    pub fn load_text(dir: impl AsRef<std::path::Path>, threads: usize) -> Result<Self> {
        Self::load_lanes(dir, threads.max(1), 0, 0)
    }

    /// `image_lanes` sessions of the image model of `image_threads` each
    /// (none: texts only), one of the text model of `threads`.
    fn load_lanes(
        dir: impl AsRef<std::path::Path>,
        threads: usize,
        image_lanes: usize,
        image_threads: usize,
    ) -> Result<Self> {
        let pack = Pack::open(dir)?;
        let config_path = pack.path(pack::TOKENIZER_CONFIG);
        let tokenizer = Tokenizer::from_files(
            &pack.path(pack::TOKENIZER),
            config_path.is_file().then_some(config_path.as_path()),
            pack.config().context_length,
        )?;
        if let Some(vocab_size) = pack.config().vocab_size
            && tokenizer.max_id() as usize >= vocab_size
        {
            return Err(ClipError::Invalid {
                path: pack.path(pack::TOKENIZER),
                reason: format!(
                    "has token id {}, beyond {}'s text_cfg.vocab_size {vocab_size}",
                    tokenizer.max_id(),
                    pack::CONFIG
                ),
            });
        }
        let runtime = runtime()?;
        let config = pack.config().clone();
        let side = i64::from(config.image_size);
        let visual = if image_lanes == 0 {
            None
        } else {
            Some(Model::load(
                runtime,
                &pack.path(pack::VISUAL_MODEL),
                image_threads,
                image_lanes,
                Expect {
                    input: "image",
                    types: &[TensorElementType::Float32],
                    dims: &[3, side, side],
                    embed_dim: config.embed_dim,
                },
            )?)
        };
        let textual = Model::load(
            runtime,
            &pack.path(pack::TEXTUAL_MODEL),
            threads,
            1,
            Expect {
                input: "text",
                types: &[TensorElementType::Int32, TensorElementType::Int64],
                dims: &[config.context_length as i64],
                embed_dim: config.embed_dim,
            },
        )?;
        let mut clip = Self {
            pack,
            tokenizer,
            visual,
            textual,
        };
        clip.self_test()?;
        Ok(clip)
    }

    /// One embedding on each side, on inputs that exercise the whole path;
    /// then, if the image model says it batches, a batch of two, which must
    /// give what the two give alone (else images go one per run: a model
    /// can declare a dynamic batch and still be built for one).
    fn self_test(&mut self) -> Result<()> {
        if self.visual.is_none() {
            self.embed_text("a photo of a lighthouse at dusk")?;
            return Ok(());
        }
        let size = self.pack.config().image_size;
        let probe = RgbImage::from_fn(size * 2 + 1, size + 3, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
        });
        let alone = self.embed_rgb(&probe)?;
        self.embed_text("a photo of a lighthouse at dusk")?;
        if self.batches_images() {
            let flipped = image::imageops::flip_horizontal(&probe);
            let flipped_alone = self.embed_rgb(&flipped)?;
            let together = self.embed_images(&[probe, flipped]);
            let same = |a: &[f32], b: &[f32]| {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0.0f32, f32::max)
                    < 1e-4
            };
            let batches = matches!(
                together.as_deref(),
                Ok([a, b]) if same(a, &alone) && same(b, &flipped_alone)
            );
            if let Some(visual) = self.visual.as_mut() {
                visual.batches = batches;
            }
        }
        Ok(())
    }

    /// The pack this was loaded from.
    pub fn pack(&self) -> &Pack {
        &self.pack
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The embedding's length, D.
    pub fn dim(&self) -> usize {
        self.pack.config().embed_dim
    }

    /// Whether the image model takes several images in one run (its batch
    /// dimension is dynamic); if not, [`Self::embed_images`] runs one at a
    /// time.
    pub fn batches_images(&self) -> bool {
        self.visual.as_ref().is_some_and(|v| v.batches)
    }

    /// Whether the image model is loaded (not so after
    /// [`Clip::load_text`]).
    pub fn embeds_images(&self) -> bool {
        self.visual.is_some()
    }

    /// The image model's input for `image`: 3 × S × S values, channels
    /// first, as open_clip's eval transform computes them.
    ///
    /// # Errors
    /// [`ClipError::Image`] for an empty image.
    pub fn image_input(&self, image: &RgbImage) -> Result<Vec<f32>> {
        self.pack.preprocess().input(image)
    }

    /// The embedding of a decoded image, unit length. Alpha is dropped (not
    /// composited), as Pillow's `convert("RGB")` does.
    ///
    /// # Errors
    /// As [`Self::embed_rgb`].
    pub fn embed_image(&self, image: &DynamicImage) -> Result<Vec<f32>> {
        match image {
            DynamicImage::ImageRgb8(rgb) => self.embed_rgb(rgb),
            other => self.embed_rgb(&other.to_rgb8()),
        }
    }

    /// The embedding of an 8-bit RGB image, unit length.
    ///
    /// # Errors
    /// [`ClipError::Image`] for an empty image, [`ClipError::Model`] when
    /// ONNX Runtime fails or gives something that is not an embedding.
    pub fn embed_rgb(&self, image: &RgbImage) -> Result<Vec<f32>> {
        let mut out = self.embed_images(std::slice::from_ref(image))?;
        out.pop()
            .ok_or_else(|| ClipError::Image("no embedding came back".into()))
    }

    /// The embeddings of several images, in order: up to [`MAX_BATCH`] per
    /// run when the model batches, else one per run.
    ///
    /// # Errors
    /// As [`Self::embed_rgb`], for the first image that fails.
    pub fn embed_images(&self, images: &[RgbImage]) -> Result<Vec<Vec<f32>>> {
        let Some(visual) = self.visual.as_ref() else {
            return Err(ClipError::model(
                self.pack.path(pack::VISUAL_MODEL),
                "not loaded: this model was loaded for texts only",
            ));
        };
        let per_run = if visual.batches { MAX_BATCH } else { 1 };
        let size = i64::from(self.pack.preprocess().size);
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(per_run) {
            let mut data = Vec::new();
            for image in chunk {
                data.extend(self.image_input(image)?);
            }
            let shape = vec![chunk.len() as i64, 3, size, size];
            let input = tensor(shape, data).map_err(|e| ClipError::Image(e.to_string()))?;
            out.extend(visual.run(input, chunk.len())?);
        }
        Ok(out)
    }

    /// The token ids the text model is given for `text`.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text)
    }

    /// The embedding of a text, unit length. Texts longer than the context
    /// are cut, as open_clip cuts them.
    ///
    /// # Errors
    /// [`ClipError::Model`] when ONNX Runtime fails.
    pub fn embed_text(&self, text: &str) -> Result<Vec<f32>> {
        let ids = self.tokenizer.encode(text);
        let shape = vec![1, ids.len() as i64];
        let input = if self.textual.input_type == TensorElementType::Int64 {
            tensor(shape, ids.iter().map(|&i| i64::from(i)).collect())
        } else {
            tensor(shape, ids.iter().map(|&i| i as i32).collect())
        }
        .map_err(|e| ClipError::model(self.pack.path(pack::TEXTUAL_MODEL), e))?;
        let mut out = self.textual.run(input, 1)?;
        out.pop().ok_or_else(|| {
            ClipError::model(
                self.pack.path(pack::TEXTUAL_MODEL),
                "no embedding came back",
            )
        })
    }
}
