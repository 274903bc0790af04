//! Watch and event bit sets.

use bitflags::bitflags;
use inotify_sys as sys;

bitflags! {
    /// What a watch reports, and how [`Inotify::add_watch`](crate::Inotify::add_watch)
    /// treats the path: the `mask` argument of
    /// [inotify_add_watch(2)](https://man7.org/linux/man-pages/man2/inotify_add_watch.2.html).
    ///
    /// At least one event bit is needed; `MASK_ADD` and `MASK_CREATE` exclude
    /// each other (the kernel answers [`ErrorKind::InvalidMask`](crate::ErrorKind::InvalidMask)).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct WatchMask: u32 {
        /// File was accessed (read, execve).
        const ACCESS = sys::IN_ACCESS;
        /// File was modified (write, truncate).
        const MODIFY = sys::IN_MODIFY;
        /// Metadata changed (permissions, timestamps, xattrs, link count, owner).
        const ATTRIB = sys::IN_ATTRIB;
        /// A file opened for writing was closed.
        const CLOSE_WRITE = sys::IN_CLOSE_WRITE;
        /// A file or directory not opened for writing was closed.
        const CLOSE_NOWRITE = sys::IN_CLOSE_NOWRITE;
        /// A file or directory was opened.
        const OPEN = sys::IN_OPEN;
        /// An entry was renamed out of the watched directory.
        const MOVED_FROM = sys::IN_MOVED_FROM;
        /// An entry was renamed into the watched directory.
        const MOVED_TO = sys::IN_MOVED_TO;
        /// An entry was created in the watched directory.
        const CREATE = sys::IN_CREATE;
        /// An entry was deleted from the watched directory.
        const DELETE = sys::IN_DELETE;
        /// The watched object itself was deleted.
        const DELETE_SELF = sys::IN_DELETE_SELF;
        /// The watched object itself was moved.
        const MOVE_SELF = sys::IN_MOVE_SELF;
        /// `MOVED_FROM | MOVED_TO`.
        const MOVE = sys::IN_MOVE;
        /// `CLOSE_WRITE | CLOSE_NOWRITE`.
        const CLOSE = sys::IN_CLOSE;
        /// Every event above.
        const ALL_EVENTS = sys::IN_ALL_EVENTS;
        /// Fail with [`ErrorKind::NotADirectory`](crate::ErrorKind::NotADirectory)
        /// unless the path is a directory.
        const ONLYDIR = sys::IN_ONLYDIR;
        /// Watch a symbolic link itself rather than its target.
        const DONT_FOLLOW = sys::IN_DONT_FOLLOW;
        /// Stop reporting events for children once they are unlinked.
        const EXCL_UNLINK = sys::IN_EXCL_UNLINK;
        /// Fail with [`ErrorKind::AlreadyWatched`](crate::ErrorKind::AlreadyWatched)
        /// if this instance already watches the object (instead of replacing its mask).
        const MASK_CREATE = sys::IN_MASK_CREATE;
        /// Add to the mask of an existing watch instead of replacing it.
        const MASK_ADD = sys::IN_MASK_ADD;
        /// Remove the watch after its first event (an `IGNORED` event follows).
        const ONESHOT = sys::IN_ONESHOT;
    }
}

bitflags! {
    /// What happened: the `mask` field of an event record, see
    /// [inotify(7)](https://man7.org/linux/man-pages/man7/inotify.7.html).
    ///
    /// Bits this crate does not know are kept as they are (use
    /// [`EventMask::bits`]), so a newer kernel never makes decoding fail.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct EventMask: u32 {
        /// File was accessed (read, execve).
        const ACCESS = sys::IN_ACCESS;
        /// File was modified (write, truncate).
        const MODIFY = sys::IN_MODIFY;
        /// Metadata changed (permissions, timestamps, xattrs, link count, owner).
        const ATTRIB = sys::IN_ATTRIB;
        /// A file opened for writing was closed.
        const CLOSE_WRITE = sys::IN_CLOSE_WRITE;
        /// A file or directory not opened for writing was closed.
        const CLOSE_NOWRITE = sys::IN_CLOSE_NOWRITE;
        /// A file or directory was opened.
        const OPEN = sys::IN_OPEN;
        /// An entry was renamed out of the watched directory; see the cookie.
        const MOVED_FROM = sys::IN_MOVED_FROM;
        /// An entry was renamed into the watched directory; see the cookie.
        const MOVED_TO = sys::IN_MOVED_TO;
        /// An entry was created in the watched directory.
        const CREATE = sys::IN_CREATE;
        /// An entry was deleted from the watched directory.
        const DELETE = sys::IN_DELETE;
        /// The watched object itself was deleted (an `IGNORED` event follows).
        const DELETE_SELF = sys::IN_DELETE_SELF;
        /// The watched object itself was moved.
        const MOVE_SELF = sys::IN_MOVE_SELF;
        /// The filesystem holding the watched object was unmounted.
        const UNMOUNT = sys::IN_UNMOUNT;
        /// The event queue overflowed. Decoding turns this record into
        /// [`Event::Overflow`](crate::Event::Overflow).
        const Q_OVERFLOW = sys::IN_Q_OVERFLOW;
        /// The watch is gone (removed, or its object deleted or unmounted);
        /// its descriptor may be reused by a later watch.
        const IGNORED = sys::IN_IGNORED;
        /// The subject of the event is a directory.
        const ISDIR = sys::IN_ISDIR;
        /// `MOVED_FROM | MOVED_TO`.
        const MOVE = sys::IN_MOVE;
        /// `CLOSE_WRITE | CLOSE_NOWRITE`.
        const CLOSE = sys::IN_CLOSE;
        /// Every event a watch can ask for.
        const ALL_EVENTS = sys::IN_ALL_EVENTS;
    }
}

impl From<WatchMask> for EventMask {
    /// The event bits of a watch mask (watch-only flags such as `ONLYDIR`
    /// are dropped).
    fn from(mask: WatchMask) -> Self {
        EventMask::from_bits_truncate(mask.bits() & sys::IN_ALL_EVENTS)
    }
}
