//! Two terminals on one store: reads answer while an import runs, and an
//! interactive import jumps the running batch.

mod common;

use common::{json, kiln, num, run, samples_dir};
use kiln_testkit::child::ChildGuard;
use kiln_testkit::corpus::{GeneratedKind, generated};
use std::time::{Duration, Instant};

#[test]
fn status_show_and_an_urgent_import_work_while_a_batch_runs() {
    let corpus_dir = tempfile::tempdir().expect("temp dir");
    generated(corpus_dir.path(), 300, GeneratedKind::Small { side: 640 }).expect("corpus builds");
    let store = tempfile::tempdir().expect("temp dir");

    let mut batch = ChildGuard(
        kiln(store.path())
            .args(["import", "-q"])
            .arg(corpus_dir.path())
            .spawn()
            .expect("kiln starts"),
    );

    // Wait until the batch has made some assets browsable, reading the store
    // from this second process while the first one writes it. Tier 1 of the
    // whole batch runs before its tier 2, so the batch is far from finished.
    let started = Instant::now();
    loop {
        let status = json(store.path(), &["status"]);
        if num(&status, "/tiers/1/done") >= 4 {
            break;
        }
        assert!(
            batch.0.try_wait().expect("batch state").is_none(),
            "the batch finished before any read could overlap it"
        );
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "nothing became browsable"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let assets = json(store.path(), &["assets"]);
    let id = assets
        .pointer("/assets/0/id")
        .and_then(serde_json::Value::as_u64)
        .expect("an asset")
        .to_string();
    let shown = json(store.path(), &["show", &id]);
    assert!(
        shown["paths"].as_array().is_some_and(|p| !p.is_empty()),
        "{shown}"
    );

    // An urgent file: handed to the running engine, returns once searchable.
    let urgent_dir = tempfile::tempdir().expect("temp dir");
    let urgent = urgent_dir.path().join("urgent.png");
    std::fs::copy(samples_dir().join("comfyui-custom-sampler.png"), &urgent).expect("copy");
    let out = run(kiln(store.path())
        .args([
            "import",
            "-q",
            "--priority",
            "interactive",
            "--until",
            "searchable",
        ])
        .arg(&urgent));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        batch.0.try_wait().expect("batch state").is_none(),
        "the urgent import returned only after the whole batch"
    );
    let shown = json(store.path(), &["show", urgent.to_str().expect("utf-8")]);
    assert_eq!(shown["stages"]["metadata"], "done");
    assert_eq!(
        shown["generation"]["positive_prompt"],
        "an astronaut tending a greenhouse on mars, soft light"
    );
    let status = json(store.path(), &["status"]);
    let batch_pending = status["imports"]
        .as_array()
        .and_then(|l| l.first())
        .and_then(|i| i["pending"].as_u64())
        .expect("batch import");
    assert!(
        batch_pending > 0,
        "the batch still had work when the urgent file was done"
    );

    let batch_status = batch.0.wait().expect("batch ends");
    assert_eq!(batch_status.code(), Some(0));
    let status = json(store.path(), &["status"]);
    assert_eq!(num(&status, "/assets"), 301);
}
