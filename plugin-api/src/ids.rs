//! The identifiers kiln hands out: assets, imports and jobs.
//!
//! Each is a number in the store, and a type of its own in every crate's
//! API so that an asset id cannot be passed where a job id is meant. They
//! live in this crate because every other crate depends on it: a stage sees
//! its asset as [`StageInput::asset`](crate::StageInput::asset), the engine
//! hands out all three, and search results name assets. `Display` prints
//! the bare number, which is what the command line shows and accepts, and
//! serde sees the bare number too (JSON output is unchanged by the types).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(u64);

        impl $name {
            /// The id with this number.
            pub const fn new(number: u64) -> Self {
                $name(number)
            }

            /// The number stored and shown for this id.
            pub const fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                text.parse().map($name)
            }
        }
    };
}

id_type!(
    /// An asset: one content (one blake3 hash) and every path it was found at.
    AssetId
);
id_type!(
    /// An import: a folder, a single file or a batch of submitted files,
    /// taken in at one priority.
    ImportId
);
id_type!(
    /// A job: one stage for one asset.
    JobId
);
