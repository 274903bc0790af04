//! The walk that makes a [`Snapshot`]: excludes applied during
//! the walk (an excluded directory is never entered), symlinks entered only
//! when asked (loops detected by device and inode), unreadable directories
//! kept, skipped and reported, never fatal.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::ExcludeFn;
use crate::cookie;
use crate::resolve::{Resolved, resolve};
use crate::snapshot::{
    Entry, EntryKind, Listing, SharedPath, Snapshot, join_rel, listed_since, root_rel,
};
use crate::{Event, EventKind, Origin, SkipReason};

/// How a scan walks.
pub(crate) struct ScanOptions<'a> {
    pub(crate) recursive: bool,
    pub(crate) follow_symlinks: bool,
    pub(crate) exclude: Option<&'a ExcludeFn>,
    /// `lstat` every entry. Without it, a regular file is recorded from the
    /// directory listing alone (name, type and inode; see
    /// [`Entry::listed`]), which is what makes setup about as fast as the
    /// bare walk; directories, symlinks and special files are still
    /// examined. A scan whose result is diffed must be exact.
    pub(crate) exact: bool,
}

impl ScanOptions<'_> {
    pub(crate) fn excluded(&self, path: &Path) -> bool {
        self.exclude.is_some_and(|f| f(path))
    }
}

/// Called before a directory is read: `(full path, relative path, reached
/// through a symlink)`. A kernel backend arms its watch here, so anything
/// created while the directory is being read is reported by the kernel.
/// The relative path is the one the scan's snapshot keeps the directory
/// under: a clone of it shares that allocation.
/// An error skips the directory: `Err(Some(reason))` reports it as
/// `Skipped`, `Err(None)` (it vanished meanwhile) says nothing.
pub(crate) type VisitDir<'v> =
    dyn FnMut(&Path, &SharedPath, bool) -> Result<(), Option<SkipReason>> + 'v;

/// The directories a walk has met, by (device, inode), to tell a loop.
struct Seen {
    /// The directories above the walk's base (as recorded).
    above: HashSet<(u64, u64)>,
    /// The directories from the base down to the one being read.
    chain: Vec<(u64, u64)>,
    /// Every directory met so far, and those above (a followed link to one
    /// is not entered).
    all: HashSet<(u64, u64)>,
    /// Directories visited but not read: see [`scan_dir`].
    unread: Vec<PathBuf>,
    /// The names of the regular files listed in the directory being read,
    /// one after the other, and where each starts and ends with its inode:
    /// kept from one directory to the next, so that listing files costs
    /// no allocation per file or directory (each would stay in the heap
    /// between the long-lived ones).
    names: Vec<u8>,
    listed: Vec<(usize, usize, u64)>,
}

impl Seen {
    /// Whether `id` is the directory being read or one above it: entering
    /// it would be a loop (through a followed link, or a bind mount).
    fn is_ancestor(&self, id: (u64, u64)) -> bool {
        self.above.contains(&id) || self.chain.contains(&id)
    }
}

