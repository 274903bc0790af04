//! A snapshot's [`Node`]: what is kept at one path, in 32 bytes, and the
//! table of the distinct devices, modes and owners the nodes point into.

use std::collections::HashMap;
use std::path::PathBuf;

use super::files::{Files, FilesRef, Fit, Small};
use super::{Entry, EntryKind};
use crate::fast_hash::FastHash;

/// What is kept at a path: the fields of its [`Entry`] that every kind
/// needs, inline (the device, mode and owner as an index into the
/// snapshot's [`Attrs`]: a tree has few distinct ones), the rest in its
/// [`Tail`]. 32 bytes, against 64 for an entry and 16 more for a files
/// table.
#[derive(Clone, Debug)]
pub(super) struct Node {
    pub(super) ino: u64,
    pub(super) attr: u32,
    pub(super) kind: EntryKind,
    pub(super) listed: bool,
    pub(super) tail: Tail,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Node>() <= 32);

/// The device, mode and owner of a [`Node`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Attr {
    pub(super) dev: u64,
    pub(super) mode: u32,
    pub(super) uid: u32,
    pub(super) gid: u32,
}

/// The distinct [`Attr`]s of a snapshot's nodes, each kept once. Grows as
/// new ones come; rebuilt from the nodes when it outgrows them. The first
/// is kept inline: a snapshot with one (a root with one directory, most
/// trees on one device with one owner) allocates nothing for them.
#[derive(Clone, Debug, Default)]
pub(super) struct Attrs {
    /// Index 0.
    first: Option<Attr>,
    /// Index 1 on.
    rest: Vec<Attr>,
    /// Each one by its index, once there are more than [`LINEAR`] (empty
    /// until then: a few are searched in turn, and most snapshots, a root
    /// with one directory among them, have a few).
    pub(super) index: HashMap<Attr, u32, FastHash>,
    /// The last one interned: the next node (a sibling) usually has it too.
    pub(super) last: u32,
}

impl Attrs {
    /// How many there are.
    pub(super) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// The one at `i`, if there is one.
    fn at(&self, i: u32) -> Option<Attr> {
        match i.checked_sub(1) {
            None => self.first,
            Some(i) => self.rest.get(i as usize).copied(),
        }
    }

    /// All of them, by index.
    fn all(&self) -> impl Iterator<Item = &Attr> {
        self.first.iter().chain(&self.rest)
    }

    pub(super) fn get(&self, i: u32) -> Attr {
        // Every node's index was given out here (see `Snapshot::compact`).
        self.at(i).unwrap_or(Attr {
            dev: 0,
            mode: 0,
            uid: 0,
            gid: 0,
        })
    }

    pub(super) fn intern(&mut self, attr: Attr) -> u32 {
        if self.at(self.last) == Some(attr) {
            return self.last;
        }
        let len = self.len();
        let next = u32::try_from(len).unwrap_or(u32::MAX);
        let i = if len <= LINEAR {
            let found = self.all().position(|a| *a == attr);
            match found.and_then(|i| u32::try_from(i).ok()) {
                Some(i) => i,
                None => {
                    self.push(attr);
                    if self.len() > LINEAR {
                        // Past the few: index them all.
                        self.index = self.all().zip(0..).map(|(a, i)| (*a, i)).collect();
                    }
                    next
                }
            }
        } else {
            let i = *self.index.entry(attr).or_insert(next);
            if i == next {
                self.push(attr);
            }
            i
        };
        self.last = i;
        i
    }

    /// Appends `attr` at index [`Attrs::len`].
    fn push(&mut self, attr: Attr) {
        if self.first.is_none() {
            self.first = Some(attr);
        } else {
            self.rest.push(attr);
        }
    }

    pub(super) fn of(entry: &Entry) -> Attr {
        Attr {
            dev: entry.dev,
            mode: entry.mode,
            uid: entry.uid,
            gid: entry.gid,
        }
    }
}

/// Up to this many distinct [`Attr`]s, [`Attrs`] searches its list
/// instead of keeping an index.
const LINEAR: usize = 8;

