//! The lstat-based walk that makes a [`Snapshot`]: excludes applied during
//! the walk (an excluded directory is never entered), symlinks entered only
//! when asked (loops detected by device and inode), unreadable directories
//! kept, skipped and reported, never fatal.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::ExcludeFn;
use crate::cookie;
use crate::resolve::{Resolved, resolve};
use crate::snapshot::{Entry, EntryKind, Snapshot, join_rel};
use crate::{Event, EventKind, Origin, SkipReason};

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
    let via_symlink = base.kind == EntryKind::Symlink;
    visited.insert((base.dev, base.ino));
    // Depth first, each directory's entries sorted by name: that is the
    // order of `Path`'s `Ord`, so the snapshot's map is built in one pass
    // from sorted input (full nodes, no per-insert search).
    let mut found = vec![(base_rel.to_path_buf(), base)];
    let base_full = join_rel(root, base_rel);
    let mut stack = Vec::new();
    if let Some(children) = read_children(
        &base_full,
        base_rel,
        via_symlink,
        &mut visited,
        opts,
        visit,
        notices,
    ) {
        stack.push((base_rel.to_path_buf(), base_full, children.into_iter()));
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
            let grandchildren = read_children(
                &child_full,
                &child_rel,
                is_symlink,
                &mut visited,
                opts,
                visit,
                notices,
            );
            found.push((child_rel.clone(), child.entry));
            if let Some(grandchildren) = grandchildren {
                stack.push((child_rel, child_full, grandchildren.into_iter()));
            }
        } else {
            found.push((child_rel, child.entry));
        }
    }
    Snapshot {
        entries: found.into_iter().collect(),
    }
}

/// One entry of a directory being scanned.
struct Child {
    name: OsString,
    entry: Entry,
    /// A directory (or followed symlink to one) to scan too.
    enter: bool,
}

/// Calls `visit` for the directory at `full`, then reads it: its entries
/// sorted by name, or `None` if it was skipped or could not be read.
fn read_children(
    full: &Path,
    rel: &Path,
    via_symlink: bool,
    visited: &mut HashSet<(u64, u64)>,
    opts: &ScanOptions<'_>,
    visit: &mut VisitDir<'_>,
    notices: &mut Vec<Event>,
) -> Option<Vec<Child>> {
    let skipped = |reason| Event::new(EventKind::Skipped { reason }, full, true, Origin::Rescan);
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
        children.push(Child { name, entry, enter });
    }
    children.sort_unstable_by(|a, b| a.name.as_encoded_bytes().cmp(b.name.as_encoded_bytes()));
    Some(children)
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
