//! Culling: the best N of each session, or of each group of
//! near-duplicates, by quality score; the rest proposed for rejection.
//!
//! A plan only reads: [`Kiln::cull`] says what it would keep and reject,
//! and the caller decides (the `kiln cull --apply` command tags the rejects
//! `rejected`; nothing is ever deleted). An asset without a quality score,
//! or outside every session (its tier 3 not done), is not judged: it is
//! neither kept nor rejected, but listed as such, since a missing score is
//! not a bad one.

use std::collections::{BTreeMap, HashMap};

use kiln_engine::AssetId;
use kiln_stages::embed::{NEAR_DUPLICATE_BITS, hamming};

use crate::{Error, Kiln, SortBy};

/// How assets are grouped for a cull, and how many of each group are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CullBy {
    /// The best N of each session (`kiln sessions`).
    Session(usize),
    /// The best N of each group of near-duplicates (perceptual hashes
    /// within [`NEAR_DUPLICATE_BITS`] of one another, chained).
    NearDuplicates(usize),
}

/// One group of a cull, its members best first.
#[derive(Debug, Clone, PartialEq)]
pub struct CullGroup {
    /// The session id, or the first (best) member's id for a group of
    /// near-duplicates.
    pub label: String,
    /// Kept: the best N, with their scores.
    pub keep: Vec<(AssetId, f64)>,
    /// Proposed for rejection, with their scores.
    pub reject: Vec<(AssetId, f64)>,
}

/// What a cull would do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CullPlan {
    /// Every group with more than one judged member, in order of their best
    /// member's score.
    pub groups: Vec<CullGroup>,
    /// Judged assets alone in their group (kept).
    pub alone: Vec<AssetId>,
    /// Matched assets that could not be judged: no quality score, or no
    /// session or perceptual hash.
    pub unjudged: Vec<AssetId>,
}

impl CullPlan {
    /// Every asset proposed for rejection.
    pub fn rejected(&self) -> Vec<AssetId> {
        self.groups
            .iter()
            .flat_map(|g| g.reject.iter().map(|(id, _)| *id))
            .collect()
    }
}

/// Splits `groups` (of asset ids, each given once) into kept and rejected
/// by `scores`: best score first, ties by lower asset id; the first
/// `keep` of each group are kept.
pub fn plan_groups(
    groups: Vec<(String, Vec<AssetId>)>,
    scores: &HashMap<AssetId, f64>,
    keep: usize,
) -> (Vec<CullGroup>, Vec<AssetId>) {
    let mut out = Vec::new();
    let mut alone = Vec::new();
    for (label, members) in groups {
        let mut scored: Vec<(AssetId, f64)> = members
            .into_iter()
            .filter_map(|id| scores.get(&id).map(|s| (id, *s)))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        match scored.len() {
            0 => {}
            1 => alone.push(scored[0].0),
            _ => {
                let reject = scored.split_off(keep.min(scored.len()));
                out.push(CullGroup {
                    label,
                    keep: scored,
                    reject,
                });
            }
        }
    }
    out.sort_by(|a, b| {
        let best = |g: &CullGroup| {
            g.keep
                .first()
                .or(g.reject.first())
                .map_or(f64::MIN, |k| k.1)
        };
        best(b).total_cmp(&best(a)).then(a.label.cmp(&b.label))
    });
    alone.sort_unstable();
    (out, alone)
}

