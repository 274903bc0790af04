//! What the soak and the CLI storm share: a model of a tree (path -> is a
//! directory), a walk of the real one and a small seeded generator so that a
//! failing run replays (all three from `test-support`, as the tests use
//! them), and the kernel queue's size.

use std::fs;

pub use test_support::tree::{Tree, create, holds_below, remove_subtree, rename, scan};
pub use test_support::{Rng, fold};

/// `fs.inotify.max_queued_events`, or the kernel's default when unreadable.
pub fn max_queued_events() -> usize {
    fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16_384)
}
