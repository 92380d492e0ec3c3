//! Fuzzes the thumbnail stage's decoding and shrinking on arbitrary bytes:
//! the whole decode and, for PNGs at least twice the (tiny) proxy size, the
//! row-by-row shrink-on-load path. Any outcome but a panic is fine; a
//! result must describe images within the configured sides.
#![no_main]

use kiln_stages::thumbnail::{DecodeLimits, ThumbnailConfig, make_thumbnails};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let config = ThumbnailConfig {
        proxy_side: 8,
        thumbnail_side: 4,
        limits: DecodeLimits {
            max_width: 512,
            max_height: 512,
            max_alloc: 4 * 1024 * 1024,
        },
        ..ThumbnailConfig::default()
    };
    if let Ok(made) = make_thumbnails(bytes, &config) {
        assert!(made.proxy.width.max(made.proxy.height) <= 8);
        assert!(made.thumbnail.width.max(made.thumbnail.height) <= 4);
    }
});
