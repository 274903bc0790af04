//! One description per `struct kevent` layout: how a [`Change`] is encoded
//! into it and how an [`Event`] is decoded from it.
//!
//! Every layout is compiled on every host, so encoding and decoding are unit
//! tested for all systems; [`Native`] names the target's own layout.

use core::ptr;

use crate::change::Change;
use crate::event::Event;
use crate::flags::{EventFlags, Filter, Token};

/// The fields of a `kevent`, widened to types that hold every system's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fields {
    pub(crate) ident: usize,
    pub(crate) filter: i32,
    pub(crate) flags: u32,
    pub(crate) fflags: u32,
    pub(crate) data: i64,
    pub(crate) udata: usize,
}

/// A `struct kevent` layout and the filter numbers of its system.
pub(crate) trait Abi {
    /// The system's `struct kevent`.
    type Kevent: Copy;
    /// The `EVFILT_*` numbers, in the order of [`Filter`]'s named variants.
    const FILTERS: [(Filter, i32); 8];

    /// `EV_SET`, from widened fields (out-of-range values become invalid ones,
    /// which the kernel rejects).
    fn encode_fields(f: Fields) -> Self::Kevent;
    /// Copies the fields out (the macOS struct is packed: no references).
    fn decode_fields(k: &Self::Kevent) -> Fields;

    /// The raw filter number of `filter`.
    fn filter_number(filter: Filter) -> i32 {
        match filter {
            Filter::Unknown(raw) => raw,
            named => Self::FILTERS
                .iter()
                .find(|(f, _)| *f == named)
                .map_or(i32::MIN, |(_, raw)| *raw),
        }
    }

    /// The filter named by a raw number.
    fn filter_from_number(raw: i32) -> Filter {
        Self::FILTERS
            .iter()
            .find(|(_, n)| *n == raw)
            .map_or(Filter::Unknown(raw), |(f, _)| *f)
    }

    /// Encodes a change.
    fn encode(change: &Change) -> Self::Kevent {
        Self::encode_fields(Fields {
            ident: change.ident(),
            filter: Self::filter_number(change.filter()),
            flags: change.flags().bits(),
            fflags: change.fflags(),
            data: change.data(),
            udata: change.token().0,
        })
    }

    /// Decodes an event, keeping every bit.
    fn decode(k: &Self::Kevent) -> Event {
        let f = Self::decode_fields(k);
        Event::from_parts(
            f.ident,
            Self::filter_from_number(f.filter),
            EventFlags::from_bits_retain(f.flags),
            f.fflags,
            f.data,
            Token(f.udata),
        )
    }
}

fn clamp_isize(v: i64) -> isize {
    isize::try_from(v).unwrap_or(if v < 0 { isize::MIN } else { isize::MAX })
}

fn widen_isize(v: isize) -> i64 {
    // isize is at most 64 bits on every supported target.
    v as i64
}

fn narrow_filter(v: i32) -> i16 {
    // An out-of-range filter becomes i16::MIN, which no system defines.
    i16::try_from(v).unwrap_or(i16::MIN)
}

fn narrow_flags(v: u32) -> u16 {
    // Bits above 16 do not exist in a 16-bit flags field; drop them.
    (v & 0xFFFF) as u16
}

macro_rules! filters {
    ($m:ident) => {
        [
            (Filter::Read, kqueue_sys::layout::$m::EVFILT_READ as i32),
            (Filter::Write, kqueue_sys::layout::$m::EVFILT_WRITE as i32),
            (Filter::Aio, kqueue_sys::layout::$m::EVFILT_AIO as i32),
            (Filter::Vnode, kqueue_sys::layout::$m::EVFILT_VNODE as i32),
            (Filter::Proc, kqueue_sys::layout::$m::EVFILT_PROC as i32),
            (Filter::Signal, kqueue_sys::layout::$m::EVFILT_SIGNAL as i32),
            (Filter::Timer, kqueue_sys::layout::$m::EVFILT_TIMER as i32),
            (Filter::User, kqueue_sys::layout::$m::EVFILT_USER as i32),
        ]
    };
}

