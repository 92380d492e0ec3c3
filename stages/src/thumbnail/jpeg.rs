//! Baseline JPEG encoding of the proxy and the thumbnail.
//!
//! Both are opaque 8-bit RGB images of at most a few hundred thousand
//! pixels, encoded once each for every imported image, so this encoder does
//! that one job: YCbCr with 2×2-subsampled chroma, the example Huffman
//! tables of the JPEG standard (ITU T.81 Annex K), a floating-point
//! Arai–Agui–Nakajima DCT written to work on all eight columns of a block at
//! once, and entropy coding that visits only a block's nonzero
//! coefficients, found from a bit mask, instead of testing all 63.

/// For each position in zigzag order, the natural (row-major) index of the
/// coefficient stored there.
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// For each position in zigzag order, where [`dct`] leaves that coefficient:
/// its output is column-frequency major, (u, v) at v * 8 + u.
const ZIGZAG_IN_DCT: [usize; 64] = {
    let mut table = [0usize; 64];
    let mut k = 0;
    while k < 64 {
        let natural = ZIGZAG[k];
        table[k] = (natural % 8) * 8 + natural / 8;
        k += 1;
    }
    table
};

/// Annex K.1 quantisation tables (quality 50), natural order.
const LUMA_QUANT: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_QUANT: [u16; 64] = {
    let mut table = [99u16; 64];
    let corner: [[u16; 4]; 4] = [
        [17, 18, 24, 47],
        [18, 21, 26, 66],
        [24, 26, 56, 99],
        [47, 66, 99, 99],
    ];
    let mut row = 0;
    while row < 4 {
        let mut col = 0;
        while col < 4 {
            table[row * 8 + col] = corner[row][col];
            col += 1;
        }
        row += 1;
    }
    table
};

/// Annex K.3 Huffman tables: how many codes each length 1–16 has, and the
/// symbols that start the list of values (the rest of each AC list is every
/// other run/size symbol in ascending order).
const LUMA_DC_COUNTS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const CHROMA_DC_COUNTS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const LUMA_AC_COUNTS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
const CHROMA_AC_COUNTS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const LUMA_AC_FIRST: [u8; 37] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
    0x24, 0x33, 0x62, 0x72, 0x82,
];
const CHROMA_AC_FIRST: [u8; 43] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
    0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1,
];

/// Encodes 8-bit RGB pixels (`width * height * 3` bytes, rows top to
/// bottom) as a baseline JFIF JPEG at `quality` (1–100, as in libjpeg).
pub(crate) fn encode_rgb(
    pixels: &[u8],
    width: usize,
    height: usize,
    quality: u8,
) -> Result<Vec<u8>, String> {
    if width > usize::from(u16::MAX) || height > usize::from(u16::MAX) {
        return Err(format!(
            "{width}x{height} is too large for JPEG (65535 a side)"
        ));
    }
    if width == 0 || height == 0 {
        return Err("an empty image cannot be encoded".to_string());
    }
    if width.checked_mul(height).and_then(|n| n.checked_mul(3)) != Some(pixels.len()) {
        return Err(format!(
            "{} bytes are not {width}x{height} RGB pixels",
            pixels.len()
        ));
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has just been found to support AVX2.
        return Ok(unsafe { encode_avx2(pixels, width, height, quality) });
    }
    Ok(encode::<false>(pixels, width, height, quality))
}

/// [`encode`] compiled for AVX2: the colour conversion, DCT and
/// quantisation work on eight lanes instead of four.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn encode_avx2(pixels: &[u8], width: usize, height: usize, quality: u8) -> Vec<u8> {
    encode::<true>(pixels, width, height, quality)
}

