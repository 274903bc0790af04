//! The listed regular files of one directory: [`Files`], a small
//! table in one buffer or a large indexed one.

use std::collections::{BTreeMap, btree_map};

use super::*;
/// The listed regular files of one directory, sorted by name, each with
/// its inode; a removed name is a tombstone (inode 0, which no real file
/// has) until more than half are, then the table is rebuilt. Up to
/// [`SMALL`] files (the common case) live in one boxed byte buffer
/// ([`Small`]); a directory with more (whose files come and go: inserts
/// must stay cheap) gets a [`Table`] with an index.
#[derive(Clone, Debug)]
pub(super) enum Files {
    Small(Small),
    Big(Box<Table>),
}

/// Past this many files a directory's table is a [`Table`].
pub(super) const SMALL: usize = 32;

impl Files {
    pub(super) fn new(dev: u64, since: i64) -> Files {
        Files::Small(Small::assemble(dev, since, 0, &[]))
    }

    /// A table from names sorted by byte value, without duplicates.
    pub(super) fn from_sorted<'a>(
        dev: u64,
        since: i64,
        items: impl ExactSizeIterator<Item = (&'a [u8], u64)>,
    ) -> Files {
        if items.len() > SMALL {
            return Files::Big(Box::new(Table::from_sorted(dev, since, items)));
        }
        let items: Vec<(&[u8], u64)> = items.collect();
        let mut records = Vec::new();
        for &(name, ino) in &items {
            if !encode(&mut records, name, ino) {
                // A name too long for a record (not one a listing gives).
                let items = items.into_iter();
                return Files::Big(Box::new(Table::from_sorted(dev, since, items)));
            }
        }
        Files::Small(Small::assemble(dev, since, 0, &records))
    }

    pub(super) fn dev(&self) -> u64 {
        match self {
            Files::Small(s) => s.dev(),
            Files::Big(t) => t.dev,
        }
    }

    pub(super) fn since(&self) -> i64 {
        match self {
            Files::Small(s) => s.since(),
            Files::Big(t) => t.since,
        }
    }

    pub(super) fn set_since(&mut self, since: i64) {
        match self {
            Files::Small(s) => s.set_since(since),
            Files::Big(t) => t.since = since,
        }
    }

    pub(super) fn get(&self, name: &[u8]) -> Option<u64> {
        match self {
            Files::Small(s) => s.get(name),
            Files::Big(t) => t.get(name),
        }
    }

    /// Records `name` with `ino` (not 0); false if it cannot be stored here.
    pub(super) fn insert(&mut self, name: &[u8], ino: u64) -> bool {
        match self {
            Files::Small(s) => {
                // A name here already (a tombstone too) is rewritten in
                // place; a new one fits while the table is small.
                if (s.len() < SMALL || s.find(name).is_ok()) && s.insert(name, ino) {
                    return true;
                }
                let mut table = s.to_table();
                let stored = table.insert(name, ino);
                *self = Files::Big(Box::new(table));
                stored
            }
            Files::Big(t) => t.insert(name, ino),
        }
    }

    /// [`Files::insert`] of a name not here yet (false if it is).
    pub(super) fn insert_new(&mut self, name: &[u8], ino: u64) -> bool {
        if let Files::Big(t) = self {
            return t.add(name, ino, false);
        }
        self.get(name).is_none() && self.insert(name, ino)
    }

    pub(super) fn remove(&mut self, name: &[u8]) -> Option<u64> {
        match self {
            Files::Small(s) => s.remove(name),
            Files::Big(t) => t.remove(name),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        match self {
            Files::Small(s) => s.is_empty(),
            Files::Big(t) => t.is_empty(),
        }
    }

    /// The files, sorted by name.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        let (small, big) = match self {
            Files::Small(s) => (Some(s.iter()), None),
            Files::Big(t) => (None, Some(t.iter())),
        };
        small.into_iter().flatten().chain(big.into_iter().flatten())
    }

    pub(super) fn entry(&self, ino: u64) -> Entry {
        Entry::listed(self.dev(), ino, self.since())
    }
}

/// A small table in one boxed byte buffer: a header (the device, the
/// listing time, how many records and how many of them are tombstones),
/// then the records sorted by name: per file its inode (8 bytes,
/// little-endian; 0 for a removed one), its name's length (one byte below
/// 128, else two) and the name. Searched from the start; an insert
/// rebuilds the buffer (at most [`SMALL`] records).
#[derive(Clone, Debug)]
pub(super) struct Small {
    buf: Box<[u8]>,
}

