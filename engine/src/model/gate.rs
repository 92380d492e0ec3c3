//! The enrichment gate's types: which assets go beyond the cheap tiers.
//! The gate is applied by `txn::enrich_gate`, inside the writer's
//! transactions.
//!
//! Expensive stages (tier 3 by default) are not worth running on every
//! file: tiny images, files without generation parameters, or more files of
//! one import than the user wants to pay for. The gate decides once per
//! asset, when every stage below [`EnrichmentGate::tier`] is done for it, from the
//! facts those stages recorded:
//!
//! - the [`EnrichmentRule`] rule, if one is configured, may turn the asset away
//!   with a reason;
//! - otherwise, if the asset's import has a budget ([`ImportOptions::budget`]),
//!   one unit of it is spent, and an import whose budget is spent turns
//!   further assets away.
//!
//! A re-run of a guarded stage ([`crate::Engine::rerun_outdated`], or the
//! work [`crate::Engine::enqueue_outdated`] enqueues for a stage registered
//! later) asks the gate too, and decides in the same way for an asset it has not
//! decided on (one whose lower tiers finished while no gate was active).
//!
//! The decision and the spent budget are written in the same transaction as
//! the completion (or re-run) that triggered them, so a crash can neither spend the
//! budget twice nor lose a decision. An asset turned away has every stage of
//! the guarded tiers counted as *skipped* (with the reason shown by
//! [`crate::Engine::asset`]); it is done when the lower tiers are.
//!
//! Architecture invariant: while gating is active for an asset (a rule is
//! configured or its import has a budget), no stage of a guarded tier is
//! enqueued for it before the gate let it through. Root stages (no `after`)
//! are enqueued at intake and are never gated: there are no facts to judge.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use kiln_plugin_api::Value;

use serde::{Deserialize, Serialize};

use super::{Priority, Tier};

/// A rule deciding whether an asset is worth the guarded tiers.
///
/// It sees every fact recorded for the asset by the stages below the gated
/// tier, keyed by stage name, and must be cheap and deterministic: it runs
/// on the engine's writer thread, inside the commit.
pub trait EnrichmentRule: Send + Sync + fmt::Debug + 'static {
    /// Why the asset should not go beyond the lower tiers, or `None` to let
    /// it through.
    fn skip_reason(&self, facts: &BTreeMap<String, Value>) -> Option<String>;
}

/// Where the gate stands and which rule it applies.
#[derive(Debug, Clone)]
pub struct EnrichmentGate {
    /// The lowest tier the gate guards; stages of this tier and above wait
    /// for the gate's decision. Defaults to tier 3 (enriched).
    pub tier: Tier,
    /// The rule; `None` lets every asset through (import budgets still apply).
    pub rule: Option<Arc<dyn EnrichmentRule>>,
}

impl Default for EnrichmentGate {
    fn default() -> Self {
        EnrichmentGate {
            tier: Tier::Enriched,
            rule: None,
        }
    }
}

/// How to take in an import: see [`crate::Engine::import_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// How urgent the import's jobs are.
    pub priority: Priority,
    /// At most this many assets of the import pass the gate (see
    /// [`EnrichmentGate`]); the rest are skipped. `None` sets no limit.
    pub budget: Option<u64>,
}

impl ImportOptions {
    /// An import at `priority` without a budget.
    pub fn new(priority: Priority) -> Self {
        ImportOptions {
            priority,
            budget: None,
        }
    }

    /// The same options with a budget of `budget` gated assets.
    pub fn with_budget(mut self, budget: u64) -> Self {
        self.budget = Some(budget);
        self
    }
}

/// What the gate decided for an asset. Written once; later completions of
/// lower-tier stages (a re-run) reuse it instead of deciding again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum GateRecord {
    /// The asset goes on to the guarded tiers.
    Passed,
    /// Stages of `tier` and above are skipped for the asset.
    Skipped { tier: u8, reason: String },
}
