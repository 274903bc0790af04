//! A large directory's file table ([`Files::Big`](super::Files::Big)):
//! sorted names, a log of names added out of order, and the hash index
//! that finds either.

/// A large table ([`Files::Big`](super::Files::Big)): names stored once, in an arena, with
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
/// over every entry: one 8-byte slot (its position and its name's 32-bit
/// hash) two to four times over (at least half the slots free, so that a
/// search for a new name stops early), 16 to 32 bytes. A table that never
/// takes a name out of order has no index.
#[derive(Clone, Debug)]
pub(in crate::snapshot) struct Table {
    /// The oldest [`listed_since`](crate::snapshot::listed_since) of the files here.
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
/// position plus one in its low 32 bits and the low 32 bits of its name's
/// hash in its high ones, or 0 when free. A name's search starts at the
/// slot its hash picks and moves on one slot at a time until the name or
/// a free slot; it compares a name only when the hashes agree, and reads
/// nothing but the slots until then (one cache line for most searches).
/// A grown index places the entries again by the hashes in their slots,
/// without hashing a name.
#[derive(Clone, Debug)]
struct Index {
    hash: NameHash,
    slots: Vec<u64>,
}

/// A slot's content for the entry at `position` whose name hashes to `hash`.
fn slot_of(position: usize, hash: u32) -> u64 {
    (u64::from(hash) << 32) | (position as u64 + 1)
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
                v if (v >> 32) as u32 == hash && self.name((v as u32 - 1) as usize) == name => {
                    return (s, Some((v as u32 - 1) as usize), passed, hash);
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
                let placed = if len * 2 <= index.slots.len() {
                    // At least half the slots stay free: where the search ended.
                    index.slots[s] = slot_of(len - 1, hash);
                    passed <= LONG_SEARCH || matches!(index.hash, NameHash::Keyed(_))
                } else {
                    // Grown, to twice the size, each entry placed again.
                    let old =
                        std::mem::replace(&mut index.slots, vec![0; (len * 2).next_power_of_two()]);
                    let taken = old.into_iter().filter(|&v| v != 0);
                    Self::place_all(index, taken.chain([slot_of(len - 1, hash)]))
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

    /// Places every entry (slot contents, each with its name's hash) in
    /// the free slots of `index`; false if a search passed
    /// [`LONG_SEARCH`] slots with the fast hash (then not all are placed).
    fn place_all(index: &mut Index, taken: impl Iterator<Item = u64>) -> bool {
        let mask = index.slots.len() - 1;
        let fast = matches!(index.hash, NameHash::Fast(_));
        for v in taken {
            // The names differ: the first free slot is this one's.
            let mut s = (v >> 32) as usize & mask;
            let mut passed = 0;
            while index.slots[s] != 0 {
                s = (s + 1) & mask;
                passed += 1;
            }
            if fast && passed > LONG_SEARCH {
                return false;
            }
            index.slots[s] = v;
        }
        true
    }

    /// A new index over every entry (at least half its slots free), the
    /// names hashed with `hash`, or with the keyed hash if a search runs
    /// long with the fast one.
    fn reindex(&mut self, hash: NameHash) {
        let len = self.offsets.len();
        let taken: Vec<u64> = (0..len)
            .map(|i| slot_of(i, hash.of(self.name(i))))
            .collect();
        let mut index = Index {
            hash,
            slots: vec![0; (len * 2).next_power_of_two().max(64)],
        };
        if !Self::place_all(&mut index, taken.into_iter()) {
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

    #[cfg(test)]
    /// Whether the index (if any) holds every entry once, each with its
    /// name's hash, and leaves at least half its slots free.
    pub(super) fn index_is_sound(&self) -> bool {
        let Some(index) = &self.index else {
            return self.sorted == self.offsets.len();
        };
        let taken: Vec<u64> = index.slots.iter().copied().filter(|&v| v != 0).collect();
        let mut positions: Vec<usize> = taken.iter().map(|&v| (v as u32 - 1) as usize).collect();
        positions.sort_unstable();
        index.slots.len() >= 2 * self.offsets.len()
            && positions == (0..self.offsets.len()).collect::<Vec<_>>()
            && taken
                .iter()
                .all(|&v| (v >> 32) as u32 == index.hash.of(self.name((v as u32 - 1) as usize)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

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
}
