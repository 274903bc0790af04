//! A root's tree: arming and scanning directories, dropping, moving and
//! removing subtrees, and directories the limit refused.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};

use super::{ArmError, Emit, Retry, Role, Root, Roots, SharedPath, WatchTable};
use crate::scan::{ScanOptions, scan_dir};
use crate::snapshot::{Entry, Snapshot, join_rel};
use crate::{Config, Event, EventKind, Origin};

/// Arms the tree directory at `rel` (full path `full`) and returns its
/// watch, for the caller to record under `rel` (the watch's role shares
/// that allocation); one the limit refuses is remembered for a retry.
pub(crate) fn arm_dir<T: WatchTable>(
    t: &mut T,
    id: usize,
    full: &Path,
    rel: &SharedPath,
    follow: bool,
) -> Result<T::Handle, ArmError> {
    t.arm(id, full, Role::Tree(rel.clone()), follow)
        .inspect_err(|e| {
            if let ArmError::Full { .. } = e {
                t.blocked().insert((id, rel.to_path_buf()));
            }
        })
}

/// Adds the directories a scan armed (`armed`, in the order the scan met
/// them, none of them in `dirs`) to `dirs`. A scan meets directories in
/// path order, and a map built from sorted input at once is packed: full
/// leaves, about 21 bytes per directory, where inserting them one by one
/// in ascending order leaves every leaf half full (about 40). So a scan
/// that armed more directories than `dirs` held (setup, a rescan, a large
/// subtree) builds the map anew from both, in one go; a few more are
/// inserted. Built once: a map built and then rebuilt leaves the first
/// one's freed pages resident.
fn record_dirs<H>(dirs: &mut BTreeMap<SharedPath, H>, mut armed: Vec<(SharedPath, H)>) {
    if armed.len() > dirs.len() {
        // Those known before first: at setup, the root directory, armed
        // before the scan, whose path sorts before all others.
        armed.splice(0..0, std::mem::take(dirs));
        *dirs = BTreeMap::from_iter(armed);
    } else {
        dirs.extend(armed);
    }
}

/// The key and watch `dirs` holds for `rel`; the root's own `""`, which
/// sorts before every other path, is its first key, found without
/// comparing paths (which walks their components).
pub(crate) fn dir_at<'m, H>(
    dirs: &'m BTreeMap<SharedPath, H>,
    rel: &Path,
) -> Option<(&'m SharedPath, &'m H)> {
    if rel.as_os_str().is_empty() {
        dirs.first_key_value()
            .filter(|(k, _)| k.as_os_str().is_empty())
    } else {
        dirs.get_key_value(rel)
    }
}

/// The entries of `map` at and below `rel`, in path order.
pub(crate) fn under<'m, H>(
    map: &'m BTreeMap<SharedPath, H>,
    rel: &'m Path,
) -> impl Iterator<Item = (&'m SharedPath, &'m H)> {
    // Paths order component-wise, so a subtree is one contiguous run.
    map.range::<Path, _>((Bound::Included(rel), Bound::Unbounded))
        .take_while(move |(p, _)| p.starts_with(rel))
}

/// Removes the paths at and below `rel` from `set`, returning them.
fn take_under(set: &mut BTreeSet<PathBuf>, rel: &Path) -> Vec<PathBuf> {
    let gone: Vec<PathBuf> = set
        .range(rel.to_path_buf()..)
        .take_while(|p| p.starts_with(rel))
        .cloned()
        .collect();
    for p in &gone {
        set.remove(p);
    }
    gone
}

/// Removes the entries of `id` at and below `rel` from `blocked`, returning them.
fn take_blocked<T: WatchTable>(t: &mut T, id: usize, rel: &Path) -> Vec<PathBuf> {
    let blocked = t.blocked();
    let gone: Vec<PathBuf> = blocked
        .range((id, rel.to_path_buf())..)
        .take_while(|(r, p)| *r == id && p.starts_with(rel))
        .map(|(_, p)| p.clone())
        .collect();
    for p in &gone {
        blocked.remove(&(id, p.clone()));
    }
    gone
}

