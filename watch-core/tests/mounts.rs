//! Mounts along a watched path: a bind mount over a watched file's
//! directory, a tmpfs over a watched tree, and their unmounts are noticed
//! (the watches were on the covered directories), the roots are rescanned
//! and the difference is reported; writes while mounted are reported.
//!
//! Runs in a child in a new mount namespace (`unshare --mount`, private
//! propagation), so no mount is ever seen outside it; skipped, with the
//! reason printed, where that or mounting is not permitted.
#![cfg(target_os = "linux")]

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use test_support::child as rs;
use test_support::child::run_tool as mount;
use test_support::{TempDir, fold, scan};
use watch_core::{Backend, Config, Event, EventKind, Origin, RecursiveMode, Watcher};

const TEST: &str = "mounts_along_watched_paths_are_followed";

fn synced(w: &mut Watcher) -> Vec<Event> {
    test_support::sync_and_drain(w, Duration::from_secs(60))
}

fn modified(events: &[Event], path: &Path) -> bool {
    events
        .iter()
        .any(|e| e.kind == EventKind::Modified && e.path == path)
}

/// One backend's run, in `base`. `Err` only when mounting is refused.
fn run(backend: Backend, base: &Path) -> Result<(), String> {
    let (conf, other, tree) = (base.join("d/conf"), base.join("other"), base.join("t"));
    fs::create_dir_all(&conf).unwrap();
    fs::create_dir_all(&other).unwrap();
    fs::create_dir_all(tree.join("sub")).unwrap();
    let file = conf.join("app.yaml");
    fs::write(&file, "v1").unwrap();
    fs::write(other.join("app.yaml"), "v2").unwrap();
    fs::write(tree.join("sub/old"), "x").unwrap();
    let config = Config::default()
        .backend(backend)
        .poll_interval(Duration::from_secs(3600));
    let mut w = Watcher::with_config(config).unwrap();
    w.watch(&file, RecursiveMode::NonRecursive).unwrap();
    w.watch(&tree, RecursiveMode::Recursive).unwrap();
    let mut view = scan(&tree);
    let mut check_tree = |events: &[Event], what: &str| {
        let inside: Vec<Event> = events
            .iter()
            .filter(|e| e.path.starts_with(&tree))
            .cloned()
            .collect();
        fold(&mut view, &inside);
        view.remove(&tree);
        assert_eq!(view, scan(&tree), "{backend}: {what}: {events:?}");
    };
    let rescan = |events: &[Event], path: &Path| {
        events
            .iter()
            .any(|e| e.kind == EventKind::Modified && e.path == path && e.origin == Origin::Rescan)
    };

    // A bind mount over the watched file's directory: the name means the
    // other file now, and writes to it are reported.
    mount(
        "mount",
        &["--bind".as_ref(), other.as_os_str(), conf.as_os_str()],
    )?;
    let events = if backend == Backend::Inotify {
        // A read that waits forever (no waker made, so it waits in a bare
        // read(2)) still looks at the mount table before it waits.
        let mut events = Vec::new();
        w.read(&mut events, None).unwrap();
        events
    } else {
        synced(&mut w)
    };
    assert!(rescan(&events, &file), "{backend}: bind mount: {events:?}");
    fs::write(&file, "v2 changed").unwrap();
    let events = synced(&mut w);
    assert!(
        modified(&events, &file),
        "{backend}: write while mounted: {events:?}"
    );

    // A tmpfs over the watched tree: its old contents are gone from view,
    // what is written into the tmpfs is reported.
    mount(
        "mount",
        &["-t", "tmpfs", "tmpfs", tree.to_str().unwrap()].map(OsStr::new),
    )?;
    let events = synced(&mut w);
    check_tree(&events, "tmpfs mounted");
    fs::create_dir(tree.join("new")).unwrap();
    fs::write(tree.join("new/f"), "y").unwrap();
    let events = synced(&mut w);
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::Created && e.path == tree.join("new/f")),
        "{backend}: write in the tmpfs: {events:?}"
    );
    check_tree(&events, "written in the tmpfs");

    // Unmounted: the covered tree is back, and so is the first file.
    mount("umount", &[tree.as_os_str()])?;
    let events = synced(&mut w);
    check_tree(&events, "tmpfs unmounted");
    fs::write(tree.join("sub/after"), "z").unwrap();
    let events = synced(&mut w);
    check_tree(&events, "written after the unmount");
    mount("umount", &[conf.as_os_str()])?;
    let events = synced(&mut w);
    assert!(
        rescan(&events, &file),
        "{backend}: bind unmount: {events:?}"
    );
    fs::write(&file, "v1 again").unwrap();
    let events = synced(&mut w);
    assert!(
        modified(&events, &file),
        "{backend}: write after: {events:?}"
    );
    // The other file, no longer under the watched name, is not reported.
    fs::write(other.join("app.yaml"), "stale").unwrap();
    let events = synced(&mut w);
    assert!(!modified(&events, &file), "{backend}: old file: {events:?}");
    Ok(())
}

#[test]
fn mounts_along_watched_paths_are_followed() {
    if rs::in_child(TEST) {
        let base = std::path::PathBuf::from(std::env::var_os(rs::DIR_ENV).expect("dir"));
        for backend in [Backend::Inotify, Backend::Poll] {
            let dir = base.join(format!("{backend}"));
            if let Err(why) = run(backend, &dir) {
                println!("SKIP {TEST}: mounting is not permitted here: {why}");
                break;
            }
        }
        println!("{}", rs::CHILD_OK);
        return;
    }
    let probe = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "true"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            println!(
                "SKIP {TEST}: no new mount namespace here (unshare --mount: {})",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Err(e) => {
            println!("SKIP {TEST}: no new mount namespace here (unshare: {e})");
            return;
        }
    }
    let tmp = TempDir::new("mounts");
    let wrapper = ["unshare", "--mount", "--propagation", "private"].map(OsStr::new);
    let out = rs::rerun(TEST, &wrapper, &[(rs::DIR_ENV, tmp.path().as_os_str())]);
    if let Some(skip) = out.lines().find(|l| l.starts_with("SKIP")) {
        println!("{skip}");
    }
}
