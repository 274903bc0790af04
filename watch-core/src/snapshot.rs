//! Tree snapshots: what was seen at each path of a watched root.
//!
//! A [`Snapshot`] maps paths relative to the root (the root itself is the
//! empty path) to the [`Entry`] last seen there. Both the poll backend and
//! overflow recovery diff two snapshots ([`crate::diff`]); kernel backends
//! keep theirs up to date event by event. Snapshots are made by
//! [`crate::scan`].
//!
//! # Layout
//!
//! Directories, symlinks, other special files and every file whose status
//! was read (`lstat`) are kept by path, each with its full [`Entry`]. A
//! regular file that a kernel backend's scan only *listed* (its name, type
//! and inode come from the directory listing, no `lstat`) is kept in its
//! directory's [`Files`] table instead: the name stored once, with the
//! inode; about 9 bytes plus the name per file in a small directory's
//! single buffer (14 in a large one's indexed table), against a full
//! relative path and a 64-byte entry. Such an entry is
//! [`Entry::listed`]: its size, times and permissions are unknown, and its
//! `ctime` holds the moment (less a margin) its directory was listed. The
//! rescan after a queue overflow treats a listed file whose ctime is not
//! older than that as changed ([`Entry::content_differs`]): the kernel
//! moves a file's ctime on every write, truncation, rename, link count or
//! attribute change, user space cannot set it, and it comes from the same
//! clock as our own timestamp.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The type of a filesystem object, as `lstat` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

/// What a scan records about one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) kind: EntryKind,
    /// Only listed, never examined (see [`Entry::listed`]).
    pub(crate) listed: bool,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    /// Modification time, as a [`stamp`].
    pub(crate) mtime: i64,
    /// Status change time, as a [`stamp`]. The kernel sets it to the current
    /// time on every write, truncation, rename, link count or attribute
    /// change, and user space cannot set it: a rewrite whose size stays and
    /// whose mtime was put back (`cp -p`, `tar x`, `rsync -t`, `touch -r`)
    /// still moves it. For a listed entry: when it was listed, less
    /// [`LISTED_MARGIN`].
    pub(crate) ctime: i64,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// A symlink's target (boxed: rare, and one pointer wide when absent).
    pub(crate) target: Option<Box<PathBuf>>,
}

// Many are kept, so size matters.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Entry>() <= 64);

/// A timestamp as one number, so that an entry keeps both times and still
/// packs into 64 bytes: nanoseconds since the epoch, wrapping. Exact and
/// ordered from 1678 to 2262; beyond that two times give the same stamp
/// only when they are a multiple of about 584 years apart.
pub(crate) fn stamp(secs: i64, nsecs: i64) -> i64 {
    // `nsecs` is in [0, 10^9) by definition; clamp rather than trust it.
    secs.wrapping_mul(1_000_000_000)
        .wrapping_add(nsecs.clamp(0, 999_999_999))
}

/// How far before the moment a directory is listed its listed files' ctimes
/// may lie and still count as "maybe changed since". The kernel stamps a
/// change with a coarse clock that lags the one we read by up to a timer
/// tick (10 ms at the lowest tick rate), and some filesystems keep whole
/// seconds (ext3 without large inodes, HFS+, many NFS servers), truncating
/// a change made after the listing to up to a second before it. Two seconds
/// covers both with room; the price is an extra `Modified` after an overflow
/// for a file changed in the two seconds before it was listed.
pub(crate) const LISTED_MARGIN_NS: i64 = 2_000_000_000;

/// The inode of a file known from its creation event only
/// ([`Snapshot::announce`]): not read. No real inode has
/// this number (and 0 marks a placeholder).
pub(crate) const UNKNOWN_INO: u64 = u64::MAX;

/// The threshold for files listed now: the current time (the clock the
/// kernel stamps ctimes with) less [`LISTED_MARGIN_NS`].
pub(crate) fn listed_since() -> i64 {
    let now = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => stamp(
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2),
            i64::from(d.subsec_nanos()),
        ),
        // A clock before 1970: every listed file then counts as changed.
        Err(_) => i64::MIN,
    };
    now.saturating_sub(LISTED_MARGIN_NS)
}

