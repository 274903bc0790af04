//! FreeBSD 11 and earlier (`<sys/event.h>` before the 64-bit `data` change).
//!
//! Kept so that records written by old systems (and the compatibility
//! symbol `kevent@FBSD_1.0`) can be decoded; the constants did not change
//! and are those of [`super::freebsd`]. The crate never links against this
//! layout.
//!
//! Manual page: [kqueue(2) on FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kqueue&sektion=2&manpath=FreeBSD+11.4-RELEASE).

use core::ffi::c_void;

/// A kernel event in the FreeBSD 11 layout (`intptr_t data`, no `ext`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(non_camel_case_types)]
pub struct kevent {
    /// Identifier for this event: a file descriptor, pid, signal or user id.
    pub ident: usize,
    /// Filter for the event (`EVFILT_*`).
    pub filter: i16,
    /// Action and status flags (`EV_*`).
    pub flags: u16,
    /// Filter-specific flags (`NOTE_*`).
    pub fflags: u32,
    /// Filter-specific data (`intptr_t`).
    pub data: isize,
    /// Opaque user data, returned unchanged with each event.
    pub udata: *mut c_void,
}

/// `EV_SET`: a `kevent` with the given fields.
pub const fn ev_set(
    ident: usize,
    filter: i16,
    flags: u16,
    fflags: u32,
    data: isize,
    udata: *mut c_void,
) -> kevent {
    kevent {
        ident,
        filter,
        flags,
        fflags,
        data,
        udata,
    }
}
