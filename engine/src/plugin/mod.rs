//! Loading stages from shared libraries through the C ABI of `kiln-plugin-api`.
//!
//! A plugin is a `cdylib` that uses `kiln_plugin_api::export_stage!`. Loading
//! it checks the ABI version and vtable size before anything else, asks the
//! stage to describe itself, and wraps it as an ordinary `Arc<dyn Stage>`
//! that the engine schedules exactly like a built-in stage:
//!
//! - a panic inside the plugin fails only that job, permanently, as a
//!   built-in stage's panic does: the job is dead-lettered at once with the
//!   panic message (a deterministic panic is not retried);
//! - a plugin that does not declare itself concurrent is never called
//!   concurrently (calls are serialised by a mutex);
//! - a plugin that aborts the process takes the process down; the engine's
//!   attempt counting dead-letters the job after enough restarts;
//! - libraries are never unloaded.
//!
//! Whether a plugin may take the name of a built-in stage is decided where
//! stages are registered, with an explicit replace.
//!
//! `library.rs` opens the file and finds its entry symbol; `host.rs` is the
//! host's side of the C ABI (the vtable checks, the calls, the host API).
//! They hold the engine's only `unsafe` code.

#[cfg(test)]
mod boundary_tests;
mod error;
mod host;
mod library;

pub use error::PluginError;

use host::{EntryError, PluginStage};
use kiln_plugin_api::abi::{ABI_VERSION, ENTRY_SYMBOL_NAME};
use kiln_plugin_api::{Stage, StageInfo};
use library::OpenFailure;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A stage loaded from a plugin library.
///
/// ```no_run
/// use kiln_engine::plugin::load_plugin;
///
/// let plugin = load_plugin("target/release/libkiln_palette_plugin.so")?;
/// println!("{} v{} from {}", plugin.name(), plugin.info().version, plugin.path().display());
/// let stage = plugin.stage(); // an ordinary Arc<dyn Stage>
/// # let _ = stage;
/// # Ok::<(), kiln_engine::plugin::PluginError>(())
/// ```
#[derive(Debug, Clone)]
pub struct LoadedPlugin {
    path: PathBuf,
    stage: Arc<PluginStage>,
    info: StageInfo,
}

impl LoadedPlugin {
    /// The absolute path the library was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stage's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// What the stage declared when it was loaded.
    pub fn info(&self) -> &StageInfo {
        &self.info
    }

    /// Whether the plugin may process several inputs at once; when false,
    /// calls through [`LoadedPlugin::stage`] are serialised.
    pub fn is_concurrent(&self) -> bool {
        self.stage.is_concurrent()
    }

    /// The stage, to register with the engine like a built-in one.
    pub fn stage(&self) -> Arc<dyn Stage> {
        self.stage.clone()
    }
}

/// Loads the stage plugin at `path`.
///
/// The path is resolved to an absolute file first, so the dynamic loader
/// never searches its system paths. The library stays loaded for the rest of
/// the process, even when loading fails after it was opened.
///
/// ```no_run
/// use kiln_engine::plugin::{load_plugin, PluginError};
///
/// match load_plugin("plugins/libold.so") {
///     Ok(plugin) => println!("loaded {}", plugin.name()),
///     Err(PluginError::AbiMismatch { plugin, host, .. }) => {
///         eprintln!("built for ABI {plugin}, kiln speaks {host}")
///     }
///     Err(other) => eprintln!("{other}"),
/// }
/// ```
pub fn load_plugin(path: impl AsRef<Path>) -> Result<LoadedPlugin, PluginError> {
    let given = path.as_ref();
    let path = std::fs::canonicalize(given).map_err(|source| PluginError::NotFound {
        path: given.to_path_buf(),
        source,
    })?;
    if !path.is_file() {
        return Err(PluginError::NotASharedLibrary {
            path,
            reason: "not a regular file".to_owned(),
        });
    }
    let stage = library::open_stage(&path).map_err(|failure| describe_failure(&path, failure))?;
    let info = stage.info();
    Ok(LoadedPlugin {
        path,
        stage: Arc::new(stage),
        info,
    })
}

fn describe_failure(path: &Path, failure: OpenFailure) -> PluginError {
    let path = path.to_path_buf();
    match failure {
        OpenFailure::NotALibrary(reason) => PluginError::NotASharedLibrary { path, reason },
        OpenFailure::NoEntrySymbol => PluginError::MissingEntrySymbol {
            path,
            symbol: ENTRY_SYMBOL_NAME,
        },
        OpenFailure::Rejected(EntryError::AbiMismatch { plugin, .. }) => PluginError::AbiMismatch {
            path,
            plugin,
            host: ABI_VERSION,
        },
        OpenFailure::Rejected(EntryError::DescriptorDecode(e)) => PluginError::DescriptorDecode {
            path,
            reason: e.to_string(),
        },
        OpenFailure::Rejected(e @ EntryError::DescribeFailed { .. }) => {
            PluginError::DescriptorDecode {
                path,
                reason: e.to_string(),
            }
        }
        OpenFailure::Rejected(e @ EntryError::ReturnedNull) => PluginError::InitFailed {
            path,
            reason: e.to_string(),
        },
        OpenFailure::Rejected(e) => PluginError::Malformed {
            path,
            reason: e.to_string(),
        },
    }
}
