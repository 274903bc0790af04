//! The listed regular files of one directory: [`Small`], a small table in
//! one buffer, or [`Table`], a large indexed one.
//!
//! # Small tables
//!
//! Up to [`SMALL`] files (the common case) live in one boxed byte buffer,
//! empty (no allocation) when there are none. It starts with the listing
//! time (8 bytes, little-endian; the device is the directory's own), then
//! holds one record per file, sorted by name:
//!
//! - the inode, as the difference from the previous record's inode (from
//!   0 for the first), wrapping, zigzag-encoded and written 7 bits a byte,
//!   low bits first (LEB128): files created one after the other usually
//!   have consecutive inodes, one byte apart;
//! - the name's length: one byte below 128, else two (big-endian, high bit
//!   set), so at most [`NAME_LIMIT`] bytes;
//! - the name.
//!
//! Ten files named `f0` to `f9` with consecutive inodes take 8 + 10 × 4
//! bytes plus 2 for the first inode's extra digits: 50 bytes, against 134
//! with a header of counts and the device and 8-byte inodes. A lookup
//! decodes from the start; an insertion or removal writes a new buffer
//! (at most [`SMALL`] records), so there are no tombstones here.

mod table;

pub(super) use table::Table;

/// The listed regular files of one directory, sorted by name, each with
/// its inode (never 0, which no real file has). Up to [`SMALL`] files live
/// in a [`Small`] buffer; a directory with more (whose files come and go:
/// inserts must stay cheap) gets a [`Table`] with an index.
#[derive(Clone, Debug)]
pub(super) enum Files {
    Small(Small),
    Big(Box<Table>),
}

/// Past this many files a directory's table is a [`Table`].
pub(super) const SMALL: usize = 32;

/// The longest name a [`Small`] record holds (a longer one goes to a
/// [`Table`]).
pub(super) const NAME_LIMIT: usize = 0x7fff;

/// A borrowed [`Files`], wherever it is kept.
#[derive(Clone, Copy)]
pub(super) enum FilesRef<'a> {
    Small(&'a Small),
    Big(&'a Table),
}

impl Files {
    /// A table from names sorted by byte value, without duplicates.
    pub(super) fn from_sorted<'a>(
        since: i64,
        items: impl ExactSizeIterator<Item = (&'a [u8], u64)> + Clone,
    ) -> Files {
        if items.len() <= SMALL
            && let Some(small) = Small::build(since, items.clone())
        {
            return Files::Small(small);
        }
        Files::Big(Box::new(Table::from_sorted(since, items)))
    }

    pub(super) fn as_ref(&self) -> FilesRef<'_> {
        match self {
            Files::Small(s) => FilesRef::Small(s),
            Files::Big(t) => FilesRef::Big(t),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.as_ref().is_empty()
    }

    /// Records `name` with `ino` (not 0), listed at `since` (the table
    /// keeps the oldest); without `replace`, only a name not here yet.
    /// False if nothing was recorded.
    pub(super) fn insert(&mut self, name: &[u8], ino: u64, since: i64, replace: bool) -> bool {
        match self {
            Files::Small(s) => match s.insert(name, ino, since, replace) {
                Fit::Done(done) => done,
                Fit::TooSmall => {
                    let mut table = s.to_table();
                    let stored = table.add(name, ino, replace);
                    if stored {
                        table.since = table.since.min(since);
                    }
                    *self = Files::Big(Box::new(table));
                    stored
                }
            },
            Files::Big(t) => {
                let stored = t.add(name, ino, replace);
                if stored {
                    t.since = t.since.min(since);
                }
                stored
            }
        }
    }

    pub(super) fn remove(&mut self, name: &[u8]) -> Option<u64> {
        match self {
            Files::Small(s) => s.remove(name),
            Files::Big(t) => t.remove(name),
        }
    }
}

impl<'a> FilesRef<'a> {
    /// The oldest listing time of the files here.
    pub(super) fn since(self) -> i64 {
        match self {
            FilesRef::Small(s) => s.since(),
            FilesRef::Big(t) => t.since,
        }
    }

    pub(super) fn get(self, name: &[u8]) -> Option<u64> {
        match self {
            FilesRef::Small(s) => s.get(name),
            FilesRef::Big(t) => t.get(name),
        }
    }

    pub(super) fn is_empty(self) -> bool {
        match self {
            FilesRef::Small(s) => s.is_empty(),
            FilesRef::Big(t) => t.is_empty(),
        }
    }

    /// The files, sorted by name.
    pub(super) fn iter(self) -> impl Iterator<Item = (&'a [u8], u64)> {
        let (small, big) = match self {
            FilesRef::Small(s) => (Some(s.iter()), None),
            FilesRef::Big(t) => (None, Some(t.iter())),
        };
        small.into_iter().flatten().chain(big.into_iter().flatten())
    }
}

/// A small table in one boxed byte buffer (see the module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Small {
    buf: Box<[u8]>,
}

