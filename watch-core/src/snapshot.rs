//! Tree snapshots: what was seen at each path of a watched root.
//!
//! A [`Snapshot`] maps paths relative to the root (the root itself is the
//! empty path) to the [`Entry`] last seen there. Both the poll backend and
//! overflow recovery diff two snapshots ([`crate::diff`]); kernel backends
//! keep theirs up to date event by event. Snapshots are made by
//! [`crate::scan`].

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

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
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) size: u64,
    /// Modification time, as a [`stamp`].
    pub(crate) mtime: i64,
    /// Status change time, as a [`stamp`]. The kernel sets it to the current
    /// time on every write, truncation, rename, link count or attribute
    /// change, and user space cannot set it: a rewrite whose size stays and
    /// whose mtime was put back (`cp -p`, `tar x`, `rsync -t`, `touch -r`)
    /// still moves it.
    pub(crate) ctime: i64,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// A symlink's target (boxed: rare, and one pointer wide when absent).
    pub(crate) target: Option<Box<PathBuf>>,
}

// One is kept per watched path, so size matters.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Entry>() <= 64);

/// A timestamp as one number, so that an entry keeps both times and still
/// packs into 64 bytes: nanoseconds since the epoch, wrapping. Exact and
/// ordered from 1678 to 2262; beyond that two times give the same stamp
/// only when they are a multiple of about 584 years apart. Stamps are only
/// compared for equality, to notice a change.
pub(crate) fn stamp(secs: i64, nsecs: i64) -> i64 {
    // `nsecs` is in [0, 10^9) by definition; clamp rather than trust it.
    secs.wrapping_mul(1_000_000_000)
        .wrapping_add(nsecs.clamp(0, 999_999_999))
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

    /// Same filesystem object (type, device, inode).
    pub(crate) fn same_object(&self, other: &Entry) -> bool {
        self.kind == other.kind && self.dev == other.dev && self.ino == other.ino
    }

    /// Content changed: size or mtime of a non-directory, or a symlink target.
    /// (A directory's mtime changes with every entry; its entries report that.)
    pub(crate) fn content_differs(&self, other: &Entry) -> bool {
        self.kind != EntryKind::Dir
            && (self.size != other.size || self.mtime != other.mtime || self.target != other.target)
    }

    /// The status change time of a file (not a directory or a symlink)
    /// moved. Unless something else explains it (a rename, a link added or
    /// removed, a permission change), the content was rewritten with its
    /// size and mtime kept or put back: see [`crate::diff`].
    pub(crate) fn ctime_differs(&self, other: &Entry) -> bool {
        !matches!(self.kind, EntryKind::Dir | EntryKind::Symlink) && self.ctime != other.ctime
    }

    /// Permissions or ownership changed.
    pub(crate) fn metadata_differs(&self, other: &Entry) -> bool {
        self.mode != other.mode || self.uid != other.uid || self.gid != other.gid
    }
}

/// Paths relative to a root (the root itself is `""`) and what was there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) entries: BTreeMap<PathBuf, Entry>,
}

impl Snapshot {
    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    pub(crate) fn get(&self, rel: &Path) -> Option<&Entry> {
        self.entries.get(rel)
    }

    pub(crate) fn insert(&mut self, rel: PathBuf, entry: Entry) {
        self.entries.insert(rel, entry);
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    /// `rel` and every path below it, in order (parents first).
    pub(crate) fn subtree(&self, rel: &Path) -> impl Iterator<Item = (&PathBuf, &Entry)> {
        let rel = rel.to_path_buf();
        // Paths order component-wise, so a subtree is one contiguous run.
        self.entries
            .range(rel.clone()..)
            .take_while(move |(p, _)| p.starts_with(&rel))
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    /// Removes `rel` and everything below it; returns what was removed.
    pub(crate) fn remove_subtree(&mut self, rel: &Path) -> Vec<(PathBuf, Entry)> {
        let keys: Vec<PathBuf> = self.subtree(rel).map(|(p, _)| p.clone()).collect();
        keys.into_iter()
            .filter_map(|k| self.entries.remove(&k).map(|e| (k, e)))
            .collect()
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    /// Moves `from` and everything below it to `to`, replacing what was at
    /// `to`. Returns the (old, new) relative paths of everything moved.
    pub(crate) fn move_subtree(&mut self, from: &Path, to: &Path) -> Vec<(PathBuf, PathBuf)> {
        self.remove_subtree(to);
        let moved = self.remove_subtree(from);
        let mut pairs = Vec::with_capacity(moved.len());
        for (old, entry) in moved {
            let new = match old.strip_prefix(from) {
                Ok(rest) => join_rel(to, rest),
                Err(_) => continue,
            };
            pairs.push((old, new.clone()));
            self.entries.insert(new, entry);
        }
        pairs
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    /// The (device, inode) of every directory from the root down to `rel`
    /// (inclusive), for loop detection when a subtree is scanned.
    pub(crate) fn dir_ids_along(&self, rel: &Path) -> HashSet<(u64, u64)> {
        let mut ids = HashSet::new();
        let mut cur = Some(rel);
        while let Some(p) = cur {
            if let Some(e) = self.entries.get(p) {
                ids.insert((e.dev, e.ino));
            }
            cur = p.parent();
        }
        if let Some(e) = self.entries.get(Path::new("")) {
            ids.insert((e.dev, e.ino));
        }
        ids
    }
}

/// `base` joined with `rest`, where either may be the empty root path.
pub(crate) fn join_rel(base: &Path, rest: &Path) -> PathBuf {
    if rest.as_os_str().is_empty() {
        base.to_path_buf()
    } else if base.as_os_str().is_empty() {
        rest.to_path_buf()
    } else {
        base.join(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtree_is_contiguous_and_exact() {
        let mut snap = Snapshot::default();
        let e = Entry {
            kind: EntryKind::File,
            dev: 1,
            ino: 1,
            size: 0,
            mtime: 0,
            ctime: 0,
            mode: 0,
            uid: 0,
            gid: 0,
            target: None,
        };
        for p in ["", "a", "a/b", "a/b/c", "a-b", "ab", "b"] {
            snap.insert(PathBuf::from(p), e.clone());
        }
        let sub: Vec<_> = snap
            .subtree(Path::new("a"))
            .map(|(p, _)| p.to_str().unwrap().to_owned())
            .collect();
        assert_eq!(sub, ["a", "a/b", "a/b/c"]);
        let moved = snap.move_subtree(Path::new("a"), Path::new("z"));
        assert_eq!(moved.len(), 3);
        assert!(snap.get(Path::new("z/b/c")).is_some());
        assert!(snap.get(Path::new("a/b")).is_none());
        assert!(snap.get(Path::new("a-b")).is_some());
    }

    #[test]
    fn join_rel_handles_the_empty_root() {
        assert_eq!(join_rel(Path::new(""), Path::new("a")), Path::new("a"));
        assert_eq!(join_rel(Path::new("r"), Path::new("")), Path::new("r"));
        assert_eq!(join_rel(Path::new("r"), Path::new("a")), Path::new("r/a"));
    }
}
