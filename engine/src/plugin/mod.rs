//! Loading stages from shared libraries through the C ABI of `kiln-plugin-api`.
