//! Zero-copy decoding of the records read from an inotify descriptor.

use std::ffi::OsStr;
use std::iter::FusedIterator;
use std::os::unix::ffi::OsStrExt;

use inotify_sys::{IN_Q_OVERFLOW, INOTIFY_EVENT_SIZE, inotify_event};

use crate::error::Error;
use crate::mask::EventMask;
use crate::wd::WatchDescriptor;

/// One decoded record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event<'b> {
    /// An event on a watch.
    Watch(WatchEvent<'b>),
    /// The kernel's queue overflowed (`wd == -1`, `IN_Q_OVERFLOW`): events
    /// were lost after this point and the watched trees must be rescanned.
    Overflow,
}

/// An event on one watch. `name` borrows the buffer it was read into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WatchEvent<'b> {
    /// The watch this event belongs to.
    pub wd: WatchDescriptor,
    /// What happened; unknown bits are kept.
    pub mask: EventMask,
    /// Equal on the `MOVED_FROM` and `MOVED_TO` of one rename; 0 otherwise.
    pub cookie: u32,
    /// For events on an entry of a watched directory, the entry's name
    /// (trimmed at its first NUL); `None` for events on the watched object
    /// itself.
    pub name: Option<&'b OsStr>,
}

impl WatchEvent<'_> {
    /// Whether the subject of the event is a directory ([`EventMask::ISDIR`]).
    pub fn is_dir(&self) -> bool {
        self.mask.contains(EventMask::ISDIR)
    }
}

/// Iterator over the records in a buffer, as returned by
/// [`Inotify::read`](crate::Inotify::read).
///
/// Each item is either an [`Event`] borrowing the buffer (no copy, no
/// allocation) or, for a record that does not fit in the bytes read or has
/// an impossible watch descriptor, an [`ErrorKind::MalformedEvent`](crate::ErrorKind::MalformedEvent)
/// error; after an error the iterator ends. Every field is copied out with
/// unaligned loads, so any byte slice is safe to decode.
#[derive(Clone)]
pub struct Events<'b> {
    bytes: &'b [u8],
    pos: usize,
    instance: u64,
}

impl<'b> Events<'b> {
    pub(crate) fn new(bytes: &'b [u8], instance: u64) -> Self {
        Events {
            bytes,
            pos: 0,
            instance,
        }
    }

    /// Decodes records already in memory, without a system call: for
    /// benchmarks, fuzzing, replaying captured reads, or bytes obtained by
    /// reading the descriptor directly. `bytes` may start at any alignment
    /// and may hold anything; bad input yields an error item, never a panic
    /// or an out-of-bounds read.
    ///
    /// The [`WatchDescriptor`]s produced carry instance id 0, which no
    /// [`Inotify`](crate::Inotify) has; use
    /// [`Inotify::decode`](crate::Inotify::decode) to get descriptors that
    /// compare equal to an instance's own.
    pub fn from_bytes(bytes: &'b [u8]) -> Self {
        Events::new(bytes, 0)
    }

    /// The bytes not yet decoded.
    pub fn remaining_bytes(&self) -> &'b [u8] {
        &self.bytes[self.pos..]
    }

    /// Stops the iteration and returns the error for a record at `self.pos`.
    fn fail(&mut self, reason: &'static str) -> Error {
        let at = self.pos;
        self.pos = self.bytes.len();
        Error::malformed(at, reason)
    }
}

