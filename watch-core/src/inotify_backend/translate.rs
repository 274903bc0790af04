//! Translating inotify records into operations on a root (see
//! [`crate::root_layer`]): names appearing and going away in a tree
//! directory, changes of a consulted name; a rename's two records are
//! paired by cookie here and carried out in `moves.rs`.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::path::Path;

use inotify::{EventMask, WatchEvent};

use super::kernel::Kernel;
use crate::event_buf::Joined;
use crate::root_layer::{Emit, Root, under};
use crate::snapshot::{Entry, EntryKind, join_rel};
use crate::{Config, Event, EventKind, Origin, RecursiveMode};

impl Root<Kernel> {
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
                // Gone again (or replaced) before this record was read, but
                // already known here with its type: a scan that ran after
                // it appeared listed it (and reported it), or an earlier
                // record did. The record that took it away is queued and
                // sets the snapshot right; reporting it again would tell of
                // a second object, and dropping what the scan found below
                // it would report all that again. Only a directory the scan
                // listed but could not watch is left unverified, for
                // `settle` to scan where it is then.
                if let Some(known) = self.snapshot.get(rel)
                    && known.is_dir() == is_dir
                {
                    if is_dir
                        && known.ino != 0
                        && !self.dirs.contains_key(rel)
                        && self.wants_tree(&known, config, false)
                    {
                        self.snapshot
                            .insert(rel.to_path_buf(), Entry::placeholder(true));
                        self.dirty = true;
                    }
                    return;
                }
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
        let known = self.snapshot.get(rel);
        // A directory with anything below it is never replaced (a rename
        // replaces only an empty one, a removal empties it first, with
        // records read before this one): one recorded here that is not this
        // object is a later one a scan found. The record that took it
        // away, and the one that brought what is here now, are queued.
        if known
            .as_ref()
            .is_some_and(|old| old.is_dir() && !old.same_object(&entry))
            && self.snapshot.holds_below(rel)
        {
            return;
        }
        if known.is_some_and(|old| old.same_object(&entry)) {
            // A scan already reported it. If that scan listed it but could
            // not arm it (a rename above changed its path meanwhile), nothing
            // below it is known or watched yet: scan it now.
            if entry.is_dir()
                && self.wants_tree(&entry, config, false)
                && !self.dirs.contains_key(rel)
            {
                self.scan_in(k, config, rel, entry, out);
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
        self.snapshot.insert(rel, entry.clone());
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
            self.scan_in(k, config, rel, entry, out);
        }
    }

    /// A non-directory was created in the tree directory `dir` (`rel` is
    /// `dir` joined with `name`): when nothing is known at `rel`, reported
    /// and recorded ([`Snapshot::announce`](crate::snapshot::Snapshot::announce)) without a system call: the event
    /// tells its type, and only a symlink could matter more (entered when
    /// links are followed in a recursive root: then `false`, as when
    /// anything is known at `rel` already; [`Root::appeared`] then looks).
    /// Whatever happens to it later comes with its own events.
    fn announce(
        &mut self,
        k: &Kernel,
        config: &Config,
        dir: &Path,
        name: &OsStr,
        rel: &Path,
        out: &mut Emit<'_>,
    ) -> bool {
        if (config.follow_symlinks && self.mode == RecursiveMode::Recursive)
            || !k.blocked.is_empty()
            || self.watches_at_or_below(rel)
            || !self.snapshot.announce(dir, name, rel, k.quiet)
        {
            return false;
        }
        out.push_joined(Joined {
            kind: EventKind::Created,
            parts: [self.path.as_os_str(), dir.as_os_str(), name],
            is_dir: false,
            origin: Origin::Kernel,
        });
        true
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
        // replacement is reported by its own CREATE / MOVED_TO. A file
        // known from its creation event only stays so (no system call): a
        // rescan judges it by its ctime.
        if !known.is_announced()
            && let Ok(entry) = Entry::lstat(&full)
            && entry.same_object(&known)
        {
            self.snapshot.insert(rel, entry);
        }
        out.push(Event::new(kind, full, is_dir, Origin::Kernel));
    }

