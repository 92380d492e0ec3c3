//! Dominant colours: median cut in OKLab to seed the clusters, then a few
//! rounds of k-means to settle them, then merging of clusters too close to
//! tell apart.

use crate::color::{Lab, hex, lab_to_srgb};

/// One colour of the palette and the share of the image it covers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Swatch {
    pub(crate) lab: Lab,
    pub(crate) rgb: [u8; 3],
    pub(crate) share: f64,
}

impl Swatch {
    pub(crate) fn hex(&self) -> String {
        hex(self.rgb)
    }
}

/// Lloyd iterations after seeding; median-cut seeds are close already.
const MAX_ITERATIONS: usize = 10;

/// Clusters closer than this (OKLab distance) look the same and are merged.
const MERGE_DISTANCE: f32 = 0.035;

/// The palette of `samples`, at most `colors` swatches, largest share first.
/// Empty when there are no samples.
pub(crate) fn extract(samples: &[Lab], colors: usize) -> Vec<Swatch> {
    if samples.is_empty() || colors == 0 {
        return Vec::new();
    }
    let mut centres = median_cut(samples, colors);
    let mut counts = vec![0usize; centres.len()];
    let mut assignment = vec![usize::MAX; samples.len()];
    for _ in 0..MAX_ITERATIONS {
        let changed = assign(samples, &centres, &mut assignment);
        recompute(samples, &assignment, &mut centres, &mut counts);
        if !changed {
            break;
        }
    }
    let clusters = merge_close(centres.into_iter().zip(counts).collect());
    let total = samples.len() as f64;
    let mut swatches: Vec<Swatch> = clusters
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|(lab, count)| Swatch {
            lab,
            rgb: lab_to_srgb(lab),
            share: count as f64 / total,
        })
        .collect();
    // Largest share first; equal shares in colour order so output is stable.
    swatches.sort_by(|x, y| y.share.total_cmp(&x.share).then_with(|| x.rgb.cmp(&y.rgb)));
    swatches
}

/// Splits the samples into up to `boxes` boxes, always splitting the box
/// with the most spread (count × widest range) at the median of its widest
/// axis, and returns each box's mean.
fn median_cut(samples: &[Lab], boxes: usize) -> Vec<Lab> {
    let mut points = samples.to_vec();
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::with_capacity(boxes);
    ranges.push(0..points.len());
    while ranges.len() < boxes {
        let widest = ranges
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (axis, spread) = widest_axis(points.get(r.clone()).unwrap_or_default());
                (i, axis, spread * r.len() as f32)
            })
            .filter(|(_, _, score)| *score > 0.0)
            .max_by(|x, y| x.2.total_cmp(&y.2));
        let Some((index, axis, _)) = widest else {
            break;
        };
        let range = ranges.swap_remove(index);
        let Some(slice) = points.get_mut(range.clone()) else {
            break;
        };
        let middle = slice.len() / 2;
        slice.select_nth_unstable_by(middle, |x, y| x.axis(axis).total_cmp(&y.axis(axis)));
        ranges.push(range.start..range.start + middle);
        ranges.push(range.start + middle..range.end);
    }
    ranges
        .into_iter()
        .filter_map(|r| mean(points.get(r).unwrap_or_default()))
        .collect()
}

fn widest_axis(points: &[Lab]) -> (usize, f32) {
    (0..3)
        .map(|axis| {
            let (low, high) = points.iter().fold((f32::MAX, f32::MIN), |(lo, hi), p| {
                (lo.min(p.axis(axis)), hi.max(p.axis(axis)))
            });
            (axis, (high - low).max(0.0))
        })
        .max_by(|x, y| x.1.total_cmp(&y.1))
        .unwrap_or((0, 0.0))
}

fn mean(points: &[Lab]) -> Option<Lab> {
    if points.is_empty() {
        return None;
    }
    let n = points.len() as f32;
    let sum = points.iter().fold(Lab::default(), |acc, p| Lab {
        l: acc.l + p.l,
        a: acc.a + p.a,
        b: acc.b + p.b,
    });
    Some(Lab {
        l: sum.l / n,
        a: sum.a / n,
        b: sum.b / n,
    })
}

