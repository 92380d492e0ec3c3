//! The three tiers a stage belongs to, in the order an asset reaches them.

use std::fmt;

use kiln_plugin_api::{TIER_BROWSABLE, TIER_ENRICHED, TIER_SEARCHABLE};

/// How far an asset has come. Stages declare their tier as a number (the
/// plugin ABI keeps its integer: 1, 2 or 3); the engine checks it when the
/// stage is registered and speaks of tiers with this type from then on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Tier 1: the file is hashed and has a thumbnail; it can be shown.
    Browsable,
    /// Tier 2: its metadata is read and indexed; it can be found.
    Searchable,
    /// Tier 3: vectors, scores and sessions; the expensive stages.
    Enriched,
}

impl Tier {
    /// Every tier, lowest first.
    pub const ALL: [Tier; 3] = [Tier::Browsable, Tier::Searchable, Tier::Enriched];

    /// The tier a stage declares with `number`, if it is one of 1, 2, 3.
    pub fn from_number(number: u8) -> Option<Tier> {
        match number {
            TIER_BROWSABLE => Some(Tier::Browsable),
            TIER_SEARCHABLE => Some(Tier::Searchable),
            TIER_ENRICHED => Some(Tier::Enriched),
            _ => None,
        }
    }

    /// The tier of a job record's stored number. Only checked tiers are
    /// stored; a number above 3 (which only a newer kiln could write) reads
    /// as the highest tier, so its jobs are never waited for too early.
    pub(crate) fn from_stored(number: u8) -> Tier {
        Tier::from_number(number).unwrap_or(if number == 0 {
            Tier::Browsable
        } else {
            Tier::Enriched
        })
    }

    /// 1, 2 or 3: the number stored in job keys and shown by the CLI.
    pub fn number(self) -> u8 {
        match self {
            Tier::Browsable => TIER_BROWSABLE,
            Tier::Searchable => TIER_SEARCHABLE,
            Tier::Enriched => TIER_ENRICHED,
        }
    }

    /// `browsable`, `searchable` or `enriched`.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Browsable => "browsable",
            Tier::Searchable => "searchable",
            Tier::Enriched => "enriched",
        }
    }

    /// The tiers from the lowest up to and including this one.
    pub fn and_below(self) -> impl Iterator<Item = Tier> {
        Tier::ALL.into_iter().filter(move |t| *t <= self)
    }
}

impl fmt::Display for Tier {
    /// The tier's number, as the CLI prints it (`tier 1`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}
