//! A pack that cannot work is refused with an error that names the file at
//! fault and says what is wrong: a missing file, settings that disagree, a
//! model whose input or output is not what the config says, a corrupt
//! model, a broken tokenizer. Each case changes one thing in a copy of the
//! test pack.

mod common;

use common::{copy_pack, pack_dir, runtime_or_skip};
use kiln_clip::{Clip, ClipError, pack};
use serde_json::Value;
use std::path::Path;

/// The error loading `dir`, as text, after checking it names `file`.
fn refused(dir: &Path, file: &str) -> String {
    let err = match Clip::load(dir, 1) {
        Ok(_) => panic!("a pack with a bad {file} loaded"),
        Err(e) => e,
    };
    let message = err.to_string();
    println!("{file}: {message}");
    let path = dir.join(file);
    assert!(
        message.contains(&path.display().to_string()),
        "the error does not name {}: {message}",
        path.display()
    );
    assert!(
        !matches!(err, ClipError::Runtime { .. }),
        "a pack error reported as a runtime error: {message}"
    );
    message
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON");
    edit(&mut value);
    std::fs::write(path, serde_json::to_string(&value).expect("JSON")).expect("write");
}

#[test]
fn every_missing_file_is_named() {
    let Some(dir) = pack_dir() else { return };
    for file in [
        pack::CONFIG,
        pack::VISUAL_MODEL,
        pack::PREPROCESS,
        pack::TEXTUAL_MODEL,
        pack::TOKENIZER,
    ] {
        let copy = copy_pack(&dir);
        std::fs::remove_file(copy.path().join(file)).expect("remove");
        let message = refused(copy.path(), file);
        assert!(message.contains("missing"), "{message}");
    }
}

#[test]
fn a_folder_that_is_not_a_pack_is_refused() {
    let empty = tempfile::tempdir().expect("a temporary folder");
    let message = refused(empty.path(), pack::CONFIG);
    assert!(message.contains("missing"), "{message}");
    let not_a_folder = empty.path().join("file");
    std::fs::write(&not_a_folder, b"x").expect("write");
    let err = Clip::load(&not_a_folder, 1).expect_err("a file is not a pack");
    assert!(err.to_string().contains("not a folder"), "{err}");
}

#[test]
fn settings_that_disagree_are_refused() {
    let Some(dir) = pack_dir() else { return };
    let copy = copy_pack(&dir);
    edit_json(&copy.path().join(pack::PREPROCESS), |v| {
        v["size"] = 256.into()
    });
    let message = refused(copy.path(), pack::PREPROCESS);
    assert!(message.contains("image_size"), "{message}");

    let copy = copy_pack(&dir);
    edit_json(&copy.path().join(pack::PREPROCESS), |v| {
        v["interpolation"] = "lanczos".into();
    });
    let message = refused(copy.path(), pack::PREPROCESS);
    assert!(message.contains("lanczos"), "{message}");

    let copy = copy_pack(&dir);
    edit_json(&copy.path().join(pack::PREPROCESS), |v| {
        v["mean"] = serde_json::json!([0.5, 0.5]);
    });
    let message = refused(copy.path(), pack::PREPROCESS);
    assert!(message.contains("mean"), "{message}");

    let copy = copy_pack(&dir);
    edit_json(&copy.path().join(pack::CONFIG), |v| {
        v.as_object_mut().expect("an object").remove("embed_dim");
    });
    let message = refused(copy.path(), pack::CONFIG);
    assert!(message.contains("embed_dim"), "{message}");

    let copy = copy_pack(&dir);
    edit_json(&copy.path().join(pack::CONFIG), |v| {
        v["text_cfg"]["vocab_size"] = 1000.into();
    });
    let message = refused(copy.path(), pack::TOKENIZER);
    assert!(message.contains("vocab_size 1000"), "{message}");

    let copy = copy_pack(&dir);
    std::fs::write(copy.path().join(pack::CONFIG), b"{ not json").expect("write");
    let message = refused(copy.path(), pack::CONFIG);
    assert!(message.contains("JSON"), "{message}");
}

