//! Process-wide memory settings for programs that run kiln's engine.
//!
//! The engine runs many threads that allocate: stage workers, the store's
//! writer, the blob-sync thread, the search index's writer and the async
//! runtime's threads. glibc's allocator hands each thread that finds an
//! arena locked a new arena of its own, up to eight per core, and every
//! arena keeps the memory its threads freed for later use by the same
//! arena. In a long import that retained memory, not the engine's live
//! data, is what grows: measured figures are in `docs/PERFORMANCE.md`.
//!
//! Settings here change the allocator of the whole process, so the engine
//! never applies them itself; a program calls them once at the start of
//! `main`, before it starts threads. The `kiln` command does.

/// What [`one_malloc_arena`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArenaSetting {
    /// The allocator now keeps one arena for all threads.
    OneArena,
    /// `MALLOC_ARENA_MAX` is set in the environment; glibc follows that and
    /// nothing was changed.
    FromEnvironment,
    /// The allocator refused the setting.
    Refused,
    /// The program does not use glibc's allocator; nothing was changed.
    NotGlibc,
}

/// Makes glibc's allocator use one arena for every thread, unless the
/// environment already chose a number with `MALLOC_ARENA_MAX`.
///
/// With one arena, memory a thread frees can serve any other thread, so the
/// process's resident memory follows what the engine holds instead of how
/// many threads ever allocated. The engine's threads allocate seldom
/// compared with the work they do between allocations (decoding, hashing,
/// encoding), so sharing one arena cost no measurable time in an import
/// (docs/PERFORMANCE.md).
pub fn one_malloc_arena() -> ArenaSetting {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return ArenaSetting::FromEnvironment;
    }
    set_arena_max()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_arena_max() -> ArenaSetting {
    // SAFETY: `mallopt` only changes glibc's allocator parameters; it is
    // safe to call at any time, and M_ARENA_MAX = 1 is a valid setting.
    let accepted = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    if accepted == 1 {
        ArenaSetting::OneArena
    } else {
        ArenaSetting::Refused
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max() -> ArenaSetting {
    ArenaSetting::NotGlibc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_is_applied_or_left_to_the_environment() {
        let setting = one_malloc_arena();
        let expected = if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            ArenaSetting::FromEnvironment
        } else if cfg!(all(target_os = "linux", target_env = "gnu")) {
            ArenaSetting::OneArena
        } else {
            ArenaSetting::NotGlibc
        };
        assert_eq!(setting, expected);
    }
}
