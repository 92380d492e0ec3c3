//! A shared library that is not a kiln plugin: it exports a C function, but
//! not the kiln entry symbol. Loading it must fail with a clear error.

/// Returns a constant, so the library has an exported symbol of its own.
#[unsafe(no_mangle)]
pub extern "C" fn not_a_kiln_plugin() -> u32 {
    7
}
