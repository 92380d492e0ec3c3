//! An image to the model's input tensor, exactly as open_clip's eval
//! transform does it on a Pillow image: torchvision's `Resize` (Pillow's
//! antialiased resampling, 8 bits per channel between and after the two
//! passes), `CenterCrop` or pad, then `/255`, minus mean, over std,
//! channels first.
//!
//! Only the pixels that survive the crop are computed: a resampled pixel
//! depends only on its own row and column weights, so computing a window of
//! the resized image gives the same values as resizing all of it.

use crate::pack::{Interpolation, Preprocess, ResizeMode};
use image::RgbImage;
use std::ops::Range;

/// Pillow's fixed-point precision for 8-bit resampling: 32 bits minus 8
/// for the value minus 2 for the weights' sum overshooting 1.
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Where the resized image lands in the S × S input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The size the whole image is resized to, width and height.
    pub(crate) resized: (u32, u32),
    /// The columns of the resized image that are kept.
    pub(crate) columns: Range<u32>,
    /// The rows of the resized image that are kept.
    pub(crate) rows: Range<u32>,
    /// Where the kept part starts in the S × S input (non-zero when padded).
    pub(crate) offset: (u32, u32),
}

/// Python's `round` of `numerator / 2`: halves go to the even neighbour.
fn half_rounded_even(numerator: u32) -> u32 {
    let floor = numerator / 2;
    if numerator % 2 == 1 && floor % 2 == 1 {
        floor + 1
    } else {
        floor
    }
}

/// Crop (a centred window, offset rounded as Python's `round`) or pad
/// (centred, the extra pixel after) one axis of length `len` to `size`.
fn fit_axis(len: u32, size: u32) -> (Range<u32>, u32) {
    if len >= size {
        let start = half_rounded_even(len - size);
        (start..start + size, 0)
    } else {
        (0..len, (size - len) / 2)
    }
}

/// The geometry for an image of `width` × `height`.
pub(crate) fn plan(width: u32, height: u32, pre: &Preprocess) -> Plan {
    let size = pre.size;
    let resized = match pre.resize_mode {
        ResizeMode::Squash => (size, size),
        ResizeMode::Shortest => {
            // torchvision: the short side becomes S, the long side
            // int(S * long / short), which is the integer floor.
            let long_of = |long: u32, short: u32| {
                u32::try_from(u64::from(size) * u64::from(long) / u64::from(short))
                    .unwrap_or(u32::MAX)
            };
            if width <= height {
                (size, long_of(height, width))
            } else {
                (long_of(width, height), size)
            }
        }
        ResizeMode::Longest => {
            // open_clip's ResizeKeepRatio(longest=1): the ratio of the side
            // that is most over S, each side round(side / ratio).
            let ratio_h = f64::from(height) / f64::from(size);
            let ratio_w = f64::from(width) / f64::from(size);
            let ratio = ratio_h.max(ratio_w);
            let side = |len: u32| ((f64::from(len) / ratio).round_ties_even() as u32).max(1);
            (side(width), side(height))
        }
    };
    let (columns, left) = fit_axis(resized.0, size);
    let (rows, top) = fit_axis(resized.1, size);
    Plan {
        resized,
        columns,
        rows,
        offset: (left, top),
    }
}

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

