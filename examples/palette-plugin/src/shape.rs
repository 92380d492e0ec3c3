//! Size, aspect ratio and orientation tags for an image of known dimensions.

/// Common aspect ratios, landscape form; portrait forms are their inverses.
const COMMON_RATIOS: [(u32, u32); 9] = [
    (1, 1),
    (5, 4),
    (4, 3),
    (3, 2),
    (16, 10),
    (16, 9),
    (2, 1),
    (21, 9),
    (3, 1),
];

/// How far (relative) a ratio may be from a common one and still carry its
/// name: generators round sizes to multiples of 8 or 64 (832×1216 is "2:3").
const RATIO_TOLERANCE: f64 = 0.03;

/// Tags derived from width and height.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shape {
    pub(crate) aspect_ratio: f64,
    pub(crate) aspect_label: String,
    pub(crate) orientation: &'static str,
    pub(crate) megapixels: f64,
    pub(crate) size_class: &'static str,
}

/// The tags of a `width` × `height` image; `None` if either is zero.
pub(crate) fn shape(width: u32, height: u32) -> Option<Shape> {
    if width == 0 || height == 0 {
        return None;
    }
    let ratio = f64::from(width) / f64::from(height);
    let orientation = if (ratio - 1.0).abs() <= 0.01 {
        "square"
    } else if ratio > 1.0 {
        "landscape"
    } else {
        "portrait"
    };
    let megapixels = f64::from(width) * f64::from(height) / 1_000_000.0;
    let size_class = match megapixels {
        m if m < 0.1 => "tiny",
        m if m < 0.5 => "small",
        m if m < 1.5 => "medium",
        m if m < 4.0 => "large",
        _ => "huge",
    };
    Some(Shape {
        aspect_ratio: round_to(ratio, 4),
        aspect_label: aspect_label(width, height, ratio),
        orientation,
        megapixels: round_to(megapixels, 3),
        size_class,
    })
}

fn aspect_label(width: u32, height: u32, ratio: f64) -> String {
    let nearest = COMMON_RATIOS
        .iter()
        .flat_map(|&(w, h)| [(w, h), (h, w)])
        .map(|(w, h)| {
            let common = f64::from(w) / f64::from(h);
            ((w, h), (ratio / common).ln().abs())
        })
        .min_by(|x, y| x.1.total_cmp(&y.1));
    if let Some(((w, h), distance)) = nearest
        && distance <= (1.0 + RATIO_TOLERANCE).ln()
    {
        return format!("{w}:{h}");
    }
    let divisor = gcd(width, height);
    let (w, h) = (width / divisor, height / divisor);
    if w <= 32 && h <= 32 {
        format!("{w}:{h}")
    } else if ratio >= 1.0 {
        format!("{:.2}:1", ratio)
    } else {
        format!("1:{:.2}", 1.0 / ratio)
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// `value` rounded to `decimals` decimal places.
pub(crate) fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(w: u32, h: u32) -> String {
        shape(w, h).map(|s| s.aspect_label).unwrap_or_default()
    }

    #[test]
    fn generator_sizes_get_common_names() {
        assert_eq!(label(1024, 1024), "1:1");
        assert_eq!(label(832, 1216), "2:3");
        assert_eq!(label(1216, 832), "3:2");
        assert_eq!(label(1920, 1080), "16:9");
        assert_eq!(label(1080, 1920), "9:16");
        assert_eq!(label(1408, 768), "11:6");
        assert_eq!(label(1000, 700), "10:7");
        assert_eq!(label(1001, 700), "1.43:1");
    }

    #[test]
    fn orientation_and_size() {
        let s = shape(1536, 1536).expect("non-empty");
        assert_eq!((s.orientation, s.size_class), ("square", "large"));
        let s = shape(832, 1216).expect("non-empty");
        assert_eq!((s.orientation, s.size_class), ("portrait", "medium"));
        assert_eq!(s.megapixels, 1.012);
        assert_eq!(shape(0, 10), None);
    }
}
