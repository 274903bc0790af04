//! The read-loop helpers: `Watcher::events`, and `DebouncedWatcher`, on
//! every backend this build can run.

mod common;

use std::fs;
use std::time::Duration;

use common::backends;
use test_support::TempDir;
use watch_core::{
    Backend, Config, DebouncedWatcher, Debouncer, Event, EventKind, RecursiveMode, Watcher,
};

const PATIENCE: Duration = Duration::from_secs(60);

fn watcher(backend: Backend, dir: &TempDir) -> Watcher {
    let config = Config::default()
        .backend(backend)
        .poll_interval(Duration::from_millis(20));
    let mut w = Watcher::with_config(config).expect("watcher");
    w.watch(dir.path(), RecursiveMode::Recursive)
        .expect("watch");
    w
}

fn has(events: &[Event], kind: &EventKind, path: &std::path::Path) -> bool {
    events.iter().any(|e| &e.kind == kind && e.path == path)
}

#[test]
fn events_with_a_zero_timeout_drains_what_is_ready_and_ends() {
    for backend in backends() {
        let dir = TempDir::new("iter-drain");
        let mut w = watcher(backend, &dir);
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, "1").unwrap();
        fs::write(&b, "2").unwrap();
        w.sync(PATIENCE).unwrap();
        let events: Vec<Event> = w
            .events(Some(Duration::ZERO))
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            has(&events, &EventKind::Created, &a),
            "{backend}: {events:?}"
        );
        assert!(
            has(&events, &EventKind::Created, &b),
            "{backend}: {events:?}"
        );
        // Nothing left: the next drain is empty at once.
        assert_eq!(w.events(Some(Duration::ZERO)).count(), 0, "{backend}");
    }
}

#[test]
fn events_without_timeout_ends_when_woken() {
    for backend in backends() {
        let dir = TempDir::new("iter-wake");
        let mut w = watcher(backend, &dir);
        let f = dir.path().join("f");
        fs::write(&f, "1").unwrap();
        w.sync(PATIENCE).unwrap();
        let waker = w.waker();
        let reader = std::thread::spawn(move || {
            let events: Result<Vec<Event>, _> = w.events(None).collect();
            events.map_err(|e| e.to_string())
        });
        waker.wake().unwrap();
        let events = reader.join().unwrap().unwrap();
        assert!(
            has(&events, &EventKind::Created, &f),
            "{backend}: {events:?}"
        );
    }
}

#[test]
fn a_debounced_watcher_hands_out_an_atomic_save_as_one_batch() {
    for backend in backends() {
        let dir = TempDir::new("debounced-save");
        let config = dir.path().join("config.toml");
        fs::write(&config, "old").unwrap();
        let mut w = watcher(backend, &dir).debounced(Duration::from_millis(50));
        // An editor's save: write a temporary file, rename it over.
        let tmp = dir.path().join(".config.toml.swp");
        fs::write(&tmp, "new").unwrap();
        fs::rename(&tmp, &config).unwrap();
        w.sync(PATIENCE).unwrap();
        let mut batch = Vec::new();
        assert!(w.read(&mut batch, Some(PATIENCE)).unwrap() > 0, "{backend}");
        // The temporary file folded away; the config was replaced.
        assert!(
            batch.iter().all(|e| e.path != tmp),
            "{backend}: the temporary file leaked: {batch:?}"
        );
        assert!(
            batch.iter().any(|e| e.path == config),
            "{backend}: {batch:?}"
        );
        // Nothing else is pending: a short read times out with no batch.
        let mut more = Vec::new();
        assert_eq!(
            w.read(&mut more, Some(Duration::from_millis(30))).unwrap(),
            0,
            "{backend}: {more:?}"
        );
    }
}

#[test]
fn a_debounced_read_without_timeout_ends_when_woken_and_keeps_pending_events() {
    for backend in backends() {
        let dir = TempDir::new("debounced-wake");
        // A window far beyond the test: the batch is never due by itself.
        let debouncer =
            Debouncer::with_max_wait(Duration::from_secs(3600), Duration::from_secs(3600));
        let mut w = DebouncedWatcher::new(watcher(backend, &dir), debouncer);
        let f = dir.path().join("f");
        fs::write(&f, "1").unwrap();
        w.sync(PATIENCE).unwrap();
        let waker = w.waker();
        let reader = std::thread::spawn(move || {
            let mut batch = Vec::new();
            let n = w.read(&mut batch, None).map_err(|e| e.to_string());
            (w, n)
        });
        waker.wake().unwrap();
        let (mut w, n) = reader.join().unwrap();
        assert_eq!(n, Ok(0), "{backend}");
        // Pulled in and pending, not lost.
        assert!(w.next_deadline().is_some(), "{backend}");
        let mut rest = Vec::new();
        w.flush(&mut rest);
        assert!(has(&rest, &EventKind::Created, &f), "{backend}: {rest:?}");
    }
}

