//! `IN_*` constants, kept per operating system so that a FreeBSD build never
//! sees a Linux value.

#[cfg(any(target_os = "linux", target_os = "android"))]
mod os {
    use crate::c_int;

    /// `inotify_init1` flag: set close-on-exec on the new descriptor (`O_CLOEXEC`).
    pub const IN_CLOEXEC: c_int = libc::O_CLOEXEC;
    /// `inotify_init1` flag: make reads non-blocking (`O_NONBLOCK`).
    pub const IN_NONBLOCK: c_int = libc::O_NONBLOCK;
}

#[cfg(target_os = "freebsd")]
mod os {
    use crate::c_int;

    /// `inotify_init1` flag: set close-on-exec on the new descriptor (FreeBSD `O_CLOEXEC`).
    pub const IN_CLOEXEC: c_int = 0x0010_0000;
    /// `inotify_init1` flag: make reads non-blocking (FreeBSD `O_NONBLOCK`).
    pub const IN_NONBLOCK: c_int = 0x0000_0004;

    static_assertions::const_assert_eq!(IN_CLOEXEC, libc::O_CLOEXEC);
    static_assertions::const_assert_eq!(IN_NONBLOCK, libc::O_NONBLOCK);
}

pub use os::*;

/// Declares the event and flag bits with their documentation; each OS block
/// below supplies its own values from its own header.
macro_rules! event_bits {
    (
        IN_ACCESS: $v0:expr,
        IN_MODIFY: $v1:expr,
        IN_ATTRIB: $v2:expr,
        IN_CLOSE_WRITE: $v3:expr,
        IN_CLOSE_NOWRITE: $v4:expr,
        IN_OPEN: $v5:expr,
        IN_MOVED_FROM: $v6:expr,
        IN_MOVED_TO: $v7:expr,
        IN_CREATE: $v8:expr,
        IN_DELETE: $v9:expr,
        IN_DELETE_SELF: $v10:expr,
        IN_MOVE_SELF: $v11:expr,
        IN_UNMOUNT: $v12:expr,
        IN_Q_OVERFLOW: $v13:expr,
        IN_IGNORED: $v14:expr,
        IN_ONLYDIR: $v15:expr,
        IN_DONT_FOLLOW: $v16:expr,
        IN_EXCL_UNLINK: $v17:expr,
        IN_MASK_CREATE: $v18:expr,
        IN_MASK_ADD: $v19:expr,
        IN_ISDIR: $v20:expr,
        IN_ONESHOT: $v21:expr,
    ) => {
        /// Event: file was accessed (read, execve).
        pub const IN_ACCESS: u32 = $v0;
        /// Event: file was modified (write, truncate).
        pub const IN_MODIFY: u32 = $v1;
        /// Event: metadata changed (permissions, timestamps, xattrs, link count, owner).
        pub const IN_ATTRIB: u32 = $v2;
        /// Event: a file opened for writing was closed.
        pub const IN_CLOSE_WRITE: u32 = $v3;
        /// Event: a file or directory not opened for writing was closed.
        pub const IN_CLOSE_NOWRITE: u32 = $v4;
        /// Event: a file or directory was opened.
        pub const IN_OPEN: u32 = $v5;
        /// Event: an entry was renamed out of the watched directory.
        pub const IN_MOVED_FROM: u32 = $v6;
        /// Event: an entry was renamed into the watched directory.
        pub const IN_MOVED_TO: u32 = $v7;
        /// Event: an entry was created in the watched directory.
        pub const IN_CREATE: u32 = $v8;
        /// Event: an entry was deleted from the watched directory.
        pub const IN_DELETE: u32 = $v9;
        /// Event: the watched file or directory itself was deleted.
        pub const IN_DELETE_SELF: u32 = $v10;
        /// Event: the watched file or directory itself was moved.
        pub const IN_MOVE_SELF: u32 = $v11;
        /// Kernel-set: the filesystem holding the watched object was unmounted.
        pub const IN_UNMOUNT: u32 = $v12;
        /// Kernel-set: the event queue overflowed (the record has `wd == -1`).
        pub const IN_Q_OVERFLOW: u32 = $v13;
        /// Kernel-set: the watch was removed (explicitly, or because its object is gone).
        pub const IN_IGNORED: u32 = $v14;
        /// Watch flag: fail with `ENOTDIR` unless the path is a directory.
        pub const IN_ONLYDIR: u32 = $v15;
        /// Watch flag: do not follow a symbolic link in the last path component.
        pub const IN_DONT_FOLLOW: u32 = $v16;
        /// Watch flag: stop reporting events for children after they are unlinked.
        pub const IN_EXCL_UNLINK: u32 = $v17;
        /// Watch flag: fail with `EEXIST` if the object is already watched by this instance.
        pub const IN_MASK_CREATE: u32 = $v18;
        /// Watch flag: OR the mask into an existing watch instead of replacing it.
        pub const IN_MASK_ADD: u32 = $v19;
        /// Kernel-set: the subject of the event is a directory.
        pub const IN_ISDIR: u32 = $v20;
        /// Watch flag: remove the watch after its first event.
        pub const IN_ONESHOT: u32 = $v21;
    };
}