impl Entry {
    /// An entry from (l)stat metadata; `target` for symlinks.
    pub(crate) fn from_metadata(meta: &Metadata, target: Option<PathBuf>) -> Entry {
        let ft = meta.file_type();
        let kind = if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        };
        Entry {
            kind,
            listed: false,
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: stamp(meta.mtime(), meta.mtime_nsec()),
            ctime: stamp(meta.ctime(), meta.ctime_nsec()),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            target: target.map(Box::new),
        }
    }

    /// A regular file known only from its directory's listing: device (its
    /// directory's), inode (`d_ino`), and `since`, a [`listed_since`]
    /// taken before the directory was read. Size, times and permissions
    /// are unknown: a rescan reports the file as modified (content and
    /// metadata) if its ctime is at or after `since`.
    pub(crate) fn listed(dev: u64, ino: u64, since: i64) -> Entry {
        Entry {
            kind: EntryKind::File,
            listed: true,
            dev,
            ino,
            size: 0,
            mtime: 0,
            ctime: since,
            mode: 0,
            uid: 0,
            gid: 0,
            target: None,
        }
    }

    /// Known only from its creation event ([`Snapshot::announce`]).
    pub(crate) fn is_announced(&self) -> bool {
        self.listed && self.ino == UNKNOWN_INO
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    /// `lstat` of `path`, with the target read for a symlink.
    pub(crate) fn lstat(path: &Path) -> io::Result<Entry> {
        let meta = fs::symlink_metadata(path)?;
        let target = if meta.file_type().is_symlink() {
            Some(fs::read_link(path)?)
        } else {
            None
        };
        Ok(Entry::from_metadata(&meta, target))
    }

    /// An entry for a path reported as created that was gone before it
    /// could be examined. Inode 0 never matches a real object.
    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    pub(crate) fn placeholder(is_dir: bool) -> Entry {
        Entry {
            kind: if is_dir {
                EntryKind::Dir
            } else {
                EntryKind::File
            },
            listed: false,
            dev: 0,
            ino: 0,
            size: 0,
            mtime: 0,
            ctime: 0,
            mode: 0,
            uid: 0,
            gid: 0,
            target: None,
        }
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }

    /// Same filesystem object (type, device, inode). Never true for an
    /// [`Snapshot::announce`] one, whose inode is unknown: see
    /// [`Entry::may_be`].
    pub(crate) fn same_object(&self, other: &Entry) -> bool {
        self.kind == other.kind
            && self.dev == other.dev
            && self.ino == other.ino
            && self.ino != UNKNOWN_INO
    }

    /// Whether `other`, seen later at the same path, is taken for the
    /// object `self` recorded: the same object, or any non-directory for an
    /// [`Snapshot::announce`] one (whatever replaced it since moved the ctime
    /// past its `since`, so it is reported as changed).
    pub(crate) fn may_be(&self, other: &Entry) -> bool {
        self.same_object(other) || (self.is_announced() && !other.is_dir())
    }

    /// Whether `new`, seen later at the same path, may differ from a listed
    /// `self` in anything but its name: its ctime is not older than the
    /// listing (less the margin). Unknown (so yes) when `new` is listed too.
    fn listed_changed(&self, new: &Entry) -> bool {
        new.listed || new.ctime >= self.ctime
    }

    /// Content changed: size or mtime of a non-directory, or a symlink target.
    /// (A directory's mtime changes with every entry; its entries report that.)
    /// For a listed entry (on either side): see [`Entry::listed`].
    pub(crate) fn content_differs(&self, other: &Entry) -> bool {
        if self.listed {
            return self.listed_changed(other);
        }
        if other.listed {
            return true;
        }
        self.kind != EntryKind::Dir
            && (self.size != other.size || self.mtime != other.mtime || self.target != other.target)
    }

    /// The status change time of a file (not a directory or a symlink)
    /// moved. Unless something else explains it (a rename, a link added or
    /// removed, a permission change), the content was rewritten with its
    /// size and mtime kept or put back: see [`crate::diff`]. Listed
    /// entries are judged by [`Entry::content_differs`] instead.
    pub(crate) fn ctime_differs(&self, other: &Entry) -> bool {
        !self.listed
            && !other.listed
            && !matches!(self.kind, EntryKind::Dir | EntryKind::Symlink)
            && self.ctime != other.ctime
    }

    /// Permissions or ownership changed. For a listed entry, unknown: it
    /// may have if its ctime moved (a rescan cannot tell a `chmod` from a
    /// rewrite without the old values, so it reports both).
    pub(crate) fn metadata_differs(&self, other: &Entry) -> bool {
        if self.listed {
            return self.listed_changed(other);
        }
        if other.listed {
            return true;
        }
        self.mode != other.mode || self.uid != other.uid || self.gid != other.gid
    }
}

/// The listed regular files of one directory, sorted by name, each with
/// its inode; a removed name is a tombstone (inode 0, which no real file
/// has) until more than half are, then the table is rebuilt. Up to
/// [`SMALL`] files (the common case) live in one boxed byte buffer
/// ([`Small`]); a directory with more (whose files come and go: inserts
/// must stay cheap) gets a [`Table`] with an index.
#[derive(Clone, Debug)]
enum Files {
    Small(Small),
    Big(Box<Table>),
}

/// Past this many files a directory's table is a [`Table`].
const SMALL: usize = 32;

impl Files {
    fn new(dev: u64, since: i64) -> Files {
        Files::Small(Small::assemble(dev, since, 0, &[]))
    }

