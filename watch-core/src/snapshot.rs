//! Tree snapshots: an lstat-based scan of a watched root, and name-following
//! resolution of the root path itself.
//!
//! A [`Snapshot`] maps paths relative to the root (the root itself is the
//! empty path) to the [`Entry`] last seen there. Both the poll backend and
//! overflow recovery diff two snapshots ([`crate::diff`]); kernel backends
//! keep theirs up to date event by event.

use std::collections::{BTreeMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::config::ExcludeFn;
use crate::cookie;
use crate::{Event, EventKind, Origin, SkipReason};

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
    pub(crate) mtime: (i64, i64),
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// A symlink's target.
    pub(crate) target: Option<PathBuf>,
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
            mtime: (meta.mtime(), meta.mtime_nsec()),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            target,
        }
    }

    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))] // kernel backends only
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
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))] // kernel backends only
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
            mtime: (0, 0),
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
    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))] // kernel backends only
    pub(crate) fn get(&self, rel: &Path) -> Option<&Entry> {
        self.entries.get(rel)
    }

    pub(crate) fn insert(&mut self, rel: PathBuf, entry: Entry) {
        self.entries.insert(rel, entry);
    }

    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))] // kernel backends only
    /// `rel` and every path below it, in order (parents first).
    pub(crate) fn subtree(&self, rel: &Path) -> impl Iterator<Item = (&PathBuf, &Entry)> {
        let rel = rel.to_path_buf();
        // Paths order component-wise, so a subtree is one contiguous run.
        self.entries
            .range(rel.clone()..)
            .take_while(move |(p, _)| p.starts_with(&rel))
    }

    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))] // kernel backends only
    /// Removes `rel` and everything below it; returns what was removed.
    pub(crate) fn remove_subtree(&mut self, rel: &Path) -> Vec<(PathBuf, Entry)> {
        let keys: Vec<PathBuf> = self.subtree(rel).map(|(p, _)| p.clone()).collect();
        keys.into_iter()
            .filter_map(|k| self.entries.remove(&k).map(|e| (k, e)))
            .collect()
    }

    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))] // kernel backends only
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

    #[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))] // kernel backends only
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

/// How a scan walks.
pub(crate) struct ScanOptions<'a> {
    pub(crate) recursive: bool,
    pub(crate) follow_symlinks: bool,
    pub(crate) exclude: Option<&'a ExcludeFn>,
}

impl ScanOptions<'_> {
    pub(crate) fn excluded(&self, path: &Path) -> bool {
        self.exclude.is_some_and(|f| f(path))
    }
}

/// Called before a directory is read: `(full path, relative path, reached
/// through a symlink)`. A kernel backend arms its watch here, so anything
/// created while the directory is being read is reported by the kernel.
/// An error skips the directory: `Err(Some(reason))` reports it as
/// `Skipped`, `Err(None)` (it vanished meanwhile) says nothing.
pub(crate) type VisitDir<'v> = dyn FnMut(&Path, &Path, bool) -> Result<(), Option<SkipReason>> + 'v;

