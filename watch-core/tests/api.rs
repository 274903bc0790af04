//! The public API's promises: errors, timeouts, the readiness descriptor,
//! unwatch, and that sync cookies are never reported.

mod common;

use std::fs;
use std::time::Duration;

use common::backends;
use test_support::TempDir;
use test_support::{drain, sync_and_drain};
use watch_core::{Backend, Config, Error, Event, EventKind, RecursiveMode, Watcher};

const LONG: Duration = Duration::from_secs(60);

fn watcher(backend: Backend) -> Watcher {
    let config = Config::default()
        .backend(backend)
        .poll_interval(Duration::from_millis(20));
    Watcher::with_config(config).expect("watcher")
}

#[test]
fn an_unavailable_backend_is_a_typed_error() {
    let missing = [Backend::Inotify, Backend::Kqueue, Backend::Poll]
        .into_iter()
        .find(|b| !b.is_available());
    let Some(backend) = missing else { return }; // every backend available here
    match Watcher::with_config(Config::default().backend(backend)) {
        Err(Error::Unsupported { backend: b, .. }) => {
            assert_eq!(b, backend);
            let err = Watcher::with_config(Config::default().backend(backend)).unwrap_err();
            assert!(err.to_string().contains(&backend.to_string()), "{err}");
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn new_uses_the_platform_default() {
    let w = Watcher::new().expect("default watcher");
    assert_eq!(w.backend(), Backend::platform_default());
}

#[test]
fn bad_paths_and_unknown_unwatch_are_typed_errors() {
    for backend in backends() {
        let mut w = watcher(backend);
        assert!(matches!(
            w.watch("", RecursiveMode::Recursive),
            Err(Error::InvalidPath { .. })
        ));
        let err = w.unwatch("/no/such/watch").unwrap_err();
        assert!(
            matches!(&err, Error::NotWatched { path } if path.as_os_str() == "/no/such/watch"),
            "{err:?}"
        );
    }
}

#[test]
fn zero_and_short_timeouts_return_zero_when_nothing_changed() {
    for backend in backends() {
        let tmp = TempDir::new("api-timeout");
        let mut w = watcher(backend);
        w.watch(tmp.path(), RecursiveMode::Recursive).unwrap();
        w.sync(LONG).unwrap();
        let mut events = Vec::new();
        assert_eq!(
            w.read(&mut events, Some(Duration::ZERO)).unwrap(),
            0,
            "{backend}"
        );
        assert_eq!(
            w.read(&mut events, Some(Duration::from_millis(30)))
                .unwrap(),
            0,
            "{backend}"
        );
        assert!(events.is_empty());
    }
}

#[test]
fn a_blocking_read_returns_a_change_made_by_another_thread() {
    for backend in backends() {
        let tmp = TempDir::new("api-block");
        let mut w = watcher(backend);
        w.watch(tmp.path(), RecursiveMode::Recursive).unwrap();
        let file = tmp.path().join("from-thread");
        let writer = {
            let file = file.clone();
            std::thread::spawn(move || fs::write(file, b"x").unwrap())
        };
        let mut events = Vec::new();
        while !events
            .iter()
            .any(|e: &Event| e.path == file && e.kind == EventKind::Created)
        {
            let n = w.read(&mut events, None).unwrap();
            assert!(n > 0, "a blocking read returned no event ({backend})");
        }
        writer.join().unwrap();
        // The caller's earlier contents are kept; events are appended.
        let mut keep = vec![events[0].clone()];
        fs::write(tmp.path().join("second"), b"y").unwrap();
        w.sync(LONG).unwrap();
        let n = w.read(&mut keep, Some(Duration::ZERO)).unwrap();
        assert_eq!(keep.len(), 1 + n);
    }
}

/// Whether `fd` polls readable right now, via the inotify crate's poll(2)
/// wrapper on a duplicate of the descriptor (any descriptor polls alike).
#[cfg(linux_kernel)]
fn readable(w: &Watcher, timeout: Duration) -> bool {
    use std::os::fd::AsFd;
    let dup = w.as_fd().try_clone_to_owned().unwrap();
    inotify::Inotify::from(dup).wait(Some(timeout)).unwrap()
}

#[test]
#[cfg(linux_kernel)]
fn the_descriptor_is_readable_exactly_while_events_are_pending() {
    // On Linux, kqueue is libkqueue, whose descriptor never polls readable.
    for backend in backends().into_iter().filter(|b| *b != Backend::Kqueue) {
        let tmp = TempDir::new("api-fd");
        let mut w = watcher(backend);
        w.watch(tmp.path(), RecursiveMode::Recursive).unwrap();
        w.sync(LONG).unwrap();
        assert!(drain(&mut w).is_empty());
        assert!(
            !readable(&w, Duration::ZERO),
            "{backend}: readable with nothing pending"
        );
        fs::write(tmp.path().join("f"), b"x").unwrap();
        if backend == Backend::Poll {
            // Polling finds changes only when asked; sync queues them.
            w.sync(LONG).unwrap();
        }
        assert!(
            readable(&w, LONG),
            "{backend}: not readable with an event pending"
        );
        let events = drain(&mut w);
        assert!(
            events.iter().any(|e| e.kind == EventKind::Created),
            "{backend}: {events:?}"
        );
        assert!(
            !readable(&w, Duration::ZERO),
            "{backend}: still readable after draining"
        );
    }
}

#[test]
fn unwatch_releases_watches_and_stops_events() {
    for backend in backends() {
        let tmp = TempDir::new("api-unwatch");
        for d in ["a", "a/b", "c"] {
            fs::create_dir(tmp.path().join(d)).unwrap();
        }
        let mut w = watcher(backend);
        w.watch(tmp.path(), RecursiveMode::Recursive).unwrap();
        if backend == Backend::Inotify {
            // One watch per directory (4) plus the parent followed for the name.
            assert_eq!(w.watch_count(), 5);
        }
        let other = TempDir::new("api-unwatch-other");
        w.watch(other.path(), RecursiveMode::NonRecursive).unwrap();
        w.unwatch(tmp.path()).unwrap();
        fs::write(tmp.path().join("a/b/late"), b"x").unwrap();
        fs::write(other.path().join("kept"), b"x").unwrap();
        w.sync(LONG).unwrap();
        let events = drain(&mut w);
        assert!(
            !events.iter().any(|e| e.path.starts_with(tmp.path())),
            "{backend}: {events:?}"
        );
        assert!(
            events.iter().any(|e| e.path == other.path().join("kept")),
            "{backend}: {events:?}"
        );
        w.unwatch(other.path()).unwrap();
        assert_eq!(w.watch_count(), 0, "{backend}");
        assert!(matches!(
            w.unwatch(other.path()),
            Err(Error::NotWatched { .. })
        ));
    }
}

#[test]
fn a_root_added_where_one_was_removed_knows_only_its_own_path() {
    // Each root below is added after the one before was removed, so it
    // is made in what that one left: nothing of the earlier root's tree,
    // snapshot or links may show through.
    for backend in backends() {
        let tmp = TempDir::new("api-rewatch");
        for d in ["tree", "tree/a", "tree/a/b", "flat"] {
            fs::create_dir(tmp.path().join(d)).unwrap();
        }
        fs::write(tmp.path().join("flat/old"), b"x").unwrap();
        let (tree, flat, file) = (
            tmp.path().join("tree"),
            tmp.path().join("flat"),
            tmp.path().join("file"),
        );
        fs::write(&file, b"x").unwrap();
        let mut w = watcher(backend);
        // Whether `events` report `path` (as `kind`, if given).
        let reported = |events: &[Event], path: &std::path::Path, kind: Option<EventKind>| {
            events
                .iter()
                .any(|e| e.path == path && kind.as_ref().is_none_or(|k| e.kind == *k))
        };
        // Everything the watcher has after a sync, every event under `root`.
        let settled_under = |w: &mut Watcher, root: &std::path::Path| {
            let events = sync_and_drain(w, LONG);
            assert!(
                events.iter().all(|e| e.path.starts_with(root)),
                "{backend}: {events:?}"
            );
            events
        };
        w.watch(&tree, RecursiveMode::Recursive).unwrap();
        w.unwatch(&tree).unwrap();
        w.watch(&flat, RecursiveMode::NonRecursive).unwrap();
        fs::write(tree.join("a/b/late"), b"x").unwrap();
        fs::write(flat.join("new"), b"x").unwrap();
        fs::remove_file(flat.join("old")).unwrap();
        let events = settled_under(&mut w, &flat);
        for (name, kind) in [("new", EventKind::Created), ("old", EventKind::Removed)] {
            let path = flat.join(name);
            assert!(
                reported(&events, &path, Some(kind)),
                "{backend}: {name}: {events:?}"
            );
        }
        w.unwatch(&flat).unwrap();
        w.watch(&file, RecursiveMode::NonRecursive).unwrap();
        fs::write(flat.join("newer"), b"x").unwrap();
        fs::write(&file, b"xy").unwrap();
        let events = settled_under(&mut w, &file);
        assert!(
            reported(&events, &file, Some(EventKind::Modified)),
            "{backend}: {events:?}"
        );
        w.unwatch(&file).unwrap();
        w.watch(&tree, RecursiveMode::Recursive).unwrap();
        fs::write(tree.join("a/b/later"), b"x").unwrap();
        fs::write(&file, b"xyz").unwrap();
        let events = settled_under(&mut w, &tree);
        let later = tree.join("a/b/later");
        assert!(reported(&events, &later, None), "{backend}: {events:?}");
        w.unwatch(&tree).unwrap();
        assert_eq!(w.watch_count(), 0, "{backend}");
    }
}

#[test]
fn sync_cookies_are_never_reported() {
    for backend in backends() {
        let tmp = TempDir::new("api-sync");
        let file = tmp.path().join("file");
        fs::write(&file, b"x").unwrap();
        let mut w = watcher(backend);
        w.watch(tmp.path(), RecursiveMode::Recursive).unwrap();
        w.watch(&file, RecursiveMode::NonRecursive).unwrap();
        let mut events = Vec::new();
        for i in 0..20 {
            fs::write(tmp.path().join(format!("n{i}")), b"x").unwrap();
            w.sync(LONG).unwrap();
            while w.read(&mut events, Some(Duration::ZERO)).unwrap() > 0 {}
        }
        assert_eq!(
            events
                .iter()
                .filter(|e| e.kind == EventKind::Created)
                .count(),
            20,
            "{backend}: {events:?}"
        );
        assert!(
            !events.iter().any(|e| e
                .path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("cookie"))),
            "{backend}: a cookie was reported: {events:?}"
        );
        assert_eq!(
            fs::read_dir(tmp.path()).unwrap().count(),
            21,
            "{backend}: a cookie file was left behind"
        );
    }
}

/// Everything `w` reports up to a sync.
fn synced_events(w: &mut Watcher) -> Vec<Event> {
    sync_and_drain(w, LONG)
}

#[test]
fn each_file_of_a_burst_is_created_modified_and_closed_in_order() {
    use std::io::Write;
    let tmp = TempDir::new("api-burst");
    for notices in [false, true] {
        let dir = tmp.path().join(format!("d{notices}"));
        fs::create_dir(&dir).unwrap();
        let config = Config::default()
            .backend(Backend::Inotify)
            .close_notices(notices);
        let Ok(mut w) = Watcher::with_config(config) else {
            return; // no inotify here
        };
        w.watch(&dir, RecursiveMode::NonRecursive).unwrap();
        // Each file closed right after its creation, but for `f1`, still
        // open while `f2` is created and closed after it, then written
        // and closed again.
        let mut writer = None;
        for i in 0..5 {
            let mut f = fs::File::create(dir.join(format!("f{i}"))).unwrap();
            if i == 1 {
                writer = Some(f);
            } else if i == 2 {
                f.write_all(b"x").unwrap();
                drop(f);
                drop(writer.take());
            }
        }
        fs::write(dir.join("f1"), b"y").unwrap();
        let events = synced_events(&mut w);
        let got: Vec<(String, String)> = events
            .iter()
            .map(|e| {
                let name = e.path.strip_prefix(&dir).unwrap().display().to_string();
                (e.kind.to_string(), name)
            })
            .collect();
        let mut want = Vec::new();
        let closed = |want: &mut Vec<(String, String)>, name: &str| {
            want.push(("modified".to_owned(), name.to_owned()));
            if notices {
                want.push(("closed".to_owned(), name.to_owned()));
            }
        };
        for name in ["f0", "f1", "f2"] {
            want.push(("created".to_owned(), name.to_owned()));
            if name == "f0" {
                closed(&mut want, "f0");
            }
        }
        // f2's write and close (one `Modified`), then f1's close.
        closed(&mut want, "f2");
        closed(&mut want, "f1");
        for name in ["f3", "f4"] {
            want.push(("created".to_owned(), name.to_owned()));
            closed(&mut want, name);
        }
        // The rewrite of f1: truncation, write and close (one `Modified`).
        closed(&mut want, "f1");
        assert_eq!(got, want, "close notices: {notices}");
    }
}

#[test]
fn close_notices_are_opt_in_and_follow_the_last_write() {
    use std::io::Write;
    let tmp = TempDir::new("api-close");
    let dir = tmp.path().join("d");
    fs::create_dir(&dir).unwrap();
    let in_dir = dir.join("conf");
    let file = tmp.path().join("file");
    fs::write(&in_dir, b"1").unwrap();
    fs::write(&file, b"1").unwrap();
    for notices in [false, true] {
        let config = Config::default()
            .backend(Backend::platform_default())
            .close_notices(notices);
        let mut w = Watcher::with_config(config).unwrap();
        w.watch(&dir, RecursiveMode::NonRecursive).unwrap();
        w.watch(&file, RecursiveMode::NonRecursive).unwrap();
        for path in [&in_dir, &file] {
            // Open, write, and keep the writer open: no close notice yet.
            let mut writer = fs::File::create(path).unwrap();
            writer.write_all(b"half").unwrap();
            let open = synced_events(&mut w);
            assert!(
                open.iter()
                    .any(|e| e.kind == EventKind::Modified && &e.path == path),
                "{open:?}"
            );
            assert!(
                !open.iter().any(|e| e.kind == EventKind::Closed),
                "{open:?}"
            );
            drop(writer);
            let closed = synced_events(&mut w);
            let wants = notices && w.backend() == Backend::Inotify;
            let last = closed.iter().rev().find(|e| &e.path == path);
            if wants {
                assert_eq!(
                    last.map(|e| &e.kind),
                    Some(&EventKind::Closed),
                    "{closed:?}"
                );
            } else {
                assert!(
                    !closed.iter().any(|e| e.kind == EventKind::Closed),
                    "{closed:?}"
                );
            }
        }
        // A rename into place is complete by itself: no close notice for it.
        let tmp_file = dir.join("conf.tmp");
        fs::write(&tmp_file, b"2").unwrap();
        let _ = synced_events(&mut w);
        fs::rename(&tmp_file, &in_dir).unwrap();
        let renamed = synced_events(&mut w);
        assert!(
            !renamed.iter().any(|e| e.kind == EventKind::Closed),
            "{renamed:?}"
        );
        // A file moved in from outside the watched scope is complete too:
        // its creation is followed by a close notice (no writer to wait for).
        let outside = tmp.path().join("incoming");
        fs::write(&outside, b"3").unwrap();
        let _ = synced_events(&mut w);
        fs::rename(&outside, &in_dir).unwrap();
        let moved_in = synced_events(&mut w);
        let last = moved_in.iter().rev().find(|e| e.path == in_dir);
        if notices && w.backend() == Backend::Inotify {
            assert_eq!(
                last.map(|e| &e.kind),
                Some(&EventKind::Closed),
                "{moved_in:?}"
            );
        } else {
            assert!(
                !moved_in.iter().any(|e| e.kind == EventKind::Closed),
                "{moved_in:?}"
            );
        }
    }
}