fn bilinear(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

/// One output pixel's source span and fixed-point weights along an axis.
#[derive(Debug)]
struct Taps {
    first: usize,
    weights: Vec<i32>,
}

/// Pillow's antialiased weights for the outputs `window` of a resize of
/// `in_len` to `out_len`: the filter stretched by the downscale factor,
/// normalised in double precision, then rounded to fixed point.
fn taps(in_len: u32, out_len: u32, window: Range<u32>, filter: Interpolation) -> Vec<Taps> {
    let (kernel, support): (fn(f64) -> f64, f64) = match filter {
        Interpolation::Bicubic => (bicubic, 2.0),
        Interpolation::Bilinear => (bilinear, 1.0),
    };
    let scale = f64::from(in_len) / f64::from(out_len);
    let filter_scale = scale.max(1.0);
    let support = support * filter_scale;
    let inverse = 1.0 / filter_scale;
    let one = f64::from(1u32 << PRECISION_BITS);
    window
        .map(|out| {
            let center = (f64::from(out) + 0.5) * scale;
            // C's (int) truncates toward zero; negatives clamp to 0 anyway.
            let first = ((center - support + 0.5) as i64).max(0);
            let end = ((center + support + 0.5) as i64).min(i64::from(in_len));
            let mut raw: Vec<f64> = (first..end)
                .map(|x| kernel((x as f64 - center + 0.5) * inverse))
                .collect();
            let total: f64 = raw.iter().sum();
            if total != 0.0 {
                for w in &mut raw {
                    *w /= total;
                }
            }
            let weights = raw
                .iter()
                .map(|w| {
                    if *w < 0.0 {
                        (-0.5 + w * one) as i32
                    } else {
                        (0.5 + w * one) as i32
                    }
                })
                .collect();
            Taps {
                first: first as usize,
                weights,
            }
        })
        .collect()
}

fn clip8(sum: i32) -> u8 {
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

/// The window `columns` × `rows` of `src` resized to `resized`, 8-bit RGB,
/// row-major: Pillow's horizontal pass, rounded to 8 bits, then its
/// vertical pass.
pub(crate) fn resample(
    src: &RgbImage,
    resized: (u32, u32),
    columns: Range<u32>,
    rows: Range<u32>,
    filter: Interpolation,
) -> Vec<u8> {
    let (in_w, in_h) = src.dimensions();
    let out_w = columns.len();
    let out_h = rows.len();
    let pixels = src.as_raw();
    let in_stride = in_w as usize * 3;
    if (in_w, in_h) == resized {
        // torchvision and Pillow return the image itself.
        let mut out = Vec::with_capacity(out_w * out_h * 3);
        for y in rows {
            let row = &pixels[y as usize * in_stride..][..in_stride];
            out.extend_from_slice(&row[columns.start as usize * 3..columns.end as usize * 3]);
        }
        return out;
    }
    let mut horizontal = taps(in_w, resized.0, columns, filter);
    let vertical = taps(in_h, resized.1, rows, filter);
    // Every horizontal tap list padded with zero weights to one length, so
    // each output is a fixed-length dot product over contiguous values.
    let span = horizontal
        .iter()
        .map(|t| t.weights.len())
        .max()
        .unwrap_or(0);
    for tap in &mut horizontal {
        tap.weights.resize(span, 0);
    }
    let passes = Passes {
        pixels,
        in_w: in_w as usize,
        horizontal: &horizontal,
        span,
        vertical: &vertical,
        out_w,
    };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor supports AVX2, checked just above.
        return unsafe { passes.run_avx2() };
    }
    passes.run()
}

/// Source rows the horizontal pass sums at once (one AVX2 register of
/// 32-bit sums).
const LANES: usize = 8;

/// `start` plus the sum of `values[k] × weights[k]`, lane by lane.
#[inline(always)]
fn dot_lanes(values: &[[i32; LANES]], weights: &[i32], start: i32) -> [i32; LANES] {
    let mut sums = [start; LANES];
    for (v, &w) in values.iter().zip(weights) {
        sums = std::array::from_fn(|lane| sums[lane] + v[lane] * w);
    }
    sums
}

/// The two passes of one resize, weights computed.
struct Passes<'a> {
    pixels: &'a [u8],
    in_w: usize,
    horizontal: &'a [Taps],
    /// The length of every horizontal tap list.
    span: usize,
    vertical: &'a [Taps],
    out_w: usize,
}

