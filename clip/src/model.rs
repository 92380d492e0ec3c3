//! One ONNX model of a pack (the image side or the text side): its session,
//! the check of its input and output against the pack's configuration, and
//! running it.

use crate::error::{ClipError, Result};
use crate::runtime::Runtime;
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, PrepackedWeights};
use ort::value::{Outlet, Tensor, TensorElementType, ValueType};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The name of every model's output.
pub(crate) const OUTPUT: &str = "embedding";

/// What a model's input must be.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expect<'a> {
    /// The input's name ("image" or "text").
    pub(crate) input: &'a str,
    /// The element types accepted, the first preferred.
    pub(crate) types: &'a [TensorElementType],
    /// The input's dimensions after the batch dimension.
    pub(crate) dims: &'a [i64],
    /// The embedding's length.
    pub(crate) embed_dim: usize,
}

/// A loaded model and what its input takes.
#[derive(Debug)]
pub(crate) struct Model {
    path: PathBuf,
    /// One session per run that may go at once.
    sessions: Vec<Mutex<Session>>,
    /// Where the next run starts looking for a free session.
    next: AtomicUsize,
    /// The packed weights the sessions share (kept alive with them).
    _shared: Option<PrepackedWeights>,
    input: String,
    /// The input's element type.
    pub(crate) input_type: TensorElementType,
    /// Whether one run takes several inputs: a dynamic batch dimension at
    /// both ends, confirmed by [`crate::Clip::load`] on a batch of two.
    pub(crate) batches: bool,
    embed_dim: usize,
}

fn describe(outlet: &Outlet) -> String {
    match outlet.dtype() {
        ValueType::Tensor { ty, shape, .. } => format!("{:?} {ty} {shape:?}", outlet.name()),
        other => format!("{:?} {other:?}", outlet.name()),
    }
}

/// A dimension the model states (`-1` when dynamic) against the one needed.
fn dim_fits(stated: i64, needed: i64) -> bool {
    stated == needed || stated < 0
}

/// A session of `path` with `threads` intra-op threads, sharing packed
/// weights through `shared` when given.
fn session(path: &Path, threads: usize, shared: Option<&PrepackedWeights>) -> Result<Session> {
    let err = |e: ort::Error| ClipError::model(path, e);
    let mut builder = Session::builder()
        .map_err(err)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| ClipError::model(path, e))?
        .with_intra_threads(threads.max(1))
        .map_err(|e| ClipError::model(path, e))?
        .with_inter_threads(1)
        .map_err(|e| ClipError::model(path, e))?
        // Idle threads sleep instead of spinning: the CPU belongs to
        // the rest of the pipeline between runs.
        .with_intra_op_spinning(false)
        .map_err(|e| ClipError::model(path, e))?
        .with_inter_op_spinning(false)
        .map_err(|e| ClipError::model(path, e))?;
    if let Some(shared) = shared {
        builder = builder
            .with_prepacked_weights(shared)
            .map_err(|e| ClipError::model(path, e))?;
    }
    builder
        .commit_from_file(path)
        .map_err(|e| ClipError::model(path, format!("cannot load the model: {e}")))
}

