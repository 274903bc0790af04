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
/// A large table ([`Files::Big`]): names stored once, in an arena, with
/// the position where each starts and the inodes, in two arrays of
/// numbers. The first [`sorted`](Table::sorted) entries are sorted by
/// name; the rest, the *log*, are names added since in the order they
/// came, so that a burst of creations in one directory appends each name
/// instead of shifting the table (or searching it) once per file. A
/// removed name is a tombstone (inode 0) until more than half are, then
/// the table is rebuilt, sorted and without a log.
///
/// While there is a log, an [`Index`] over every entry (sorted or not)
/// finds a name by its hash; without one, a binary search of the sorted
/// entries does. The log is sorted when the table is read in order
/// ([`Table::iter`], without changing the table) and merged into the
/// sorted entries when the table is rebuilt. Its memory is that of as
/// many sorted entries (a position, an inode, the name) plus the index,
/// over every entry: its kept 32-bit hash and one `u32` slot at most four
/// times over (at least half the slots free, so that a search for a new
/// name stops early), 12 to 20 bytes. A table that never takes a name out
/// of order has no index.
#[derive(Clone, Debug)]
pub(super) struct Table {
    /// The oldest [`listed_since`](super::listed_since) of the files here.
    pub(super) since: i64,
    /// Per entry: where its name starts in `names`.
    offsets: Vec<u32>,
    /// Per entry: its inode, 0 for a removed one.
    inos: Vec<u64>,
    /// Each name as a little-endian `u16` length followed by its bytes.
    names: Vec<u8>,
    /// How many entries are tombstones.
    dead: usize,
    /// How many entries, from the first, are sorted by name (the rest is
    /// the log).
    sorted: usize,
    /// Every entry by the hash of its name; only while there is a log.
    index: Option<Box<Index>>,
}

/// Open addressing over a [`Table`]'s entries: each slot holds an entry's
/// position plus one, or 0 when free; a name's search starts at the slot
/// its hash picks and moves on one slot at a time until the name or a
/// free slot. Each entry's hash (its low 32 bits) is kept, so that a
/// search compares a name only when the hashes agree, and a grown index
/// places the entries again without hashing a name.
#[derive(Clone, Debug)]
struct Index {
    hash: NameHash,
    slots: Vec<u32>,
    /// Per entry of the table: the low 32 bits of its name's hash.
    hashes: Vec<u32>,
}

/// How an [`Index`] hashes names. Names come from the watched tree, so
/// whoever names files could pick ones that collide under a fixed hash
/// and make every search run the length of the table. The index starts
/// with the crate's fast hash behind a random seed (a few instructions
/// for a short name, against about a hundred for the standard library's
/// keyed hash), and moves to the keyed hash for good once an insertion's
/// search passes [`LONG_SEARCH`] slots, which names spread by either hash
/// all but never reach with at least half the slots free.
#[derive(Clone, Debug)]
enum NameHash {
    Fast(u64),
    Keyed(std::collections::hash_map::RandomState),
}

/// An insertion searching more slots than this moves its index to the
/// keyed hash.
const LONG_SEARCH: usize = 48;

impl NameHash {
    fn fast() -> NameHash {
        use std::hash::BuildHasher;
        // A fresh random seed from the standard library's keys.
        NameHash::Fast(std::collections::hash_map::RandomState::new().hash_one(0u8))
    }

    fn of(&self, name: &[u8]) -> u32 {
        use std::hash::{BuildHasher, Hasher};
        match self {
            NameHash::Fast(seed) => {
                let mut h = crate::fast_hash::FastHash.build_hasher();
                h.write_u64(*seed);
                h.write(name);
                h.finish() as u32
            }
            NameHash::Keyed(keys) => {
                let mut h = keys.build_hasher();
                h.write(name);
                h.finish() as u32
            }
        }
    }
}

