//! Opening a shared library and finding its entry symbol: with `host.rs`,
//! the engine's only `unsafe` code.
//!
//! Invariant: a library, once opened, is never closed. A plugin's vtable,
//! stage and code must outlive every `Arc<dyn Stage>` handed out for it, and
//! unloading Rust code that may have spawned threads or registered
//! thread-local destructors is unsound, so every opened library is leaked.

use super::host::{EntryError, PluginStage};
use kiln_plugin_api::abi::{ENTRY_SYMBOL, EntryFn};
use libloading::Library;
use std::path::Path;

/// Why [`open_stage`] failed, before the path is attached.
pub(crate) enum OpenFailure {
    /// The dynamic loader refused the file.
    NotALibrary(String),
    /// The library has no entry symbol.
    NoEntrySymbol,
    /// The entry point or its vtable was rejected.
    Rejected(EntryError),
}

/// Loads the library at `path` for the rest of the process and opens the
/// stage its entry symbol describes.
///
/// `path` must be absolute so that the dynamic loader never searches its
/// system paths for it.
pub(crate) fn open_stage(path: &Path) -> Result<PluginStage, OpenFailure> {
    debug_assert!(path.is_absolute());
    // SAFETY: loading a library runs its initialisers. The caller asked for
    // this file to be loaded as a plugin, which is trusting its code; the path
    // is absolute, so no other library is substituted for it.
    let library = unsafe { Library::new(path) }.map_err(|e| {
        // libloading says only "dlopen failed"; the loader's own words
        // (wrong architecture, missing dependency, bad header) are its source.
        let reason =
            std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string);
        OpenFailure::NotALibrary(reason)
    })?;
    let library: &'static Library = Box::leak(Box::new(library));
    // SAFETY: `kiln_stage_v1` has the type `EntryFn` by the ABI's definition;
    // a library that exports the name with another type breaks the contract
    // the user accepted by loading it as a plugin.
    let entry: EntryFn = match unsafe { library.get::<EntryFn>(ENTRY_SYMBOL) } {
        Ok(symbol) => *symbol,
        Err(_) => return Err(OpenFailure::NoEntrySymbol),
    };
    // SAFETY: `entry` is the kiln entry point of a library leaked above, so
    // it stays loaded for the rest of the process.
    unsafe { PluginStage::open(entry) }.map_err(OpenFailure::Rejected)
}
