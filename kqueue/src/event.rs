//! Decoded events.

use crate::flags::{EventFlags, Filter, Token, VnodeEvents};

/// One event returned by the kernel, copied out of its `kevent`.
///
/// Manual pages:
/// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kevent&sektion=2),
/// [OpenBSD](https://man.openbsd.org/kevent.2),
/// [NetBSD](https://man.netbsd.org/kevent.2),
/// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kevent.2.html).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    ident: usize,
    filter: Filter,
    flags: EventFlags,
    fflags: u32,
    data: i64,
    token: Token,
}

impl Event {
    pub(crate) const fn from_parts(
        ident: usize,
        filter: Filter,
        flags: EventFlags,
        fflags: u32,
        data: i64,
        token: Token,
    ) -> Event {
        Event {
            ident,
            filter,
            flags,
            fflags,
            data,
            token,
        }
    }

    /// The token of the registration that produced this event.
    pub const fn token(&self) -> Token {
        self.token
    }

    /// The identifier (descriptor, timer or user event number).
    pub const fn ident(&self) -> usize {
        self.ident
    }

    /// The filter; [`Filter::Unknown`] for one this crate does not name.
    pub const fn filter(&self) -> Filter {
        self.filter
    }

    /// The `EV_*` flags, every bit kept. libkqueue repeats the registration
    /// flags here: test single bits, not equality.
    pub const fn flags(&self) -> EventFlags {
        self.flags
    }

    /// The raw `NOTE_*` flags.
    pub const fn fflags(&self) -> u32 {
        self.fflags
    }

    /// The filter data: bytes available for read/write, expirations for a
    /// timer, an errno value with `EV_ERROR`.
    pub const fn data(&self) -> i64 {
        self.data
    }

    /// What happened to a file or directory, for a `Filter::Vnode` event
    /// (every bit kept, named or not); `None` for other filters.
    pub const fn vnode(&self) -> Option<VnodeEvents> {
        match self.filter {
            Filter::Vnode => Some(VnodeEvents::from_bits_retain(self.fflags)),
            _ => None,
        }
    }

    /// `EV_EOF` is set.
    pub const fn is_eof(&self) -> bool {
        self.flags.contains(EventFlags::EOF)
    }

    /// The errno value of an `EV_ERROR` event, if it reports a failure
    /// (a receipt with `data` 0 is a success).
    pub fn error(&self) -> Option<i32> {
        if self.flags.contains(EventFlags::ERROR) && self.data != 0 {
            Some(i32::try_from(self.data).unwrap_or(i32::MAX))
        } else {
            None
        }
    }
}
