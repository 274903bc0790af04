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
