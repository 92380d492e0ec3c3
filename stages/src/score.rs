//! The `score` stage: a no-reference technical quality score from 0 to 100,
//! computed on the proxy image, with the components it is made of.
//!
//! Every component is a number in `0..=1` where higher is better; the score
//! is `100 × Π componentᵂ` (a weighted geometric mean), so one bad component
//! pulls the whole score down instead of being averaged away:
//!
//! | component | measures | weight |
//! |---|---|---|
//! | `sharpness` | mean of the strongest 10 % of luma gradients (blur flattens them) | 0.30 |
//! | `noise` | noise σ estimated in the flattest 8×8 blocks (Immerkær's operator), mapped so σ ≈ 6/255 halves it | 0.20 |
//! | `exposure` | clipped shadows and highlights, mean brightness far from mid-grey, and a narrow tonal range (histogram entropy) | 0.25 |
//! | `contrast` | RMS contrast (standard deviation of luma) | 0.15 |
//! | `colourfulness` | Hasler and Süsstrunk's colourfulness, floored at 0.3 so grey-scale art is not zeroed | 0.10 |
//!
//! This is technical quality only: a sharp, well-exposed picture of
//! something ugly scores high. It says nothing about aesthetics or prompt
//! adherence, and absolute values are only comparable between images of
//! similar content; its reliable use is ranking versions of one picture and
//! flagging blurred, noisy, dark or blown-out outputs.
//!
//! Facts: `{"score": Float 0–100, "sharpness", "noise", "exposure",
//! "contrast", "colourfulness": Float 0–1, "noise_sigma": Float (in 0–255
//! levels), "clipped": Float (fraction of clipped 4×4 blocks, shadows counting
//! a quarter)}`.

use crate::embed::{Planes, load_proxy};
use kiln_plugin_api::{
    CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, TIER_ENRICHED, Value, builtin,
};

/// The stage name facts are stored under
/// ([`builtin::SCORE`](kiln_plugin_api::builtin::SCORE), where they are
/// described).
pub use kiln_plugin_api::builtin::SCORE as SCORE_STAGE_NAME;

/// The quality of one image, with its components.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// The overall score, 0–100.
    pub score: f64,
    /// Edge strength, 0–1.
    pub sharpness: f64,
    /// Absence of noise, 0–1.
    pub noise: f64,
    /// Absence of clipping and of extreme brightness, with a full tonal range, 0–1.
    pub exposure: f64,
    /// RMS contrast, 0–1.
    pub contrast: f64,
    /// Colourfulness, 0.3–1.
    pub colourfulness: f64,
    /// The estimated noise standard deviation, in 0–255 levels.
    pub noise_sigma: f64,
    /// Fraction of 4×4 blocks clipped to white (shadow blocks count a quarter).
    pub clipped: f64,
}

impl Quality {
    /// The facts the stage writes.
    pub fn to_value(&self) -> Value {
        Value::map([
            ("score", Value::from(self.score)),
            ("sharpness", Value::from(self.sharpness)),
            ("noise", Value::from(self.noise)),
            ("exposure", Value::from(self.exposure)),
            ("contrast", Value::from(self.contrast)),
            ("colourfulness", Value::from(self.colourfulness)),
            ("noise_sigma", Value::from(self.noise_sigma)),
            ("clipped", Value::from(self.clipped)),
        ])
    }
}

const WEIGHTS: [f64; 5] = [0.30, 0.20, 0.25, 0.15, 0.10];

/// Scores an image (normally the proxy, about 512 px on its longest side).
pub fn score_image(image: &image::RgbImage) -> Quality {
    let planes = Planes::luma_from_rgb(image);
    let gradient = strong_gradient(&planes);
    let sharpness = 1.0 - (-gradient / 0.06).exp();
    let noise_sigma = noise_sigma(&planes) * 255.0;
    let noise = 1.0 / (1.0 + (noise_sigma / 6.0).powi(2));
    let (mean, std, clipped, entropy) = luma_statistics(&planes);
    let exposure = (-2.0 * clipped).exp()
        * (-2.5 * (mean - 0.45).powi(2)).exp()
        * (entropy / 8.0).clamp(0.0, 1.0).powf(1.5);
    let contrast = 1.0 - (-std / 0.12).exp();
    let colourfulness = 0.3 + 0.7 * (1.0 - (-colourfulness_metric(image) / 45.0).exp());
    let components = [sharpness, noise, exposure, contrast, colourfulness];
    let score = 100.0
        * components
            .iter()
            .zip(WEIGHTS)
            .map(|(c, w)| c.clamp(1e-6, 1.0).powf(w))
            .product::<f64>();
    Quality {
        score,
        sharpness,
        noise,
        exposure,
        contrast,
        colourfulness,
        noise_sigma,
        clipped,
    }
}

fn strong_gradient(planes: &Planes) -> f64 {
    let (w, h) = (planes.width, planes.height);
    let at = |x: usize, y: usize| f64::from(planes.y.get(y * w + x).copied().unwrap_or(0.0));
    let mut magnitudes = Vec::with_capacity(w * h);
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let gx = (at(x + 1, y) - at(x - 1, y)) / 2.0;
            let gy = (at(x, y + 1) - at(x, y - 1)) / 2.0;
            magnitudes.push((gx * gx + gy * gy).sqrt());
        }
    }
    if magnitudes.is_empty() {
        return 0.0;
    }
    let top = (magnitudes.len() / 10).max(1);
    let cut = magnitudes.len() - top;
    magnitudes.select_nth_unstable_by(cut, f64::total_cmp);
    magnitudes.get(cut..).map_or(0.0, |s| s.iter().sum::<f64>()) / top as f64
}