/// The encoder proper; `pixels` holds exactly `width * height` RGB pixels,
/// each side 1–65535. `AVX2`: the caller runs with AVX2 enabled, so the
/// DCT's transposes may use its shuffles.
#[inline(always)]
fn encode<const AVX2: bool>(pixels: &[u8], width: usize, height: usize, quality: u8) -> Vec<u8> {
    let luma = Quantizer::new(&LUMA_QUANT, quality);
    let chroma = Quantizer::new(&CHROMA_QUANT, quality);
    let tables = &*HUFFMAN_TABLES;
    let [luma_dc, luma_ac, chroma_dc, chroma_ac] = tables;

    // Smooth generated art compresses to well under a bit per pixel.
    let mut out = Vec::with_capacity(1024 + width * height / 4);
    write_headers(
        &mut out,
        width as u16,
        height as u16,
        [&luma, &chroma],
        tables,
    );

    let mut bits = BitWriter {
        out,
        acc: 0,
        len: 0,
    };
    let mut planes = McuRow::new(width);
    let mut previous_dc = [0i32; 3];
    let mut block = [[0f32; 8]; 8];
    let mut coefficients = Coefficients {
        values: [0; 64],
        nonzero: 0,
    };
    for mcu_y in 0..height.div_ceil(16) {
        planes.fill(pixels, width, height, mcu_y * 16);
        for mcu_x in 0..planes.mcus {
            for (dx, dy) in [(0, 0), (8, 0), (0, 8), (8, 8)] {
                planes.luma_block(mcu_x * 16 + dx, dy, &mut block);
                luma.quantize::<AVX2>(&mut block, &mut coefficients);
                bits.block(&coefficients, &mut previous_dc[0], luma_dc, luma_ac);
            }
            for (plane, dc) in [(&planes.cb, 1), (&planes.cr, 2)] {
                McuRow::chroma_block(plane, planes.mcus * 8, mcu_x * 8, &mut block);
                chroma.quantize::<AVX2>(&mut block, &mut coefficients);
                bits.block(&coefficients, &mut previous_dc[dc], chroma_dc, chroma_ac);
            }
        }
    }
    let mut out = bits.finish();
    out.extend_from_slice(&[0xff, 0xd9]);
    out
}

/// The four tables, built once: luma DC and AC, chroma DC and AC.
static HUFFMAN_TABLES: std::sync::LazyLock<[HuffmanTable; 4]> = std::sync::LazyLock::new(|| {
    [
        HuffmanTable::new(&LUMA_DC_COUNTS, &dc_values()),
        HuffmanTable::new(&LUMA_AC_COUNTS, &ac_values(&LUMA_AC_FIRST)),
        HuffmanTable::new(&CHROMA_DC_COUNTS, &dc_values()),
        HuffmanTable::new(&CHROMA_AC_COUNTS, &ac_values(&CHROMA_AC_FIRST)),
    ]
});

fn dc_values() -> Vec<u8> {
    (0..12).collect()
}

/// The first symbols as given, then every other AC symbol (run 0–15, size
/// 1–10) in ascending order.
fn ac_values(first: &[u8]) -> Vec<u8> {
    let mut values = first.to_vec();
    for run in 0..16u8 {
        for size in 1..=10u8 {
            let symbol = (run << 4) | size;
            if !first.contains(&symbol) {
                values.push(symbol);
            }
        }
    }
    values
}