/// Groups assets by perceptual hash: connected components of "within
/// [`NEAR_DUPLICATE_BITS`] bits". Quadratic in the number of assets: narrow
/// a large store with a query.
pub fn near_duplicate_groups(hashes: &[(AssetId, u64)]) -> Vec<Vec<AssetId>> {
    let mut parent: Vec<usize> = (0..hashes.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for i in 0..hashes.len() {
        for j in (i + 1)..hashes.len() {
            if hamming(hashes[i].1, hashes[j].1) <= NEAR_DUPLICATE_BITS {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<AssetId>> = BTreeMap::new();
    for (i, (id, _)) in hashes.iter().enumerate() {
        let r = root(&mut parent, i);
        groups.entry(r).or_default().push(*id);
    }
    groups.into_values().collect()
}

impl Kiln {
    /// What culling the assets `query` matches (every indexed asset for an
    /// empty query) would keep and reject (see [the module](crate::cull)).
    /// Reads only: nothing changes.
    pub fn cull(&self, query: &str, by: CullBy) -> Result<CullPlan, Error> {
        let total = self.search(query, SortBy::Score, 1)?.total;
        let hits = self.search(query, SortBy::Score, total.max(1))?.hits;
        let mut plan = CullPlan::default();
        let mut scores = HashMap::new();
        for hit in &hits {
            if hit.score.is_finite() {
                scores.insert(hit.id, hit.score);
            } else {
                plan.unjudged.push(hit.id);
            }
        }
        let (groups, keep): (Vec<(String, Vec<AssetId>)>, usize) = match by {
            CullBy::Session(keep) => {
                let mut grouped = std::collections::HashSet::new();
                let mut groups = Vec::new();
                for session in self.sessions()? {
                    let members: Vec<AssetId> = session
                        .assets
                        .into_iter()
                        .filter(|id| scores.contains_key(id))
                        .collect();
                    grouped.extend(members.iter().copied());
                    groups.push((session.id, members));
                }
                plan.unjudged
                    .extend(scores.keys().filter(|id| !grouped.contains(id)).copied());
                (groups, keep)
            }
            CullBy::NearDuplicates(keep) => {
                let hashes: Vec<(AssetId, u64)> = self
                    .index()
                    .phashes()?
                    .into_iter()
                    .filter(|(id, _)| scores.contains_key(id))
                    .collect();
                let hashed: std::collections::HashSet<AssetId> =
                    hashes.iter().map(|(id, _)| *id).collect();
                plan.unjudged
                    .extend(scores.keys().filter(|id| !hashed.contains(id)).copied());
                let groups = near_duplicate_groups(&hashes)
                    .into_iter()
                    .map(|members| (String::new(), members))
                    .collect();
                (groups, keep)
            }
        };
        for id in &plan.unjudged {
            scores.remove(id);
        }
        let (mut groups, alone) = plan_groups(groups, &scores, keep);
        if matches!(by, CullBy::NearDuplicates(_)) {
            for group in &mut groups {
                if let Some((best, _)) = group.keep.first().or(group.reject.first()) {
                    group.label = best.to_string();
                }
            }
        }
        plan.groups = groups;
        plan.alone = alone;
        plan.unjudged.sort_unstable();
        plan.unjudged.dedup();
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> AssetId {
        AssetId::new(n)
    }

    #[test]
    fn the_best_n_of_each_group_are_kept() {
        let scores: HashMap<AssetId, f64> = [
            (1, 50.0),
            (2, 70.0),
            (3, 60.0),
            (4, 70.0),
            (5, 10.0),
            (6, 5.0),
        ]
        .into_iter()
        .map(|(i, s)| (id(i), s))
        .collect();
        let groups = vec![
            ("a".to_owned(), vec![id(1), id(2), id(3), id(4)]),
            ("b".to_owned(), vec![id(5), id(9)]),
            ("c".to_owned(), vec![id(6), id(5)]),
        ];
        let (planned, alone) = plan_groups(groups, &scores, 2);
        assert_eq!(alone, vec![id(5)], "9 has no score: 5 is alone");
        assert_eq!(planned.len(), 2);
        assert_eq!(planned[0].label, "a");
        assert_eq!(planned[0].keep, vec![(id(2), 70.0), (id(4), 70.0)]);
        assert_eq!(planned[0].reject, vec![(id(3), 60.0), (id(1), 50.0)]);
        assert_eq!(planned[1].keep, vec![(id(5), 10.0), (id(6), 5.0)]);
        assert!(planned[1].reject.is_empty());
        let (one_each, _) = plan_groups(vec![("a".to_owned(), vec![id(1), id(3)])], &scores, 1);
        assert_eq!(one_each[0].reject, vec![(id(1), 50.0)]);
    }

    #[test]
    fn near_duplicates_chain_into_groups() {
        let hashes = vec![
            (id(1), 0u64),
            (id(2), 0b1111),           // 4 bits from 1
            (id(3), 0b1111_1111_1111), // 8 bits from 2, 12 from 1: chained
            (id(4), u64::MAX),         // far from all
            (id(5), u64::MAX ^ 0b1),   // 1 bit from 4
        ];
        let groups = near_duplicate_groups(&hashes);
        assert_eq!(groups, vec![vec![id(1), id(2), id(3)], vec![id(4), id(5)]]);
    }
}
