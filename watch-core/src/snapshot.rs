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
//! was read (`lstat`) are kept by path, each as a 32-byte [`Node`]: the
//! kind and inode inline, the device, mode and owner as an index into a
//! table of the distinct ones the snapshot holds; a directory's size and
//! times are not kept (no diff looks at them), and everything else's, with
//! a symlink's target, are boxed beside it. A regular file that a kernel
//! backend's scan only *listed* (its name, type and inode come from the
//! directory listing, no `lstat`) is kept in its directory's [`Files`]
//! table instead: the name stored once, with the inode; in a small
//! directory's single buffer, about 2 bytes plus the name per file when
//! the inodes run in order (the layout is in [`files`]; 14 plus the name
//! in a large directory's indexed table, and up to 20 more per file
//! while the table keeps a hash index for names added out of order),
//! against a full relative path and a node. Such an entry is
//! [`Entry::listed`]: its size, times and permissions are unknown, and its
//! `ctime` holds the moment (less a margin) its directory was listed. The
//! rescan after a queue overflow treats a listed file whose ctime is not
//! older than that as changed ([`Entry::content_differs`]): the kernel
//! moves a file's ctime on every write, truncation, rename, link count or
//! attribute change, user space cannot set it, and it comes from the same
//! clock as our own timestamp.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsStr;
use std::ops::Bound;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod build;
mod entry;
mod files;
mod node;

pub(crate) use entry::*;
use files::{Files, FilesRef};
use node::{Attrs, Listed, Node, Tail};

/// A relative path held by several tables at once: a tree directory's path
/// is allocated once, where the scan meets it, and shared by the snapshot's
/// key, the root's watched directories and its watch's role. Compared by
/// value, never by identity: sharing saves memory only.
pub(crate) type SharedPath = Arc<Path>;

/// `""`, the relative path of a root's own directory, as a [`SharedPath`]:
/// one allocation for the whole process, which every root's tree shares
/// (its watch's role, its key in the root's and the snapshot's maps).
pub(crate) fn root_rel() -> SharedPath {
    static ROOT: std::sync::LazyLock<SharedPath> =
        std::sync::LazyLock::new(|| Path::new("").into());
    ROOT.clone()
}