/// Bytes before the first record: the listing time.
const HEAD: usize = 8;

/// What [`Small::insert`] did.
pub(super) enum Fit {
    /// Recorded (true) or, without `replace`, already here (false).
    Done(bool),
    /// The name needs a new record and the table is full, or the name is
    /// too long for a record.
    TooSmall,
}

/// `d` with its sign in the low bit, so that small magnitudes are small.
fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// The bytes [`put_record`] writes for `name` after an inode `prev`.
fn record_len(prev: u64, name: &[u8], ino: u64) -> usize {
    let z = zigzag(ino.wrapping_sub(prev) as i64);
    let digits = (64 - z.leading_zeros() as usize).max(1).div_ceil(7);
    digits + if name.len() < 0x80 { 1 } else { 2 } + name.len()
}

/// Appends the record of `name` with `ino` after an inode `prev` (the
/// name at most [`NAME_LIMIT`] bytes).
fn put_record(out: &mut Vec<u8>, prev: u64, name: &[u8], ino: u64) {
    let mut z = zigzag(ino.wrapping_sub(prev) as i64);
    while z >= 0x80 {
        out.push(z as u8 | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
    // The limit keeps the length within 15 bits.
    let len = name.len() as u16;
    if len < 0x80 {
        out.push(len as u8);
    } else {
        out.extend_from_slice(&(0x8000 | len).to_be_bytes());
    }
    out.extend_from_slice(name);
}

/// Decodes the records of a [`Small`] buffer, in order.
#[derive(Clone)]
pub(super) struct Records<'a> {
    buf: &'a [u8],
    at: usize,
    ino: u64,
}

impl<'a> Iterator for Records<'a> {
    type Item = (&'a [u8], u64);

    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.buf;
        let mut at = self.at;
        if at >= buf.len() {
            return None;
        }
        // Written by `put_record`: at most ten digits, then a length and
        // as many bytes.
        let mut z = 0u64;
        let mut shift = 0;
        loop {
            let b = buf[at];
            at += 1;
            z |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
            shift += 7;
        }
        let len = match buf[at] {
            b if b < 0x80 => {
                at += 1;
                usize::from(b)
            }
            b => {
                at += 2;
                (usize::from(b & 0x7f) << 8) | usize::from(buf[at - 1])
            }
        };
        self.ino = self.ino.wrapping_add(unzigzag(z) as u64);
        self.at = at + len;
        Some((&buf[at..at + len], self.ino))
    }
}

impl Small {
    /// A table of `items` (sorted by name, without duplicates, inodes not
    /// 0) listed at `since`; `None` if a name is too long for a record.
    /// No files: the empty table, without an allocation.
    pub(super) fn build<'a>(
        since: i64,
        items: impl Iterator<Item = (&'a [u8], u64)> + Clone,
    ) -> Option<Small> {
        // Measured first, so the buffer is allocated once, at its size.
        let mut size = HEAD;
        let mut prev = 0;
        for (name, ino) in items.clone() {
            if name.len() > NAME_LIMIT {
                return None;
            }
            size += record_len(prev, name, ino);
            prev = ino;
        }
        if size == HEAD {
            return Some(Small::default());
        }
        let mut buf = Vec::with_capacity(size);
        buf.extend_from_slice(&since.to_le_bytes());
        let mut prev = 0;
        for (name, ino) in items {
            put_record(&mut buf, prev, name, ino);
            prev = ino;
        }
        Some(Small {
            buf: buf.into_boxed_slice(),
        })
    }

    /// The same files in a [`Table`].
    pub(super) fn to_table(&self) -> Table {
        let mut table = Table::new(self.since());
        for (name, ino) in self.iter() {
            // Names a record holds fit a table.
            let _ = table.push(name, ino);
        }
        table
    }

    /// The oldest listing time of the files here (the latest possible
    /// when there are none).
    pub(super) fn since(&self) -> i64 {
        match self.buf.get(..HEAD) {
            Some(head) => {
                let mut b = [0; HEAD];
                b.copy_from_slice(head);
                i64::from_le_bytes(b)
            }
            None => i64::MAX,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The files, sorted by name.
    pub(super) fn iter(&self) -> Records<'_> {
        Records {
            buf: self.buf.get(HEAD..).unwrap_or(&[]),
            at: 0,
            ino: 0,
        }
    }

    pub(super) fn get(&self, name: &[u8]) -> Option<u64> {
        for (n, ino) in self.iter() {
            match n.cmp(name) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Some(ino),
                std::cmp::Ordering::Greater => return None,
            }
        }
        None
    }

    /// Records `name` with `ino` (not 0), listed at `since` (the table
    /// keeps the oldest); without `replace`, only a name not here yet.
    pub(super) fn insert(&mut self, name: &[u8], ino: u64, since: i64, replace: bool) -> Fit {
        if name.len() > NAME_LIMIT {
            return Fit::TooSmall;
        }
        let mut items: Vec<(&[u8], u64)> = Vec::with_capacity(SMALL + 1);
        let mut placed = false;
        for (n, i) in self.iter() {
            if !placed && n >= name {
                placed = true;
                if n == name {
                    if !replace {
                        return Fit::Done(false);
                    }
                    items.push((name, ino));
                    continue;
                }
                items.push((name, ino));
            }
            items.push((n, i));
        }
        if !placed {
            items.push((name, ino));
        }
        if items.len() > SMALL {
            return Fit::TooSmall;
        }
        let since = self.since().min(since);
        match Small::build(since, items.into_iter()) {
            Some(small) => {
                *self = small;
                Fit::Done(true)
            }
            None => Fit::TooSmall,
        }
    }

    pub(super) fn remove(&mut self, name: &[u8]) -> Option<u64> {
        let ino = self.get(name)?;
        let rest = self.iter().filter(|&(n, _)| n != name);
        // Fewer of the same names: every one still fits a record.
        *self = Small::build(self.since(), rest).unwrap_or_default();
        Some(ino)
    }
}
#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::snapshot::UNKNOWN_INO;

    #[test]
    fn small_records_are_as_long_as_documented() {
        // Ten names f0..f9 with consecutive inodes from 1,000,000: the
        // first inode takes 3 bytes, each later one 1.
        let names: Vec<String> = (0..10).map(|i| format!("f{i}")).collect();
        let items = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_bytes(), 1_000_000 + i as u64));
        let small = Small::build(7, items.clone()).unwrap();
        assert_eq!(small.buf.len(), 50);
        assert_eq!(small.since(), 7);
        assert!(small.iter().eq(items));
        assert_eq!(Small::build(7, std::iter::empty()).unwrap().buf.len(), 0);
        assert_eq!(Small::default().since(), i64::MAX);
    }

    #[test]
    fn zigzag_round_trips_the_extremes() {
        for d in [0, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, i64::MIN + 1] {
            assert_eq!(unzigzag(zigzag(d)), d);
        }
        for (prev, ino) in [(0, UNKNOWN_INO), (UNKNOWN_INO, 1), (5, 4), (1 << 63, 1)] {
            let mut out = Vec::new();
            put_record(&mut out, prev, b"n", ino);
            assert_eq!(out.len(), record_len(prev, b"n", ino));
        }
    }

    /// One step applied to a [`Files`] and to a map.
    #[derive(Clone, Debug)]
    enum Op {
        Insert(Vec<u8>, u64, i64, bool),
        Remove(Vec<u8>),
        Get(Vec<u8>),
        /// Names `f0`.. in creation order (`f10` sorts before `f2`): a
        /// burst in one directory, most of it to a large table's log.
        Burst(u8, u64),
    }

    fn name() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        prop_oneof![
            // Few short names, so that they come back.
            8 => proptest::collection::vec(b'a'..=b'd', 1..4),
            // Lengths around the one-byte and two-byte length fields and
            // the record limit.
            1 => (0usize..6).prop_map(|i| {
                let len = [127, 128, 300, NAME_LIMIT - 1, NAME_LIMIT, NAME_LIMIT + 1][i];
                vec![b'x'; len]
            }),
        ]
    }

    fn ino() -> impl proptest::strategy::Strategy<Value = u64> {
        use proptest::prelude::*;
        prop_oneof![
            4 => 1u64..40,
            2 => 1_000_000u64..1_000_050,
            1 => Just(UNKNOWN_INO),
            1 => 1u64..=u64::MAX,
        ]
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            3 => (name(), ino(), -5i64..5, proptest::bool::ANY)
                .prop_map(|(n, i, s, r)| Op::Insert(n, i, s, r)),
            1 => name().prop_map(Op::Remove),
            1 => name().prop_map(Op::Get),
            1 => (1u8..60, 1u64..40).prop_map(|(n, i)| Op::Burst(n, i)),
        ]
    }

    proptest::proptest! {
        #[test]
        fn files_behave_like_a_sorted_map(
            start in proptest::collection::btree_map(name(), ino(), 0..40),
            ops in proptest::collection::vec(op(), 0..120),
        ) {
            let mut model: BTreeMap<Vec<u8>, u64> = start.clone();
            let mut since = 10;
            let mut files =
                Files::from_sorted(since, start.iter().map(|(n, i)| (&n[..], *i)));
            proptest::prop_assert_eq!(
                matches!(files, Files::Small(_)),
                start.len() <= SMALL && start.keys().all(|n| n.len() <= NAME_LIMIT)
            );
            for op in ops {
                match op {
                    Op::Insert(name, ino, at, replace) => {
                        let here = model.contains_key(&name);
                        let done = files.insert(&name, ino, at, replace);
                        proptest::prop_assert_eq!(done, replace || !here);
                        if done {
                            model.insert(name, ino);
                            since = since.min(at);
                        }
                    }
                    Op::Remove(name) => {
                        proptest::prop_assert_eq!(files.remove(&name), model.remove(&name));
                    }
                    Op::Get(name) => {
                        proptest::prop_assert_eq!(files.as_ref().get(&name), model.get(&name).copied());
                    }
                    Op::Burst(n, ino) => {
                        for i in 0..n {
                            let name = format!("f{i}").into_bytes();
                            let here = model.contains_key(&name);
                            proptest::prop_assert_eq!(files.insert(&name, ino, 3, false), !here);
                            if !here {
                                model.insert(name, ino);
                                since = since.min(3);
                            }
                        }
                    }
                }
                let got: Vec<(Vec<u8>, u64)> =
                    files.as_ref().iter().map(|(n, i)| (n.to_vec(), i)).collect();
                let want: Vec<(Vec<u8>, u64)> =
                    model.iter().map(|(n, i)| (n.clone(), *i)).collect();
                proptest::prop_assert_eq!(got, want);
                proptest::prop_assert_eq!(files.is_empty(), model.is_empty());
                if let Files::Big(table) = &files {
                    proptest::prop_assert!(table.index_is_sound());
                }
                if !model.is_empty() {
                    proptest::prop_assert_eq!(files.as_ref().since(), since);
                }
                if model.is_empty() && matches!(files, Files::Small(_)) {
                    // A small table forgets its time with its last file.
                    since = i64::MAX;
                }
            }
            for (name, ino) in &model {
                proptest::prop_assert_eq!(files.as_ref().get(name), Some(*ino));
            }
            proptest::prop_assert_eq!(files.as_ref().get(b"zz"), None);
            proptest::prop_assert_eq!(files.as_ref().get(b""), None);
            if let Files::Small(small) = &files {
                // Always as small as a fresh build of the same files.
                let again = Small::build(small.since(), small.iter()).unwrap();
                proptest::prop_assert_eq!(&again, small);
            }
        }
    }
}
