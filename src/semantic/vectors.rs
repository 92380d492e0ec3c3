//! The semantic vectors of a store, in memory: one flat array of signed
//! bytes, scanned whole for each query.
//!
//! An exact scan of 100,000 vectors of 512 bytes is 51 M multiply-adds
//! over 51 MB, a few milliseconds with AVX2; it needs no index to build or
//! keep current, and its answer is exact for the stored vectors.
//!
//! A stored vector is `byte × scale` per dimension (see
//! [`Quantised`](super::Quantised)). Here each keeps one factor, `scale`
//! over the length of its dequantised vector, so the cosine to a unit
//! query `q` is `factor × Σ byte·q`. The query is quantised too, to 16-bit
//! integers, and the sum runs in 32-bit integers: exact within the query's
//! rounding (a relative error under 10⁻⁴).

use super::Quantised;
use kiln_engine::AssetId;
use std::collections::HashMap;

/// The vectors of one model, by asset.
#[derive(Debug, Clone, Default)]
pub struct VectorTable {
    dims: usize,
    ids: Vec<AssetId>,
    codes: Vec<i8>,
    factors: Vec<f32>,
    slots: HashMap<AssetId, usize>,
}

/// Bytes one vector of `dims` dimensions takes in a [`VectorTable`]: its
/// codes, its factor, its id and its entry in the id map (which holds at
/// most 8 entries per 7 slots, 16 bytes each).
pub fn bytes_per_vector(dims: usize) -> usize {
    dims + std::mem::size_of::<f32>() + std::mem::size_of::<AssetId>() + 16 * 8 / 7
}

impl VectorTable {
    /// An empty table for vectors of `dims` dimensions.
    pub fn new(dims: usize) -> Self {
        VectorTable {
            dims,
            ..VectorTable::default()
        }
    }

    /// How many vectors the table holds.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the table holds none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Puts `id`'s vector in (replacing the one it had). A vector of
    /// another length, or one that is all zeros, is not taken: returns
    /// whether it was.
    pub fn insert(&mut self, id: AssetId, vector: &Quantised) -> bool {
        if vector.bytes.len() != self.dims || self.dims == 0 {
            return false;
        }
        let norm = vector
            .bytes
            .iter()
            .map(|&b| {
                let v = f64::from(b as i8);
                v * v
            })
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 {
            return false;
        }
        // The scale cancels out of a cosine: what is left is 1 / |codes|.
        let codes: Vec<i8> = vector.bytes.iter().map(|&b| b as i8).collect();
        self.put(id, &codes, (1.0 / norm) as f32);
        true
    }

    /// Puts `id`'s row in, in its slot or a new one.
    fn put(&mut self, id: AssetId, codes: &[i8], factor: f32) {
        match self.slots.get(&id) {
            Some(&slot) => {
                self.codes[slot * self.dims..(slot + 1) * self.dims].copy_from_slice(codes);
                self.factors[slot] = factor;
            }
            None => {
                self.slots.insert(id, self.ids.len());
                self.ids.push(id);
                self.codes.extend_from_slice(codes);
                self.factors.push(factor);
            }
        }
    }

    /// Puts every vector of `newer` in, replacing this table's vectors of
    /// the same assets. Nothing is taken from a table of another length.
    pub fn absorb(&mut self, newer: &VectorTable) {
        if newer.dims != self.dims {
            return;
        }
        for (slot, &id) in newer.ids.iter().enumerate() {
            let codes = &newer.codes[slot * self.dims..(slot + 1) * self.dims];
            self.put(id, codes, newer.factors[slot]);
        }
    }

    /// Takes `id`'s vector out; returns whether it had one.
    pub fn remove(&mut self, id: AssetId) -> bool {
        let Some(slot) = self.slots.remove(&id) else {
            return false;
        };
        let last = self.ids.len() - 1;
        if slot != last {
            let moved = self.ids[last];
            self.ids.swap(slot, last);
            self.factors.swap(slot, last);
            let (head, tail) = self.codes.split_at_mut(last * self.dims);
            head[slot * self.dims..(slot + 1) * self.dims].copy_from_slice(&tail[..self.dims]);
            self.slots.insert(moved, slot);
        }
        self.ids.pop();
        self.factors.pop();
        self.codes.truncate(last * self.dims);
        true
    }

