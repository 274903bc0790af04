//! Raw FFI bindings to kqueue, the BSD/macOS kernel event notification
//! interface: `struct kevent` exactly as each system defines it, the
//! `EVFILT_*`, `EV_*` and `NOTE_*` constants, an `EV_SET` equivalent and the
//! `kqueue()`/`kevent()` declarations.
//!
//! This crate is a transcription of `<sys/event.h>`, with no logic. The safe
//! wrapper is the `kqueue` crate.
//!
//! # Layout
//!
//! [`layout`] holds one module per system, compiled on every host (so each
//! layout can be tested anywhere). The crate root re-exports the module of
//! the target system together with the extern declarations:
//!
//! | target                         | module                 |
//! |--------------------------------|------------------------|
//! | macOS, iOS, tvOS, watchOS, visionOS | [`layout::apple`] |
//! | FreeBSD 12 and later           | [`layout::freebsd`]    |
//! | OpenBSD                        | [`layout::openbsd`]    |
//! | NetBSD                         | [`layout::netbsd`]     |
//! | DragonFly                      | [`layout::dragonfly`]  |
//! | any other, feature `libkqueue` | [`layout::libkqueue`]  |
//!
//! On other targets without the `libkqueue` feature (Linux, by default) the
//! crate holds only [`layout`]. With the feature, the userspace library
//! libkqueue is linked, found with `pkg-config` (or a plain `-lkqueue`).
//!
//! On every kernel target, size, alignment, every field offset of `kevent`
//! and every constant that the `libc` crate also defines are checked against
//! `libc` at compile time.
//!
//! Manual pages:
//! [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kqueue&sektion=2),
//! [OpenBSD](https://man.openbsd.org/kqueue.2),
//! [NetBSD](https://man.netbsd.org/kqueue.2),
//! [DragonFly](https://man.dragonflybsd.org/?command=kqueue&section=2),
//! [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kqueue.2.html).
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

pub mod layout;

#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly",
    feature = "libkqueue",
))]
mod native;

#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly",
    feature = "libkqueue",
))]
pub use native::*;

#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly",
    feature = "libkqueue",
))]
mod check;
