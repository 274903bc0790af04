//! Compile-time proof that the target's layout and constants equal the
//! definitions of the `libc` crate, or, for libkqueue, which `libc` does not
//! describe, the values of libkqueue's installed header.
//!
//! Needs `libc` 0.2.191 or later: earlier releases lack some Apple constants
//! and had DragonFly's `EV_HUP` and `EV_SYSFLAGS` wrong.

use core::mem::{align_of, offset_of, size_of};

/// Asserts that two structs have the same size, alignment and field offsets.
#[allow(unused_macros)]
macro_rules! same_layout {
    ($ours:ty, $theirs:ty, [$($field:ident),* $(,)?] $(,)?) => {
        const _: () = {
            assert!(size_of::<$ours>() == size_of::<$theirs>(), "size differs from libc");
            assert!(align_of::<$ours>() == align_of::<$theirs>(), "alignment differs from libc");
            $(
                assert!(
                    offset_of!($ours, $field) == offset_of!($theirs, $field),
                    concat!("offset of `", stringify!($field), "` differs from libc"),
                );
            )*
        };
    };
}

/// Asserts that each constant has the same type and value as libc's.
#[allow(unused_macros)]
macro_rules! same_value {
    ($($name:ident),* $(,)?) => {
        const _: () = {
            $(
                assert!(
                    crate::$name == libc::$name,
                    concat!("`", stringify!($name), "` differs from libc"),
                );
            )*
        };
    };
}

/// Constants with the same names and values on every kernel target.
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly",
))]
mod common {
    use super::*;

    same_layout!(
        crate::kevent,
        libc::kevent,
        [ident, filter, flags, fflags, data, udata]
    );
    same_layout!(crate::timespec, libc::timespec, [tv_sec, tv_nsec]);
    same_value!(
        EVFILT_READ,
        EVFILT_WRITE,
        EVFILT_AIO,
        EVFILT_VNODE,
        EVFILT_PROC,
        EVFILT_SIGNAL,
        EVFILT_TIMER,
        EVFILT_USER,
        EV_ADD,
        EV_DELETE,
        EV_ENABLE,
        EV_DISABLE,
        EV_ONESHOT,
        EV_CLEAR,
        EV_RECEIPT,
        EV_DISPATCH,
        EV_FLAG1,
        EV_EOF,
        EV_ERROR,
        NOTE_TRIGGER,
        NOTE_FFNOP,
        NOTE_FFAND,
        NOTE_FFOR,
        NOTE_FFCOPY,
        NOTE_FFCTRLMASK,
        NOTE_FFLAGSMASK,
        NOTE_LOWAT,
        NOTE_DELETE,
        NOTE_WRITE,
        NOTE_EXTEND,
        NOTE_ATTRIB,
        NOTE_LINK,
        NOTE_RENAME,
        NOTE_REVOKE,
        NOTE_EXIT,
        NOTE_FORK,
        NOTE_EXEC,
        NOTE_PDATAMASK,
    );
}

#[cfg(target_vendor = "apple")]
mod apple {
    use super::*;

    same_layout!(
        crate::kevent64_s,
        libc::kevent64_s,
        [ident, filter, flags, fflags, data, udata, ext],
    );
    same_value!(
        EVFILT_EXCEPT,
        EV_UDATA_SPECIFIC,
        EV_DISPATCH2,
        EV_VANISHED,
        NOTE_OOB,
        NOTE_FUNLOCK,
        NOTE_LEASE_DOWNGRADE,
        NOTE_LEASE_RELEASE,
        EV_SYSFLAGS,
        O_EVTONLY,
        EVFILT_MACHPORT,
        EVFILT_FS,
        EVFILT_VM,
        EV_FLAG0,
        EV_POLL,
        EV_OOBAND,
        NOTE_NONE,
        NOTE_PCTRLMASK,
        NOTE_SIGNAL,
        NOTE_EXITSTATUS,
        NOTE_EXIT_DETAIL,
        NOTE_EXIT_DETAIL_MASK,
        NOTE_EXIT_DECRYPTFAIL,
        NOTE_EXIT_MEMORY,
        NOTE_EXIT_CSERROR,
        NOTE_VM_PRESSURE,
        NOTE_VM_PRESSURE_TERMINATE,
        NOTE_VM_PRESSURE_SUDDEN_TERMINATE,
        NOTE_VM_ERROR,
        NOTE_SECONDS,
        NOTE_USECONDS,
        NOTE_NSECONDS,
        NOTE_ABSOLUTE,
        NOTE_LEEWAY,
        NOTE_CRITICAL,
        NOTE_BACKGROUND,
        NOTE_MACH_CONTINUOUS_TIME,
        NOTE_MACHTIME,
    );
    #[cfg(target_pointer_width = "64")]
    const _: () = assert!(size_of::<crate::kevent>() == 32 && align_of::<crate::kevent>() == 4);
}