/// Assigns every sample to its nearest centre; true if any assignment changed.
fn assign(samples: &[Lab], centres: &[Lab], assignment: &mut [usize]) -> bool {
    let mut changed = false;
    for (sample, slot) in samples.iter().zip(assignment.iter_mut()) {
        let nearest = centres
            .iter()
            .enumerate()
            .min_by(|(_, x), (_, y)| {
                sample
                    .distance_squared(**x)
                    .total_cmp(&sample.distance_squared(**y))
            })
            .map_or(0, |(i, _)| i);
        if *slot != nearest {
            *slot = nearest;
            changed = true;
        }
    }
    changed
}

/// Moves every centre to the mean of its samples; a centre that lost all its
/// samples stays where it is with a count of zero.
fn recompute(samples: &[Lab], assignment: &[usize], centres: &mut [Lab], counts: &mut [usize]) {
    let mut sums = vec![(Lab::default(), 0usize); centres.len()];
    for (sample, &cluster) in samples.iter().zip(assignment) {
        if let Some((sum, count)) = sums.get_mut(cluster) {
            sum.l += sample.l;
            sum.a += sample.a;
            sum.b += sample.b;
            *count += 1;
        }
    }
    for ((centre, count), (sum, n)) in centres.iter_mut().zip(counts.iter_mut()).zip(sums) {
        *count = n;
        if n > 0 {
            let n = n as f32;
            *centre = Lab {
                l: sum.l / n,
                a: sum.a / n,
                b: sum.b / n,
            };
        }
    }
}

/// Merges clusters whose centres are closer than [`MERGE_DISTANCE`], largest
/// first, into their count-weighted mean.
fn merge_close(mut clusters: Vec<(Lab, usize)>) -> Vec<(Lab, usize)> {
    clusters.sort_by_key(|cluster| std::cmp::Reverse(cluster.1));
    let mut merged: Vec<(Lab, usize)> = Vec::with_capacity(clusters.len());
    for (lab, count) in clusters {
        let close = merged
            .iter_mut()
            .find(|(kept, _)| kept.distance_squared(lab) < MERGE_DISTANCE * MERGE_DISTANCE);
        match close {
            Some((kept, kept_count)) if count > 0 => {
                let total = (*kept_count + count) as f32;
                let (w1, w2) = (*kept_count as f32 / total, count as f32 / total);
                *kept = Lab {
                    l: kept.l * w1 + lab.l * w2,
                    a: kept.a * w1 + lab.a * w2,
                    b: kept.b * w1 + lab.b * w2,
                };
                *kept_count += count;
            }
            Some(_) => {}
            None => merged.push((lab, count)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::color::SrgbDecoder;

    fn samples(parts: &[([u8; 3], usize)]) -> Vec<Lab> {
        let decoder = SrgbDecoder::new();
        parts
            .iter()
            .flat_map(|&(rgb, n)| std::iter::repeat_n(decoder.to_lab(rgb), n))
            .collect()
    }

    #[test]
    fn three_flat_colours_come_back_with_their_shares() {
        let palette = extract(
            &samples(&[
                ([200, 30, 30], 500),
                ([20, 40, 220], 300),
                ([240, 240, 240], 200),
            ]),
            6,
        );
        let found: Vec<(String, f64)> = palette.iter().map(|s| (s.hex(), s.share)).collect();
        assert_eq!(
            found,
            vec![
                ("#c81e1e".to_owned(), 0.5),
                ("#1428dc".to_owned(), 0.3),
                ("#f0f0f0".to_owned(), 0.2)
            ]
        );
    }

    #[test]
    fn one_colour_is_one_swatch() {
        let palette = extract(&samples(&[([10, 120, 10], 64)]), 6);
        assert_eq!(palette.len(), 1);
        assert_eq!(palette.first().map(Swatch::hex).as_deref(), Some("#0a780a"));
    }

    #[test]
    fn nothing_gives_nothing() {
        assert!(extract(&[], 6).is_empty());
    }
}