/// Header fields: device, listing time, records, tombstones.
pub(super) const DEV: usize = 0;
pub(super) const SINCE: usize = 8;
pub(super) const LEN: usize = 16;
pub(super) const DEAD: usize = 20;
pub(super) const HEAD: usize = 24;

/// The longest name a record holds (a longer one goes to a [`Table`]).
pub(super) const NAME_LIMIT: usize = 0x7fff;

/// One record read from a [`Small`] table: where it starts and ends
/// (offsets into the records), its inode and its name.
pub(super) struct Record<'a> {
    at: usize,
    end: usize,
    ino: u64,
    name: &'a [u8],
}

/// Appends the record for `name` with `ino` to `out`; false if the name is
/// too long for one.
pub(super) fn encode(out: &mut Vec<u8>, name: &[u8], ino: u64) -> bool {
    if name.len() > NAME_LIMIT {
        return false;
    }
    out.extend_from_slice(&ino.to_le_bytes());
    // The limit keeps the length within 15 bits.
    let len = name.len() as u16;
    if len < 0x80 {
        out.push(len as u8);
    } else {
        out.extend_from_slice(&(0x8000 | len).to_be_bytes());
    }
    out.extend_from_slice(name);
    true
}

/// The record starting at byte `at` of `records`.
pub(super) fn decode(records: &[u8], at: usize) -> Record<'_> {
    let mut ino = [0; 8];
    ino.copy_from_slice(&records[at..at + 8]);
    let (len, head) = match records[at + 8] {
        b if b < 0x80 => (usize::from(b), 1),
        b => (
            (usize::from(b & 0x7f) << 8) | usize::from(records[at + 9]),
            2,
        ),
    };
    let start = at + 8 + head;
    Record {
        at,
        end: start + len,
        ino: u64::from_le_bytes(ino),
        name: &records[start..start + len],
    }
}

impl Small {
    /// A table of the records laid out in `records`, `dead` of them
    /// tombstones.
    pub(super) fn assemble(dev: u64, since: i64, dead: u32, records: &[u8]) -> Small {
        let mut len: u32 = 0;
        let mut at = 0;
        while at < records.len() {
            len += 1;
            at = decode(records, at).end;
        }
        let mut buf = Vec::with_capacity(HEAD + records.len());
        buf.extend_from_slice(&dev.to_le_bytes());
        buf.extend_from_slice(&since.to_le_bytes());
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(&dead.to_le_bytes());
        buf.extend_from_slice(records);
        Small {
            buf: buf.into_boxed_slice(),
        }
    }

    /// The same files in a [`Table`], tombstones dropped.
    pub(super) fn to_table(&self) -> Table {
        let mut table = Table::new(self.dev(), self.since());
        for (name, ino) in self.iter() {
            table.push(name, ino);
        }
        table
    }

    pub(super) fn field(&self, at: usize) -> [u8; 8] {
        let mut b = [0; 8];
        b.copy_from_slice(&self.buf[at..at + 8]);
        b
    }

    pub(super) fn dev(&self) -> u64 {
        u64::from_le_bytes(self.field(DEV))
    }

    pub(super) fn since(&self) -> i64 {
        i64::from_le_bytes(self.field(SINCE))
    }

    pub(super) fn set_since(&mut self, since: i64) {
        self.buf[SINCE..SINCE + 8].copy_from_slice(&since.to_le_bytes());
    }

    pub(super) fn count(&self, at: usize) -> u32 {
        let mut b = [0; 4];
        b.copy_from_slice(&self.buf[at..at + 4]);
        u32::from_le_bytes(b)
    }

    pub(super) fn len(&self) -> usize {
        self.count(LEN) as usize
    }

    pub(super) fn dead(&self) -> u32 {
        self.count(DEAD)
    }

    pub(super) fn set_dead(&mut self, dead: u32) {
        self.buf[DEAD..DEAD + 4].copy_from_slice(&dead.to_le_bytes());
    }

    pub(super) fn records(&self) -> &[u8] {
        &self.buf[HEAD..]
    }

