//! The hash stage: streaming digest, content identity, file errors.

use kiln_plugin_api::{CostClass, Stage, StageInput, TIER_BROWSABLE};
use kiln_stages::hash::{HashStage, hash_file, to_hex};
use std::path::Path;

fn input(path: &Path) -> StageInput {
    StageInput::for_path(1, path.to_string_lossy())
}

/// Bytes that are not periodic, so that any misplaced chunk changes the digest.
fn varied_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x1234_5678_9abc_def0_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[test]
fn declares_tier_one_io_stage_without_predecessors() {
    let info = HashStage::new().info();
    assert_eq!(info.name, "hash");
    assert_eq!(info.tier, TIER_BROWSABLE);
    assert_eq!(info.version, 1);
    assert!(info.after.is_empty());
    assert_eq!(info.cost, CostClass::Io);
}

#[test]
fn streaming_digest_equals_digest_of_whole_content() {
    let dir = tempfile::tempdir().expect("test setup and valid inputs must succeed");
    // Larger than the read buffer and not a multiple of it.
    for len in [0usize, 1, 4096, 256 * 1024, 3 * 256 * 1024 + 17] {
        let bytes = varied_bytes(len);
        let path = dir.path().join(format!("file-{len}.bin"));
        std::fs::write(&path, &bytes).expect("test setup and valid inputs must succeed");

        let (digest, size) = hash_file(&path).expect("test setup and valid inputs must succeed");
        assert_eq!(digest, *blake3::hash(&bytes).as_bytes(), "length {len}");
        assert_eq!(size, len as u64);

        let out = HashStage::new()
            .process(&input(&path))
            .expect("test setup and valid inputs must succeed");
        assert_eq!(out.content_hash, Some(*blake3::hash(&bytes).as_bytes()));
        assert_eq!(
            out.facts.get("size").and_then(|v| v.as_u64()),
            Some(len as u64)
        );
        assert_eq!(
            out.facts.get("hash").and_then(|v| v.as_str()),
            Some(blake3::hash(&bytes).to_hex().as_str())
        );
    }
}

#[test]
fn identical_content_gives_identical_hash_and_different_content_does_not() {
    let dir = tempfile::tempdir().expect("test setup and valid inputs must succeed");
    let bytes = varied_bytes(100_000);
    let a = dir.path().join("a.png");
    let b = dir.path().join("nested-copy.jpg");
    let c = dir.path().join("c.png");
    std::fs::write(&a, &bytes).expect("test setup and valid inputs must succeed");
    std::fs::write(&b, &bytes).expect("test setup and valid inputs must succeed");
    let mut changed = bytes.clone();
    changed[50_000] ^= 1;
    std::fs::write(&c, &changed).expect("test setup and valid inputs must succeed");

    let stage = HashStage::new();
    let ha = stage
        .process(&input(&a))
        .expect("test setup and valid inputs must succeed")
        .content_hash;
    let hb = stage
        .process(&input(&b))
        .expect("test setup and valid inputs must succeed")
        .content_hash;
    let hc = stage
        .process(&input(&c))
        .expect("test setup and valid inputs must succeed")
        .content_hash;
    assert!(ha.is_some());
    assert_eq!(ha, hb);
    assert_ne!(ha, hc);
}

#[test]
fn missing_file_is_a_permanent_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("test setup and valid inputs must succeed");
    let path = dir.path().join("vanished.png");
    let err = HashStage::new()
        .process(&input(&path))
        .expect_err("this input must be rejected");
    assert!(!err.is_transient(), "{err}");
    assert!(err.message().contains("vanished.png"), "{err}");
    assert!(err.message().contains("no longer exists"), "{err}");
}

#[test]
fn a_directory_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("test setup and valid inputs must succeed");
    let err = HashStage::new()
        .process(&input(dir.path()))
        .expect_err("this input must be rejected");
    assert!(
        err.message().contains(&*dir.path().to_string_lossy()),
        "{err}"
    );
}

#[test]
fn hex_is_lower_case_and_complete() {
    assert_eq!(to_hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    assert_eq!(to_hex(&[]), "");
}
