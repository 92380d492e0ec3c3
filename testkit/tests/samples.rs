//! The committed `samples/` folder is exactly what kiln's own generator writes.

use std::path::Path;

#[test]
fn committed_samples_match_the_generator() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples");
    let samples = kiln_testkit::samples::all().expect("the samples generate");
    assert!(
        samples.len() >= 20,
        "expected about twenty samples, got {}",
        samples.len()
    );
    let mut total = 0usize;
    for sample in &samples {
        let committed = std::fs::read(dir.join(&sample.name)).unwrap_or_else(|e| {
            panic!(
                "samples/{} is missing ({e}); run `cargo run -p kiln-testkit --bin make_samples`",
                sample.name
            )
        });
        assert!(
            committed == sample.bytes,
            "samples/{} differs from the generator; run `cargo run -p kiln-testkit --bin make_samples`",
            sample.name
        );
        total += committed.len();
    }
    let on_disk = std::fs::read_dir(&dir)
        .expect("samples/ is readable")
        .count();
    assert_eq!(
        on_disk,
        samples.len(),
        "samples/ holds files the generator does not write"
    );
    assert!(
        total < 3 * 1024 * 1024,
        "samples are {total} bytes, over the 3 MB budget"
    );
}
