//! Times CLIP embeddings on a pack: preprocessing, image inference and text
//! inference, each per item, for the given images (or synthetic ones).
//!
//! ```sh
//! cargo run --release -p kiln-clip --example timing -- PACK [THREADS] [IMAGE...]
//! ```

use std::time::{Duration, Instant};

fn per_item(total: Duration, count: usize) -> String {
    format!("{:.3} ms", total.as_secs_f64() * 1000.0 / count as f64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let pack = args
        .next()
        .ok_or("usage: timing PACK [THREADS] [IMAGE...]")?;
    let threads: usize = args.next().map_or(Ok(1), |t| t.parse())?;
    let files: Vec<String> = args.collect();

    let start = Instant::now();
    let clip = kiln_clip::Clip::load(&pack, threads)?;
    println!(
        "loaded {} (D = {}, S = {}, batches: {}) with {threads} thread(s) in {:?}",
        clip.pack().name(),
        clip.dim(),
        clip.pack().preprocess().size,
        clip.batches_images(),
        start.elapsed()
    );

    let start = Instant::now();
    let pinned = clip.pack().files()?;
    let bytes: u64 = pinned.iter().map(|f| f.bytes).sum();
    let took = start.elapsed();
    println!(
        "sha256 of {} files, {:.1} MB: {took:?} ({:.0} MB/s)",
        pinned.len(),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / took.as_secs_f64()
    );

    let images: Vec<image::RgbImage> = if files.is_empty() {
        (0..8)
            .map(|i| {
                image::RgbImage::from_fn(512, 768, |x, y| {
                    image::Rgb([(x + i) as u8, (y * 3) as u8, (x ^ y) as u8])
                })
            })
            .collect()
    } else {
        files
            .iter()
            .map(|f| image::open(f).map(|i| i.to_rgb8()))
            .collect::<Result<_, _>>()?
    };
    let rounds = 5;
    let count = images.len() * rounds;

    let start = Instant::now();
    for _ in 0..rounds {
        for image in &images {
            std::hint::black_box(clip.image_input(image)?);
        }
    }
    let preprocess = start.elapsed();

    let start = Instant::now();
    for _ in 0..rounds {
        for image in &images {
            std::hint::black_box(clip.embed_rgb(image)?);
        }
    }
    let embed = start.elapsed();

    let start = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(clip.embed_images(&images)?);
    }
    let batch = start.elapsed();

    let texts = [
        "a lighthouse at dusk",
        "red car in the rain",
        "portrait of an old fisherman, weathered skin, dramatic rim lighting, 85mm, bokeh",
        "a photo of a cat",
    ];
    let start = Instant::now();
    let text_rounds = 50;
    for _ in 0..text_rounds {
        for text in texts {
            std::hint::black_box(clip.tokenize(text));
        }
    }
    let tokenize = start.elapsed();
    let mut text_times = Vec::new();
    for _ in 0..text_rounds {
        for text in texts {
            let start = Instant::now();
            std::hint::black_box(clip.embed_text(text)?);
            text_times.push(start.elapsed());
        }
    }
    text_times.sort();
    let text_total: Duration = text_times.iter().sum();
    let sizes: Vec<String> = images
        .iter()
        .take(3)
        .map(|i| format!("{}×{}", i.width(), i.height()))
        .collect();
    println!(
        "images ({} of them, e.g. {}):",
        images.len(),
        sizes.join(", ")
    );
    println!("  preprocess only      {}", per_item(preprocess, count));
    println!("  embed (with preproc) {}", per_item(embed, count));
    println!("  embed_images         {}", per_item(batch, count));
    println!("texts:");
    println!(
        "  tokenize only        {}",
        per_item(tokenize, texts.len() * text_rounds)
    );
    println!(
        "  embed (with tokens)  {}",
        per_item(text_total, text_times.len())
    );
    println!(
        "  p50 {:?}, p99 {:?}",
        text_times[text_times.len() / 2],
        text_times[text_times.len() * 99 / 100]
    );
    Ok(())
}
