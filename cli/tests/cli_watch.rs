//! `kiln watch` as a child process, with files written into the watched
//! folder the way image generators write them: A1111's temporary name and
//! rename, ComfyUI's in-place PNG, a burst, a file deleted before intake, the
//! folder removed and made again, and a restart after files arrived.

mod common;

use common::{json, kiln, num, samples_dir};
use kiln_testkit::child::ChildGuard;
use serde_json::Value as Json;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any wait may take before the test fails; generous because the
/// machine is shared, never a measure of speed.
const DEADLINE: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_millis(100);

/// A running `kiln watch` whose standard error is collected as it comes.
struct Watch {
    child: ChildGuard,
    stderr: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Watch {
    /// Starts watching `dir` and waits until the watch is armed.
    fn start(store: &Path, dir: &Path) -> Watch {
        let mut child = kiln(store)
            .arg("watch")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kiln watch starts");
        let pipe = child.stderr.take().expect("stderr is piped");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Ok(mut text) = sink.lock() {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        });
        let mut watch = Watch {
            child: ChildGuard(child),
            stderr,
            reader: Some(reader),
        };
        watch.wait_for_stderr("watching ");
        watch
    }

    fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits until the watch has said `needle`.
    fn wait_for_stderr(&mut self, needle: &str) {
        let started = Instant::now();
        while !self.stderr().contains(needle) {
            if let Some(status) = self.child.0.try_wait().expect("child state") {
                panic!(
                    "kiln watch ended ({status}) before saying {needle:?}:\n{}",
                    self.stderr()
                );
            }
            assert!(
                started.elapsed() < DEADLINE,
                "kiln watch never said {needle:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Stops the watch with Ctrl-C, checks it exits 130, returns its stderr.
    fn stop(self) -> String {
        self.stop_with("INT", 130)
    }

    /// Stops the watch with `signal`, checks it exits with `code`, returns
    /// its stderr.
    fn stop_with(mut self, signal: &str, code: i32) -> String {
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.0.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let exited = self.child.0.wait().expect("kiln watch exits").code();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let stderr = self.stderr();
        assert_eq!(
            exited,
            Some(code),
            "SIG{signal} stops the watch with {code}:\n{stderr}"
        );
        stderr
    }
}

/// Polls `status` until the store holds `assets` assets and no job of any
/// tier is pending; returns that status.
/// Waits until the import of what the folder held when the watch started
/// has ended: a file written while that walk runs is taken in by the walk,
/// as `kiln import` would, not by the watch's completeness check.
fn initial_import_done(store: &Path, watch: &Watch) {
    let started = Instant::now();
    loop {
        let status = json(store, &["status"]);
        let imports = status["imports"].as_array().cloned().unwrap_or_default();
        if !imports.is_empty() && imports.iter().all(|i| i["state"] == "done") {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the watch's first import never ended: {status}\nwatch said:\n{}",
            watch.stderr()
        );
        std::thread::sleep(POLL);
    }
}

fn settled(store: &Path, watch: &Watch, assets: u64) -> Json {
    let started = Instant::now();
    loop {
        let status = json(store, &["status"]);
        let idle = status["tiers"]
            .as_object()
            .is_some_and(|tiers| tiers.values().all(|t| t["pending"] == 0));
        if num(&status, "/assets") == assets && idle {
            return status;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the store never settled at {assets} asset(s): {status}\nwatch said:\n{}",
            watch.stderr()
        );
        std::thread::sleep(POLL);
    }
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(samples_dir().join(name)).expect("the sample exists")
}

/// Every import's `field`, summed.
fn imports_sum(status: &Json, field: &str) -> u64 {
    status["imports"]
        .as_array()
        .expect("imports")
        .iter()
        .map(|i| i[field].as_u64().unwrap_or(0))
        .sum()
}

/// The first paths of the store's assets.
fn asset_paths(store: &Path) -> Vec<String> {
    let assets = json(store, &["assets"]);
    assets["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .filter_map(|a| a["path"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_file_renamed_from_its_temporary_name_is_taken_in_under_the_final_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tempfile::tempdir().expect("temp dir");
    let watch = Watch::start(store.path(), dir.path());

    let bytes = sample("a1111-forest.png");
    let temporary = dir.path().join("00001-1234.tmp");
    let mut file = std::fs::File::create(&temporary).expect("create");
    for piece in bytes.chunks(bytes.len() / 3 + 1) {
        file.write_all(piece).expect("write");
        file.flush().expect("flush");
        std::thread::sleep(Duration::from_millis(150));
    }
    drop(file);
    std::fs::rename(&temporary, dir.path().join("00001-1234.png")).expect("rename");

    let status = settled(store.path(), &watch, 1);
    assert_eq!(num(&status, "/files"), 1, "only the final name: {status}");
    assert_eq!(num(&status, "/jobs/dead"), 0, "{status}");
    let paths = asset_paths(store.path());
    assert!(
        paths.iter().all(|p| p.ends_with("00001-1234.png")),
        "{paths:?}"
    );
    let stderr = watch.stop();
    assert!(
        !stderr.contains("00001-1234.tmp"),
        "the temporary name is never taken in nor reported:\n{stderr}"
    );
}

#[test]
fn a_png_written_in_place_is_taken_in_only_once_it_is_complete() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tempfile::tempdir().expect("temp dir");
    let watch = Watch::start(store.path(), dir.path());
    initial_import_done(store.path(), &watch);

    let bytes = sample("comfyui-lighthouse.png");
    let (body, end) = bytes.split_at(bytes.len() - 12);
    let path = dir.path().join("ComfyUI_00001_.png");
    let mut file = std::fs::File::create(&path).expect("create");
    let (first, second) = body.split_at(body.len() / 2);
    file.write_all(first).expect("write");
    file.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));
    file.write_all(second).expect("write");
    file.flush().expect("flush");
    // Long enough for the watch to see the same size several times: only the
    // missing IEND chunk tells it the file is not complete.
    std::thread::sleep(Duration::from_millis(1500));
    let early = json(store.path(), &["status"]);
    assert_eq!(
        num(&early, "/files"),
        0,
        "a PNG without its IEND chunk is not taken in: {early}"
    );
    file.write_all(end).expect("write");
    drop(file);

    let status = settled(store.path(), &watch, 1);
    assert_eq!(
        imports_sum(&status, "files_seen"),
        1,
        "the file was submitted once, complete: {status}"
    );
    assert_eq!(num(&status, "/jobs/dead"), 0, "{status}");
    let shown = json(store.path(), &["show", path.to_str().expect("utf-8")]);
    assert!(
        !shown["generation"].is_null(),
        "its ComfyUI metadata was read: {shown}"
    );
    watch.stop();
}

#[test]
fn a_burst_of_files_becomes_one_batch_with_each_file_submitted_once() {
    const FILES: usize = 500;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tempfile::tempdir().expect("temp dir");
    let watch = Watch::start(store.path(), dir.path());

    kiln_testkit::corpus::generated(
        dir.path(),
        FILES,
        kiln_testkit::corpus::GeneratedKind::Small { side: 32 },
    )
    .expect("the burst is written");

    let status = settled(store.path(), &watch, FILES as u64);
    assert_eq!(num(&status, "/files"), FILES as u64);
    assert_eq!(
        imports_sum(&status, "files_seen"),
        FILES as u64,
        "no file was submitted twice: {status}"
    );
    let batches = status["imports"]
        .as_array()
        .expect("imports")
        .iter()
        .filter(|i| i["files_seen"].as_u64().unwrap_or(0) > 0)
        .count();
    // A burst written faster than the watch's tick is one import; a machine
    // that stalls the writer mid-burst may see two. One per file or per event
    // would be hundreds.
    assert!(
        batches <= 2,
        "{FILES} files became {batches} imports: {status}"
    );
    assert_eq!(num(&status, "/jobs/dead"), 0, "{status}");
    watch.stop();
}

#[test]
fn a_file_deleted_before_intake_is_skipped_with_a_note() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tempfile::tempdir().expect("temp dir");
    let mut watch = Watch::start(store.path(), dir.path());

