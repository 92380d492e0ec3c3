//! kiln's built-in stages: [`hash`] and [`thumbnail`] (tier 1), [`metadata`]
//! (tier 2), [`embed`], [`score`] and [`cluster`] (tier 3). The search stages
//! are `kiln-search`'s. Every stage that reads the imported file opens it
//! with [`file::open_regular`], which refuses FIFOs and devices without
//! waiting on them.
//!
//! Their names, and the facts each one writes, are published in
//! `kiln_plugin_api::builtin`, the page a stage author reads; a test of this
//! crate checks that page against what the stages write.
#![deny(missing_docs)]

pub mod cluster;
pub mod embed;
pub mod file;
pub mod hash;
pub mod memory;
pub mod metadata;
pub mod score;
pub mod thumbnail;