    /// The record holding `name` (`Ok`), or the offset where it would go
    /// (`Err`).
    pub(super) fn find(&self, name: &[u8]) -> Result<Record<'_>, usize> {
        use std::cmp::Ordering;
        let records = self.records();
        let mut at = 0;
        while at < records.len() {
            let rec = decode(records, at);
            match rec.name.cmp(name) {
                Ordering::Less => at = rec.end,
                Ordering::Equal => return Ok(rec),
                Ordering::Greater => return Err(at),
            }
        }
        Err(at)
    }

    pub(super) fn get(&self, name: &[u8]) -> Option<u64> {
        Some(self.find(name).ok()?.ino).filter(|&ino| ino != 0)
    }

    /// Writes the inode of the record at offset `at`.
    pub(super) fn set_ino(&mut self, at: usize, ino: u64) {
        let at = HEAD + at;
        self.buf[at..at + 8].copy_from_slice(&ino.to_le_bytes());
    }

    /// Records `name` with `ino` (not 0); false if the name does not fit
    /// a record.
    pub(super) fn insert(&mut self, name: &[u8], ino: u64) -> bool {
        match self.find(name) {
            Ok(rec) => {
                let (at, was) = (rec.at, rec.ino);
                if was == 0 {
                    self.set_dead(self.dead() - 1);
                }
                self.set_ino(at, ino);
                true
            }
            Err(at) => {
                let records = self.records();
                let mut all = Vec::with_capacity(records.len() + 10 + name.len());
                all.extend_from_slice(&records[..at]);
                if !encode(&mut all, name, ino) {
                    return false;
                }
                all.extend_from_slice(&records[at..]);
                *self = Small::assemble(self.dev(), self.since(), self.dead(), &all);
                true
            }
        }
    }

    pub(super) fn remove(&mut self, name: &[u8]) -> Option<u64> {
        let rec = self.find(name).ok()?;
        let (at, ino) = (rec.at, rec.ino);
        if ino == 0 {
            return None;
        }
        self.set_ino(at, 0);
        self.set_dead(self.dead() + 1);
        if self.dead() as usize * 2 > self.len() {
            let mut live = Vec::new();
            for (name, ino) in self.iter() {
                encode(&mut live, name, ino);
            }
            *self = Small::assemble(self.dev(), self.since(), 0, &live);
        }
        Some(ino)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == self.dead() as usize
    }

    /// The files, sorted by name.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        let records = self.records();
        let mut at = 0;
        std::iter::from_fn(move || {
            while at < records.len() {
                let rec = decode(records, at);
                at = rec.end;
                if rec.ino != 0 {
                    return Some((rec.name, rec.ino));
                }
            }
            None
        })
    }
}

/// A large table ([`Files::Big`]): names stored once, in an arena, with
/// an index of where each starts, and the inodes, so an insert shifts
/// two arrays of numbers and appends the name. Tombstones as in [`Files`].
#[derive(Clone, Debug)]
pub(super) struct Table {
    /// The device of the directory the files were listed in.
    dev: u64,
    /// The oldest [`listed_since`] of the files here.
    since: i64,
    /// Per file, sorted by name: where its name starts in `names`.
    offsets: Vec<u32>,
    /// Per file: its inode, 0 for a removed one.
    inos: Vec<u64>,
    /// Each name as a little-endian `u16` length followed by its bytes.
    names: Vec<u8>,
    /// How many entries are tombstones.
    dead: usize,
    /// Names added since the table was last built.
    recent: Recent,
}

/// Names added to a [`Table`] since it was built, kept apart so that
/// an insertion never shifts the whole table (a burst of creations in one
/// directory would move it once per file). Merged into the table once they
/// pass a quarter of it. A name is never both here and in the table.
#[derive(Clone, Debug, Default)]
pub(super) struct Recent {
    items: BTreeMap<Box<[u8]>, u64>,
}

