//! The target's layout and the extern declarations.

#[cfg(target_vendor = "apple")]
pub use crate::layout::apple::*;
#[cfg(target_os = "dragonfly")]
pub use crate::layout::dragonfly::*;
#[cfg(target_os = "freebsd")]
pub use crate::layout::freebsd::*;
#[cfg(not(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly",
)))]
pub use crate::layout::libkqueue::*;
#[cfg(target_os = "netbsd")]
pub use crate::layout::netbsd::*;
#[cfg(target_os = "openbsd")]
pub use crate::layout::openbsd::*;

/// `struct timespec`, the timeout type of `kevent()`.
pub use libc::timespec;

use core::ffi::c_int;

unsafe extern "C" {
    /// Creates a new kqueue and returns its descriptor, or -1 with `errno` set.
    ///
    /// The descriptor is not inherited by `fork(2)` children on the BSDs and
    /// macOS, but is kept across `execve(2)` unless close-on-exec is set.
    ///
    /// Manual pages:
    /// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kqueue&sektion=2),
    /// [OpenBSD](https://man.openbsd.org/kqueue.2),
    /// [NetBSD](https://man.netbsd.org/kqueue.2),
    /// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kqueue.2.html).
    pub safe fn kqueue() -> c_int;

    /// Creates a new kqueue with `flags` (`KQUEUE_CLOEXEC`) (FreeBSD 14).
    ///
    /// Manual page: [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kqueuex&sektion=2).
    #[cfg(target_os = "freebsd")]
    pub safe fn kqueuex(flags: core::ffi::c_uint) -> c_int;

    /// Creates a new kqueue with `open(2)` flags (`O_CLOEXEC`, `O_NOSIGPIPE`).
    ///
    /// Manual page: [NetBSD](https://man.netbsd.org/kqueue1.2).
    #[cfg(target_os = "netbsd")]
    pub safe fn kqueue1(flags: c_int) -> c_int;

    /// Applies `nchanges` changes from `changelist`, then waits up to
    /// `timeout` (forever if null) for events and stores up to `nevents` of
    /// them in `eventlist`. Returns the number of events stored, or -1 with
    /// `errno` set. `changelist` and `eventlist` may be the same array.
    ///
    /// # Safety
    ///
    /// `changelist` must point to `nchanges` readable `kevent`s and
    /// `eventlist` to `nevents` writable ones (either may be null when its
    /// count is zero); `timeout` must be null or point to a valid `timespec`.
    ///
    /// Manual pages:
    /// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kevent&sektion=2),
    /// [OpenBSD](https://man.openbsd.org/kevent.2),
    /// [NetBSD](https://man.netbsd.org/kevent.2),
    /// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kevent.2.html).
    #[cfg(not(target_os = "netbsd"))]
    pub fn kevent(
        kq: c_int,
        changelist: *const kevent,
        nchanges: c_int,
        eventlist: *mut kevent,
        nevents: c_int,
        timeout: *const timespec,
    ) -> c_int;

    /// Applies `nchanges` changes from `changelist`, then waits up to
    /// `timeout` (forever if null) for events and stores up to `nevents` of
    /// them in `eventlist`. Returns the number of events stored, or -1 with
    /// `errno` set. `changelist` and `eventlist` may be the same array.
    ///
    /// NetBSD takes `size_t` counts and exports this version as `__kevent50`.
    ///
    /// # Safety
    ///
    /// `changelist` must point to `nchanges` readable `kevent`s and
    /// `eventlist` to `nevents` writable ones (either may be null when its
    /// count is zero); `timeout` must be null or point to a valid `timespec`.
    ///
    /// Manual page: [NetBSD](https://man.netbsd.org/kevent.2).
    #[cfg(target_os = "netbsd")]
    #[link_name = "__kevent50"]
    pub fn kevent(
        kq: c_int,
        changelist: *const kevent,
        nchanges: usize,
        eventlist: *mut kevent,
        nevents: usize,
        timeout: *const timespec,
    ) -> c_int;

    /// Like `kevent()` with the 64-bit `kevent64_s` and `KEVENT_FLAG_*` flags.
    ///
    /// # Safety
    ///
    /// As for `kevent()`.
    ///
    /// Manual page: [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kevent64.2.html).
    #[cfg(target_vendor = "apple")]
    pub fn kevent64(
        kq: c_int,
        changelist: *const kevent64_s,
        nchanges: c_int,
        eventlist: *mut kevent64_s,
        nevents: c_int,
        flags: core::ffi::c_uint,
        timeout: *const timespec,
    ) -> c_int;
}