    /// A table from names sorted by byte value, without duplicates.
    fn from_sorted<'a>(
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

    fn dev(&self) -> u64 {
        match self {
            Files::Small(s) => s.dev(),
            Files::Big(t) => t.dev,
        }
    }

    fn since(&self) -> i64 {
        match self {
            Files::Small(s) => s.since(),
            Files::Big(t) => t.since,
        }
    }

    fn set_since(&mut self, since: i64) {
        match self {
            Files::Small(s) => s.set_since(since),
            Files::Big(t) => t.since = since,
        }
    }

    fn get(&self, name: &[u8]) -> Option<u64> {
        match self {
            Files::Small(s) => s.get(name),
            Files::Big(t) => t.get(name),
        }
    }

    /// Records `name` with `ino` (not 0); false if it cannot be stored here.
    fn insert(&mut self, name: &[u8], ino: u64) -> bool {
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
    fn insert_new(&mut self, name: &[u8], ino: u64) -> bool {
        if let Files::Big(t) = self {
            return t.add(name, ino, false);
        }
        self.get(name).is_none() && self.insert(name, ino)
    }

    fn remove(&mut self, name: &[u8]) -> Option<u64> {
        match self {
            Files::Small(s) => s.remove(name),
            Files::Big(t) => t.remove(name),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Files::Small(s) => s.is_empty(),
            Files::Big(t) => t.is_empty(),
        }
    }

    /// The files, sorted by name.
    fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
        let (small, big) = match self {
            Files::Small(s) => (Some(s.iter()), None),
            Files::Big(t) => (None, Some(t.iter())),
        };
        small.into_iter().flatten().chain(big.into_iter().flatten())
    }