impl Recent {
    /// Whether, beside a table of `len` entries, it is time to merge.
    pub(super) fn full(&self, len: usize) -> bool {
        self.items.len() > (len / 4).max(64)
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
    pub(super) fn new(dev: u64, since: i64) -> Table {
        Table {
            dev,
            since,
            offsets: Vec::new(),
            inos: Vec::new(),
            names: Vec::new(),
            dead: 0,
            recent: Recent::default(),
        }
    }

    /// A table from names sorted by byte value, without duplicates.
    pub(super) fn from_sorted<'a>(
        dev: u64,
        since: i64,
        items: impl ExactSizeIterator<Item = (&'a [u8], u64)>,
    ) -> Table {
        let mut files = Table::new(dev, since);
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

    pub(super) fn find(&self, name: &[u8]) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.offsets.len());
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

    pub(super) fn get(&self, name: &[u8]) -> Option<u64> {
        match self.find(name) {
            Ok(i) => Some(self.inos[i]).filter(|&ino| ino != 0),
            Err(_) => self.recent.items.get(name).copied(),
        }
    }

    /// Stores `name` at the end of the arena; its offset, or `None` if
    /// it does not fit the table's fields.
    pub(super) fn store(&mut self, name: &[u8]) -> Option<u32> {
        let len = u16::try_from(name.len()).ok()?;
        let at = u32::try_from(self.names.len()).ok()?;
        u32::try_from(self.names.len() + 2 + name.len()).ok()?;
        self.names.extend_from_slice(&len.to_le_bytes());
        self.names.extend_from_slice(name);
        Some(at)
    }

    /// Appends a name greater than every name here.
    pub(super) fn push(&mut self, name: &[u8], ino: u64) -> bool {
        let Some(at) = self.store(name) else {
            return false;
        };
        self.offsets.push(at);
        self.inos.push(ino);
        true
    }

    /// Records `name` with `ino` (not 0); false if it cannot be stored here.
    pub(super) fn insert(&mut self, name: &[u8], ino: u64) -> bool {
        self.add(name, ino, true)
    }

    /// [`Files::insert`]; without `replace`, only a name not here yet
    /// (false if it is).
    pub(super) fn add(&mut self, name: &[u8], ino: u64, replace: bool) -> bool {
        match self.find(name) {
            Ok(i) if !replace && self.inos[i] != 0 => false,
            Ok(i) => {
                if self.inos[i] == 0 {
                    self.dead -= 1;
                }
                self.inos[i] = ino;
                true
            }
            Err(i) if i == self.offsets.len() && self.recent.items.is_empty() => {
                self.push(name, ino)
            }
            Err(_) => {
                // What `store` would refuse: the length field or the arena.
                if u16::try_from(name.len()).is_err()
                    || u32::try_from(self.names.len() + 2 + name.len()).is_err()
                {
                    return false;
                }
                // One search of the recent names, whether or not it is
                // there (the key is made first; it rarely is).
                match self.recent.items.entry(name.into()) {
                    btree_map::Entry::Occupied(_) if !replace => return false,
                    btree_map::Entry::Occupied(mut here) => {
                        here.insert(ino);
                        return true;
                    }
                    btree_map::Entry::Vacant(new) => {
                        new.insert(ino);
                    }
                }
                if self.recent.full(self.offsets.len()) {
                    self.rebuild();
                }
                true
            }
        }
    }

    pub(super) fn remove(&mut self, name: &[u8]) -> Option<u64> {
        let Ok(i) = self.find(name) else {
            return self.recent.items.remove(name);
        };
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

    /// The table again, without tombstones and with the recent names.
    pub(super) fn rebuild(&mut self) {
        let mut next = Table::new(self.dev, self.since);
        let live = self.offsets.len() - self.dead + self.recent.items.len();
        next.offsets.reserve_exact(live);
        next.inos.reserve_exact(live);
        let recent: usize = self.recent.items.keys().map(|n| n.len() + 2).sum();
        next.names.reserve_exact(self.names.len() + recent);
        for (name, ino) in self.iter() {
            // Checked when each name came in (see `insert`).
            let _ = next.push(name, ino);
        }
        *self = next;
    }

    pub(super) fn is_empty(&self) -> bool {
        self.offsets.len() == self.dead && self.recent.items.is_empty()
    }

    /// The files, sorted by name.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        let built = (0..self.offsets.len())
            .filter(|&i| self.inos[i] != 0)
            .map(|i| (self.name(i), self.inos[i]));
        let recent = self.recent.items.iter().map(|(n, i)| (&n[..], *i));
        Merged {
            a: built.peekable(),
            b: recent.peekable(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_takes_names_in_any_order_like_a_sorted_map() {
        // Names in creation order ("f10" sorts before "f2"), removals and
        // re-insertions on both sides of each merge of the recent names.
        let mut files = Table::new(1, 0);
        let mut model = BTreeMap::new();
        for i in 0..3_000u64 {
            let name = format!("f{}", (i * 7_919) % 2_000);
            if i % 5 == 4 {
                assert_eq!(files.remove(name.as_bytes()), model.remove(name.as_bytes()));
            } else {
                assert!(files.insert(name.as_bytes(), i + 1));
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
        assert!(files.recent.items.len() <= 600);
        assert_eq!(files.is_empty(), model.is_empty());
    }
}