fn write_headers(
    out: &mut Vec<u8>,
    width: u16,
    height: u16,
    quantizers: [&Quantizer; 2],
    tables: &[HuffmanTable; 4],
) {
    // SOI, then a JFIF APP0: version 1.1, no density unit, 1:1 aspect.
    out.extend_from_slice(&[0xff, 0xd8, 0xff, 0xe0, 0, 16]);
    out.extend_from_slice(b"JFIF\0");
    out.extend_from_slice(&[1, 1, 0, 0, 1, 0, 1, 0, 0]);

    out.extend_from_slice(&[0xff, 0xdb, 0, 2 + 2 * 65]);
    for (id, quantizer) in quantizers.iter().enumerate() {
        out.push(id as u8);
        out.extend(ZIGZAG.iter().map(|&natural| quantizer.table[natural]));
    }

    // SOF0: 8-bit samples, Y sampled 2×2 with table 0, Cb and Cr 1×1 with 1.
    out.extend_from_slice(&[0xff, 0xc0, 0, 17, 8]);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);

    let length: usize = 2 + tables.iter().map(|t| 17 + t.values.len()).sum::<usize>();
    out.extend_from_slice(&[0xff, 0xc4]);
    out.extend_from_slice(&(length as u16).to_be_bytes());
    for (class_and_id, table) in [0x00, 0x10, 0x01, 0x11].into_iter().zip(tables) {
        out.push(class_and_id);
        out.extend_from_slice(&table.counts);
        out.extend_from_slice(&table.values);
    }

    // SOS: all three components in one interleaved scan, coefficients 0–63.
    out.extend_from_slice(&[0xff, 0xda, 0, 12, 3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
}

/// One quantisation table: its values for the file, and the factors that
/// turn the scaled output of [`dct`] into quantised coefficients.
struct Quantizer {
    table: [u8; 64],
    /// Indexed like [`dct`]'s output (column frequency major).
    factors: [f32; 64],
}

impl Quantizer {
    fn new(base: &[u16; 64], quality: u8) -> Quantizer {
        let quality = u32::from(quality.clamp(1, 100));
        let percent = if quality < 50 {
            5000 / quality
        } else {
            200 - 2 * quality
        };
        let mut table = [0u8; 64];
        for (value, &base) in table.iter_mut().zip(base) {
            *value = ((u32::from(base) * percent + 50) / 100).clamp(1, 255) as u8;
        }
        // The DCT below leaves coefficient (u, v) multiplied by
        // 8 * s(u) * s(v), s(0) = 1, s(k) = √2 cos(kπ/16).
        let scale = |k: usize| {
            if k == 0 {
                1.0
            } else {
                std::f64::consts::SQRT_2 * (k as f64 * std::f64::consts::PI / 16.0).cos()
            }
        };
        let mut factors = [0f32; 64];
        for u in 0..8 {
            for v in 0..8 {
                let divisor = f64::from(table[u * 8 + v]) * scale(u) * scale(v) * 8.0;
                factors[v * 8 + u] = (1.0 / divisor) as f32;
            }
        }
        Quantizer { table, factors }
    }

    /// Transforms `block` (level-shifted samples, rows top to bottom) and
    /// quantises it.
    #[inline(always)]
    fn quantize<const AVX2: bool>(&self, block: &mut [[f32; 8]; 8], out: &mut Coefficients) {
        dct::<AVX2>(block);
        for ((value, &factor), sample) in out
            .values
            .iter_mut()
            .zip(&self.factors)
            .zip(block.as_flattened())
        {
            // Clamped to what the Huffman tables can code (AC sizes up to
            // 10 bits; DC differences then stay within 11), then rounded to
            // the nearest integer by adding 1.5 * 2^23: the sum's mantissa
            // then holds the rounded value (exact for |x| < 2^22). 8-bit
            // samples never reach the clamp except a DC of exactly -1024.
            let x = (sample * factor).clamp(-1023.0, 1023.0);
            *value = (x + 12_582_912.0).to_bits() as i32 - 0x4b40_0000;
        }
        let mut nonzero = 0u64;
        for (k, &at) in ZIGZAG_IN_DCT.iter().enumerate().skip(1) {
            // (The mask changes nothing but spares a bounds check.)
            nonzero |= u64::from(out.values[at & 63] != 0) << k;
        }
        out.nonzero = nonzero;
    }
}

/// A quantised block: the values where [`dct`] leaves them, and which AC
/// coefficients are nonzero (bit k for zigzag position k).
struct Coefficients {
    values: [i32; 64],
    nonzero: u64,
}

/// Two-dimensional forward DCT, in place. Rows of the result hold column
/// frequencies: `block[v][u]` is coefficient (u, v) — vertical frequency
/// `u`, horizontal `v` — scaled as [`Quantizer`] expects.
#[inline(always)]
fn dct<const AVX2: bool>(block: &mut [[f32; 8]; 8]) {
    dct_columns(block);
    #[cfg(target_arch = "x86_64")]
    if AVX2 {
        // SAFETY: `AVX2` is only true inside `encode_avx2`, which runs after
        // the processor was found to support AVX2.
        unsafe { transpose_avx2(block) };
    } else {
        transpose(block);
    }
    #[cfg(not(target_arch = "x86_64"))]
    transpose(block);
    dct_columns(block);
}

/// [`transpose`] in 24 shuffles: pairs of rows interleave, then groups of
/// four, then the 128-bit halves swap.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn transpose_avx2(block: &mut [[f32; 8]; 8]) {
    use std::arch::x86_64::{
        __m256, _mm256_loadu_ps, _mm256_permute2f128_ps, _mm256_setzero_ps, _mm256_shuffle_ps,
        _mm256_storeu_ps, _mm256_unpackhi_ps, _mm256_unpacklo_ps,
    };
    let mut r: [__m256; 8] = [_mm256_setzero_ps(); 8];
    for (value, row) in r.iter_mut().zip(block.iter()) {
        // SAFETY: a row is eight f32s, exactly one unaligned 256-bit load.
        *value = unsafe { _mm256_loadu_ps(row.as_ptr()) };
    }
    let a0 = _mm256_unpacklo_ps(r[0], r[1]);
    let a1 = _mm256_unpackhi_ps(r[0], r[1]);
    let a2 = _mm256_unpacklo_ps(r[2], r[3]);
    let a3 = _mm256_unpackhi_ps(r[2], r[3]);
    let a4 = _mm256_unpacklo_ps(r[4], r[5]);
    let a5 = _mm256_unpackhi_ps(r[4], r[5]);
    let a6 = _mm256_unpacklo_ps(r[6], r[7]);
    let a7 = _mm256_unpackhi_ps(r[6], r[7]);
    let b0 = _mm256_shuffle_ps::<0x44>(a0, a2);
    let b1 = _mm256_shuffle_ps::<0xee>(a0, a2);
    let b2 = _mm256_shuffle_ps::<0x44>(a1, a3);
    let b3 = _mm256_shuffle_ps::<0xee>(a1, a3);
    let b4 = _mm256_shuffle_ps::<0x44>(a4, a6);
    let b5 = _mm256_shuffle_ps::<0xee>(a4, a6);
    let b6 = _mm256_shuffle_ps::<0x44>(a5, a7);
    let b7 = _mm256_shuffle_ps::<0xee>(a5, a7);
    let out = [
        _mm256_permute2f128_ps::<0x20>(b0, b4),
        _mm256_permute2f128_ps::<0x20>(b1, b5),
        _mm256_permute2f128_ps::<0x20>(b2, b6),
        _mm256_permute2f128_ps::<0x20>(b3, b7),
        _mm256_permute2f128_ps::<0x31>(b0, b4),
        _mm256_permute2f128_ps::<0x31>(b1, b5),
        _mm256_permute2f128_ps::<0x31>(b2, b6),
        _mm256_permute2f128_ps::<0x31>(b3, b7),
    ];
    for (row, value) in block.iter_mut().zip(out) {
        // SAFETY: a row is eight f32s, exactly one unaligned 256-bit store.
        unsafe { _mm256_storeu_ps(row.as_mut_ptr(), value) };
    }
}