/// Immerkær's fast noise estimate, per 8×8 block; the 10th percentile over
/// blocks that are not clipped, so texture and edges do not count as noise.
fn noise_sigma(planes: &Planes) -> f64 {
    let (w, h) = (planes.width, planes.height);
    let at = |x: usize, y: usize| f64::from(planes.y.get(y * w + x).copied().unwrap_or(0.0));
    let factor = (std::f64::consts::PI / 2.0).sqrt() / 6.0;
    let mut blocks = Vec::new();
    let mut by = 1;
    while by + 8 < h {
        let mut bx = 1;
        while bx + 8 < w {
            let mut sum = 0.0;
            let mut clipped = 0;
            for y in by..by + 8 {
                for x in bx..bx + 8 {
                    let v = at(x, y);
                    if !(0.015..=0.985).contains(&v) {
                        clipped += 1;
                    }
                    let l = at(x - 1, y - 1) - 2.0 * at(x, y - 1) + at(x + 1, y - 1)
                        - 2.0 * at(x - 1, y)
                        + 4.0 * v
                        - 2.0 * at(x + 1, y)
                        + at(x - 1, y + 1)
                        - 2.0 * at(x, y + 1)
                        + at(x + 1, y + 1);
                    sum += l.abs();
                }
            }
            if clipped < 16 {
                blocks.push(factor * sum / 64.0);
            }
            bx += 8;
        }
        by += 8;
    }
    if blocks.is_empty() {
        return 0.0;
    }
    let k = blocks.len() / 10;
    blocks.select_nth_unstable_by(k, f64::total_cmp);
    blocks.get(k).copied().unwrap_or(0.0)
}

/// Mean, standard deviation, clipped fraction and histogram entropy (bits) of luma.
///
/// Clipping is counted per 4×4 block (clipped when six of its sixteen
/// pixels are at the limit), so noise does not hide it (a noisy blown-out
/// sky is still blown out), and shadow clipping counts a quarter as much as
/// highlight clipping: black backgrounds are a common, deliberate style, a
/// blown-out highlight rarely is.
fn luma_statistics(planes: &Planes) -> (f64, f64, f64, f64) {
    let n = planes.y.len().max(1) as f64;
    let mut histogram = [0u32; 256];
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for &v in &planes.y {
        let v = f64::from(v);
        sum += v;
        sum_sq += v * v;
        let bin = (v * 255.0).round().clamp(0.0, 255.0) as usize;
        if let Some(slot) = histogram.get_mut(bin) {
            *slot += 1;
        }
    }
    let (w, h) = (planes.width, planes.height);
    let (mut blocks, mut clipped) = (0.0, 0.0);
    let mut block = [0.0f32; 16];
    for by in (0..h.saturating_sub(3)).step_by(4) {
        for bx in (0..w.saturating_sub(3)).step_by(4) {
            for (i, slot) in block.iter_mut().enumerate() {
                let (x, y) = (bx + i % 4, by + i / 4);
                *slot = planes.y.get(y * w + x).copied().unwrap_or(0.0);
            }
            block.sort_by(f32::total_cmp);
            blocks += 1.0;
            // Six of sixteen pixels at the limit: noise cannot lift a
            // clipped block out of it, and a bright but unclipped one
            // does not count.
            if block[10] >= 0.985 {
                clipped += 1.0;
            } else if block[5] <= 0.015 {
                clipped += 0.25;
            }
        }
    }
    let mean = sum / n;
    let std = (sum_sq / n - mean * mean).max(0.0).sqrt();
    let entropy = histogram
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum();
    let clipped = if blocks > 0.0 { clipped / blocks } else { 0.0 };
    (mean, std, clipped, entropy)
}

/// Hasler and Süsstrunk (2003), in 0–255 units.
fn colourfulness_metric(image: &image::RgbImage) -> f64 {
    let n = (image.width() as f64 * image.height() as f64).max(1.0);
    let (mut rg_sum, mut rg_sq, mut yb_sum, mut yb_sq) = (0.0, 0.0, 0.0, 0.0);
    for p in image.pixels() {
        let [r, g, b] = p.0.map(f64::from);
        let rg = r - g;
        let yb = 0.5 * (r + g) - b;
        rg_sum += rg;
        rg_sq += rg * rg;
        yb_sum += yb;
        yb_sq += yb * yb;
    }
    let (rg_mean, yb_mean) = (rg_sum / n, yb_sum / n);
    let rg_var = (rg_sq / n - rg_mean * rg_mean).max(0.0);
    let yb_var = (yb_sq / n - yb_mean * yb_mean).max(0.0);
    (rg_var + yb_var).sqrt() + 0.3 * (rg_mean * rg_mean + yb_mean * yb_mean).sqrt()
}

/// The built-in tier-3 quality stage. Reads only the proxy image.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScoreStage;

impl ScoreStage {
    /// Bump when the score changes for the same proxy.
    pub const VERSION: u32 = 1;
}

impl Stage for ScoreStage {
    fn info(&self) -> StageInfo {
        StageInfo::new(SCORE_STAGE_NAME, Self::VERSION, TIER_ENRICHED)
            .after([builtin::THUMBNAIL, builtin::METADATA])
            .cost(CostClass::Cpu)
            .needs_proxy(true)
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        let image = load_proxy(input, SCORE_STAGE_NAME)?;
        Ok(StageOutput::facts(score_image(&image).to_value()))
    }
}
