//! The event header and the sizes derived from it.

use core::mem::{align_of, size_of};

/// Header of one record read from an inotify file descriptor.
///
/// In the byte stream, `len` bytes of name follow the header: the name of the
/// entry inside a watched directory, NUL-terminated and padded with further
/// NULs (see [`IN_NAME_ALIGN`]); `len == 0` means there is no name. The C
/// declaration ends in a flexible array member `char name[]`, which has no
/// Rust equivalent and is therefore left out of this struct.
///
/// Man pages: [Linux inotify(7)](https://man7.org/linux/man-pages/man7/inotify.7.html),
/// [FreeBSD inotify(2)](https://man.freebsd.org/cgi/man.cgi?query=inotify&sektion=2).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct inotify_event {
    /// Watch descriptor the event belongs to, or -1 for [`IN_Q_OVERFLOW`](crate::IN_Q_OVERFLOW).
    pub wd: crate::c_int,
    /// Event bits, plus [`IN_ISDIR`](crate::IN_ISDIR) and the kernel-set flags.
    pub mask: u32,
    /// Pairs an [`IN_MOVED_FROM`](crate::IN_MOVED_FROM) with its
    /// [`IN_MOVED_TO`](crate::IN_MOVED_TO); 0 otherwise.
    pub cookie: u32,
    /// Number of name bytes that follow the header, padding NULs included.
    pub len: u32,
}

/// Longest file name in bytes, without the terminating NUL (`NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// Size of the [`inotify_event`] header in bytes.
pub const INOTIFY_EVENT_SIZE: usize = size_of::<inotify_event>();

/// Smallest read buffer that can hold any one event:
/// `sizeof(struct inotify_event) + NAME_MAX + 1` (272 bytes). A `read(2)` into a
/// smaller buffer can fail with `EINVAL`.
pub const INOTIFY_MIN_BUFFER_SIZE: usize = INOTIFY_EVENT_SIZE + NAME_MAX + 1;

/// The kernel pads `len` (name plus NUL) up to a multiple of this: Linux uses
/// `sizeof(struct inotify_event)` (16), FreeBSD `_Alignof(struct inotify_event)` (4).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub const IN_NAME_ALIGN: usize = size_of::<inotify_event>();

/// The kernel pads `len` (name plus NUL) up to a multiple of this: Linux uses
/// `sizeof(struct inotify_event)` (16), FreeBSD `_Alignof(struct inotify_event)` (4).
#[cfg(target_os = "freebsd")]
pub const IN_NAME_ALIGN: usize = align_of::<inotify_event>();

/// The `len` the kernel reports for a name of `name_len` bytes (NUL excluded):
/// 0 for no name, otherwise `name_len + 1` rounded up to [`IN_NAME_ALIGN`]
/// (FreeBSD's `_IN_NAMESIZE`). Useful for building test records.
pub const fn inotify_name_size(name_len: usize) -> usize {
    if name_len == 0 {
        0
    } else {
        (name_len + 1).div_ceil(IN_NAME_ALIGN) * IN_NAME_ALIGN
    }
}

/// Total size of a record with a name of `name_len` bytes: header plus
/// [`inotify_name_size`].
pub const fn inotify_record_size(name_len: usize) -> usize {
    INOTIFY_EVENT_SIZE + inotify_name_size(name_len)
}

// The layout every supported target must have, independent of libc.
static_assertions::const_assert_eq!(size_of::<inotify_event>(), 16);
static_assertions::const_assert_eq!(align_of::<inotify_event>(), 4);
static_assertions::const_assert_eq!(INOTIFY_MIN_BUFFER_SIZE, 272);

/// The header matches libc's `inotify_event` field by field.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod libc_layout {
    use super::inotify_event;
    use core::mem::offset_of;
    use static_assertions::{assert_eq_align, assert_eq_size, const_assert_eq};

    assert_eq_size!(inotify_event, libc::inotify_event);
    assert_eq_align!(inotify_event, libc::inotify_event);
    const_assert_eq!(
        offset_of!(inotify_event, wd),
        offset_of!(libc::inotify_event, wd)
    );
    const_assert_eq!(
        offset_of!(inotify_event, mask),
        offset_of!(libc::inotify_event, mask)
    );
    const_assert_eq!(
        offset_of!(inotify_event, cookie),
        offset_of!(libc::inotify_event, cookie)
    );
    const_assert_eq!(
        offset_of!(inotify_event, len),
        offset_of!(libc::inotify_event, len)
    );
    // Field types: a value of ours must be assignable to libc's field.
    const _: fn(inotify_event) -> libc::inotify_event = |e| libc::inotify_event {
        wd: e.wd,
        mask: e.mask,
        cookie: e.cookie,
        len: e.len,
    };
    const_assert_eq!(super::NAME_MAX, libc::NAME_MAX as usize);
}

#[cfg(target_os = "freebsd")]
mod libc_layout {
    // libc has no FreeBSD inotify_event yet; the size and alignment are
    // checked above, and NAME_MAX is checked here.
    static_assertions::const_assert_eq!(super::NAME_MAX, libc::NAME_MAX as usize);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_sizes_round_up_to_the_os_alignment() {
        assert_eq!(inotify_name_size(0), 0);
        assert_eq!(inotify_record_size(0), 16);
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            assert_eq!(IN_NAME_ALIGN, 16);
            assert_eq!(inotify_name_size(1), 16);
            assert_eq!(inotify_name_size(15), 16);
            assert_eq!(inotify_name_size(16), 32);
            assert_eq!(inotify_name_size(NAME_MAX), 256);
        }
        #[cfg(target_os = "freebsd")]
        {
            assert_eq!(IN_NAME_ALIGN, 4);
            assert_eq!(inotify_name_size(1), 4);
            assert_eq!(inotify_name_size(3), 4);
            assert_eq!(inotify_name_size(4), 8);
            assert_eq!(inotify_name_size(NAME_MAX), 256);
        }
        // The largest record always fits the minimum buffer.
        assert!(inotify_record_size(NAME_MAX) <= INOTIFY_MIN_BUFFER_SIZE);
    }
}
