//! Stages and helpers shared by the engine's integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kiln_plugin_api::{CostClass, Stage, StageError, StageInfo, StageInput, StageOutput, Value};

/// A stage that records what it was given as facts. With `hash`, it reads the
/// file and declares its blake3 as the content identity; with `proxy`, it
/// emits a proxy artifact.
pub(crate) struct Recorder {
    pub(crate) info: StageInfo,
    pub(crate) hash: bool,
    pub(crate) proxy: bool,
    pub(crate) calls: AtomicUsize,
}

impl Recorder {
    pub(crate) fn new(info: StageInfo) -> Arc<Recorder> {
        Arc::new(Recorder {
            info,
            hash: false,
            proxy: false,
            calls: AtomicUsize::new(0),
        })
    }

    pub(crate) fn hashing(info: StageInfo) -> Arc<Recorder> {
        Arc::new(Recorder {
            info,
            hash: true,
            proxy: true,
            calls: AtomicUsize::new(0),
        })
    }

    pub(crate) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Stage for Recorder {
    fn info(&self) -> StageInfo {
        self.info.clone()
    }

    fn process(&self, input: &StageInput) -> Result<StageOutput, StageError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let seen: Vec<Value> = input
            .facts
            .keys()
            .map(|k| Value::from(k.as_str()))
            .collect();
        let facts = Value::map([
            ("stage", Value::from(self.info.name.as_str())),
            ("version", Value::from(u64::from(self.info.version))),
            ("seen", Value::List(seen)),
            ("has_proxy", Value::from(input.proxy_path.is_some())),
            ("has_hash", Value::from(input.content_hash.is_some())),
        ]);
        let mut out = StageOutput::facts(facts);
        if self.hash {
            let bytes = std::fs::read(&input.path)
                .map_err(|e| StageError::permanent(format!("cannot read {}: {e}", input.path)))?;
            out = out.with_content_hash(*blake3::hash(&bytes).as_bytes());
            if self.proxy {
                let mut proxy = b"proxy:".to_vec();
                proxy.extend_from_slice(&bytes);
                out = out.with_artifact(
                    kiln_plugin_api::PROXY_ARTIFACT,
                    "application/octet-stream",
                    proxy,
                );
            }
        }
        Ok(out)
    }
}

/// How long a test waits for what must happen soon before it fails.
pub(crate) const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);

/// Waits until `done` holds, failing the test after [`PATIENCE`].
pub(crate) async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "waited too long for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// The declaration of an I/O-bound stage of version 1, optionally after one
/// other stage.
pub(crate) fn io_info(name: &str, tier: u8, after: Option<&str>) -> StageInfo {
    let info = StageInfo::new(name, 1, tier).cost(CostClass::Io);
    match after {
        Some(a) => info.after([a]),
        None => info,
    }
}

/// Three tiers: hash (1) -> thumb (1) -> meta (2) -> enrich (3).
pub(crate) fn three_tier() -> Vec<Arc<dyn Stage>> {
    vec![
        Recorder::hashing(StageInfo::new("hash", 1, 1).cost(CostClass::Io)),
        Recorder::new(
            StageInfo::new("thumb", 1, 1)
                .after(["hash"])
                .needs_proxy(true),
        ),
        Recorder::new(StageInfo::new("meta", 1, 2).after(["thumb"])),
        Recorder::new(
            StageInfo::new("enrich", 1, 3)
                .after(["meta"])
                .needs_proxy(true),
        ),
    ]
}

/// Writes `n` distinct small files into `dir`.
pub(crate) fn write_files(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).expect("create input folder");
    for i in 0..n {
        std::fs::write(dir.join(format!("img{i:05}.png")), format!("content {i}"))
            .expect("write file");
    }
}

/// A multi-threaded runtime for tests that are not `#[tokio::test]`.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("build runtime")
}

/// The importing primary of a two-process test: imports `input` with
/// `engine`'s workers, prints `STARTED` once ten jobs are done (the other
/// process then works while this one still imports), runs to idle and
/// shuts down.
pub(crate) async fn import_then_announce(engine: kiln_engine::Engine, input: &Path) {
    engine
        .import_dir(input, kiln_engine::Priority::Batch)
        .await
        .expect("import");
    engine.start().await.expect("start");
    while engine.status().expect("status").jobs.done < 10 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    println!("STARTED");
    engine
        .wait_until(kiln_engine::Until::Idle)
        .await
        .expect("run");
    engine.shutdown().await;
}
