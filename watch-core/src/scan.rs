//! The lstat-based walk that makes a [`Snapshot`]: excludes applied during
//! the walk (an excluded directory is never entered), symlinks entered only
//! when asked (loops detected by device and inode), unreadable directories
//! kept, skipped and reported, never fatal.

use std::collections::HashSet;
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
