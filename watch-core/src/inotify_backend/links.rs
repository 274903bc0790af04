//! The watches on directories followed for a root's name (anchors and
//! ancestors), by path, so that a root added below a directory other roots
//! already follow shares their watch without a system call, and its lookup
//! takes that directory's identity from here instead of an `lstat`.
//!
//! Paths are kept and looked up as bytes: they all come from lookups,
//! which spell one directory the same way every time (see
//! [`same_dir`](crate::resolve::same_dir)), and hashing bytes costs a
//! fraction of hashing a `Path` (which walks its components). Two
//! spellings of one directory would only miss a chance to share.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::Path;

use super::kernel::Wd;

use crate::fast_hash::FastHash;
use crate::resolve::DirId;
use crate::snapshot::SharedPath;

/// One followed directory's watch.
#[derive(Clone, Debug)]
struct Linked {
    /// The directory's path, as the roots that follow it hold it: a root
    /// added below takes this one instead of a copy.
    dir: SharedPath,
    wd: Wd,
    /// The directory's (device, inode) when it was armed.
    id: DirId,
    /// Armed with an anchor's mask (its entries' names), not only for the
    /// directory itself moving or going away (an ancestor).
    full: bool,
}

/// Followed directories by path, and the path of each such watch.
#[derive(Default)]
pub(super) struct Links {
    by_path: HashMap<OsString, Linked, FastHash>,
    by_wd: HashMap<Wd, OsString, FastHash>,
}

/// The key of the directory at `dir`.
fn key(dir: &Path) -> &OsStr {
    dir.as_os_str()
}

impl Links {
    /// The watch on `dir` if it is the directory `id` and its mask serves
    /// an anchor (`full`) or an ancestor.
    pub(super) fn find(&self, dir: &Path, id: DirId, full: bool) -> Option<Wd> {
        self.by_path
            .get(key(dir))
            .filter(|l| l.id == id && (l.full || !full))
            .map(|l| l.wd)
    }

    /// The identity of the followed directory at `dir`, and its path.
    pub(super) fn id(&self, dir: &Path) -> Option<(SharedPath, DirId)> {
        self.by_path.get(key(dir)).map(|l| (l.dir.clone(), l.id))
    }

    /// `wd` was armed on `dir` (identity `id`); `full`: with the full
    /// directory mask. A watch already there with that mask keeps it
    /// (masks are only ever widened).
    pub(super) fn armed(&mut self, shared: &SharedPath, id: DirId, wd: Wd, full: bool) {
        let dir = key(shared);
        let full = full || self.by_path.get(dir).is_some_and(|l| l.wd == wd && l.full);
        let linked = Linked {
            dir: shared.clone(),
            wd,
            id,
            full,
        };
        if let Some(old) = self.by_path.insert(dir.to_os_string(), linked)
            && old.wd != wd
        {
            self.by_wd.remove(&old.wd);
        }
        if let Some(old_dir) = self.by_wd.insert(wd, dir.to_os_string())
            && old_dir != dir
            && self.by_path.get(&old_dir).is_some_and(|l| l.wd == wd)
        {
            // The same directory reached under another path (a rename
            // meanwhile): only the latest path is shared.
            self.by_path.remove(&old_dir);
        }
    }

    /// The kernel watch `wd` is gone.
    pub(super) fn released(&mut self, wd: Wd) {
        if let Some(dir) = self.by_wd.remove(&wd)
            && self.by_path.get(&dir).is_some_and(|l| l.wd == wd)
        {
            self.by_path.remove(&dir);
        }
    }
}
