//! The registered stages and the `after` relations between them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use kiln_plugin_api::{Stage, StageInfo};

use crate::error::GraphError;
use crate::model::Tier;

/// One registered stage with what it declared at registration.
#[derive(Clone)]
pub(crate) struct StageEntry {
    pub(crate) stage: Arc<dyn Stage>,
    pub(crate) info: StageInfo,
    /// The tier `info` declares, checked at registration.
    pub(crate) tier: Tier,
    /// Serialises calls of a stage that declared itself not concurrent.
    pub(crate) exclusive: Arc<Mutex<()>>,
}

impl std::fmt::Debug for StageEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageEntry")
            .field("info", &self.info)
            .finish()
    }
}

/// The stage graph. Immutable once the engine runs; replaced as a whole.
#[derive(Debug, Clone, Default)]
pub(crate) struct Graph {
    stages: BTreeMap<String, StageEntry>,
    dependents: HashMap<String, Vec<String>>,
}

impl Graph {
    pub(crate) fn with_stage(
        &self,
        stage: Arc<dyn Stage>,
        replace: bool,
    ) -> Result<Graph, GraphError> {
        let info = stage.info();
        let Some(tier) = Tier::from_number(info.tier) else {
            return Err(GraphError::BadTier {
                stage: info.name,
                tier: info.tier,
            });
        };
        let exists = self.stages.contains_key(&info.name);
        if exists && !replace {
            return Err(GraphError::Duplicate(info.name));
        }
        if !exists && replace {
            return Err(GraphError::NotRegistered(info.name));
        }
        let mut next = self.clone();
        next.stages.insert(
            info.name.clone(),
            StageEntry {
                stage,
                info,
                tier,
                exclusive: Arc::new(Mutex::new(())),
            },
        );
        next.dependents = HashMap::new();
        for entry in next.stages.values() {
            for before in &entry.info.after {
                next.dependents
                    .entry(before.clone())
                    .or_default()
                    .push(entry.info.name.clone());
            }
        }
        Ok(next)
    }

    /// Checks that every `after` name exists, tiers never go down along a link
    /// and there is no cycle.
    pub(crate) fn validate(&self) -> Result<(), GraphError> {
        for entry in self.stages.values() {
            for before in &entry.info.after {
                let Some(other) = self.stages.get(before) else {
                    return Err(GraphError::UnknownAfter {
                        stage: entry.info.name.clone(),
                        missing: before.clone(),
                    });
                };
                if other.tier > entry.tier {
                    return Err(GraphError::TierOrder {
                        stage: entry.info.name.clone(),
                        tier: entry.tier,
                        after: before.clone(),
                        after_tier: other.tier,
                    });
                }
            }
        }
        // Depth-first search with three colours: 1 on the path, 2 finished.
        let mut colour: HashMap<&str, u8> = HashMap::new();
        for start in self.stages.keys() {
            if colour.contains_key(start.as_str()) {
                continue;
            }
            let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
            colour.insert(start.as_str(), 1);
            while let Some((name, next)) = stack.pop() {
                let afters = self
                    .stages
                    .get(name)
                    .map(|e| e.info.after.as_slice())
                    .unwrap_or(&[]);
                if let Some(before) = afters.get(next) {
                    stack.push((name, next + 1));
                    match colour.get(before.as_str()) {
                        Some(1) => return Err(GraphError::Cycle(before.clone())),
                        Some(_) => {}
                        None => {
                            colour.insert(before.as_str(), 1);
                            stack.push((before.as_str(), 0));
                        }
                    }
                } else {
                    colour.insert(name, 2);
                }
            }
        }
        Ok(())
    }

    pub(crate) fn get(&self, name: &str) -> Option<&StageEntry> {
        self.stages.get(name)
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = &StageEntry> {
        self.stages.values()
    }

    /// The tier-1 stages: an active asset is browsable once all of them
    /// stored their facts.
    pub(crate) fn browsable_stages(&self) -> Vec<&str> {
        self.stages
            .values()
            .filter(|e| e.tier == Tier::Browsable)
            .map(|e| e.info.name.as_str())
            .collect()
    }

    /// A number that changes when the set of tier-1 stages does: the
    /// browsable counter is valid only for the set it was counted with
    /// (FNV-1a over the sorted names; never 0).
    pub(crate) fn browsable_fingerprint(&self) -> u64 {
        let mut names = self.browsable_stages();
        names.sort_unstable();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for name in names {
            for byte in name.bytes().chain([0]) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        hash.max(1)
    }

    /// Stages with no `after`: they run first for every new asset.
    pub(crate) fn roots(&self) -> impl Iterator<Item = &StageInfo> {
        self.stages
            .values()
            .map(|e| &e.info)
            .filter(|i| i.after.is_empty())
    }

    /// Every stage `stage` runs after, directly or through another: the
    /// transitive closure of its `after`. All of them are done for an asset
    /// before `stage` runs on it. Empty for a stage that is not registered;
    /// names in `after` that are not registered are included (validation
    /// refuses such a graph before it runs).
    pub(crate) fn predecessors(&self, stage: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        let mut pending: Vec<&str> = vec![stage];
        while let Some(name) = pending.pop() {
            let Some(entry) = self.stages.get(name) else {
                continue;
            };
            for before in &entry.info.after {
                if found.insert(before.clone()) {
                    pending.push(before);
                }
            }
        }
        // A cycle would bring the stage back in; it is not its own predecessor.
        found.remove(stage);
        found
    }

    /// Stages that name `stage` in their `after`.
    pub(crate) fn dependents(&self, stage: &str) -> impl Iterator<Item = &StageInfo> {
        self.dependents
            .get(stage)
            .into_iter()
            .flatten()
            .filter_map(|name| self.stages.get(name).map(|e| &e.info))
    }
}

/// The current stage graph, shared by the engine handle, the writer and the
/// workers. Registering a stage replaces the graph as a whole, so a reader
/// holds one consistent graph for as long as it keeps the `Arc`.
#[derive(Debug, Default)]
pub(crate) struct GraphCell(RwLock<Arc<Graph>>);

impl GraphCell {
    /// The graph as it is now.
    pub(crate) fn current(&self) -> Arc<Graph> {
        self.0.read().map(|g| g.clone()).unwrap_or_default()
    }

    /// Replaces the graph with `change` of it, unless `change` fails.
    pub(crate) fn update(
        &self,
        change: impl FnOnce(&Graph) -> Result<Graph, GraphError>,
    ) -> Result<(), GraphError> {
        let mut graph = self.0.write().map_err(|_| GraphError::Running)?;
        let next = change(&graph)?;
        *graph = Arc::new(next);
        Ok(())
    }
}