    /// The cosine of every stored vector to the unit vector `query`, as
    /// `(id, cosine)` in the table's order; empty when `query` is not of
    /// the table's length.
    pub fn cosines(&self, query: &[f32]) -> Vec<(AssetId, f32)> {
        let Some((quantised, step)) = quantise_query(query, self.dims) else {
            return Vec::new();
        };
        let mut sums = vec![0i32; self.ids.len()];
        dot_all(&self.codes, self.dims, &quantised, &mut sums);
        self.ids
            .iter()
            .zip(&self.factors)
            .zip(sums)
            .map(|((&id, &factor), sum)| (id, sum as f32 * step * factor))
            .collect()
    }

    /// The cosine of `id`'s vector to `query`, if it has one.
    pub fn cosine(&self, id: AssetId, query: &[f32]) -> Option<f32> {
        let slot = *self.slots.get(&id)?;
        let (quantised, step) = quantise_query(query, self.dims)?;
        let mut sum = [0i32];
        dot_all(
            &self.codes[slot * self.dims..(slot + 1) * self.dims],
            self.dims,
            &quantised,
            &mut sum,
        );
        Some(sum[0] as f32 * step * self.factors[slot])
    }

    /// `id`'s vector back as unit floats, if it has one.
    pub fn unit(&self, id: AssetId) -> Option<Vec<f32>> {
        let slot = *self.slots.get(&id)?;
        let factor = self.factors[slot];
        Some(
            self.codes[slot * self.dims..(slot + 1) * self.dims]
                .iter()
                .map(|&c| f32::from(c) * factor)
                .collect(),
        )
    }
}

/// `query` as 16-bit integers and what one step is worth; `None` for a
/// query of another length or without a finite non-zero value. The largest
/// magnitude is scaled so that no sum of `dims` products with a signed
/// byte leaves 32 bits.
fn quantise_query(query: &[f32], dims: usize) -> Option<(Vec<i16>, f32)> {
    if query.len() != dims || dims == 0 {
        return None;
    }
    let max = query.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if !(max.is_finite() && max > 0.0) {
        return None;
    }
    let top = (i32::MAX as f64 / (127.0 * dims as f64)).min(f64::from(i16::MAX)) as f32;
    let step = max / top;
    let quantised = query
        .iter()
        .map(|v| (v / step).round().clamp(-top, top) as i16)
        .collect();
    Some((quantised, step))
}

/// For each row of `codes` (`dims` bytes each), its sum of products with
/// `query`, into `sums`.
fn dot_all(codes: &[i8], dims: usize, query: &[i16], sums: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor supports AVX2, checked just above.
        unsafe { dot_all_avx2(codes, dims, query, sums) };
        return;
    }
    dot_rows(codes, dims, query, sums);
}

/// [`dot_rows`] compiled for AVX2: sixteen products of a byte widened to
/// 16 bits and a 16-bit value at once, summed in pairs into 32 bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_all_avx2(codes: &[i8], dims: usize, query: &[i16], sums: &mut [i32]) {
    dot_rows(codes, dims, query, sums);
}

/// Lanes of the running sums: what one vector instruction holds.
const LANES: usize = 16;

