//! Renames: a MOVED_FROM paired with its MOVED_TO by cookie moves what a
//! root knows (snapshot, watches) from one path to the other; one left
//! unpaired is a removal (the entry left the tree).

use std::path::{Path, PathBuf};

use super::kernel::Kernel;
use crate::root_layer::{Emit, Root};
use crate::snapshot::{Entry, join_rel};
use crate::{Config, Event, EventKind, Origin};

impl Root<Kernel> {
    /// The entry at `from` was renamed to `to` in the tree.
    pub(super) fn renamed(
        &mut self,
        k: &mut Kernel,
        config: &Config,
        from: &Path,
        to: &Path,
        is_dir: bool,
        out: &mut Emit<'_>,
    ) {
        if self.snapshot.get(from).is_none() {
            self.appeared(k, config, to, is_dir, out);
            return;
        }
        if self
            .snapshot
            .get(from)
            .is_some_and(|e| e.is_dir() != is_dir)
        {
            // What we recorded there was a later object: the moved one is unknown.
            self.drop_subtree(k, from);
            self.snapshot
                .insert(from.to_path_buf(), Entry::placeholder(is_dir));
            self.dirty = true;
        }
        self.move_tree(k, from, to);
        out.push(Event::new(
            EventKind::Renamed {
                from: self.full(from),
            },
            self.full(to),
            is_dir,
            Origin::Kernel,
        ));
        // A rename moves the file's ctime, with no event of its own: record
        // it, or a rescan after an overflow would take the move for a rewrite.
        if !is_dir
            && let Some(recorded) = self.snapshot.get(to)
            && recorded.ino != 0
            && let Ok(now) = Entry::lstat(&join_rel(&self.path, to))
            && now.same_object(&recorded)
        {
            self.snapshot.refresh_ctime(to, now.ctime);
        }
        // A directory below, scanned by path since the queue was last
        // empty, may have been a later one than the one that moved here
        // with it: check each (their number is small), the same way.
        if is_dir && !self.fresh.is_empty() {
            let moved: Vec<PathBuf> = self
                .fresh
                .iter()
                .filter(|p| p.starts_with(from) && p.as_path() != from)
                .filter_map(|p| p.strip_prefix(from).ok().map(|rest| join_rel(to, rest)))
                .collect();
            for rel in moved {
                if let Some(recorded) = self.snapshot.get(&rel)
                    && recorded.ino != 0
                    && Entry::lstat(&self.full(&rel)).map_or(true, |a| !a.same_object(&recorded))
                {
                    self.snapshot.insert(rel, Entry::placeholder(true));
                    self.dirty = true;
                }
            }
        }
        // What we recorded was seen by lstat some time after the events: the
        // directory moved here may not be the one we looked at. And a
        // directory created and renamed before its CREATE was handled could
        // not be armed or read under its first name: nothing below it is
        // known or watched. Either way mark it unverified; `settle` rescans
        // it (arming its watches) once the queue is drained.
        if is_dir
            && let Some(recorded) = self.snapshot.get(to)
            && recorded.ino != 0
            && Entry::lstat(&self.full(to)).map_or(true, |a| !a.same_object(&recorded))
        {
            self.snapshot
                .insert(to.to_path_buf(), Entry::placeholder(true));
            self.dirty = true;
        }
        // A scan that ran while a rename (of this directory or one above
        // it) was still queued listed directories it could then not arm or
        // read under their old path: they are known but unwatched, and
        // nothing below them is known. Mark each unverified for `settle`.
        if is_dir {
            let unwatched: Vec<PathBuf> = self
                .snapshot
                .subtree(to)
                .filter(|(p, e)| {
                    e.ino != 0
                        && self.wants_tree(e, config, false)
                        && !self.dirs.contains_key(p.as_path())
                })
                .map(|(p, _)| p.clone())
                .collect();
            for p in unwatched {
                self.snapshot.insert(p, Entry::placeholder(true));
                self.dirty = true;
            }
            // An unverified entry that moved along (a settle may have left
            // it for this rename) is rescanned where it is now.
            if self.snapshot.subtree(to).any(|(_, e)| e.ino == 0) {
                self.dirty = true;
            }
        }
    }

    /// Unpaired MOVED_FROMs: the entry left the tree.
    pub(super) fn finish_moves(&mut self, k: &mut Kernel, out: &mut Emit<'_>) {
        // Called before nearly every record: nothing to take, most times.
        if self.state.moves.is_empty() {
            return;
        }
        for (_, rel, is_dir) in std::mem::take(&mut self.state.moves) {
            self.removed(k, &rel, is_dir, out);
        }
    }
}