/// Layouts with `i16` filter and `u16` flags (all but NetBSD).
macro_rules! short_abi {
    ($(#[$doc:meta])* $name:ident, $m:ident, data: $data:expr, $widen:expr) => {
        short_abi!($(#[$doc])* $name, $m, filters: $m, data: $data, $widen);
    };
    ($(#[$doc:meta])* $name:ident, $m:ident, filters: $f:ident, data: $data:expr, $widen:expr) => {
        $(#[$doc])*
        #[cfg_attr(not(test), allow(dead_code))]
        pub(crate) struct $name;

        impl Abi for $name {
            type Kevent = kqueue_sys::layout::$m::kevent;
            const FILTERS: [(Filter, i32); 8] = filters!($f);

            fn encode_fields(f: Fields) -> Self::Kevent {
                kqueue_sys::layout::$m::ev_set(
                    f.ident,
                    narrow_filter(f.filter),
                    narrow_flags(f.flags),
                    f.fflags,
                    $data(f.data),
                    ptr::without_provenance_mut(f.udata),
                )
            }

            fn decode_fields(k: &Self::Kevent) -> Fields {
                let k = *k;
                Fields {
                    ident: k.ident,
                    filter: i32::from(k.filter),
                    flags: u32::from(k.flags),
                    fflags: k.fflags,
                    data: $widen(k.data),
                    udata: k.udata.addr(),
                }
            }
        }
    };
}

short_abi!(
    /// macOS and the other Apple systems (packed, `intptr_t data`).
    Apple, apple, data: clamp_isize, widen_isize
);
short_abi!(
    /// FreeBSD 12 and later (`int64_t data`, `ext[4]`).
    FreeBsd, freebsd, data: core::convert::identity, core::convert::identity
);
short_abi!(
    /// FreeBSD 11 and earlier (`intptr_t data`, no `ext`; FreeBSD's numbers).
    FreeBsd11,
    freebsd11,
    filters: freebsd,
    data: clamp_isize,
    widen_isize
);
short_abi!(
    /// OpenBSD (`int64_t data`).
    OpenBsd, openbsd, data: core::convert::identity, core::convert::identity
);
short_abi!(
    /// DragonFly (`intptr_t data`).
    DragonFly, dragonfly, data: clamp_isize, widen_isize
);
short_abi!(
    /// libkqueue (`intptr_t data`, its own filter numbers).
    LibKqueue, libkqueue, data: clamp_isize, widen_isize
);

/// NetBSD (`uint32_t` filter and flags, `int64_t data`).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct NetBsd;

impl Abi for NetBsd {
    type Kevent = kqueue_sys::layout::netbsd::kevent;
    const FILTERS: [(Filter, i32); 8] = filters!(netbsd);

    fn encode_fields(f: Fields) -> Self::Kevent {
        kqueue_sys::layout::netbsd::ev_set(
            f.ident,
            // Filter numbers are unsigned here; a negative one wraps to a
            // huge, undefined filter that the kernel rejects.
            f.filter as u32,
            f.flags,
            f.fflags,
            f.data,
            ptr::without_provenance_mut(f.udata),
        )
    }

    fn decode_fields(k: &Self::Kevent) -> Fields {
        let k = *k;
        Fields {
            ident: k.ident,
            // Reinterpreted, so that encoding gives the same number back.
            filter: k.filter as i32,
            flags: k.flags,
            fflags: k.fflags,
            data: k.data,
            udata: k.udata.addr(),
        }
    }
}

#[cfg(kqueue_impl = "apple")]
pub(crate) type Native = Apple;
#[cfg(kqueue_impl = "freebsd")]
pub(crate) type Native = FreeBsd;
#[cfg(kqueue_impl = "openbsd")]
pub(crate) type Native = OpenBsd;
#[cfg(kqueue_impl = "netbsd")]
pub(crate) type Native = NetBsd;
#[cfg(kqueue_impl = "dragonfly")]
pub(crate) type Native = DragonFly;
#[cfg(kqueue_impl = "libkqueue")]
pub(crate) type Native = LibKqueue;

#[cfg(test)]
mod tests;
