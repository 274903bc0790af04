use std::fs;
use std::time::Duration;

use test_support::TempDir;

use crate::{Backend, Config, Event, EventKind, RecursiveMode, SkipReason, Watcher};

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
        fs::write(tmp.join(format!("f{i}")), b"x").unwrap();
    }
    let config = Config::default().backend(Backend::Kqueue).fd_budget(8);
    let mut w = Watcher::with_config(config).unwrap();
    w.watch(tmp.path(), RecursiveMode::Recursive).unwrap();
    let events = drain(&mut w);
    assert_eq!(budget_notices(&events).len(), 1, "{events:?}");
    assert!(w.watch_count() <= 8, "{} descriptors", w.watch_count());

    // More files past the budget: not said again, and creations (a
    // directory-level change) are still reported.
    for i in 20..30 {
        fs::write(tmp.join(format!("f{i}")), b"x").unwrap();
    }
    w.sync(LONG).unwrap();
    let events = drain(&mut w);
    assert!(budget_notices(&events).is_empty(), "{events:?}");
    for i in 20..30 {
        let path = tmp.join(format!("f{i}"));
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
        fs::create_dir(tmp.join(format!("d{i}"))).unwrap();
    }
    let config = Config::default().backend(Backend::Kqueue).fd_budget(6);
    let mut w = Watcher::with_config(config).unwrap();
    w.watch(tmp.path(), RecursiveMode::Recursive).unwrap();
    let events = drain(&mut w);
    assert!(!budget_notices(&events).is_empty(), "{events:?}");
    assert!(w.watch_count() <= 6);
    // The root is still watched: a new entry is reported.
    fs::write(tmp.join("new"), b"x").unwrap();
    w.sync(LONG).unwrap();
    let events = drain(&mut w);
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::Created && e.path == tmp.join("new")),
        "{events:?}"
    );
}

#[test]
fn unwatch_releases_every_descriptor() {
    let tmp = TempDir::new("release");
    fs::create_dir(tmp.join("d")).unwrap();
    fs::write(tmp.join("d/f"), b"x").unwrap();
    let mut w = Watcher::with_config(Config::default().backend(Backend::Kqueue)).unwrap();
    w.watch(tmp.path(), RecursiveMode::Recursive).unwrap();
    // Root, d, d/f, and the parent followed for the name.
    assert_eq!(w.watch_count(), 4);
    w.unwatch(tmp.path()).unwrap();
    assert_eq!(w.watch_count(), 0);
}
