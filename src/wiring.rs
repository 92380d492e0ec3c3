//! Wiring the engine to the built-in stages and to plugins.

use kiln_engine::plugin::{PluginError, load_plugin};
use kiln_engine::{Config, Engine, EngineError, GraphError};
use kiln_plugin_api::Stage;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The built-in stages, in dependency order: hash and thumbnail (tier 1),
/// metadata (tier 2).
pub fn builtin_stages() -> Vec<Arc<dyn Stage>> {
    vec![
        Arc::new(kiln_stages::hash::HashStage::new()),
        Arc::new(kiln_stages::thumbnail::ThumbnailStage::new()),
        Arc::new(kiln_stages::metadata::MetadataStage),
        Arc::new(kiln_stages::embed::EmbedStage::default()),
        Arc::new(kiln_stages::score::ScoreStage::default()),
        Arc::new(kiln_stages::cluster::ClusterStage),
    ]
}

/// Where a registered stage came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StageSource {
    /// Compiled into kiln.
    Builtin,
    /// Loaded from this shared library.
    Plugin(PathBuf),
}

/// What to load besides the built-in stages.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Shared libraries to load stages from.
    pub plugins: Vec<PathBuf>,
    /// Names of built-in stages that a plugin of the same name may replace.
    pub replace: Vec<String>,
    /// The engine's configuration.
    pub config: Config,
}

/// Why a store could not be opened with its stages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The store itself could not be opened.
    #[error("cannot open the store in {dir}: {source}")]
    Store {
        /// The store folder.
        dir: PathBuf,
        /// The engine's error.
        source: EngineError,
    },
    /// A plugin could not be loaded.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The search index could not be opened.
    #[error(transparent)]
    Search(#[from] kiln_search::SearchError),
    /// A stage could not be registered.
    #[error("cannot register stage `{stage}`{from}: {source}", from = .plugin.as_ref().map(|p| format!(" from {}", p.display())).unwrap_or_default())]
    Stage {
        /// The stage's name.
        stage: String,
        /// The plugin it came from, if any.
        plugin: Option<PathBuf>,
        /// The graph's error.
        source: GraphError,
    },
    /// The stages do not form a valid graph (an unknown `after`, a cycle).
    #[error("the stages do not fit together: {0}")]
    Graph(GraphError),
    /// `--replace-stage` named a stage that no plugin provides.
    #[error("--replace-stage {0}: no loaded plugin provides a stage named `{0}`")]
    NothingReplaces(String),
}

/// Opens the store in `dir` with the built-in stages and the given plugins,
/// and returns the engine with the source of every stage.
pub fn open_store(
    dir: &Path,
    options: StoreOptions,
) -> Result<(Engine, Vec<(String, StageSource)>), OpenError> {
    let engine = Engine::open(dir, options.config).map_err(|source| OpenError::Store {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut sources = Vec::new();
    for stage in builtin_stages() {
        let name = stage.info().name;
        engine
            .register_stage(stage)
            .map_err(|source| OpenError::Stage {
                stage: name.clone(),
                plugin: None,
                source,
            })?;
        sources.push((name, StageSource::Builtin));
    }
    crate::search::register_search(&engine)?;
    let mut replaced = Vec::new();
    for path in &options.plugins {
        let plugin = load_plugin(path)?;
        let name = plugin.name().to_owned();
        let replace = options.replace.contains(&name);
        let registered = if replace {
            engine.replace_stage(plugin.stage())
        } else {
            engine.register_stage(plugin.stage())
        };
        registered.map_err(|source| OpenError::Stage {
            stage: name.clone(),
            plugin: Some(path.clone()),
            source,
        })?;
        if replace {
            replaced.push(name.clone());
        }
        sources.retain(|(n, _)| *n != name);
        sources.push((name, StageSource::Plugin(path.clone())));
    }
    if let Some(missing) = options.replace.iter().find(|r| !replaced.contains(r)) {
        return Err(OpenError::NothingReplaces(missing.clone()));
    }
    engine.validate().map_err(OpenError::Graph)?;
    Ok((engine, sources))
}
