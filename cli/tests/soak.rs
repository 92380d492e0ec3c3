//! A long soak of the real binary: rounds of new files imported while
//! readers query the store, imports killed part way, and (when this machine
//! lets the test mount a tmpfs) disk-full episodes. It ends with a clean
//! `kiln check --deep` and every file done exactly once.
//!
//! Ignored by default. Run it with
//! `KILN_SOAK_MINUTES=30 cargo test -p kiln-cli --test soak -- --ignored --nocapture`
//! (the default is 30 minutes; as root it mounts a tmpfs for the store).

mod common;

use common::{json, kiln, run};
use kiln_testkit::paint;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Built-in stages a distinct asset runs: hash, thumbnail, metadata,
/// search-index, embed, score, cluster, search-enrich.
const STAGES_PER_ASSET: u64 = 8;
const FILES_PER_ROUND: usize = 24;
/// New files stop here; later rounds re-import what is there (unchanged
/// files are no-ops), with kills, full disks and readers as before.
const MAX_FILES: usize = 6000;

/// A small deterministic generator, so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn mount(args: &[&str], dir: &Path) -> bool {
    std::process::Command::new("mount")
        .args(args)
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

/// Writes `count` new images (unique content) with A1111 parameters.
fn new_files(dir: &Path, first: usize, count: usize) {
    for i in first..first + count {
        let image = paint::noise(160 + (i % 7) as u32 * 16, 160);
        let parameters = format!(
            "soak image {i}\nNegative prompt: blurry\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: {i}, Size: 160x160, Model: soak"
        );
        paint::write_png(
            &dir.join(format!("soak-{i:06}.png")),
            &image,
            Some(&parameters),
        );
    }
}

#[test]
#[ignore = "a long soak: run with -- --ignored (see the module documentation)"]
fn soak_imports_kills_full_disks_and_readers_end_clean() {
    let minutes: u64 = std::env::var("KILN_SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(30);
    let deadline = Instant::now() + Duration::from_secs(minutes * 60);
    let work = tempfile::tempdir().expect("temp dir");
    let input = work.path().join("in");
    std::fs::create_dir_all(&input).expect("dir");
    let disk = work.path().join("disk");
    std::fs::create_dir_all(&disk).expect("dir");
    let tmpfs = mount(&["-t", "tmpfs", "-o", "size=2g", "tmpfs"], &disk);
    if !tmpfs {
        eprintln!("SKIPPED: disk-full episodes (mounting a tmpfs needs root); the rest runs");
    }
    let store = disk.join("store");

    // Readers query the store all along; none may crash.
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let reader = {
        let (stop, reads, store) = (stop.clone(), reads.clone(), store.clone());
        std::thread::spawn(move || {
            let commands: [&[&str]; 4] = [
                &["status", "--json"],
                &["search", "soak", "--json"],
                &["assets", "--json"],
                &["dead", "list", "--json"],
            ];
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let out = run(kiln(&store).args(commands[n % commands.len()]));
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    out.status.code().is_some_and(|c| c != 101)
                        && !stderr.contains("internal error"),
                    "reader {:?}: {:?} {stderr}",
                    commands[n % commands.len()],
                    out.status
                );
                reads.fetch_add(1, Ordering::SeqCst);
                n += 1;
                std::thread::sleep(Duration::from_millis(150));
            }
        })
    };

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut files, mut rounds, mut kills, mut full_episodes) = (0usize, 0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        rounds += 1;
        if files < MAX_FILES {
            new_files(&input, files, FILES_PER_ROUND);
            files += FILES_PER_ROUND;
        }
        let squeeze = tmpfs && rng.below(5) == 0;
        if squeeze {
            // Leave a few hundred kilobytes: the round runs out of space.
            let used = fs_used_kib(&disk);
            mount(&["-o", &format!("remount,size={}k", used + 400)], &disk);
            full_episodes += 1;
        }
        let child = kiln(&store)
            .args(["import", "-q"])
            .arg(&input)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("kiln starts");
        if rng.below(3) == 0 {
            let delay = Duration::from_millis(20 + rng.below(400));
            if let kiln_testkit::kill::Fate::Killed = kiln_testkit::kill::kill_after(child, delay) {
                kills += 1;
            }
        } else {
            let out = child.wait_with_output().expect("waits");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                matches!(out.status.code(), Some(0 | 1 | 3)),
                "import: {:?} {stderr}",
                out.status
            );
            if out.status.code() == Some(1) {
                assert!(
                    squeeze && stderr.to_lowercase().contains("no space left on device on"),
                    "{stderr}"
                );
            }
        }
        if squeeze {
            mount(&["-o", "remount,size=2g"], &disk);
        }
    }

    // Finish everything that is left (an import killed before it recorded
    // itself left its new files unknown to the store: import once more),
    // then the store must be sound.
    let finished = run(kiln(&store).args(["import", "-q"]).arg(&input));
    assert_eq!(
        finished.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&finished.stderr)
    );
    stop.store(true, Ordering::SeqCst);
    reader.join().expect("the readers never failed");
    let check = run(kiln(&store).args(["check", "--deep"]));
    let report = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(0), "{report}");
    let status = json(&store, &["status"]);
    let n = files as u64;
    assert_eq!(status["assets"], n, "{status}");
    assert_eq!(
        status["jobs"]["done"],
        n * STAGES_PER_ASSET,
        "each job done once: {status}"
    );
    assert_eq!(status["jobs"]["dead"], 0, "{status}");
    let search = json(&store, &["search", "", "--limit", "1"]);
    assert_eq!(search["total"], n, "every file is searchable: {search}");
    println!(
        "soak: {minutes} min, {rounds} rounds, {files} files, {kills} imports killed, {full_episodes} disk-full episodes, {} reader commands; kiln check --deep clean, every file done once",
        reads.load(Ordering::SeqCst)
    );
    if tmpfs {
        let _ = std::process::Command::new("umount").arg(&disk).status();
    }
}

/// KiB used on the file system holding `dir`.
fn fs_used_kib(dir: &Path) -> u64 {
    let out = std::process::Command::new("df")
        .args(["-k", "--output=used"])
        .arg(dir)
        .output()
        .expect("df runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}
