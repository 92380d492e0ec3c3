//! Why a plugin could not be loaded.

use std::path::PathBuf;

/// A plugin library could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The path does not lead to a readable file.
    #[error("cannot load plugin {path}: {source}; check the path")]
    NotFound {
        /// The path as given.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a shared library this system can load.
    #[error(
        "cannot load plugin {path}: it is not a shared library this system can load ({reason}); \
         build the plugin crate with crate-type = [\"cdylib\"] and pass the .so/.dylib/.dll it produces"
    )]
    NotASharedLibrary {
        /// The file.
        path: PathBuf,
        /// What the dynamic loader said.
        reason: String,
    },
    /// The library has no kiln entry symbol.
    #[error(
        "cannot load plugin {path}: it has no `{symbol}` symbol, so it is not a kiln stage plugin \
         for this ABI (add `kiln_plugin_api::export_stage!(...)` to it, or rebuild it against a \
         matching kiln-plugin-api)"
    )]
    MissingEntrySymbol {
        /// The file.
        path: PathBuf,
        /// The symbol that was looked up.
        symbol: &'static str,
    },
    /// The plugin was built for another ABI version.
    #[error(
        "cannot load plugin {path}: it was built for plugin ABI version {plugin}, but this kiln \
         speaks version {host}; rebuild the plugin against kiln-plugin-api for ABI {host}"
    )]
    AbiMismatch {
        /// The file.
        path: PathBuf,
        /// The version in the plugin's vtable.
        plugin: u32,
        /// The version this kiln speaks.
        host: u32,
    },
    /// The plugin's stage descriptor could not be read.
    #[error(
        "cannot load plugin {path}: its stage descriptor does not decode ({reason}); rebuild the \
         plugin against the kiln-plugin-api this kiln uses"
    )]
    DescriptorDecode {
        /// The file.
        path: PathBuf,
        /// Why decoding failed.
        reason: String,
    },
    /// The plugin's stage could not be constructed.
    #[error("cannot load plugin {path}: its stage failed to start ({reason})")]
    InitFailed {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The plugin speaks the right ABI but breaks its rules.
    #[error("cannot load plugin {path}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl PluginError {
    /// The plugin file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            PluginError::NotFound { path, .. }
            | PluginError::NotASharedLibrary { path, .. }
            | PluginError::MissingEntrySymbol { path, .. }
            | PluginError::AbiMismatch { path, .. }
            | PluginError::DescriptorDecode { path, .. }
            | PluginError::InitFailed { path, .. }
            | PluginError::Malformed { path, .. } => path,
        }
    }
}