#[inline(always)]
fn transpose(block: &mut [[f32; 8]; 8]) {
    let copy = *block;
    for (r, row) in block.iter_mut().enumerate() {
        for (c, value) in row.iter_mut().enumerate() {
            *value = copy[c][r];
        }
    }
}

/// One-dimensional AAN DCT down every column of the block at once.
#[inline(always)]
#[expect(
    clippy::needless_range_loop,
    reason = "the butterflies read one column across all eight rows"
)]
fn dct_columns(b: &mut [[f32; 8]; 8]) {
    const C4: f32 = std::f32::consts::FRAC_1_SQRT_2; // cos(4π/16)
    const C6_S: f32 = 0.382_683_43; // cos(6π/16)
    const C2_M_C6: f32 = 0.541_196_1; // cos(2π/16) − cos(6π/16)
    const C2_P_C6: f32 = 1.306_563; // cos(2π/16) + cos(6π/16)
    for x in 0..8 {
        let t0 = b[0][x] + b[7][x];
        let t7 = b[0][x] - b[7][x];
        let t1 = b[1][x] + b[6][x];
        let t6 = b[1][x] - b[6][x];
        let t2 = b[2][x] + b[5][x];
        let t5 = b[2][x] - b[5][x];
        let t3 = b[3][x] + b[4][x];
        let t4 = b[3][x] - b[4][x];

        let e0 = t0 + t3;
        let e3 = t0 - t3;
        let e1 = t1 + t2;
        let e2 = t1 - t2;
        b[0][x] = e0 + e1;
        b[4][x] = e0 - e1;
        let z1 = (e2 + e3) * C4;
        b[2][x] = e3 + z1;
        b[6][x] = e3 - z1;

        let o0 = t4 + t5;
        let o1 = t5 + t6;
        let o2 = t6 + t7;
        let z5 = (o0 - o2) * C6_S;
        let z2 = C2_M_C6 * o0 + z5;
        let z4 = C2_P_C6 * o2 + z5;
        let z3 = o1 * C4;
        let z11 = t7 + z3;
        let z13 = t7 - z3;
        b[5][x] = z13 + z2;
        b[3][x] = z13 - z2;
        b[1][x] = z11 + z4;
        b[7][x] = z11 - z4;
    }
}

