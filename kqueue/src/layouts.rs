//! Decoding of raw `kevent` bytes in any system's layout, on any host.
//!
//! Not part of the stable API: it exists so that corpus and fuzz tests can
//! replay kevent records of every layout on a single machine.

use std::mem::size_of;
use std::ptr;

use crate::abi::{Abi, Apple, DragonFly, FreeBsd, FreeBsd11, LibKqueue, NetBsd, OpenBsd};
use crate::event::Event;

/// A `struct kevent` layout (of a 64-bit or 32-bit host, as compiled).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layout {
    /// macOS and the other Apple systems (packed to 4 bytes).
    MacOs,
    /// FreeBSD 11 and earlier (`intptr_t data`, no `ext`).
    FreeBsd11,
    /// FreeBSD 12 and later (`int64_t data`, `ext[4]`).
    FreeBsd12,
    /// OpenBSD (`int64_t data`).
    OpenBsd,
    /// NetBSD (`uint32_t` filter and flags).
    NetBsd,
    /// DragonFly (`intptr_t data`).
    DragonFly,
    /// libkqueue 2.7 (`intptr_t data`, its own filter numbers).
    LibKqueue,
}

impl Layout {
    /// Every layout.
    pub const ALL: [Layout; 7] = [
        Layout::MacOs,
        Layout::FreeBsd11,
        Layout::FreeBsd12,
        Layout::OpenBsd,
        Layout::NetBsd,
        Layout::DragonFly,
        Layout::LibKqueue,
    ];

    /// The size of one `struct kevent` in this layout, in bytes.
    pub fn size(self) -> usize {
        match self {
            Layout::MacOs => size_of::<<Apple as Abi>::Kevent>(),
            Layout::FreeBsd11 => size_of::<<FreeBsd11 as Abi>::Kevent>(),
            Layout::FreeBsd12 => size_of::<<FreeBsd as Abi>::Kevent>(),
            Layout::OpenBsd => size_of::<<OpenBsd as Abi>::Kevent>(),
            Layout::NetBsd => size_of::<<NetBsd as Abi>::Kevent>(),
            Layout::DragonFly => size_of::<<DragonFly as Abi>::Kevent>(),
            Layout::LibKqueue => size_of::<<LibKqueue as Abi>::Kevent>(),
        }
    }

    /// Decodes one record; `None` unless `bytes.len() == self.size()`.
    /// The bytes need no alignment; every bit is kept.
    pub fn decode(self, bytes: &[u8]) -> Option<Event> {
        match self {
            Layout::MacOs => decode_as::<Apple>(bytes),
            Layout::FreeBsd11 => decode_as::<FreeBsd11>(bytes),
            Layout::FreeBsd12 => decode_as::<FreeBsd>(bytes),
            Layout::OpenBsd => decode_as::<OpenBsd>(bytes),
            Layout::NetBsd => decode_as::<NetBsd>(bytes),
            Layout::DragonFly => decode_as::<DragonFly>(bytes),
            Layout::LibKqueue => decode_as::<LibKqueue>(bytes),
        }
    }
}

fn decode_as<A: Abi>(bytes: &[u8]) -> Option<Event> {
    if bytes.len() != size_of::<A::Kevent>() {
        return None;
    }
    // SAFETY: `bytes` holds exactly `size_of::<A::Kevent>()` initialised
    // bytes; every `kevent` field is an integer or a raw pointer, for which
    // any bit pattern is valid; `read_unaligned` needs no alignment, and the
    // copy is a value, never a reference into the bytes.
    let k = unsafe { ptr::read_unaligned(bytes.as_ptr().cast::<A::Kevent>()) };
    Some(A::decode(&k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{Filter, Token, VnodeEvents};

    /// Concatenates native-endian field bytes (and explicit padding).
    fn record(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn decodes_each_layout_from_unaligned_bytes() {
        let ident = 3usize.to_ne_bytes();
        let udata = 9usize.to_ne_bytes();
        let flags = 0x20u16.to_ne_bytes();
        let fflags = 0x2u32.to_ne_bytes();
        let data = 0i64.to_ne_bytes();
        let short = (-4i16).to_ne_bytes();
        let apple = record(&[
            &ident,
            &short,
            &flags,
            &fflags,
            &0isize.to_ne_bytes(),
            &udata,
        ]);
        let freebsd = record(&[&ident, &short, &flags, &fflags, &data, &udata, &[0; 32]]);
        let pad = [0u8; size_of::<usize>() - 4];
        let netbsd = record(&[
            &ident,
            &3u32.to_ne_bytes(),
            &0x20u32.to_ne_bytes(),
            &fflags,
            &pad,
            &data,
            &udata,
        ]);
        for (layout, bytes) in [
            (Layout::MacOs, apple.clone()),
            (Layout::FreeBsd11, apple),
            (Layout::FreeBsd12, freebsd),
            (Layout::NetBsd, netbsd),
        ] {
            assert_eq!(bytes.len(), layout.size());
            // Shift by one byte so the record is misaligned.
            let mut shifted = vec![0u8; bytes.len() + 1];
            shifted[1..].copy_from_slice(&bytes);
            let ev = layout.decode(&shifted[1..]).unwrap();
            assert_eq!(ev.filter(), Filter::Vnode);
            assert_eq!(ev.vnode(), Some(VnodeEvents::WRITE));
            assert_eq!(ev.token(), Token(9));
            assert!(layout.decode(&shifted).is_none());
        }
    }

    #[test]
    fn sizes_are_those_of_the_headers() {
        if size_of::<usize>() == 8 {
            let sizes: Vec<usize> = Layout::ALL.iter().map(|l| l.size()).collect();
            assert_eq!(sizes, vec![32, 32, 64, 32, 40, 32, 32]);
        }
    }
}