#[cfg(target_os = "freebsd")]
mod freebsd {
    use super::*;

    same_layout!(crate::kevent, libc::kevent, [ext]);
    same_value!(
        EV_SYSFLAGS,
        EVFILT_PROCDESC,
        EVFILT_FS,
        EVFILT_LIO,
        EVFILT_SENDFILE,
        EVFILT_EMPTY,
        EV_FORCEONESHOT,
        EV_KEEPUDATA,
        EV_DROP,
        EV_FLAG2,
        NOTE_FILE_POLL,
        NOTE_OPEN,
        NOTE_CLOSE,
        NOTE_CLOSE_WRITE,
        NOTE_READ,
        NOTE_TRACK,
        NOTE_TRACKERR,
        NOTE_CHILD,
        NOTE_SECONDS,
        NOTE_MSECONDS,
        NOTE_USECONDS,
        NOTE_NSECONDS,
        NOTE_ABSTIME,
    );
}

#[cfg(target_os = "openbsd")]
mod openbsd {
    same_value!(
        NOTE_PCTRLMASK,
        EVFILT_DEVICE,
        EVFILT_EXCEPT,
        NOTE_EOF,
        NOTE_OOB,
        NOTE_TRUNCATE,
        NOTE_TRACK,
        NOTE_TRACKERR,
        NOTE_CHILD,
        NOTE_CHANGE,
    );
}

#[cfg(target_os = "netbsd")]
mod netbsd {
    same_value!(
        EV_SYSFLAGS,
        NOTE_PCTRLMASK,
        EVFILT_FS,
        EVFILT_EMPTY,
        NOTE_TRACK,
        NOTE_TRACKERR,
        NOTE_CHILD,
        NOTE_MSECONDS,
        NOTE_SECONDS,
        NOTE_USECONDS,
        NOTE_NSECONDS,
        NOTE_ABSTIME,
    );
}

#[cfg(target_os = "dragonfly")]
mod dragonfly {
    same_value!(
        EV_HUP,
        EV_SYSFLAGS,
        NOTE_PCTRLMASK,
        EVFILT_EXCEPT,
        EVFILT_FS,
        EV_NODATA,
        NOTE_OOB,
        NOTE_TRACK,
        NOTE_TRACKERR,
        NOTE_CHILD,
    );
}

/// libkqueue: `libc` has no kqueue definitions for these targets, so the
/// values of the installed `<kqueue/sys/event.h>` are asserted directly.
#[cfg(not(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly",
)))]
mod libkqueue {
    use super::*;
    use crate::kevent;

    const PTR: usize = size_of::<usize>();
    const _: () = {
        assert!(size_of::<kevent>() == 4 * PTR);
        assert!(align_of::<kevent>() == PTR);
        assert!(offset_of!(kevent, ident) == 0);
        assert!(offset_of!(kevent, filter) == PTR);
        assert!(offset_of!(kevent, flags) == PTR + 2);
        assert!(offset_of!(kevent, fflags) == PTR + 4);
        assert!(offset_of!(kevent, data) == 2 * PTR);
        assert!(offset_of!(kevent, udata) == 3 * PTR);
        assert!(crate::EVFILT_VNODE == -4);
        assert!(crate::EVFILT_USER == -11);
        assert!(crate::NOTE_TRUNCATE == 0x80);
    };
    same_layout!(crate::timespec, libc::timespec, [tv_sec, tv_nsec]);
}
