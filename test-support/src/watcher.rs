//! Reading a `Watcher` dry, and folding its events onto a [`Tree`].

use std::time::Duration;

use watch_core::{Event, EventKind, Watcher};

use crate::tree::{self, Tree};

/// Appends every event that is ready now (reading without waiting until a
/// read returns none) and returns how many it appended.
pub fn read_ready(w: &mut Watcher, out: &mut Vec<Event>) -> Result<usize, watch_core::Error> {
    let before = out.len();
    while w.read(out, Some(Duration::ZERO))? > 0 {}
    Ok(out.len() - before)
}

/// Every event that is ready now. Panics on a read error.
pub fn drain(w: &mut Watcher) -> Vec<Event> {
    let mut out = Vec::new();
    read_ready(w, &mut out).expect("read");
    out
}

/// [`Watcher::sync`] (waiting at most `timeout`, which only bounds a hang),
/// then every event that is ready: everything the watcher has for changes
/// made before the call. Panics on an error.
pub fn sync_and_drain(w: &mut Watcher, timeout: Duration) -> Vec<Event> {
    w.sync(timeout).expect("sync");
    drain(w)
}

/// Applies `events` to `tree` as `watch_core::Event` documents them, and
/// returns how many of them were overflow notices.
pub fn fold(tree: &mut Tree, events: &[Event]) -> u64 {
    let mut overflows = 0;
    for e in events {
        match &e.kind {
            EventKind::Created => tree::create(tree, &e.path, e.is_dir),
            EventKind::Removed => tree::remove_subtree(tree, &e.path),
            EventKind::Renamed { from } => tree::rename(tree, from, &e.path, e.is_dir),
            EventKind::Overflow => overflows += 1,
            _ => {}
        }
    }
    overflows
}