/// Sixteen rows of the image as level-shifted Y and, subsampled 2×2, Cb and
/// Cr, each padded to whole blocks by repeating the last column and row.
struct McuRow {
    mcus: usize,
    y: Vec<f32>,
    cb: Vec<f32>,
    cr: Vec<f32>,
    /// Two rows of full-resolution Cb and Cr.
    cb_rows: Vec<f32>,
    cr_rows: Vec<f32>,
}

impl McuRow {
    fn new(width: usize) -> McuRow {
        let mcus = width.div_ceil(16);
        McuRow {
            mcus,
            y: vec![0.0; mcus * 16 * 16],
            cb: vec![0.0; mcus * 8 * 8],
            cr: vec![0.0; mcus * 8 * 8],
            cb_rows: vec![0.0; mcus * 16 * 2],
            cr_rows: vec![0.0; mcus * 16 * 2],
        }
    }

    fn luma_stride(&self) -> usize {
        self.mcus * 16
    }

    #[inline(always)]
    fn fill(&mut self, pixels: &[u8], width: usize, height: usize, top: usize) {
        let stride = self.luma_stride();
        let row_bytes = width * 3;
        for dy in 0..16 {
            let y = (top + dy).min(height - 1);
            let row = &pixels[y * row_bytes..(y + 1) * row_bytes];
            // Full-resolution chroma of this row, averaged 2×2 below.
            let half = (dy % 2) * stride;
            let luma = &mut self.y[dy * stride..(dy + 1) * stride];
            let cb = &mut self.cb_rows[half..half + stride];
            let cr = &mut self.cr_rows[half..half + stride];
            for (((y, cb), cr), rgb) in luma
                .iter_mut()
                .zip(cb.iter_mut())
                .zip(cr.iter_mut())
                .zip(row.chunks_exact(3))
            {
                let [r, g, b] = [rgb[0], rgb[1], rgb[2]].map(f32::from);
                *y = 0.299 * r + 0.587 * g + 0.114 * b - 128.0;
                *cb = -0.168_736 * r - 0.331_264 * g + 0.5 * b;
                *cr = 0.5 * r - 0.418_688 * g - 0.081_312 * b;
            }
            for plane in [luma, cb, cr] {
                let last = plane[width - 1];
                plane[width..].fill(last);
            }
            if dy % 2 == 1 {
                let chroma = (dy / 2) * (stride / 2)..(dy / 2 + 1) * (stride / 2);
                average_2x2(&self.cb_rows, stride, &mut self.cb[chroma.clone()]);
                average_2x2(&self.cr_rows, stride, &mut self.cr[chroma]);
            }
        }
    }

    #[inline(always)]
    fn luma_block(&self, left: usize, top: usize, block: &mut [[f32; 8]; 8]) {
        let stride = self.luma_stride();
        for (dy, row) in block.iter_mut().enumerate() {
            let start = (top + dy) * stride + left;
            row.copy_from_slice(&self.y[start..start + 8]);
        }
    }

    #[inline(always)]
    fn chroma_block(plane: &[f32], stride: usize, left: usize, block: &mut [[f32; 8]; 8]) {
        for (dy, row) in block.iter_mut().enumerate() {
            let start = dy * stride + left;
            row.copy_from_slice(&plane[start..start + 8]);
        }
    }
}

