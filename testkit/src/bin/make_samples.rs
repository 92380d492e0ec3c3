//! Writes kiln's sample images into a folder (default `samples/`).
//!
//! `cargo run -p kiln-testkit --bin make_samples -- [DIR]`

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| std::path::PathBuf::from("samples"), Into::into);
    match kiln_testkit::samples::write_all(&dir) {
        Ok(paths) => {
            let bytes: u64 = paths
                .iter()
                .filter_map(|p| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum();
            println!(
                "wrote {} samples ({} bytes) into {}",
                paths.len(),
                bytes,
                dir.display()
            );
        }
        Err(e) => {
            eprintln!("make_samples: {e}");
            std::process::exit(1);
        }
    }
}
