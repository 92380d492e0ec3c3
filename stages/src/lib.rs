//! kiln's built-in stages: [`hash`] and [`thumbnail`] (tier 1), [`metadata`]
//! (tier 2), [`embed`], [`score`] and [`cluster`] (tier 3). The search stages
//! are `kiln-search`'s.
//!
//! Their names, and the facts each one writes, are published in
//! `kiln_plugin_api::builtin`, the page a stage author reads; a test of this
//! crate checks that page against what the stages write.
#![deny(missing_docs)]

pub mod cluster;
pub mod embed;
pub mod hash;
pub mod metadata;
pub mod score;
pub mod thumbnail;
