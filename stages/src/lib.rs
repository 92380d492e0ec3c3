//! kiln's built-in stages: hash and thumbnail (tier 1), metadata (tier 2).
#![deny(missing_docs)]

pub mod cluster;
pub mod embed;
pub mod hash;
pub mod metadata;
pub mod score;
pub mod thumbnail;