/// Paths relative to a root (the root itself is `""`) and what was there.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    nodes: BTreeMap<SharedPath, Node>,
    /// The nodes' devices, modes and owners.
    attrs: Attrs,
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
            return Some(node.entry(&self.attrs));
        }
        let (parent, name) = split(rel)?;
        let (dev, files) = self.nodes.get(parent)?.files(&self.attrs)?;
        files
            .get(name.as_bytes())
            .map(|ino| self.listed_entry(dev, files, ino))
    }

    /// A listed file's entry from its table (of files on device `dev`).
    fn listed_entry(&self, dev: u64, files: FilesRef<'_>, ino: u64) -> Entry {
        let mut entry = Entry::listed(dev, ino, files.since());
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
        // Paths order component-wise, so a node at `rel` would come after
        // `dir`. When `dir` is the last node (a root with no directory
        // below it kept, the common case) there is none, and no path is
        // compared; else one search finds `dir` and the node after it:
        // none at `rel` when that sorts after `rel` or there is none, and
        // only when it sorts before is `rel` looked up.
        let dir_is_last = self
            .nodes
            .last_key_value()
            .is_some_and(|(last, _)| last.as_os_str() == dir.as_os_str());
        let node = if dir_is_last {
            match self.nodes.last_entry() {
                Some(last) => last.into_mut(),
                None => return false,
            }
        } else {
            let mut from_dir = self
                .nodes
                .range_mut::<Path, _>((Bound::Included(dir), Bound::Unbounded));
            let Some((key, node)) = from_dir.next() else {
                return false;
            };
            if **key != *dir {
                return false;
            }
            match from_dir.next().map(|(next, _)| (**next).cmp(rel)) {
                None | Some(Ordering::Greater) => node,
                Some(Ordering::Equal) => return false,
                Some(Ordering::Less) => {
                    if self.nodes.contains_key(rel) {
                        return false;
                    }
                    match self.nodes.get_mut(dir) {
                        Some(node) => node,
                        None => return false,
                    }
                }
            }
        };
        if !node.is_dir() {
            return false;
        }
        let dev = node.dev(&self.attrs);
        if !node.add_file(
            dev,
            name.as_bytes(),
            UNKNOWN_INO,
            i64::MAX,
            false,
            &mut self.attrs,
        ) {
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

    /// The key `rel` is kept under, if it has a node: sharing it saves
    /// another copy of the path.
    pub(crate) fn key(&self, rel: &Path) -> Option<SharedPath> {
        self.nodes.get_key_value(rel).map(|(k, _)| k.clone())
    }

    /// Records `entry` at `rel`, replacing what was there (not what is
    /// below it). A listed entry goes into its directory's table when the
    /// directory is known and on the same device. `rel` becomes a key
    /// only when nothing is kept at it yet (a [`SharedPath`] given is
    /// shared, anything else copied).
    pub(crate) fn insert(&mut self, rel: impl AsRef<Path> + Into<SharedPath>, entry: Entry) {
        let path = rel.as_ref();
        if let Some((parent, name)) = split(path) {
            let name = name.as_bytes();
            if entry.listed
                && entry.ino != 0
                && !self.nodes.contains_key(path)
                && let Some(node) = self.nodes.get_mut(parent)
            {
                // An announced file's time is the snapshot's, not its table's.
                let unknown = entry.ino == UNKNOWN_INO;
                let since = if unknown { i64::MAX } else { entry.ctime };
                if node.add_file(entry.dev, name, entry.ino, since, true, &mut self.attrs) {
                    if unknown {
                        self.announced =
                            Some(self.announced.map_or(entry.ctime, |a| a.min(entry.ctime)));
                    }
                    return;
                }
            }
            if let Some(node) = self.nodes.get_mut(parent) {
                node.remove_file(name);
            }
        }
        match self.nodes.get_mut(path) {
            Some(node) => node.set_entry(entry, &mut self.attrs),
            None => {
                self.nodes
                    .insert(rel.into(), Node::new(entry, None, &mut self.attrs));
            }
        }
        self.compact();
    }

    /// Rebuilds [`Attrs`] from the nodes once it holds many more than
    /// they use (each change of mode or owner seen may add one).
    fn compact(&mut self) {
        if self.attrs.len() <= 64 || self.attrs.len() <= 2 * self.nodes.len() {
            return;
        }
        let mut attrs = Attrs::default();
        for node in self.nodes.values_mut() {
            node.attr = attrs.intern(self.attrs.get(node.attr));
        }
        self.attrs = attrs;
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    /// The paths holding a placeholder ([`Entry::placeholder`]).
    pub(crate) fn placeholders(&self) -> Vec<PathBuf> {
        // Inode 0 is never listed: placeholders are always nodes.
        self.nodes
            .iter()
            .filter(|(_, n)| n.ino == 0)
            .map(|(p, _)| p.to_path_buf())
            .collect()
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    /// After a rename moved the ctime of the file at `rel` (`ctime` read
    /// from the same object): record it, so a rescan does not take the
    /// move for a rewrite. A listed file keeps its listing time: a rescan
    /// then reports it as modified, once, rather than risk missing a
    /// rewrite made between the rename and the `lstat` that read `ctime`.
    pub(crate) fn refresh_ctime(&mut self, rel: &Path, ctime: i64) {
        // A directory's times are not kept.
        if let Some(node) = self.nodes.get_mut(rel)
            && !node.listed
            && !node.is_dir()
            && let Tail::Full(rest) = &mut node.tail
        {
            rest.ctime = ctime;
        }
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    /// Keeps the regular files examined by a scan that started at `since`
    /// (a [`listed_since`] taken before it) as listed from then on: what
    /// a rescan compares later is then the same as after setup, and the
    /// snapshot as small. Each file was examined after `since`, so a later
    /// change leaves a ctime at or after it. A file with entries recorded
    /// below it (events seen out of order) stays as it is.
    pub(crate) fn relist(&mut self, since: i64) {
        let mut files: Vec<SharedPath> = Vec::new();
        let mut nodes = self.nodes.iter().peekable();
        while let Some((p, n)) = nodes.next() {
            // Paths order component-wise: what is below `p` comes next.
            let below = n.has_files() || nodes.peek().is_some_and(|(q, _)| q.starts_with(p));
            if n.kind == EntryKind::File
                && !n.listed
                && n.ino != 0
                && !below
                && !p.as_os_str().is_empty()
            {
                files.push(p.clone());
            }
        }
        for path in files {
            if let Some(node) = self.nodes.remove(&path) {
                let listed = Entry::listed(node.dev(&self.attrs), node.ino, since);
                self.insert(path, listed);
            }
        }
    }

    /// The paths kept by node at and below `rel`, each with its node.
    fn node_range<'s>(&'s self, rel: &'s Path) -> impl Iterator<Item = (&'s SharedPath, &'s Node)> {
        // Paths order component-wise, so a subtree is one contiguous run.
        self.nodes
            .range::<Path, _>((Bound::Included(rel), Bound::Unbounded))
            .take_while(move |(p, _)| p.starts_with(rel))
    }

    /// Every path with its entry, `(node path, node)` expanded.
    fn expand(&self, out: &mut Vec<(PathBuf, Entry)>, path: &Path, node: &Node) {
        out.push((path.to_path_buf(), node.entry(&self.attrs)));
        if let Some((dev, files)) = node.files(&self.attrs) {
            for (name, ino) in files.iter() {
                out.push((
                    join_rel(path, Path::new(OsStr::from_bytes(name))),
                    self.listed_entry(dev, files, ino),
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

    /// Whether anything is recorded below `rel` (not counting `rel`).
    pub(crate) fn holds_below(&self, rel: &Path) -> bool {
        let mut run = self.node_range(rel);
        match run.next() {
            Some((p, node)) if **p == *rel => {
                run.next().is_some() || node.files(&self.attrs).is_some_and(|(_, f)| !f.is_empty())
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Whether nothing is recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Empties the snapshot. One that holds a single path (a root scanned
    /// without recursion, or whose directory has no subdirectory) keeps
    /// its map's storage, for [`Snapshot::from_one`] to record the next
    /// one in without an allocation: a removed root leaves its emptied
    /// snapshot to the next root made in its slot (see `Root::retire`).
    pub(crate) fn clear(&mut self) {
        if self.nodes.len() <= 1 {
            // Emptied by removal, a map keeps its (only) leaf.
            self.nodes.pop_first();
        } else {
            self.nodes = BTreeMap::new();
        }
        self.attrs = Attrs::default();
        self.announced = None;
        self.floor = None;
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
    fn take_nodes(&mut self, rel: &Path) -> Vec<(SharedPath, Node)> {
        let keys: Vec<SharedPath> = self.node_range(rel).map(|(p, _)| p.clone()).collect();
        keys.into_iter()
            .filter_map(|k| self.nodes.remove(&k).map(|n| (k, n)))
            .collect()
    }

    /// Removes `rel` and everything below it, including entries recorded
    /// below `rel` while nothing was recorded at `rel` itself (a name
    /// reported inside a directory whose own creation is reported later).
    pub(crate) fn remove_subtree(&mut self, rel: &Path) {
        if !self.nodes.contains_key(rel)
            && let Some((parent, name)) = split(rel)
            && let Some(node) = self.nodes.get_mut(parent)
        {
            node.remove_file(name.as_bytes());
        }
        self.take_nodes(rel);
    }

    /// Moves `from` and everything below it to `to`, replacing what was at
    /// `to`, including entries recorded below `from` while nothing was
    /// recorded at `from` itself (as [`remove_subtree`](Self::remove_subtree)
    /// takes them).
    pub(crate) fn move_subtree(&mut self, from: &Path, to: &Path) {
        self.remove_subtree(to);
        // A listed file at `from` (not a node) leaves its table.
        let listed = match self.nodes.contains_key(from) {
            true => None,
            false => self.get(from),
        };
        if listed.is_some()
            && let Some((parent, name)) = split(from)
            && let Some(node) = self.nodes.get_mut(parent)
        {
            node.remove_file(name.as_bytes());
        }
        for (old, node) in self.take_nodes(from) {
            if let Ok(rest) = old.strip_prefix(from) {
                self.nodes.insert(join_rel(to, rest).into(), node);
            }
        }
        match listed {
            // It moves to its new directory's table (no node is at `to`:
            // only nodes below `from` moved).
            Some(entry) => self.insert(to, entry),
            // `to` is a node now: no listed file of the same name may remain.
            None => {
                if let Some((parent, name)) = split(to)
                    && let Some(node) = self.nodes.get_mut(parent)
                {
                    node.remove_file(name.as_bytes());
                }
            }
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
                ids.insert((n.dev(&self.attrs), n.ino));
            }
            cur = p.parent();
        }
        if let Some(n) = self.nodes.get(Path::new("")) {
            ids.insert((n.dev(&self.attrs), n.ino));
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
pub(crate) struct Listing(Listed);

impl Listing {
    /// The files listed in a directory on device `dev`, read after
    /// `since` (a [`listed_since`]): `names` with their inodes, sorted by
    /// the names' bytes.
    pub(crate) fn new<'a>(
        dev: u64,
        since: i64,
        names: impl ExactSizeIterator<Item = (&'a [u8], u64)> + Clone,
    ) -> Listing {
        Listing(Listed {
            dev,
            files: Files::from_sorted(since, names),
        })
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
    use std::time::{SystemTime, UNIX_EPOCH};

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
    fn holds_below_counts_nodes_and_listed_files_but_not_the_path_itself() {
        let mut snap = listed_tree();
        assert!(snap.holds_below(Path::new("")));
        assert!(snap.holds_below(Path::new("d")));
        // Only a listed file below it.
        assert!(snap.holds_below(Path::new("d/s")));
        // A listed file, a path with nothing recorded, a sibling sorting
        // right after `d`.
        assert!(!snap.holds_below(Path::new("d/x")));
        assert!(!snap.holds_below(Path::new("e")));
        snap.insert(PathBuf::from("d-e"), dir(4));
        assert!(!snap.holds_below(Path::new("d-e")));
        snap.remove_subtree(Path::new("d/s/z"));
        assert!(!snap.holds_below(Path::new("d/s")));
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

    /// Entries recorded below `c` while nothing is recorded at `c` (a
    /// name reported inside a directory whose own creation comes later),
    /// and a sibling `cc`.
    fn below_an_unrecorded_name() -> Snapshot {
        let mut snap = Snapshot::default();
        snap.insert(PathBuf::new(), dir(1));
        snap.insert(PathBuf::from("c/a/a"), dir(5));
        snap.insert(
            PathBuf::from("c/a/a/f"),
            Entry::placeholder(false).with(1, 6),
        );
        snap.insert(PathBuf::from("cc"), dir(7));
        snap
    }

    #[test]
    fn removing_a_name_takes_what_was_recorded_below_it_without_it() {
        let mut snap = below_an_unrecorded_name();
        snap.remove_subtree(Path::new("c"));
        assert_eq!(paths(snap.iter()), ["", "cc"]);
    }

    #[test]
    fn moving_a_name_takes_what_was_recorded_below_it_without_it() {
        let mut snap = below_an_unrecorded_name();
        snap.move_subtree(Path::new("c"), Path::new("d"));
        assert_eq!(paths(snap.iter()), ["", "cc", "d/a/a", "d/a/a/f"]);
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
    fn entries_come_back_as_recorded_but_a_directory_s_times() {
        let mut snap = Snapshot::default();
        let mut d = dir(1);
        (d.size, d.mtime, d.ctime, d.mode, d.uid, d.gid) = (4096, 5, 6, 0o40755, 7, 8);
        snap.insert(PathBuf::new(), d.clone());
        let mut f = Entry::placeholder(false).with(1, 2);
        (f.size, f.mtime, f.ctime, f.mode, f.uid, f.gid) = (10, 11, 12, 0o100644, 13, 14);
        snap.insert(PathBuf::from("f"), f.clone());
        let mut l = f.clone().with(2, 3);
        (l.kind, l.target) = (EntryKind::Symlink, Some(Box::new(PathBuf::from("t"))));
        snap.insert(PathBuf::from("l"), l.clone());
        assert_eq!(snap.get(Path::new("f")), Some(f));
        assert_eq!(snap.get(Path::new("l")), Some(l));
        (d.size, d.mtime, d.ctime) = (0, 0, 0);
        assert_eq!(snap.get(Path::new("")), Some(d.clone()));
        // Not kept for a directory, so not moved either.
        snap.refresh_ctime(Path::new(""), 99);
        assert_eq!(snap.get(Path::new("")), Some(d));
    }

    #[test]
    fn a_directory_keeps_its_files_through_new_entries_and_devices() {
        let mut snap = Snapshot::default();
        snap.insert(PathBuf::new(), dir(1));
        for count in [3u64, 40] {
            for i in 0..count {
                snap.insert(
                    PathBuf::from(format!("f{i}")),
                    Entry::listed(1, 100 + i, 50),
                );
            }
            // A new entry for the directory (a chmod seen) keeps them.
            let mut d = dir(1);
            d.mode = 0o40700;
            snap.insert(PathBuf::new(), d.clone());
            assert_eq!(snap.get(Path::new("")), Some(d));
            assert_eq!(snap.get(Path::new("f2")), Some(Entry::listed(1, 102, 50)));
            // Another device: the files keep theirs; new ones of the
            // directory's device are then kept as nodes.
            snap.insert(PathBuf::new(), dir(1).with(2, 1));
            assert_eq!(snap.get(Path::new("f2")), Some(Entry::listed(1, 102, 50)));
            snap.insert(PathBuf::from("g"), Entry::listed(2, 9, 50));
            assert_eq!(snap.get(Path::new("g")), Some(Entry::listed(2, 9, 50)));
            assert_eq!(snap.nodes.len(), 2);
            assert_eq!(paths(snap.iter()).len(), count as usize + 2);
            snap.remove_subtree(Path::new("g"));
            snap.insert(PathBuf::new(), dir(1));
        }
        // A followed symlink to a directory on another device, as a scan
        // records it, with its listing.
        let mut link = Entry::placeholder(false).with(1, 7);
        (link.kind, link.target) = (EntryKind::Symlink, Some(Box::new(PathBuf::from("x"))));
        let names = [(std::ffi::OsString::from("a"), 5), ("b".into(), 6)];
        let snap = Snapshot::from_scan(vec![
            (Path::new("").into(), dir(1), None),
            (
                Path::new("s").into(),
                link.clone(),
                Some(Listing::new(
                    3,
                    40,
                    names.iter().map(|(n, i)| (n.as_bytes(), *i)),
                )),
            ),
        ]);
        assert_eq!(snap.get(Path::new("s")), Some(link));
        assert_eq!(snap.get(Path::new("s/b")), Some(Entry::listed(3, 6, 40)));
        let mut copy = Snapshot::default();
        copy.extend(snap.clone());
        assert_eq!(copy, snap);
    }

    #[test]
    fn modes_and_owners_are_kept_once_and_not_piled_up() {
        let mut snap = Snapshot::default();
        snap.insert(PathBuf::new(), dir(1));
        for i in 0..100u64 {
            snap.insert(PathBuf::from(format!("d{i}")), dir(10 + i));
        }
        assert_eq!(snap.attrs.len(), 1);
        // A file whose mode changes 1,000 times, each change recorded.
        let mut f = Entry::placeholder(false).with(1, 5);
        for mode in 0..1_000 {
            f.mode = mode;
            snap.insert(PathBuf::from("f"), f.clone());
            assert_eq!(snap.get(Path::new("f")), Some(f.clone()));
        }
        assert!(snap.attrs.len() <= 2 * snap.nodes.len() + 64);
        assert_eq!(snap.get(Path::new("d7")), Some(dir(17)));
    }

    /// One step applied to a snapshot and to a plain map of its entries.
    #[derive(Clone, Debug)]
    enum Step {
        Insert(PathBuf, Entry),
        Remove(PathBuf),
        Move(PathBuf, PathBuf),
        Relist,
        /// Names created in a directory, each announced in turn: `f0`
        /// and on, in creation order (past a small table), or one name.
        Announce(PathBuf, Vec<String>),
    }

    /// Every listed file here has this listing time, so that a table's
    /// (the oldest of its files') is each file's own.
    const SINCE: i64 = 77;

    fn rel_path() -> impl proptest::strategy::Strategy<Value = PathBuf> {
        use proptest::prelude::*;
        let dir = proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("c")], 0..4);
        prop_oneof![
            4 => dir.clone().prop_map(|names| names.iter().collect()),
            // A name that an announcement burst may have made.
            1 => (dir, 0u32..50).prop_map(|(names, i)| {
                let mut p: PathBuf = names.iter().collect();
                p.push(format!("f{i}"));
                p
            }),
        ]
    }

    fn announced_names() -> impl proptest::strategy::Strategy<Value = Vec<String>> {
        use proptest::prelude::*;
        prop_oneof![
            (1usize..60).prop_map(|n| (0..n).map(|i| format!("f{i}")).collect()),
            prop_oneof![Just("a"), Just("b"), Just("f3")].prop_map(|n| vec![n.to_string()]),
        ]
    }

    fn any_entry() -> impl proptest::strategy::Strategy<Value = Entry> {
        use proptest::prelude::*;
        let kind = prop_oneof![
            Just(EntryKind::Dir),
            Just(EntryKind::File),
            Just(EntryKind::Symlink),
            Just(EntryKind::Other),
        ];
        (kind, 0u8..4, 1u64..3, 0u64..6, 0u32..3, 0u32..2, 0i64..3).prop_map(
            |(kind, how, dev, ino, mode, uid, time)| {
                if kind == EntryKind::File && how == 0 {
                    return Entry::listed(dev, ino, SINCE);
                }
                let mut e = Entry::placeholder(kind == EntryKind::Dir).with(dev, ino);
                e.kind = kind;
                (e.mode, e.uid, e.gid) = (mode, uid, uid + 1);
                (e.size, e.mtime, e.ctime) = (time as u64, time + 1, time + 2);
                if kind == EntryKind::Symlink {
                    e.target = Some(Box::new(PathBuf::from(format!("t{how}"))));
                }
                e
            },
        )
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            6 => (rel_path(), any_entry()).prop_map(|(p, e)| Step::Insert(p, e)),
            1 => rel_path().prop_map(Step::Remove),
            1 => (rel_path(), rel_path()).prop_map(|(a, b)| Step::Move(a, b)),
            1 => proptest::strategy::Just(Step::Relist),
            2 => (rel_path(), announced_names()).prop_map(|(d, n)| Step::Announce(d, n)),
        ]
    }

    /// What the snapshot gives back for `entry`: a directory without its
    /// size and times.
    fn as_kept(mut entry: Entry) -> Entry {
        if entry.kind == EntryKind::Dir && !entry.listed {
            (entry.size, entry.mtime, entry.ctime) = (0, 0, 0);
        }
        entry
    }

    proptest::proptest! {
        #[test]
        fn a_snapshot_behaves_like_a_map_of_paths(steps in proptest::collection::vec(step(), 1..60)) {
            let mut snap = Snapshot::default();
            let mut model: BTreeMap<PathBuf, Entry> = BTreeMap::new();
            for step in steps {
                match step {
                    Step::Insert(p, e) => {
                        snap.insert(p.clone(), e.clone());
                        model.insert(p, as_kept(e));
                    }
                    Step::Remove(p) => {
                        snap.remove_subtree(&p);
                        model.retain(|k, _| !k.starts_with(&p));
                    }
                    Step::Move(from, to) => {
                        // A directory never moves into itself.
                        if to.starts_with(&from) || from.starts_with(&to) {
                            continue;
                        }
                        snap.move_subtree(&from, &to);
                        model.retain(|k, _| !k.starts_with(&to));
                        let moved: Vec<PathBuf> =
                            model.keys().filter(|k| k.starts_with(&from)).cloned().collect();
                        for old in moved {
                            let e = model.remove(&old).unwrap();
                            let rest = old.strip_prefix(&from).unwrap();
                            model.insert(join_rel(&to, rest), e);
                        }
                    }
                    Step::Announce(dir, names) => {
                        for name in names {
                            let rel = join_rel(&dir, Path::new(&name));
                            let done = snap.announce(&dir, OsStr::new(&name), &rel, SINCE);
                            let dir_dev = model
                                .get(&dir)
                                .filter(|e| e.kind == EntryKind::Dir)
                                .map(|e| e.dev);
                            if done {
                                // Only a name nothing is recorded at, in a
                                // directory; known as listed, inode unknown.
                                proptest::prop_assert!(dir_dev.is_some());
                                proptest::prop_assert!(!model.contains_key(&rel));
                                let dev = dir_dev.unwrap_or(0);
                                model.insert(rel, Entry::listed(dev, UNKNOWN_INO, SINCE));
                            } else {
                                // Refused only for a reason: no directory,
                                // something there, or its table holds
                                // files of another device.
                                let other_dev = model.iter().any(|(p, e)| {
                                    e.listed
                                        && p.parent() == Some(dir.as_path())
                                        && Some(e.dev) != dir_dev
                                });
                                proptest::prop_assert!(
                                    dir_dev.is_none() || model.contains_key(&rel) || other_dev,
                                    "{} refused",
                                    rel.display()
                                );
                            }
                        }
                    }
                    Step::Relist => {
                        snap.relist(SINCE);
                        let below: HashSet<PathBuf> = model
                            .keys()
                            .flat_map(|k| k.ancestors().skip(1).map(Path::to_path_buf))
                            .collect();
                        for (p, e) in model.iter_mut() {
                            if e.kind == EntryKind::File
                                && !e.listed
                                && e.ino != 0
                                && !p.as_os_str().is_empty()
                                && !below.contains(p)
                            {
                                *e = Entry::listed(e.dev, e.ino, SINCE);
                            }
                        }
                    }
                }
                let got: Vec<(PathBuf, Entry)> = snap.iter().collect();
                let want: Vec<(PathBuf, Entry)> =
                    model.iter().map(|(p, e)| (p.clone(), e.clone())).collect();
                proptest::prop_assert_eq!(got, want);
            }
            for (p, e) in &model {
                proptest::prop_assert_eq!(snap.get(p), Some(e.clone()));
            }
            let mut copy = Snapshot::default();
            copy.extend(snap.clone());
            proptest::prop_assert_eq!(copy, snap);
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