/// The rest of a [`Node`].
#[derive(Clone, Debug)]
pub(super) enum Tail {
    /// A directory (examined, not listed), whose size and times are not
    /// kept (no diff looks at them), with the regular files listed in it,
    /// on its own device, when they fit a [`Small`] table (empty when
    /// there are none).
    Dir(Small),
    /// Anything else: the rest of the entry, and the files listed in it
    /// (a directory with many files, or a followed symlink to one).
    Full(Box<Rest>),
}

/// The fields of an [`Entry`] that a [`Tail::Dir`] node does without.
#[derive(Clone, Debug)]
pub(super) struct Rest {
    pub(super) size: u64,
    pub(super) mtime: i64,
    pub(super) ctime: i64,
    pub(super) target: Option<Box<PathBuf>>,
    pub(super) files: Option<Box<Listed>>,
}

/// The regular files listed in a directory, and the directory's device.
#[derive(Clone, Debug)]
pub(super) struct Listed {
    pub(super) dev: u64,
    pub(super) files: Files,
}

impl Node {
    pub(super) fn new(entry: Entry, files: Option<Listed>, attrs: &mut Attrs) -> Node {
        let compact = entry.kind == EntryKind::Dir && !entry.listed && entry.target.is_none();
        let tail = match files {
            None if compact => Tail::Dir(Small::default()),
            Some(Listed {
                dev,
                files: Files::Small(small),
            }) if compact && dev == entry.dev => Tail::Dir(small),
            files => {
                let times = !compact;
                Tail::Full(Box::new(Rest {
                    size: if times { entry.size } else { 0 },
                    mtime: if times { entry.mtime } else { 0 },
                    ctime: if times { entry.ctime } else { 0 },
                    target: entry.target.clone(),
                    files: files.filter(|l| !l.files.is_empty()).map(Box::new),
                }))
            }
        };
        Node {
            ino: entry.ino,
            attr: attrs.intern(Attrs::of(&entry)),
            kind: entry.kind,
            listed: entry.listed,
            tail,
        }
    }

    /// The entry kept here (a directory's size and times are 0).
    pub(super) fn entry(&self, attrs: &Attrs) -> Entry {
        let (size, mtime, ctime, target) = match &self.tail {
            Tail::Dir(_) => (0, 0, 0, None),
            Tail::Full(rest) => (rest.size, rest.mtime, rest.ctime, rest.target.clone()),
        };
        let attr = attrs.get(self.attr);
        Entry {
            kind: self.kind,
            listed: self.listed,
            dev: attr.dev,
            ino: self.ino,
            size,
            mtime,
            ctime,
            mode: attr.mode,
            uid: attr.uid,
            gid: attr.gid,
            target,
        }
    }

    pub(super) fn dev(&self, attrs: &Attrs) -> u64 {
        attrs.get(self.attr).dev
    }

