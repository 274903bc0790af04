//! Re-resolving a root, the target's cheap path, rebuilding, rescans with
//! their diff, entries left unverified, and sync cookies.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::tree::{arm_dir, under};
use super::{ArmError, Emit, Role, Root, Roots, SharedPath, WatchTable};
use crate::cookie;
use crate::diff::diff;
use crate::resolve::resolve_open;
use crate::snapshot::{Entry, Snapshot, listed_since, root_rel};
use crate::{Config, Error, Event, EventKind, Origin, SkipReason};

impl<T: WatchTable> Root<T> {
    /// Re-resolves the root path and reports how what it names changed.
    /// `written`: the kernel saw the final file written (content changed
    /// even if size and mtime look the same).
    pub(crate) fn refresh(
        &mut self,
        t: &mut T,
        config: &Config,
        written: bool,
        out: &mut Emit<'_>,
    ) {
        // An anchor that cannot be armed is retried on the next change.
        let _ = self.follow_name(t);
        let new = self.resolved.target.clone();
        self.compare(t, config, new, written, out);
        self.watch_own(t);
    }

    /// The target's inode watch saw the file written (`written`), or its
    /// attributes changed or a write end (`look`). No name along the path
    /// changed, or an anchor's or ancestor's event would say so (and
    /// refresh the root), so this costs no lookup of the path: a write
    /// alone is reported as it is; `look` costs one `stat` of the path (to
    /// keep the recorded size and times current), and only if that finds
    /// another object than the one watched is the path resolved again.
    pub(crate) fn target_event(
        &mut self,
        t: &mut T,
        config: &Config,
        written: bool,
        look: bool,
        out: &mut Emit<'_>,
    ) {
        let known = match (self.root_entry(), &self.target) {
            (Some(e), Some((dev, ino, _))) if !e.is_dir() && (e.dev, e.ino) == (*dev, *ino) => e,
            _ => return self.refresh(t, config, written, out),
        };
        if !look {
            if written {
                out.push(Event::new(
                    EventKind::Modified,
                    self.path.clone(),
                    false,
                    Origin::Kernel,
                ));
            }
            return;
        }
        match std::fs::metadata(&self.path) {
            Ok(m) if Entry::from_metadata(&m, None).same_object(&known) => {
                let now = Entry::from_metadata(&m, None);
                self.compare(t, config, Some(now), written, out);
            }
            _ => self.refresh(t, config, written, out),
        }
    }

