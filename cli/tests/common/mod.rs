//! Helpers for tests that drive the real `kiln` binary.
#![allow(dead_code, unreachable_pub)]

use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod serve;

/// A `kiln` command on the given store.
pub fn kiln(store: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.arg("--store").arg(store).env_remove("KILN_STORE");
    cmd
}

/// Runs a command and returns its output, failing the test if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the kiln binary starts")
}

/// Runs a command to its end and fails the test unless it exits with 0.
pub fn succeed(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The children of a kill loop on `store`: the first round imports
/// `input`, later rounds resume the work with `run`.
pub fn import_then_run<'a>(
    store: &'a Path,
    input: &'a Path,
) -> impl FnMut(usize) -> std::process::Child + 'a {
    move |round| {
        let mut cmd = kiln(store);
        if round == 0 {
            cmd.args(["import", "-q"]).arg(input);
        } else {
            cmd.args(["run", "-q"]);
        }
        cmd.spawn().expect("kiln starts")
    }
}

/// Runs `kiln ARGS --json` and parses its standard output.
pub fn json(store: &Path, args: &[&str]) -> Json {
    let out = run(kiln(store).args(args).arg("--json"));
    assert!(
        out.status.success(),
        "kiln {args:?} --json failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kiln {args:?} --json printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The repository's sample folder.
pub fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples")
}

/// A number at a JSON pointer, failing the test when it is missing.
pub fn num(v: &Json, pointer: &str) -> u64 {
    v.pointer(pointer)
        .and_then(Json::as_u64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {v}"))
}

/// The ids `kiln search QUERY --limit LIMIT --json` gives, in its order,
/// with its whole answer.
pub fn search_ids(store: &Path, query: &str, limit: usize) -> (Vec<u64>, Json) {
    let found = json(store, &["search", query, "--limit", &limit.to_string()]);
    let ids = found["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits in {found}"))
        .iter()
        .filter_map(|h| h["id"].as_u64())
        .collect();
    (ids, found)
}