    // A PNG still being written (no IEND yet) is held, so it is certainly
    // deleted before intake.
    let bytes = sample("comfyui-custom-sampler.png");
    let doomed = dir.path().join("ComfyUI_00002_.png");
    std::fs::write(&doomed, &bytes[..bytes.len() - 12]).expect("write");
    std::thread::sleep(Duration::from_millis(800));
    std::fs::remove_file(&doomed).expect("delete");
    std::fs::write(dir.path().join("kept.png"), sample("novelai-garden.png")).expect("write");

    watch.wait_for_stderr("deleted before");
    let status = settled(store.path(), &watch, 1);
    assert_eq!(num(&status, "/jobs/dead"), 0, "no dead letter: {status}");
    let dead = json(store.path(), &["dead", "list"]);
    assert_eq!(num(&dead, "/total"), 0, "{dead}");
    let stderr = watch.stop();
    assert!(
        stderr.contains("ComfyUI_00002_.png: deleted before"),
        "the note names the file:\n{stderr}"
    );
}

#[test]
fn the_watch_survives_its_folder_being_removed_and_made_again() {
    let base = tempfile::tempdir().expect("temp dir");
    let dir = base.path().join("output");
    std::fs::create_dir(&dir).expect("mkdir");
    let store = tempfile::tempdir().expect("temp dir");
    let mut watch = Watch::start(store.path(), &dir);

    std::fs::write(dir.join("one.png"), sample("a1111-forest.png")).expect("write");
    settled(store.path(), &watch, 1);

    std::fs::remove_dir_all(&dir).expect("remove the folder");
    watch.wait_for_stderr("was removed");
    std::fs::create_dir(&dir).expect("make the folder again");
    std::fs::write(dir.join("two.png"), sample("forge-portrait-itxt.png")).expect("write");
    watch.wait_for_stderr("watching it again");
    settled(store.path(), &watch, 2);

    // Events flow again, not only the catch-up scan.
    std::fs::write(dir.join("three.png"), sample("novelai-garden.png")).expect("write");
    let status = settled(store.path(), &watch, 3);
    assert_eq!(num(&status, "/jobs/dead"), 0, "{status}");
    let stderr = watch.stop();
    assert!(
        !stderr.contains("deleted before"),
        "files removed after intake get no note:\n{stderr}"
    );
}