#[test]
fn batches_iterates_until_a_read_times_out() {
    for backend in backends() {
        let dir = TempDir::new("debounced-batches");
        let mut w = watcher(backend, &dir).debounced(Duration::from_millis(20));
        let f = dir.path().join("f");
        fs::write(&f, "1").unwrap();
        w.sync(PATIENCE).unwrap();
        let batches: Vec<Vec<Event>> = w
            .batches(Some(Duration::from_millis(200)))
            .collect::<Result<_, _>>()
            .unwrap();
        let all: Vec<Event> = batches.concat();
        assert!(has(&all, &EventKind::Created, &f), "{backend}: {batches:?}");
        assert!(batches.iter().all(|b| !b.is_empty()), "{backend}");
    }
}

/// A read into an `EventBuf` gives the events a read into a `Vec<Event>`
/// gives, in the same order: two watchers (with close notices, so that
/// every kind a kernel backend reports appears) see one run of changes,
/// bursts of created files among them, and each drains what it saw its
/// own way; the buffer is read in several calls, cleared between them.
#[test]
fn a_read_into_an_event_buf_gives_what_a_vec_gets() {
    use std::fs::File;
    use std::io::Write;
    use watch_core::EventBuf;

    for backend in backends() {
        let dir = TempDir::new("event-buf");
        let outside = TempDir::new("event-buf-outside");
        let config = Config::default()
            .backend(backend)
            .close_notices(true)
            // Poll: only `sync` scans, so both watchers compare the same two states.
            .poll_interval(Duration::from_secs(3600));
        let mut owned = Watcher::with_config(config.clone()).expect("watcher");
        let mut lent = Watcher::with_config(config).expect("watcher");
        for w in [&mut owned, &mut lent] {
            w.watch(dir.path(), RecursiveMode::Recursive)
                .expect("watch");
        }
        fs::create_dir_all(dir.join("d/e")).unwrap();
        for i in 0..300 {
            let sub = if i % 3 == 0 { "d/e" } else { "" };
            File::create(dir.join(sub).join(format!("f{i}"))).unwrap();
        }
        let mut f = File::create(dir.join("w")).unwrap();
        f.write_all(b"one").unwrap();
        f.write_all(b"two").unwrap();
        drop(f);
        fs::rename(dir.join("f1"), dir.join("d/moved")).unwrap();
        fs::rename(dir.join("d/e"), dir.join("e2")).unwrap();
        fs::remove_file(dir.join("f2")).unwrap();
        fs::write(outside.join("in"), "x").unwrap();
        fs::rename(outside.join("in"), dir.join("in")).unwrap();
        fs::rename(dir.join("f4"), outside.join("out")).unwrap();
        for w in [&mut owned, &mut lent] {
            w.sync(PATIENCE).expect("sync");
        }
        let mut want = Vec::new();
        while owned.read(&mut want, Some(Duration::ZERO)).unwrap() > 0 {}
        let mut got = Vec::new();
        let mut buf = EventBuf::with_capacity(16, 256);
        loop {
            buf.clear();
            let n = lent.read(&mut buf, Some(Duration::ZERO)).unwrap();
            assert_eq!(n, buf.len(), "{backend}");
            if n == 0 {
                break;
            }
            got.extend(buf.iter().map(|e| e.to_event()));
        }
        assert_eq!(got, want, "{backend}");
        // Each created file still there, where it is once the changes are
        // read: `d/e` moved to `e2` before either watcher looked.
        for i in (0..300).filter(|i| ![1, 2, 4].contains(i)) {
            let sub = if i % 3 == 0 { "e2" } else { "" };
            let path = dir.join(sub).join(format!("f{i}"));
            assert!(
                has(&got, &EventKind::Created, &path),
                "{backend}: {path:?} in {got:?}"
            );
        }
        assert!(
            has(&got, &EventKind::Created, &dir.join("in")),
            "{backend}: {got:?}"
        );
    }
}
