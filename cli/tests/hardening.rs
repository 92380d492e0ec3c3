//! Hostile and unlucky conditions, driven through the real binary: files
//! that turn into something else, and what kiln says about them.

mod common;

use common::{json, kiln, run};
use kiln_testkit::child::ChildGuard;
use kiln_testkit::corpus::{GeneratedKind, generated};
use kiln_testkit::fixtures::copy_dir;
use std::time::{Duration, Instant};

/// A FIFO where a queued file was: `kiln run` does not wait on it; the file
/// is a dead letter that says what it found, and the other files complete.
#[cfg(unix)]
#[test]
fn a_fifo_where_a_queued_file_was_is_a_dead_letter_not_a_hang() {
    let input = tempfile::tempdir().expect("temp dir");
    generated(input.path(), 3, GeneratedKind::Small { side: 256 }).expect("corpus builds");
    let store = tempfile::tempdir().expect("temp dir");
    let queued = run(kiln(store.path())
        .args(["import", "-q", "--detach"])
        .arg(input.path()));
    assert_eq!(queued.status.code(), Some(0), "{queued:?}");

    let victim = std::fs::read_dir(input.path())
        .expect("list")
        .map(|e| e.expect("entry").path())
        .min()
        .expect("a sample");
    std::fs::remove_file(&victim).expect("remove");
    let made = std::process::Command::new("mkfifo")
        .arg(&victim)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());

    let child = kiln(store.path())
        .args(["run", "-q"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kiln starts");
    let mut child = ChildGuard(child);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("state") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "kiln run is stuck on the FIFO"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(3), "some file is a dead letter");

    let dead = json(store.path(), &["dead", "list"]);
    let letters = dead["dead"].as_array().expect("dead letters");
    assert_eq!(letters.len(), 1, "{dead}");
    let letter = &letters[0];
    assert_eq!(letter["path"], victim.to_string_lossy().as_ref(), "{dead}");
    assert_eq!(letter["attempts"], 1, "not retried: {dead}");
    let error = letter["error"].as_str().expect("error");
    assert!(error.contains("FIFO"), "{error}");
    let status = json(store.path(), &["status"]);
    assert_eq!(status["jobs"]["dead"], 1, "{status}");
    assert_eq!(status["jobs"]["ready"], 0, "{status}");
}

/// A character a terminal acts on: what no line kiln prints may hold.
fn acts_on_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Runs `args` and returns stdout and stderr, failing the test when any
/// line holds a raw control character.
fn printed(store: &std::path::Path, args: &[&std::ffi::OsStr]) -> String {
    let out = run(kiln(store).args(args));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for line in text.lines() {
        assert!(
            !line.chars().any(acts_on_terminal),
            "`kiln {args:?}` printed a raw control character: {line:?}"
        );
    }
    text
}

