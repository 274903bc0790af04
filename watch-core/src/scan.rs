//! The walk that makes a [`Snapshot`]: excludes applied during
//! the walk (an excluded directory is never entered), symlinks entered only
//! when asked (loops detected by device and inode), unreadable directories
//! kept, skipped and reported, never fatal.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::config::ExcludeFn;
use crate::cookie;
use crate::resolve::{Resolved, resolve};
use crate::snapshot::{Entry, EntryKind, Listing, Snapshot, join_rel, listed_since};
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
    let via_symlink = base.kind == EntryKind::Symlink;
    visited.insert((base.dev, base.ino));
    let base_full = join_rel(root, base_rel);
    // The device the directory's files are on: a followed symlink's
    // target's, not the link's own.
    let base_dev = if via_symlink {
        fs::metadata(&base_full).map_or(base.dev, |m| m.dev())
    } else {
        base.dev
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
        &mut visited,
        opts,
        visit,
        notices,
    ) {
        Some((children, listed)) => {
            found.push((base_rel.to_path_buf(), base, listed));
            stack.push((base_rel.to_path_buf(), base_full, children.into_iter()));
        }
        None => found.push((base_rel.to_path_buf(), base, None)),
    }
    while let Some((rel, full, children)) = stack.last_mut() {
        let Some(child) = children.next() else {
            stack.pop();
            continue;
        };
        let child_rel = join_rel(rel, Path::new(&child.name));
        if child.enter {
            let child_full = full.join(&child.name);
            let is_symlink = child.entry.kind == EntryKind::Symlink;
            match read_children(
                &child_full,
                &child_rel,
                is_symlink,
                child.dev,
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
    Snapshot::from_scan(found)
}

/// One entry of a directory being scanned, other than a listed file.
struct Child {
    name: OsString,
    entry: Entry,
    /// A directory (or followed symlink to one) to scan too.
    enter: bool,
    /// The device of the directory it leads to, when entered.
    dev: u64,
}

/// Calls `visit` for the directory at `full` (on device `dev`), then reads
/// it: its entries sorted by name (regular files apart when they are only
/// listed), or `None` if it was skipped or could not be read.
#[allow(clippy::too_many_arguments)]
fn read_children(
    full: &Path,
    rel: &Path,
    via_symlink: bool,
    dev: u64,
    visited: &mut HashSet<(u64, u64)>,
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
    let reader = match fs::read_dir(full) {
        Ok(reader) => reader,
        Err(err) => {
            if let Some(reason) = skip_reason(&err) {
                notices.push(skipped(reason));
            }
            return None;
        }
    };
    let mut children = Vec::new();
    let mut listed = Vec::new();
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
        // The listing's type (`d_type`; std falls back to `lstat` where
        // the filesystem does not fill it in).
        if !opts.exact && item.file_type().is_ok_and(|t| t.is_file()) {
            listed.push((name, item.ino()));
            continue;
        }
        let Ok(meta) = item.metadata() else { continue }; // vanished meanwhile
        let target = if meta.file_type().is_symlink() {
            fs::read_link(child_full()).ok()
        } else {
            None
        };
        let entry = Entry::from_metadata(&meta, target);
        let mut child_dev = entry.dev;
        let enter = match entry.kind {
            EntryKind::Dir => opts.recursive && visited.insert((entry.dev, entry.ino)),
            EntryKind::Symlink if opts.recursive && opts.follow_symlinks => {
                match fs::metadata(child_full()) {
                    Ok(m) if m.is_dir() => {
                        child_dev = m.dev();
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
        children.push(Child {
            name,
            entry,
            enter,
            dev: child_dev,
        });
    }
    children.sort_unstable_by(|a, b| a.name.as_encoded_bytes().cmp(b.name.as_encoded_bytes()));
    let listed = (!listed.is_empty()).then(|| {
        listed.sort_unstable_by(|a, b| a.0.as_encoded_bytes().cmp(b.0.as_encoded_bytes()));
        Listing::new(dev, since, &listed)
    });
    Some((children, listed))
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
