//! macOS, iOS and the other Apple systems (`<sys/event.h>` from XNU).
//!
//! `struct kevent` is declared under `#pragma pack(4)`: its alignment is 4, so
//! its 8-byte fields (`ident`, `data`, `udata` on 64-bit systems) may sit at
//! addresses that are not multiples of 8. Copy fields out; never take a
//! reference to one.
//! `struct kevent64_s` is naturally aligned and carries two extension words.
//!
//! Manual page: [kqueue(2) on macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kqueue.2.html).

use core::ffi::{c_int, c_uint, c_void};

/// A kernel event, as passed to and returned by `kevent()` (packed to 4 bytes).
#[repr(C, packed(4))]
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

/// The 64-bit kernel event used with `kevent64()`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
#[allow(non_camel_case_types)]
pub struct kevent64_s {
    /// Identifier for this event.
    pub ident: u64,
    /// Filter for the event (`EVFILT_*`).
    pub filter: i16,
    /// Action and status flags (`EV_*`).
    pub flags: u16,
    /// Filter-specific flags (`NOTE_*`).
    pub fflags: u32,
    /// Filter-specific data.
    pub data: i64,
    /// Opaque user data, returned unchanged with each event.
    pub udata: u64,
    /// Filter-specific extensions.
    pub ext: [u64; 2],
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

/// `EV_SET64`: a `kevent64_s` with the given fields and extension words.
pub const fn ev_set64(
    ident: u64,
    filter: i16,
    flags: u16,
    fflags: u32,
    data: i64,
    udata: u64,
    ext: [u64; 2],
) -> kevent64_s {
    kevent64_s {
        ident,
        filter,
        flags,
        fflags,
        data,
        udata,
        ext,
    }
}

/// Opens a file for event notification only (`open(2)` flag): the open file
/// does not keep its volume from being unmounted.
pub const O_EVTONLY: c_int = 0x0000_8000;

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
/// Mach port sets.
pub const EVFILT_MACHPORT: i16 = -8;
/// File system events.
pub const EVFILT_FS: i16 = -9;
/// User-triggered events.
pub const EVFILT_USER: i16 = -10;
/// Virtual memory events.
pub const EVFILT_VM: i16 = -12;
/// Exceptional conditions (out-of-band data).
pub const EVFILT_EXCEPT: i16 = -15;
/// Number of filters, including private ones.
pub const EVFILT_SYSCOUNT: i16 = 17;

/// `kevent64()` flag: no flag.
pub const KEVENT_FLAG_NONE: c_uint = 0x000;
/// `kevent64()` flag: do not wait (zero timeout).
pub const KEVENT_FLAG_IMMEDIATE: c_uint = 0x001;
/// `kevent64()` flag: output events only include change errors.
pub const KEVENT_FLAG_ERROR_EVENTS: c_uint = 0x002;

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
/// One event per `udata` value.
pub const EV_UDATA_SPECIFIC: u16 = 0x0100;
/// `EV_DISPATCH | EV_UDATA_SPECIFIC`.
pub const EV_DISPATCH2: u16 = EV_DISPATCH | EV_UDATA_SPECIFIC;
/// Report that the source has vanished (only with `EV_DISPATCH2`).
pub const EV_VANISHED: u16 = 0x0200;
/// Flags reserved by the system.
pub const EV_SYSFLAGS: u16 = 0xF000;
/// Filter-specific flag 0.
pub const EV_FLAG0: u16 = 0x1000;
/// Filter-specific flag 1.
pub const EV_FLAG1: u16 = 0x2000;
/// `EVFILT_READ`: poll(2) semantics (alias of `EV_FLAG0`).
pub const EV_POLL: u16 = EV_FLAG0;
/// `EVFILT_READ`: out-of-band data (alias of `EV_FLAG1`).
pub const EV_OOBAND: u16 = EV_FLAG1;
/// End of file detected.
pub const EV_EOF: u16 = 0x8000;
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
/// Vnode: no specific event (tests `EVFILT_READ` activation).
pub const NOTE_NONE: u32 = 0x0000_0080;
/// Vnode: unlocked by `flock(2)`.
pub const NOTE_FUNLOCK: u32 = 0x0000_0100;
/// Vnode: lease downgrade requested.
pub const NOTE_LEASE_DOWNGRADE: u32 = 0x0000_0200;
/// Vnode: lease release requested.
pub const NOTE_LEASE_RELEASE: u32 = 0x0000_0400;

/// Process: exited.
pub const NOTE_EXIT: u32 = 0x8000_0000;
/// Process: forked.
pub const NOTE_FORK: u32 = 0x4000_0000;
/// Process: exec'd.
pub const NOTE_EXEC: u32 = 0x2000_0000;
/// Process: reaped (deprecated).
pub const NOTE_REAP: u32 = 0x1000_0000;
/// Process: signalled (shared with `EVFILT_SIGNAL`).
pub const NOTE_SIGNAL: u32 = 0x0800_0000;
/// Process: return the exit status.
pub const NOTE_EXITSTATUS: u32 = 0x0400_0000;
/// Process: provide details on the reason for exit.
pub const NOTE_EXIT_DETAIL: u32 = 0x0200_0000;
/// Process: mask for signal and exit status data.
pub const NOTE_PDATAMASK: u32 = 0x000F_FFFF;
/// Process: mask for control bits.
pub const NOTE_PCTRLMASK: u32 = !NOTE_PDATAMASK;
/// Process: exited while reparented (deprecated, no longer sent).
pub const NOTE_EXIT_REPARENTED: u32 = 0x0008_0000;
/// Process: mask of the exit detail bits.
pub const NOTE_EXIT_DETAIL_MASK: u32 = 0x0007_0000;
/// Process: exited because of a decryption failure.
pub const NOTE_EXIT_DECRYPTFAIL: u32 = 0x0001_0000;
/// Process: killed because of memory pressure.
pub const NOTE_EXIT_MEMORY: u32 = 0x0002_0000;
/// Process: killed because of a code signing error.
pub const NOTE_EXIT_CSERROR: u32 = 0x0004_0000;

/// VM: will react on memory pressure.
pub const NOTE_VM_PRESSURE: u32 = 0x8000_0000;
/// VM: will quit on memory pressure.
pub const NOTE_VM_PRESSURE_TERMINATE: u32 = 0x4000_0000;
/// VM: will quit immediately on memory pressure.
pub const NOTE_VM_PRESSURE_SUDDEN_TERMINATE: u32 = 0x2000_0000;
/// VM: there was an error.
pub const NOTE_VM_ERROR: u32 = 0x1000_0000;

/// Timer: `data` is in seconds (the default is milliseconds).
pub const NOTE_SECONDS: u32 = 0x0000_0001;
/// Timer: `data` is in microseconds.
pub const NOTE_USECONDS: u32 = 0x0000_0002;
/// Timer: `data` is in nanoseconds.
pub const NOTE_NSECONDS: u32 = 0x0000_0004;
/// Timer: absolute timeout (implies `EV_ONESHOT`).
pub const NOTE_ABSOLUTE: u32 = 0x0000_0008;
/// Timer: `ext[1]` holds the leeway.
pub const NOTE_LEEWAY: u32 = 0x0000_0010;
/// Timer: minimal coalescing.
pub const NOTE_CRITICAL: u32 = 0x0000_0020;
/// Timer: maximal coalescing.
pub const NOTE_BACKGROUND: u32 = 0x0000_0040;
/// Timer: keep ticking across sleep.
pub const NOTE_MACH_CONTINUOUS_TIME: u32 = 0x0000_0080;
/// Timer: `data` is in Mach absolute time units.
pub const NOTE_MACHTIME: u32 = 0x0000_0100;