/// File names and metadata with escape sequences, bells, carriage returns,
/// line feeds and a bidirectional override go through every command that
/// prints them; each prints them escaped, never raw, and still prints them.
#[cfg(unix)]
#[test]
fn hostile_names_and_prompts_are_printed_escaped_by_every_command() {
    use kiln_testkit::paint;
    use std::ffi::OsStr;

    let input = tempfile::tempdir().expect("temp dir");
    let name = "evil\u{1b}]0;pwned\u{7}\r\nforged\u{202e}gnp.png";
    let prompt = "a lighthouse \u{1b}[2J\u{1b}]52;c;ZXZpbA==\u{7} at dusk";
    let parameters = format!(
        "{prompt}\nNegative prompt: blurry\u{1b}[8m\nSteps: 20, Sampler: Euler\u{7}, CFG scale: 7, Seed: 42, Size: 256x256, Model: m\u{1b}[31mred"
    );
    let image = input.path().join(name);
    paint::write_png(&image, &paint::gradient(256, 256), Some(&parameters));
    let broken = input.path().join("broken\u{1b}[5m\r.png");
    std::fs::write(&broken, b"\x89PNG\r\n\x1a\n not really").expect("write");
    let store = tempfile::tempdir().expect("temp dir");
    let s = store.path();

    let imported = printed(
        s,
        &[
            OsStr::new("import"),
            OsStr::new("-v"),
            input.path().as_os_str(),
        ],
    );
    assert!(imported.contains("broken\\x1b[5m\\r.png"), "{imported}");

    let assets = printed(s, &[OsStr::new("assets")]);
    assert!(
        assets.contains("evil\\x1b]0;pwned\\x07\\r\\nforged\\u{202e}gnp.png"),
        "{assets}"
    );
    let id = assets
        .lines()
        .find(|l| l.contains("evil"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the asset's id")
        .to_owned();

    for what in [OsStr::new(&id), image.as_os_str()] {
        let shown = printed(s, &[OsStr::new("show"), what]);
        assert!(
            shown.contains("\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07"),
            "{shown}"
        );
        assert!(shown.contains("m\\x1b[31mred"), "{shown}");
        assert!(shown.contains("Euler\\x07"), "{shown}");
    }
    let missing = printed(s, &[OsStr::new("show"), OsStr::new("nothing\u{1b}[31m\r")]);
    assert!(missing.contains("nothing\\x1b[31m\\r"), "{missing}");

    let found = printed(s, &[OsStr::new("search"), OsStr::new("lighthouse")]);
    assert!(found.contains("evil\\x1b]0;pwned"), "{found}");
    let bad_query = printed(s, &[OsStr::new("search"), OsStr::new("steps:>>\u{1b}[31m")]);
    assert!(!bad_query.is_empty());
    printed(s, &[OsStr::new("similar"), OsStr::new(&id)]);
    printed(s, &[OsStr::new("sessions")]);
    printed(s, &[OsStr::new("status")]);
    printed(s, &[OsStr::new("stages")]);
    let dead = printed(s, &[OsStr::new("dead"), OsStr::new("list")]);
    assert!(dead.contains("broken\\x1b[5m\\r.png"), "{dead}");
    let not_there = input.path().join("gone\u{7}\u{1b}[1A.png");
    let refused = printed(s, &[OsStr::new("import"), not_there.as_os_str()]);
    assert!(refused.contains("gone\\x07\\x1b[1A.png"), "{refused}");
}

/// A `kiln` command that cannot read what its user may not read: as root
/// (which reads every folder) it runs as `nobody`, from a copy of the binary
/// any user may run, and `dirs` are opened to every user.
#[cfg(unix)]
fn unprivileged_kiln(store: &std::path::Path, dirs: &[&std::path::Path]) -> std::process::Command {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return kiln(store);
    }
    let open = |dir: &std::path::Path| {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).expect("chmod")
    };
    dirs.iter().for_each(|d| open(d));
    let bin_dir = store.with_extension("bin");
    std::fs::create_dir_all(&bin_dir).expect("bin dir");
    std::fs::set_permissions(&bin_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let binary = bin_dir.join("kiln");
    // Copied by a child process: a writable descriptor of the copy held by
    // this process would be inherited by children other tests fork meanwhile,
    // and running the copy would then fail with "text file busy".
    let copied = std::process::Command::new("cp")
        .arg(env!("CARGO_BIN_EXE_kiln"))
        .arg(&binary)
        .status()
        .expect("cp runs");
    assert!(copied.success(), "copy the binary");
    let mut cmd = std::process::Command::new(binary);
    cmd.arg("--store")
        .arg(store)
        .env_remove("KILN_STORE")
        .uid(65534)
        .gid(65534);
    cmd
}

/// A folder inside an imported folder that cannot be read: the import
/// says which and why, exits 3, and `status` keeps saying it; the files
/// that could be read are imported.
#[cfg(unix)]
#[test]
fn an_unreadable_sub_folder_is_reported_with_its_reason() {
    use std::os::unix::fs::PermissionsExt;
    let work = tempfile::tempdir().expect("temp dir");
    let input = work.path().join("in");
    let locked = input.join("locked");
    std::fs::create_dir_all(&locked).expect("dirs");
    generated(&input, 2, GeneratedKind::Small { side: 200 }).expect("corpus builds");
    generated(&locked, 1, GeneratedKind::Small { side: 200 }).expect("corpus builds");
    let store = work.path().join("store");
    std::fs::create_dir_all(&store).expect("store dir");
    let mut cmd = unprivileged_kiln(&store, &[work.path(), &input, &store]);
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).expect("chmod");

    let out = run(cmd.args(["import", "-q"]).arg(&input));
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let named = format!("{}: Permission denied", locked.display());
    assert!(
        stderr.contains("1 folder(s) could not be read") && stderr.contains(&named),
        "{stderr}"
    );

    let status = json(&store, &["status"]);
    let folders = &status["imports"][0]["unreadable_folders"];
    assert_eq!(
        folders[0]["path"],
        locked.to_string_lossy().as_ref(),
        "{status}"
    );
    assert!(
        folders[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("Permission denied")),
        "{status}"
    );
    assert_eq!(status["assets"], 2, "the readable files are in: {status}");
    let text = run(kiln(&store).arg("status"));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("cannot read folder {named}")),
        "{text}"
    );
}