/// Scans the directory at `root`/`base_rel` (whose entry is `base`) and
/// everything below it that the options allow. The result holds `base_rel`
/// and the paths below it. Unreadable directories are kept as entries,
/// not entered, and reported in `notices`; nothing here is fatal.
/// `above`: the directories above `base_rel`, whose appearance below is a
/// loop.
///
/// A real directory is entered wherever it is met unless it is one of its
/// own ancestors: met a second time, it moved while the walk ran (from a
/// directory already listed into one not read yet), and its contents
/// belong under the name it is read at now; the earlier name is stale and
/// the kernel's report of the move drops it.
///
/// Also returns the directories that `visit` accepted but that could not
/// be read because they were gone from their path by then (moved or
/// removed right after `visit`): their contents are unknown, so a kernel
/// backend must not keep the watch `visit` armed as if they were known.
///
/// `opened`: the base directory, opened by the lookup that found it as
/// `base` (it is then read from there, not opened again by path).
/// `into`: an empty snapshot whose storage a result of one path takes
/// (see [`Snapshot::from_one`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn scan_dir(
    root: &Path,
    base_rel: &SharedPath,
    base: Entry,
    opened: Option<fs::File>,
    into: Snapshot,
    above: HashSet<(u64, u64)>,
    opts: &ScanOptions<'_>,
    visit: &mut VisitDir<'_>,
    notices: &mut Vec<Event>,
) -> (Snapshot, Vec<PathBuf>) {
    let via_symlink = base.kind == EntryKind::Symlink;
    // The root itself (every non-recursive root's only directory) is read
    // at the path as given, without a copy.
    let base_full = if base_rel.as_os_str().is_empty() {
        Cow::Borrowed(root)
    } else {
        Cow::Owned(join_rel(root, base_rel))
    };
    // The directory the files are in: a followed symlink's target, not
    // the link itself.
    let base_id = if via_symlink {
        fs::metadata(&base_full).map_or((base.dev, base.ino), |m| (m.dev(), m.ino()))
    } else {
        (base.dev, base.ino)
    };
    let base_dev = base_id.0;
    // Loops matter only to a walk that goes down: a flat one keeps no
    // record of the directories it met.
    let mut all = above.clone();
    let mut chain = Vec::new();
    if opts.recursive {
        all.insert(base_id);
        chain.push(base_id);
    }
    let mut visited = Seen {
        above,
        chain,
        all,
        unread: Vec::new(),
        names: Vec::new(),
        listed: Vec::new(),
    };
    // Depth first, each directory's entries sorted by name: that is the
    // order of `Path`'s `Ord`, so the snapshot's map is built in one pass
    // from sorted input (full nodes, no per-insert search).
    let mut found = Vec::new();
    let mut stack = Vec::new();
    match read_children(
        &base_full,
        base_rel,
        via_symlink,
        base_dev,
        opened,
        &mut visited,
        opts,
        visit,
        notices,
    ) {
        Some((children, listed)) if !opts.recursive => {
            if children.is_empty() {
                // The directory alone (its files, if any, in its listing).
                let snap = Snapshot::from_one(base_rel.clone(), base, listed, into);
                return (snap, visited.unread);
            }
            // Nothing is entered: the children are the rest of the result.
            found.reserve_exact(1 + children.len());
            found.push((base_rel.clone(), base, listed));
            let mut scratch = PathBuf::new();
            for child in children {
                let child_rel = join_shared(&mut scratch, base_rel, &child.name);
                found.push((child_rel, child.entry, None));
            }
        }
        Some((children, listed)) => {
            found.push((base_rel.clone(), base, listed));
            stack.push((
                base_rel.clone(),
                base_full.into_owned(),
                children.into_iter(),
            ));
        }
        None => found.push((base_rel.clone(), base, None)),
    }
    // Each path is built here once, as the key it is kept under.
    let mut scratch = PathBuf::new();
    loop {
        visited.chain.truncate(stack.len());
        let Some((rel, full, children)) = stack.last_mut() else {
            break;
        };
        let Some(child) = children.next() else {
            stack.pop();
            continue;
        };
        let child_rel = join_shared(&mut scratch, rel, &child.name);
        if child.enter {
            let child_full = full.join(&child.name);
            let is_symlink = child.entry.kind == EntryKind::Symlink;
            // The chain holds the stack's directories, and the child while
            // it is read.
            visited.chain.push(child.id);
            match read_children(
                &child_full,
                &child_rel,
                is_symlink,
                child.dev,
                None,
                &mut visited,
                opts,
                visit,
                notices,
            ) {
                Some((grandchildren, listed)) => {
                    found.push((child_rel.clone(), child.entry, listed));
                    stack.push((child_rel, child_full, grandchildren.into_iter()));
                }
                None => found.push((child_rel, child.entry, None)),
            }
        } else {
            found.push((child_rel, child.entry, None));
        }
    }
    (Snapshot::from_scan(found), visited.unread)
}

/// `base` joined with `name` (one name, never empty), built in `scratch`
/// and copied once into its own allocation.
fn join_shared(scratch: &mut PathBuf, base: &Path, name: &OsStr) -> SharedPath {
    scratch.as_mut_os_string().clear();
    if !base.as_os_str().is_empty() {
        scratch.push(base);
    }
    scratch.push(name);
    SharedPath::from(scratch.as_path())
}

