//! Dev-only helpers for kiln's tests and benchmarks: the generator of the
//! committed `samples/` folder and benchmark corpora.
//!
//! Not published and not part of the `kiln` library: nothing an app needs.
#![deny(missing_docs)]

pub mod corpus;
pub mod samples;
