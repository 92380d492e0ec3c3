//! What `/proc` says of a process: CPU time in clock ticks, resident and
//! peak memory.

/// Clock ticks per second of `/proc`'s CPU times: 100 on every common
/// Linux build.
pub const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system time, in clock ticks, from the text of a `/proc`
/// `stat` file.
pub fn stat_ticks(stat: &str) -> Option<u64> {
    // The command name may hold spaces; fields are counted after its ')'.
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(user + system)
}

/// User plus system time process `pid` has used so far, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    stat_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// A field of `/proc/PID/status` in kB (`VmHWM:`, `VmRSS:`); the calling
/// process's own when `pid` is `None`.
pub fn status_kb(pid: Option<u32>, field: &str) -> Option<u64> {
    let file = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(file).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resident memory of a process, now and at its peak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`, in kB.
    pub rss_kb: u64,
    /// `VmHWM`, the peak of `VmRSS`, in kB.
    pub peak_kb: u64,
    /// `RssAnon`: the part of `VmRSS` that is the process's own memory
    /// (heap, stacks), in kB.
    pub anon_kb: u64,
    /// `RssFile`: the part of `VmRSS` that maps files (the program, mapped
    /// index segments), in kB.
    pub file_kb: u64,
}

impl Memory {
    /// Process `pid`'s memory; `None` when it is gone or there is no `/proc`.
    pub fn of(pid: u32) -> Option<Memory> {
        Some(Memory {
            rss_kb: status_kb(Some(pid), "VmRSS:")?,
            peak_kb: status_kb(Some(pid), "VmHWM:")?,
            anon_kb: status_kb(Some(pid), "RssAnon:")?,
            file_kb: status_kb(Some(pid), "RssFile:")?,
        })
    }
}

/// Megabytes from kB, for printing; NaN when unknown.
pub fn mb(kb: Option<u64>) -> f64 {
    kb.map_or(f64::NAN, |kb| kb as f64 / 1024.0)
}

/// User plus system clock ticks of process `root` and every process below
/// it (its children, theirs, ...), as they stand now, summed by `kind` of
/// each process's command line (`kind` gets its arguments); processes that
/// ended count only through the parent that waited for them.
pub fn tree_ticks_by<K: Ord>(
    root: u32,
    kind: impl Fn(&[String]) -> K,
) -> std::collections::BTreeMap<K, u64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    // (pid, parent, ticks) of every process.
    let mut all: Vec<(u32, u32, u64)> = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let parent = stat
            .rfind(')')
            .and_then(|i| stat.get(i + 1..))
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        all.push((pid, parent, stat_ticks(&stat).unwrap_or(0)));
    }
    let mut inside = vec![root];
    let mut i = 0;
    while let Some(&pid) = inside.get(i) {
        i += 1;
        for &(child, parent, ticks) in &all {
            if child == pid {
                let args: Vec<String> = std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|raw| {
                        raw.split(|b| *b == 0)
                            .map(|a| String::from_utf8_lossy(a).into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                *out.entry(kind(&args)).or_insert(0) += ticks;
            }
            if parent == pid && child != pid {
                inside.push(child);
            }
        }
    }
    out
}

/// User plus system clock ticks of process `root` and every process below
/// it, as they stand now (see [`tree_ticks_by`]).
pub fn tree_ticks(root: u32) -> u64 {
    tree_ticks_by(root, |_| ()).values().sum()
}

/// Clock ticks (user plus system) of the calling process's children that
/// ended and were waited for, so far: a finished child's whole CPU time
/// is the change of this across its wait.
pub fn waited_children_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let user: u64 = fields.get(13)?.parse().ok()?;
    let system: u64 = fields.get(14)?.parse().ok()?;
    Some(user + system)
}
