//! What waiting for the engine waits for.

use super::{ImportId, Tier};

/// What [`Engine::run_until`](crate::Engine::run_until) and
/// [`Engine::wait_until`](crate::Engine::wait_until) wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Until {
    /// No job is ready, leased or retrying and no folder is being walked.
    Idle,
    /// Every job of `tier` and lower tiers is done or dead for the given
    /// imports (`None`: every import), and their folders are fully walked.
    /// The given imports include the earlier imports they resumed: an
    /// import that found a file unchanged whose work an earlier import (one
    /// interrupted part way, say) still had queued waits for that import.
    Tier {
        /// The tier to wait for.
        tier: Tier,
        /// The imports to wait for; `None` waits for all.
        imports: Option<Vec<ImportId>>,
    },
}
