//! Exact 2 × 2 area averaging of opaque 8-bit images.
//!
//! Shrinking by a factor of two or more is most of the resize work for a
//! typical render (1024 px to a 512-px proxy, 512 to a 256-px thumbnail).
//! Averaging each 2 × 2 block is the area filter at that factor and costs a
//! few additions per sample; the general resizer then only has whatever
//! non-power-of-two step is left, on a quarter of the pixels or fewer.

use image::{DynamicImage, RgbImage};

/// Halves an opaque RGB8 or RGBA8 image into RGB8 (alpha, all opaque, is
/// dropped). A last odd row or column is averaged with itself. `None` for
/// other pixel types.
pub(crate) fn halve_opaque(image: &DynamicImage) -> Option<RgbImage> {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let out = match image {
        DynamicImage::ImageRgb8(buffer) => {
            halve_with(RowPairHalver::<3>::new(width)?, buffer, height)
        }
        DynamicImage::ImageRgba8(buffer) => {
            halve_with(RowPairHalver::<4>::new(width)?, buffer, height)
        }
        _ => None,
    }?;
    RgbImage::from_raw(
        u32::try_from(width.div_ceil(2)).ok()?,
        u32::try_from(height.div_ceil(2)).ok()?,
        out,
    )
}

/// Halves the `height` rows of `src` (`CHANNELS` bytes a pixel, RGB first)
/// into RGB with `halver`.
fn halve_with<const CHANNELS: usize>(
    mut halver: RowPairHalver<CHANNELS>,
    src: &[u8],
    height: usize,
) -> Option<Vec<u8>> {
    let row_len = halver.width * CHANNELS;
    if height == 0 || src.len() != row_len * height {
        return None;
    }
    let mut out = vec![0u8; halver.out_row_len() * height.div_ceil(2)];
    for (y, out_row) in out.chunks_exact_mut(halver.out_row_len()).enumerate() {
        let top = src.get(2 * y * row_len..)?.get(..row_len)?;
        let below = (2 * y + 1).min(height - 1);
        let bottom = src.get(below * row_len..)?.get(..row_len)?;
        halver.halve(top, bottom, out_row)?;
    }
    Some(out)
}

/// Halves an image two rows at a time, for a caller that has the whole image
/// or one that decodes it row by row: each call turns two rows of `width`
/// pixels of `CHANNELS` bytes (RGB first) into one row of RGB.
pub(crate) struct RowPairHalver<const CHANNELS: usize> {
    width: usize,
    /// Column sums of the two rows, one spare pixel for an odd last column.
    sums: Vec<u16>,
    /// `averages[j]`: the rounded mean of the 2 × 2 block whose top-left
    /// sample is j, for every j; the output keeps those of even pixels.
    averages: Vec<u8>,
    /// Whether the processor runs the AVX2 build.
    avx2: bool,
}

impl<const CHANNELS: usize> RowPairHalver<CHANNELS> {
    /// A halver for rows `width` pixels wide; `None` for a zero width.
    pub(crate) fn new(width: usize) -> Option<Self> {
        if width == 0 {
            return None;
        }
        #[cfg(target_arch = "x86_64")]
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = false;
        Some(RowPairHalver {
            width,
            sums: vec![0; width * CHANNELS + CHANNELS],
            averages: vec![0; width * CHANNELS],
            avx2,
        })
    }

    /// Bytes of one output row.
    pub(crate) fn out_row_len(&self) -> usize {
        self.width.div_ceil(2) * 3
    }

    /// Averages the 2 × 2 blocks of `top` and `bottom` into `out_row`. A
    /// last odd row is passed as both rows. `None` if a length is wrong.
    pub(crate) fn halve(&mut self, top: &[u8], bottom: &[u8], out_row: &mut [u8]) -> Option<()> {
        let row_len = self.width * CHANNELS;
        if top.len() != row_len || bottom.len() != row_len || out_row.len() != self.out_row_len() {
            return None;
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is set only when the processor supports AVX2.
            return unsafe { self.halve_avx2(top, bottom, out_row) };
        }
        self.halve_pair(top, bottom, out_row)
    }

    /// [`RowPairHalver::halve_pair`] compiled for AVX2, which adds sixteen
    /// samples at once.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn halve_avx2(&mut self, top: &[u8], bottom: &[u8], out_row: &mut [u8]) -> Option<()> {
        self.halve_pair(top, bottom, out_row)
    }

    /// The body of [`RowPairHalver::halve`], lengths already checked.
    #[inline(always)]
    fn halve_pair(&mut self, top: &[u8], bottom: &[u8], out_row: &mut [u8]) -> Option<()> {
        let (width, sums, averages) = (self.width, &mut self.sums, &mut self.averages);
        let row_len = width * CHANNELS;
        let out_width = width.div_ceil(2);
        for (sum, (&a, &b)) in sums.iter_mut().zip(top.iter().zip(bottom)) {
            *sum = u16::from(a) + u16::from(b);
        }
        if width % 2 == 1 {
            let (body, spare) = sums.split_at_mut(row_len);
            spare.copy_from_slice(body.get(row_len - CHANNELS..)?);
        }
        // Contiguous, so it runs many samples an instruction.
        for ((average, &left), &right) in averages.iter_mut().zip(&*sums).zip(sums.get(CHANNELS..)?)
        {
            *average = quarter(left + right);
        }
        // Each output pixel takes the first three samples of a pair of
        // input pixels. Copying four bytes at a time is cheaper than three
        // single ones; the fourth is overwritten by the next pixel.
        let last = out_width - 1;
        for pixel in 0..last {
            let from = averages.get(2 * CHANNELS * pixel..)?.get(..4)?;
            out_row
                .get_mut(3 * pixel..)?
                .get_mut(..4)?
                .copy_from_slice(from);
        }
        let from = averages.get(2 * CHANNELS * last..)?.get(..3)?;
        out_row.get_mut(3 * last..)?.copy_from_slice(from);
        Some(())
    }
}

