//! One watched root: its name chain, its tree of descriptors, its snapshot,
//! and what a batch of notes means for it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use kqueue::VnodeEvents;

use super::fds::{ArmError, Armed, Fds, Role};
use super::listing::order_listing;
use crate::cookie;
use crate::diff::diff;
use crate::resolve::{DirId, Resolved, resolve};
use crate::scan::{ScanOptions, scan_dir};
use crate::snapshot::{Entry, EntryKind, Snapshot, join_rel};
use crate::{Config, Event, EventKind, Origin, RecursiveMode, SkipReason};

/// What one batch of kernel events asks a root to do.
#[derive(Default)]
pub(super) struct Work {
    /// Re-resolve the root path; `true` if its target file was written.
    pub(super) refresh: Option<bool>,
    /// Tree directories whose entries changed.
    pub(super) dirty: BTreeSet<PathBuf>,
    /// Entries whose content was written, by descriptor: a directory
    /// renamed in the same batch takes them to another path.
    pub(super) written: BTreeSet<Armed>,
    /// Entries whose attributes changed, by descriptor.
    pub(super) attrib: BTreeSet<Armed>,
}

/// Registered for an ancestor directory: being renamed, deleted or revoked
/// (not its entries changing).
pub(super) fn ancestor_notes() -> VnodeEvents {
    VnodeEvents::classic()
        - (VnodeEvents::WRITE | VnodeEvents::EXTEND | VnodeEvents::ATTRIB | VnodeEvents::LINK)
}

/// Makes `links` hold a descriptor on exactly the `wanted` directories, each
/// the one now at its path: a descriptor on a directory that is no longer at
/// its path (renamed away and replaced, a mount placed over it or removed)
/// is released and the path opened again (without `arm_new`, only what is no
/// longer wanted is released). Returns whether anything was
/// armed or vanished meanwhile (the path must then be resolved again).
/// A directory that cannot be opened is retried on the next change.
pub(super) fn relink(
    fds: &mut Fds,
    root: usize,
    links: &mut Vec<(PathBuf, Option<DirId>, usize)>,
    wanted: &[(PathBuf, Option<DirId>)],
    role: Role,
    arm_new: bool,
) -> bool {
    let mut again = false;
    for (dir, id) in wanted {
        if !arm_new || links.iter().any(|(d, i, _)| d == dir && i == id) {
            continue;
        }
        let notes = if role == Role::Ancestor {
            ancestor_notes()
        } else {
            VnodeEvents::classic()
        };
        match fds.arm_notes(dir, true, true, root, role.clone(), notes) {
            Ok(token) => {
                links.push((dir.clone(), *id, token));
                again = true;
            }
            Err(ArmError::Gone) => again = true,
            Err(_) => {}
        }
    }
    links.retain(|(d, i, token)| {
        let keep = wanted.iter().any(|(wd, wi)| wd == d && wi == i);
        if !keep {
            fds.release(*token);
        }
        keep
    });
    again
}

pub(super) struct Root {
    pub(super) id: usize,
    pub(super) path: PathBuf,
    pub(super) mode: RecursiveMode,
    pub(super) resolved: Resolved,
    /// Directories whose entries are consulted names: (path, identity, token).
    pub(super) anchors: Vec<(PathBuf, Option<DirId>, usize)>,
    /// The other real directories along the path, the same way.
    pub(super) ancestors: Vec<(PathBuf, Option<DirId>, usize)>,
    pub(super) dirs: BTreeMap<PathBuf, usize>,
    pub(super) files: BTreeMap<PathBuf, usize>,
    pub(super) target: Option<(u64, u64, usize)>,
    pub(super) snapshot: Snapshot,
    /// The per-file degradation was reported.
    pub(super) budget_noted: bool,
    /// Tree directories the budget refused (reported `Skipped` once each),
    /// tried again once descriptors are released.
    pub(super) blocked: BTreeSet<PathBuf>,
}

