//! Wiring the engine to the built-in stages and to plugins.

use kiln_engine::plugin::{LoadedPlugin, PluginError};
use kiln_engine::{Engine, EngineError, EnrichmentRule, GraphError};
use kiln_plugin_api::{Stage, Value};
use kiln_search::SearchIndex;
use kiln_stages::embed::EnrichmentCriteria;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The built-in stages, in dependency order: hash and thumbnail (tier 1),
/// metadata (tier 2), embed, score and cluster (tier 3).
///
/// Without the search stages, which need the store's index: a
/// [`Kiln`](crate::Kiln) handle registers these and those. Use this list
/// only to run stages on an engine of your own that never searches.
pub fn builtin_stages() -> Vec<Arc<dyn Stage>> {
    vec![
        Arc::new(kiln_stages::hash::HashStage::new()),
        Arc::new(kiln_stages::thumbnail::ThumbnailStage::new()),
        Arc::new(kiln_stages::metadata::MetadataStage),
        Arc::new(kiln_stages::embed::EmbedStage),
        Arc::new(kiln_stages::score::ScoreStage),
        Arc::new(kiln_stages::cluster::ClusterStage),
    ]
}

/// The built-in criteria as the engine's enrichment rule.
#[derive(Debug)]
struct CriteriaRule(EnrichmentCriteria);

impl EnrichmentRule for CriteriaRule {
    fn skip_reason(&self, facts: &BTreeMap<String, Value>) -> Option<String> {
        self.0.skip_reason(facts)
    }
}

/// The engine's enrichment rule that applies `criteria` (tiny images, files
/// without generation parameters) before tier 3, to every tier-3 stage, plugins
/// included. A [`Kiln`](crate::Kiln) handle installs it with
/// `EnrichmentCriteria::default()` unless told otherwise
/// ([`KilnBuilder::enrichment`](crate::KilnBuilder::enrichment)), as the
/// `kiln` command does; an engine opened on its own has no rule, and every
/// asset goes on to tier 3 unless its import has a budget.
pub fn enrichment_rule(criteria: EnrichmentCriteria) -> Arc<dyn EnrichmentRule> {
    Arc::new(CriteriaRule(criteria))
}

/// Where a registered stage came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StageSource {
    /// Compiled into kiln.
    Builtin,
    /// Given by the app that opened the store
    /// ([`KilnBuilder::stage`](crate::KilnBuilder::stage)).
    App,
    /// Loaded from this shared library.
    Plugin(PathBuf),
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
    /// The store's semantic search could not be set up.
    #[error(transparent)]
    Semantic(Box<crate::models::ModelError>),
    /// `--replace-stage` named a stage that no plugin (or app stage) provides.
    #[error("--replace-stage {0}: no loaded plugin provides a stage named `{0}`")]
    NothingReplaces(String),
}

/// The stages to register besides the built-in and search stages.
pub(crate) struct ExtraStages<'a> {
    /// The app's own stages.
    pub(crate) app: Vec<Arc<dyn Stage>>,
    /// Plugins loaded (before the store was opened) from these libraries.
    pub(crate) plugins: Vec<(PathBuf, LoadedPlugin)>,
    /// Names of built-in stages that an app or plugin stage of the same
    /// name replaces.
    pub(crate) replace: &'a [String],
}

/// Registers the built-in stages, the search stages writing to `index`,
/// the app's stages and the stages of the plugins (replacing the built-in
/// stages named in `replace`), checks the graph, and returns the source of
/// every stage.
pub(crate) fn register_stages(
    engine: &Engine,
    index: &Arc<SearchIndex>,
    extra: ExtraStages<'_>,
) -> Result<Vec<(String, StageSource)>, OpenError> {
    let ExtraStages {
        app,
        plugins,
        replace,
    } = extra;
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
    crate::search::register_search(engine, index)?;
    let mut replaced = Vec::new();
    for stage in app {
        let name = stage.info().name;
        let replace = replace.contains(&name);
        let registered = if replace {
            engine.replace_stage(stage)
        } else {
            engine.register_stage(stage)
        };
        registered.map_err(|source| OpenError::Stage {
            stage: name.clone(),
            plugin: None,
            source,
        })?;
        if replace {
            replaced.push(name.clone());
        }
        sources.retain(|(n, _)| *n != name);
        sources.push((name, StageSource::App));
    }
    for (path, plugin) in plugins {
        let name = plugin.name().to_owned();
        let replace = replace.contains(&name);
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
    if let Some(missing) = replace.iter().find(|r| !replaced.contains(r)) {
        return Err(OpenError::NothingReplaces(missing.clone()));
    }
    engine.validate().map_err(OpenError::Graph)?;
    Ok(sources)
}