    fn entry(&self, ino: u64) -> Entry {
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
struct Small {
    buf: Box<[u8]>,
}

/// Header fields: device, listing time, records, tombstones.
const DEV: usize = 0;
const SINCE: usize = 8;
const LEN: usize = 16;
const DEAD: usize = 20;
const HEAD: usize = 24;

/// The longest name a record holds (a longer one goes to a [`Table`]).
const NAME_LIMIT: usize = 0x7fff;

/// One record read from a [`Small`] table: where it starts and ends
/// (offsets into the records), its inode and its name.
struct Record<'a> {
    at: usize,
    end: usize,
    ino: u64,
    name: &'a [u8],
}

/// Appends the record for `name` with `ino` to `out`; false if the name is
/// too long for one.
fn encode(out: &mut Vec<u8>, name: &[u8], ino: u64) -> bool {
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
fn decode(records: &[u8], at: usize) -> Record<'_> {
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
    fn assemble(dev: u64, since: i64, dead: u32, records: &[u8]) -> Small {
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
    fn to_table(&self) -> Table {
        let mut table = Table::new(self.dev(), self.since());
        for (name, ino) in self.iter() {
            table.push(name, ino);
        }
        table
    }

    fn field(&self, at: usize) -> [u8; 8] {
        let mut b = [0; 8];
        b.copy_from_slice(&self.buf[at..at + 8]);
        b
    }

    fn dev(&self) -> u64 {
        u64::from_le_bytes(self.field(DEV))
    }

    fn since(&self) -> i64 {
        i64::from_le_bytes(self.field(SINCE))
    }

    fn set_since(&mut self, since: i64) {
        self.buf[SINCE..SINCE + 8].copy_from_slice(&since.to_le_bytes());
    }

    fn count(&self, at: usize) -> u32 {
        let mut b = [0; 4];
        b.copy_from_slice(&self.buf[at..at + 4]);
        u32::from_le_bytes(b)
    }

    fn len(&self) -> usize {
        self.count(LEN) as usize
    }

    fn dead(&self) -> u32 {
        self.count(DEAD)
    }

    fn set_dead(&mut self, dead: u32) {
        self.buf[DEAD..DEAD + 4].copy_from_slice(&dead.to_le_bytes());
    }

    fn records(&self) -> &[u8] {
        &self.buf[HEAD..]
    }

    /// The record holding `name` (`Ok`), or the offset where it would go
    /// (`Err`).
    fn find(&self, name: &[u8]) -> Result<Record<'_>, usize> {
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

    fn get(&self, name: &[u8]) -> Option<u64> {
        Some(self.find(name).ok()?.ino).filter(|&ino| ino != 0)
    }

    /// Writes the inode of the record at offset `at`.
    fn set_ino(&mut self, at: usize, ino: u64) {
        let at = HEAD + at;
        self.buf[at..at + 8].copy_from_slice(&ino.to_le_bytes());
    }

    /// Records `name` with `ino` (not 0); false if the name does not fit
    /// a record.
    fn insert(&mut self, name: &[u8], ino: u64) -> bool {
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

    fn remove(&mut self, name: &[u8]) -> Option<u64> {
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

    fn is_empty(&self) -> bool {
        self.len() == self.dead() as usize
    }

    /// The files, sorted by name.
    fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
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
struct Table {
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
struct Recent {
    items: BTreeMap<Box<[u8]>, u64>,
}

impl Recent {
    /// Whether, beside a table of `len` entries, it is time to merge.
    fn full(&self, len: usize) -> bool {
        self.items.len() > (len / 4).max(64)
    }
}

/// Two runs of (name, inode) sorted by name, without common names, as one.
struct Merged<A: Iterator, B: Iterator> {
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
    fn new(dev: u64, since: i64) -> Table {
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
    fn from_sorted<'a>(
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

    fn name(&self, i: usize) -> &[u8] {
        let at = self.offsets[i] as usize;
        let len = u16::from_le_bytes([self.names[at], self.names[at + 1]]) as usize;
        &self.names[at + 2..at + 2 + len]
    }

    fn find(&self, name: &[u8]) -> Result<usize, usize> {
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

    fn get(&self, name: &[u8]) -> Option<u64> {
        match self.find(name) {
            Ok(i) => Some(self.inos[i]).filter(|&ino| ino != 0),
            Err(_) => self.recent.items.get(name).copied(),
        }
    }

    /// Stores `name` at the end of the arena; its offset, or `None` if
    /// it does not fit the table's fields.
    fn store(&mut self, name: &[u8]) -> Option<u32> {
        let len = u16::try_from(name.len()).ok()?;
        let at = u32::try_from(self.names.len()).ok()?;
        u32::try_from(self.names.len() + 2 + name.len()).ok()?;
        self.names.extend_from_slice(&len.to_le_bytes());
        self.names.extend_from_slice(name);
        Some(at)
    }

    /// Appends a name greater than every name here.
    fn push(&mut self, name: &[u8], ino: u64) -> bool {
        let Some(at) = self.store(name) else {
            return false;
        };
        self.offsets.push(at);
        self.inos.push(ino);
        true
    }

    /// Records `name` with `ino` (not 0); false if it cannot be stored here.
    fn insert(&mut self, name: &[u8], ino: u64) -> bool {
        self.add(name, ino, true)
    }

    /// [`Files::insert`]; without `replace`, only a name not here yet
    /// (false if it is).
    fn add(&mut self, name: &[u8], ino: u64, replace: bool) -> bool {
        match self.find(name) {
            Ok(i) if !replace && self.inos[i] != 0 => false,
            Err(_) if !replace && self.recent.items.contains_key(name) => false,
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
                self.recent.items.insert(name.into(), ino);
                if self.recent.full(self.offsets.len()) {
                    self.rebuild();
                }
                true
            }
        }
    }

    fn remove(&mut self, name: &[u8]) -> Option<u64> {
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
    fn rebuild(&mut self) {
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

    fn is_empty(&self) -> bool {
        self.offsets.len() == self.dead && self.recent.items.is_empty()
    }

    /// The files, sorted by name.
    fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> {
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

/// A path kept with its full entry, and (for a directory) the regular
/// files listed in it.
#[derive(Clone, Debug)]
struct Node {
    entry: Entry,
    files: Option<Files>,
}

/// Paths relative to a root (the root itself is `""`) and what was there.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    nodes: BTreeMap<PathBuf, Node>,
    /// The `since` of every [`Snapshot::announce`] file here (`None` until
    /// one is recorded): the oldest recorded.
    announced: Option<i64>,
    /// Every change made before this [`stamp`] was recorded or reported
    /// ([`Snapshot::confirm`]): a listed or announced file is judged
    /// against it when that is later than its own `since`.
    floor: Option<i64>,
}

/// The parent and last name of a relative path; `None` for the root.
fn split(rel: &Path) -> Option<(&Path, &OsStr)> {
    Some((rel.parent()?, rel.file_name()?))
}

impl PartialEq for Snapshot {
    fn eq(&self, other: &Snapshot) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Snapshot {}

impl Snapshot {
    /// What was seen at `rel`.
    pub(crate) fn get(&self, rel: &Path) -> Option<Entry> {
        if let Some(node) = self.nodes.get(rel) {
            return Some(node.entry.clone());
        }
        let (parent, name) = split(rel)?;
        let files = self.nodes.get(parent)?.files.as_ref()?;
        files
            .get(name.as_bytes())
            .map(|ino| self.listed_entry(files, ino))
    }

    /// A listed file's entry from its table.
    fn listed_entry(&self, files: &Files, ino: u64) -> Entry {
        let mut entry = files.entry(ino);
        if ino == UNKNOWN_INO {
            entry.ctime = self.announced.unwrap_or(i64::MIN);
        }
        if let Some(floor) = self.floor {
            entry.ctime = entry.ctime.max(floor);
        }
        entry
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    /// Records the non-directory `name`, created in the directory `dir`
    /// (recorded here; `rel` is the two joined), if nothing is recorded at
    /// `rel` yet, as known from its
    /// creation event only: its type from the event, no `lstat`. It is
    /// kept like a listed file ([`Entry::listed`]) in `dir`'s table, with
    /// its inode unknown ([`UNKNOWN_INO`]) and `since` a [`listed_since`]
    /// taken before the event queue was last seen empty, so every later
    /// change leaves a ctime at or after it. A rescan takes whatever
    /// non-directory it finds at the path for that file ([`Entry::may_be`]),
    /// changed (content and metadata) when its ctime is not older than
    /// `since` or the later [`Snapshot::confirm`]. `false` (nothing
    /// recorded) when something is recorded at `rel`, `dir` is not a
    /// directory recorded here or the name does not fit.
    pub(crate) fn announce(&mut self, dir: &Path, name: &OsStr, rel: &Path, since: i64) -> bool {
        if self.nodes.contains_key(rel) {
            return false;
        }
        let Some(node) = self.nodes.get_mut(dir).filter(|n| n.entry.is_dir()) else {
            return false;
        };
        let dev = node.entry.dev;
        let files = node.files.get_or_insert_with(|| Files::new(dev, i64::MAX));
        if files.dev() != dev || !files.insert_new(name.as_bytes(), UNKNOWN_INO) {
            return false;
        }
        self.announced = Some(self.announced.map_or(since, |a| a.min(since)));
        true
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    /// Every change made before `since` (a [`listed_since`] taken before
    /// the event queue was seen empty, with every event read before it
    /// handled) is recorded here or was reported: from now on a listed or
    /// announced file counts as changed only when its ctime is not older
    /// than `since` (or its own, later, `since`).
    pub(crate) fn confirm(&mut self, since: i64) {
        self.floor = Some(self.floor.map_or(since, |f| f.max(since)));
    }

    /// Records `entry` at `rel`, replacing what was there (not what is
    /// below it). A listed entry goes into its directory's table when the
    /// directory is known and on the same device.
    pub(crate) fn insert(&mut self, rel: PathBuf, entry: Entry) {
        if let Some((parent, name)) = split(&rel) {
            let name = name.as_bytes();
            if entry.listed
                && entry.ino != 0
                && !self.nodes.contains_key(&rel)
                && let Some(node) = self.nodes.get_mut(parent)
            {
                let files = node
                    .files
                    .get_or_insert_with(|| Files::new(entry.dev, i64::MAX));
                if files.dev() == entry.dev && files.insert(name, entry.ino) {
                    if entry.ino == UNKNOWN_INO {
                        self.announced =
                            Some(self.announced.map_or(entry.ctime, |a| a.min(entry.ctime)));
                    } else {
                        files.set_since(files.since().min(entry.ctime));
                    }
                    return;
                }
            }
            if let Some(files) = self.nodes.get_mut(parent).and_then(|n| n.files.as_mut()) {
                files.remove(name);
            }
        }
        match self.nodes.get_mut(&rel) {
            Some(node) => node.entry = entry,
            None => {
                self.nodes.insert(rel, Node { entry, files: None });
            }
        }
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    /// The paths holding a placeholder ([`Entry::placeholder`]).
    pub(crate) fn placeholders(&self) -> Vec<PathBuf> {
        // Inode 0 is never listed: placeholders are always nodes.
        self.nodes
            .iter()
            .filter(|(_, n)| n.entry.ino == 0)
            .map(|(p, _)| p.clone())
            .collect()
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    /// After a rename moved the ctime of the file at `rel` (`ctime` read
    /// from the same object): record it, so a rescan does not take the
    /// move for a rewrite. A listed file keeps its listing time: a rescan
    /// then reports it as modified, once, rather than risk missing a
    /// rewrite made between the rename and the `lstat` that read `ctime`.
    pub(crate) fn refresh_ctime(&mut self, rel: &Path, ctime: i64) {
        if let Some(node) = self.nodes.get_mut(rel)
            && !node.entry.listed
        {
            node.entry.ctime = ctime;
        }
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    /// Keeps the regular files examined by a scan that started at `since`
    /// (a [`listed_since`] taken before it) as listed from then on: what
    /// a rescan compares later is then the same as after setup, and the
    /// snapshot as small. Each file was examined after `since`, so a later
    /// change leaves a ctime at or after it.
    pub(crate) fn relist(&mut self, since: i64) {
        let files: Vec<PathBuf> = self
            .nodes
            .iter()
            .filter(|(p, n)| {
                n.entry.kind == EntryKind::File
                    && !n.entry.listed
                    && n.entry.ino != 0
                    && !p.as_os_str().is_empty()
            })
            .map(|(p, _)| p.clone())
            .collect();
        for path in files {
            if let Some(node) = self.nodes.remove(&path) {
                let listed = Entry::listed(node.entry.dev, node.entry.ino, since);
                self.insert(path, listed);
            }
        }
    }

    /// The paths kept by node at and below `rel`, each with its node.
    fn node_range<'s>(&'s self, rel: &Path) -> impl Iterator<Item = (&'s PathBuf, &'s Node)> {
        let rel = rel.to_path_buf();
        // Paths order component-wise, so a subtree is one contiguous run.
        self.nodes
            .range(rel.clone()..)
            .take_while(move |(p, _)| p.starts_with(&rel))
    }

    /// Every path with its entry, `(node path, node)` expanded.
    fn expand(&self, out: &mut Vec<(PathBuf, Entry)>, path: &Path, node: &Node) {
        out.push((path.to_path_buf(), node.entry.clone()));
        if let Some(files) = &node.files {
            for (name, ino) in files.iter() {
                out.push((
                    join_rel(path, Path::new(OsStr::from_bytes(name))),
                    self.listed_entry(files, ino),
                ));
            }
        }
    }

    /// `rel` and every path below it, in path order (parents first).
    pub(crate) fn subtree(&self, rel: &Path) -> std::vec::IntoIter<(PathBuf, Entry)> {
        let mut out = Vec::new();
        if self.nodes.contains_key(rel) {
            for (p, node) in self.node_range(rel) {
                self.expand(&mut out, p, node);
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
        } else if let Some(entry) = self.get(rel) {
            out.push((rel.to_path_buf(), entry));
        }
        out.into_iter()
    }

    /// Every path and its entry, in path order (parents first).
    pub(crate) fn iter(&self) -> std::vec::IntoIter<(PathBuf, Entry)> {
        let mut out = Vec::with_capacity(self.nodes.len());
        for (p, node) in &self.nodes {
            self.expand(&mut out, p, node);
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.into_iter()
    }

    /// Takes the nodes at and below `rel` out of the map.
    fn take_nodes(&mut self, rel: &Path) -> Vec<(PathBuf, Node)> {
        let keys: Vec<PathBuf> = self.node_range(rel).map(|(p, _)| p.clone()).collect();
        keys.into_iter()
            .filter_map(|k| self.nodes.remove(&k).map(|n| (k, n)))
            .collect()
    }

    /// Removes `rel` and everything below it.
    pub(crate) fn remove_subtree(&mut self, rel: &Path) {
        if self.nodes.contains_key(rel) {
            self.take_nodes(rel);
        } else if let Some((parent, name)) = split(rel)
            && let Some(node) = self.nodes.get_mut(parent)
            && let Some(files) = node.files.as_mut()
        {
            files.remove(name.as_bytes());
            if files.is_empty() {
                node.files = None;
            }
        }
    }

    /// Moves `from` and everything below it to `to`, replacing what was at
    /// `to`.
    pub(crate) fn move_subtree(&mut self, from: &Path, to: &Path) {
        self.remove_subtree(to);
        if !self.nodes.contains_key(from) {
            // A listed file: it moves to its new directory's table.
            if let Some(entry) = self.get(from) {
                self.remove_subtree(from);
                self.insert(to.to_path_buf(), entry);
            }
            return;
        }
        for (old, node) in self.take_nodes(from) {
            if let Ok(rest) = old.strip_prefix(from) {
                self.nodes.insert(join_rel(to, rest), node);
            }
        }
        // `to` is a node now: no listed file of the same name may remain.
        if let Some((parent, name)) = split(to)
            && let Some(files) = self.nodes.get_mut(parent).and_then(|n| n.files.as_mut())
        {
            files.remove(name.as_bytes());
        }
    }

    /// Records everything `other` holds, replacing what was at its paths.
    pub(crate) fn extend(&mut self, other: Snapshot) {
        if let Some(a) = other.announced {
            self.announced = Some(self.announced.map_or(a, |s| s.min(a)));
        }
        for (path, node) in other.nodes {
            let files = node.files;
            self.insert(path.clone(), node.entry);
            let Some(files) = files else { continue };
            match self.nodes.get_mut(&path) {
                Some(Node {
                    files: mine @ None, ..
                }) => *mine = Some(files),
                Some(_) => {
                    for (name, ino) in files.iter() {
                        self.insert(
                            join_rel(&path, Path::new(OsStr::from_bytes(name))),
                            Entry {
                                ctime: if ino == UNKNOWN_INO {
                                    other.announced.unwrap_or(i64::MIN)
                                } else {
                                    files.since()
                                },
                                ..files.entry(ino)
                            },
                        );
                    }
                }
                None => {}
            }
        }
    }

    /// A snapshot from what a scan found: each path with its full entry
    /// and, for a directory whose regular files were only listed, those
    /// files. Built in one pass (full tree nodes), not path by path.
    pub(crate) fn from_scan(found: Vec<(PathBuf, Entry, Option<Listing>)>) -> Snapshot {
        let nodes = found
            .into_iter()
            .map(|(path, entry, files)| {
                let files = files.map(|l| l.0).filter(|f| !f.is_empty());
                (path, Node { entry, files })
            })
            .collect();
        Snapshot {
            nodes,
            announced: None,
            floor: None,
        }
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    /// The (device, inode) of every directory from the root down to `rel`
    /// (inclusive), for loop detection when a subtree is scanned.
    pub(crate) fn dir_ids_along(&self, rel: &Path) -> HashSet<(u64, u64)> {
        let mut ids = HashSet::new();
        let mut cur = Some(rel);
        while let Some(p) = cur {
            if let Some(n) = self.nodes.get(p) {
                ids.insert((n.entry.dev, n.entry.ino));
            }
            cur = p.parent();
        }
        if let Some(n) = self.nodes.get(Path::new("")) {
            ids.insert((n.entry.dev, n.entry.ino));
        }
        ids
    }
}

impl IntoIterator for Snapshot {
    type Item = (PathBuf, Entry);
    type IntoIter = std::vec::IntoIter<(PathBuf, Entry)>;

    /// Every path and its entry, in path order (parents first).
    fn into_iter(self) -> Self::IntoIter {
        self.iter().collect::<Vec<_>>().into_iter()
    }
}

/// The regular files a scan listed in one directory without examining
/// them (see [`Snapshot::from_scan`]).
pub(crate) struct Listing(Files);

impl Listing {
    /// The files listed in a directory on device `dev`, read after
    /// `since` (a [`listed_since`]): `names` with their inodes, sorted by
    /// the names' bytes.
    pub(crate) fn new(dev: u64, since: i64, names: &[(std::ffi::OsString, u64)]) -> Listing {
        Listing(Files::from_sorted(
            dev,
            since,
            names.iter().map(|(n, i)| (n.as_bytes(), *i)),
        ))
    }
}

/// `base` joined with `rest`, where either may be the empty root path.
pub(crate) fn join_rel(base: &Path, rest: &Path) -> PathBuf {
    if rest.as_os_str().is_empty() {
        base.to_path_buf()
    } else if base.as_os_str().is_empty() {
        rest.to_path_buf()
    } else {
        // One allocation of the right size (`join` copies, then grows).
        let mut path = PathBuf::with_capacity(base.as_os_str().len() + 1 + rest.as_os_str().len());
        path.push(base);
        path.push(rest);
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(ino: u64) -> Entry {
        Entry {
            kind: EntryKind::Dir,
            ..Entry::placeholder(true)
        }
        .with(1, ino)
    }

    impl Entry {
        fn with(mut self, dev: u64, ino: u64) -> Entry {
            self.dev = dev;
            self.ino = ino;
            self
        }
    }

    fn paths(it: impl Iterator<Item = (PathBuf, Entry)>) -> Vec<String> {
        it.map(|(p, _)| p.to_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn subtree_is_contiguous_and_exact() {
        let mut snap = Snapshot::default();
        let e = Entry::placeholder(false).with(1, 1);
        for p in ["", "a", "a/b", "a/b/c", "a-b", "ab", "b"] {
            snap.insert(PathBuf::from(p), e.clone());
        }
        assert_eq!(paths(snap.subtree(Path::new("a"))), ["a", "a/b", "a/b/c"]);
        snap.move_subtree(Path::new("a"), Path::new("z"));
        assert!(snap.get(Path::new("z/b/c")).is_some());
        assert!(snap.get(Path::new("a/b")).is_none());
        assert!(snap.get(Path::new("a-b")).is_some());
    }

    /// A tree where `d` holds listed files `x` and `y` and a directory `s`
    /// holding listed `z`.
    fn listed_tree() -> Snapshot {
        let mut snap = Snapshot::default();
        snap.insert(PathBuf::new(), dir(1));
        snap.insert(PathBuf::from("d"), dir(2));
        snap.insert(PathBuf::from("d/y"), Entry::listed(1, 11, 500));
        snap.insert(PathBuf::from("d/x"), Entry::listed(1, 10, 400));
        snap.insert(PathBuf::from("d/s"), dir(3));
        snap.insert(PathBuf::from("d/s/z"), Entry::listed(1, 12, 400));
        snap
    }

    #[test]
    fn listed_files_live_in_their_directory_table() {
        let snap = listed_tree();
        // One node per directory; the files are in the tables.
        assert_eq!(snap.nodes.len(), 3);
        // The table keeps the oldest listing time.
        assert_eq!(snap.get(Path::new("d/y")), Some(Entry::listed(1, 11, 400)));
        assert!(snap.get(Path::new("d/x")).is_some());
        assert!(snap.get(Path::new("d/w")).is_none());
        assert_eq!(paths(snap.iter()), ["", "d", "d/s", "d/s/z", "d/x", "d/y"]);
        assert_eq!(paths(snap.subtree(Path::new("d/s"))), ["d/s", "d/s/z"]);
        assert_eq!(paths(snap.subtree(Path::new("d/x"))), ["d/x"]);
    }

    #[test]
    fn listed_files_are_replaced_removed_and_moved() {
        let mut snap = listed_tree();
        // Examined now: a full entry replaces the listed one.
        let full = Entry::placeholder(false).with(1, 10);
        snap.insert(PathBuf::from("d/x"), full.clone());
        assert_eq!(snap.get(Path::new("d/x")), Some(full));
        assert_eq!(paths(snap.iter()).len(), 6);
        // Moved to another directory, and over another listed file.
        snap.move_subtree(Path::new("d/y"), Path::new("d/s/z"));
        assert_eq!(snap.get(Path::new("d/s/z")).map(|e| e.ino), Some(11));
        assert!(snap.get(Path::new("d/y")).is_none());
        // A directory moves with its table.
        snap.move_subtree(Path::new("d/s"), Path::new("t"));
        assert_eq!(paths(snap.iter()), ["", "d", "d/x", "t", "t/z"]);
        snap.remove_subtree(Path::new("t/z"));
        snap.remove_subtree(Path::new("d"));
        assert_eq!(paths(snap.iter()), ["", "t"]);
    }

    #[test]
    fn a_table_survives_many_removals_and_reinsertions() {
        let mut snap = Snapshot::default();
        snap.insert(PathBuf::new(), dir(1));
        for i in 0..100u64 {
            snap.insert(
                PathBuf::from(format!("f{i:03}")),
                Entry::listed(1, i + 10, 0),
            );
        }
        for i in (0..100u64).filter(|i| i % 3 != 0) {
            snap.remove_subtree(Path::new(&format!("f{i:03}")));
        }
        snap.insert(PathBuf::from("f001"), Entry::listed(1, 7, 0));
        let left: Vec<u64> = snap.iter().skip(1).map(|(_, e)| e.ino).collect();
        let mut want: Vec<u64> = (0..100u64).filter(|i| i % 3 == 0).map(|i| i + 10).collect();
        want.insert(1, 7);
        assert_eq!(left, want);
        let mut other = Snapshot::default();
        other.extend(snap.clone());
        assert_eq!(other, snap);
    }

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

    #[test]
    fn small_and_large_tables_keep_long_names_and_find_them() {
        let name = |i: usize| {
            format!(
                "{}{i:04}",
                "n".repeat(if i.is_multiple_of(2) { 200 } else { 3 })
            )
        };
        for count in [5, 40] {
            let mut snap = Snapshot::default();
            snap.insert(PathBuf::new(), dir(1));
            // Inserted out of order: each lands in its sorted place.
            for i in (0..count).rev() {
                snap.insert(PathBuf::from(name(i)), Entry::listed(1, i as u64 + 10, 0));
            }
            assert_eq!(snap.nodes.len(), 1, "{count} files kept in the table");
            for i in 0..count {
                let got = snap.get(Path::new(&name(i))).map(|e| e.ino);
                assert_eq!(got, Some(i as u64 + 10), "{count} files, file {i}");
            }
            assert!(snap.get(Path::new("n")).is_none());
            assert!(snap.get(Path::new("zzz")).is_none());
            let mut want: Vec<String> = (0..count).map(name).collect();
            want.sort();
            want.insert(0, String::new());
            assert_eq!(paths(snap.iter()), want);
        }
    }

    #[test]
    fn a_listed_file_counts_as_changed_when_its_ctime_is_not_older() {
        let listed = Entry::listed(1, 10, 1_000);
        let mut now = Entry::placeholder(false).with(1, 10);
        now.ctime = 999;
        assert!(!listed.content_differs(&now));
        assert!(!listed.metadata_differs(&now));
        assert!(!listed.ctime_differs(&now));
        now.ctime = 1_000;
        assert!(listed.content_differs(&now));
        assert!(listed.metadata_differs(&now));
    }

    #[test]
    fn listed_since_is_behind_the_clock_by_the_margin() {
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let since = listed_since();
        let before = stamp(before.as_secs() as i64, i64::from(before.subsec_nanos()));
        assert!(since >= before - LISTED_MARGIN_NS);
        assert!(since < before);
    }

    #[test]
    fn join_rel_handles_the_empty_root() {
        assert_eq!(join_rel(Path::new(""), Path::new("a")), Path::new("a"));
        assert_eq!(join_rel(Path::new("r"), Path::new("")), Path::new("r"));
        assert_eq!(join_rel(Path::new("r"), Path::new("a")), Path::new("r/a"));
    }
}
