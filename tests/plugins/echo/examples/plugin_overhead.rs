//! Per-call cost of the plugin boundary: the same stage, returning a small
//! fact set, called in-process and through its shared library.
//!
//! ```text
//! cargo build --release -p kiln-test-plugin-echo
//! cargo run --release -p kiln-test-plugin-echo --example plugin_overhead [-- <library path>]
//! ```
//!
//! Prints `plugin_call_overhead_us=<N>`: the extra microseconds one call costs
//! through the boundary (encode input, cross, decode, encode reply, copy
//! through the sink, decode), measured against the in-process baseline in the
//! same run. Each side takes the best of several rounds, since these machines
//! are shared and noisy.

use kiln_engine::plugin::load_plugin;
use kiln_plugin_api::{Stage, StageInput, Value};
use kiln_test_plugin_echo::EchoStage;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

const ROUNDS: usize = 7;
const CALLS_PER_ROUND: u32 = 100_000;

fn library_path() -> Result<PathBuf, String> {
    if let Some(path) = std::env::args_os().nth(1) {
        return Ok(PathBuf::from(path));
    }
    // Examples live in <target>/<profile>/examples; the library cargo built
    // alongside is in <target>/<profile>.
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own path: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .ok_or("the example is not inside a target directory; pass the library path")?;
    Ok(profile_dir.join(format!(
        "{}kiln_test_plugin_echo{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )))
}

/// An input like the one a tier-3 stage receives: a path, a hash, a proxy
/// and the facts of two earlier stages.
fn realistic_input() -> StageInput {
    let mut input = StageInput::for_path(123_456, "/home/user/ComfyUI/output/ComfyUI_00042_.png");
    input.content_hash = Some([7; 32]);
    input.proxy_path = Some("/home/user/.kiln/blobs/ab/cdef0123456789.jpg".to_owned());
    input.facts.insert(
        "hash".to_owned(),
        Value::map([
            ("blake3", Value::from("ab".repeat(32))),
            ("bytes", Value::from(1_534_221u64)),
        ]),
    );
    input.facts.insert(
        "thumbnail".to_owned(),
        Value::map([
            ("format", Value::from("png")),
            ("width", Value::from(1024u64)),
            ("height", Value::from(1024u64)),
            ("has_alpha", Value::from(false)),
        ]),
    );
    input
}

/// Best nanoseconds per call over the rounds.
fn best_ns_per_call(stage: &dyn Stage, input: &StageInput) -> Result<f64, String> {
    let mut best = f64::INFINITY;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..CALLS_PER_ROUND {
            let out = stage
                .process(black_box(input))
                .map_err(|e| format!("the stage failed: {e}"))?;
            black_box(out);
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(CALLS_PER_ROUND);
        best = best.min(ns);
    }
    Ok(best)
}

fn main() -> Result<(), String> {
    let path = library_path()?;
    let plugin = load_plugin(&path).map_err(|e| {
        format!("{e}\n(build the library first: cargo build --release -p kiln-test-plugin-echo)")
    })?;
    let via_plugin = plugin.stage();
    let in_process = EchoStage;
    let input = realistic_input();
    if via_plugin.process(&input) != in_process.process(&input) {
        return Err("the plugin and the in-process stage disagree".to_owned());
    }
    // Warm both paths (page faults, lazy symbol binding, allocator).
    best_ns_per_call(&in_process, &input)?;
    let baseline_ns = best_ns_per_call(&in_process, &input)?;
    let plugin_ns = best_ns_per_call(via_plugin.as_ref(), &input)?;
    let overhead_us = (plugin_ns - baseline_ns).max(0.0) / 1000.0;
    println!("plugin: {}", path.display());
    println!("in_process_call_us={:.3}", baseline_ns / 1000.0);
    println!("plugin_call_us={:.3}", plugin_ns / 1000.0);
    println!("plugin_to_in_process_ratio={:.2}", plugin_ns / baseline_ns);
    println!("plugin_call_overhead_us={overhead_us:.3}");
    Ok(())
}
