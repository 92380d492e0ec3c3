//! What the `kiln` command sets up for its whole process, shared with the
//! benchmarks so that they measure what the command does.
#![deny(missing_docs)]

pub mod memory;
