//! Sessions: images generated in one sitting with related settings.
//!
//! A per-asset stage cannot see other assets, so session grouping has two
//! halves:
//! - the `cluster` stage (tier 3) records each asset's *session features*:
//!   its time (the file's modification time, which generators set when they
//!   write the output) and its *family* — generator and model, lowercased;
//! - [`assign_sessions`] turns the features of all assets into sessions. It
//!   is a pure function of the **set** of features: whoever reads sessions
//!   (the CLI, an embedding app) calls it on what the store holds now. The
//!   result therefore cannot depend on the order in which assets completed,
//!   and it updates as soon as a new asset's features are recorded — an
//!   asset arriving between two sessions may join them, as it should.
//!
//! Rule: within one family, assets sorted by `(time, id)` belong to one
//! session while consecutive times are at most [`SESSION_GAP_SECONDS`] apart.
//! A session's id is derived from its family and its earliest member
//! (`time`, `id`), so it is stable while the session only grows later.
//!
//! Facts of the stage: `{"time": Int seconds or null, "family": Text}`.

use crate::hash::to_hex;
use kiln_plugin_api::{
    AssetId, CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, TIER_ENRICHED,
    Value, builtin,
};
use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

/// The stage name facts are stored under
/// ([`builtin::CLUSTER`](kiln_plugin_api::builtin::CLUSTER), where they are
/// described).
pub use kiln_plugin_api::builtin::CLUSTER as CLUSTER_STAGE_NAME;
/// Two assets of a family further apart than this are in different sessions.
pub const SESSION_GAP_SECONDS: i64 = 45 * 60;

/// What session assignment needs to know about one asset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionFeatures {
    /// The asset id.
    pub id: AssetId,
    /// Seconds since the Unix epoch, when known.
    pub time: Option<i64>,
    /// Generator and model, lowercased (`comfyui|juggernautxl`).
    pub family: String,
}

impl SessionFeatures {
    /// Reads the features back from the stage's facts.
    pub fn from_facts(id: AssetId, facts: &Value) -> SessionFeatures {
        let time = match facts.get("time") {
            Some(Value::Int(t)) => Some(*t),
            Some(Value::UInt(t)) => i64::try_from(*t).ok(),
            _ => None,
        };
        let family = facts
            .get("family")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        SessionFeatures { id, time, family }
    }
}

/// One session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// A stable id: a hex digest of the family and the earliest member.
    pub id: String,
    /// The family shared by its assets.
    pub family: String,
    /// Member asset ids, in time order.
    pub assets: Vec<AssetId>,
    /// Earliest and latest time, when known.
    pub span: Option<(i64, i64)>,
}

fn session_id(family: &str, first_time: Option<i64>, first_id: u64) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(family.as_bytes());
    hasher.update(&first_time.unwrap_or(i64::MIN).to_le_bytes());
    hasher.update(&first_id.to_le_bytes());
    let digest = hasher.finalize();
    to_hex(digest.as_bytes().get(..6).unwrap_or_default())
}

/// Groups assets into sessions (see the module documentation). Sessions
/// come out ordered by their earliest member; assets without a time form
/// one session each.
pub fn assign_sessions(features: &[SessionFeatures]) -> Vec<Session> {
    let mut by_family: BTreeMap<&str, Vec<&SessionFeatures>> = BTreeMap::new();
    for f in features {
        by_family.entry(f.family.as_str()).or_default().push(f);
    }
    let mut sessions = Vec::new();
    for (family, mut members) in by_family {
        members.sort_by_key(|f| (f.time.is_none(), f.time, f.id));
        members.dedup_by_key(|f| f.id);
        let mut current: Vec<&SessionFeatures> = Vec::new();
        for f in members {
            let joins = match (current.last().and_then(|l| l.time), f.time) {
                (Some(last), Some(t)) => t.saturating_sub(last) <= SESSION_GAP_SECONDS,
                _ => false,
            };
            if !joins && !current.is_empty() {
                sessions.push(close(family, &current));
                current.clear();
            }
            current.push(f);
        }
        if !current.is_empty() {
            sessions.push(close(family, &current));
        }
    }
    sessions.sort_by(|a, b| {
        (a.span.is_none(), a.span, a.assets.first()).cmp(&(
            b.span.is_none(),
            b.span,
            b.assets.first(),
        ))
    });
    sessions
}

fn close(family: &str, members: &[&SessionFeatures]) -> Session {
    let first = members.first();
    let times: Vec<i64> = members.iter().filter_map(|f| f.time).collect();
    let span = times.iter().min().copied().zip(times.iter().max().copied());
    Session {
        id: session_id(
            family,
            first.and_then(|f| f.time),
            first.map_or(0, |f| f.id.get()),
        ),
        family: family.to_owned(),
        assets: members.iter().map(|f| f.id).collect(),
        span,
    }
}

fn family_of(facts: &BTreeMap<String, Value>) -> String {
    let generation = facts
        .get(builtin::METADATA)
        .and_then(|m| m.get("generation"));
    let part = |key: &str| {
        generation
            .and_then(|g| g.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_lowercase()
    };
    format!("{}|{}", part("generator"), part("model"))
}

/// The built-in tier-3 stage recording each asset's session features.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClusterStage;

impl ClusterStage {
    /// Bump when the features change for the same asset.
    pub const VERSION: u32 = 1;
}

impl Stage for ClusterStage {
    fn info(&self) -> StageInfo {
        StageInfo::new(CLUSTER_STAGE_NAME, Self::VERSION, TIER_ENRICHED)
            .after([builtin::METADATA])
            .cost(CostClass::Io)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let time = std::fs::metadata(&input.path)
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_secs()).ok());
        Ok(StageOutput::facts(Value::map([
            ("time", time.map_or(Value::Null, Value::from)),
            ("family", Value::from(family_of(&input.facts))),
        ])))
    }
}
