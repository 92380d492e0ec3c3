//! Dev-only helpers for kiln's tests and benchmarks: the generator of the
//! committed `samples/` folder and benchmark corpora, synthetic images,
//! child processes and the SIGKILL loop of the crash tests, the real
//! fixtures (or a skip), cargo builds of the plugin crates and examples,
//! and (feature `browser`, off by default) a headless Chromium driven over
//! the DevTools protocol for the tests of the web page.
//!
//! Not published and not part of the `kiln` library: nothing an app needs.
//! It never depends on `kiln-engine`, so the engine's own tests use it
//! without a second copy of the engine; the image modules (feature
//! `images`, on by default) need `kiln-stages` for writing metadata, and the
//! engine's tests leave them out.
#![deny(missing_docs)]

#[cfg(feature = "browser")]
pub mod browser;
pub mod cargo;
pub mod child;
#[cfg(feature = "images")]
pub mod corpus;
pub mod fixtures;
pub mod kill;
#[cfg(feature = "images")]
pub mod paint;
#[cfg(feature = "images")]
pub mod samples;
