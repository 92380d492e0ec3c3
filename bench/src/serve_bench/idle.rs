//! Part 3: what an idle `kiln serve` costs, measured as `docs/PERFORMANCE.md`
//! measures an idle `kiln watch`: user plus system clock ticks from
//! `/proc/PID/stat` over a window that starts 5 s after the process
//! started (and only once its imports are done), with no browser
//! connected. Three processes run side by side: `kiln serve` on an empty
//! store, `kiln serve` watching a copy of the 20 samples, and, as the
//! baseline of the method, `kiln watch` of another copy.

use crate::Args;
use crate::server::{Process, Server};
use kiln_bench::proc::TICKS_PER_SECOND;
use kiln_bench::work::fresh_dir;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The window starts at least this long after the processes started.
const SETTLE: Duration = Duration::from_secs(5);

fn copy_samples(from: &Path, to: PathBuf) -> Result<PathBuf, String> {
    let to = fresh_dir(to)?;
    std::fs::create_dir_all(&to).map_err(|e| format!("cannot create {}: {e}", to.display()))?;
    let entries =
        std::fs::read_dir(from).map_err(|e| format!("cannot list {}: {e}", from.display()))?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(entry.path(), to.join(entry.file_name()))
                .map_err(|e| format!("cannot copy {}: {e}", entry.path().display()))?;
        }
    }
    Ok(to)
}

/// Part 3; see the module documentation. Returns the summary line.
pub(crate) fn run(args: &Args, work: &Path) -> Result<String, String> {
    let samples_for_serve = copy_samples(&args.samples, work.join("idle-samples-serve"))?;
    let samples_for_watch = copy_samples(&args.samples, work.join("idle-samples-watch"))?;
    let log = work.join("serve-idle.log");
    let mut empty = Server::start(
        &args.kiln,
        &fresh_dir(work.join("store-idle-empty"))?,
        &[],
        &log,
    )?;
    let mut samples = Server::start(
        &args.kiln,
        &fresh_dir(work.join("store-idle-samples"))?,
        std::slice::from_ref(&samples_for_serve),
        &log,
    )?;
    let watch = Process::spawn(
        &args.kiln,
        &fresh_dir(work.join("store-idle-watch"))?,
        &["watch".into(), samples_for_watch.into()],
        &log,
    )?;
    empty.wait_listening(Duration::from_secs(60))?;
    samples.wait_listening(Duration::from_secs(60))?;
    // The samples are imported before the window opens.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status = samples.http().get_json("/api/status")?;
        let assets = status["assets"].as_u64().unwrap_or(0);
        if assets > 0 && samples.pending_jobs()? == 0 {
            break;
        }
        if Instant::now() >= deadline {
            return Err("the samples were not imported within 120 s".to_owned());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let opens = (samples.process.started + SETTLE).max(Instant::now() + Duration::from_secs(1));
    std::thread::sleep(opens.saturating_duration_since(Instant::now()));
    let window = Duration::from_secs(args.idle_secs);
    let processes: [(&str, &Process); 3] = [
        ("serve, empty store", &empty.process),
        ("serve, 20 samples watched", &samples.process),
        ("watch, 20 samples (baseline)", &watch),
    ];
    let before: Vec<Option<u64>> = processes.iter().map(|(_, p)| p.cpu_ticks()).collect();
    std::thread::sleep(window);
    let after: Vec<Option<u64>> = processes.iter().map(|(_, p)| p.cpu_ticks()).collect();
    let mut ticks = Vec::new();
    for (((name, _), a), b) in processes.iter().zip(&before).zip(&after) {
        let used = a.zip(*b).map(|(a, b)| b.saturating_sub(a));
        let share = used.map_or(f64::NAN, |t| {
            t as f64 / TICKS_PER_SECOND / window.as_secs_f64() * 100.0
        });
        println!(
            "idle {name}: {} clock ticks in {}s ({share:.3}% of a core; target <= {} ticks)",
            used.map_or("n/a".to_owned(), |t| t.to_string()),
            window.as_secs(),
            (window.as_secs_f64() * TICKS_PER_SECOND * 0.001).floor()
        );
        ticks.push(used.map_or("n/a".to_owned(), |t| t.to_string()));
    }
    empty.stop()?;
    samples.stop()?;
    watch.stop()?;
    Ok(format!(
        "idle_window_s={} serve_empty_ticks={} serve_samples_ticks={} watch_samples_ticks={}",
        window.as_secs(),
        ticks.first().map_or("n/a", String::as_str),
        ticks.get(1).map_or("n/a", String::as_str),
        ticks.get(2).map_or("n/a", String::as_str),
    ))
}