#[test]
fn a_broken_tokenizer_is_refused() {
    let Some(dir) = pack_dir() else { return };
    let copy = copy_pack(&dir);
    let tokenizer = copy.path().join(pack::TOKENIZER);
    let bytes = std::fs::read(&tokenizer).expect("read");
    std::fs::write(&tokenizer, &bytes[..bytes.len() / 2]).expect("truncate");
    let message = refused(copy.path(), pack::TOKENIZER);
    assert!(message.contains("JSON"), "{message}");

    let copy = copy_pack(&dir);
    edit_json(&copy.path().join(pack::TOKENIZER), |v| {
        v["model"]["merges"][5] = serde_json::json!(["no-such-token", "x"]);
    });
    let message = refused(copy.path(), pack::TOKENIZER);
    assert!(message.contains("merge 5"), "{message}");

    let copy = copy_pack(&dir);
    edit_json(&copy.path().join(pack::TOKENIZER), |v| {
        v["model"]["vocab"]
            .as_object_mut()
            .expect("a vocabulary")
            .remove("<|endoftext|>");
        v["added_tokens"] = serde_json::json!([]);
    });
    let message = refused(copy.path(), pack::TOKENIZER);
    assert!(message.contains("<|endoftext|>"), "{message}");

    let copy = copy_pack(&dir);
    edit_json(&copy.path().join(pack::TOKENIZER), |v| {
        v["model"]["type"] = "WordPiece".into();
    });
    let message = refused(copy.path(), pack::TOKENIZER);
    assert!(message.contains("BPE"), "{message}");

    let copy = copy_pack(&dir);
    edit_json(&copy.path().join(pack::TOKENIZER_CONFIG), |v| {
        v["pad_token"] = "<pad>".into();
    });
    let message = refused(copy.path(), pack::TOKENIZER_CONFIG);
    assert!(message.contains("<pad>"), "{message}");
}

#[test]
fn models_that_disagree_with_the_config_are_refused() {
    let Some(dir) = pack_dir() else { return };
    if !runtime_or_skip() {
        return;
    }
    // The two models swapped: each input is the other side's.
    let copy = copy_pack(&dir);
    let (visual, textual) = (
        copy.path().join(pack::VISUAL_MODEL),
        copy.path().join(pack::TEXTUAL_MODEL),
    );
    let swap = copy.path().join("swap.onnx");
    std::fs::rename(&visual, &swap).expect("rename");
    std::fs::rename(&textual, &visual).expect("rename");
    std::fs::rename(&swap, &textual).expect("rename");
    let message = refused(copy.path(), pack::VISUAL_MODEL);
    assert!(
        message.contains("\"image\"") && message.contains("\"text\""),
        "{message}"
    );

    // A config whose sizes are not the models'.
    for (field, value, file, says) in [
        ("embed_dim", 32, pack::VISUAL_MODEL, "[N, 32]"),
        ("context_length", 64, pack::TEXTUAL_MODEL, "[N, 64]"),
        ("image_size", 256, pack::VISUAL_MODEL, "[N, 3, 256, 256]"),
    ] {
        let copy = copy_pack(&dir);
        edit_json(&copy.path().join(pack::CONFIG), |v| match field {
            "embed_dim" => v[field] = value.into(),
            "context_length" => v["text_cfg"][field] = value.into(),
            _ => v["vision_cfg"][field] = value.into(),
        });
        if field == "image_size" {
            edit_json(&copy.path().join(pack::PREPROCESS), |v| {
                v["size"] = serde_json::json!([value, value]);
            });
        }
        let message = refused(copy.path(), file);
        assert!(message.contains(says), "{field}: {message}");
    }
}

#[test]
fn a_corrupt_model_is_refused() {
    let Some(dir) = pack_dir() else { return };
    if !runtime_or_skip() {
        return;
    }
    for file in [pack::VISUAL_MODEL, pack::TEXTUAL_MODEL] {
        let copy = copy_pack(&dir);
        let path = copy.path().join(file);
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() / 3]).expect("truncate");
        let message = refused(copy.path(), file);
        assert!(message.contains("cannot load the model"), "{message}");

        std::fs::write(&path, b"not an onnx file at all").expect("write");
        let message = refused(copy.path(), file);
        assert!(message.contains("cannot load the model"), "{message}");
    }
}

#[test]
fn the_pack_is_pinned_by_the_sha256_of_every_file() {
    let Some(dir) = pack_dir() else { return };
    let pack = kiln_clip::Pack::open(&dir).expect("the pack opens");
    let files = pack.files().expect("the files hash");
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            pack::CONFIG,
            pack::TEXTUAL_MODEL,
            pack::TOKENIZER,
            pack::TOKENIZER_CONFIG,
            pack::VISUAL_MODEL,
            pack::PREPROCESS,
        ]
    );
    for file in &files {
        assert_eq!(file.sha256.len(), 64);
        let size = std::fs::metadata(dir.join(&file.name)).expect("stat").len();
        assert_eq!(file.bytes, size, "{}", file.name);
    }
    // One byte changed changes that file's digest and no other.
    let copy = copy_pack(&dir);
    edit_json(&copy.path().join(pack::CONFIG), |v| v["extra"] = 1.into());
    let changed = kiln_clip::Pack::open(copy.path())
        .expect("opens")
        .files()
        .expect("hashes");
    for (a, b) in files.iter().zip(&changed) {
        assert_eq!(a.sha256 == b.sha256, a.name != pack::CONFIG, "{}", a.name);
    }
}