#[inline(always)]
fn quarter(sum: u16) -> u8 {
    ((sum + 2) >> 2) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, Rgba, RgbaImage};

    #[test]
    fn blocks_average_to_nearest_and_odd_edges_pair_with_themselves() {
        // 3x3 RGB: values chosen so every block's mean is known.
        let pixels: Vec<u8> = (0..9u8).flat_map(|i| [i * 10, i * 10 + 1, 200]).collect();
        let image = DynamicImage::ImageRgb8(RgbImage::from_raw(3, 3, pixels).unwrap());
        let out = halve_opaque(&image).unwrap();
        assert_eq!(out.dimensions(), (2, 2));
        // Block (0,0): 0, 10, 30, 40 → 20. Block (1,0): 20, 20, 50, 50 → 35.
        // Block (0,1): 60, 70, 60, 70 → 65. Block (1,1): 80 alone.
        assert_eq!(out.get_pixel(0, 0), &Rgb([20, 21, 200]));
        assert_eq!(out.get_pixel(1, 0), &Rgb([35, 36, 200]));
        assert_eq!(out.get_pixel(0, 1), &Rgb([65, 66, 200]));
        assert_eq!(out.get_pixel(1, 1), &Rgb([80, 81, 200]));
    }

    #[test]
    fn rgba_drops_alpha_and_rounds_half_up() {
        let image = DynamicImage::ImageRgba8(RgbaImage::from_fn(2, 2, |x, y| {
            Rgba([if x + y == 0 { 1 } else { 0 }, 255, 2, 255])
        }));
        let out = halve_opaque(&image).unwrap();
        // 1/4 rounds to 0; 255 stays; 2 stays.
        assert_eq!(out.get_pixel(0, 0), &Rgb([0, 255, 2]));
        let mut raw = RgbaImage::from_pixel(2, 2, Rgba([2, 2, 2, 255]));
        raw.put_pixel(0, 0, Rgba([4, 4, 4, 255]));
        // (4 + 2 + 2 + 2) / 4 = 2.5 → 3.
        let out = halve_opaque(&DynamicImage::ImageRgba8(raw)).unwrap();
        assert_eq!(out.get_pixel(0, 0), &Rgb([3, 3, 3]));
    }

    /// The plain definition: each output pixel is the rounded mean of its
    /// 2 × 2 block, an odd edge reusing its last row or column.
    fn reference(src: &[u8], width: usize, height: usize, channels: usize) -> Vec<u8> {
        let (ow, oh) = (width.div_ceil(2), height.div_ceil(2));
        let mut out = Vec::with_capacity(ow * oh * 3);
        for y in 0..oh {
            for x in 0..ow {
                for c in 0..3 {
                    let mut sum = 0u32;
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        let (sx, sy) = ((2 * x + dx).min(width - 1), (2 * y + dy).min(height - 1));
                        sum += u32::from(src[(sy * width + sx) * channels + c]);
                    }
                    out.push(((sum + 2) / 4) as u8);
                }
            }
        }
        out
    }

    /// [`halve_with`] with the AVX2 build turned off.
    fn plain_halve<const CHANNELS: usize>(src: &[u8], width: usize, height: usize) -> Vec<u8> {
        let mut halver = RowPairHalver::<CHANNELS>::new(width).unwrap();
        halver.avx2 = false;
        halve_with(halver, src, height).unwrap()
    }

    #[test]
    fn every_shape_matches_the_plain_definition() {
        for (width, height) in [
            (1, 1),
            (1, 5),
            (2, 2),
            (3, 7),
            (8, 3),
            (33, 17),
            (64, 64),
            (101, 99),
        ] {
            for channels in [3, 4] {
                let seed = 0x2545_f491 ^ (width * 131 + height * 7 + channels) as u32;
                let src = super::super::test_noise(width * height * channels, seed);
                let (w, h) = (width as u32, height as u32);
                let image = if channels == 3 {
                    DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, src.clone()).unwrap())
                } else {
                    DynamicImage::ImageRgba8(RgbaImage::from_raw(w, h, src.clone()).unwrap())
                };
                let expected = reference(&src, width, height, channels);
                let out = halve_opaque(&image).unwrap();
                assert_eq!(
                    out.as_raw(),
                    &expected,
                    "{width}x{height}, {channels} channels"
                );
                // The body without the AVX2 build, as other processors run it.
                let plain = if channels == 3 {
                    plain_halve::<3>(&src, width, height)
                } else {
                    plain_halve::<4>(&src, width, height)
                };
                assert_eq!(
                    plain, expected,
                    "{width}x{height}, {channels} channels, plain"
                );
            }
        }
    }

    #[test]
    fn other_pixel_types_are_left_to_the_general_resizer() {
        let grey = DynamicImage::new_luma8(4, 4);
        assert!(halve_opaque(&grey).is_none());
    }
}