#[test]
fn a_restart_catches_up_on_files_written_while_stopped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tempfile::tempdir().expect("temp dir");
    let watch = Watch::start(store.path(), dir.path());
    std::fs::write(dir.path().join("before.png"), sample("a1111-forest.png")).expect("write");
    settled(store.path(), &watch, 1);
    watch.stop();
    let status = json(store.path(), &["status"]);
    assert_eq!(
        num(&status, "/jobs/running"),
        0,
        "leases released: {status}"
    );

    std::fs::write(dir.path().join("while-1.png"), sample("novelai-garden.png")).expect("write");
    std::fs::write(
        dir.path().join("while-2.png"),
        sample("forge-portrait-itxt.png"),
    )
    .expect("write");

    let watch = Watch::start(store.path(), dir.path());
    let status = settled(store.path(), &watch, 3);
    assert_eq!(num(&status, "/files"), 3, "{status}");
    assert!(
        imports_sum(&status, "files_unchanged") >= 1,
        "the file taken in before the restart was not taken in again: {status}"
    );
    assert_eq!(num(&status, "/jobs/dead"), 0, "{status}");
    watch.stop();
}

#[test]
fn sigterm_and_sighup_stop_the_watch_gracefully() {
    for (signal, code, said) in [("TERM", 143, "SIGTERM"), ("HUP", 129, "SIGHUP")] {
        let work = tempfile::tempdir().expect("temp dir");
        let dir = work.path().join("out");
        std::fs::create_dir_all(&dir).expect("dir");
        let watch = Watch::start(&work.path().join("store"), &dir);
        let stderr = watch.stop_with(signal, code);
        assert!(
            stderr.contains(&format!("stopped watching ({said}"))
                && stderr.contains("nothing is lost"),
            "{stderr}"
        );
    }
}

