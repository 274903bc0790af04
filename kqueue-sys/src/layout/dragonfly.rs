//! DragonFly BSD (`<sys/event.h>`).
//!
//! Manual page: [kqueue(2) on DragonFly](https://man.dragonflybsd.org/?command=kqueue&section=2).

use core::ffi::c_void;

/// A kernel event, as passed to and returned by `kevent()`.
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

/// Read readiness.
pub const EVFILT_READ: i16 = -1;
/// Write readiness.
pub const EVFILT_WRITE: i16 = -2;
/// Asynchronous I/O requests.
pub const EVFILT_AIO: i16 = -3;
/// Changes to a vnode (file or directory) behind a descriptor.
pub const EVFILT_VNODE: i16 = -4;
/// Process events.
pub const EVFILT_PROC: i16 = -5;
/// Signal delivery.
pub const EVFILT_SIGNAL: i16 = -6;
/// Timers.
pub const EVFILT_TIMER: i16 = -7;
/// Exceptional conditions.
pub const EVFILT_EXCEPT: i16 = -8;
/// User-triggered events.
pub const EVFILT_USER: i16 = -9;
/// File system events.
pub const EVFILT_FS: i16 = -10;
/// Number of filters.
pub const EVFILT_SYSCOUNT: i16 = 10;

/// Add the event to the kqueue (implies `EV_ENABLE`).
pub const EV_ADD: u16 = 0x0001;
/// Delete the event from the kqueue.
pub const EV_DELETE: u16 = 0x0002;
/// Enable the event.
pub const EV_ENABLE: u16 = 0x0004;
/// Disable the event (it is not reported).
pub const EV_DISABLE: u16 = 0x0008;
/// Report only one occurrence.
pub const EV_ONESHOT: u16 = 0x0010;
/// Clear the event state after it is reported.
pub const EV_CLEAR: u16 = 0x0020;
/// Return a receipt (`EV_ERROR`, `data` = 0 or errno) for each change.
pub const EV_RECEIPT: u16 = 0x0040;
/// Disable the event after it is reported.
pub const EV_DISPATCH: u16 = 0x0080;
/// Flags reserved by the system.
pub const EV_SYSFLAGS: u16 = 0xF800;
/// No data is pending (with `EV_EOF`).
pub const EV_NODATA: u16 = 0x1000;
/// Filter-specific flag 1.
pub const EV_FLAG1: u16 = 0x2000;
/// End of file detected.
pub const EV_EOF: u16 = 0x8000;
/// Complete hang-up.
pub const EV_HUP: u16 = 0x0800;
/// Error; `data` holds the errno value.
pub const EV_ERROR: u16 = 0x4000;

/// `EVFILT_USER`: trigger the event.
pub const NOTE_TRIGGER: u32 = 0x0100_0000;
/// `EVFILT_USER`: ignore the input flags.
pub const NOTE_FFNOP: u32 = 0x0000_0000;
/// `EVFILT_USER`: AND the input flags into the stored ones.
pub const NOTE_FFAND: u32 = 0x4000_0000;
/// `EVFILT_USER`: OR the input flags into the stored ones.
pub const NOTE_FFOR: u32 = 0x8000_0000;
/// `EVFILT_USER`: copy the input flags.
pub const NOTE_FFCOPY: u32 = 0xC000_0000;
/// `EVFILT_USER`: mask of the operation bits.
pub const NOTE_FFCTRLMASK: u32 = 0xC000_0000;
/// `EVFILT_USER`: mask of the user flag bits.
pub const NOTE_FFLAGSMASK: u32 = 0x00FF_FFFF;

/// `EVFILT_READ`/`EVFILT_WRITE`: `data` holds a low-water mark.
pub const NOTE_LOWAT: u32 = 0x0000_0001;
/// `EVFILT_EXCEPT`: out-of-band data.
pub const NOTE_OOB: u32 = 0x0000_0002;

/// Vnode: the file was removed.
pub const NOTE_DELETE: u32 = 0x0000_0001;
/// Vnode: contents changed.
pub const NOTE_WRITE: u32 = 0x0000_0002;
/// Vnode: size increased.
pub const NOTE_EXTEND: u32 = 0x0000_0004;
/// Vnode: attributes changed.
pub const NOTE_ATTRIB: u32 = 0x0000_0008;
/// Vnode: link count changed.
pub const NOTE_LINK: u32 = 0x0000_0010;
/// Vnode: the file was renamed.
pub const NOTE_RENAME: u32 = 0x0000_0020;
/// Vnode: access was revoked (or the file system unmounted).
pub const NOTE_REVOKE: u32 = 0x0000_0040;

/// Process: exited.
pub const NOTE_EXIT: u32 = 0x8000_0000;
/// Process: forked.
pub const NOTE_FORK: u32 = 0x4000_0000;
/// Process: exec'd.
pub const NOTE_EXEC: u32 = 0x2000_0000;
/// Process: mask for control bits.
pub const NOTE_PCTRLMASK: u32 = 0xF000_0000;
/// Process: mask for the pid.
pub const NOTE_PDATAMASK: u32 = 0x000F_FFFF;
/// Process: follow across forks.
pub const NOTE_TRACK: u32 = 0x0000_0001;
/// Process: could not track a child.
pub const NOTE_TRACKERR: u32 = 0x0000_0002;
/// Process: this is a tracked child.
pub const NOTE_CHILD: u32 = 0x0000_0004;
