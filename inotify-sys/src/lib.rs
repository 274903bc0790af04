//! Raw FFI bindings to inotify, transcribed from the C headers.
//!
//! * Linux and Android: `<sys/inotify.h>` / `uapi/linux/inotify.h`, see
//!   [inotify(7)](https://man7.org/linux/man-pages/man7/inotify.7.html).
//! * FreeBSD 15 and later: `<sys/inotify.h>`, see
//!   [inotify(2)](https://man.freebsd.org/cgi/man.cgi?query=inotify&sektion=2).
//!   The event bits are the same as Linux, but `IN_CLOEXEC`/`IN_NONBLOCK`
//!   follow FreeBSD's `O_CLOEXEC`/`O_NONBLOCK`, and names are padded to the
//!   4-byte alignment of [`inotify_event`] instead of its 16-byte size.
//!
//! This crate holds no logic: a `#[repr(C)]` event header, the `IN_*`
//! constants, the extern declarations and two `const fn` layout helpers. Every
//! item that `libc` also defines is asserted equal to libc's definition at
//! compile time (size, alignment, field offsets, constant values, function
//! signatures).
#![no_std]
#![deny(missing_docs)]
#![allow(non_camel_case_types)]

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
compile_error!("inotify-sys supports Linux, Android and FreeBSD (15 and later) only");

pub use libc::{c_char, c_int};

mod consts;
mod layout;

pub use consts::*;
pub use layout::*;

unsafe extern "C" {
    /// Creates an inotify instance (obsolete form of [`inotify_init1`] with
    /// `flags == 0`).
    ///
    /// Man pages: [Linux inotify_init(2)](https://man7.org/linux/man-pages/man2/inotify_init.2.html),
    /// [FreeBSD inotify(2)](https://man.freebsd.org/cgi/man.cgi?query=inotify&sektion=2).
    pub fn inotify_init() -> c_int;

    /// Creates an inotify instance and returns its file descriptor, or -1 and
    /// sets `errno`. `flags` is a combination of [`IN_CLOEXEC`] and
    /// [`IN_NONBLOCK`].
    ///
    /// Man pages: [Linux inotify_init1(2)](https://man7.org/linux/man-pages/man2/inotify_init1.2.html),
    /// [FreeBSD inotify(2)](https://man.freebsd.org/cgi/man.cgi?query=inotify&sektion=2).
    pub fn inotify_init1(flags: c_int) -> c_int;

    /// Adds or modifies a watch on the NUL-terminated `pathname`; returns the
    /// watch descriptor, or -1 and sets `errno`.
    ///
    /// Man pages: [Linux inotify_add_watch(2)](https://man7.org/linux/man-pages/man2/inotify_add_watch.2.html),
    /// [FreeBSD inotify(2)](https://man.freebsd.org/cgi/man.cgi?query=inotify&sektion=2).
    pub fn inotify_add_watch(fd: c_int, pathname: *const c_char, mask: u32) -> c_int;

    /// Like [`inotify_add_watch`], with a relative `pathname` resolved against
    /// the directory `dfd` (FreeBSD only).
    ///
    /// Man page: [FreeBSD inotify(2)](https://man.freebsd.org/cgi/man.cgi?query=inotify&sektion=2).
    #[cfg(target_os = "freebsd")]
    pub fn inotify_add_watch_at(fd: c_int, dfd: c_int, pathname: *const c_char, mask: u32)
    -> c_int;

    /// Removes the watch `wd`; returns 0, or -1 and sets `errno`. The kernel
    /// then queues an [`IN_IGNORED`] event for it.
    ///
    /// Man pages: [Linux inotify_rm_watch(2)](https://man7.org/linux/man-pages/man2/inotify_rm_watch.2.html),
    /// [FreeBSD inotify(2)](https://man.freebsd.org/cgi/man.cgi?query=inotify&sektion=2).
    #[cfg(not(target_os = "android"))]
    pub fn inotify_rm_watch(fd: c_int, wd: c_int) -> c_int;

    /// Removes the watch `wd`; returns 0, or -1 and sets `errno`. Bionic
    /// declares the descriptor unsigned.
    ///
    /// Man page: [Linux inotify_rm_watch(2)](https://man7.org/linux/man-pages/man2/inotify_rm_watch.2.html).
    #[cfg(target_os = "android")]
    pub fn inotify_rm_watch(fd: c_int, wd: u32) -> c_int;
}

/// Compile-time proof that the declarations above have libc's signatures.
#[cfg(any(target_os = "linux", target_os = "android"))]
const _: () = {
    let _: unsafe extern "C" fn() -> c_int = libc::inotify_init;
    let _: unsafe extern "C" fn() -> c_int = inotify_init;
    let _: unsafe extern "C" fn(c_int) -> c_int = libc::inotify_init1;
    let _: unsafe extern "C" fn(c_int) -> c_int = inotify_init1;
    let _: unsafe extern "C" fn(c_int, *const c_char, u32) -> c_int = libc::inotify_add_watch;
    let _: unsafe extern "C" fn(c_int, *const c_char, u32) -> c_int = inotify_add_watch;
};
#[cfg(target_os = "linux")]
const _: () = {
    let _: unsafe extern "C" fn(c_int, c_int) -> c_int = libc::inotify_rm_watch;
    let _: unsafe extern "C" fn(c_int, c_int) -> c_int = inotify_rm_watch;
};
#[cfg(target_os = "android")]
const _: () = {
    let _: unsafe extern "C" fn(c_int, u32) -> c_int = libc::inotify_rm_watch;
    let _: unsafe extern "C" fn(c_int, u32) -> c_int = inotify_rm_watch;
};
