//! Nearest neighbours over embeddings: an exact scan of a flat array.
//!
//! An exact scan of 100,000 vectors of ~150 floats is ~15 M multiply-adds,
//! a few milliseconds: no approximate index is needed at this scale, and an
//! exact answer makes near-duplicate detection deterministic.

use kiln_plugin_api::AssetId;
use std::collections::HashMap;

/// One neighbour of a query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    /// The asset id.
    pub id: AssetId,
    /// Euclidean distance of the embeddings (0 = identical, at most 2).
    pub distance: f32,
    /// Bits in which the perceptual hashes differ, when both are known.
    pub hash_bits: Option<u32>,
}

/// Embeddings of many assets, stored contiguously.
#[derive(Debug, Clone, Default)]
pub struct VectorSet {
    dims: usize,
    ids: Vec<AssetId>,
    phashes: Vec<Option<u64>>,
    values: Vec<f32>,
    positions: HashMap<AssetId, usize>,
}

impl VectorSet {
    /// Adds one embedding. Vectors whose length differs from the first one
    /// added are ignored (an embedder of another shape wrote them).
    pub fn insert(&mut self, id: AssetId, vector: &[f32], phash: Option<u64>) {
        if self.ids.is_empty() {
            self.dims = vector.len();
        }
        if vector.len() != self.dims || vector.is_empty() || self.positions.contains_key(&id) {
            return;
        }
        self.positions.insert(id, self.ids.len());
        self.ids.push(id);
        self.phashes.push(phash);
        self.values.extend_from_slice(vector);
    }

    /// How many embeddings are held.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The embedding and hash of an asset.
    pub fn get(&self, id: AssetId) -> Option<(&[f32], Option<u64>)> {
        let at = *self.positions.get(&id)?;
        let vector = self.values.get(at * self.dims..(at + 1) * self.dims)?;
        Some((vector, self.phashes.get(at).copied().flatten()))
    }

    /// The `limit` nearest embeddings to `query`, nearest first, leaving out
    /// `exclude` (the query asset itself).
    pub fn nearest(
        &self,
        query: &[f32],
        phash: Option<u64>,
        limit: usize,
        exclude: Option<AssetId>,
    ) -> Vec<Neighbour> {
        if query.len() != self.dims || limit == 0 {
            return Vec::new();
        }
        let mut scored: Vec<(f32, usize)> = self
            .values
            .chunks_exact(self.dims)
            .enumerate()
            .filter(|(i, _)| exclude.is_none_or(|e| self.ids.get(*i) != Some(&e)))
            .map(|(i, v)| {
                let d: f32 = v.iter().zip(query).map(|(a, b)| (a - b) * (a - b)).sum();
                (d, i)
            })
            .collect();
        let keep = limit.min(scored.len());
        if keep < scored.len() {
            scored.select_nth_unstable_by(keep, |a, b| a.0.total_cmp(&b.0));
            scored.truncate(keep);
        }
        scored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        scored
            .into_iter()
            .filter_map(|(d, i)| {
                let id = *self.ids.get(i)?;
                let other = self.phashes.get(i).copied().flatten();
                Some(Neighbour {
                    id,
                    distance: d.sqrt(),
                    hash_bits: phash.zip(other).map(|(a, b)| (a ^ b).count_ones()),
                })
            })
            .collect()
    }
}
