//! Per-OS transcriptions of `<sys/event.h>`: the `struct kevent` layout, its
//! constants and an `EV_SET` equivalent, one module per system.
//!
//! Every module is compiled on every host so that each layout can be unit
//! tested anywhere; the crate root re-exports the module that matches the
//! target (see the crate documentation). Field types are the raw C integer
//! types, never Rust enums or flag types: the kernel may return any value.
//!
//! Manual pages:
//! [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kqueue&sektion=2),
//! [OpenBSD](https://man.openbsd.org/kqueue.2),
//! [NetBSD](https://man.netbsd.org/kqueue.2),
//! [DragonFly](https://man.dragonflybsd.org/?command=kqueue&section=2),
//! [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kqueue.2.html).

pub mod apple;
pub mod dragonfly;
pub mod freebsd;
pub mod freebsd11;
pub mod libkqueue;
pub mod netbsd;
pub mod openbsd;

#[cfg(test)]
mod tests;
