use std::sync::atomic::{AtomicUsize, Ordering};

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use crate::{Backend, Config, Event, EventKind, RecursiveMode, SkipReason, Watcher};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("watch-core-kq-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const LONG: Duration = Duration::from_secs(60);

fn drain(w: &mut Watcher) -> Vec<Event> {
    let mut events = Vec::new();
    while w.read(&mut events, Some(Duration::ZERO)).unwrap() > 0 {}
    events
}

fn budget_notices(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Skipped {
                    reason: SkipReason::FdBudget
                }
            )
        })
        .collect()
}

#[test]
fn past_the_budget_files_degrade_once_and_changes_are_still_seen() {
    let tmp = TempDir::new("budget");
    for i in 0..20 {
        fs::write(tmp.0.join(format!("f{i}")), b"x").unwrap();
    }
    let config = Config::default().backend(Backend::Kqueue).fd_budget(8);
    let mut w = Watcher::with_config(config).unwrap();
    w.watch(&tmp.0, RecursiveMode::Recursive).unwrap();
    let events = drain(&mut w);
    assert_eq!(budget_notices(&events).len(), 1, "{events:?}");
    assert!(w.watch_count() <= 8, "{} descriptors", w.watch_count());

    // More files past the budget: not said again, and creations (a
    // directory-level change) are still reported.
    for i in 20..30 {
        fs::write(tmp.0.join(format!("f{i}")), b"x").unwrap();
    }
    w.sync(LONG).unwrap();
    let events = drain(&mut w);
    assert!(budget_notices(&events).is_empty(), "{events:?}");
    for i in 20..30 {
        let path = tmp.0.join(format!("f{i}"));
        assert!(
            events
                .iter()
                .any(|e| e.kind == EventKind::Created && e.path == path),
            "f{i} missing: {events:?}"
        );
    }
    assert!(w.watch_count() <= 8);
}

#[test]
fn past_the_budget_directories_are_skipped_not_failed() {
    let tmp = TempDir::new("budget-dirs");
    for i in 0..12 {
        fs::create_dir(tmp.0.join(format!("d{i}"))).unwrap();
    }
    let config = Config::default().backend(Backend::Kqueue).fd_budget(6);
    let mut w = Watcher::with_config(config).unwrap();
    w.watch(&tmp.0, RecursiveMode::Recursive).unwrap();
    let events = drain(&mut w);
    assert!(!budget_notices(&events).is_empty(), "{events:?}");
    assert!(w.watch_count() <= 6);
    // The root is still watched: a new entry is reported.
    fs::write(tmp.0.join("new"), b"x").unwrap();
    w.sync(LONG).unwrap();
    let events = drain(&mut w);
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::Created && e.path == tmp.0.join("new")),
        "{events:?}"
    );
}

#[test]
fn unwatch_releases_every_descriptor() {
    let tmp = TempDir::new("release");
    fs::create_dir(tmp.0.join("d")).unwrap();
    fs::write(tmp.0.join("d/f"), b"x").unwrap();
    let mut w = Watcher::with_config(Config::default().backend(Backend::Kqueue)).unwrap();
    w.watch(&tmp.0, RecursiveMode::Recursive).unwrap();
    // Root, d, d/f, and the parent followed for the name.
    assert_eq!(w.watch_count(), 4);
    w.unwatch(&tmp.0).unwrap();
    assert_eq!(w.watch_count(), 0);
}