/// What came of watching a directory the budget had refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Retry {
    /// Watched now, and what it holds reported.
    Watched,
    /// The budget refused it again.
    Budget,
    /// Nothing to retry: gone, watched already or no longer wanted.
    Stale,
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
            // Every listing is diffed against the snapshot.
            exact: true,
        }
    }

    pub(super) fn root_entry(&self) -> Option<Entry> {
        self.snapshot.get(Path::new(""))
    }

    /// Watches the directories of the name chain, re-resolving until the
    /// set is stable, then the target of a file root.
    ///
    /// The directories above the path (with `above`) come last: they are
    /// opened only while no tree directory of the root waits for a
    /// descriptor, so they never take one the tree needs; without them a
    /// rename up there goes unnoticed.
    pub(super) fn follow_name(&mut self, fds: &mut Fds, above: bool) {
        for _ in 0..8 {
            let resolved = resolve(&self.path);
            let with_id = |dirs: Vec<&Path>| -> Vec<(PathBuf, Option<DirId>)> {
                dirs.into_iter()
                    .map(|d| (d.to_path_buf(), resolved.id_of(d)))
                    .collect()
            };
            let anchors = with_id(resolved.dirs());
            let ancestors = with_id(resolved.ancestors());
            let above = above && self.blocked.is_empty();
            let armed_new = relink(
                fds,
                self.id,
                &mut self.anchors,
                &anchors,
                Role::Anchor,
                true,
            ) | relink(
                fds,
                self.id,
                &mut self.ancestors,
                &ancestors,
                Role::Ancestor,
                above,
            );
            self.resolved = resolved;
            if !armed_new {
                break;
            }
        }
        self.watch_target(fds);
    }

    pub(super) fn watch_target(&mut self, fds: &mut Fds) {
        let want = match (&self.resolved.target, self.resolved.last()) {
            (Some(t), Some((dir, name))) if t.kind == EntryKind::File => {
                Some((t.dev, t.ino, dir.join(name)))
            }
            _ => None,
        };
        if let (Some((dev, ino, _)), Some((d, i, _))) = (&want, &self.target)
            && (dev, ino) == (d, i)
        {
            return;
        }
        if let Some((_, _, token)) = self.target.take() {
            fds.release(token);
        }
        if let Some((dev, ino, path)) = want
            && let Ok(token) = fds.arm(&path, false, false, self.id, Role::Target)
        {
            self.target = Some((dev, ino, token));
        }
    }

    /// Scans the directory at `rel` (in the snapshot as `entry`, or about to
    /// be), arming each directory before reading it; returns what was found.
    pub(super) fn scan(
        &mut self,
        fds: &mut Fds,
        config: &Config,
        rel: &Path,
        entry: Entry,
        notices: &mut Vec<Event>,
    ) -> Snapshot {
        let visited = self
            .snapshot
            .dir_ids_along(rel.parent().unwrap_or(Path::new("")));
        let opts = self.opts(config);
        let (id, dirs, blocked) = (self.id, &mut self.dirs, &mut self.blocked);
        let mut hook = |full: &Path, r: &Path, via_symlink: bool| {
            if dirs.contains_key(r) {
                return Ok(());
            }
            let follow = r.as_os_str().is_empty() || via_symlink;
            let token = fds
                .arm(full, true, follow, id, Role::Tree(r.to_path_buf()))
                .map_err(|e| {
                    if let ArmError::Budget = e {
                        blocked.insert(r.to_path_buf());
                    }
                    e.skip_reason()
                })?;
            dirs.insert(r.to_path_buf(), token);
            Ok(())
        };
        let mut found = Vec::new();
        let snap = scan_dir(
            &self.path, rel, entry, visited, &opts, &mut hook, &mut found,
        );
        notices.extend(found);
        snap
    }

    /// Gives the regular files among `rels` (whose directory is watched) a
    /// descriptor each, in one batch; says once if the budget stops it.
    pub(super) fn arm_files(&mut self, fds: &mut Fds, rels: Vec<PathBuf>, out: &mut Vec<Event>) {
        let wanted: Vec<(PathBuf, PathBuf)> = rels
            .into_iter()
            .filter(|rel| !self.files.contains_key(rel))
            .filter(|rel| {
                self.snapshot
                    .get(rel)
                    .is_some_and(|e| e.kind == EntryKind::File)
                    && self
                        .dirs
                        .contains_key(rel.parent().unwrap_or(Path::new("")))
            })
            .map(|rel| (self.full(&rel), rel))
            .collect();
        if wanted.is_empty() {
            return;
        }
        let (armed, over_budget) = fds.arm_files(self.id, wanted);
        self.files.extend(armed);
        if over_budget && !self.budget_noted {
            self.budget_noted = true;
            out.push(Event::new(
                EventKind::Skipped {
                    reason: SkipReason::FdBudget,
                },
                self.path.clone(),
                self.root_entry().is_some_and(|e| e.is_dir()),
                Origin::Rescan,
            ));
        }
    }

    /// Builds the root from scratch: name chain, then (for a directory) the
    /// tree and its files.
    pub(super) fn rebuild(&mut self, fds: &mut Fds, config: &Config, notices: &mut Vec<Event>) {
        self.follow_name(fds, false);
        self.drop_subtree(fds, Path::new(""));
        match self.resolved.target.clone() {
            Some(target) if target.is_dir() => {
                self.snapshot = self.scan(fds, config, Path::new(""), target, notices);
                let files: Vec<PathBuf> = self.snapshot.iter().map(|(p, _)| p).collect();
                self.arm_files(fds, files, notices);
            }
            Some(target) => self.snapshot.insert(PathBuf::new(), target),
            None => {}
        }
        self.follow_name(fds, true);
    }

    /// Watches the tree directory at `rel`, which the budget refused
    /// earlier, and reports what it holds (origin Rescan).
    pub(super) fn retry_blocked(
        &mut self,
        fds: &mut Fds,
        config: &Config,
        rel: &Path,
        out: &mut Vec<Event>,
    ) -> Retry {
        let Some(entry) = self.snapshot.get(rel) else {
            return Retry::Stale;
        };
        let full = self.full(rel);
        let wanted = if rel.as_os_str().is_empty() {
            entry.is_dir()
        } else {
            self.wants_tree(&entry, &full, config)
        };
        // Below an unwatched directory it is that directory's retry that
        // scans it.
        let parent_watched = rel.parent().is_none_or(|p| self.dirs.contains_key(p));
        if !wanted || !parent_watched || self.dirs.contains_key(rel) {
            return Retry::Stale;
        }
        if !fds.room(true) {
            self.blocked.insert(rel.to_path_buf());
            return Retry::Budget;
        }
        let mut notices = Vec::new();
        let found = self.scan(fds, config, rel, entry, &mut notices);
        if !self.dirs.contains_key(rel) {
            // Refused again (the scan put it back among the blocked, and
            // its notice was given before) or gone (its parent reports it).
            return if self.blocked.contains(rel) {
                Retry::Budget
            } else {
                Retry::Stale
            };
        }
        let mut files = Vec::new();
        for (p, e) in found {
            if p == rel || self.snapshot.get(&p).is_some_and(|old| old.same_object(&e)) {
                continue;
            }
            out.push(Event::new(
                EventKind::Created,
                self.full(&p),
                e.is_dir(),
                Origin::Rescan,
            ));
            files.push(p.clone());
            self.snapshot.insert(p, e);
        }
        out.extend(notices);
        self.arm_files(fds, files, out);
        Retry::Watched
    }

    /// Releases the descriptors at and below `rel` and forgets the snapshot there.
    pub(super) fn drop_subtree(&mut self, fds: &mut Fds, rel: &Path) {
        for map in [&mut self.dirs, &mut self.files] {
            let gone: Vec<PathBuf> = map
                .range(rel.to_path_buf()..)
                .take_while(|(p, _)| p.starts_with(rel))
                .map(|(p, _)| p.clone())
                .collect();
            for p in gone {
                if let Some(token) = map.remove(&p) {
                    fds.release(token);
                }
            }
        }
        self.snapshot.remove_subtree(rel);
        self.blocked.retain(|p| !p.starts_with(rel));
    }

    /// Reports `rel` removed. A deleted directory was empty when it went,
    /// so everything known below it was deleted first: report that too
    /// (deepest first). A directory moved away keeps its contents: only
    /// the directory is reported.
    pub(super) fn removed(
        &mut self,
        fds: &mut Fds,
        rel: &Path,
        is_dir: bool,
        out: &mut Vec<Event>,
    ) {
        let deleted = self.dirs.get(rel).is_some_and(|t| fds.deleted(*t));
        if deleted {
            let mut below: Vec<(PathBuf, bool)> = self
                .snapshot
                .subtree(rel)
                .filter(|(p, _)| p.as_path() != rel)
                .map(|(p, e)| (p.clone(), e.is_dir()))
                .collect();
            below.reverse();
            for (p, d) in below {
                out.push(Event::new(
                    EventKind::Removed,
                    self.full(&p),
                    d,
                    Origin::Kernel,
                ));
            }
        }
        self.drop_subtree(fds, rel);
        out.push(Event::new(
            EventKind::Removed,
            self.full(rel),
            is_dir,
            Origin::Kernel,
        ));
    }

    /// Moves what is known at and below `from` to `to`: descriptors follow
    /// their vnodes, so only their names change.
    pub(super) fn move_tree(&mut self, fds: &mut Fds, from: &Path, to: &Path) {
        self.drop_subtree(fds, to);
        for (map, tree) in [(&mut self.dirs, true), (&mut self.files, false)] {
            let moved: Vec<(PathBuf, usize)> = map
                .range(from.to_path_buf()..)
                .take_while(|(p, _)| p.starts_with(from))
                .map(|(p, t)| (p.clone(), *t))
                .collect();
            for (old, token) in moved {
                let Ok(rest) = old.strip_prefix(from) else {
                    continue;
                };
                let new = join_rel(to, rest);
                map.remove(&old);
                map.insert(new.clone(), token);
                fds.set_role(
                    token,
                    if tree {
                        Role::Tree(new)
                    } else {
                        Role::File(new)
                    },
                );
            }
        }
        self.snapshot.move_subtree(from, to);
        let moved: Vec<PathBuf> = self
            .blocked
            .iter()
            .filter(|p| p.starts_with(from))
            .cloned()
            .collect();
        for old in moved {
            self.blocked.remove(&old);
            if let Ok(rest) = old.strip_prefix(from) {
                self.blocked.insert(join_rel(to, rest));
            }
        }
    }

    pub(super) fn wants_tree(&self, entry: &Entry, full: &Path, config: &Config) -> bool {
        self.mode == RecursiveMode::Recursive
            && (entry.is_dir()
                || (entry.kind == EntryKind::Symlink
                    && config.follow_symlinks
                    && fs::metadata(full).is_ok_and(|m| m.is_dir())))
    }

    /// Lists the dirty directories again and reports how their entries
    /// differ from the snapshot; updates snapshot and descriptors. Returns
    /// the dirty directories that could not be listed because they had been
    /// renamed, under the names the listings found for them.
    pub(super) fn rescan_dirs(
        &mut self,
        fds: &mut Fds,
        config: &Config,
        dirty: &BTreeSet<PathBuf>,
        out: &mut Vec<Event>,
    ) -> BTreeSet<PathBuf> {
        let mut old = Snapshot::default();
        let mut new = Snapshot::default();
        let mut listed: Vec<PathBuf> = Vec::new();
        let mut unlisted: Vec<(PathBuf, Armed)> = Vec::new();
        for d in dirty {
            let Some(armed) = self.dirs.get(d).and_then(|t| fds.armed(*t)) else {
                continue;
            };
            let Some(known) = self.snapshot.get(d) else {
                continue;
            };
            let full = self.full(d);
            let now = if d.as_os_str().is_empty() {
                fs::metadata(&full).map(|m| Entry::from_metadata(&m, None))
            } else {
                Entry::lstat(&full)
            };
            // Gone or replaced (by a symlink too: listing through it would
            // read another directory): its parent's listing (or the root's
            // anchors) report that. A followed symlink is known as itself.
            if !now.is_ok_and(|n| n.same_object(&known)) {
                unlisted.push((d.clone(), armed));
                continue;
            }
            let Ok(reader) = fs::read_dir(&full) else {
                continue;
            };
            old.insert(d.clone(), known.clone());
            new.insert(d.clone(), known);
            for (p, e) in self.snapshot.subtree(d) {
                if p.parent() == Some(d.as_path()) {
                    old.insert(p.clone(), e.clone());
                }
            }
            for item in reader.flatten() {
                let name = item.file_name();
                if cookie::is_cookie(&name) {
                    continue;
                }
                let child_full = full.join(&name);
                if config.is_excluded(&child_full) {
                    continue;
                }
                let Ok(entry) = Entry::lstat(&child_full) else {
                    continue; // vanished meanwhile: no longer there
                };
                new.insert(join_rel(d, Path::new(&name)), entry);
            }
            listed.push(d.clone());
        }
        if listed.is_empty() {
            return BTreeSet::new();
        }
        let events = diff(&self.path, &old, &new, Origin::Kernel);
        // diff reports a moved directory as removed + created: pair them by
        // (device, inode) into a rename.
        let rel_of = |e: &Event| e.path.strip_prefix(&self.path).ok().map(Path::to_path_buf);
        let mut gone_dirs: HashMap<(u64, u64), PathBuf> = HashMap::new();
        for e in events
            .iter()
            .filter(|e| e.kind == EventKind::Removed && e.is_dir)
        {
            if let Some(rel) = rel_of(e)
                && let Some(en) = old.get(&rel)
            {
                gone_dirs.insert((en.dev, en.ino), rel);
            }
        }
        let mut dir_moves: HashMap<PathBuf, PathBuf> = HashMap::new();
        for e in events
            .iter()
            .filter(|e| e.kind == EventKind::Created && e.is_dir)
        {
            if let Some(rel) = rel_of(e)
                && let Some(en) = new.get(&rel)
                && en.kind == EntryKind::Dir
                && let Some(from) = gone_dirs.remove(&(en.dev, en.ino))
            {
                dir_moves.insert(rel, from);
            }
        }
        let mut to_arm = Vec::new();
        for event in order_listing(events, &self.path, &dir_moves) {
            let Ok(rel) = event.path.strip_prefix(&self.path).map(Path::to_path_buf) else {
                continue;
            };
            match &event.kind {
                EventKind::Removed => self.removed(fds, &rel, event.is_dir, out),
                EventKind::Renamed { from } if event.is_dir => {
                    let Ok(from_rel) = from.strip_prefix(&self.path).map(Path::to_path_buf) else {
                        continue;
                    };
                    self.move_tree(fds, &from_rel, &rel);
                    if let Some(entry) = new.get(&rel) {
                        self.snapshot.insert(rel.clone(), entry);
                    }
                    out.push(event);
                }
                EventKind::Renamed { from } => {
                    let Ok(from_rel) = from.strip_prefix(&self.path).map(Path::to_path_buf) else {
                        continue;
                    };
                    self.drop_subtree(fds, &rel);
                    self.snapshot.move_subtree(&from_rel, &rel);
                    // The rename moved the file's ctime: keep what the
                    // listing saw, or the next one would report a rewrite.
                    if let Some(entry) = new.get(&rel) {
                        self.snapshot.insert(rel.clone(), entry.clone());
                    }
                    // A file's descriptor follows its inode to the new name.
                    if let Some(token) = self.files.remove(&from_rel) {
                        self.files.insert(rel.clone(), token);
                        fds.set_role(token, Role::File(rel.clone()));
                    }
                    out.push(event);
                }
                EventKind::Created => {
                    let Some(entry) = new.get(&rel) else {
                        continue;
                    };
                    self.drop_subtree(fds, &rel);
                    self.snapshot.insert(rel.clone(), entry.clone());
                    let full = self.full(&rel);
                    out.push(event);
                    if self.wants_tree(&entry, &full, config) {
                        let mut notices = Vec::new();
                        let found = self.scan(fds, config, &rel, entry, &mut notices);
                        for (p, e) in found {
                            if p == rel {
                                continue;
                            }
                            out.push(Event::new(
                                EventKind::Created,
                                self.full(&p),
                                e.is_dir(),
                                Origin::Rescan,
                            ));
                            to_arm.push(p.clone());
                            self.snapshot.insert(p, e);
                        }
                        out.extend(notices);
                    } else {
                        to_arm.push(rel);
                    }
                }
                EventKind::Modified | EventKind::Metadata => {
                    if let Some(entry) = new.get(&rel) {
                        self.snapshot.insert(rel, entry);
                    }
                    out.push(event);
                }
                _ => out.push(event),
            }
        }
        self.arm_files(fds, to_arm, out);
        unlisted
            .into_iter()
            .filter_map(|(was, (token, serial))| match fds.slots.get(token) {
                Some(Some(slot)) if slot.serial == serial => match &slot.role {
                    Role::Tree(now) if *now != was => Some(now.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// A write or attribute change on a known entry.
    pub(super) fn changed(
        &mut self,
        rel: &Path,
        written: bool,
        attrib: bool,
        out: &mut Vec<Event>,
    ) {
        let Some(known) = self.snapshot.get(rel) else {
            return;
        };
        let full = self.full(rel);
        let now = if rel.as_os_str().is_empty() {
            fs::metadata(&full).map(|m| Entry::from_metadata(&m, None))
        } else {
            Entry::lstat(&full)
        };
        let Ok(now) = now else { return };
        if !now.same_object(&known) {
            return; // replaced: the directory's listing reports it
        }
        if !known.is_dir() && (written || (attrib && now.size != known.size)) {
            out.push(Event::new(
                EventKind::Modified,
                full.clone(),
                false,
                Origin::Kernel,
            ));
        }
        // A directory's attribute note can stand for its entries' (libkqueue
        // passes them on from inotify): report only a real change.
        if attrib && (!known.is_dir() || now.metadata_differs(&known)) {
            out.push(Event::new(
                EventKind::Metadata,
                full,
                known.is_dir(),
                Origin::Kernel,
            ));
        }
        self.snapshot.insert(rel.to_path_buf(), now);
    }

    /// Re-resolves the root path and reports how what it names changed.
    pub(super) fn refresh(
        &mut self,
        fds: &mut Fds,
        config: &Config,
        written: bool,
        out: &mut Vec<Event>,
    ) {
        self.follow_name(fds, true);
        let old = self.root_entry();
        let new = self.resolved.target.clone();
        let path = self.path.clone();
        match (old, new) {
            (None, None) => {}
            (Some(o), Some(n)) if o.same_object(&n) => {
                if !n.is_dir() && (o.content_differs(&n) || written) {
                    out.push(Event::new(
                        EventKind::Modified,
                        path.clone(),
                        false,
                        Origin::Kernel,
                    ));
                }
                if o.metadata_differs(&n) {
                    out.push(Event::new(
                        EventKind::Metadata,
                        path,
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
                if let Some(o) = old {
                    self.removed(fds, Path::new(""), o.is_dir(), out);
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
                        let mut notices = Vec::new();
                        let found = self.scan(fds, config, Path::new(""), n, &mut notices);
                        let mut files = Vec::new();
                        for (p, e) in found {
                            if p.as_os_str().is_empty() {
                                continue;
                            }
                            out.push(Event::new(
                                EventKind::Created,
                                self.full(&p),
                                e.is_dir(),
                                Origin::Rescan,
                            ));
                            files.push(p.clone());
                            self.snapshot.insert(p, e);
                        }
                        out.extend(notices);
                        self.arm_files(fds, files, out);
                    }
                }
            }
        }
    }

    pub(super) fn apply(
        &mut self,
        fds: &mut Fds,
        config: &Config,
        work: Work,
        out: &mut Vec<Event>,
    ) {
        if let Some(written) = work.refresh {
            self.refresh(fds, config, written, out);
        }
        let mut dirty = work.dirty;
        // A dirty directory renamed before it could be listed is listed
        // under its new name once its parent's listing found the rename.
        for _ in 0..8 {
            if dirty.is_empty() || !self.root_entry().is_some_and(|e| e.is_dir()) {
                break;
            }
            dirty = self.rescan_dirs(fds, config, &dirty, out);
        }
        // Each descriptor's path now, after the renames above.
        let mut touched: BTreeMap<PathBuf, (bool, bool)> = BTreeMap::new();
        for (armed, written) in work
            .written
            .iter()
            .map(|a| (a, true))
            .chain(work.attrib.iter().map(|a| (a, false)))
        {
            let rel = match fds.slots.get(armed.0) {
                Some(Some(slot)) if slot.serial == armed.1 && slot.root == self.id => {
                    match &slot.role {
                        Role::Tree(rel) | Role::File(rel) => rel.clone(),
                        Role::Anchor | Role::Ancestor | Role::Target => continue,
                    }
                }
                _ => continue, // released since: its removal is reported
            };
            let flags = touched.entry(rel).or_default();
            if written {
                flags.0 = true;
            } else {
                flags.1 = true;
            }
        }
        for (rel, (written, attrib)) in touched {
            if rel.as_os_str().is_empty() && !self.root_entry().is_some_and(|e| e.is_dir()) {
                continue; // a file root is handled by `refresh`
            }
            self.changed(&rel, written, attrib, out);
        }
    }

    pub(super) fn release(&mut self, fds: &mut Fds) {
        self.drop_subtree(fds, Path::new(""));
        if let Some((_, _, token)) = self.target.take() {
            fds.release(token);
        }
        for (_, _, token) in std::mem::take(&mut self.anchors)
            .into_iter()
            .chain(std::mem::take(&mut self.ancestors))
        {
            fds.release(token);
        }
    }

    /// Where a sync cookie for this root goes, and the descriptor that sees it.
    pub(super) fn cookie_dir(&self) -> Option<(PathBuf, usize)> {
        // The root directory, if its path still leads to the vnode we hold
        // (through a swapped symlink it may not: the cookie would go unseen).
        if let Some(root) = self.root_entry()
            && root.is_dir()
            && let Some(token) = self.dirs.get(Path::new(""))
            && fs::metadata(&self.path).is_ok_and(|m| {
                use std::os::unix::fs::MetadataExt;
                (m.dev(), m.ino()) == (root.dev, root.ino)
            })
        {
            return Some((self.path.clone(), *token));
        }
        let (dir, _) = self.resolved.last()?;
        self.anchors
            .iter()
            .find(|(d, _, _)| d == dir)
            .map(|(d, _, token)| (d.clone(), *token))
    }
}