    /// Reports how what the root names changed from the snapshot's root
    /// entry to `new`, and records it.
    fn compare(
        &mut self,
        t: &mut T,
        config: &Config,
        new: Option<Entry>,
        written: bool,
        out: &mut Emit<'_>,
    ) {
        let old = self.root_entry();
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
                t.moved();
                if let Some(o) = old {
                    self.removed(t, Path::new(""), o.is_dir(), out);
                }
                if let Some(n) = new {
                    out.push(Event::new(
                        EventKind::Created,
                        path,
                        n.is_dir(),
                        Origin::Kernel,
                    ));
                    self.snapshot.insert(PathBuf::new(), n.clone());
                    if n.is_dir() {
                        self.scan_in(t, config, Path::new(""), n, out);
                    }
                }
            }
        }
    }

    /// Builds the root from scratch: name chain, then (for a directory) the
    /// tree; returns the tree found (see [`Root::install`]). The error when
    /// the path, or a directory followed for it, cannot be watched.
    /// `exact`: every entry examined (a rescan diffs the result). `new`: a
    /// root being added, whose lookup may take the directories other roots
    /// already follow as they are ([`WatchTable::link_id`]); a rescan, after
    /// lost events, looks every name up.
    pub(crate) fn rebuild(
        &mut self,
        t: &mut T,
        config: &Config,
        notices: &mut Vec<Event>,
        exact: bool,
        new: bool,
    ) -> Result<Snapshot, Error> {
        // A new root's directory is opened by its lookup and listed from
        // there (see `resolve_open`); the lookup fills the vectors the
        // root was given (see `Roots::watch`).
        let (first, mut opened) = if new {
            let into = std::mem::take(&mut self.resolved);
            let (resolved, opened) = resolve_open(&self.path, &|dir| t.link_id(dir), into);
            let id = resolved.target.as_ref().map(|e| (e.dev, e.ino));
            (Some(resolved), opened.zip(id))
        } else {
            (None, None)
        };
        let mut result = self.follow(t, false, first, false);
        self.watch_target(t);
        if !self.files.is_empty() {
            for (rel, handle) in std::mem::take(&mut self.files) {
                t.release(self.id, handle, Role::File(rel));
            }
        }
        // `install` gives the files their watches again, or has them wait.
        self.unwatched_files.clear();
        // A new root's empty map is kept, with the storage a removed root
        // may have left in it (see `Root::retire`).
        let old_dirs = (!self.dirs.is_empty()).then(|| std::mem::take(&mut self.dirs));
        let mut snap = Snapshot::default();
        if let Some(target) = self.resolved.target.clone() {
            if target.is_dir() {
                let root = Path::new("");
                let key = root_rel();
                // Opened by the first lookup: still the directory the
                // last one found (when the chain was armed anew, the
                // name was looked up again).
                let opened = opened
                    .take()
                    .filter(|(_, id)| *id == (target.dev, target.ino))
                    .map(|(file, _)| file);
                match arm_dir(t, self.id, &self.path, &key, true) {
                    Ok(handle) => {
                        self.dirs.insert(key, handle);
                        // A new root's snapshot is empty, and may hold the
                        // storage a removed root left.
                        let into = match new && self.snapshot.is_empty() {
                            true => std::mem::take(&mut self.snapshot),
                            false => Snapshot::default(),
                        };
                        snap =
                            self.scan_opened(t, config, root, target, opened, into, notices, exact);
                    }
                    Err(ArmError::Gone) => {} // vanished: the anchor reports its return
                    Err(e) => {
                        if let (true, Some(e)) = (result.is_ok(), e.into_error()) {
                            result = Err(e);
                        }
                    }
                }
            } else {
                snap.insert(PathBuf::new(), target);
            }
        }
        self.watch_own(t);
        // A watch armed again on the same directory is the same watch.
        if let Some(old_dirs) = old_dirs {
            for (rel, handle) in old_dirs {
                if self.dirs.get(&rel) != Some(&handle) {
                    t.release(self.id, handle, Role::Tree(rel));
                }
            }
        }
        if let Ok(stable) = result {
            // The directories above, last: they never take a watch the tree needs.
            // The lookup above is still current: anything it armed was
            // looked up again after arming. When it came out stable, its
            // anchors are in place and are not gone through again.
            let resolved = std::mem::take(&mut self.resolved);
            let _ = self.follow(t, true, Some(resolved), stable);
        }
        result.map(|_| snap)
    }

    /// Makes `snap` the root's view (and gives its files their own watches
    /// if the table wants); returns the view it replaces.
    pub(crate) fn install(&mut self, t: &mut T, snap: Snapshot, out: &mut Emit<'_>) -> Snapshot {
        let old = std::mem::replace(&mut self.snapshot, snap);
        if T::FILES {
            let files: Vec<PathBuf> = self.snapshot.iter().map(|(p, _)| p).collect();
            self.arm_files(t, files, out);
        }
        old
    }

    /// Rescans the root from its path, re-resolving the name and re-arming
    /// every watch, and reports how it differs from what the user was told
    /// (origin Rescan): after lost events, or a mount placed over or removed
    /// from a directory along the path or inside the tree (the watches are
    /// on the directories the path led to before).
    // Used by the inotify backend only.
    #[cfg_attr(not(linux_kernel), allow(dead_code))]
    pub(crate) fn rescan(&mut self, t: &mut T, config: &Config, out: &mut Emit<'_>) {
        t.moved();
        let mut notices = Vec::new();
        // Taken before anything is read: see `Snapshot::relist`.
        let since = listed_since();
        match self.rebuild(t, config, &mut notices, true, false) {
            Ok(snap) => {
                let mut later = Vec::new();
                let old = self.install(t, snap, &mut Emit::new(&mut later));
                out.extend(diff(&self.path, &old, &self.snapshot, Origin::Rescan));
                if !T::FILES {
                    self.snapshot.relist(since);
                }
                out.extend(later);
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

    /// Once the kernel's events are drained (so every path held is
    /// current): rescans each unverified entry (placeholder), watching what
    /// is there and reporting the difference.
    pub(crate) fn settle(&mut self, t: &mut T, config: &Config, out: &mut Emit<'_>) {
        self.fresh.clear();
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let unknown: Vec<PathBuf> = self.snapshot.placeholders();
        for p in unknown {
            if self.snapshot.get(&p).is_some_and(|e| e.ino == 0) {
                self.resync(t, config, &p, out);
            }
        }
    }

    /// Whether the parent of `rel` is, at its path, the directory the
    /// snapshot recorded there (true for a child of the root, and when the
    /// parent is not recorded).
    fn parent_current(&self, rel: &Path) -> bool {
        let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) else {
            return true;
        };
        match self.snapshot.get(parent) {
            Some(recorded) if recorded.ino != 0 => {
                Entry::lstat(&self.full(parent)).is_ok_and(|now| now.same_object(&recorded))
            }
            // Unverified itself: its own rescan covers `rel`.
            Some(_) => false,
            None => true,
        }
    }

    /// Rescans the subtree at `rel` (re-arming its watches) and reports how
    /// it differs from what the user was told (origin Rescan).
    pub(crate) fn resync(&mut self, t: &mut T, config: &Config, rel: &Path, out: &mut Emit<'_>) {
        // The paths we hold are current as of the last read only: a rename
        // above `rel` made since is still queued. Scanned there, `rel`
        // would be missing and everything below it reported removed, and
        // that rename, once read, would carry the loss along. If the parent
        // is not the directory recorded at its path, `rel` stays unverified:
        // the rename moves it and marks the root dirty, and the next settle
        // scans it where it is then. The parent is checked after `rel` is
        // looked at, not before: a rename above made between the two looks
        // would otherwise pass the check and still hide `rel`.
        #[cfg(test)]
        if let Some(hook) = BEFORE_LOOK.take() {
            hook();
        }
        let looked = Entry::lstat(&self.full(rel));
        if !self.parent_current(rel) {
            return;
        }
        let mut old = Snapshot::default();
        for (p, e) in self.snapshot.subtree(rel) {
            old.insert(p, e);
        }
        let old_dirs: Vec<(SharedPath, T::Handle)> = under(&self.dirs, rel)
            .map(|(p, h)| (p.clone(), *h))
            .collect();
        for (p, _) in &old_dirs {
            self.dirs.remove(p);
        }
        let mut new = Snapshot::default();
        let mut notices = Vec::new();
        if let Ok(entry) = looked {
            if self.enters(&entry, rel, config) {
                new = self.scan(t, config, rel, entry, &mut notices, true);
            } else {
                new.insert(rel, entry);
            }
        }
        for (p, handle) in old_dirs {
            if self.dirs.get(&p) != Some(&handle) {
                t.release(self.id, handle, Role::Tree(p));
            }
        }
        // A placeholder was already reported as created; if what is there
        // now is of the same type, it is that object, not a replacement.
        if let (Some(was), Some(now)) = (old.get(rel), new.get(rel))
            && was.ino == 0
            && was.is_dir() == now.is_dir()
        {
            old.insert(rel, now.clone());
        }
        // A file known from a listing or its creation event only (no
        // recorded size, times or ctime) that is still the same object here is unchanged as far as
        // the user was told: its directory was watched before it was read,
        // and no event was lost since (after lost events the whole root is
        // rescanned instead), so any change to it came with an event.
        let listed: Vec<(PathBuf, Entry)> = old.iter().filter(|(_, e)| e.listed).collect();
        for (p, was) in listed {
            if let Some(now) = new.get(&p)
                && was.may_be(&now)
            {
                old.insert(p, now);
            }
        }
        out.extend(diff(&self.path, &old, &new, Origin::Rescan));
        self.snapshot.remove_subtree(rel);
        self.snapshot.extend(new);
        out.extend(notices);
    }

    /// Where a sync cookie for this root goes (the watched root directory,
    /// or the directory watched for the name), and the watch that sees it.
    pub(crate) fn cookie_dir(&self) -> Option<(PathBuf, T::Handle)> {
        // The root directory, if its path still leads to the object watched
        // (through a swapped symlink it may not: the cookie would go unseen).
        if let Some(root) = self.root_entry()
            && root.is_dir()
            && let Some(handle) = self.dirs.get(Path::new(""))
            && std::fs::metadata(&self.path).is_ok_and(|m| {
                use std::os::unix::fs::MetadataExt;
                (m.dev(), m.ino()) == (root.dev, root.ino)
            })
        {
            return Some((self.path.clone(), *handle));
        }
        let (dir, _) = self.resolved.last()?;
        self.anchors
            .iter()
            .find(|l| *l.dir == *dir)
            .map(|l| (l.dir.to_path_buf(), l.handle))
    }
}

/// Writes one sync cookie, in each root's own directory (the watched
/// directory, or the one watched for a file) or else in another watched
/// directory; returns its name and the watch that sees it. `None` if no
/// watched directory can hold one (read-only, no permission, vanished):
/// sync then only drains what is queued.
pub(crate) fn write_cookie<T: WatchTable>(
    roots: &Roots<Root<T>>,
) -> Result<Option<(OsString, T::Handle)>, Error> {
    let own = roots.iter().filter_map(Root::cookie_dir);
    let others = roots
        .iter()
        .flat_map(|r| r.anchors.iter().map(|l| (l.dir.to_path_buf(), l.handle)));
    let mut first_error = None;
    for (dir, handle) in own.chain(others) {
        let name = cookie::fresh_name();
        match cookie::touch(&dir, &name) {
            Ok(_) => return Ok(Some((name, handle))),
            Err(e) if cookie::is_unwritable(&e) => {}
            Err(e) => {
                first_error.get_or_insert(Error::io(dir, e));
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(None),
    }
}

#[cfg(test)]
thread_local! {
    /// Run once, right before [`Root::resync`] looks at its path: a test's
    /// stand-in for another process renaming something at that moment.
    pub(crate) static BEFORE_LOOK: std::cell::Cell<Option<Box<dyn FnOnce()>>> =
        const { std::cell::Cell::new(None) };
}
