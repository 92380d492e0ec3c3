//! kiln's durable job engine: store, queue, leases, scheduler, intake and plugin host.
#![deny(missing_docs)]

pub mod plugin;