/// Averages each 2×2 square of two rows of `stride` samples into `out`.
#[inline(always)]
fn average_2x2(rows: &[f32], stride: usize, out: &mut [f32]) {
    let (upper, lower) = rows.split_at(stride);
    for ((value, a), b) in out
        .iter_mut()
        .zip(upper.chunks_exact(2))
        .zip(lower.chunks_exact(2))
    {
        *value = (a[0] + a[1] + b[0] + b[1]) * 0.25;
    }
}

/// A Huffman table as written to the file and as codes per symbol.
struct HuffmanTable {
    counts: [u8; 16],
    values: Vec<u8>,
    /// For each symbol: its code in the low bits and the code's length.
    codes: [(u32, u32); 256],
}

impl HuffmanTable {
    /// Canonical codes (T.81 Annex C): shortest first, consecutive within a
    /// length.
    fn new(counts: &[u8; 16], values: &[u8]) -> HuffmanTable {
        let mut codes = [(0u32, 0u32); 256];
        let mut code = 0u32;
        let mut next = values.iter();
        for (length, &count) in (1..=16u32).zip(counts) {
            for _ in 0..count {
                if let Some(&symbol) = next.next() {
                    codes[usize::from(symbol)] = (code, length);
                }
                code += 1;
            }
            code <<= 1;
        }
        HuffmanTable {
            counts: *counts,
            values: values.to_vec(),
            codes,
        }
    }
}

/// Entropy-coded output: bits gather in a 64-bit accumulator and leave 32
/// at a time, with a zero byte stuffed after every 0xFF.
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    /// Bits in `acc` not yet written (always < 32 between calls).
    len: u32,
}

impl BitWriter {
    /// Appends the low `length` bits of `bits` (at most 32 at once).
    #[inline(always)]
    fn put(&mut self, bits: u32, length: u32) {
        self.acc = (self.acc << length) | u64::from(bits);
        self.len += length;
        if self.len >= 32 {
            self.len -= 32;
            let word = (self.acc >> self.len) as u32;
            self.word(word);
        }
    }

    #[inline(always)]
    fn word(&mut self, word: u32) {
        let bytes = word.to_be_bytes();
        // A byte of `word` is 0xFF exactly when the same byte of `!word` is
        // zero; the classic zero-byte test finds that without a loop.
        let inverted = !word;
        let has_ff = inverted.wrapping_sub(0x0101_0101) & !inverted & 0x8080_8080 != 0;
        if has_ff {
            for byte in bytes {
                self.out.push(byte);
                if byte == 0xff {
                    self.out.push(0);
                }
            }
        } else {
            self.out.extend_from_slice(&bytes);
        }
    }

    #[inline(always)]
    fn symbol(&mut self, table: &HuffmanTable, symbol: u8, size: u32, extra: u32) {
        let (code, length) = table.codes[usize::from(symbol)];
        self.put((code << size) | extra, length + size);
    }

    #[inline(always)]
    fn block(
        &mut self,
        block: &Coefficients,
        previous_dc: &mut i32,
        dc: &HuffmanTable,
        ac: &HuffmanTable,
    ) {
        let value = block.values[0];
        let (size, extra) = magnitude(value - *previous_dc);
        *previous_dc = value;
        self.symbol(dc, size as u8, size, extra);

        let mut nonzero = block.nonzero;
        let mut last = 0u32;
        while nonzero != 0 {
            let k = nonzero.trailing_zeros();
            nonzero &= nonzero - 1;
            let mut run = k - last - 1;
            while run >= 16 {
                self.symbol(ac, 0xf0, 0, 0);
                run -= 16;
            }
            let at = ZIGZAG_IN_DCT[k as usize & 63];
            let (size, extra) = magnitude(block.values[at & 63]);
            self.symbol(ac, ((run << 4) | size) as u8, size, extra);
            last = k;
        }
        if last != 63 {
            self.symbol(ac, 0x00, 0, 0);
        }
    }

    /// Pads the last byte with one bits and returns the whole output.
    fn finish(mut self) -> Vec<u8> {
        let pad = (8 - self.len % 8) % 8;
        self.acc = (self.acc << pad) | ((1u64 << pad) - 1);
        self.len += pad;
        while self.len >= 8 {
            self.len -= 8;
            let byte = (self.acc >> self.len) as u8;
            self.out.push(byte);
            if byte == 0xff {
                self.out.push(0);
            }
        }
        self.out
    }
}