/// Scans the directory at `root`/`base_rel` (whose entry is `base`) and
/// everything below it that the options allow. The result holds `base_rel`
/// and the paths below it. Unreadable directories are kept as entries,
/// not entered, and reported in `notices`; nothing here is fatal.
pub(crate) fn scan_dir(
    root: &Path,
    base_rel: &Path,
    base: Entry,
    mut visited: HashSet<(u64, u64)>,
    opts: &ScanOptions<'_>,
    visit: &mut VisitDir<'_>,
    notices: &mut Vec<Event>,
) -> Snapshot {
    let mut snap = Snapshot::default();
    let via_symlink = base.kind == EntryKind::Symlink;
    visited.insert((base.dev, base.ino));
    snap.insert(base_rel.to_path_buf(), base);
    // (relative path, full path, reached through a symlink)
    let mut stack = vec![(
        base_rel.to_path_buf(),
        join_rel(root, base_rel),
        via_symlink,
    )];
    while let Some((rel, full, via_symlink)) = stack.pop() {
        match visit(&full, &rel, via_symlink) {
            Ok(()) => {}
            Err(Some(reason)) => {
                notices.push(Event::new(
                    EventKind::Skipped { reason },
                    full,
                    true,
                    Origin::Rescan,
                ));
                continue;
            }
            Err(None) => continue,
        }
        let reader = match fs::read_dir(&full) {
            Ok(reader) => reader,
            Err(err) => {
                if let Some(reason) = skip_reason(&err) {
                    notices.push(Event::new(
                        EventKind::Skipped { reason },
                        full,
                        true,
                        Origin::Rescan,
                    ));
                }
                continue;
            }
        };
        for item in reader {
            let Ok(item) = item else { continue };
            let name = item.file_name();
            if cookie::is_cookie(&name) {
                continue;
            }
            // Full paths cost an allocation; build one only when needed.
            let child_full = || full.join(&name);
            if opts.exclude.is_some() && opts.excluded(&child_full()) {
                continue;
            }
            let Ok(meta) = item.metadata() else { continue }; // vanished meanwhile
            let target = if meta.file_type().is_symlink() {
                fs::read_link(child_full()).ok()
            } else {
                None
            };
            let entry = Entry::from_metadata(&meta, target);
            let enter = match entry.kind {
                EntryKind::Dir => opts.recursive && visited.insert((entry.dev, entry.ino)),
                EntryKind::Symlink if opts.recursive && opts.follow_symlinks => {
                    match fs::metadata(child_full()) {
                        Ok(m) if m.is_dir() => {
                            let fresh = visited.insert((m.dev(), m.ino()));
                            if !fresh {
                                let reason = SkipReason::SymlinkLoop;
                                notices.push(Event::new(
                                    EventKind::Skipped { reason },
                                    child_full(),
                                    true,
                                    Origin::Rescan,
                                ));
                            }
                            fresh
                        }
                        _ => false,
                    }
                }
                _ => false,
            };
            let is_symlink = entry.kind == EntryKind::Symlink;
            let child_rel = join_rel(&rel, Path::new(&name));
            if enter {
                snap.insert(child_rel.clone(), entry);
                stack.push((child_rel, child_full(), is_symlink));
            } else {
                snap.insert(child_rel, entry);
            }
        }
    }
    snap
}

/// The notice for a directory that cannot be read, or `None` when it simply
/// vanished (its removal is reported by events or the next diff).
pub(crate) fn skip_reason(err: &io::Error) -> Option<SkipReason> {
    match err.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => None,
        io::ErrorKind::PermissionDenied => Some(SkipReason::PermissionDenied),
        _ => Some(SkipReason::Other(err.to_string())),
    }
}

/// How a user path resolves, name by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// Every (directory, name) looked up, in order. Watching these directories
    /// for these names is enough to notice any change of what the path means.
    pub(crate) consulted: Vec<(PathBuf, OsString)>,
    /// What the path leads to (symlinks followed), if it exists.
    pub(crate) target: Option<Entry>,
}

#[cfg_attr(not(any(target_os = "linux", target_os = "android")), allow(dead_code))] // kernel backends only
impl Resolved {
    /// The directories to watch, without duplicates, in lookup order.
    pub(crate) fn dirs(&self) -> Vec<&Path> {
        let mut dirs: Vec<&Path> = Vec::new();
        for (dir, _) in &self.consulted {
            if !dirs.contains(&dir.as_path()) {
                dirs.push(dir);
            }
        }
        dirs
    }

    /// Whether a change of `name` in `dir` may change what the path means.
    pub(crate) fn depends_on(&self, dir: &Path, name: &OsStr) -> bool {
        self.consulted.iter().any(|(d, n)| d == dir && n == name)
    }

