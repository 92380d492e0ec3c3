//! A plugin built for a different plugin ABI version: it exports the
//! `kiln_stage_v1` name, but its vtable declares ABI version 2 and holds
//! nothing a version-1 host could use. A host must refuse it by reading only
//! the vtable's version field.

use kiln_plugin_api::abi::{HostApi, StageVTable};

/// The ABI version this plugin claims.
pub const CLAIMED_ABI_VERSION: u32 = 2;

/// Returns a vtable that declares ABI version 2 and has no functions.
///
/// # Safety
///
/// Safe to call with any pointer: `host` is never read.
// SAFETY: the name is the kiln entry symbol; nothing else in the library
// uses it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kiln_stage_v1(_host: *const HostApi) -> *const StageVTable {
    let vtable = StageVTable {
        abi_version: CLAIMED_ABI_VERSION,
        // A version-2 vtable would be larger; a version-1 host must not rely
        // on this field before it has checked the version.
        struct_size: 4096,
        flags: u64::MAX,
        stage: std::ptr::null(),
        describe: None,
        process: None,
    };
    Box::leak(Box::new(vtable))
}