/// A store whose database file had 4 KiB overwritten at several places:
/// no command ends in a crash or an internal error; damage that is found is
/// reported as damage to the named file.
#[test]
fn a_damaged_database_is_reported_as_damage_never_a_crash() {
    let work = tempfile::tempdir().expect("temp dir");
    let input = work.path().join("in");
    generated(&input, 40, GeneratedKind::Small { side: 160 }).expect("corpus builds");
    let pristine = work.path().join("pristine");
    let imported = run(kiln(&pristine).args(["import", "-q"]).arg(&input));
    assert_eq!(imported.status.code(), Some(0), "{imported:?}");
    let database = pristine.join("kiln.redb");
    let size = std::fs::metadata(&database).expect("database").len();

    let mut found = 0;
    for percent in [5u64, 10, 20, 30, 40, 60, 80] {
        let store = work.path().join(format!("damaged-{percent}"));
        copy_dir(&pristine, &store);
        let file = store.join("kiln.redb");
        let at = size * percent / 100 / 4096 * 4096;
        overwrite(&file, at, 4096);
        for args in [
            &["status"][..],
            &["assets"],
            &["show", "1"],
            &["dead", "list"],
            &["search", "png"],
            &["run", "-q"],
        ] {
            let out = run(kiln(&store).args(args));
            let stderr = String::from_utf8_lossy(&out.stderr);
            let code = out.status.code();
            assert!(
                matches!(code, Some(0 | 1 | 3)),
                "{args:?} at {percent}%: exit {code:?}: {stderr}"
            );
            assert!(
                !stderr.contains("kiln: internal error") && !stderr.contains("panicked"),
                "{args:?} at {percent}%: {stderr}"
            );
            if stderr.contains("is damaged") {
                found += 1;
                assert!(
                    stderr.contains(&*file.to_string_lossy()),
                    "the damaged file is named: {stderr}"
                );
            }
        }
    }
    assert!(found > 0, "no overwrite hit a page in use");
}

/// Overwrites `len` bytes at `at` with a fixed pattern that is no valid page.
fn overwrite(file: &std::path::Path, at: u64, len: usize) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .expect("open");
    f.seek(SeekFrom::Start(at)).expect("seek");
    let garbage: Vec<u8> = (0..len).map(|i| (i * 7 + 13) as u8).collect();
    f.write_all(&garbage).expect("write");
}