/// One entry of a directory being scanned, other than a listed file.
struct Child {
    name: OsString,
    entry: Entry,
    /// A directory (or followed symlink to one) to scan too.
    enter: bool,
    /// The device of the directory it leads to, when entered.
    dev: u64,
    /// The (device, inode) of the directory it leads to, when entered.
    id: (u64, u64),
}

/// Calls `visit` for the directory at `full` (on device `dev`; `opened`,
/// if it is open already), then reads it: its entries sorted by name
/// (regular files apart when they are only listed), or `None` if it was
/// skipped or could not be read.
#[allow(clippy::too_many_arguments)]
fn read_children(
    full: &Path,
    rel: &SharedPath,
    via_symlink: bool,
    dev: u64,
    opened: Option<fs::File>,
    visited: &mut Seen,
    opts: &ScanOptions<'_>,
    visit: &mut VisitDir<'_>,
    notices: &mut Vec<Event>,
) -> Option<(Vec<Child>, Option<Listing>)> {
    let skipped = |reason| Event::new(EventKind::Skipped { reason }, full, true, Origin::Rescan);
    // Before the watch is armed: a change made after this moment, even
    // one the kernel's events then lose, leaves a ctime at or after it.
    let since = listed_since();
    match visit(full, rel, via_symlink) {
        Ok(()) => {}
        Err(Some(reason)) => {
            notices.push(skipped(reason));
            return None;
        }
        Err(None) => return None,
    }
    let mut children = Vec::new();
    visited.names.clear();
    visited.listed.clear();
    let mut each = |item: Item<'_>| {
        let name = item.name;
        if cookie::is_cookie(name) {
            return;
        }
        // Full paths cost an allocation; build one only when needed.
        let child_full = || full.join(name);
        if opts.exclude.is_some() && opts.excluded(&child_full()) {
            return;
        }
        // The listing's type (`d_type`); where the filesystem does not
        // fill it in, the entry's `lstat` tells (and is kept).
        let mut meta = None;
        let is_file = match item.is_file {
            Some(is_file) => is_file,
            None => {
                let m = (item.metadata)();
                let is_file = m.as_ref().is_ok_and(|e| e.kind == EntryKind::File);
                meta = Some(m);
                is_file
            }
        };
        if !opts.exact && is_file {
            let start = visited.names.len();
            visited.names.extend_from_slice(name.as_encoded_bytes());
            let end = visited.names.len();
            visited.listed.push((start, end, item.ino));
            return;
        }
        let Ok(mut entry) = meta.unwrap_or_else(|| (item.metadata)()) else {
            return; // vanished meanwhile
        };
        if entry.kind == EntryKind::Symlink {
            entry.target = fs::read_link(child_full()).ok().map(Box::new);
        }
        let mut child_dev = entry.dev;
        let mut child_id = (entry.dev, entry.ino);
        let enter = match entry.kind {
            EntryKind::Dir if opts.recursive => {
                visited.all.insert(child_id);
                !visited.is_ancestor(child_id)
            }
            EntryKind::Symlink if opts.recursive && opts.follow_symlinks => {
                match fs::metadata(child_full()) {
                    Ok(m) if m.is_dir() => {
                        child_dev = m.dev();
                        child_id = (m.dev(), m.ino());
                        let fresh = visited.all.insert(child_id);
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
        children.push(Child {
            name: name.to_os_string(),
            entry,
            enter,
            dev: child_dev,
            id: child_id,
        });
    };
    if let Err(err) = list_entries(full, opened, &mut each) {
        match skip_reason(&err) {
            Some(reason) => notices.push(skipped(reason)),
            None => visited.unread.push(rel.to_path_buf()),
        }
        return None;
    }
    children.sort_unstable_by(|a, b| a.name.as_encoded_bytes().cmp(b.name.as_encoded_bytes()));
    let names = &visited.names;
    let listed = (!visited.listed.is_empty()).then(|| {
        visited
            .listed
            .sort_unstable_by(|a, b| names[a.0..a.1].cmp(&names[b.0..b.1]));
        let files = visited.listed.iter();
        Listing::new(dev, since, files.map(|&(s, e, ino)| (&names[s..e], ino)))
    });
    Some((children, listed))
}

/// One entry as a directory's listing gives it.
struct Item<'a> {
    name: &'a OsStr,
    ino: u64,
    /// Whether it is a regular file, when the listing says (`d_type`).
    is_file: Option<bool>,
    /// Its `lstat` (a symlink's target not read), made relative to the
    /// directory being listed.
    metadata: &'a dyn Fn() -> io::Result<Entry>,
}

/// Calls `each` for the entries of the directory at `dir` (not `.` and
/// `..`), read from `opened` if given (that directory, opened by the
/// lookup that found it). The error is that of opening it; a later read
/// error ends the listing with the entries read before it.
///
/// One `getdents64` into a buffer kept by the thread per batch of entries,
/// names borrowed from it; an entry is examined with `fstatat` relative to
/// the open directory, never by its full path (a rename above, made while
/// the walk runs, would send a lookup by path into another directory).
#[cfg(linux_kernel)]
fn list_entries(
    dir: &Path,
    opened: Option<fs::File>,
    each: &mut dyn FnMut(Item<'_>),
) -> io::Result<()> {
    use inotify::{DirBuffer, DirEntryType};
    use std::cell::RefCell;

    thread_local! {
        /// Kept across listings: a walk reads one directory at a time.
        static BUFFER: RefCell<DirBuffer> = RefCell::new(DirBuffer::default());
    }
    let file = match opened {
        Some(file) => file,
        None => inotify::open_dir(dir)?,
    };
    let mut list = |buf: &mut DirBuffer| {
        // A read error ends the listing; what was read before it stands.
        let _ = buf.list(&file, &mut |e| {
            let metadata = || inotify::stat_at(&file, e.name).map(|s| Entry::from_stat(&s));
            each(Item {
                name: e.name,
                ino: e.ino,
                is_file: match e.kind {
                    DirEntryType::File => Some(true),
                    DirEntryType::Unknown => None,
                    _ => Some(false),
                },
                metadata: &metadata,
            });
        });
    };
    BUFFER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => list(&mut buf),
        // Not expected (nothing lists from inside a listing): a buffer
        // of its own then.
        Err(_) => list(&mut DirBuffer::with_size(4096)),
    });
    Ok(())
}

/// Calls `each` for the entries of the directory at `dir` (not `.` and
/// `..`). The error is that of opening it; a later read error ends the
/// listing with the entries read before it.
#[cfg(not(linux_kernel))]
fn list_entries(
    dir: &Path,
    _opened: Option<fs::File>,
    each: &mut dyn FnMut(Item<'_>),
) -> io::Result<()> {
    use std::os::unix::fs::DirEntryExt;

    for item in fs::read_dir(dir)? {
        let Ok(item) = item else { continue };
        let name = item.file_name();
        let metadata = || item.metadata().map(|m| Entry::from_metadata(&m, None));
        each(Item {
            name: &name,
            ino: item.ino(),
            // std falls back to `lstat` where `d_type` is not filled in.
            is_file: Some(item.file_type().is_ok_and(|t| t.is_file())),
            metadata: &metadata,
        });
    }
    Ok(())
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
        Some(entry) if entry.is_dir() => {
            scan_dir(
                root,
                &root_rel(),
                entry.clone(),
                None,
                Snapshot::default(),
                HashSet::new(),
                opts,
                visit,
                notices,
            )
            .0
        }
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
    use test_support::TempDir;

    /// Scans `root` exactly; `during` runs when the walk is about to read
    /// the directory at the given relative path (after listing its parent).
    fn scan_while(root: &Path, at: &str, during: impl FnOnce()) -> (Snapshot, Vec<PathBuf>) {
        let opts = ScanOptions {
            recursive: true,
            follow_symlinks: false,
            exclude: None,
            exact: true,
        };
        let mut during = Some(during);
        let mut visit = |_: &Path, rel: &SharedPath, _: bool| {
            if **rel == *Path::new(at)
                && let Some(f) = during.take()
            {
                f();
            }
            Ok(())
        };
        let base = Entry::lstat(root).unwrap();
        let mut notices = Vec::new();
        let scanned = scan_dir(
            root,
            &SharedPath::from(Path::new("")),
            base,
            None,
            Snapshot::default(),
            HashSet::new(),
            &opts,
            &mut visit,
            &mut notices,
        );
        assert!(notices.is_empty(), "{notices:?}");
        scanned
    }

    fn tree(root: &Path) {
        fs::create_dir_all(root.join("a/sub")).unwrap();
        fs::write(root.join("a/sub/f"), b"x").unwrap();
        fs::create_dir(root.join("b")).unwrap();
    }

    #[test]
    fn a_directory_moved_ahead_of_the_walk_is_read_where_it_arrives() {
        // The root's listing names `a` and `b`; `a` moves into `b` before
        // the walk reads it, so the walk meets it again in `b`. The second
        // time is the one that counts: it is not a loop (not an ancestor).
        let tmp = TempDir::new("scan-moved-ahead");
        let root = tmp.path();
        tree(root);
        let (snap, unread) = scan_while(root, "a", || {
            fs::rename(root.join("a"), root.join("b/a")).unwrap();
        });
        assert!(snap.get(Path::new("b/a/sub/f")).is_some(), "{snap:?}");
        assert_eq!(unread, [PathBuf::from("a")]);
    }

    #[test]
    fn a_directory_moved_behind_the_walk_is_read_again_where_it_arrives() {
        // `a` is read, then moves into `b` before `b` is read: its contents
        // are known under the new name too (the old name's are what the
        // rename, once reported, replaces).
        let tmp = TempDir::new("scan-moved-behind");
        let root = tmp.path();
        tree(root);
        let (snap, unread) = scan_while(root, "b", || {
            fs::rename(root.join("a"), root.join("b/a")).unwrap();
        });
        assert!(snap.get(Path::new("b/a/sub/f")).is_some(), "{snap:?}");
        assert!(unread.is_empty(), "{unread:?}");
    }

    #[test]
    fn a_directory_gone_between_its_visit_and_its_reading_is_unread() {
        // `visit` (which arms a kernel watch) succeeds, then the directory
        // moves before it is read: nothing below it is known, and the
        // caller is told so (the watch must not pass for a known one).
        let tmp = TempDir::new("scan-unread");
        let root = tmp.path();
        tree(root);
        let (snap, unread) = scan_while(root, "a/sub", || {
            fs::rename(root.join("a/sub"), root.join("b/sub")).unwrap();
        });
        assert_eq!(unread, [PathBuf::from("a/sub")]);
        assert!(snap.get(Path::new("a/sub")).is_some());
        assert!(snap.get(Path::new("a/sub/f")).is_none());
        // Met again in `b`, read there.
        assert!(snap.get(Path::new("b/sub/f")).is_some(), "{snap:?}");
    }

    #[test]
    fn a_directory_is_not_entered_below_itself() {
        // A real loop (here through a followed link to an ancestor) still
        // ends the walk: only an ancestor counts as one.
        let tmp = TempDir::new("scan-loop");
        let root = tmp.path();
        tree(root);
        std::os::unix::fs::symlink("..", root.join("a/up")).unwrap();
        let opts = ScanOptions {
            recursive: true,
            follow_symlinks: true,
            exclude: None,
            exact: true,
        };
        let mut visit = |_: &Path, _: &SharedPath, _: bool| Ok(());
        let mut notices = Vec::new();
        let base = Entry::lstat(root).unwrap();
        let (snap, _) = scan_dir(
            root,
            &SharedPath::from(Path::new("")),
            base,
            None,
            Snapshot::default(),
            HashSet::new(),
            &opts,
            &mut visit,
            &mut notices,
        );
        assert!(snap.get(Path::new("a/up")).is_some());
        assert!(snap.get(Path::new("a/up/a")).is_none(), "{snap:?}");
        assert_eq!(notices.len(), 1, "{notices:?}");
    }
}