    pub(super) fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }

    /// The listed files here (`None` when there are none) and their device.
    pub(super) fn files<'n>(&'n self, attrs: &Attrs) -> Option<(u64, FilesRef<'n>)> {
        match &self.tail {
            Tail::Dir(small) if small.is_empty() => None,
            Tail::Dir(small) => Some((self.dev(attrs), FilesRef::Small(small))),
            Tail::Full(rest) => rest.files.as_ref().map(|l| (l.dev, l.files.as_ref())),
        }
    }

    pub(super) fn has_files(&self) -> bool {
        match &self.tail {
            Tail::Dir(small) => !small.is_empty(),
            Tail::Full(rest) => rest.files.is_some(),
        }
    }

    /// Takes the node apart into its entry and its listed files.
    pub(super) fn into_parts(self, attrs: &Attrs) -> (Entry, Option<Listed>) {
        let entry = self.entry(attrs);
        let files = match self.tail {
            Tail::Dir(small) if small.is_empty() => None,
            Tail::Dir(small) => Some(Listed {
                dev: entry.dev,
                files: Files::Small(small),
            }),
            Tail::Full(rest) => rest.files.map(|l| *l),
        };
        (entry, files)
    }

    /// Replaces the entry, keeping the listed files.
    pub(super) fn set_entry(&mut self, entry: Entry, attrs: &mut Attrs) {
        let compact = entry.kind == EntryKind::Dir && !entry.listed && entry.target.is_none();
        let same_dev = entry.dev == self.dev(attrs);
        match &mut self.tail {
            Tail::Dir(_) if compact && same_dev => {}
            Tail::Full(rest) if !compact => {
                rest.size = entry.size;
                rest.mtime = entry.mtime;
                rest.ctime = entry.ctime;
                rest.target = entry.target.clone();
            }
            _ => return self.replace(Some(entry), None, attrs),
        }
        self.ino = entry.ino;
        self.attr = attrs.intern(Attrs::of(&entry));
        self.kind = entry.kind;
        self.listed = entry.listed;
    }

    /// Replaces the entry, or the listed files, keeping the other.
    pub(super) fn replace(
        &mut self,
        entry: Option<Entry>,
        files: Option<Option<Listed>>,
        attrs: &mut Attrs,
    ) {
        let placeholder = Node {
            ino: 0,
            attr: 0,
            kind: EntryKind::Dir,
            listed: false,
            tail: Tail::Dir(Small::default()),
        };
        let (old_entry, old_files) = std::mem::replace(self, placeholder).into_parts(attrs);
        *self = Node::new(
            entry.unwrap_or(old_entry),
            files.unwrap_or(old_files),
            attrs,
        );
    }

    /// Records the listed file `name` with `ino` (not 0), listed at `since`
    /// on device `dev`; without `replace`, only a name not here yet. False
    /// if nothing was recorded (files of another device are kept here).
    pub(super) fn add_file(
        &mut self,
        dev: u64,
        name: &[u8],
        ino: u64,
        since: i64,
        replace: bool,
        attrs: &mut Attrs,
    ) -> bool {
        if let Tail::Dir(small) = &mut self.tail {
            if dev != attrs.get(self.attr).dev {
                return false;
            }
            match small.insert(name, ino, since, replace) {
                Fit::Done(done) => return done,
                // Moves to a large table, in the node's rest.
                Fit::TooSmall => {}
            }
        }
        if let Tail::Dir(small) = &self.tail {
            let files = Some(Listed {
                dev,
                files: Files::Big(Box::new(small.to_table())),
            });
            self.replace(None, Some(files), attrs);
        }
        let Tail::Full(rest) = &mut self.tail else {
            return false;
        };
        let listed = rest.files.get_or_insert_with(|| {
            Box::new(Listed {
                dev,
                files: Files::Small(Small::default()),
            })
        });
        listed.dev == dev && listed.files.insert(name, ino, since, replace)
    }

    /// Removes the listed file `name`; its inode.
    pub(super) fn remove_file(&mut self, name: &[u8]) -> Option<u64> {
        match &mut self.tail {
            Tail::Dir(small) => small.remove(name),
            Tail::Full(rest) => {
                let listed = rest.files.as_mut()?;
                let ino = listed.files.remove(name);
                if listed.files.is_empty() {
                    rest.files = None;
                }
                ino
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attr_keeps_its_index_before_and_after_the_list_is_indexed() {
        let attr = |n: u32| Attr {
            dev: 1,
            mode: n,
            uid: 0,
            gid: 0,
        };
        let mut attrs = Attrs::default();
        let count = 3 * LINEAR as u32;
        for round in 0..2 {
            for n in (0..count).chain((0..count).rev()) {
                assert_eq!(attrs.intern(attr(n)), n, "round {round}");
                assert_eq!(attrs.get(n), attr(n));
            }
            assert_eq!(attrs.len(), count as usize);
            assert_eq!(attrs.index.len(), count as usize);
        }
        // One is kept inline.
        let mut one = Attrs::default();
        assert_eq!((one.intern(attr(5)), one.intern(attr(5))), (0, 0));
        assert_eq!((one.len(), one.rest.capacity()), (1, 0));
        assert_eq!(one.get(0), attr(5));
        // A few are searched, not indexed.
        let mut few = Attrs::default();
        for n in [0, 1, 0, 2, 1] {
            few.intern(attr(n));
        }
        assert_eq!(few.len(), 3);
        assert!(few.index.is_empty());
    }
}
