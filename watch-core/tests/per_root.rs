//! A backend per root: a polled root beside kernel-watched ones in one
//! watcher, and `RootBackend::Auto` on a real local filesystem.

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::backends;
use test_support::TempDir;
use watch_core::{
    Backend, BackendChoice, Config, Event, EventKind, Filesystem, Origin, RecursiveMode,
    RootBackend, Watcher,
};

const LONG: Duration = Duration::from_secs(60);

fn watcher(backend: Backend) -> Watcher {
    Watcher::with_config(
        Config::default()
            .backend(backend)
            .poll_interval(Duration::from_millis(30)),
    )
    .expect("watcher")
}

/// Reads until an event for `path` of `kind` arrives; returns everything read.
fn read_until(w: &mut Watcher, path: &Path, kind: &EventKind) -> Vec<Event> {
    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + LONG;
    while !events
        .iter()
        .any(|e: &Event| e.path == path && &e.kind == kind)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no {kind:?} for {path:?} in {events:?}"
        );
        w.read(&mut events, Some(Duration::from_secs(1)))
            .expect("read");
    }
    events
}

#[test]
fn a_polled_root_reports_beside_a_kernel_root() {
    for backend in backends().into_iter().filter(|b| *b != Backend::Poll) {
        let kernel_dir = TempDir::new("per-root-kernel");
        let polled_dir = TempDir::new("per-root-polled");
        let mut w = watcher(backend);
        let choice = w
            .watch_with(
                kernel_dir.path(),
                RecursiveMode::Recursive,
                RootBackend::Watcher,
            )
            .unwrap();
        assert_eq!(choice.backend(), backend);
        let choice = w
            .watch_with(
                polled_dir.path(),
                RecursiveMode::Recursive,
                RootBackend::Poll,
            )
            .unwrap();
        assert_eq!(choice.backend(), Backend::Poll);
        assert_eq!(choice.to_string(), "poll (as requested)");
        assert_eq!(w.root_backend(polled_dir.path()), Backend::Poll);
        assert_eq!(w.root_backend(kernel_dir.path()), backend);
        assert_eq!(w.backend(), backend);

        // A blocking read wakes up for the polled root's change even though
        // the kernel root stays quiet.
        let polled_file = polled_dir.path().join("polled.txt");
        fs::write(&polled_file, "x").unwrap();
        let events = read_until(&mut w, &polled_file, &EventKind::Created);
        let created = events.iter().find(|e| e.path == polled_file).unwrap();
        assert_eq!(
            created.origin,
            Origin::Rescan,
            "{backend}: polled events come from scans"
        );

        let kernel_file = kernel_dir.path().join("kernel.txt");
        fs::write(&kernel_file, "x").unwrap();
        let events = read_until(&mut w, &kernel_file, &EventKind::Created);
        let created = events.iter().find(|e| e.path == kernel_file).unwrap();
        assert_eq!(created.origin, Origin::Kernel);

        // sync covers both: changes made before it are readable right after.
        fs::remove_file(&polled_file).unwrap();
        fs::remove_file(&kernel_file).unwrap();
        w.sync(LONG).unwrap();
        let mut events = Vec::new();
        while w.read(&mut events, Some(Duration::ZERO)).unwrap() > 0 {}
        for path in [&polled_file, &kernel_file] {
            assert!(
                events
                    .iter()
                    .any(|e| &e.path == path && e.kind == EventKind::Removed),
                "{backend}: no removal of {path:?} after sync: {events:?}"
            );
        }

        // Unwatching the polled root stops its reports; the other goes on.
        w.unwatch(polled_dir.path()).unwrap();
        assert!(w.unwatch(polled_dir.path()).is_err());
        fs::write(polled_dir.path().join("late"), "x").unwrap();
        fs::write(kernel_dir.path().join("late"), "x").unwrap();
        w.sync(LONG).unwrap();
        let mut events = Vec::new();
        while w.read(&mut events, Some(Duration::ZERO)).unwrap() > 0 {}
        assert!(
            events
                .iter()
                .all(|e| !e.path.starts_with(polled_dir.path())),
            "{events:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| e.path == kernel_dir.path().join("late")),
            "{events:?}"
        );
    }
}