/// The search index is derived data: garbage in its files, or an index
/// left from a database that was emptied, is rebuilt from the store (and
/// said so), never served; damaged segments give an error that names the
/// cure, and `kiln reindex` is the cure.
#[test]
fn a_damaged_or_foreign_search_index_is_rebuilt_never_served() {
    let work = tempfile::tempdir().expect("temp dir");
    let pristine = work.path().join("pristine");
    let imported = run(kiln(&pristine)
        .args(["import", "-q"])
        .arg(common::samples_dir()));
    assert!(
        matches!(imported.status.code(), Some(0 | 3)),
        "{imported:?}"
    );
    let hits = |store: &std::path::Path| {
        let found = json(store, &["search", "lighthouse"]);
        found["total"].as_u64().expect("total")
    };
    let expected = hits(&pristine);
    assert!(expected > 0);

    // Garbage where the index's meta.json was.
    let garbage = work.path().join("garbage");
    copy_dir(&pristine, &garbage);
    std::fs::write(garbage.join("search/meta.json"), "{{ not json").expect("write");
    let out = run(kiln(&garbage).args(["search", "lighthouse"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("rebuilt from the store"), "{stderr}");
    assert_eq!(hits(&garbage), expected);

    // The database emptied: the store starts anew, and the old index's ids
    // (which would name the new store's assets) are not served.
    let emptied = work.path().join("emptied");
    copy_dir(&pristine, &emptied);
    std::fs::write(emptied.join("kiln.redb"), b"").expect("truncate");
    let out = run(kiln(&emptied).args(["search", "lighthouse"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another database"), "{stderr}");
    assert_eq!(hits(&emptied), 0);

    // A damaged stored-fields file: an error naming the cure, then the cure.
    let damaged = work.path().join("damaged");
    copy_dir(&pristine, &damaged);
    for entry in std::fs::read_dir(damaged.join("search")).expect("list") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "store") {
            let size = std::fs::metadata(&path).expect("size").len();
            overwrite(&path, size / 2, 16);
        }
    }
    let out = run(kiln(&damaged).args(["search", "lighthouse"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");
    if out.status.code() == Some(1) {
        assert!(stderr.contains("kiln reindex"), "{stderr}");
    }
    let reindexed = run(kiln(&damaged).arg("reindex"));
    assert_eq!(reindexed.status.code(), Some(0), "{reindexed:?}");
    assert_eq!(hits(&damaged), expected);
}

/// `kiln check` says a sound store is sound; with blobs deleted or altered
/// it names each and exits 1; `kiln repair` makes them again by re-running
/// the stage that made them, after which the store checks sound. A damaged
/// database is reported by both, with how to recover.
#[test]
fn check_finds_missing_and_damaged_blobs_and_repair_makes_them_again() {
    let work = tempfile::tempdir().expect("temp dir");
    let input = work.path().join("in");
    generated(&input, 12, GeneratedKind::Small { side: 300 }).expect("corpus builds");
    let store = work.path().join("store");
    let imported = run(kiln(&store).args(["import", "-q"]).arg(&input));
    assert_eq!(imported.status.code(), Some(0), "{imported:?}");

    let sound = run(kiln(&store).args(["check", "--deep"]));
    let text = String::from_utf8_lossy(&sound.stdout);
    assert_eq!(sound.status.code(), Some(0), "{text}");
    assert!(text.contains("the store is sound"), "{text}");

    let mut blobs: Vec<std::path::PathBuf> = Vec::new();
    for dir in std::fs::read_dir(store.join("blobs")).expect("blobs") {
        for file in std::fs::read_dir(dir.expect("dir").path()).expect("dir") {
            blobs.push(file.expect("file").path());
        }
    }
    blobs.sort();
    assert!(blobs.len() >= 3, "{blobs:?}");
    std::fs::remove_file(&blobs[0]).expect("remove");
    std::fs::remove_file(&blobs[1]).expect("remove");
    std::fs::write(&blobs[2], b"not what its name says").expect("alter");

    let out = run(kiln(&store).args(["check", "--deep", "--json"]));
    assert_eq!(out.status.code(), Some(1));
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(found["sound"], false, "{found}");
    let paths = |key: &str| -> Vec<String> {
        found["blobs"][key]
            .as_array()
            .expect("list")
            .iter()
            .map(|p| p["path"].as_str().expect("path").to_owned())
            .collect()
    };
    // Blobs are shared by content: one file may be named by several records.
    let missing: std::collections::BTreeSet<String> = paths("missing").into_iter().collect();
    assert_eq!(missing.len(), 2, "{found}");
    assert!(
        missing.contains(&blobs[0].to_string_lossy().into_owned()),
        "{found}"
    );
    assert_eq!(
        paths("corrupt"),
        [blobs[2].to_string_lossy().into_owned()],
        "{found}"
    );
    let shallow = run(kiln(&store).args(["check", "--json"]));
    let shallow: serde_json::Value = serde_json::from_slice(&shallow.stdout).expect("json");
    assert!(
        shallow["blobs"]["corrupt"]
            .as_array()
            .expect("list")
            .is_empty(),
        "only a deep check hashes blobs: {shallow}"
    );

    // A thumbnail gone: `show` says so instead of printing a dead path.
    let shown = json(&store, &["show", "1"]);
    let thumbnail = std::path::PathBuf::from(shown["thumbnail"].as_str().expect("thumbnail"));
    if thumbnail.is_file() {
        std::fs::remove_file(&thumbnail).expect("remove");
    }
    let shown = run(kiln(&store).args(["show", "1"]));
    let shown_text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown_text.contains("(missing: `kiln repair` makes it again)"),
        "{shown_text}"
    );

    let repaired = run(kiln(&store).args(["repair", "-q"]));
    assert_eq!(
        repaired.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&repaired.stderr)
    );
    let after = run(kiln(&store).args(["check", "--deep"]));
    let text = String::from_utf8_lossy(&after.stdout);
    assert_eq!(after.status.code(), Some(0), "{text}");
    for blob in blobs[..3].iter().chain([&thumbnail]) {
        assert!(blob.is_file(), "{} made again", blob.display());
    }

    // A database damaged where the store's tables live.
    let damaged = work.path().join("damaged");
    copy_dir(&store, &damaged);
    let file = damaged.join("kiln.redb");
    let size = std::fs::metadata(&file).expect("size").len();
    let mut hit = false;
    for percent in [10u64, 20, 30, 5, 40] {
        copy_dir(&store, &damaged);
        overwrite(&file, size * percent / 100 / 4096 * 4096, 4096);
        let out = run(kiln(&damaged).arg("check"));
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("DAMAGED") {
            assert_eq!(out.status.code(), Some(1), "{text}");
            assert!(text.contains(&*file.to_string_lossy()), "{text}");
            let repair = run(kiln(&damaged).arg("repair"));
            let said = String::from_utf8_lossy(&repair.stderr);
            assert_eq!(repair.status.code(), Some(1), "{said}");
            assert!(
                said.contains("cannot be repaired in place") && said.contains("import the folders"),
                "{said}"
            );
            hit = true;
            break;
        }
    }
    assert!(hit, "no overwrite damaged a page in use");
}

/// Mounts a tmpfs of `size` at `dir` (as root); `false`, said loudly, when
/// this machine does not allow it.
#[cfg(target_os = "linux")]
fn mount_tmpfs(dir: &std::path::Path, size: &str) -> bool {
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .output();
    match mounted {
        Ok(out) if out.status.success() => true,
        other => {
            eprintln!("SKIPPED: the disk-full test needs to mount a tmpfs (root): {other:?}");
            false
        }
    }
}

/// Unmounts `dir` when dropped, so a failing test leaves no mount behind.
#[cfg(target_os = "linux")]
struct Mounted(std::path::PathBuf);

#[cfg(target_os = "linux")]
impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A store on a disk that fills part way through an import: the import
/// stops saying which disk is full, no file is dead-lettered or charged for
/// it, and once there is space `kiln run` finishes every file.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_stops_the_import_charges_no_file_and_run_resumes() {
    let work = tempfile::tempdir().expect("temp dir");
    let input = work.path().join("in");
    // Noise: its proxies and thumbnails do not compress, so the blobs of a
    // few dozen files fill a few megabytes.
    std::fs::create_dir_all(&input).expect("dir");
    for i in 0..30 {
        let image = kiln_testkit::paint::noise(600 + i, 600);
        kiln_testkit::paint::write_png(&input.join(format!("noise-{i:02}.png")), &image, None);
    }
    let disk = work.path().join("disk");
    std::fs::create_dir_all(&disk).expect("dir");
    if !mount_tmpfs(&disk, "3m") {
        return;
    }
    let _mounted = Mounted(disk.clone());
    let store = disk.join("store");

    let out = run(kiln(&store).args(["import", "-q"]).arg(&input));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no space left on device on"), "{stderr}");
    assert!(
        stderr.contains(&*store.to_string_lossy()),
        "names where: {stderr}"
    );
    assert!(stderr.contains("kiln run"), "says how to go on: {stderr}");

    let grown = std::process::Command::new("mount")
        .args(["-o", "remount,size=256m"])
        .arg(&disk)
        .status()
        .expect("mount runs");
    assert!(grown.success());
    let status = json(&store, &["status"]);
    assert_eq!(status["jobs"]["dead"], 0, "nothing dead-lettered: {status}");
    assert!(
        status["jobs"]["ready"].as_u64().unwrap_or(0) > 0,
        "work was left: {status}"
    );
    let resumed = run(kiln(&store).args(["run", "-q"]));
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let status = json(&store, &["status"]);
    assert_eq!(status["assets"], 30, "{status}");
    assert_eq!(status["jobs"]["dead"], 0, "{status}");
    assert_eq!(status["jobs"]["retrying"], 0, "{status}");
    let dead = json(&store, &["dead", "list"]);
    assert_eq!(dead["total"], 0, "{dead}");
}

/// A file that is no loadable library given as a plugin: the error keeps
/// the loader's own reason, and no store is created for a command that
/// did nothing.
#[test]
fn a_plugin_that_cannot_load_says_why_and_creates_no_store() {
    let work = tempfile::tempdir().expect("temp dir");
    let fake = work.path().join("fake-plugin.so");
    std::fs::write(&fake, b"not a library").expect("write");
    let store = work.path().join("store");
    let out = run(kiln(&store).arg("--plugin").arg(&fake).arg("status"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&*fake.to_string_lossy()), "{stderr}");
    assert!(
        !stderr.contains("dlopen failed") && stderr.contains("too short"),
        "the loader's reason is kept: {stderr}"
    );
    assert!(
        !store.exists(),
        "nothing was created at {}",
        store.display()
    );
}

/// An image whose decoding needs more memory than the whole budget is a
/// dead letter that says so, at once; the images that fit are imported.
#[test]
fn an_image_larger_than_the_memory_budget_is_a_dead_letter_that_says_so() {
    use kiln_testkit::paint;
    let work = tempfile::tempdir().expect("temp dir");
    let input = work.path().join("in");
    std::fs::create_dir_all(&input).expect("dir");
    let jpeg = |side: u32| {
        paint::encode(
            &image::DynamicImage::ImageRgb8(paint::gradient(side, side)),
            image::ImageFormat::Jpeg,
        )
    };
    // 2000² RGB needs about 27 MiB (its pixels and an 8-bit RGBA copy).
    std::fs::write(input.join("big.jpg"), jpeg(2000)).expect("write");
    std::fs::write(input.join("small.jpg"), jpeg(300)).expect("write");
    let store = work.path().join("store");
    let out = run(kiln(&store)
        .args(["--memory", "16MiB", "import", "-q"])
        .arg(&input));
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dead = json(&store, &["dead", "list"]);
    let letters = dead["dead"].as_array().expect("letters");
    assert_eq!(letters.len(), 1, "{dead}");
    assert!(
        letters[0]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("big.jpg")),
        "{dead}"
    );
    assert_eq!(letters[0]["attempts"], 1, "not retried: {dead}");
    let error = letters[0]["error"].as_str().expect("error");
    assert!(
        error.contains("2000x2000")
            && error.contains("memory budget of 16 MiB")
            && error.contains("--memory"),
        "{error}"
    );
    let status = json(&store, &["status"]);
    assert_eq!(
        status["tiers"]["1"]["done"], 3,
        "small.jpg's tier 1 and big.jpg's hash: {status}"
    );
}
