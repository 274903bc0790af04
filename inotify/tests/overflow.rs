//! Queue overflow: more events than `max_queued_events` with no reads.

mod common;

use std::fs;

use common::{Ev, drain, watching};
use inotify::{EventBuffer, EventMask, WatchMask};
use test_support::TempDir;

#[test]
fn overflow_is_reported_once_and_reading_continues() {
    let max = fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .expect("read max_queued_events")
        .trim()
        .parse::<u64>()
        .unwrap();
    assert_eq!(inotify::limits::max_queued_events(), Some(max));

    let dir = TempDir::new("inotify-test");
    let (ino, wd) = watching(dir.path(), WatchMask::CREATE | WatchMask::DELETE);
    // mkdir/rmdir of one name: two cheap syscalls, two events that differ
    // from their predecessor, so the kernel cannot merge them.
    let sub = dir.join("d");
    let mut caused = 0u64;
    while caused < max + 100 {
        fs::create_dir(&sub).unwrap();
        fs::remove_dir(&sub).unwrap();
        caused += 2;
    }

    let mut buf = EventBuffer::default();
    let evs = drain(&ino, &mut buf);
    let overflows: Vec<usize> = evs
        .iter()
        .enumerate()
        .filter(|(_, e)| **e == Ev::Overflow)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(overflows.len(), 1, "exactly one overflow record");
    assert_eq!(overflows[0], evs.len() - 1, "overflow is the last record");
    let before = &evs[..evs.len() - 1];
    assert_eq!(
        before.len() as u64,
        max,
        "the queue held max_queued_events events"
    );
    for (i, e) in before.iter().enumerate() {
        let expected = if i % 2 == 0 {
            EventMask::CREATE | EventMask::ISDIR
        } else {
            EventMask::DELETE | EventMask::ISDIR
        };
        assert_eq!(e.mask(), expected, "event {i}");
        assert_eq!(e.name(), Some("d"));
    }

    // After the overflow has been read, events flow normally again.
    fs::write(dir.join("after"), b"").unwrap();
    let evs = drain(&ino, &mut buf);
    assert_eq!(
        evs,
        [Ev::Watch {
            wd,
            mask: EventMask::CREATE,
            cookie: 0,
            name: Some("after".into())
        }]
    );
}