#[test]
fn moving_a_root_between_backends_keeps_one_report_per_change() {
    for backend in backends().into_iter().filter(|b| *b != Backend::Poll) {
        let dir = TempDir::new("per-root-move");
        let mut w = watcher(backend);
        w.watch(dir.path(), RecursiveMode::NonRecursive).unwrap();
        assert_eq!(w.next_scan(), None, "{backend}: nothing is polled yet");
        w.watch_with(dir.path(), RecursiveMode::NonRecursive, RootBackend::Poll)
            .unwrap();
        assert_eq!(w.root_backend(dir.path()), Backend::Poll);
        // An event loop on the descriptor learns when to wake for the scan.
        assert!(w.next_scan().is_some(), "{backend}");
        let file = dir.path().join("f");
        fs::write(&file, "x").unwrap();
        w.sync(LONG).unwrap();
        let mut events = Vec::new();
        while w.read(&mut events, Some(Duration::ZERO)).unwrap() > 0 {}
        let created: Vec<_> = events.iter().filter(|e| e.path == file).collect();
        assert_eq!(created.len(), 1, "{backend}: {events:?}");
        assert_eq!(created[0].origin, Origin::Rescan);
        // And back to the kernel backend.
        w.watch(dir.path(), RecursiveMode::NonRecursive).unwrap();
        assert_eq!(w.root_backend(dir.path()), backend);
        fs::remove_file(&file).unwrap();
        w.sync(LONG).unwrap();
        let mut events = Vec::new();
        while w.read(&mut events, Some(Duration::ZERO)).unwrap() > 0 {}
        let removed: Vec<_> = events.iter().filter(|e| e.path == file).collect();
        assert_eq!(removed.len(), 1, "{backend}: {events:?}");
        assert_eq!(removed[0].origin, Origin::Kernel);
    }
}

#[test]
fn auto_keeps_the_kernel_backend_on_a_local_filesystem() {
    for backend in backends() {
        let dir = TempDir::new("per-root-auto");
        let fs_here = watch_core::filesystem_of(dir.path()).unwrap();
        let mut w = watcher(backend);
        let choice = w
            .watch_with(
                dir.path().join("not-yet"),
                RecursiveMode::Recursive,
                RootBackend::Auto,
            )
            .unwrap();
        if fs_here.misses_remote_changes() {
            assert_eq!(choice.backend(), Backend::Poll, "{fs_here}");
        } else {
            assert_eq!(choice.backend(), backend, "{fs_here}");
        }
        if backend != Backend::Poll {
            assert_eq!(choice.filesystem(), Some(&fs_here));
            assert!(choice.to_string().contains(fs_here.fs_type()), "{choice}");
        }
    }
}

#[test]
fn auto_polls_remote_filesystems() {
    let choice =
        BackendChoice::for_filesystem(Filesystem::new("nfs4", "/mnt/share"), Backend::Inotify);
    assert_eq!(choice.backend(), Backend::Poll);
    assert!(choice.polls_remote_filesystem());
    let text = choice.to_string();
    assert!(
        text.starts_with("poll (nfs4 filesystem at /mnt/share: "),
        "{text}"
    );
    let choice = BackendChoice::for_filesystem(Filesystem::new("ext4", "/"), Backend::Kqueue);
    assert_eq!(choice.backend(), Backend::Kqueue);
    assert_eq!(choice.to_string(), "kqueue (ext4 filesystem at /)");
}

#[test]
fn auto_and_poll_on_a_poll_watcher_are_its_own_backend() {
    // Asking for the poll backend on a poll watcher is its own backend.
    let dir = TempDir::new("per-root-poll-on-poll");
    let mut w = watcher(Backend::Poll);
    let choice = w
        .watch_with(dir.path(), RecursiveMode::Recursive, RootBackend::Poll)
        .unwrap();
    assert_eq!(choice.backend(), Backend::Poll);
    let choice = w
        .watch_with(dir.path(), RecursiveMode::Recursive, RootBackend::Auto)
        .unwrap();
    assert_eq!(choice.to_string(), "poll (the watcher polls every root)");
}

#[test]
fn a_waker_ends_a_read_that_also_polls() {
    for backend in backends().into_iter().filter(|b| *b != Backend::Poll) {
        let dir = TempDir::new("per-root-wake");
        let mut w = Watcher::with_config(
            Config::default()
                .backend(backend)
                .poll_interval(Duration::from_secs(3600)),
        )
        .unwrap();
        w.watch_with(dir.path(), RecursiveMode::Recursive, RootBackend::Poll)
            .unwrap();
        let waker = w.waker();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            // Wake only once the reader has begun (or is about to begin) its
            // read: a wake before the read counts as well.
            rx.recv().unwrap();
            waker.wake().unwrap();
        });
        tx.send(()).unwrap();
        let mut events = Vec::new();
        // Without the wake this read would last its whole timeout (the
        // poll interval is an hour).
        let start = std::time::Instant::now();
        w.read(&mut events, Some(LONG * 2)).unwrap();
        assert!(
            start.elapsed() < LONG,
            "{backend}: the wake did not end the read"
        );
        thread.join().unwrap();
    }
}