impl<'b> Iterator for Events<'b> {
    type Item = Result<Event<'b>, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.bytes[self.pos..];
        if rest.is_empty() {
            return None;
        }
        let Some((head, tail)) = rest.split_at_checked(INOTIFY_EVENT_SIZE) else {
            return Some(Err(self.fail("truncated record header")));
        };
        // SAFETY: `head` holds exactly size_of::<inotify_event>() readable
        // bytes; `read_unaligned` accepts any alignment, and every bit
        // pattern is a valid `inotify_event` (four plain integers).
        let ev: inotify_event = unsafe { head.as_ptr().cast::<inotify_event>().read_unaligned() };
        let len = ev.len as usize;
        let Some(name) = tail.get(..len) else {
            return Some(Err(self.fail("name length runs past the bytes read")));
        };
        let event = if ev.wd >= 0 {
            let name = &name[..until_nul(name)];
            Event::Watch(WatchEvent {
                wd: WatchDescriptor::new(self.instance, ev.wd),
                mask: EventMask::from_bits_retain(ev.mask),
                cookie: ev.cookie,
                name: (!name.is_empty()).then(|| OsStr::from_bytes(name)),
            })
        } else if ev.wd == -1 && ev.mask & IN_Q_OVERFLOW != 0 {
            Event::Overflow
        } else {
            return Some(Err(self.fail("negative watch descriptor")));
        };
        self.pos += INOTIFY_EVENT_SIZE + len;
        Some(Ok(event))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let rest = self.bytes.len() - self.pos;
        (
            usize::from(rest > 0),
            Some(rest.div_ceil(INOTIFY_EVENT_SIZE)),
        )
    }
}

impl FusedIterator for Events<'_> {}

