//! The process helpers against real child processes (`sleep` and `true`).

use kiln_testkit::child::{self, ChildGuard};
use kiln_testkit::kill::{self, Fate, OnExit};
use std::process::Command;
use std::time::{Duration, Instant};

fn sleeper(seconds: &str) -> std::process::Child {
    Command::new("sleep")
        .arg(seconds)
        .spawn()
        .expect("sleep starts")
}

#[test]
fn a_running_child_is_killed_and_one_that_exited_is_reported() {
    let started = Instant::now();
    assert_eq!(
        kill::kill_after(sleeper("30"), Duration::from_millis(50)),
        Fate::Killed
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the kill was not waited for"
    );
    let quick = Command::new("true").spawn().expect("true starts");
    match kill::kill_after(quick, Duration::from_millis(500)) {
        Fate::Exited(status) => assert!(status.success()),
        Fate::Killed => panic!("`true` outlived half a second"),
    }
}

#[test]
fn kill_rounds_counts_kills_and_stops_at_the_first_child_that_finishes() {
    let delays = kill::millis(&[30, 30, 2000, 30]);
    let mut spawned = Vec::new();
    let kills = kill::kill_rounds(delays.clone(), OnExit::Stop, |round| {
        spawned.push(round);
        if round == 2 {
            Command::new("true").spawn().expect("true starts")
        } else {
            sleeper("30")
        }
    });
    assert_eq!((kills, spawned), (2, vec![0, 1, 2]));

    let kills = kill::kill_rounds(delays, OnExit::Continue, |round| {
        if round == 2 {
            Command::new("true").spawn().expect("true starts")
        } else {
            sleeper("30")
        }
    });
    assert_eq!(kills, 3);
}

#[test]
fn a_guard_kills_the_child_it_holds() {
    let guard = ChildGuard(sleeper("30"));
    let pid = guard.0.id();
    drop(guard);
    let alive = Command::new("kill")
        .args(["-0", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(!alive.success(), "process {pid} still runs");
}

#[test]
fn wait_returns_the_status_and_what_the_child_printed() {
    let echo = Command::new("echo")
        .arg(child::FINISHED)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("echo starts");
    let (status, out) = child::wait(echo);
    assert!(child::finished(&status, &out), "{status:?} {out:?}");
    let silent = Command::new("true").spawn().expect("true starts");
    let (status, out) = child::wait(silent);
    assert!(!child::finished(&status, &out));
}