impl Passes<'_> {
    /// [`Passes::run`] compiled for AVX2, which multiplies eight sums at
    /// once.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn run_avx2(&self) -> Vec<u8> {
        self.run()
    }

    /// The horizontal pass over the source rows the vertical pass reads,
    /// rounded to 8 bits, then the vertical pass; sums exactly Pillow's.
    #[inline(always)]
    fn run(&self) -> Vec<u8> {
        let (in_w, span, out_w) = (self.in_w, self.span, self.out_w);
        // Sums stay within i32 as in Pillow: 255 × 2^22 times the weights'
        // absolute sum, at most about 1.3 for these filters.
        let half = 1i32 << (PRECISION_BITS - 1);
        let row_first = self.vertical.iter().map(|t| t.first).min().unwrap_or(0);
        let row_end = self
            .vertical
            .iter()
            .map(|t| t.first + t.weights.len())
            .max()
            .unwrap_or(0);
        let mid_stride = out_w * 3;
        let mid_rows = row_end - row_first;
        let mut mid = vec![0u8; mid_rows * mid_stride];
        // LANES source rows at a time, each column's LANES values side by
        // side, so that one tap is one multiply-add of LANES sums; each
        // channel apart, with `span` zero columns after the row's end.
        let plane_len = in_w + span;
        let mut block = vec![[0i32; LANES]; 3 * plane_len];
        for first_row in (row_first..row_end).step_by(LANES) {
            let lanes = LANES.min(row_end - first_row);
            // Rows past the end repeat the last one: computed, unused.
            let rows: [&[u8]; LANES] = std::array::from_fn(|lane| {
                let y = first_row + lane.min(lanes - 1);
                &self.pixels[y * in_w * 3..][..in_w * 3]
            });
            let (red, rest) = block.split_at_mut(plane_len);
            let (green, blue) = rest.split_at_mut(plane_len);
            for (x, ((r, g), b)) in red
                .iter_mut()
                .zip(green.iter_mut())
                .zip(blue.iter_mut())
                .take(in_w)
                .enumerate()
            {
                *r = std::array::from_fn(|lane| i32::from(rows[lane][3 * x]));
                *g = std::array::from_fn(|lane| i32::from(rows[lane][3 * x + 1]));
                *b = std::array::from_fn(|lane| i32::from(rows[lane][3 * x + 2]));
            }
            for (column, tap) in self.horizontal.iter().enumerate() {
                let weights = &tap.weights[..span];
                for channel in 0..3 {
                    let values = &block[channel * plane_len + tap.first..][..span];
                    let sums = dot_lanes(values, weights, half);
                    for (lane, sum) in sums.iter().enumerate().take(lanes) {
                        let at = (first_row - row_first + lane) * mid_stride + column * 3 + channel;
                        mid[at] = clip8(*sum);
                    }
                }
            }
        }
        let mut out = vec![0u8; self.vertical.len() * mid_stride];
        let mut sums = vec![0i32; mid_stride];
        for (tap, out_row) in self.vertical.iter().zip(out.chunks_exact_mut(mid_stride)) {
            sums.fill(half);
            for (k, &w) in tap.weights.iter().enumerate() {
                let mid_row = &mid[(tap.first + k - row_first) * mid_stride..][..mid_stride];
                for (s, v) in sums.iter_mut().zip(mid_row) {
                    *s += i32::from(*v) * w;
                }
            }
            for (o, s) in out_row.iter_mut().zip(&sums) {
                *o = clip8(*s);
            }
        }
        out
    }
}