#[inline(always)]
fn dot_rows(codes: &[i8], dims: usize, query: &[i16], sums: &mut [i32]) {
    let whole = dims / LANES * LANES;
    for (row, sum) in codes.chunks_exact(dims).zip(sums.iter_mut()) {
        let mut lanes = [0i32; LANES];
        for (c, q) in row[..whole]
            .chunks_exact(LANES)
            .zip(query[..whole].chunks_exact(LANES))
        {
            for lane in 0..LANES {
                lanes[lane] += i32::from(c[lane]) * i32::from(q[lane]);
            }
        }
        let mut total: i32 = lanes.iter().sum();
        for (c, q) in row[whole..].iter().zip(&query[whole..]) {
            total += i32::from(*c) * i32::from(*q);
        }
        *sum = total;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64, dims: usize) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let v: Vec<f32> = (0..dims)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / norm).collect()
    }

    fn exact(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn cosines_match_the_float_ones_for_every_length() {
        for dims in [1, 7, 16, 33, 512, 768, 1024] {
            let mut table = VectorTable::new(dims);
            let stored: Vec<Vec<f32>> = (0..40).map(|i| unit(i + 1, dims)).collect();
            for (i, v) in stored.iter().enumerate() {
                assert!(table.insert(AssetId::new(i as u64 + 1), &Quantised::new(v)));
            }
            let query = unit(999, dims);
            let got = table.cosines(&query);
            assert_eq!(got.len(), 40);
            for (id, cos) in got {
                let want = exact(&stored[id.get() as usize - 1], &query);
                // int8 storage: about 1/127 of each value's scale.
                assert!((cos - want).abs() < 0.02, "dims {dims}: {cos} vs {want}");
                let one = table.cosine(id, &query).unwrap();
                assert!((one - cos).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn the_scan_ranks_as_the_quantised_vectors_do() {
        let dims = 512;
        let mut table = VectorTable::new(dims);
        let stored: Vec<Quantised> = (0..300).map(|i| Quantised::new(&unit(i, dims))).collect();
        for (i, q) in stored.iter().enumerate() {
            table.insert(AssetId::new(i as u64), q);
        }
        let query = unit(12345, dims);
        let mut got = table.cosines(&query);
        got.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut want: Vec<(u64, f32)> = stored
            .iter()
            .enumerate()
            .map(|(i, q)| (i as u64, exact(&q.to_unit(), &query)))
            .collect();
        want.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (g, w) in got.iter().zip(&want).take(20) {
            assert!((g.1 - w.1).abs() < 1e-3, "{g:?} vs {w:?}");
        }
        assert_eq!(got[0].0.get(), want[0].0);
    }

    #[test]
    fn insert_replace_and_remove_keep_the_table_consistent() {
        let dims = 24;
        let mut table = VectorTable::new(dims);
        for i in 1..=5u64 {
            table.insert(AssetId::new(i), &Quantised::new(&unit(i, dims)));
        }
        // Replacing keeps one slot.
        table.insert(AssetId::new(2), &Quantised::new(&unit(50, dims)));
        assert_eq!(table.len(), 5);
        assert!(table.remove(AssetId::new(1)));
        assert!(!table.remove(AssetId::new(1)));
        assert_eq!(table.len(), 4);
        let query = unit(50, dims);
        // Asset 5 moved into the freed slot; every id still finds its own.
        for (id, seed) in [(2u64, 50u64), (3, 3), (4, 4), (5, 5)] {
            let cos = table.cosine(AssetId::new(id), &unit(seed, dims)).unwrap();
            assert!(cos > 0.99, "{id}: {cos}");
        }
        assert!(table.cosine(AssetId::new(2), &query).unwrap() > 0.99);
        assert!(table.cosine(AssetId::new(1), &query).is_none());
        // Wrong lengths and zero vectors are refused.
        assert!(!table.insert(AssetId::new(9), &Quantised::new(&unit(9, dims + 1))));
        assert!(!table.insert(AssetId::new(9), &Quantised::new(&vec![0.0; dims])));
        assert!(table.cosines(&unit(1, dims - 1)).is_empty());
        assert!(table.cosines(&vec![0.0; dims]).is_empty());

        // Absorbing a newer table replaces shared ids and adds the rest.
        let mut newer = VectorTable::new(dims);
        newer.insert(AssetId::new(3), &Quantised::new(&unit(77, dims)));
        newer.insert(AssetId::new(8), &Quantised::new(&unit(88, dims)));
        table.absorb(&newer);
        assert_eq!(table.len(), 5);
        assert!(table.cosine(AssetId::new(3), &unit(77, dims)).unwrap() > 0.99);
        assert!(table.cosine(AssetId::new(8), &unit(88, dims)).unwrap() > 0.99);
        assert!(table.cosine(AssetId::new(4), &unit(4, dims)).unwrap() > 0.99);
        let unit8 = table.unit(AssetId::new(8)).unwrap();
        let back: f32 = unit8.iter().zip(unit(88, dims)).map(|(a, b)| a * b).sum();
        assert!(back > 0.99, "{back}");
        table.absorb(&VectorTable::new(dims + 1));
        assert_eq!(table.len(), 5);
    }
}