impl Model {
    /// Loads `path` as `lanes` sessions (runs that may go at once, from
    /// different threads) of `threads` intra-op threads each, and checks
    /// its input and output against `expect`. The lanes share the weights
    /// ONNX Runtime packs for its matrix products.
    pub(crate) fn load(
        _runtime: &Runtime,
        path: &Path,
        threads: usize,
        lanes: usize,
        expect: Expect<'_>,
    ) -> Result<Self> {
        let shared = (lanes > 1).then(PrepackedWeights::new);
        let session = session(path, threads, shared.as_ref())?;
        let shape_error = |what: String| ClipError::invalid(path, what);

        let [input] = session.inputs() else {
            let names: Vec<String> = session.inputs().iter().map(describe).collect();
            return Err(shape_error(format!(
                "has inputs [{}]; a CLIP model has one, {:?}",
                names.join(", "),
                expect.input
            )));
        };
        let wanted_input = format!(
            "{:?} {} [N, {}]",
            expect.input,
            expect.types[0],
            expect
                .dims
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let (input_type, input_shape) = match input.dtype() {
            ValueType::Tensor { ty, shape, .. } => (*ty, shape.to_vec()),
            _ => {
                return Err(shape_error(format!(
                    "input {} is not a tensor; expected {wanted_input}",
                    describe(input)
                )));
            }
        };
        let input_fits = input.name() == expect.input
            && expect.types.contains(&input_type)
            && input_shape.len() == expect.dims.len() + 1
            && (input_shape[0] == 1 || input_shape[0] < 0)
            && input_shape[1..]
                .iter()
                .zip(expect.dims)
                .all(|(s, n)| dim_fits(*s, *n));
        if !input_fits {
            return Err(shape_error(format!(
                "input is {}; this pack's config needs {wanted_input}",
                describe(input)
            )));
        }
        let output = session.outputs().iter().find(|o| o.name() == OUTPUT);
        let wanted_output = format!("{OUTPUT:?} f32 [N, {}]", expect.embed_dim);
        let output_shape = output.and_then(|o| match o.dtype() {
            ValueType::Tensor { ty, shape, .. }
                if *ty == TensorElementType::Float32
                    && shape.len() == 2
                    && dim_fits(shape[0], 1)
                    && dim_fits(shape[1], expect.embed_dim as i64) =>
            {
                Some(shape.to_vec())
            }
            _ => None,
        });
        let Some(output_shape) = output_shape else {
            let names: Vec<String> = session.outputs().iter().map(describe).collect();
            return Err(shape_error(format!(
                "outputs are [{}]; this pack's config needs {wanted_output}",
                names.join(", ")
            )));
        };
        // Several inputs a run only when both ends say so: a model whose
        // input is dynamic but whose output is [1, D] was built for one.
        let batches = input_shape[0] < 0 && output_shape[0] < 0;
        let input = input.name().to_owned();
        let mut sessions = vec![Mutex::new(session)];
        for _ in 1..lanes.max(1) {
            sessions.push(Mutex::new(self::session(path, threads, shared.as_ref())?));
        }
        Ok(Self {
            path: path.to_path_buf(),
            input,
            input_type,
            batches,
            embed_dim: expect.embed_dim,
            sessions,
            next: AtomicUsize::new(0),
            _shared: shared,
        })
    }

    /// A session for one run: a free one if there is, else one to wait
    /// for, taken in turn.
    fn session(&self) -> MutexGuard<'_, Session> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.sessions.len();
        for k in 0..count {
            if let Ok(free) = self.sessions[(start + k) % count].try_lock() {
                return free;
            }
        }
        self.sessions[start % count]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs the model on `count` inputs laid one after another in `tensor`
    /// (its shape `[count, dims...]`) and returns their embeddings, each
    /// scaled to unit length.
    pub(crate) fn run(&self, tensor: ort::value::DynTensor, count: usize) -> Result<Vec<Vec<f32>>> {
        let err = |e: ort::Error| ClipError::model(&self.path, e);
        let mut session = self.session();
        let outputs = session
            .run(ort::inputs![self.input.as_str() => tensor])
            .map_err(err)?;
        let value = outputs.get(OUTPUT).ok_or_else(|| {
            ClipError::model(&self.path, format!("the run gave no {OUTPUT:?} output"))
        })?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(err)?;
        if shape.to_vec() != [count as i64, self.embed_dim as i64] {
            return Err(ClipError::model(
                &self.path,
                format!(
                    "the run gave an embedding of shape {shape:?}, not [{count}, {}]",
                    self.embed_dim
                ),
            ));
        }
        data.chunks_exact(self.embed_dim)
            .map(|row| {
                if !row.iter().all(|v| v.is_finite()) {
                    return Err(ClipError::model(
                        &self.path,
                        "the embedding has values that are not finite",
                    ));
                }
                let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
                if norm == 0.0 {
                    return Err(ClipError::model(&self.path, "the embedding is all zeros"));
                }
                Ok(row.iter().map(|v| v / norm).collect())
            })
            .collect()
    }
}

/// A tensor of `shape` from `data`.
pub(crate) fn tensor<T>(shape: Vec<i64>, data: Vec<T>) -> Result<ort::value::DynTensor, String>
where
    T: ort::value::PrimitiveTensorElementType + std::fmt::Debug + Clone + 'static,
{
    Tensor::from_array((shape, data))
        .map(|t| t.upcast())
        .map_err(|e| e.to_string())
}