/// Two runs of (name, inode) sorted by name, without common names, as one.
pub(super) struct Merged<A: Iterator, B: Iterator> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<'n, A, B> Iterator for Merged<A, B>
where
    A: Iterator<Item = (&'n [u8], u64)>,
    B: Iterator<Item = (&'n [u8], u64)>,
{
    type Item = (&'n [u8], u64);

    fn next(&mut self) -> Option<Self::Item> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) if y.0 < x.0 => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

impl Table {
    pub(super) fn new(since: i64) -> Table {
        Table {
            since,
            offsets: Vec::new(),
            inos: Vec::new(),
            names: Vec::new(),
            dead: 0,
            sorted: 0,
            index: None,
        }
    }

    /// A table from names sorted by byte value, without duplicates.
    pub(super) fn from_sorted<'a>(
        since: i64,
        items: impl ExactSizeIterator<Item = (&'a [u8], u64)>,
    ) -> Table {
        let mut files = Table::new(since);
        files.offsets.reserve_exact(items.len());
        files.inos.reserve_exact(items.len());
        for (name, ino) in items {
            // `push` cannot fail for a name a directory listing gave (at
            // most NAME_MAX bytes) unless the arena passed 4 GiB.
            let _ = files.push(name, ino);
        }
        files.names.shrink_to_fit();
        files
    }

    pub(super) fn name(&self, i: usize) -> &[u8] {
        let at = self.offsets[i] as usize;
        let len = u16::from_le_bytes([self.names[at], self.names[at + 1]]) as usize;
        &self.names[at + 2..at + 2 + len]
    }

    /// Where `name` is among the sorted entries, or would be.
    pub(super) fn find(&self, name: &[u8]) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.sorted);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.name(mid).cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// The slot of `index` that holds `name`'s entry, or the free slot
    /// where its search ended; how many slots the search passed; and the
    /// name's hash.
    fn slot(&self, index: &Index, name: &[u8]) -> (usize, Option<usize>, usize, u32) {
        let mask = index.slots.len() - 1;
        let hash = index.hash.of(name);
        let mut s = hash as usize & mask;
        let mut passed = 0;
        loop {
            match index.slots[s] {
                0 => return (s, None, passed, hash),
                p if index.hashes[p as usize - 1] == hash && self.name(p as usize - 1) == name => {
                    return (s, Some(p as usize - 1), passed, hash);
                }
                _ => {
                    s = (s + 1) & mask;
                    passed += 1;
                }
            }
        }
    }

    /// The entry holding `name` (live or a tombstone).
    fn position(&self, name: &[u8]) -> Option<usize> {
        match &self.index {
            Some(index) => self.slot(index, name).1,
            None => self.find(name).ok(),
        }
    }

    pub(super) fn get(&self, name: &[u8]) -> Option<u64> {
        let i = self.position(name)?;
        Some(self.inos[i]).filter(|&ino| ino != 0)
    }

    /// Stores `name` at the end of the arena; its offset, or `None` if
    /// it does not fit the table's fields.
    pub(super) fn store(&mut self, name: &[u8]) -> Option<u32> {
        let len = u16::try_from(name.len()).ok()?;
        let at = u32::try_from(self.names.len()).ok()?;
        u32::try_from(self.names.len() + 2 + name.len()).ok()?;
        // A slot holds a position plus one.
        u32::try_from(self.offsets.len() + 1).ok()?;
        self.names.extend_from_slice(&len.to_le_bytes());
        self.names.extend_from_slice(name);
        Some(at)
    }

    /// Appends a name greater than every name here (no log).
    pub(super) fn push(&mut self, name: &[u8], ino: u64) -> bool {
        let Some(at) = self.store(name) else {
            return false;
        };
        self.offsets.push(at);
        self.inos.push(ino);
        self.sorted = self.offsets.len();
        true
    }

    /// Records `name` with `ino` (not 0); without `replace`, only a name
    /// not here yet (false if it is).
    pub(super) fn add(&mut self, name: &[u8], ino: u64, replace: bool) -> bool {
        // Where the name is, or else the free slot its search ended at.
        let (here, free) = match &self.index {
            Some(index) => match self.slot(index, name) {
                (_, Some(i), _, _) => (Some(i), None),
                (s, None, passed, hash) => (None, Some((s, passed, hash))),
            },
            None => match self.find(name) {
                Ok(i) => (Some(i), None),
                // After every name, with no log: it stays sorted.
                Err(i) if i == self.offsets.len() => return self.push(name, ino),
                Err(_) => (None, None),
            },
        };
        if let Some(i) = here {
            if self.inos[i] != 0 && !replace {
                return false;
            }
            if self.inos[i] == 0 {
                self.dead -= 1;
            }
            self.inos[i] = ino;
            return true;
        }
        // A new name out of order: to the log.
        let Some(at) = self.store(name) else {
            return false;
        };
        self.offsets.push(at);
        self.inos.push(ino);
        let len = self.offsets.len();
        match (&mut self.index, free) {
            (Some(index), Some((s, passed, hash))) => {
                index.hashes.push(hash);
                let placed = if len * 2 <= index.slots.len() {
                    // At least half the slots stay free: where the search ended.
                    index.slots[s] = len as u32;
                    passed <= LONG_SEARCH || matches!(index.hash, NameHash::Keyed(_))
                } else {
                    // Grown, to twice the size, each entry placed again.
                    index.slots = vec![0; (len * 2).next_power_of_two()];
                    Self::place_all(index)
                };
                if !placed {
                    self.reindex(NameHash::Keyed(Default::default()));
                }
            }
            // Made with it.
            (index, _) => {
                let hash = index.take().map_or_else(NameHash::fast, |index| index.hash);
                self.reindex(hash);
            }
        }
        true
    }

    /// Places every entry in the free slots of `index` by its kept hash;
    /// false if a search passed [`LONG_SEARCH`] slots with the fast hash
    /// (then not all are placed).
    fn place_all(index: &mut Index) -> bool {
        let mask = index.slots.len() - 1;
        let fast = matches!(index.hash, NameHash::Fast(_));
        for (i, &hash) in index.hashes.iter().enumerate() {
            // The names differ: the first free slot is this one's.
            let mut s = hash as usize & mask;
            let mut passed = 0;
            while index.slots[s] != 0 {
                s = (s + 1) & mask;
                passed += 1;
            }
            if fast && passed > LONG_SEARCH {
                return false;
            }
            index.slots[s] = i as u32 + 1;
        }
        true
    }

    /// A new index over every entry (at least half its slots free), the
    /// names hashed with `hash`, or with the keyed hash if a search runs
    /// long with the fast one.
    fn reindex(&mut self, hash: NameHash) {
        let len = self.offsets.len();
        let mut index = Index {
            hashes: (0..len).map(|i| hash.of(self.name(i))).collect(),
            hash,
            slots: vec![0; (len * 2).next_power_of_two().max(64)],
        };
        if !Self::place_all(&mut index) {
            return self.reindex(NameHash::Keyed(Default::default()));
        }
        self.index = Some(Box::new(index));
    }

    pub(super) fn remove(&mut self, name: &[u8]) -> Option<u64> {
        let i = self.position(name)?;
        let ino = std::mem::replace(&mut self.inos[i], 0);
        if ino == 0 {
            return None;
        }
        self.dead += 1;
        if self.dead > 16 && self.dead * 2 > self.offsets.len() {
            self.rebuild();
        }
        Some(ino)
    }

    /// The table again, sorted, without tombstones, log or index.
    pub(super) fn rebuild(&mut self) {
        let mut next = Table::new(self.since);
        let live = self.offsets.len() - self.dead;
        next.offsets.reserve_exact(live);
        next.inos.reserve_exact(live);
        next.names.reserve_exact(self.names.len());
        for (name, ino) in self.iter() {
            // Checked when each name came in (see `store`).
            let _ = next.push(name, ino);
        }
        *self = next;
    }

    pub(super) fn is_empty(&self) -> bool {
        self.offsets.len() == self.dead
    }

    /// The files, sorted by name (the log sorted on the way).
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        let live = |i: &usize| self.inos[*i] != 0;
        let entry = |i: usize| (self.name(i), self.inos[i]);
        let mut log: Vec<usize> = (self.sorted..self.offsets.len()).filter(live).collect();
        log.sort_unstable_by(|&a, &b| self.name(a).cmp(self.name(b)));
        Merged {
            a: (0..self.sorted).filter(live).map(entry).peekable(),
            b: log.into_iter().map(entry).peekable(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::snapshot::UNKNOWN_INO;

    #[test]
    fn a_table_takes_names_in_any_order_like_a_sorted_map() {
        // Names in creation order ("f10" sorts before "f2"), removals and
        // re-insertions on both sides of each merge of the recent names.
        let mut files = Table::new(0);
        let mut model = BTreeMap::new();
        for i in 0..3_000u64 {
            let name = format!("f{}", (i * 7_919) % 2_000);
            if i % 5 == 4 {
                assert_eq!(files.remove(name.as_bytes()), model.remove(name.as_bytes()));
            } else {
                assert!(files.add(name.as_bytes(), i + 1, true));
                model.insert(name.into_bytes(), i + 1);
            }
            if i % 97 == 0 {
                let got: Vec<(Vec<u8>, u64)> = files.iter().map(|(n, i)| (n.to_vec(), i)).collect();
                let want: Vec<(Vec<u8>, u64)> =
                    model.iter().map(|(n, i)| (n.clone(), *i)).collect();
                assert_eq!(got, want);
            }
        }
        for (name, ino) in &model {
            assert_eq!(files.get(name), Some(*ino));
        }
        assert_eq!(files.get(b"g"), None);
        assert!(
            files
                .index
                .as_ref()
                .is_none_or(|i| i.slots.len() <= 4 * files.offsets.len().max(16))
        );
        assert_eq!(files.is_empty(), model.is_empty());
    }

    #[test]
    fn names_that_collide_under_the_fast_hash_move_the_index_to_the_keyed_one() {
        // The fast hash mixes each 8-byte word as `rotl((state ^ word) * K,
        // 26)`: flipping a word's top bit flips bit 25 of the state after
        // it, whatever the seed, which the next word cancels. Seven such
        // choices in a 64-byte name: 128 names of one hash.
        let colliding = |i: u32| {
            let mut name = vec![b'n'; 64];
            for w in 0..7 {
                if i & (1 << w) != 0 {
                    name[w * 8 + 7] ^= 0x80;
                    name[(w + 1) * 8 + 3] ^= 0x02;
                }
            }
            name
        };
        let mut files = Table::from_sorted(0, [(&b"zzz"[..], 1)].into_iter());
        let mut model = BTreeMap::new();
        model.insert(b"zzz".to_vec(), 1);
        for i in 0..128 {
            assert!(files.add(&colliding(i), u64::from(i) + 2, false));
            model.insert(colliding(i), u64::from(i) + 2);
        }
        let index = files.index.as_ref().expect("a log has an index");
        assert!(matches!(index.hash, NameHash::Keyed(_)));
        for (name, ino) in &model {
            assert_eq!(files.get(name), Some(*ino));
            assert!(!files.add(name, 9, false));
        }
        let got: Vec<(Vec<u8>, u64)> = files.iter().map(|(n, i)| (n.to_vec(), i)).collect();
        let want: Vec<(Vec<u8>, u64)> = model.into_iter().collect();
        assert_eq!(got, want);
    }

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
                if let Files::Big(table) = &files
                    && let Some(index) = &table.index
                {
                    // A hash per entry; at least half the slots free.
                    proptest::prop_assert_eq!(index.hashes.len(), table.offsets.len());
                    proptest::prop_assert!(index.slots.len() >= 2 * table.offsets.len());
                    let taken = index.slots.iter().filter(|&&p| p != 0).count();
                    proptest::prop_assert_eq!(taken, table.offsets.len());
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