/// Writes the model input for `image` into `out` (3 × S × S values, channels
/// first).
///
/// # Panics
/// When `out` is not 3 × S × S long or the image is empty (the caller
/// checks both).
pub(crate) fn write_input(image: &RgbImage, pre: &Preprocess, out: &mut [f32]) {
    let size = pre.size as usize;
    let plane = size * size;
    assert_eq!(out.len(), 3 * plane, "the input buffer is 3 × S × S");
    let (width, height) = image.dimensions();
    let plan = plan(width, height, pre);
    let kept = resample(
        image,
        plan.resized,
        plan.columns.clone(),
        plan.rows.clone(),
        pre.interpolation,
    );
    let scaled = |value: u8, channel: usize| {
        (f32::from(value) / 255.0 - pre.mean[channel]) / pre.std[channel]
    };
    for channel in 0..3 {
        out[channel * plane..][..plane].fill(scaled(pre.fill, channel));
    }
    let (kept_w, kept_h) = (plan.columns.len(), plan.rows.len());
    let (left, top) = (plan.offset.0 as usize, plan.offset.1 as usize);
    for y in 0..kept_h {
        let row = &kept[y * kept_w * 3..][..kept_w * 3];
        let at = (top + y) * size + left;
        for (x, px) in row.chunks_exact(3).enumerate() {
            for channel in 0..3 {
                out[channel * plane + at + x] = scaled(px[channel], channel);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pre(size: u32, resize_mode: ResizeMode) -> Preprocess {
        Preprocess {
            size,
            mean: [0.0; 3],
            std: [1.0; 3],
            interpolation: Interpolation::Bicubic,
            resize_mode,
            fill: 0,
        }
    }

    #[test]
    fn python_rounding_of_halves() {
        assert_eq!(
            (0..8).map(half_rounded_even).collect::<Vec<_>>(),
            vec![0, 0, 1, 2, 2, 2, 3, 4]
        );
    }

    #[test]
    fn shortest_floors_the_long_side_and_centres_the_crop() {
        // 224 × 1536 / 1024 = 336: crop 112 from the top.
        let p = plan(1024, 1536, &pre(224, ResizeMode::Shortest));
        assert_eq!(p.resized, (224, 336));
        assert_eq!((p.columns, p.rows, p.offset), (0..224, 56..280, (0, 0)));
        // 224 × 1000 / 999 = 224.22: floored to 224, no crop.
        let p = plan(999, 1000, &pre(224, ResizeMode::Shortest));
        assert_eq!(p.resized, (224, 224));
        // 225 − 224 = 1: round(0.5) is 0.
        let p = plan(1000, 1005, &pre(224, ResizeMode::Shortest));
        assert_eq!((p.resized, p.rows), ((224, 225), 0..224));
        // 227 − 224 = 3: round(1.5) is 2.
        let p = plan(1000, 1014, &pre(224, ResizeMode::Shortest));
        assert_eq!((p.resized, p.rows), ((224, 227), 2..226));
    }

    #[test]
    fn longest_pads_the_short_side() {
        let p = plan(1000, 500, &pre(224, ResizeMode::Longest));
        assert_eq!(p.resized, (224, 112));
        assert_eq!((p.columns, p.rows, p.offset), (0..224, 0..112, (0, 56)));
        // 113 rows: the odd pixel of padding goes after.
        let p = plan(1000, 505, &pre(224, ResizeMode::Longest));
        assert_eq!((p.resized, p.offset), ((224, 113), (0, 55)));
    }

    #[test]
    fn squash_ignores_the_aspect_ratio() {
        let p = plan(1000, 10, &pre(64, ResizeMode::Squash));
        assert_eq!((p.resized, p.columns, p.rows), ((64, 64), 0..64, 0..64));
    }

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (i, o) in [(1000, 224), (64, 224), (225, 224), (7, 3)] {
            for t in taps(i, o, 0..o, Interpolation::Bicubic) {
                let sum: i32 = t.weights.iter().sum();
                assert!((sum - (1 << PRECISION_BITS)).abs() <= t.weights.len() as i32);
            }
        }
    }

    #[test]
    fn a_flat_image_stays_flat() {
        let image = RgbImage::from_pixel(301, 97, image::Rgb([10, 128, 250]));
        for mode in [
            ResizeMode::Shortest,
            ResizeMode::Squash,
            ResizeMode::Longest,
        ] {
            let p = plan(301, 97, &pre(32, mode));
            let out = resample(&image, p.resized, p.columns, p.rows, Interpolation::Bicubic);
            assert!(
                out.chunks_exact(3).all(|px| px == [10, 128, 250]),
                "{mode:?}"
            );
        }
    }

    /// Pillow's two passes written plainly, one pixel at a time.
    fn plain_resample(src: &RgbImage, resized: (u32, u32), filter: Interpolation) -> Vec<u8> {
        let (in_w, in_h) = src.dimensions();
        let horizontal = taps(in_w, resized.0, 0..resized.0, filter);
        let vertical = taps(in_h, resized.1, 0..resized.1, filter);
        let half = 1i64 << (PRECISION_BITS - 1);
        let narrow = |sum: i64| (sum >> PRECISION_BITS).clamp(0, 255) as u8;
        let mut mid = vec![0u8; in_h as usize * resized.0 as usize * 3];
        for y in 0..in_h as usize {
            for (x, tap) in horizontal.iter().enumerate() {
                for c in 0..3 {
                    let mut sum = half;
                    for (k, w) in tap.weights.iter().enumerate() {
                        let px = src.get_pixel((tap.first + k) as u32, y as u32);
                        sum += i64::from(px[c]) * i64::from(*w);
                    }
                    mid[(y * resized.0 as usize + x) * 3 + c] = narrow(sum);
                }
            }
        }
        let mut out = Vec::new();
        for tap in &vertical {
            for x in 0..resized.0 as usize * 3 {
                let mut sum = half;
                for (k, w) in tap.weights.iter().enumerate() {
                    let v = mid[(tap.first + k) * resized.0 as usize * 3 + x];
                    sum += i64::from(v) * i64::from(*w);
                }
                out.push(narrow(sum));
            }
        }
        out
    }

    #[test]
    fn the_fast_passes_equal_the_plain_ones() {
        let image = RgbImage::from_fn(83, 61, |x, y| {
            image::Rgb([
                (x * 37 + y) as u8,
                (y * 11) as u8,
                ((x * y * 7) % 256) as u8,
            ])
        });
        for filter in [Interpolation::Bicubic, Interpolation::Bilinear] {
            for resized in [(20, 17), (83, 9), (9, 61), (200, 150), (1, 1), (41, 100)] {
                let fast = resample(&image, resized, 0..resized.0, 0..resized.1, filter);
                assert_eq!(fast, plain_resample(&image, resized, filter), "{resized:?}");
            }
        }
    }

    #[test]
    fn a_window_equals_the_same_part_of_the_whole() {
        let image = RgbImage::from_fn(50, 40, |x, y| {
            image::Rgb([(x * 5) as u8, (y * 6) as u8, ((x * y) % 256) as u8])
        });
        let whole = resample(&image, (23, 31), 0..23, 0..31, Interpolation::Bicubic);
        let part = resample(&image, (23, 31), 4..15, 9..20, Interpolation::Bicubic);
        for (y, row) in part.chunks_exact(11 * 3).enumerate() {
            let from = ((9 + y) * 23 + 4) * 3;
            assert_eq!(row, &whole[from..from + 11 * 3]);
        }
    }
}