impl<T: WatchTable> Root<T> {
    /// Scans the directory at `rel` (known as `entry`), arming each
    /// directory not watched yet before reading it; returns what was found.
    /// `exact`: every entry examined (the result is diffed).
    pub(crate) fn scan(
        &mut self,
        t: &mut T,
        config: &Config,
        rel: &Path,
        entry: Entry,
        notices: &mut Vec<Event>,
        exact: bool,
    ) -> Snapshot {
        let into = Snapshot::default();
        self.scan_opened(t, config, rel, entry, None, into, notices, exact)
    }

    /// [`Root::scan`], the directory at `rel` read from `opened` if given
    /// (that directory, opened by the lookup that found it as `entry`), a
    /// result of one path recorded in the storage of `into`, an empty
    /// snapshot (see [`Snapshot::from_one`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn scan_opened(
        &mut self,
        t: &mut T,
        config: &Config,
        rel: &Path,
        entry: Entry,
        opened: Option<std::fs::File>,
        into: Snapshot,
        notices: &mut Vec<Event>,
        exact: bool,
    ) -> Snapshot {
        // Only a directory below a moved one is ever checked (see
        // `fresh`): the root's own directory is never that.
        if !rel.as_os_str().is_empty() {
            self.fresh.push(rel.to_path_buf());
        }
        let visited = match rel.as_os_str().is_empty() {
            true => HashSet::new(),
            false => match rel.parent() {
                Some(parent) => self.snapshot.dir_ids_along(parent),
                None => HashSet::new(),
            },
        };
        let opts = ScanOptions {
            exact: exact || T::FILES,
            ..self.opts(config)
        };
        // Kept under the key the snapshot has for it already, if any, else
        // the one its watch has (the scan of a root just armed).
        let base = self
            .snapshot
            .key(rel)
            .or_else(|| dir_at(&self.dirs, rel).map(|(k, _)| k.clone()))
            .unwrap_or_else(|| rel.into());
        // Armed by this scan, in the order met: recorded in `dirs` at the
        // end ([`record_dirs`]).
        let mut armed: Vec<(SharedPath, T::Handle)> = Vec::new();
        let (id, dirs) = (self.id, &self.dirs);
        let mut hook = |full: &Path, r: &SharedPath, via_symlink: bool| {
            // A scan meets each path once: only a directory watched
            // before it began can be watched already.
            if dir_at(dirs, r).is_some() {
                return Ok(());
            }
            // The root directory follows the user's symlink; others only
            // when followed.
            let follow = r.as_os_str().is_empty() || via_symlink;
            let handle = arm_dir(t, id, full, r, follow).map_err(ArmError::skip_reason)?;
            armed.push((r.clone(), handle));
            Ok(())
        };
        let (found, unread) = scan_dir(
            &self.path, &base, entry, opened, into, visited, &opts, &mut hook, notices,
        );
        // Armed, then moved or removed before it was read: nothing below it
        // is known. Unwatched, it is what a directory that moved before it
        // could be armed is: the rename that moved it (or one above it)
        // marks it unverified, to be rescanned where it ends up; a removal
        // drops it. (The root's own path is followed by its anchors.)
        if !unread.is_empty() {
            let mut unread: HashSet<PathBuf> = unread
                .into_iter()
                .filter(|r| !r.as_os_str().is_empty())
                .collect();
            armed.retain(|(r, handle)| {
                let keep = !unread.remove(&**r);
                if !keep {
                    t.release(self.id, *handle, Role::Tree(r.clone()));
                }
                keep
            });
            for r in unread {
                if let Some((r, handle)) = self.dirs.remove_entry(r.as_path()) {
                    t.release(self.id, handle, Role::Tree(r));
                }
            }
        }
        record_dirs(&mut self.dirs, armed);
        found
    }

    /// Scans the directory at `rel` (already in the snapshot as `entry`)
    /// and reports what the snapshot did not know yet (see [`Root::adopt`]).
    pub(crate) fn scan_in(
        &mut self,
        t: &mut T,
        config: &Config,
        rel: &Path,
        entry: Entry,
        out: &mut Emit<'_>,
    ) {
        let mut notices = Vec::new();
        let found = self.scan(t, config, rel, entry, &mut notices, false);
        self.adopt(t, rel, found, notices, out);
    }

    /// Reports what a scan of `rel` found that the snapshot did not know
    /// yet as `Created` (origin Rescan), then the scan's notices, and gives
    /// new files their own watches if the table wants.
    fn adopt(
        &mut self,
        t: &mut T,
        rel: &Path,
        found: Snapshot,
        notices: Vec<Event>,
        out: &mut Emit<'_>,
    ) {
        let mut files = Vec::new();
        for (p, e) in found.iter() {
            if p == rel || self.snapshot.get(&p).is_some_and(|old| old.may_be(&e)) {
                continue;
            }
            out.push(Event::new(
                EventKind::Created,
                self.full(&p),
                e.is_dir(),
                Origin::Rescan,
            ));
            if T::FILES {
                files.push(p.clone());
            }
            // A directory keeps the key its watch shares.
            match found.key(&p) {
                Some(key) => self.snapshot.insert(key, e),
                None => self.snapshot.insert(p, e),
            }
        }
        out.extend(notices);
        self.arm_files(t, files, out);
    }

    /// Releases the watches at and below `rel`, forgets the snapshot there
    /// and the directories there the limit refused.
    pub(crate) fn drop_subtree(&mut self, t: &mut T, rel: &Path) {
        for (map, tree) in [(&mut self.dirs, true), (&mut self.files, false)] {
            let gone: Vec<SharedPath> = under(map, rel).map(|(p, _)| p.clone()).collect();
            for p in gone {
                if let Some((p, handle)) = map.remove_entry(&p) {
                    let role = if tree { Role::Tree(p) } else { Role::File(p) };
                    t.release(self.id, handle, role);
                }
            }
        }
        self.snapshot.remove_subtree(rel);
        if !t.blocked().is_empty() {
            take_blocked(t, self.id, rel);
        }
        if !self.unwatched_files.is_empty() {
            take_under(&mut self.unwatched_files, rel);
        }
    }

    /// Moves what is known at and below `from` to `to` (replacing what was
    /// there): watches follow their objects, so only their names change.
    pub(crate) fn move_tree(&mut self, t: &mut T, from: &Path, to: &Path) {
        self.drop_subtree(t, to);
        self.snapshot.move_subtree(from, to);
        let snapshot = &self.snapshot;
        for (map, tree) in [(&mut self.dirs, true), (&mut self.files, false)] {
            let moved: Vec<(SharedPath, T::Handle)> =
                under(map, from).map(|(p, h)| (p.clone(), *h)).collect();
            for (old, handle) in moved {
                let Ok(rest) = old.strip_prefix(from) else {
                    continue;
                };
                let new = join_rel(to, rest);
                let new = snapshot.key(&new).unwrap_or_else(|| new.into());
                map.remove(&old);
                map.insert(new.clone(), handle);
                let (old, new) = if tree {
                    (Role::Tree(old), Role::Tree(new))
                } else {
                    (Role::File(old), Role::File(new))
                };
                t.repath(self.id, handle, old, new);
            }
        }
        if !t.blocked().is_empty() {
            for old in take_blocked(t, self.id, from) {
                if let Ok(rest) = old.strip_prefix(from) {
                    t.blocked().insert((self.id, join_rel(to, rest)));
                }
            }
        }
        if !self.unwatched_files.is_empty() {
            for old in take_under(&mut self.unwatched_files, from) {
                if let Ok(rest) = old.strip_prefix(from) {
                    self.unwatched_files.insert(join_rel(to, rest));
                }
            }
        }
    }

    /// Reports `rel` removed and drops it. A deleted directory was empty
    /// when it went, so everything still known below it was deleted first
    /// unseen (a table that cannot see it in its own events): report that
    /// too, deepest first. A directory moved away keeps its contents: only
    /// the directory is reported.
    pub(crate) fn removed(&mut self, t: &mut T, rel: &Path, is_dir: bool, out: &mut Emit<'_>) {
        let is_dir = self.snapshot.get(rel).map_or(is_dir, |e| e.is_dir());
        if self.dirs.get(rel).is_some_and(|h| t.deleted(*h)) {
            let below: Vec<(PathBuf, bool)> = self
                .snapshot
                .subtree(rel)
                .filter(|(p, _)| p.as_path() != rel)
                .map(|(p, e)| (p.clone(), e.is_dir()))
                .collect();
            for (p, d) in below.into_iter().rev() {
                out.push(Event::new(
                    EventKind::Removed,
                    self.full(&p),
                    d,
                    Origin::Kernel,
                ));
            }
        }
        self.drop_subtree(t, rel);
        out.push(Event::new(
            EventKind::Removed,
            self.full(rel),
            is_dir,
            Origin::Kernel,
        ));
    }

    /// Watches the tree directory at `rel`, which the limit refused
    /// earlier, and reports what it holds (origin Rescan).
    pub(crate) fn retry(
        &mut self,
        t: &mut T,
        config: &Config,
        rel: &Path,
        out: &mut Emit<'_>,
    ) -> Retry {
        let Some(entry) = self.snapshot.get(rel) else {
            return Retry::Stale;
        };
        let wanted = if rel.as_os_str().is_empty() {
            entry.is_dir()
        } else {
            self.enters(&entry, rel, config)
        };
        // Below an unwatched directory it is that directory's retry that
        // scans it.
        let parent_watched = rel.parent().is_none_or(|p| self.dirs.contains_key(p));
        if !wanted || !parent_watched || self.dirs.contains_key(rel) {
            return Retry::Stale;
        }
        let mut notices = Vec::new();
        let found = self.scan(t, config, rel, entry, &mut notices, false);
        if !self.dirs.contains_key(rel) {
            // Refused again (the scan put it back among the blocked, and
            // its notice was given before) or gone (its parent reports it).
            return if t.blocked().contains(&(self.id, rel.to_path_buf())) {
                Retry::Limit
            } else {
                Retry::Stale
            };
        }
        self.adopt(t, rel, found, notices, out);
        Retry::Watched
    }
}

/// Once a watch was released, watches the directories the limit refused,
/// in (root, path) order, until the limit refuses one again (so a full
/// table costs one failed attempt). What a directory holds then is reported
/// as created (origin Rescan), like a new directory's. Then, if none still
/// waits, the files the limit refused get their own watches
/// ([`Root::retry_files`]): directories come first, as the whole tree's
/// events depend on them.
pub(crate) fn retry_blocked<T: WatchTable>(
    t: &mut T,
    roots: &mut Roots<Root<T>>,
    config: &Config,
    out: &mut Emit<'_>,
) {
    if !t.take_freed() {
        return;
    }
    let mut blocked = std::mem::take(t.blocked()).into_iter();
    while let Some((id, rel)) = blocked.next() {
        let Some(root) = roots.get_mut(id) else {
            continue;
        };
        if root.retry(t, config, &rel, out) == Retry::Limit {
            t.blocked().insert((id, rel));
            t.blocked().extend(blocked);
            return;
        }
    }
    if T::FILES {
        for root in roots.iter_mut() {
            if !root.unwatched_files.is_empty() && root.retry_files(t, out) {
                return;
            }
        }
    }
}

mod files;

#[cfg(test)]
mod tests;
