//! Watch descriptors tied to the instance that made them.

use std::sync::atomic::{AtomicU64, Ordering};

/// Instance ids start at 1; 0 marks events decoded without an instance
/// ([`Events::from_bytes`](crate::Events::from_bytes)).
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_instance_id() -> u64 {
    NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed)
}

/// A watch, as returned by [`Inotify::add_watch`](crate::Inotify::add_watch)
/// and carried by each [`WatchEvent`](crate::WatchEvent).
///
/// The kernel's descriptor is a small integer that is only unique within one
/// instance, so this type also carries the id of the [`Inotify`](crate::Inotify)
/// instance that made it: descriptors of different instances never compare
/// equal. `Eq`, `Hash` and `Ord` all use the pair (instance id, raw descriptor).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct WatchDescriptor {
    instance: u64,
    wd: i32,
}

impl WatchDescriptor {
    pub(crate) fn new(instance: u64, wd: i32) -> Self {
        WatchDescriptor { instance, wd }
    }

    /// The kernel's watch descriptor, as in `inotify_event.wd`.
    pub fn raw(&self) -> i32 {
        self.wd
    }

    /// The id of the instance that made this descriptor (see
    /// [`Inotify::instance_id`](crate::Inotify::instance_id)); 0 for events
    /// decoded by [`Events::from_bytes`](crate::Events::from_bytes).
    pub fn instance_id(&self) -> u64 {
        self.instance
    }
}
