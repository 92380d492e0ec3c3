//! A file that is not ONNX Runtime, named by `ORT_DYLIB_PATH`, is an error
//! that says how to get the library, never a panic. (Its own test binary:
//! the library is loaded once per process.)

use kiln_clip::{ClipError, ORT_DYLIB_VAR};

#[test]
fn a_bad_library_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let fake = dir.path().join("libonnxruntime.so.1.99.0");
    std::fs::write(&fake, b"\x7fELF but not really a library").expect("write");
    // SAFETY: this binary's only test sets the variable before anything in
    // the process reads it; no other thread runs yet.
    unsafe { std::env::set_var(ORT_DYLIB_VAR, &fake) };
    for _ in 0..2 {
        let err = kiln_clip::runtime().expect_err("not a library");
        let message = err.to_string();
        assert!(matches!(err, ClipError::Runtime { .. }), "{message}");
        assert!(message.contains(&fake.display().to_string()), "{message}");
        assert!(message.contains("pip install onnxruntime"), "{message}");
    }
    // Loading a pack says the same, whatever the pack.
    let err = kiln_clip::Clip::load(dir.path(), 1).expect_err("no pack here");
    assert!(err.to_string().contains("config.json"), "{err}");
}
