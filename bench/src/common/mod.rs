//! Pieces the benchmarks share: a fixed-size thread pool over a list
//! of files, the process's CPU time, and the decode floor (read and decode
//! every image, nothing else) that the tier-1 stages are compared against;
//! in modules, the scratch folder, the `kiln` binary and percentiles
//! ([`work`]), command-line numbers and paths ([`args`]), what `/proc` says of a process ([`proc`]), and a large
//! store built quickly with stand-in stages ([`standin`]).

pub mod args;
pub mod proc;
pub mod standin;
pub mod work;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// CPU seconds (user + system) this process has used so far, from
/// `/proc/self/stat`; `None` where that file does not exist.
///
/// On a shared machine wall time swings with other people's load; CPU time
/// is much steadier, so the benchmarks report both.
pub fn process_cpu_seconds() -> Option<f64> {
    stat_cpu_seconds(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// CPU time (user and system) used so far by this process's threads whose
/// name starts with `prefix`, in seconds; `None` where `/proc` is missing.
pub fn threads_cpu_seconds(prefix: &str) -> Option<f64> {
    let mut total = 0.0;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            // The thread ended meanwhile.
            continue;
        };
        let name = stat
            .find('(')
            .zip(stat.rfind(')'))
            .and_then(|(open, close)| stat.get(open + 1..close));
        if name.is_some_and(|n| n.starts_with(prefix)) {
            total += stat_cpu_seconds(&stat)?;
        }
    }
    Some(total)
}

/// User plus system time from the text of a `/proc` `stat` file, in seconds.
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    // Linux reports these in clock ticks, 100 per second on every common build.
    proc::stat_ticks(stat).map(|ticks| ticks as f64 / proc::TICKS_PER_SECOND)
}

/// Wall time, CPU time and failures of one pass.
#[derive(Debug)]
pub struct Pass {
    /// Wall-clock time of the pass.
    pub wall: Duration,
    /// CPU time the whole process used during the pass, when known.
    pub cpu: Option<f64>,
    /// Files the pass could not handle.
    pub failed: usize,
}

/// Runs `work` over every file on `threads` threads; `work` returns whether
/// the file succeeded.
pub fn run_pool(files: &[PathBuf], threads: usize, work: impl Fn(&Path) -> bool + Sync) -> Pass {
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let cpu_start = process_cpu_seconds();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if !work(path) {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let wall = start.elapsed();
    let cpu = cpu_start.zip(process_cpu_seconds()).map(|(a, b)| b - a);
    Pass {
        wall,
        cpu,
        failed: failed.into_inner(),
    }
}

/// The floor's work for one file: read it and decode its pixels, nothing else.
pub fn decode_only(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    image::load_from_memory(&bytes).is_ok()
}
