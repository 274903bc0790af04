//! Following a root's name: anchors, ancestors and the target's inode watch.

use std::path::Path;

use super::tree::dir_at;
use super::{ArmError, Role, Root, SharedPath, WatchTable};
use crate::Error;
use crate::resolve::{DirId, Resolved, resolve, same_dir};
use crate::snapshot::{Entry, EntryKind};

/// A directory watched to follow a root's name: where it is, which
/// directory it was when armed, and the watch.
pub(crate) struct Link<H> {
    /// Shared with the role its watch is used in.
    pub(crate) dir: SharedPath,
    /// `None` for the `/` or `.` a lookup starts from.
    pub(crate) id: Option<DirId>,
    pub(crate) handle: H,
}

/// `dirs` with the identity `resolved` found for each (without collecting
/// them: `watch` follows these for every root added).
fn with_id<'r>(
    resolved: &'r Resolved,
    dirs: impl Iterator<Item = &'r SharedPath> + Clone + 'r,
) -> impl Iterator<Item = (&'r SharedPath, Option<DirId>)> + Clone + 'r {
    dirs.map(|d| (d, resolved.id_of(d)))
}

/// Makes `links` watch exactly the `wanted` directories, each the one now at
/// its path: a link whose path now leads to another directory (renamed away
/// and replaced, or a mount placed over it or removed) is armed again there
/// and released. Without `arm_new`, only releases what is no longer wanted.
/// Returns whether anything new was armed or vanished while arming (the
/// path must then be resolved again), and the first error.
fn relink<'w, T: WatchTable>(
    t: &mut T,
    root: usize,
    links: &mut Vec<Link<T::Handle>>,
    wanted: impl Iterator<Item = (&'w SharedPath, Option<DirId>)> + Clone,
    role: fn(SharedPath) -> Role,
    arm_new: bool,
) -> (bool, Option<Error>) {
    let mut again = false;
    let mut error = None;
    // Nothing linked yet (a root being added): whatever is linked below
    // comes from `wanted`, so nothing needs to be looked for or released.
    let fresh = links.is_empty();
    if arm_new {
        for (dir, id) in wanted.clone() {
            if !fresh && links.iter().any(|l| l.id == id && same_dir(&l.dir, dir)) {
                continue;
            }
            // The lookup's own path: shared, not copied.
            let shared = dir.clone();
            let mut use_role = role(shared.clone());
            // Another root's watch on the same directory: it was checked against
            // a lookup made after it was armed, and reports the directory being
            // renamed or replaced from then on, so no lookup again is needed.
            if let Some(known) = id {
                match t.share(root, dir, known, use_role) {
                    Ok(handle) => {
                        links.push(Link {
                            dir: shared,
                            id,
                            handle,
                        });
                        continue;
                    }
                    Err(back) => use_role = back,
                }
            }
            match t.arm_link(root, dir, id, use_role) {
                Ok(handle) => {
                    links.push(Link {
                        dir: shared,
                        id,
                        handle,
                    });
                    again = true;
                }
                Err(ArmError::Gone) => again = true, // vanished: resolve again
                Err(e) => {
                    if error.is_none() {
                        error = e.into_error();
                    }
                }
            }
        }
    }
    let wanted_link = |l: &Link<T::Handle>| {
        wanted
            .clone()
            .any(|(d, i)| i == l.id && same_dir(d, &l.dir))
    };
    if fresh || links.iter().all(wanted_link) {
        return (again, error);
    }
    let (keep, stale): (Vec<_>, Vec<_>) = std::mem::take(links).into_iter().partition(wanted_link);
    if !stale.is_empty() {
        // A sync cookie may have gone into a directory these watched.
        t.moved();
    }
    for l in stale {
        // Armed again at the same path and found the same watch (the
        // directory changed back meanwhile): the use is the kept link's now.
        if !keep.iter().any(|k| k.handle == l.handle && k.dir == l.dir) {
            t.release(root, l.handle, role(l.dir));
        }
    }
    *links = keep;
    (again, error)
}

impl<T: WatchTable> Root<T> {
    /// Watches the directories of the name chain, re-resolving until the
    /// set is stable (a watch armed after a resolve could miss a change made
    /// in between; resolving again after arming cannot), then the target.
    pub(crate) fn follow_name(&mut self, t: &mut T) -> Result<(), Error> {
        let result = self.follow_chain(t, true, None);
        self.watch_target(t);
        result
    }

    /// The anchors, and (with `above`) the directories above the path. Those
    /// are optional: they are armed only while no tree directory waits for
    /// a watch the limit refused (and, on `watch`, after the tree), so they
    /// never take a watch a tree directory needs; without them a rename up
    /// there goes unnoticed. An anchor that cannot be armed is an error (the
    /// name could change unseen); an ancestor is not. `first`: a resolution
    /// to start from instead of looking the path up again (it is looked up
    /// again once anything new is armed).
    pub(crate) fn follow_chain(
        &mut self,
        t: &mut T,
        above: bool,
        first: Option<Resolved>,
    ) -> Result<(), Error> {
        self.follow(t, above, first, false).map(|_| ())
    }

    /// [`Root::follow_chain`], returning whether the chain came out stable
    /// (nothing new armed by the last lookup: the anchors are exactly
    /// those of `self.resolved`). `anchors_current`: `first` is such a
    /// stable lookup, whose anchors are in place, so they are not gone
    /// through again for it.
    pub(crate) fn follow(
        &mut self,
        t: &mut T,
        above: bool,
        mut first: Option<Resolved>,
        mut anchors_current: bool,
    ) -> Result<bool, Error> {
        for _ in 0..8 {
            let resolved = first.take().unwrap_or_else(|| resolve(&self.path));
            let ancestors = with_id(&resolved, resolved.ancestors());
            let (armed_anchor, error) = if std::mem::take(&mut anchors_current) {
                (false, None)
            } else {
                let anchors = with_id(&resolved, resolved.dirs());
                relink(t, self.id, &mut self.anchors, anchors, Role::Anchor, true)
            };
            let above = above && t.blocked().is_empty();
            let (armed_ancestor, _) = relink(
                t,
                self.id,
                &mut self.ancestors,
                ancestors,
                Role::Ancestor,
                above,
            );
            self.resolved = resolved;
            if let Some(e) = error {
                return Err(e);
            }
            if !(armed_anchor || armed_ancestor) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Keeps an inode watch on the regular file the root resolves to (none
    /// for a directory, a device, a FIFO or a missing path): a hard link
    /// elsewhere can change it. On failure (gone meanwhile, no permission)
    /// the anchors still see changes by name; the next change retries.
    /// Whatever the name leads to without an inode watch, but a directory,
    /// is reported by its anchor, asked for its entries' writes and
    /// attribute changes then (see [`Root::watch_own`] for a directory).
    pub(crate) fn watch_target(&mut self, t: &mut T) {
        let want = match (&self.resolved.target, self.resolved.last()) {
            (Some(e), Some((dir, name))) if e.kind == EntryKind::File => {
                Some((e.dev, e.ino, dir.join(name)))
            }
            _ => None,
        };
        if let (Some((dev, ino, _)), Some((d, i, _))) = (&want, &self.target)
            && (dev, ino) == (d, i)
        {
            return;
        }
        if let Some((_, _, handle)) = self.target.take() {
            t.release(self.id, handle, Role::Target);
        }
        if let Some((dev, ino, path)) = want
            && let Ok(handle) = t.arm(self.id, &path, Role::Target, false)
        {
            self.target = Some((dev, ino, handle));
        }
        if self.target.is_none() && self.resolved.target.as_ref().is_some_and(|e| !e.is_dir()) {
            self.anchor_contents(t);
        }
    }

    /// For a root whose name leads to a directory, once its tree is armed:
    /// the directory's own watch reports its attribute changes (on
    /// inotify, its own `IN_ATTRIB` refreshes the root), so its anchor
    /// need not report its entries' writes and attribute changes (on
    /// inotify, each open, read and close of any entry there would then
    /// pass through the anchor's watch in the kernel); without that watch
    /// (refused, or waiting for a retry after the limit), the anchor is
    /// asked for them.
    pub(crate) fn watch_own(&mut self, t: &mut T) {
        if self.resolved.target.as_ref().is_some_and(Entry::is_dir)
            && dir_at(&self.dirs, Path::new("")).is_none()
        {
            self.anchor_contents(t);
        }
    }

    /// Asks the anchor of the root's final name for its entries' writes
    /// and attribute changes ([`WatchTable::anchor_contents`]).
    fn anchor_contents(&mut self, t: &mut T) {
        if let Some((dir, _)) = self.resolved.last()
            && let Some(anchor) = self.anchors.iter().find(|l| same_dir(&l.dir, dir))
        {
            t.anchor_contents(anchor.handle, &anchor.dir);
        }
    }

    /// Releases every watch the root holds (the root is going away).
    pub(crate) fn release(&mut self, t: &mut T) {
        // The whole tree goes: its watches are released straight from the
        // maps and the snapshot is dropped whole, instead of collecting the
        // paths under "" first; what else waits under the root's paths (a
        // retry after the limit refused) goes the way `drop_subtree` takes
        // it.
        // A root without recursion has one directory: taken out of the
        // map, which keeps its storage for the next root added (see
        // `Root::retire`), as the snapshot does.
        if self.dirs.len() == 1 {
            if let Some((rel, handle)) = self.dirs.pop_first() {
                t.release(self.id, handle, Role::Tree(rel));
            }
        } else {
            for (rel, handle) in std::mem::take(&mut self.dirs) {
                t.release(self.id, handle, Role::Tree(rel));
            }
        }
        if !self.files.is_empty() {
            for (rel, handle) in std::mem::take(&mut self.files) {
                t.release(self.id, handle, Role::File(rel));
            }
        }
        self.snapshot.clear();
        if !t.blocked().is_empty() || !self.unwatched_files.is_empty() {
            self.drop_subtree(t, Path::new(""));
        }
        if let Some((_, _, handle)) = self.target.take() {
            t.release(self.id, handle, Role::Target);
        }
        // Emptied in place: a root added later may take the vectors over
        // (see `Roots::unwatch`).
        for l in self.anchors.drain(..) {
            t.release(self.id, l.handle, Role::Anchor(l.dir));
        }
        for l in self.ancestors.drain(..) {
            t.release(self.id, l.handle, Role::Ancestor(l.dir));
        }
    }
}