// Linux `uapi/linux/inotify.h`.
#[cfg(any(target_os = "linux", target_os = "android"))]
event_bits! {
    IN_ACCESS: 0x0000_0001,
    IN_MODIFY: 0x0000_0002,
    IN_ATTRIB: 0x0000_0004,
    IN_CLOSE_WRITE: 0x0000_0008,
    IN_CLOSE_NOWRITE: 0x0000_0010,
    IN_OPEN: 0x0000_0020,
    IN_MOVED_FROM: 0x0000_0040,
    IN_MOVED_TO: 0x0000_0080,
    IN_CREATE: 0x0000_0100,
    IN_DELETE: 0x0000_0200,
    IN_DELETE_SELF: 0x0000_0400,
    IN_MOVE_SELF: 0x0000_0800,
    IN_UNMOUNT: 0x0000_2000,
    IN_Q_OVERFLOW: 0x0000_4000,
    IN_IGNORED: 0x0000_8000,
    IN_ONLYDIR: 0x0100_0000,
    IN_DONT_FOLLOW: 0x0200_0000,
    IN_EXCL_UNLINK: 0x0400_0000,
    IN_MASK_CREATE: 0x1000_0000,
    IN_MASK_ADD: 0x2000_0000,
    IN_ISDIR: 0x4000_0000,
    IN_ONESHOT: 0x8000_0000,
}

// FreeBSD `sys/sys/inotify.h` (FreeBSD 15). The values happen to equal
// Linux's; only the init flags and the name padding differ.
#[cfg(target_os = "freebsd")]
event_bits! {
    IN_ACCESS: 0x0000_0001,
    IN_MODIFY: 0x0000_0002,
    IN_ATTRIB: 0x0000_0004,
    IN_CLOSE_WRITE: 0x0000_0008,
    IN_CLOSE_NOWRITE: 0x0000_0010,
    IN_OPEN: 0x0000_0020,
    IN_MOVED_FROM: 0x0000_0040,
    IN_MOVED_TO: 0x0000_0080,
    IN_CREATE: 0x0000_0100,
    IN_DELETE: 0x0000_0200,
    IN_DELETE_SELF: 0x0000_0400,
    IN_MOVE_SELF: 0x0000_0800,
    IN_UNMOUNT: 0x0000_2000,
    IN_Q_OVERFLOW: 0x0000_4000,
    IN_IGNORED: 0x0000_8000,
    IN_ONLYDIR: 0x0100_0000,
    IN_DONT_FOLLOW: 0x0200_0000,
    IN_EXCL_UNLINK: 0x0400_0000,
    IN_MASK_CREATE: 0x1000_0000,
    IN_MASK_ADD: 0x2000_0000,
    IN_ISDIR: 0x4000_0000,
    IN_ONESHOT: 0x8000_0000,
}

/// Event: any close ([`IN_CLOSE_WRITE`] | [`IN_CLOSE_NOWRITE`]).
pub const IN_CLOSE: u32 = IN_CLOSE_WRITE | IN_CLOSE_NOWRITE;
/// Event: any rename ([`IN_MOVED_FROM`] | [`IN_MOVED_TO`]).
pub const IN_MOVE: u32 = IN_MOVED_FROM | IN_MOVED_TO;
/// All events a watch can ask for.
pub const IN_ALL_EVENTS: u32 = IN_ACCESS
    | IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_CLOSE_NOWRITE
    | IN_OPEN
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF;

#[cfg(target_os = "freebsd")]
static_assertions::const_assert_eq!(IN_ALL_EVENTS, 0x0000_0fff);

/// Every constant equals libc's value.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod libc_values {
    use static_assertions::const_assert_eq;

    const_assert_eq!(super::IN_CLOEXEC, libc::IN_CLOEXEC);
    const_assert_eq!(super::IN_NONBLOCK, libc::IN_NONBLOCK);
    const_assert_eq!(super::IN_ACCESS, libc::IN_ACCESS);
    const_assert_eq!(super::IN_MODIFY, libc::IN_MODIFY);
    const_assert_eq!(super::IN_ATTRIB, libc::IN_ATTRIB);
    const_assert_eq!(super::IN_CLOSE_WRITE, libc::IN_CLOSE_WRITE);
    const_assert_eq!(super::IN_CLOSE_NOWRITE, libc::IN_CLOSE_NOWRITE);
    const_assert_eq!(super::IN_CLOSE, libc::IN_CLOSE);
    const_assert_eq!(super::IN_OPEN, libc::IN_OPEN);
    const_assert_eq!(super::IN_MOVED_FROM, libc::IN_MOVED_FROM);
    const_assert_eq!(super::IN_MOVED_TO, libc::IN_MOVED_TO);
    const_assert_eq!(super::IN_MOVE, libc::IN_MOVE);
    const_assert_eq!(super::IN_CREATE, libc::IN_CREATE);
    const_assert_eq!(super::IN_DELETE, libc::IN_DELETE);
    const_assert_eq!(super::IN_DELETE_SELF, libc::IN_DELETE_SELF);
    const_assert_eq!(super::IN_MOVE_SELF, libc::IN_MOVE_SELF);
    const_assert_eq!(super::IN_UNMOUNT, libc::IN_UNMOUNT);
    const_assert_eq!(super::IN_Q_OVERFLOW, libc::IN_Q_OVERFLOW);
    const_assert_eq!(super::IN_IGNORED, libc::IN_IGNORED);
    const_assert_eq!(super::IN_ONLYDIR, libc::IN_ONLYDIR);
    const_assert_eq!(super::IN_DONT_FOLLOW, libc::IN_DONT_FOLLOW);
    const_assert_eq!(super::IN_EXCL_UNLINK, libc::IN_EXCL_UNLINK);
    const_assert_eq!(super::IN_MASK_CREATE, libc::IN_MASK_CREATE);
    const_assert_eq!(super::IN_MASK_ADD, libc::IN_MASK_ADD);
    const_assert_eq!(super::IN_ISDIR, libc::IN_ISDIR);
    const_assert_eq!(super::IN_ONESHOT, libc::IN_ONESHOT);
    const_assert_eq!(super::IN_ALL_EVENTS, libc::IN_ALL_EVENTS);
}
