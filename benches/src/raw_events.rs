//! The prepared event buffer and the hand-written decode loop (the floor).
//!
//! The buffer holds records laid out as Linux writes them (inotify(7)):
//! `struct inotify_event { int wd; uint32_t mask, cookie, len; char name[]; }`
//! in native byte order, `len` counting the name, its NUL and the NUL padding
//! up to the next 16-byte boundary, and `len == 0` for events on the watched
//! object itself.

/// Size of the fixed `inotify_event` header.
pub const HEADER_LEN: usize = 16;

// Event bits from inotify(7), spelled out so this library stays std-only.
const IN_MODIFY: u32 = 0x2;
const IN_ATTRIB: u32 = 0x4;
const IN_CLOSE_WRITE: u32 = 0x8;
const IN_MOVED_FROM: u32 = 0x40;
const IN_MOVED_TO: u32 = 0x80;
const IN_CREATE: u32 = 0x100;
const IN_DELETE: u32 = 0x200;
const IN_ISDIR: u32 = 0x4000_0000;

/// A buffer of encoded inotify records and what is in it.
#[derive(Clone, Debug)]
pub struct PreparedEvents {
    /// The encoded records, back to back.
    pub bytes: Vec<u8>,
    /// How many records `bytes` holds.
    pub records: usize,
    /// How many of them carry a name.
    pub named: usize,
}

/// Builds a deterministic mix of records filling at most `max_bytes`: one in
/// eight has no name, half have 1 to 16-byte names, a quarter 17 to 64, one
/// in eight 65 to 255 (NAME_MAX); creates, writes, attribute changes,
/// deletes, directory creates and rename pairs sharing a cookie.
pub fn prepared_events(max_bytes: usize) -> PreparedEvents {
    let mut rng = Lcg(0x5eed_cafe_f00d_d00d);
    let mut bytes = Vec::with_capacity(max_bytes);
    let (mut records, mut named) = (0, 0);
    loop {
        let roll = rng.next() % 8;
        let name_len = match roll {
            0 => 0,
            1..=4 => 1 + rng.next() % 16,
            5 | 6 => 17 + rng.next() % 48,
            _ => 65 + rng.next() % 191,
        } as usize;
        let len = if name_len == 0 {
            0
        } else {
            (name_len + 1).div_ceil(HEADER_LEN) * HEADER_LEN
        };
        if bytes.len() + HEADER_LEN + len > max_bytes {
            break;
        }
        let (mask, cookie) = match rng.next() % 7 {
            0 => (IN_CREATE, 0),
            1 => (IN_MODIFY, 0),
            2 => (IN_ATTRIB, 0),
            3 => (IN_CLOSE_WRITE, 0),
            4 => (IN_DELETE, 0),
            5 => (IN_CREATE | IN_ISDIR, 0),
            _ => (
                if records % 2 == 0 {
                    IN_MOVED_FROM
                } else {
                    IN_MOVED_TO
                },
                1 + (records as u32 / 2),
            ),
        };
        let wd = 1 + (rng.next() % 64) as i32;
        bytes.extend_from_slice(&wd.to_ne_bytes());
        bytes.extend_from_slice(&mask.to_ne_bytes());
        bytes.extend_from_slice(&cookie.to_ne_bytes());
        bytes.extend_from_slice(&(len as u32).to_ne_bytes());
        for i in 0..name_len {
            const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789._-";
            bytes.push(ALPHABET[(i * 7 + records) % ALPHABET.len()]);
        }
        bytes.resize(bytes.len() + len - name_len, 0);
        records += 1;
        named += usize::from(name_len > 0);
    }
    PreparedEvents {
        bytes,
        records,
        named,
    }
}

/// One decoded record, borrowing its name from the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawEvent<'a> {
    /// Watch descriptor.
    pub wd: i32,
    /// Event bits.
    pub mask: u32,
    /// Rename cookie, 0 when unused.
    pub cookie: u32,
    /// The name without its NUL padding; empty for events on the watched object.
    pub name: &'a [u8],
}

/// The decode floor: a hand-written loop over the raw bytes, calling `each`
/// per record. It checks only what safe Rust must (the header and the name
/// fit in `bytes`), trusts the kernel's layout for the rest (NUL padding),
/// and stops at the first record that does not fit. Returns the number of
/// records decoded.
#[inline]
pub fn decode_raw<'a>(bytes: &'a [u8], mut each: impl FnMut(RawEvent<'a>)) -> usize {
    let mut rest = bytes;
    let mut count = 0;
    while let Some((header, tail)) = rest.split_first_chunk::<HEADER_LEN>() {
        let word = |i: usize| [header[i], header[i + 1], header[i + 2], header[i + 3]];
        let len = u32::from_ne_bytes(word(12)) as usize;
        let Some((field, next)) = tail.split_at_checked(len) else {
            break;
        };
        // The kernel pads the name with NULs to the next 16 bytes and a name
        // holds no NUL, so trimming the padding from the end finds it in at
        // most 16 steps without scanning the name itself.
        let mut end = field.len();
        while end > 0 && field[end - 1] == 0 {
            end -= 1;
        }
        let name = &field[..end];
        each(RawEvent {
            wd: i32::from_ne_bytes(word(0)),
            mask: u32::from_ne_bytes(word(4)),
            cookie: u32::from_ne_bytes(word(8)),
            name,
        });
        count += 1;
        rest = next;
    }
    count
}

/// A tiny deterministic generator (Knuth's MMIX LCG); no dependency needed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_raw_reads_back_every_prepared_record() {
        let prepared = prepared_events(48 * 1024);
        assert!(prepared.bytes.len() <= 48 * 1024);
        assert!(prepared.records > 500, "{}", prepared.records);
        let (mut named, mut longest, mut renames) = (0, 0, 0);
        let n = decode_raw(&prepared.bytes, |e| {
            assert!((1..=64).contains(&e.wd));
            assert!(!e.name.contains(&0));
            named += usize::from(!e.name.is_empty());
            longest = longest.max(e.name.len());
            renames += usize::from(e.cookie != 0);
        });
        assert_eq!(n, prepared.records);
        assert_eq!(named, prepared.named);
        assert!(named < n, "some records must have no name");
        assert!(longest > 64, "some names must be long");
        assert!(renames > 0);
    }

    #[test]
    fn decode_raw_stops_at_a_truncated_record() {
        let prepared = prepared_events(4096);
        let whole = decode_raw(&prepared.bytes, |_| {});
        let cut = &prepared.bytes[..prepared.bytes.len() - 1];
        assert_eq!(decode_raw(cut, |_| {}), whole - 1);
        assert_eq!(decode_raw(&prepared.bytes[..HEADER_LEN - 1], |_| {}), 0);
    }

    #[test]
    fn names_are_padded_to_the_header_size() {
        let prepared = prepared_events(4096);
        let mut rest = &prepared.bytes[..];
        while let Some((header, tail)) = rest.split_first_chunk::<HEADER_LEN>() {
            let len = u32::from_ne_bytes([header[12], header[13], header[14], header[15]]);
            assert_eq!(len as usize % HEADER_LEN, 0);
            rest = &tail[len as usize..];
        }
    }
}
