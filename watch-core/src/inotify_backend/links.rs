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

use std::cell::{Cell, RefCell};
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
    /// The last few found by [`Links::id`], by the address of the path
    /// they handed out: a root added below them shares their watches
    /// ([`Links::find`]) right after its lookup took their identities,
    /// with that path. Emptied whenever a watch is armed or released, so
    /// each is what `by_path` holds for it (whose entry keeps that path,
    /// and its address, alive).
    recent: RefCell<[Option<Recent>; RECENT]>,
    /// Where in `recent` the next one goes.
    next: Cell<usize>,
}

/// How many [`Links::recent`] keeps: the directories above a new root.
const RECENT: usize = 4;

/// A followed directory [`Links::id`] handed out.
#[derive(Clone, Copy, Debug)]
struct Recent {
    /// The address and length of the path handed out.
    at: (usize, usize),
    wd: Wd,
    id: DirId,
    full: bool,
}

/// Where `dir`'s bytes are: one path handed out is found again by it.
fn address(dir: &Path) -> (usize, usize) {
    let bytes = dir.as_os_str().as_encoded_bytes();
    (bytes.as_ptr() as usize, bytes.len())
}

/// The key of the directory at `dir`.
fn key(dir: &Path) -> &OsStr {
    dir.as_os_str()
}

impl Links {
    /// The watch on `dir` if it is the directory `id` and its mask serves
    /// an anchor (`full`) or an ancestor.
    pub(super) fn find(&self, dir: &Path, id: DirId, full: bool) -> Option<Wd> {
        let at = address(dir);
        let hit = self
            .recent
            .borrow()
            .iter()
            .flatten()
            .find(|r| r.at == at)
            .copied();
        let (wd, found_id, found_full) = match hit {
            Some(r) => (r.wd, r.id, r.full),
            None => {
                let l = self.by_path.get(key(dir))?;
                (l.wd, l.id, l.full)
            }
        };
        (found_id == id && (found_full || !full)).then_some(wd)
    }

    /// The identity of the followed directory at `dir`, and its path.
    pub(super) fn id(&self, dir: &Path) -> Option<(SharedPath, DirId)> {
        let l = self.by_path.get(key(dir))?;
        let next = self.next.get();
        self.recent.borrow_mut()[next] = Some(Recent {
            at: address(&l.dir),
            wd: l.wd,
            id: l.id,
            full: l.full,
        });
        self.next.set((next + 1) % RECENT);
        Some((l.dir.clone(), l.id))
    }

    /// Forgets [`Links::recent`] (a watch was armed or released).
    fn changed(&mut self) {
        *self.recent.get_mut() = [None; RECENT];
    }

    /// `wd` was armed on `dir` (identity `id`); `full`: with the full
    /// directory mask. A watch already there with that mask keeps it
    /// (masks are only ever widened).
    pub(super) fn armed(&mut self, shared: &SharedPath, id: DirId, wd: Wd, full: bool) {
        self.changed();
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
            self.changed();
            self.by_path.remove(&dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inotify::{Inotify, WatchMask};

    #[test]
    fn a_directory_looked_up_is_found_again_as_it_is_now() {
        let tmp = test_support::TempDir::new("links-recent");
        let ino = Inotify::init().unwrap();
        let wd = |p: &Path| Wd::from(ino.add_watch(p, WatchMask::MOVE_SELF).unwrap());
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        let (wa, wb) = (wd(&a), wd(&b));
        let (sa, sb): (SharedPath, SharedPath) = (a.as_path().into(), b.as_path().into());
        let mut links = Links::default();
        links.armed(&sa, (1, 1), wa, false);
        links.armed(&sb, (1, 2), wb, true);
        // Found by the path handed out, or by an equal one.
        let (held, id) = links.id(&a).unwrap();
        assert_eq!(id, (1, 1));
        assert_eq!(links.find(&held, (1, 1), false), Some(wa));
        assert_eq!(links.find(&a, (1, 1), false), Some(wa));
        // An ancestor's watch does not serve an anchor, another identity
        // is another directory.
        assert_eq!(links.find(&held, (1, 1), true), None);
        assert_eq!(links.find(&held, (9, 9), false), None);
        // Widened since the lookup: found widened.
        links.armed(&sa, (1, 1), wa, true);
        assert_eq!(links.find(&held, (1, 1), true), Some(wa));
        // Released since the lookup: gone, though the path is still held.
        let (held_b, _) = links.id(&b).unwrap();
        links.released(wb);
        assert_eq!(links.find(&held_b, (1, 2), false), None);
        assert!(links.id(&b).is_none());
        assert_eq!(links.find(&held, (1, 1), true), Some(wa));
    }
}