/// The JPEG size category of `value` and its extra bits: the value itself
/// when positive, else its one's complement in `size` bits.
#[inline(always)]
fn magnitude(value: i32) -> (u32, u32) {
    let size = 32 - value.unsigned_abs().leading_zeros();
    // `value >> 31` is -1 for a negative value and 0 otherwise: no branch
    // for the processor to mispredict on the sign of every coefficient.
    let extra = (value + (value >> 31)) as u32 & ((1u32 << size) - 1);
    (size, extra)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::ImageReader;
    use std::io::Cursor;

    fn decode(bytes: &[u8]) -> image::RgbImage {
        ImageReader::with_format(Cursor::new(bytes), image::ImageFormat::Jpeg)
            .decode()
            .expect("our JPEG decodes")
            .to_rgb8()
    }

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        let mse = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum::<f64>()
            / a.len() as f64;
        10.0 * (255.0f64.powi(2) / mse.max(1e-9)).log10()
    }

    fn luma(rgb: &[u8]) -> Vec<u8> {
        rgb.chunks_exact(3)
            .map(|c| {
                let [r, g, b] = [c[0], c[1], c[2]].map(f64::from);
                (0.299 * r + 0.587 * g + 0.114 * b).round() as u8
            })
            .collect()
    }

    /// A smooth picture with edges, like a downscaled render.
    fn picture(width: u32, height: u32) -> image::RgbImage {
        image::RgbImage::from_fn(width, height, |x, y| {
            let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
            let disc = ((fx - 0.5).powi(2) + (fy - 0.4).powi(2)).sqrt() < 0.25;
            if disc {
                image::Rgb([230, 180, (90.0 + 100.0 * fy) as u8])
            } else {
                image::Rgb([(40.0 + 150.0 * fx) as u8, (60.0 + 80.0 * fy) as u8, 160])
            }
        })
    }

    #[test]
    #[expect(clippy::needless_range_loop, reason = "u and v are frequencies")]
    fn the_dct_matches_the_definition() {
        let mut block = [[0f32; 8]; 8];
        for (y, row) in block.iter_mut().enumerate() {
            for (x, v) in row.iter_mut().enumerate() {
                *v = ((x * 37 + y * 91) % 255) as f32 - 128.0;
            }
        }
        let input = block;
        dct::<false>(&mut block);
        let pi = std::f64::consts::PI;
        let c = |k: usize| if k == 0 { 1.0 / 2f64.sqrt() } else { 1.0 };
        let s = |k: usize| {
            if k == 0 {
                1.0
            } else {
                2f64.sqrt() * (k as f64 * pi / 16.0).cos()
            }
        };
        for u in 0..8 {
            for v in 0..8 {
                let mut sum = 0.0;
                for (y, row) in input.iter().enumerate() {
                    for (x, &f) in row.iter().enumerate() {
                        sum += f64::from(f)
                            * (((2 * y + 1) * u) as f64 * pi / 16.0).cos()
                            * (((2 * x + 1) * v) as f64 * pi / 16.0).cos();
                    }
                }
                let reference = 0.25 * c(u) * c(v) * sum;
                let got = f64::from(block[v][u]) / (8.0 * s(u) * s(v));
                assert!(
                    (got - reference).abs() < 0.01,
                    "coefficient ({u}, {v}): {got} against {reference}"
                );
            }
        }
    }

    #[test]
    fn the_standard_ac_tables_have_every_symbol_once() {
        for (counts, first) in [
            (LUMA_AC_COUNTS, &LUMA_AC_FIRST[..]),
            (CHROMA_AC_COUNTS, &CHROMA_AC_FIRST[..]),
        ] {
            let values = ac_values(first);
            let total: usize = counts.iter().map(|&n| usize::from(n)).sum();
            assert_eq!(values.len(), 162);
            assert_eq!(total, 162);
            let mut sorted = values.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), 162, "a symbol is listed twice");
        }
    }

    #[test]
    fn images_of_every_edge_shape_decode_close_to_the_original() {
        for (width, height) in [
            (1, 1),
            (2, 3),
            (7, 9),
            (16, 16),
            (17, 33),
            (255, 256),
            (512, 384),
        ] {
            let original = picture(width, height);
            let bytes = encode_rgb(original.as_raw(), width as usize, height as usize, 90)
                .expect("encodes");
            let decoded = decode(&bytes);
            assert_eq!(decoded.dimensions(), (width, height));
            let luma_psnr = psnr(&luma(original.as_raw()), &luma(decoded.as_raw()));
            assert!(
                luma_psnr > 30.0,
                "{width}x{height}: luma PSNR {luma_psnr:.1} dB"
            );
            // Chroma is stored at half resolution, which costs tiny pictures
            // with sharp colour edges most of their colour fidelity.
            if width >= 255 {
                let quality = psnr(original.as_raw(), decoded.as_raw());
                assert!(quality > 35.0, "{width}x{height}: PSNR {quality:.1} dB");
            }
        }
    }

    #[test]
    fn quality_trades_size_for_fidelity() {
        let original = picture(256, 256);
        let encode = |quality| encode_rgb(original.as_raw(), 256, 256, quality).expect("encodes");
        let (low, high) = (encode(30), encode(95));
        assert!(low.len() < high.len());
        let (low_psnr, high_psnr) = (
            psnr(original.as_raw(), decode(&low).as_raw()),
            psnr(original.as_raw(), decode(&high).as_raw()),
        );
        assert!(low_psnr < high_psnr, "{low_psnr} against {high_psnr}");
    }

    #[test]
    fn noise_with_large_coefficients_and_stuffed_bytes_round_trips() {
        // Noise makes long codes and 0xFF bytes in the entropy data; at
        // quality 100 every coefficient is coded nearly exactly.
        let noise = super::super::test_noise(64 * 48 * 3, 0x9e37_79b9);
        let bytes = encode_rgb(&noise, 64, 48, 100).expect("encodes");
        let decoded = decode(&bytes);
        // 4:2:0 chroma loses detail in noise, but luma survives.
        let quality = psnr(&luma(&noise), &luma(decoded.as_raw()));
        assert!(quality > 30.0, "luma PSNR {quality:.1} dB");
    }

    #[test]
    fn the_plain_build_writes_the_same_bytes_as_the_avx2_one() {
        #[cfg(target_arch = "x86_64")]
        if !std::arch::is_x86_feature_detected!("avx2") {
            println!("skipped: this processor has no AVX2 build to compare");
            return;
        }
        // Neither build fuses multiply-adds, so both round identically.
        let original = picture(131, 77);
        let plain = encode::<false>(original.as_raw(), 131, 77, 80);
        let dispatched = encode_rgb(original.as_raw(), 131, 77, 80).expect("encodes");
        assert_eq!(plain, dispatched);
        assert_eq!(decode(&plain).dimensions(), (131, 77));
    }

    #[test]
    fn extreme_blocks_at_full_quality_stay_codable() {
        // Flat black gives the most negative DC (-1024, the one value the
        // clamp moves), flat white the most positive, and a one-pixel
        // checkerboard of both the largest AC coefficient (about 840, inside
        // the clamp). Each must still decode close to its source.
        let black = vec![0u8; 16 * 16 * 3];
        let white = vec![255u8; 16 * 16 * 3];
        let checker: Vec<u8> = (0..16 * 16)
            .flat_map(|i| [if (i % 16 + i / 16) % 2 == 0 { 0u8 } else { 255 }; 3])
            .collect();
        for (name, pixels) in [("black", black), ("white", white), ("checker", checker)] {
            let bytes = encode_rgb(&pixels, 16, 16, 100).expect("encodes");
            let decoded = decode(&bytes);
            let quality = psnr(&pixels, decoded.as_raw());
            assert!(quality > 30.0, "{name}: PSNR {quality:.1} dB");
        }
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!(encode_rgb(&[], 0, 0, 80).is_err());
        assert!(encode_rgb(&[0; 5], 1, 2, 80).is_err());
        assert!(encode_rgb(&[0; 3 * 70_000], 70_000, 1, 80).is_err());
    }
}
