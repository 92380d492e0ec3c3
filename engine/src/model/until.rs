//! What waiting for the engine waits for.

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
        /// 1 browsable, 2 searchable, 3 enriched.
        tier: u8,
        /// The imports to wait for; `None` waits for all.
        imports: Option<Vec<u64>>,
    },
}
