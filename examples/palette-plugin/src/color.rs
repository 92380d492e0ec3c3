//! Conversions between 8-bit sRGB and OKLab, the perceptual space the
//! palette is clustered in (equal distances look about equally different).

/// A colour in OKLab: lightness `l` in 0..=1, and the green–red `a` and
/// blue–yellow `b` axes.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Lab {
    pub(crate) l: f32,
    pub(crate) a: f32,
    pub(crate) b: f32,
}

impl Lab {
    /// Squared Euclidean distance; enough for nearest-centre comparisons.
    pub(crate) fn distance_squared(self, other: Lab) -> f32 {
        let (dl, da, db) = (self.l - other.l, self.a - other.a, self.b - other.b);
        dl * dl + da * da + db * db
    }

    /// Colourfulness: distance from the grey axis.
    pub(crate) fn chroma(self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }

    /// The coordinate on axis 0 (`l`), 1 (`a`) or 2 (`b`).
    pub(crate) fn axis(self, axis: usize) -> f32 {
        match axis {
            0 => self.l,
            1 => self.a,
            _ => self.b,
        }
    }
}

/// Converts 8-bit sRGB channels to linear light with a 256-entry table.
pub(crate) struct SrgbDecoder {
    linear: [f32; 256],
}

impl SrgbDecoder {
    pub(crate) fn new() -> Self {
        let mut linear = [0.0; 256];
        for (value, slot) in (0u16..).zip(linear.iter_mut()) {
            let c = f32::from(value) / 255.0;
            *slot = if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            };
        }
        SrgbDecoder { linear }
    }

    pub(crate) fn to_lab(&self, [r, g, b]: [u8; 3]) -> Lab {
        let (r, g, b) = (
            self.linear[usize::from(r)],
            self.linear[usize::from(g)],
            self.linear[usize::from(b)],
        );
        let l = (0.412_221_46 * r + 0.536_332_55 * g + 0.051_445_99 * b).cbrt();
        let m = (0.211_903_5 * r + 0.680_699_5 * g + 0.107_396_96 * b).cbrt();
        let s = (0.088_302_46 * r + 0.281_718_85 * g + 0.629_978_7 * b).cbrt();
        Lab {
            l: 0.210_454_26 * l + 0.793_617_8 * m - 0.004_072_047 * s,
            a: 1.977_998_5 * l - 2.428_592_2 * m + 0.450_593_7 * s,
            b: 0.025_904_037 * l + 0.782_771_77 * m - 0.808_675_77 * s,
        }
    }
}

/// Converts an OKLab colour back to 8-bit sRGB, clamping colours outside the
/// sRGB gamut.
pub(crate) fn lab_to_srgb(lab: Lab) -> [u8; 3] {
    let l = lab.l + 0.396_337_78 * lab.a + 0.215_803_76 * lab.b;
    let m = lab.l - 0.105_561_346 * lab.a - 0.063_854_17 * lab.b;
    let s = lab.l - 0.089_484_18 * lab.a - 1.291_485_5 * lab.b;
    let (l, m, s) = (l * l * l, m * m * m, s * s * s);
    let linear = [
        4.076_741_7 * l - 3.307_711_6 * m + 0.230_969_94 * s,
        -1.268_438 * l + 2.609_757_4 * m - 0.341_319_38 * s,
        -0.004_196_086_3 * l - 0.703_418_6 * m + 1.707_614_7 * s,
    ];
    linear.map(|c| {
        let c = c.clamp(0.0, 1.0);
        let encoded = if c <= 0.003_130_8 {
            12.92 * c
        } else {
            1.055 * c.powf(1.0 / 2.4) - 0.055
        };
        // In 0..=255 after the clamp, so the cast cannot truncate.
        (encoded * 255.0).round().clamp(0.0, 255.0) as u8
    })
}

/// `#rrggbb` in lower case.
pub(crate) fn hex([r, g, b]: [u8; 3]) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srgb_round_trips_through_oklab() {
        let decoder = SrgbDecoder::new();
        for rgb in [
            [0, 0, 0],
            [255, 255, 255],
            [255, 0, 0],
            [12, 200, 77],
            [90, 90, 250],
        ] {
            let back = lab_to_srgb(decoder.to_lab(rgb));
            for (x, y) in rgb.iter().zip(back) {
                assert!(x.abs_diff(y) <= 1, "{rgb:?} came back as {back:?}");
            }
        }
    }

    #[test]
    fn white_is_light_and_grey() {
        let white = SrgbDecoder::new().to_lab([255, 255, 255]);
        assert!((white.l - 1.0).abs() < 1e-3);
        assert!(white.chroma() < 1e-3);
    }
}