    /// The directory and name of the final (non-symlink) lookup.
    pub(crate) fn last(&self) -> Option<(&Path, &OsStr)> {
        self.consulted
            .last()
            .map(|(d, n)| (d.as_path(), n.as_os_str()))
    }
}

/// Follows `path` by name: starting at the nearest existing ancestor
/// directory of its parent, looks up each remaining name with `lstat`,
/// following symlinks (relative ones from the directory holding them), and
/// records every lookup. This is what makes atomic saves, re-creation and
/// symlink swaps (Kubernetes ConfigMaps) visible: they change one of the
/// consulted names.
pub(crate) fn resolve(path: &Path) -> Resolved {
    const MAX_HOPS: usize = 40; // like the kernel's MAXSYMLINKS
    let mut resolved = Resolved::default();
    let Some(name) = path.file_name() else {
        // "/", "..", "a/..": nothing to follow by name.
        resolved.target = fs::metadata(path)
            .ok()
            .map(|m| Entry::from_metadata(&m, None));
        return resolved;
    };
    let mut names: Vec<OsString> = vec![name.to_os_string()];
    let mut dir = parent_or_dot(path);
    while !dir.is_dir() {
        match (dir.file_name(), dir.parent()) {
            (Some(n), Some(_)) => {
                names.push(n.to_os_string());
                dir = parent_or_dot(&dir);
            }
            _ => return resolved, // not even "/" or "." is a directory
        }
    }
    names.reverse();
    let mut queue: std::collections::VecDeque<OsString> = names.into();
    let mut hops = 0;
    while let Some(name) = queue.pop_front() {
        if name == "." {
            continue;
        }
        if name == ".." {
            dir = parent_or_dot(&dir);
            continue;
        }
        resolved.consulted.push((dir.clone(), name.clone()));
        let here = dir.join(&name);
        let Ok(meta) = fs::symlink_metadata(&here) else {
            return resolved;
        };
        if meta.file_type().is_symlink() {
            hops += 1;
            let Ok(target) = fs::read_link(&here) else {
                return resolved;
            };
            if hops > MAX_HOPS {
                return resolved;
            }
            let mut parts: Vec<OsString> = Vec::new();
            for c in target.components() {
                match c {
                    Component::RootDir => dir = PathBuf::from("/"),
                    Component::Prefix(_) => {}
                    Component::CurDir => {}
                    Component::ParentDir => parts.push(OsString::from("..")),
                    Component::Normal(n) => parts.push(n.to_os_string()),
                }
            }
            for part in parts.into_iter().rev() {
                queue.push_front(part);
            }
        } else if queue.is_empty() {
            resolved.target = Some(Entry::from_metadata(&meta, None));
        } else if meta.is_dir() {
            dir = here;
        } else {
            return resolved; // a file used as a directory
        }
    }
    resolved
}

fn parent_or_dot(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if p.as_os_str().is_empty() => PathBuf::from("."),
        Some(p) => p.to_path_buf(),
        None => PathBuf::from("/"),
    }
}

/// A full snapshot of a watched root: resolves it by name and, for a
/// directory, scans it. `visit` is called for each directory before it is read.
pub(crate) fn scan_root(
    root: &Path,
    opts: &ScanOptions<'_>,
    visit: &mut VisitDir<'_>,
    notices: &mut Vec<Event>,
) -> (Resolved, Snapshot) {
    let resolved = resolve(root);
    let snap = match &resolved.target {
        Some(entry) if entry.is_dir() => scan_dir(
            root,
            Path::new(""),
            entry.clone(),
            HashSet::new(),
            opts,
            visit,
            notices,
        ),
        Some(entry) => {
            let mut snap = Snapshot::default();
            snap.insert(PathBuf::new(), entry.clone());
            snap
        }
        None => Snapshot::default(),
    };
    (resolved, snap)
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
            mtime: (0, 0),
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