/// The index of the first NUL in `name`, or its length if it has none (C
/// string semantics, exact for any input).
///
/// Word at a time: kernel names are padded with 1 to 16 NULs to a multiple
/// of 16 bytes, so a typical name is found within two or three 8-byte
/// loads, with no per-byte loop.
#[inline]
fn until_nul(name: &[u8]) -> usize {
    const LO: u64 = u64::from_ne_bytes([0x01; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut words = name.chunks_exact(8);
    let mut at = 0;
    for word in &mut words {
        // Little-endian order on every target, so the first byte in memory
        // is the least significant one.
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let w = u64::from_le_bytes(bytes);
        // Nonzero iff `w` has a zero byte; its lowest set bit marks the
        // first one (higher bits may be false positives, never lower ones).
        let zero = w.wrapping_sub(LO) & !w & HI;
        if zero != 0 {
            return at + (zero.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    match words.remainder().iter().position(|&b| b == 0) {
        Some(i) => at + i,
        None => name.len(),
    }
}

impl std::fmt::Debug for Events<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("len", &self.bytes.len())
            .field("pos", &self.pos)
            .field("instance", &self.instance)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use inotify_sys::{IN_CREATE, IN_ISDIR, IN_MOVED_FROM};

    fn record(out: &mut Vec<u8>, wd: i32, mask: u32, cookie: u32, name: &[u8], len: u32) {
        out.extend_from_slice(&wd.to_ne_bytes());
        out.extend_from_slice(&mask.to_ne_bytes());
        out.extend_from_slice(&cookie.to_ne_bytes());
        out.extend_from_slice(&len.to_ne_bytes());
        let start = out.len();
        out.extend_from_slice(name);
        out.resize(start + len as usize, 0);
    }

    #[test]
    fn until_nul_finds_the_first_nul_anywhere() {
        for len in 0..40 {
            let mut v = vec![b'a'; len];
            assert_eq!(until_nul(&v), len);
            for first in 0..len {
                v.iter_mut().for_each(|b| *b = 0x80 | (first as u8));
                v[first] = 0;
                // Bytes after the first NUL may be anything, NULs included.
                if first + 2 < len {
                    v[first + 2] = 0;
                }
                assert_eq!(until_nul(&v), first, "len {len} first {first}");
                assert_eq!(
                    Some(until_nul(&v)),
                    v.iter().position(|&b| b == 0),
                    "agrees with a byte scan"
                );
            }
        }
        // 0x01 bytes after a NUL are the classic false-positive case.
        assert_eq!(until_nul(b"ab\0\x01\x01\x01\x01\x01"), 2);
        assert_eq!(until_nul(b"\x01\x01\x01\x01\x01\x01\x01\0"), 7);
    }

    #[test]
    fn decodes_names_masks_and_overflow() {
        let mut b = Vec::new();
        record(&mut b, 1, IN_CREATE | IN_ISDIR | 0x0800_0000, 0, b"dir", 16);
        record(&mut b, -1, IN_Q_OVERFLOW, 0, b"", 0);
        record(&mut b, 2, IN_MOVED_FROM, 7, b"\xff\xfe", 4);
        let evs: Vec<_> = Events::new(&b, 9).collect::<Result<_, _>>().unwrap();
        assert_eq!(evs.len(), 3);
        let Event::Watch(first) = evs[0] else {
            panic!("{:?}", evs[0])
        };
        assert_eq!(first.wd, WatchDescriptor::new(9, 1));
        assert_eq!(first.name, Some(OsStr::new("dir")));
        assert!(first.mask.contains(EventMask::CREATE | EventMask::ISDIR));
        assert_eq!(
            first.mask.bits() & 0x0800_0000,
            0x0800_0000,
            "unknown bit kept"
        );
        assert_eq!(evs[1], Event::Overflow);
        let Event::Watch(third) = evs[2] else {
            panic!()
        };
        assert_eq!(third.cookie, 7);
        assert!(first.is_dir());
        assert!(!third.is_dir());
        assert_eq!(third.name.unwrap().as_bytes(), b"\xff\xfe");
    }

    #[test]
    fn truncated_header_is_an_error_then_none() {
        let mut b = Vec::new();
        record(&mut b, 1, IN_CREATE, 0, b"", 0);
        b.extend_from_slice(&[0; 15]);
        let mut it = Events::from_bytes(&b);
        assert!(it.next().unwrap().is_ok());
        let err = it.next().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MalformedEvent);
        assert_eq!(err.offset(), Some(16));
        assert!(it.next().is_none());
        assert!(it.next().is_none());
    }

    #[test]
    fn name_past_end_is_an_error() {
        let mut b = Vec::new();
        record(&mut b, 1, IN_CREATE, 0, b"abc", 16);
        b.truncate(b.len() - 1);
        let mut it = Events::from_bytes(&b);
        assert_eq!(
            it.next().unwrap().unwrap_err().kind(),
            ErrorKind::MalformedEvent
        );
        assert!(it.next().is_none());
        // A length near u32::MAX must not overflow anything either.
        let mut b = Vec::new();
        record(&mut b, 1, IN_CREATE, 0, b"", 0);
        b[12..16].copy_from_slice(&u32::MAX.to_ne_bytes());
        let mut it = Events::from_bytes(&b);
        assert_eq!(
            it.next().unwrap().unwrap_err().kind(),
            ErrorKind::MalformedEvent
        );
    }

    #[test]
    fn negative_wd_without_overflow_is_an_error() {
        for (wd, mask) in [(-1, IN_CREATE), (-2, IN_Q_OVERFLOW), (i32::MIN, 0)] {
            let mut b = Vec::new();
            record(&mut b, wd, mask, 0, b"", 0);
            let err = Events::from_bytes(&b).next().unwrap().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::MalformedEvent);
        }
    }

    #[test]
    fn empty_name_field_is_none() {
        let mut b = Vec::new();
        record(&mut b, 3, IN_CREATE, 0, b"", 16);
        let ev = Events::from_bytes(&b).next().unwrap().unwrap();
        let Event::Watch(w) = ev else { panic!() };
        assert_eq!(w.name, None);
        assert_eq!(w.wd.instance_id(), 0);
    }

    #[test]
    fn misaligned_start_decodes() {
        let mut b = vec![0u8; 3];
        record(&mut b, 5, IN_CREATE, 0, b"x", 16);
        let ev = Events::from_bytes(&b[3..]).next().unwrap().unwrap();
        let Event::Watch(w) = ev else { panic!() };
        assert_eq!(w.wd.raw(), 5);
        assert_eq!(w.name, Some(OsStr::new("x")));
    }
}
