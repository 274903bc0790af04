//! Host-independent vocabulary: tokens, filters and flag sets.

use bitflags::bitflags;

/// A caller-chosen value carried in a registration's `udata` and returned with
/// each of its events, so that an event maps back to its owner in O(1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub usize);

/// The kind of kernel object an event is about (the `EVFILT_*` value).
///
/// The numbers differ per system (`EVFILT_USER` is -10 on macOS, -11 on
/// FreeBSD, 8 on NetBSD, ...); this type names them portably. A value this
/// crate does not name is kept as [`Filter::Unknown`] with its raw number.
///
/// Manual pages:
/// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kqueue&sektion=2),
/// [OpenBSD](https://man.openbsd.org/kqueue.2),
/// [NetBSD](https://man.netbsd.org/kqueue.2),
/// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kqueue.2.html).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Filter {
    /// `EVFILT_READ`: a descriptor is readable.
    Read,
    /// `EVFILT_WRITE`: a descriptor is writable.
    Write,
    /// `EVFILT_AIO`: an asynchronous I/O request completed.
    Aio,
    /// `EVFILT_VNODE`: a file or directory changed.
    Vnode,
    /// `EVFILT_PROC`: a process event.
    Proc,
    /// `EVFILT_SIGNAL`: a signal was delivered.
    Signal,
    /// `EVFILT_TIMER`: a timer expired.
    Timer,
    /// `EVFILT_USER`: a user event was triggered.
    User,
    /// Any other filter, by its raw number on this system.
    Unknown(i32),
}

bitflags! {
    /// `EV_*` action and status flags of a change or event.
    ///
    /// Only the flags with the same value on every supported system are
    /// named; any other bit is kept as is.
    ///
    /// Manual pages:
    /// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kqueue&sektion=2),
    /// [OpenBSD](https://man.openbsd.org/kqueue.2),
    /// [NetBSD](https://man.netbsd.org/kqueue.2),
    /// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kqueue.2.html).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct EventFlags: u32 {
        /// `EV_ADD`: add the registration (or modify an existing one).
        const ADD = 0x0001;
        /// `EV_DELETE`: remove the registration.
        const DELETE = 0x0002;
        /// `EV_ENABLE`: deliver events again.
        const ENABLE = 0x0004;
        /// `EV_DISABLE`: keep the registration but deliver no events.
        const DISABLE = 0x0008;
        /// `EV_ONESHOT`: deliver one event, then delete the registration.
        const ONESHOT = 0x0010;
        /// `EV_CLEAR`: reset the state after delivery (edge-triggered).
        const CLEAR = 0x0020;
        /// `EV_RECEIPT`: return a receipt for the change instead of applying silently.
        const RECEIPT = 0x0040;
        /// `EV_DISPATCH`: disable the registration after each delivery.
        const DISPATCH = 0x0080;
        /// `EV_ERROR`: this is a receipt or error; `data` holds the errno value.
        const ERROR = 0x4000;
        /// `EV_EOF`: end of file, or the other side hung up.
        const EOF = 0x8000;
    }
}

bitflags! {
    /// `NOTE_*` flags of `EVFILT_VNODE`: what happened to a file or directory.
    ///
    /// The seven classic notes have the same value everywhere (libkqueue has no
    /// `REVOKE`). System-specific notes are named only on their system; bits
    /// this type does not name are kept, never dropped.
    ///
    /// Manual pages:
    /// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kqueue&sektion=2),
    /// [OpenBSD](https://man.openbsd.org/kqueue.2),
    /// [NetBSD](https://man.netbsd.org/kqueue.2),
    /// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kqueue.2.html).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct VnodeEvents: u32 {
        /// `NOTE_DELETE`: the file was unlinked.
        const DELETE = 0x0001;
        /// `NOTE_WRITE`: the contents changed (for a directory: an entry was
        /// added, removed or renamed).
        const WRITE = 0x0002;
        /// `NOTE_EXTEND`: the file grew.
        const EXTEND = 0x0004;
        /// `NOTE_ATTRIB`: attributes (mode, owner, times) changed.
        const ATTRIB = 0x0008;
        /// `NOTE_LINK`: the link count changed.
        const LINK = 0x0010;
        /// `NOTE_RENAME`: the file was renamed.
        const RENAME = 0x0020;
        /// `NOTE_REVOKE`: access was revoked, or the file system unmounted.
        #[cfg(not(userspace_kqueue))]
        const REVOKE = 0x0040;
        /// `NOTE_TRUNCATE`: the file was truncated (OpenBSD, libkqueue).
        #[cfg(any(kqueue_impl = "openbsd", kqueue_impl = "libkqueue"))]
        const TRUNCATE = 0x0080;
        /// `NOTE_OPEN`: the file was opened (FreeBSD).
        #[cfg(target_os = "freebsd")]
        const OPEN = 0x0080;
        /// `NOTE_CLOSE`: a descriptor without write access was closed (FreeBSD).
        #[cfg(target_os = "freebsd")]
        const CLOSE = 0x0100;
        /// `NOTE_CLOSE_WRITE`: a descriptor with write access was closed (FreeBSD).
        #[cfg(target_os = "freebsd")]
        const CLOSE_WRITE = 0x0200;
        /// `NOTE_READ`: the file was read (FreeBSD).
        #[cfg(target_os = "freebsd")]
        const READ = 0x0400;
    }
}

impl VnodeEvents {
    /// The notes a file watcher usually wants: every classic note (the seven
    /// notes of all systems, without `REVOKE` where it does not exist).
    pub const fn classic() -> VnodeEvents {
        VnodeEvents::from_bits_retain(
            VnodeEvents::DELETE.bits()
                | VnodeEvents::WRITE.bits()
                | VnodeEvents::EXTEND.bits()
                | VnodeEvents::ATTRIB.bits()
                | VnodeEvents::LINK.bits()
                | VnodeEvents::RENAME.bits()
                | REVOKE_BITS,
        )
    }
}

#[cfg(not(userspace_kqueue))]
const REVOKE_BITS: u32 = VnodeEvents::REVOKE.bits();
#[cfg(userspace_kqueue)]
const REVOKE_BITS: u32 = 0;
