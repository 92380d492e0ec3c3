//! What a stage declares about itself: [`StageInfo`] and [`CostClass`].

use serde::{Deserialize, Serialize};

/// What a stage mostly spends: the engine limits concurrency per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CostClass {
    /// Mostly waiting on the file system; cheap on CPU.
    Io,
    /// CPU-bound (decoding, resizing, scoring); run at most one per core.
    Cpu,
}

/// What a stage declares about itself.
///
/// Built with [`StageInfo::new`] and the builder methods; the fields stay
/// public to read. The struct is `#[non_exhaustive]` so that a later version
/// can add a declaration (with its builder method and a new
/// [envelope](crate::envelope) version) without breaking any stage.
///
/// ```
/// use kiln_plugin_api::{CostClass, StageInfo, builtin};
///
/// let info = StageInfo::new("palette", 2, 3)
///     .after([builtin::THUMBNAIL])
///     .cost(CostClass::Cpu)
///     .needs_proxy(true);
/// assert_eq!(info.name, "palette");
/// assert_eq!(info.after, ["thumbnail"]);
/// assert!(info.concurrent, "stages are concurrent unless they say otherwise");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StageInfo {
    /// Unique name, e.g. `"thumbnail"`. A plugin with the same name as a
    /// built-in stage may replace it when asked to.
    pub name: String,
    /// Bumping the version lets kiln re-run only this stage on existing assets.
    pub version: u32,
    /// 1 browsable, 2 searchable, 3 enriched.
    pub tier: u8,
    /// Names of the stages that must have finished for an asset before this
    /// stage runs on it. A stage with no predecessors runs first.
    pub after: Vec<String>,
    /// Whether the stage is CPU- or I/O-bound.
    pub cost: CostClass,
    /// Whether the stage reads the proxy image made in tier 1.
    pub needs_proxy: bool,
    /// Whether one instance may process several inputs at the same time. When
    /// false the host never calls [`Stage::process`](crate::Stage::process)
    /// concurrently.
    pub concurrent: bool,
}

impl StageInfo {
    /// A stage with no predecessors, CPU-bound, concurrent, not needing the proxy.
    pub fn new(name: impl Into<String>, version: u32, tier: u8) -> Self {
        StageInfo {
            name: name.into(),
            version,
            tier,
            after: Vec::new(),
            cost: CostClass::Cpu,
            needs_proxy: false,
            concurrent: true,
        }
    }

    /// Sets the stages this one runs after.
    pub fn after<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.after = names.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the cost class.
    pub fn cost(mut self, cost: CostClass) -> Self {
        self.cost = cost;
        self
    }

    /// Marks the stage as reading the proxy image.
    pub fn needs_proxy(mut self, needs_proxy: bool) -> Self {
        self.needs_proxy = needs_proxy;
        self
    }

    /// Marks whether one instance may process concurrently.
    pub fn concurrent(mut self, concurrent: bool) -> Self {
        self.concurrent = concurrent;
        self
    }
}
