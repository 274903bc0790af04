//! Registrations: what to ask the kernel for, before encoding.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use crate::flags::{EventFlags, Filter, Token, VnodeEvents};

/// `NOTE_TRIGGER`, the same on every system.
const NOTE_TRIGGER: u32 = 0x0100_0000;

/// One change to a kqueue's registrations (one `kevent` of a change list).
///
/// Build one with a constructor ([`Change::vnode`], [`Change::read`],
/// [`Change::timer`], [`Change::user`], ...) and adjust it with the `with_*`
/// methods; push it onto a change batch to submit it.
///
/// Manual pages:
/// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kevent&sektion=2),
/// [OpenBSD](https://man.openbsd.org/kevent.2),
/// [NetBSD](https://man.netbsd.org/kevent.2),
/// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kevent.2.html).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    ident: usize,
    filter: Filter,
    flags: EventFlags,
    fflags: u32,
    data: i64,
    token: Token,
}

fn fd_ident(fd: BorrowedFd<'_>) -> usize {
    // A borrowed descriptor is never negative.
    usize::try_from(fd.as_raw_fd()).unwrap_or(usize::MAX)
}

impl Change {
    /// A change from raw parts: `ident`, `filter`, `EV_*` flags, `NOTE_*`
    /// flags, filter data and the token to return with its events.
    ///
    /// Use this for what the other constructors do not cover, for example a
    /// raw descriptor number.
    pub const fn new(
        ident: usize,
        filter: Filter,
        flags: EventFlags,
        fflags: u32,
        data: i64,
        token: Token,
    ) -> Change {
        Change {
            ident,
            filter,
            flags,
            fflags,
            data,
            token,
        }
    }

    /// Watch the file or directory open on `fd` for `interest`
    /// (`EVFILT_VNODE`, `EV_ADD | EV_CLEAR`: each change is reported once).
    pub fn vnode(fd: BorrowedFd<'_>, interest: VnodeEvents, token: Token) -> Change {
        Change::new(
            fd_ident(fd),
            Filter::Vnode,
            EventFlags::ADD.union(EventFlags::CLEAR),
            interest.bits(),
            0,
            token,
        )
    }

    /// Report when `fd` is readable (`EVFILT_READ`, `EV_ADD`, level-triggered).
    pub fn read(fd: BorrowedFd<'_>, token: Token) -> Change {
        Change::new(fd_ident(fd), Filter::Read, EventFlags::ADD, 0, 0, token)
    }

    /// Report when `fd` is writable (`EVFILT_WRITE`, `EV_ADD`, level-triggered).
    pub fn write(fd: BorrowedFd<'_>, token: Token) -> Change {
        Change::new(fd_ident(fd), Filter::Write, EventFlags::ADD, 0, 0, token)
    }

    /// A periodic timer named `ident` firing every `period` (`EVFILT_TIMER`).
    ///
    /// The period is passed in milliseconds, the default unit on every
    /// system: it is rounded up to a whole millisecond (at least 1) and
    /// clamped to `i64::MAX` milliseconds. The event's `data` is the number
    /// of expirations since the last report.
    pub fn timer(ident: usize, period: Duration, token: Token) -> Change {
        Change::new(
            ident,
            Filter::Timer,
            EventFlags::ADD,
            0,
            duration_to_millis(period),
            token,
        )
    }

    /// A timer named `ident` that fires once after `delay`, then is removed
    /// (`EV_ONESHOT`); the delay is rounded like [`Change::timer`]'s.
    pub fn timer_once(ident: usize, delay: Duration, token: Token) -> Change {
        Change::timer(ident, delay, token).with_flags(EventFlags::ADD.union(EventFlags::ONESHOT))
    }

    /// A user event named `ident` (`EVFILT_USER`, `EV_ADD | EV_CLEAR`), fired
    /// with [`Change::trigger`]; used to wake a thread blocked in a wait.
    pub fn user(ident: usize, token: Token) -> Change {
        Change::new(
            ident,
            Filter::User,
            EventFlags::ADD.union(EventFlags::CLEAR),
            0,
            0,
            token,
        )
    }

    /// Fire the user event named `ident` (`NOTE_TRIGGER`).
    ///
    /// Pass the token it was registered with: a modification replaces the
    /// stored `udata` on FreeBSD, macOS and libkqueue.
    pub fn trigger(ident: usize, token: Token) -> Change {
        Change::new(
            ident,
            Filter::User,
            EventFlags::empty(),
            NOTE_TRIGGER,
            0,
            token,
        )
    }

    /// The change that removes this registration (`EV_DELETE`, same ident
    /// and filter).
    pub const fn to_delete(self) -> Change {
        Change::new(
            self.ident,
            self.filter,
            EventFlags::DELETE,
            0,
            0,
            self.token,
        )
    }

    /// This change with its `EV_*` flags replaced.
    pub const fn with_flags(mut self, flags: EventFlags) -> Change {
        self.flags = flags;
        self
    }

    /// This change with its `NOTE_*` flags replaced.
    pub const fn with_fflags(mut self, fflags: u32) -> Change {
        self.fflags = fflags;
        self
    }

    /// This change with its filter data replaced.
    pub const fn with_data(mut self, data: i64) -> Change {
        self.data = data;
        self
    }

    /// This change with its token replaced.
    pub const fn with_token(mut self, token: Token) -> Change {
        self.token = token;
        self
    }

    /// The identifier (descriptor, timer or user event number).
    pub const fn ident(&self) -> usize {
        self.ident
    }

    /// The filter.
    pub const fn filter(&self) -> Filter {
        self.filter
    }

    /// The `EV_*` flags.
    pub const fn flags(&self) -> EventFlags {
        self.flags
    }

    /// The `NOTE_*` flags.
    pub const fn fflags(&self) -> u32 {
        self.fflags
    }

    /// The filter data.
    pub const fn data(&self) -> i64 {
        self.data
    }

    /// The token returned with this registration's events.
    pub const fn token(&self) -> Token {
        self.token
    }
}

/// Milliseconds, rounded up to at least 1, clamped to `i64::MAX`.
fn duration_to_millis(d: Duration) -> i64 {
    let nanos = d.as_nanos();
    let millis = nanos.div_ceil(1_000_000).max(1);
    i64::try_from(millis).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_periods_round_up_to_whole_milliseconds() {
        assert_eq!(duration_to_millis(Duration::ZERO), 1);
        assert_eq!(duration_to_millis(Duration::from_nanos(1)), 1);
        assert_eq!(duration_to_millis(Duration::from_millis(5)), 5);
        assert_eq!(duration_to_millis(Duration::from_micros(5001)), 6);
        assert_eq!(duration_to_millis(Duration::MAX), i64::MAX);
    }

    #[test]
    fn delete_keeps_ident_and_filter_and_drops_interest() {
        let c = Change::new(9, Filter::Vnode, EventFlags::ADD, 0x2, 0, Token(3)).to_delete();
        assert_eq!(c.ident(), 9);
        assert_eq!(c.filter(), Filter::Vnode);
        assert_eq!(c.flags(), EventFlags::DELETE);
        assert_eq!(c.fflags(), 0);
    }

    #[test]
    fn trigger_sets_note_trigger_without_adding() {
        let c = Change::trigger(4, Token(2));
        assert_eq!(c.filter(), Filter::User);
        assert!(c.flags().is_empty());
        assert_eq!(c.fflags(), NOTE_TRIGGER);
        assert_eq!(c.token(), Token(2));
        assert_eq!(c.token(), Token(2));
    }
}