#[test]
fn a_folder_inside_the_store_is_watched_and_the_stores_own_files_never_taken_in() {
    let store = tempfile::tempdir().expect("temp dir");
    let uploads = store.path().join("uploads");
    std::fs::create_dir(&uploads).expect("mkdir");
    std::fs::write(uploads.join("before.png"), sample("a1111-forest.png")).expect("write");
    let watch = Watch::start(store.path(), &uploads);
    settled(store.path(), &watch, 1);

    std::fs::write(uploads.join("dropped.png"), sample("novelai-garden.png")).expect("write");
    let status = settled(store.path(), &watch, 2);
    // The thumbnails the store wrote into its blob folder, its database and
    // its index are no files of the library.
    assert_eq!(num(&status, "/files"), 2, "{status}");
    assert_eq!(num(&status, "/jobs/dead"), 0, "{status}");
    let paths = asset_paths(store.path());
    assert!(
        paths.iter().all(|p| p.contains("/uploads/")),
        "only the uploads: {paths:?}"
    );
    watch.stop();
}

/// CPU time (user and system, in clock ticks) the process `pid` has used.
#[cfg(target_os = "linux")]
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The command name may hold spaces; the fields after it are plain.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after
    // the name.
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// An idle primary with its workers running and a folder armed sleeps:
/// nothing polls. Before the watch, the engine and the progress publisher
/// slept until an event, an idle `kiln watch` (debug build) used about 26
/// clock ticks (1/100 s each) in 10 s; sleeping, it uses none or one. The
/// bound sits far above that noise and far below any periodic poll.
#[cfg(target_os = "linux")]
#[test]
fn an_idle_watch_uses_next_to_no_cpu() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tempfile::tempdir().expect("temp dir");
    let mut watch = Watch::start(store.path(), dir.path());
    watch.wait_for_stderr("up to date");
    // Let start-up work (the catch-up import, the last progress line) end.
    std::thread::sleep(Duration::from_secs(2));
    let pid = watch.child.0.id();
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(10));
    let used = cpu_ticks(pid) - before;
    assert!(
        used <= 5,
        "an idle kiln watch used {used} clock ticks in 10 s:\n{}",
        watch.stderr()
    );
    watch.stop();
}

#[test]
fn a_sidecar_beside_a_watched_file_gives_it_its_curation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tempfile::tempdir().expect("temp dir");
    let mut watch = Watch::start(store.path(), dir.path());
    initial_import_done(store.path(), &watch);
    // As darktable leaves them: the sidecar first, then the image.
    let sidecar = r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmp:Rating="5"><dc:subject><rdf:Bag><rdf:li>from darktable</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"#;
    std::fs::write(dir.path().join("shot.png.xmp"), sidecar).expect("sidecar");
    std::fs::write(dir.path().join("shot.png"), sample("a1111-forest.png")).expect("image");
    settled(store.path(), &watch, 1);
    watch.wait_for_stderr("sidecar(s)");
    let shown = json(
        store.path(),
        &["show", &dir.path().join("shot.png").to_string_lossy()],
    );
    assert_eq!(shown["curation"]["rating"], 5, "{shown}");
    assert_eq!(
        shown["curation"]["tags"],
        serde_json::json!(["from darktable"])
    );
    assert_eq!(
        num(&json(store.path(), &["status"]), "/files"),
        1,
        "the sidecar is no asset"
    );
    watch.stop();
}
