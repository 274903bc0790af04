//! One watched root: its name chain, its tree of watches, its snapshot (the
//! user's view), and the translation of kernel events into [`Event`]s.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use inotify::{EventMask, WatchDescriptor, WatchEvent, WatchMask};

use super::emit::Emit;
use super::kernel::{Kernel, Use, ancestor_mask, dir_mask, file_mask, to_error, to_skip};
use crate::diff::diff;
use crate::resolve::{DirId, Resolved, resolve};
use crate::scan::{ScanOptions, scan_dir};
use crate::snapshot::{Entry, EntryKind, Snapshot, join_rel, listed_since};
use crate::{Config, Error, Event, EventKind, Origin, RecursiveMode, SkipReason};

/// What came of watching a directory the watch limit had refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Retry {
    /// Watched now, and what it holds reported.
    Watched,
    /// The limit refused it again.
    Limit,
    /// Nothing to retry: gone, watched already, no longer wanted, or
    /// refused for another reason (that directory's own events tell).
    Stale,
}

pub(super) struct Root {
    pub(super) id: usize,
    pub(super) path: PathBuf,
    pub(super) mode: RecursiveMode,
    pub(super) resolved: Resolved,
    /// The directories whose entries are consulted names.
    pub(super) anchors: Vec<Link>,
    /// The other real directories along the path, watched only for being
    /// renamed, deleted or unmounted.
    pub(super) ancestors: Vec<Link>,
    pub(super) dirs: BTreeMap<PathBuf, WatchDescriptor>,
    pub(super) snapshot: Snapshot,
    /// MOVED_FROM halves waiting for their MOVED_TO: (cookie, rel, is_dir).
    pub(super) moves: Vec<(u32, PathBuf, bool)>,
    /// Some entry is a placeholder that `settle` must verify.
    pub(super) dirty: bool,
    /// Directories scanned by path since the queue was last drained: the
    /// path may have led to a later directory than the one the event was
    /// about; a rename that moves one of them checks it.
    pub(super) fresh: Vec<PathBuf>,
    /// A file system below the root was unmounted (`IN_UNMOUNT`): once the
    /// queue is drained, the root is rescanned.
    pub(super) unmounted: bool,
    /// The inode watch on a file root's target: (device, inode, wd).
    pub(super) target: Option<(u64, u64, WatchDescriptor)>,
}

/// A directory watched to follow a root's name: where it is, which
/// directory it was when armed, and the watch.
pub(super) struct Link {
    pub(super) dir: PathBuf,
    /// `None` for the `/` or `.` a lookup starts from.
    pub(super) id: Option<DirId>,
    pub(super) wd: WatchDescriptor,
}

/// Makes `links` watch exactly the `wanted` directories, each the one now at
/// its path: a link whose path now leads to another directory (renamed away
/// and replaced, or a mount placed over it or removed) is armed again there
/// and released. Without `arm_new`, only releases what is no longer wanted.
/// Returns whether anything new was armed or vanished while arming (the
/// path must then be resolved again), and the first error.
fn relink(
    k: &mut Kernel,
    links: &mut Vec<Link>,
    wanted: &[(PathBuf, Option<DirId>)],
    use_for: impl Fn(&Path) -> Use,
    mask: WatchMask,
    arm_new: bool,
) -> (bool, Option<(PathBuf, inotify::Error)>) {
    let mut again = false;
    let mut error = None;
    for (dir, id) in wanted {
        if !arm_new || links.iter().any(|l| &l.dir == dir && &l.id == id) {
            continue;
        }
        match k.arm_mask(dir, mask, use_for(dir)) {
            Ok(wd) => {
                links.push(Link {
                    dir: dir.clone(),
                    id: *id,
                    wd,
                });
                again = true;
            }
            Err(e) if to_skip(&e).is_none() => again = true, // vanished: resolve again
            Err(e) => {
                error.get_or_insert((dir.clone(), e));
            }
        }
    }
    let (keep, stale): (Vec<Link>, Vec<Link>) = std::mem::take(links)
        .into_iter()
        .partition(|l| wanted.iter().any(|(d, i)| d == &l.dir && i == &l.id));
    if !stale.is_empty() {
        // A sync cookie may have gone into a directory these watched.
        k.epoch += 1;
    }
    for l in stale {
        // Armed again at the same path and found the same directory (it
        // changed back meanwhile): the use is the kept link's now.
        if !keep.iter().any(|kept| kept.wd == l.wd && kept.dir == l.dir) {
            k.unuse(l.wd, &use_for(&l.dir));
        }
    }
    *links = keep;
    (again, error)
}

