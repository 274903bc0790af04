//! Translating kqueue notes into operations on a root (see
//! [`crate::root_layer`]): a directory's note lists it again and diffs the
//! listing against the snapshot; a file's note is a write or an attribute
//! change.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use super::fds::{Armed, Fds};
use super::listing::order_listing;
use crate::cookie;
use crate::diff::diff;
use crate::root_layer::{Emit, Role};
use crate::snapshot::{Entry, EntryKind, Snapshot, join_rel};
use crate::{Config, Event, EventKind, Origin};

/// A root as this backend keeps it.
pub(super) type Root = crate::root_layer::Root<Fds>;

/// What one batch of kernel events asks a root to do.
#[derive(Default)]
pub(super) struct Work {
    /// Re-resolve the root path (a name along it may have changed); `true`
    /// if its target file was written.
    pub(super) refresh: Option<bool>,
    /// The target's own note, when no name changed: whether it was written.
    pub(super) target: Option<bool>,
    /// Tree directories whose entries changed.
    pub(super) dirty: BTreeSet<PathBuf>,
    /// Entries whose content was written, by descriptor: a directory
    /// renamed in the same batch takes them to another path.
    pub(super) written: BTreeSet<Armed>,
    /// Entries whose attributes changed, by descriptor.
    pub(super) attrib: BTreeSet<Armed>,
}

impl Root {
    /// Lists the dirty directories again and reports how their entries
    /// differ from the snapshot; updates snapshot and descriptors. Returns
    /// the dirty directories that could not be listed because they had been
    /// renamed, under the names the listings found for them.
    pub(super) fn rescan_dirs(
        &mut self,
        fds: &mut Fds,
        config: &Config,
        dirty: &BTreeSet<PathBuf>,
        out: &mut Emit<'_>,
    ) -> BTreeSet<PathBuf> {
        let mut old = Snapshot::default();
        let mut new = Snapshot::default();
        let mut listed: Vec<PathBuf> = Vec::new();
        let mut unlisted: Vec<(PathBuf, Armed)> = Vec::new();
        for d in dirty {
            let Some(armed) = self.dirs.get(d.as_path()).and_then(|t| fds.armed(*t)) else {
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
                    // A file's descriptor follows its inode to the new name.
                    self.move_tree(fds, &from_rel, &rel);
                    // The rename moved the file's ctime: keep what the
                    // listing saw, or the next one would report a rewrite.
                    if let Some(entry) = new.get(&rel) {
                        self.snapshot.insert(rel.clone(), entry.clone());
                    }
                    out.push(event);
                }
                EventKind::Created => {
                    let Some(entry) = new.get(&rel) else {
                        continue;
                    };
                    self.drop_subtree(fds, &rel);
                    self.snapshot.insert(rel.clone(), entry.clone());
                    out.push(event);
                    if self.enters(&entry, &rel, config) {
                        self.scan_in(fds, config, &rel, entry, out);
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
                    Role::Tree(now) if **now != *was => Some(now.to_path_buf()),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// A write or attribute change on a known entry.
    pub(super) fn changed(&mut self, rel: &Path, written: bool, attrib: bool, out: &mut Emit<'_>) {
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
        self.snapshot.insert(rel, now);
    }

    pub(super) fn apply(&mut self, fds: &mut Fds, config: &Config, work: Work, out: &mut Emit<'_>) {
        match (work.refresh, work.target) {
            (Some(written), target) => {
                self.refresh(fds, config, written || target == Some(true), out);
            }
            // One stat of the path keeps the recorded size and times current
            // (an anchor's note, which names no entry, compares them).
            (None, Some(written)) => self.target_event(fds, config, written, true, out),
            (None, None) => {}
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
                        Role::Tree(rel) | Role::File(rel) => rel.to_path_buf(),
                        Role::Anchor(_) | Role::Ancestor(_) | Role::Target => continue,
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
}
