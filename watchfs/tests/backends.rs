//! End to end: `--backend` and `--poll-interval`, and the startup lines that
//! say which root got which backend and why.

mod common;

use std::fs;

use common::{TempDir, Watchfs};

#[test]
fn auto_names_each_roots_backend_and_filesystem() {
    let tmp = TempDir::new("auto");
    let mut w = Watchfs::start(&[tmp.path().as_os_str()]);
    let line = w.wait_stderr("watching ");
    let fs = watch_core::filesystem_of(tmp.path()).unwrap();
    let expected_backend = if fs.misses_remote_changes() {
        "poll"
    } else {
        "inotify"
    };
    assert_eq!(
        line,
        format!(
            "watchfs: watching {} with {expected_backend} ({fs}{})",
            tmp.path().display(),
            if fs.misses_remote_changes() {
                ": changes made elsewhere bypass the local kernel's notifications"
            } else {
                ""
            }
        )
    );
}

#[test]
fn a_poll_backed_root_reports_changes() {
    let tmp = TempDir::new("poll");
    let mut w = Watchfs::start(&[
        "--backend",
        "poll",
        "--poll-interval",
        "50ms",
        "--format",
        "{kind} {name} {origin}",
        tmp.path().to_str().unwrap(),
    ]);
    let line = w.wait_stderr("watching ");
    assert!(line.ends_with("with poll (as requested)"), "{line}");
    fs::write(tmp.join("polled.txt"), "x").unwrap();
    let line = w.wait_stdout("for polled.txt", |l| l.contains("polled.txt"));
    assert_eq!(line, "created polled.txt rescan");
    fs::remove_file(tmp.join("polled.txt")).unwrap();
    let line = w.wait_stdout("for the removal", |l| l.starts_with("removed"));
    assert_eq!(line, "removed polled.txt rescan");
}

#[test]
fn bad_backend_flags_are_usage_errors() {
    for args in [
        &["--backend", "fsevents", "."][..],
        &["--poll-interval", "often", "."],
        &["--poll-interval", "0", "."],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_watchfs"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(args[0]), "{args:?}: {err}");
    }
}