    /// A record of the tree directory `dir`'s watch. `fresh`: the record
    /// handled just before this one, on the same watch, was the creation
    /// of the same name, which this root announced (nothing ran in
    /// between). Returns whether this record is such a creation.
    pub(super) fn tree_event(
        &mut self,
        k: &mut Kernel,
        config: &Config,
        dir: &Path,
        ev: &WatchEvent<'_>,
        fresh: bool,
        out: &mut Emit<'_>,
    ) -> bool {
        let mask = ev.mask;
        let Some(name) = ev.name else {
            // The root directory's own attribute change (chmod, chown,
            // times) refreshes it too: its anchor is not asked for them.
            if dir.as_os_str().is_empty()
                && mask.intersects(
                    EventMask::DELETE_SELF
                        | EventMask::MOVE_SELF
                        | EventMask::UNMOUNT
                        | EventMask::ATTRIB,
                )
            {
                self.refresh(k, config, false, out);
            } else if mask.contains(EventMask::UNMOUNT) {
                // What the directory's path leads to now is the directory
                // the mount covered: its contents are to be reported.
                self.state.unmounted = true;
            }
            return false;
        };
        if fresh && mask == EventMask::CLOSE_WRITE {
            self.closed_after_creation(config, dir, name, out);
            return false;
        }
        // A name in the root directory is its own relative path.
        let rel: Cow<'_, Path> = if dir.as_os_str().is_empty() {
            Cow::Borrowed(Path::new(name))
        } else {
            Cow::Owned(join_rel(dir, Path::new(name)))
        };
        let rel = rel.as_ref();
        if config.exclude.is_some() && config.is_excluded(&self.full(rel)) {
            return false;
        }
        let is_dir = mask.contains(EventMask::ISDIR);
        if mask.contains(EventMask::MOVED_FROM) {
            self.state
                .moves
                .push((ev.cookie, rel.to_path_buf(), is_dir));
        } else if mask.contains(EventMask::MOVED_TO) {
            match self
                .state
                .moves
                .iter()
                .position(|(c, _, _)| *c == ev.cookie)
            {
                Some(i) => {
                    let (_, from, _) = self.state.moves.remove(i);
                    self.renamed(k, config, &from, rel, is_dir, out);
                }
                None => {
                    self.appeared(k, config, rel, is_dir, out);
                    // A file moved in from outside is complete as it
                    // arrives: nobody is still writing it through this name.
                    if config.close_notices && !is_dir && self.snapshot.get(rel).is_some() {
                        out.push(Event::new(
                            EventKind::Closed,
                            self.full(rel),
                            false,
                            Origin::Kernel,
                        ));
                    }
                }
            }
        } else if mask.contains(EventMask::CREATE) {
            if !is_dir && self.announce(k, config, dir, name, rel, out) {
                return true;
            }
            self.appeared(k, config, rel, is_dir, out);
        } else if mask.contains(EventMask::DELETE) {
            self.removed(k, rel, is_dir, out);
        } else {
            if mask.contains(EventMask::CLOSE_WRITE) && !is_dir {
                self.changed(rel, EventKind::Modified, out);
                if config.close_notices && self.snapshot.get(rel).is_some() {
                    out.push(Event::new(
                        EventKind::Closed,
                        self.full(rel),
                        false,
                        Origin::Kernel,
                    ));
                }
            } else if mask.contains(EventMask::MODIFY) && !is_dir {
                // The hot path of a write: report it without an lstat. The
                // recorded size and mtime are refreshed by CLOSE_WRITE; if
                // they stay stale, a rescan reports one extra `Modified`.
                if self.snapshot.get(rel).is_some() {
                    out.push(Event::new(
                        EventKind::Modified,
                        self.full(rel),
                        false,
                        Origin::Kernel,
                    ));
                }
            }
            if mask.contains(EventMask::ATTRIB) {
                self.changed(rel, EventKind::Metadata, out);
            }
        }
        false
    }

    /// The two records of each file a burst creates, when they need no
    /// more than this root and a look at the kernel table (the caller
    /// keeps the watch's uses borrowed): a non-directory's CREATE that
    /// [`announce`](Self::announce) records (`Some(true)`), and the
    /// CLOSE_WRITE of the file announced by the record just before it
    /// (`fresh`, see [`Root::tree_event`]; `Some(false)`). `None` for any
    /// other record, or a creation the announcement does not take
    /// (nothing recorded then): [`Root::tree_event`] handles those.
    pub(super) fn tree_burst(
        &mut self,
        k: &Kernel,
        config: &Config,
        dir: &Path,
        ev: &WatchEvent<'_>,
        fresh: bool,
        out: &mut Emit<'_>,
    ) -> Option<bool> {
        let name = ev.name?;
        if fresh && ev.mask == EventMask::CLOSE_WRITE {
            self.closed_after_creation(config, dir, name, out);
            return Some(false);
        }
        if ev.mask != EventMask::CREATE || config.exclude.is_some() {
            return None;
        }
        let rel: Cow<'_, Path> = if dir.as_os_str().is_empty() {
            Cow::Borrowed(Path::new(name))
        } else {
            Cow::Owned(join_rel(dir, Path::new(name)))
        };
        self.announce(k, config, dir, name, &rel, out)
            .then_some(true)
    }

    /// The writer that created the file `name` in `dir` closed it (the
    /// second record of every file a burst creates). The file is recorded
    /// as announced, which a close does not change: reported as a
    /// CLOSE_WRITE is (`changed`, then the notice) without looking it up
    /// again.
    fn closed_after_creation(&self, config: &Config, dir: &Path, name: &OsStr, out: &mut Emit<'_>) {
        let event = |kind| Joined {
            kind,
            parts: [self.path.as_os_str(), dir.as_os_str(), name],
            is_dir: false,
            origin: Origin::Kernel,
        };
        out.push_joined(event(EventKind::Modified));
        if config.close_notices {
            out.push_joined(event(EventKind::Closed));
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
                let content = EventMask::MODIFY | EventMask::CLOSE_WRITE | EventMask::ATTRIB;
                if is_last && self.target.is_some() && content.contains(ev.mask - EventMask::ISDIR)
                {
                    // The target's inode watch reports this write or
                    // attribute change too, and costs less: one event is
                    // one report.
                    return;
                }
                let written = ev
                    .mask
                    .intersects(EventMask::MODIFY | EventMask::CLOSE_WRITE);
                self.refresh(k, config, is_last && written, out);
                if is_last && config.close_notices && ev.mask.contains(EventMask::CLOSE_WRITE) {
                    self.closed(out);
                }
            }
            None if ev
                .mask
                .intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::UNMOUNT) =>
            {
                self.refresh(k, config, false, out);
            }
            _ => {}
        }
    }

    /// Whether a tree directory at or below `rel` (not the root) has a
    /// watch. Most roots watch no directory but the root (which sorts
    /// first): then no path is compared.
    fn watches_at_or_below(&self, rel: &Path) -> bool {
        let only_root = self.dirs.len() == 1
            && self
                .dirs
                .keys()
                .next()
                .is_some_and(|p| p.as_os_str().is_empty());
        !self.dirs.is_empty() && !only_root && under(&self.dirs, rel).next().is_some()
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
}