impl Root {
    pub(super) fn full(&self, rel: &Path) -> PathBuf {
        join_rel(&self.path, rel)
    }

    pub(super) fn opts<'c>(&self, config: &'c Config) -> ScanOptions<'c> {
        ScanOptions {
            recursive: self.mode == RecursiveMode::Recursive,
            follow_symlinks: config.follow_symlinks,
            exclude: config.exclude.as_ref(),
            // Setup and scans of new directories only list regular files;
            // a scan that is diffed (`rescan`) asks for exact entries.
            exact: false,
        }
    }

    pub(super) fn root_entry(&self) -> Option<Entry> {
        self.snapshot.get(Path::new(""))
    }

    /// Watches the directories of the name chain, re-resolving until the
    /// set is stable (a watch armed after a resolve could miss a change made
    /// in between; resolving again after arming cannot).
    pub(super) fn follow_name(&mut self, k: &mut Kernel) -> Result<(), Error> {
        let result = self.follow_chain(k, true);
        self.watch_target(k);
        result
    }

    /// Keeps an inode watch on the file the root resolves to (none for a
    /// directory or a missing path): a hard link elsewhere can change it.
    pub(super) fn watch_target(&mut self, k: &mut Kernel) {
        let want = match (&self.resolved.target, self.resolved.last()) {
            (Some(t), Some((dir, name))) if !t.is_dir() && t.kind != EntryKind::Symlink => {
                Some((t.dev, t.ino, dir.join(name)))
            }
            _ => None,
        };
        if let (Some((dev, ino, _)), Some((d, i, _))) = (&want, &self.target)
            && (dev, ino) == (d, i)
        {
            return;
        }
        if let Some((_, _, wd)) = self.target.take() {
            k.unuse(wd, &Use::Target { root: self.id });
        }
        if let Some((dev, ino, path)) = want
            && let Ok(wd) = k.arm_mask(&path, file_mask(), Use::Target { root: self.id })
        {
            // On failure (gone meanwhile, no permission) the directory
            // watches still see changes by name; the next one retries.
            self.target = Some((dev, ino, wd));
        }
    }

    /// The directories above the path (with `above`) are optional: they are
    /// armed only while no tree directory waits for a watch the limit refused
    /// (and, on `watch`, after the tree), so they never take a watch a tree
    /// directory needs; without them a rename up there goes unnoticed.
    pub(super) fn follow_chain(&mut self, k: &mut Kernel, above: bool) -> Result<(), Error> {
        for _ in 0..8 {
            let resolved = resolve(&self.path);
            let with_id = |dirs: Vec<&Path>| -> Vec<(PathBuf, Option<DirId>)> {
                dirs.into_iter()
                    .map(|d| (d.to_path_buf(), resolved.id_of(d)))
                    .collect()
            };
            let anchors = with_id(resolved.dirs());
            let ancestors = with_id(resolved.ancestors());
            let id = self.id;
            let (armed_anchor, error) = relink(
                k,
                &mut self.anchors,
                &anchors,
                |dir| Use::Anchor {
                    root: id,
                    dir: dir.to_path_buf(),
                },
                dir_mask(true),
                true,
            );
            // A directory above that cannot be watched (no read permission,
            // the watch limit) only means a rename up there goes unnoticed,
            // as it did before such watches existed: not an error for the
            // root. The next refresh tries again.
            let (armed_ancestor, _) = relink(
                k,
                &mut self.ancestors,
                &ancestors,
                |dir| Use::Ancestor {
                    root: id,
                    dir: dir.to_path_buf(),
                },
                ancestor_mask(),
                above && k.blocked.is_empty(),
            );
            let armed_new = armed_anchor || armed_ancestor;
            let result = match error {
                Some((dir, e)) => Err(to_error(e, &dir)),
                None => Ok(()),
            };
            self.resolved = resolved;
            if !armed_new || result.is_err() {
                return result;
            }
        }
        Ok(())
    }

    /// Arms a tree directory watch (the hook scans call before reading).
    pub(super) fn arm_dir(
        k: &mut Kernel,
        dirs: &mut BTreeMap<PathBuf, WatchDescriptor>,
        id: usize,
        full: &Path,
        rel: &Path,
        follow: bool,
    ) -> Result<(), inotify::Error> {
        let wd = k.arm(
            full,
            follow,
            Use::Tree {
                root: id,
                rel: rel.to_path_buf(),
            },
        )?;
        dirs.insert(rel.to_path_buf(), wd);
        Ok(())
    }

    /// Scans the directory at `rel` (already in the snapshot as `entry`),
    /// arming each directory before reading it, and reports what the snapshot
    /// did not know yet as `Created` (origin Rescan).
    pub(super) fn scan_new_dir(
        &mut self,
        k: &mut Kernel,
        config: &Config,
        rel: &Path,
        entry: Entry,
        out: &mut Emit<'_>,
    ) {
        self.fresh.push(rel.to_path_buf());
        let visited = self
            .snapshot
            .dir_ids_along(rel.parent().unwrap_or(Path::new("")));
        let mut notices = Vec::new();
        let opts = self.opts(config);
        let (id, dirs) = (self.id, &mut self.dirs);
        let mut hook = |full: &Path, r: &Path, via_symlink: bool| {
            // The root directory follows the user's symlink; others only when followed.
            let follow = r.as_os_str().is_empty() || via_symlink;
            Root::arm_dir(k, dirs, id, full, r, follow).map_err(|e| to_skip(&e))
        };
        let found = scan_dir(
            &self.path,
            rel,
            entry,
            visited,
            &opts,
            &mut hook,
            &mut notices,
        );
        for (p, e) in found {
            if p == rel {
                continue;
            }
            if self.snapshot.get(&p).is_some_and(|old| old.same_object(&e)) {
                continue;
            }
            out.push(Event::new(
                EventKind::Created,
                self.full(&p),
                e.is_dir(),
                Origin::Rescan,
            ));
            self.snapshot.insert(p, e);
        }
        out.extend(notices);
    }

    /// Stops watching the tree directories at and below `rel` and forgets
    /// the snapshot there.
    pub(super) fn drop_subtree(&mut self, k: &mut Kernel, rel: &Path) {
        let gone: Vec<(PathBuf, WatchDescriptor)> = self
            .dirs
            .range(rel.to_path_buf()..)
            .take_while(|(p, _)| p.starts_with(rel))
            .map(|(p, w)| (p.clone(), *w))
            .collect();
        for (p, wd) in gone {
            self.dirs.remove(&p);
            k.unuse(
                wd,
                &Use::Tree {
                    root: self.id,
                    rel: p,
                },
            );
        }
        self.snapshot.remove_subtree(rel);
    }

    pub(super) fn wants_tree(&self, entry: &Entry, config: &Config, follow_link: bool) -> bool {
        self.mode == RecursiveMode::Recursive
            && (entry.is_dir() || (follow_link && config.follow_symlinks))
    }

    /// A name appeared in a tree directory (CREATE, or MOVED_TO from outside).
    pub(super) fn appeared(
        &mut self,
        k: &mut Kernel,
        config: &Config,
        rel: &Path,
        is_dir: bool,
        out: &mut Emit<'_>,
    ) {
        let full = self.full(rel);
        let entry = match Entry::lstat(&full) {
            // The kernel tells the type of the object the event is about; a
            // different type there now is a later object with its own event.
            Ok(entry) if entry.is_dir() == is_dir => entry,
            _ => {
                // Already gone again (or replaced): report it, and remember
                // it as reported (the snapshot is the user's view), so that
                // its removal is reported too, by its own event or a rescan.
                self.drop_subtree(k, rel);
                out.push(Event::new(EventKind::Created, full, is_dir, Origin::Kernel));
                self.snapshot
                    .insert(rel.to_path_buf(), Entry::placeholder(is_dir));
                self.dirty = true;
                return;
            }
        };
        if self
            .snapshot
            .get(rel)
            .is_some_and(|old| old.same_object(&entry))
        {
            // A scan already reported it. If that scan listed it but could
            // not arm it (a rename above changed its path meanwhile), nothing
            // below it is known or watched yet: scan it now.
            if entry.is_dir()
                && self.wants_tree(&entry, config, false)
                && !self.dirs.contains_key(rel)
            {
                self.scan_new_dir(k, config, rel, entry, out);
            }
            return;
        }
        self.drop_subtree(k, rel);
        out.push(Event::new(
            EventKind::Created,
            full.clone(),
            entry.is_dir(),
            Origin::Kernel,
        ));
        self.snapshot.insert(rel.to_path_buf(), entry.clone());
        let enter = if entry.kind == EntryKind::Symlink {
            self.wants_tree(
                &entry,
                config,
                std::fs::metadata(&full).is_ok_and(|m| m.is_dir()),
            )
        } else {
            self.wants_tree(&entry, config, false)
        };
        if enter {
            self.scan_new_dir(k, config, rel, entry, out);
        }
    }

    pub(super) fn removed(&mut self, k: &mut Kernel, rel: &Path, is_dir: bool, out: &mut Emit<'_>) {
        let is_dir = self.snapshot.get(rel).map_or(is_dir, |e| e.is_dir());
        self.drop_subtree(k, rel);
        out.push(Event::new(
            EventKind::Removed,
            self.full(rel),
            is_dir,
            Origin::Kernel,
        ));
    }

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
        self.drop_subtree(k, to);
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
        let moved: Vec<(PathBuf, WatchDescriptor)> = self
            .dirs
            .range(from.to_path_buf()..)
            .take_while(|(p, _)| p.starts_with(from))
            .map(|(p, w)| (p.clone(), *w))
            .collect();
        for (old, wd) in moved {
            let Ok(rest) = old.strip_prefix(from) else {
                continue;
            };
            let new = join_rel(to, rest);
            self.dirs.remove(&old);
            self.dirs.insert(new.clone(), wd);
            k.repath(
                wd,
                &Use::Tree {
                    root: self.id,
                    rel: old,
                },
                Use::Tree {
                    root: self.id,
                    rel: new,
                },
            );
        }
        self.snapshot.move_subtree(from, to);
        k.move_blocked(self.id, from, to);
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
                    e.ino != 0 && self.wants_tree(e, config, false) && !self.dirs.contains_key(p)
                })
                .map(|(p, _)| p.clone())
                .collect();
            for p in unwatched {
                self.snapshot.insert(p, Entry::placeholder(true));
                self.dirty = true;
            }
        }
    }

    /// Watches the tree directory at `rel`, which the watch limit refused
    /// earlier, and reports what it holds (origin Rescan).
    pub(super) fn retry_blocked(
        &mut self,
        k: &mut Kernel,
        config: &Config,
        rel: &Path,
        out: &mut Emit<'_>,
    ) -> Retry {
        let Some(entry) = self.snapshot.get(rel) else {
            return Retry::Stale;
        };
        let full = self.full(rel);
        let is_root = rel.as_os_str().is_empty();
        let wanted = if is_root {
            entry.is_dir()
        } else {
            let follow_link = entry.kind == EntryKind::Symlink
                && std::fs::metadata(&full).is_ok_and(|m| m.is_dir());
            self.wants_tree(&entry, config, follow_link)
        };
        // Below an unwatched directory it is that directory's retry that
        // scans it.
        let parent_watched = rel.parent().is_none_or(|p| self.dirs.contains_key(p));
        if !wanted || !parent_watched || self.dirs.contains_key(rel) {
            return Retry::Stale;
        }
        let follow = is_root || entry.kind == EntryKind::Symlink;
        match Root::arm_dir(k, &mut self.dirs, self.id, &full, rel, follow) {
            Ok(()) => {}
            Err(e) if e.kind() == inotify::ErrorKind::WatchLimit => return Retry::Limit,
            Err(_) => return Retry::Stale,
        }
        self.scan_new_dir(k, config, rel, entry, out);
        Retry::Watched
    }

    /// Once the kernel queue is drained (so every path we hold is current):
    /// rescans each unverified entry (placeholder), watching what is there
    /// and reporting the difference.
    pub(super) fn settle(&mut self, k: &mut Kernel, config: &Config, out: &mut Emit<'_>) {
        self.fresh.clear();
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let unknown: Vec<PathBuf> = self.snapshot.placeholders();
        for p in unknown {
            if self.snapshot.get(&p).is_some_and(|e| e.ino == 0) {
                self.resync(k, config, &p, out);
            }
        }
    }

    /// Rescans the subtree at `rel` (re-arming its watches) and reports how
    /// it differs from what the user was told (origin Rescan).
    pub(super) fn resync(
        &mut self,
        k: &mut Kernel,
        config: &Config,
        rel: &Path,
        out: &mut Emit<'_>,
    ) {
        let mut old = Snapshot::default();
        for (p, e) in self.snapshot.subtree(rel) {
            old.insert(p, e);
        }
        let old_dirs: Vec<(PathBuf, WatchDescriptor)> = self
            .dirs
            .range(rel.to_path_buf()..)
            .take_while(|(p, _)| p.starts_with(rel))
            .map(|(p, w)| (p.clone(), *w))
            .collect();
        for (p, _) in &old_dirs {
            self.dirs.remove(p);
        }
        let full = self.full(rel);
        let mut new = Snapshot::default();
        let mut notices = Vec::new();
        if let Ok(entry) = Entry::lstat(&full) {
            let follow_link = entry.kind == EntryKind::Symlink
                && std::fs::metadata(&full).is_ok_and(|m| m.is_dir());
            if self.wants_tree(&entry, config, follow_link) {
                let visited = self
                    .snapshot
                    .dir_ids_along(rel.parent().unwrap_or(Path::new("")));
                // Diffed below: exact entries.
                let opts = ScanOptions {
                    exact: true,
                    ..self.opts(config)
                };
                let (id, dirs) = (self.id, &mut self.dirs);
                let mut hook = |f: &Path, r: &Path, via_symlink: bool| {
                    Root::arm_dir(k, dirs, id, f, r, via_symlink || r.as_os_str().is_empty())
                        .map_err(|e| to_skip(&e))
                };
                new = scan_dir(
                    &self.path,
                    rel,
                    entry,
                    visited,
                    &opts,
                    &mut hook,
                    &mut notices,
                );
            } else {
                new.insert(rel.to_path_buf(), entry);
            }
        }
        for (p, wd) in old_dirs {
            if self.dirs.get(&p) != Some(&wd) {
                k.unuse(
                    wd,
                    &Use::Tree {
                        root: self.id,
                        rel: p,
                    },
                );
            }
        }
        // A placeholder was already reported as created; if what is there
        // now is of the same type, it is that object, not a replacement.
        if let (Some(was), Some(now)) = (old.get(rel), new.get(rel))
            && was.ino == 0
            && was.is_dir() == now.is_dir()
        {
            old.insert(rel.to_path_buf(), now.clone());
        }
        // A file known from a listing only (no recorded size, times or
        // ctime) that is still the same object here is unchanged as far as
        // the user was told: its directory was watched before it was read,
        // and no event was lost since (after an overflow the whole root is
        // rescanned instead), so any change to it came with an event.
        let listed: Vec<(PathBuf, Entry)> = old.iter().filter(|(_, e)| e.listed).collect();
        for (p, was) in listed {
            if let Some(now) = new.get(&p)
                && now.same_object(&was)
            {
                old.insert(p, now);
            }
        }
        out.extend(diff(&self.path, &old, &new, Origin::Rescan));
        self.snapshot.remove_subtree(rel);
        self.snapshot.extend(new);
        out.extend(notices);
    }

    /// MODIFY / CLOSE_WRITE / ATTRIB on an entry of a tree directory.
    pub(super) fn changed(&mut self, rel: &Path, kind: EventKind, out: &mut Emit<'_>) {
        // A path the user does not know of was already reported removed;
        // its next appearance has its own event.
        let Some(known) = self.snapshot.get(rel) else {
            return;
        };
        let is_dir = known.is_dir();
        let full = self.full(rel);
        // Refresh what we know only if it is still the same object: a
        // replacement is reported by its own CREATE / MOVED_TO.
        if let Ok(entry) = Entry::lstat(&full)
            && entry.same_object(&known)
        {
            self.snapshot.insert(rel.to_path_buf(), entry);
        }
        out.push(Event::new(kind, full, is_dir, Origin::Kernel));
    }

    pub(super) fn tree_event(
        &mut self,
        k: &mut Kernel,
        config: &Config,
        dir: &Path,
        ev: &WatchEvent<'_>,
        out: &mut Emit<'_>,
    ) {
        let mask = ev.mask;
        let Some(name) = ev.name else {
            if dir.as_os_str().is_empty()
                && mask
                    .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::UNMOUNT)
            {
                self.refresh(k, config, None, out);
            } else if mask.contains(EventMask::UNMOUNT) {
                // What the directory's path leads to now is the directory
                // the mount covered: its contents are to be reported.
                self.unmounted = true;
            }
            return;
        };
        let rel = join_rel(dir, Path::new(name));
        if config.exclude.is_some() && config.is_excluded(&self.full(&rel)) {
            return;
        }
        let is_dir = mask.contains(EventMask::ISDIR);
        if mask.contains(EventMask::MOVED_FROM) {
            self.moves.push((ev.cookie, rel, is_dir));
        } else if mask.contains(EventMask::MOVED_TO) {
            match self.moves.iter().position(|(c, _, _)| *c == ev.cookie) {
                Some(i) => {
                    let (_, from, _) = self.moves.remove(i);
                    self.renamed(k, config, &from, &rel, is_dir, out);
                }
                None => {
                    self.appeared(k, config, &rel, is_dir, out);
                    // A file moved in from outside is complete as it
                    // arrives: nobody is still writing it through this name.
                    if config.close_notices && !is_dir && self.snapshot.get(&rel).is_some() {
                        out.push(Event::new(
                            EventKind::Closed,
                            self.full(&rel),
                            false,
                            Origin::Kernel,
                        ));
                    }
                }
            }
        } else if mask.contains(EventMask::CREATE) {
            self.appeared(k, config, &rel, is_dir, out);
        } else if mask.contains(EventMask::DELETE) {
            self.removed(k, &rel, is_dir, out);
        } else {
            if mask.contains(EventMask::CLOSE_WRITE) && !is_dir {
                self.changed(&rel, EventKind::Modified, out);
                if config.close_notices && self.snapshot.get(&rel).is_some() {
                    out.push(Event::new(
                        EventKind::Closed,
                        self.full(&rel),
                        false,
                        Origin::Kernel,
                    ));
                }
            } else if mask.contains(EventMask::MODIFY) && !is_dir {
                // The hot path of a write: report it without an lstat. The
                // recorded size and mtime are refreshed by CLOSE_WRITE; if
                // they stay stale, a rescan reports one extra `Modified`.
                if self.snapshot.get(&rel).is_some() {
                    out.push(Event::new(
                        EventKind::Modified,
                        self.full(&rel),
                        false,
                        Origin::Kernel,
                    ));
                }
            }
            if mask.contains(EventMask::ATTRIB) {
                self.changed(&rel, EventKind::Metadata, out);
            }
        }
    }

    /// Unpaired MOVED_FROMs: the entry left the tree.
    pub(super) fn finish_moves(&mut self, k: &mut Kernel, out: &mut Emit<'_>) {
        for (_, rel, is_dir) in std::mem::take(&mut self.moves) {
            self.removed(k, &rel, is_dir, out);
        }
    }

    pub(super) fn anchor_event(
        &mut self,
        k: &mut Kernel,
        config: &Config,
        dir: &Path,
        ev: &WatchEvent<'_>,
        out: &mut Emit<'_>,
    ) {
        match ev.name {
            Some(name) if self.resolved.depends_on(dir, name) => {
                let is_last = self.resolved.last() == Some((dir, name));
                let written = ev
                    .mask
                    .intersects(EventMask::MODIFY | EventMask::CLOSE_WRITE);
                self.refresh(k, config, Some(is_last && written), out);
                // The inode watch says it too; each says it after its own
                // `Modified`, so a close notice is always the last word.
                if is_last && config.close_notices && ev.mask.contains(EventMask::CLOSE_WRITE) {
                    self.closed(out);
                }
            }
            None if ev
                .mask
                .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::UNMOUNT) =>
            {
                self.refresh(k, config, None, out);
            }
            _ => {}
        }
    }

    /// A writer closed the file this root names.
    pub(super) fn closed(&self, out: &mut Emit<'_>) {
        if self.root_entry().is_some_and(|e| !e.is_dir()) {
            out.push(Event::new(
                EventKind::Closed,
                self.path.clone(),
                false,
                Origin::Kernel,
            ));
        }
    }

    /// Re-resolves the root path and reports how what it names changed.
    /// `written`: the kernel saw the final file written (content changed even
    /// if size and mtime look the same).
    pub(super) fn refresh(
        &mut self,
        k: &mut Kernel,
        config: &Config,
        written: Option<bool>,
        out: &mut Emit<'_>,
    ) {
        let _ = self.follow_name(k); // an unarmable anchor is retried on the next event
        let old = self.root_entry();
        let new = self.resolved.target.clone();
        let path = self.path.clone();
        match (old, new) {
            (None, None) => {}
            (Some(o), Some(n)) if o.same_object(&n) => {
                if (o.content_differs(&n) || written == Some(true)) && !n.is_dir() {
                    out.push(Event::new(EventKind::Modified, path, false, Origin::Kernel));
                }
                if o.metadata_differs(&n) {
                    out.push(Event::new(
                        EventKind::Metadata,
                        self.path.clone(),
                        n.is_dir(),
                        Origin::Kernel,
                    ));
                }
                self.snapshot.insert(PathBuf::new(), n);
            }
            (Some(o), Some(n)) if !o.is_dir() && !n.is_dir() => {
                // Atomic save or symlink swap: the name now means new content.
                out.push(Event::new(EventKind::Modified, path, false, Origin::Kernel));
                self.snapshot.insert(PathBuf::new(), n);
            }
            (old, new) => {
                k.epoch += 1;
                if let Some(o) = old {
                    self.drop_subtree(k, Path::new(""));
                    out.push(Event::new(
                        EventKind::Removed,
                        path.clone(),
                        o.is_dir(),
                        Origin::Kernel,
                    ));
                }
                if let Some(n) = new {
                    out.push(Event::new(
                        EventKind::Created,
                        path.clone(),
                        n.is_dir(),
                        Origin::Kernel,
                    ));
                    self.snapshot.insert(PathBuf::new(), n.clone());
                    if n.is_dir() {
                        self.scan_new_dir(k, config, Path::new(""), n, out);
                    }
                }
            }
        }
    }

    /// Rescans the root from its path, re-resolving the name and re-arming
    /// every watch, and reports how it differs from what the user was told
    /// (origin Rescan): after a queue overflow, or a mount placed over or
    /// removed from a directory along the path or inside the tree (the
    /// watches are on the directories the path led to before).
    pub(super) fn rescan(&mut self, k: &mut Kernel, config: &Config, out: &mut Emit<'_>) {
        k.epoch += 1;
        self.unmounted = false;
        let mut notices = Vec::new();
        // Taken before anything is read: see `Snapshot::relist`.
        let since = listed_since();
        match self.rebuild(k, config, &mut notices, true) {
            Ok(snap) => {
                let old = std::mem::replace(&mut self.snapshot, snap);
                out.extend(diff(&self.path, &old, &self.snapshot, Origin::Rescan));
                self.snapshot.relist(since);
            }
            Err(e) => out.push(Event::new(
                EventKind::Skipped {
                    reason: SkipReason::Other(e.to_string()),
                },
                self.path.clone(),
                self.root_entry().is_some_and(|e| e.is_dir()),
                Origin::Rescan,
            )),
        }
        out.extend(notices);
    }

    /// Builds the root from scratch: name chain, then (for a directory) the
    /// tree. Used by `watch` (no events) and by [`Root::rescan`] (diffed,
    /// so `exact`: every entry examined).
    pub(super) fn rebuild(
        &mut self,
        k: &mut Kernel,
        config: &Config,
        notices: &mut Vec<Event>,
        exact: bool,
    ) -> Result<Snapshot, Error> {
        self.moves.clear();
        let anchored = self.follow_chain(k, false);
        self.watch_target(k);
        let old_dirs = std::mem::take(&mut self.dirs);
        let mut snap = Snapshot::default();
        let mut result = anchored;
        if let Some(target) = self.resolved.target.clone() {
            if target.is_dir() {
                let opts = ScanOptions {
                    exact,
                    ..self.opts(config)
                };
                let (id, dirs) = (self.id, &mut self.dirs);
                match Root::arm_dir(k, dirs, id, &self.path, Path::new(""), true) {
                    Ok(()) => {
                        let mut hook = |full: &Path, r: &Path, via_symlink: bool| {
                            if r.as_os_str().is_empty() {
                                return Ok(());
                            }
                            Root::arm_dir(k, dirs, id, full, r, via_symlink)
                                .map_err(|e| to_skip(&e))
                        };
                        let mut found = Vec::new();
                        snap = scan_dir(
                            &self.path,
                            Path::new(""),
                            target,
                            HashSet::new(),
                            &opts,
                            &mut hook,
                            &mut found,
                        );
                        notices.extend(found);
                    }
                    Err(e) if to_skip(&e).is_none() => {} // vanished: the anchor reports its return
                    Err(e) => {
                        if result.is_ok() {
                            result = Err(to_error(e, &self.path));
                        }
                    }
                }
            } else {
                snap.insert(PathBuf::new(), target);
            }
        }
        for (rel, wd) in old_dirs {
            if self.dirs.get(&rel) != Some(&wd) {
                k.unuse(wd, &Use::Tree { root: self.id, rel });
            }
        }
        if result.is_ok() {
            // The directories above, last: they never take a watch the tree needs.
            let _ = self.follow_chain(k, true);
        }
        result.map(|()| snap)
    }

    pub(super) fn release(&mut self, k: &mut Kernel) {
        self.drop_subtree(k, Path::new(""));
        if let Some((_, _, wd)) = self.target.take() {
            k.unuse(wd, &Use::Target { root: self.id });
        }
        for l in std::mem::take(&mut self.anchors) {
            k.unuse(
                l.wd,
                &Use::Anchor {
                    root: self.id,
                    dir: l.dir,
                },
            );
        }
        for l in std::mem::take(&mut self.ancestors) {
            k.unuse(
                l.wd,
                &Use::Ancestor {
                    root: self.id,
                    dir: l.dir,
                },
            );
        }
    }

    /// Where a sync cookie for this root goes: the watched root directory,
    /// or the directory watched for the name.
    pub(super) fn cookie_dir(&self) -> Option<PathBuf> {
        // The root directory, if its path still leads to the inode we watch
        // (through a swapped symlink it may not: the cookie would go unseen).
        if let Some(root) = self.root_entry()
            && root.is_dir()
            && self.dirs.contains_key(Path::new(""))
            && std::fs::metadata(&self.path).is_ok_and(|m| {
                use std::os::unix::fs::MetadataExt;
                (m.dev(), m.ino()) == (root.dev, root.ino)
            })
        {
            return Some(self.path.clone());
        }
        let (dir, _) = self.resolved.last()?;
        self.anchors
            .iter()
            .any(|l| l.dir == dir)
            .then(|| dir.to_path_buf())
    }
}
