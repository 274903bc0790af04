//! The inotify backend (Linux, Android).
//!
//! One non-blocking inotify instance. Every watched directory has one kernel
//! watch, shared by all the roots that need it (a wd maps to a list of
//! [`Use`]s). Each root keeps:
//! - its *anchors*: the directories consulted when its path is resolved by
//!   name ([`resolve`]), so that atomic saves, re-creation, a path appearing
//!   later and symlink swaps along the path (Kubernetes ConfigMaps) are seen
//!   as changes of a consulted name, after which the path is re-resolved;
//! - for a directory root, its *tree*: one watch per directory (recursive) or
//!   on the root only, and a [`Snapshot`] kept current event by event. The
//!   snapshot dedupes what a scan already reported, gives `is_dir` for
//!   removals, re-paths subtrees on rename, and is the "last known state"
//!   that overflow recovery diffs against.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

use inotify::{EventBuffer, EventMask, Inotify, WatchDescriptor, WatchEvent, WatchMask};

use crate::backend::Driver;
use crate::cookie;
use crate::diff::diff;
use crate::snapshot::{
    Entry, EntryKind, Resolved, ScanOptions, Snapshot, join_rel, resolve, scan_dir,
};
use crate::{Backend, Config, Error, Event, EventKind, Origin, RecursiveMode, SkipReason};

/// What every directory watch listens for. The same mask everywhere, so a
/// directory shared by several roots never has its mask narrowed.
fn dir_mask(follow: bool) -> WatchMask {
    let mask = WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::MODIFY
        | WatchMask::ATTRIB
        | WatchMask::CLOSE_WRITE
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
        | WatchMask::EXCL_UNLINK;
    if follow {
        mask
    } else {
        mask | WatchMask::DONT_FOLLOW
    }
}

/// Why a root needs a watch.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Use {
    /// A directory of the root's tree, at this path relative to the root.
    Tree { root: usize, rel: PathBuf },
    /// A directory consulted while resolving the root's path.
    Anchor { root: usize, dir: PathBuf },
    /// The file a file root resolves to, watched by inode so that writes
    /// through another hard link are seen too.
    Target { root: usize },
}

/// What the inode watch on a file root's target listens for.
fn file_mask() -> WatchMask {
    WatchMask::MODIFY | WatchMask::ATTRIB | WatchMask::CLOSE_WRITE | WatchMask::DONT_FOLLOW
}

/// The instance and who uses each of its watches.
struct Kernel {
    ino: Inotify,
    uses: HashMap<WatchDescriptor, Vec<Use>>,
}

impl Kernel {
    fn arm(
        &mut self,
        path: &Path,
        follow: bool,
        user: Use,
    ) -> Result<WatchDescriptor, inotify::Error> {
        self.arm_mask(path, dir_mask(follow), user)
    }

    fn arm_mask(
        &mut self,
        path: &Path,
        mask: WatchMask,
        user: Use,
    ) -> Result<WatchDescriptor, inotify::Error> {
        let wd = self.ino.add_watch(path, mask)?;
        let users = self.uses.entry(wd).or_default();
        if !users.contains(&user) {
            users.push(user);
        }
        Ok(wd)
    }

    /// Drops one use; the last one removes the kernel watch.
    fn unuse(&mut self, wd: WatchDescriptor, user: &Use) {
        if let Some(users) = self.uses.get_mut(&wd) {
            users.retain(|u| u != user);
            if users.is_empty() {
                self.uses.remove(&wd);
                // The kernel may have dropped it already (directory deleted).
                let _ = self.ino.rm_watch(wd);
            }
        }
    }

    fn repath(&mut self, wd: WatchDescriptor, old: &Use, new: Use) {
        if let Some(users) = self.uses.get_mut(&wd) {
            users.retain(|u| u != old);
            if !users.contains(&new) {
                users.push(new);
            }
        }
    }
}

/// Maps an inotify error to a watcher error for `path`.
fn to_error(err: inotify::Error, path: &Path) -> Error {
    use inotify::ErrorKind as K;
    match err.kind() {
        K::WatchLimit => Error::WatchLimit {
            path: path.to_path_buf(),
            limit: err.limit().and_then(|l| l.value),
        },
        K::InstanceLimit => Error::InstanceLimit {
            limit: err.limit().and_then(|l| l.value),
        },
        K::FdLimit => Error::FdLimit {
            path: Some(path.to_path_buf()),
        },
        K::PermissionDenied => Error::PermissionDenied {
            path: path.to_path_buf(),
        },
        _ => Error::io(path.to_path_buf(), io::Error::other(err)),
    }
}

/// Why a subtree could not be watched, or `None` when it simply vanished.
fn to_skip(err: &inotify::Error) -> Option<SkipReason> {
    use inotify::ErrorKind as K;
    match err.kind() {
        K::NotFound | K::NotADirectory => None,
        K::WatchLimit => Some(SkipReason::WatchLimit),
        K::PermissionDenied => Some(SkipReason::PermissionDenied),
        _ => Some(SkipReason::Other(err.to_string())),
    }
}

/// Appends events, collapsing an immediate repeat of the same
/// modification (one write is often MODIFY + CLOSE_WRITE).
struct Emit<'a> {
    out: &'a mut Vec<Event>,
    start: usize,
}

impl Emit<'_> {
    fn push(&mut self, event: Event) {
        let repeat = matches!(event.kind, EventKind::Modified | EventKind::Metadata)
            && self.out.len() > self.start
            && self.out.last() == Some(&event);
        if !repeat {
            self.out.push(event);
        }
    }

    fn extend(&mut self, events: impl IntoIterator<Item = Event>) {
        for e in events {
            self.push(e);
        }
    }
}

struct Root {
    id: usize,
    path: PathBuf,
    mode: RecursiveMode,
    resolved: Resolved,
    anchors: Vec<(PathBuf, WatchDescriptor)>,
    dirs: BTreeMap<PathBuf, WatchDescriptor>,
    snapshot: Snapshot,
    /// MOVED_FROM halves waiting for their MOVED_TO: (cookie, rel, is_dir).
    moves: Vec<(u32, PathBuf, bool)>,
    /// The inode watch on a file root's target: (device, inode, wd).
    target: Option<(u64, u64, WatchDescriptor)>,
}

impl Root {
    fn full(&self, rel: &Path) -> PathBuf {
        join_rel(&self.path, rel)
    }

    fn opts<'c>(&self, config: &'c Config) -> ScanOptions<'c> {
        ScanOptions {
            recursive: self.mode == RecursiveMode::Recursive,
            follow_symlinks: config.follow_symlinks,
            exclude: config.exclude.as_ref(),
        }
    }

    fn root_entry(&self) -> Option<&Entry> {
        self.snapshot.get(Path::new(""))
    }

    /// Watches the directories of the name chain, re-resolving until the
    /// set is stable (a watch armed after a resolve could miss a change made
    /// in between; resolving again after arming cannot).
    fn follow_name(&mut self, k: &mut Kernel) -> Result<(), Error> {
        let result = self.follow_chain(k);
        self.watch_target(k);
        result
    }

    /// Keeps an inode watch on the file the root resolves to (none for a
    /// directory or a missing path): a hard link elsewhere can change it.
    fn watch_target(&mut self, k: &mut Kernel) {
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

    fn follow_chain(&mut self, k: &mut Kernel) -> Result<(), Error> {
        for _ in 0..8 {
            let resolved = resolve(&self.path);
            let wanted: Vec<PathBuf> = resolved.dirs().into_iter().map(Path::to_path_buf).collect();
            let mut armed_new = false;
            let mut result = Ok(());
            for dir in &wanted {
                if self.anchors.iter().any(|(d, _)| d == dir) {
                    continue;
                }
                match k.arm(
                    dir,
                    true,
                    Use::Anchor {
                        root: self.id,
                        dir: dir.clone(),
                    },
                ) {
                    Ok(wd) => {
                        self.anchors.push((dir.clone(), wd));
                        armed_new = true;
                    }
                    Err(e) if to_skip(&e).is_none() => armed_new = true, // vanished: resolve again
                    Err(e) => result = Err(to_error(e, dir)),
                }
            }
            let id = self.id;
            self.anchors.retain(|(d, wd)| {
                let keep = wanted.contains(d);
                if !keep {
                    k.unuse(
                        *wd,
                        &Use::Anchor {
                            root: id,
                            dir: d.clone(),
                        },
                    );
                }
                keep
            });
            self.resolved = resolved;
            if !armed_new || result.is_err() {
                return result;
            }
        }
        Ok(())
    }

    /// Arms a tree directory watch (the hook scans call before reading).
    fn arm_dir(
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
    fn scan_new_dir(
        &mut self,
        k: &mut Kernel,
        config: &Config,
        rel: &Path,
        entry: Entry,
        out: &mut Emit<'_>,
    ) {
        let visited = self
            .snapshot
            .dir_ids_along(rel.parent().unwrap_or(Path::new("")));
        let mut notices = Vec::new();
        let opts = self.opts(config);
        let (id, dirs) = (self.id, &mut self.dirs);
        let mut hook = |full: &Path, r: &Path, via_symlink: bool| {
            // The root directory follows the user's symlink; others only when followed.
            let follow = r.as_os_str().is_empty() || via_symlink;
            Root::arm_dir(k, dirs, id, full, r, follow)
                .map_err(|e| to_skip(&e).unwrap_or(SkipReason::Other("vanished".into())))
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
        for (p, e) in found.entries {
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
        out.extend(notices.into_iter().filter(|n| !matches!(&n.kind, EventKind::Skipped { reason: SkipReason::Other(r) } if r == "vanished")));
    }

    /// Stops watching the tree directories at and below `rel` and forgets
    /// the snapshot there.
    fn drop_subtree(&mut self, k: &mut Kernel, rel: &Path) {
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

    fn wants_tree(&self, entry: &Entry, config: &Config, follow_link: bool) -> bool {
        self.mode == RecursiveMode::Recursive
            && (entry.is_dir() || (follow_link && config.follow_symlinks))
    }

    /// A name appeared in a tree directory (CREATE, or MOVED_TO from outside).
    fn appeared(
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
                return;
            }
        };
        if self
            .snapshot
            .get(rel)
            .is_some_and(|old| old.same_object(&entry))
        {
            return; // a scan already reported it
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

    fn removed(&mut self, k: &mut Kernel, rel: &Path, is_dir: bool, out: &mut Emit<'_>) {
        let is_dir = self.snapshot.get(rel).map_or(is_dir, Entry::is_dir);
        self.drop_subtree(k, rel);
        out.push(Event::new(
            EventKind::Removed,
            self.full(rel),
            is_dir,
            Origin::Kernel,
        ));
    }

    fn renamed(
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
        out.push(Event::new(
            EventKind::Renamed {
                from: self.full(from),
            },
            self.full(to),
            is_dir,
            Origin::Kernel,
        ));
        // What we recorded was seen by lstat some time after the events: the
        // directory moved here may not be the one we looked at. Mark it
        // unverified; `settle` rescans it once the queue is drained.
        if is_dir
            && let Some(recorded) = self.snapshot.get(to)
            && recorded.ino != 0
            && Entry::lstat(&self.full(to)).map_or(true, |a| !a.same_object(recorded))
        {
            self.snapshot
                .insert(to.to_path_buf(), Entry::placeholder(true));
        }
    }

    /// Once the kernel queue is drained (so every path we hold is current):
    /// rescans each unverified entry (placeholder), watching what is there
    /// and reporting the difference.
    fn settle(&mut self, k: &mut Kernel, config: &Config, out: &mut Emit<'_>) {
        let unknown: Vec<PathBuf> = self
            .snapshot
            .entries
            .iter()
            .filter(|(_, e)| e.ino == 0)
            .map(|(p, _)| p.clone())
            .collect();
        for p in unknown {
            if self.snapshot.get(&p).is_some_and(|e| e.ino == 0) {
                self.resync(k, config, &p, out);
            }
        }
    }

    /// Rescans the subtree at `rel` (re-arming its watches) and reports how
    /// it differs from what the user was told (origin Rescan).
    fn resync(&mut self, k: &mut Kernel, config: &Config, rel: &Path, out: &mut Emit<'_>) {
        let mut old = Snapshot::default();
        for (p, e) in self.snapshot.subtree(rel) {
            old.insert(p.clone(), e.clone());
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
                let opts = self.opts(config);
                let (id, dirs) = (self.id, &mut self.dirs);
                let mut hook = |f: &Path, r: &Path, via_symlink: bool| {
                    Root::arm_dir(k, dirs, id, f, r, via_symlink || r.as_os_str().is_empty())
                        .map_err(|e| to_skip(&e).unwrap_or(SkipReason::Other("vanished".into())))
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
        out.extend(diff(&self.path, &old, &new, Origin::Rescan));
        self.snapshot.remove_subtree(rel);
        self.snapshot.entries.extend(new.entries);
        out.extend(notices.into_iter().filter(|n| !matches!(&n.kind, EventKind::Skipped { reason: SkipReason::Other(r) } if r == "vanished")));
    }

    /// MODIFY / CLOSE_WRITE / ATTRIB on an entry of a tree directory.
    fn changed(&mut self, rel: &Path, kind: EventKind, out: &mut Emit<'_>) {
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
            && entry.same_object(known)
        {
            self.snapshot.insert(rel.to_path_buf(), entry);
        }
        out.push(Event::new(kind, full, is_dir, Origin::Kernel));
    }

    fn tree_event(
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
            }
            return;
        };
        let rel = join_rel(dir, Path::new(name));
        if config.is_excluded(&self.full(&rel)) {
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
                None => self.appeared(k, config, &rel, is_dir, out),
            }
        } else if mask.contains(EventMask::CREATE) {
            self.appeared(k, config, &rel, is_dir, out);
        } else if mask.contains(EventMask::DELETE) {
            self.removed(k, &rel, is_dir, out);
        } else {
            if mask.intersects(EventMask::MODIFY | EventMask::CLOSE_WRITE) && !is_dir {
                self.changed(&rel, EventKind::Modified, out);
            }
            if mask.contains(EventMask::ATTRIB) {
                self.changed(&rel, EventKind::Metadata, out);
            }
        }
    }

    /// Unpaired MOVED_FROMs: the entry left the tree.
    fn finish_moves(&mut self, k: &mut Kernel, out: &mut Emit<'_>) {
        for (_, rel, is_dir) in std::mem::take(&mut self.moves) {
            self.removed(k, &rel, is_dir, out);
        }
    }

    fn anchor_event(
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

    /// Re-resolves the root path and reports how what it names changed.
    /// `written`: the kernel saw the final file written (content changed even
    /// if size and mtime look the same).
    fn refresh(
        &mut self,
        k: &mut Kernel,
        config: &Config,
        written: Option<bool>,
        out: &mut Emit<'_>,
    ) {
        let _ = self.follow_name(k); // an unarmable anchor is retried on the next event
        let old = self.root_entry().cloned();
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

    /// Builds the root from scratch: name chain, then (for a directory) the
    /// tree. Used by `watch` (no events) and after an overflow (diffed).
    fn rebuild(
        &mut self,
        k: &mut Kernel,
        config: &Config,
        notices: &mut Vec<Event>,
    ) -> Result<Snapshot, Error> {
        self.moves.clear();
        let anchored = self.follow_name(k);
        let old_dirs = std::mem::take(&mut self.dirs);
        let mut snap = Snapshot::default();
        let mut result = anchored;
        if let Some(target) = self.resolved.target.clone() {
            if target.is_dir() {
                let opts = self.opts(config);
                let (id, dirs) = (self.id, &mut self.dirs);
                match Root::arm_dir(k, dirs, id, &self.path, Path::new(""), true) {
                    Ok(()) => {
                        let mut hook = |full: &Path, r: &Path, via_symlink: bool| {
                            if r.as_os_str().is_empty() {
                                return Ok(());
                            }
                            Root::arm_dir(k, dirs, id, full, r, via_symlink).map_err(|e| {
                                to_skip(&e).unwrap_or(SkipReason::Other("vanished".into()))
                            })
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
                        notices.extend(found.into_iter().filter(|n| !matches!(&n.kind, EventKind::Skipped { reason: SkipReason::Other(r) } if r == "vanished")));
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
        result.map(|()| snap)
    }

    fn release(&mut self, k: &mut Kernel) {
        self.drop_subtree(k, Path::new(""));
        if let Some((_, _, wd)) = self.target.take() {
            k.unuse(wd, &Use::Target { root: self.id });
        }
        for (dir, wd) in std::mem::take(&mut self.anchors) {
            k.unuse(wd, &Use::Anchor { root: self.id, dir });
        }
    }

    /// Where a sync cookie for this root goes: the watched root directory,
    /// or the directory watched for the name.
    fn cookie_dir(&self) -> Option<PathBuf> {
        if self.root_entry().is_some_and(Entry::is_dir) && self.dirs.contains_key(Path::new("")) {
            return Some(self.path.clone());
        }
        let (dir, _) = self.resolved.last()?;
        self.anchors
            .iter()
            .any(|(d, _)| d == dir)
            .then(|| dir.to_path_buf())
    }
}

pub(crate) struct InotifyDriver {
    config: Config,
    kernel: Kernel,
    buf: Option<EventBuffer>,
    roots: Vec<Option<Root>>,
    cookies_seen: HashSet<OsString>,
    /// Overflow recoveries so far (a sync in progress re-issues its cookies).
    recoveries: u64,
}

/// Most reads per `read_events` call while events keep arriving, so a storm
/// cannot keep one call busy forever.
const MAX_READS: usize = 64;

impl InotifyDriver {
    pub(crate) fn boxed(config: Config) -> Result<Box<dyn Driver>, Error> {
        let ino = Inotify::init_nonblocking().map_err(|e| to_error(e, Path::new("")))?;
        let buf = EventBuffer::new(EventBuffer::DEFAULT_LEN)
            .map_err(|e| Error::io(None, io::Error::other(e)))?;
        Ok(Box::new(InotifyDriver {
            config,
            kernel: Kernel {
                ino,
                uses: HashMap::new(),
            },
            buf: Some(buf),
            roots: Vec::new(),
            cookies_seen: HashSet::new(),
            recoveries: 0,
        }))
    }

    fn root_index(&self, path: &Path) -> Option<usize> {
        self.roots
            .iter()
            .position(|r| r.as_ref().is_some_and(|r| r.path == path))
    }

    /// Reads and translates what is queued (up to [`MAX_READS`] reads, or
    /// until something was emitted and no rename half is pending).
    fn drain(&mut self, out: &mut Emit<'_>) -> Result<(), Error> {
        let mut buf = self.buf.take().unwrap_or_default();
        let mut result = Ok(());
        for _ in 0..MAX_READS {
            match self.kernel.ino.read(&mut buf) {
                Ok(events) => {
                    for event in events {
                        match event {
                            Ok(inotify::Event::Watch(ev)) => self.handle(&ev, out),
                            Ok(inotify::Event::Overflow) | Err(_) => {
                                // A malformed record is treated as lost events.
                                self.recover(out);
                                break;
                            }
                        }
                    }
                }
                Err(e) if e.is_would_block() => {
                    self.finish_moves(out);
                    for root in self.roots.iter_mut().flatten() {
                        root.settle(&mut self.kernel, &self.config, out);
                    }
                    break;
                }
                Err(e) => {
                    result = Err(Error::io(None, io::Error::other(e)));
                    break;
                }
            }
            if out.out.len() > out.start && self.roots.iter().flatten().all(|r| r.moves.is_empty())
            {
                break;
            }
        }
        self.buf = Some(buf);
        result
    }

    fn finish_moves(&mut self, out: &mut Emit<'_>) {
        for root in self.roots.iter_mut().flatten() {
            root.finish_moves(&mut self.kernel, out);
        }
    }

    fn handle(&mut self, ev: &WatchEvent<'_>, out: &mut Emit<'_>) {
        // A MOVED_TO follows its MOVED_FROM directly; anything else means
        // the entry left the watched scope.
        let pairs = ev.mask.contains(EventMask::MOVED_TO)
            && self
                .roots
                .iter()
                .flatten()
                .any(|r| r.moves.iter().any(|(c, _, _)| *c == ev.cookie));
        if !pairs {
            self.finish_moves(out);
        }
        if let Some(name) = ev.name
            && cookie::is_cookie(name)
        {
            if ev.mask.contains(EventMask::CREATE) {
                self.cookies_seen.insert(name.to_os_string());
            }
            return;
        }
        if ev.mask.contains(EventMask::IGNORED) {
            self.forget(ev.wd, out);
            return;
        }
        let Some(users) = self.kernel.uses.get(&ev.wd).cloned() else {
            return;
        };
        for user in users {
            let (id, is_tree, path) = match user {
                Use::Tree { root, rel } => (root, true, rel),
                Use::Anchor { root, dir } => (root, false, dir),
                Use::Target { root } => {
                    if let Some(r) = self.roots.get_mut(root).and_then(Option::as_mut) {
                        let written = ev
                            .mask
                            .intersects(EventMask::MODIFY | EventMask::CLOSE_WRITE);
                        r.refresh(&mut self.kernel, &self.config, Some(written), out);
                    }
                    continue;
                }
            };
            let Some(root) = self.roots.get_mut(id).and_then(Option::as_mut) else {
                continue;
            };
            if is_tree {
                root.tree_event(&mut self.kernel, &self.config, &path, ev, out);
            } else {
                root.anchor_event(&mut self.kernel, &self.config, &path, ev, out);
            }
        }
    }

    /// The kernel dropped a watch (its directory is gone or unmounted).
    fn forget(&mut self, wd: WatchDescriptor, out: &mut Emit<'_>) {
        let Some(users) = self.kernel.uses.remove(&wd) else {
            return;
        };
        for user in users {
            match user {
                Use::Tree { root, rel } => {
                    if let Some(r) = self.roots.get_mut(root).and_then(Option::as_mut) {
                        if r.dirs.get(&rel) == Some(&wd) {
                            r.dirs.remove(&rel);
                        }
                        if rel.as_os_str().is_empty() {
                            r.refresh(&mut self.kernel, &self.config, None, out);
                        }
                    }
                }
                Use::Anchor { root, dir } => {
                    if let Some(r) = self.roots.get_mut(root).and_then(Option::as_mut) {
                        r.anchors.retain(|(d, w)| !(d == &dir && *w == wd));
                        r.refresh(&mut self.kernel, &self.config, None, out);
                    }
                }
                Use::Target { root } => {
                    if let Some(r) = self.roots.get_mut(root).and_then(Option::as_mut) {
                        if r.target.is_some_and(|(_, _, w)| w == wd) {
                            r.target = None;
                        }
                        r.refresh(&mut self.kernel, &self.config, None, out);
                    }
                }
            }
        }
    }

    /// Queue overflow: say so for every root, rescan, re-arm, report the
    /// differences from the last known state.
    fn recover(&mut self, out: &mut Emit<'_>) {
        self.recoveries += 1;
        for root in self.roots.iter().flatten() {
            let is_dir = root.root_entry().is_some_and(Entry::is_dir);
            out.out.push(Event::new(
                EventKind::Overflow,
                root.path.clone(),
                is_dir,
                Origin::Kernel,
            ));
        }
        for root in self.roots.iter_mut().flatten() {
            let mut notices = Vec::new();
            match root.rebuild(&mut self.kernel, &self.config, &mut notices) {
                Ok(snap) => {
                    let old = std::mem::replace(&mut root.snapshot, snap);
                    out.extend(diff(&root.path, &old, &root.snapshot, Origin::Rescan));
                }
                Err(e) => out.push(Event::new(
                    EventKind::Skipped {
                        reason: SkipReason::Other(e.to_string()),
                    },
                    root.path.clone(),
                    root.root_entry().is_some_and(Entry::is_dir),
                    Origin::Rescan,
                )),
            }
            out.extend(notices);
        }
    }

    /// Writes one sync cookie and returns its name. One is enough: the
    /// kernel queues all of an instance's events in one ordered queue, so
    /// the cookie's event comes after every event of every root caused
    /// before it. Tried in each root's own directory (the watched directory,
    /// or the one watched for a file), then in the other watched
    /// directories. None if no watched directory can hold one (read-only,
    /// no permission, vanished): sync then only drains what is queued.
    fn write_cookies(&self) -> Result<Vec<OsString>, Error> {
        let mut dirs: Vec<PathBuf> = self
            .roots
            .iter()
            .flatten()
            .filter_map(Root::cookie_dir)
            .collect();
        dirs.extend(
            self.roots
                .iter()
                .flatten()
                .flat_map(|r| r.anchors.iter().map(|(d, _)| d.clone())),
        );
        let mut first_error = None;
        for dir in dirs {
            let name = cookie::fresh_name();
            match cookie::touch(&dir, &name) {
                Ok(_) => return Ok(vec![name]),
                Err(e) if cookie::is_unwritable(&e) => {}
                Err(e) => {
                    first_error.get_or_insert(Error::io(dir, e));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(Vec::new()),
        }
    }

    fn wait(&self, deadline: Option<Instant>) -> Result<bool, Error> {
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let now = Instant::now();
                if d <= now {
                    return Ok(false);
                }
                Some(d - now)
            }
        };
        self.kernel
            .ino
            .wait(timeout)
            .map_err(|e| Error::io(None, io::Error::other(e)))
    }
}

impl Driver for InotifyDriver {
    fn kind(&self) -> Backend {
        Backend::Inotify
    }

    fn add_root(
        &mut self,
        path: &Path,
        mode: RecursiveMode,
        out: &mut Vec<Event>,
    ) -> Result<(), Error> {
        if self.root_index(path).is_some() {
            self.remove_root(path)?;
        }
        let id = self
            .roots
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.roots.len());
        let mut root = Root {
            id,
            path: path.to_path_buf(),
            mode,
            resolved: Resolved::default(),
            anchors: Vec::new(),
            dirs: BTreeMap::new(),
            snapshot: Snapshot::default(),
            moves: Vec::new(),
            target: None,
        };
        match root.rebuild(&mut self.kernel, &self.config, out) {
            Ok(snap) => {
                root.snapshot = snap;
                if id == self.roots.len() {
                    self.roots.push(Some(root));
                } else {
                    self.roots[id] = Some(root);
                }
                Ok(())
            }
            Err(e) => {
                root.release(&mut self.kernel);
                Err(e)
            }
        }
    }

    fn remove_root(&mut self, path: &Path) -> Result<(), Error> {
        let Some(i) = self.root_index(path) else {
            return Err(Error::NotWatched {
                path: path.to_path_buf(),
            });
        };
        if let Some(mut root) = self.roots[i].take() {
            root.release(&mut self.kernel);
        }
        Ok(())
    }

    fn read_events(
        &mut self,
        out: &mut Vec<Event>,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let start = out.len();
        let mut emit = Emit { out, start };
        loop {
            self.drain(&mut emit)?;
            if emit.out.len() > start || !self.wait(deadline)? {
                return Ok(());
            }
        }
    }

    fn sync(&mut self, out: &mut Vec<Event>, deadline: Instant) -> Result<(), Error> {
        let start = out.len();
        let mut emit = Emit { out, start };
        let mut waiting = self.write_cookies()?;
        let mut recoveries = self.recoveries;
        loop {
            self.drain(&mut emit)?;
            if self.recoveries != recoveries {
                // Events were lost, maybe our cookies' too; the rescan has
                // caught up, so fresh cookies will tell when we are current.
                recoveries = self.recoveries;
                for n in waiting.drain(..) {
                    self.cookies_seen.remove(n.as_os_str());
                }
                waiting = self.write_cookies()?;
                continue;
            }
            waiting.retain(|n| !self.cookies_seen.remove(n.as_os_str()));
            if waiting.is_empty() {
                // Everything before the cookies is processed: paths are current.
                self.finish_moves(&mut emit);
                for root in self.roots.iter_mut().flatten() {
                    root.settle(&mut self.kernel, &self.config, &mut emit);
                }
                return Ok(());
            }
            if !self.wait(Some(deadline))? {
                return Err(Error::SyncTimeout {
                    waited: Default::default(),
                });
            }
        }
    }

    fn watch_count(&self) -> usize {
        self.kernel.uses.len()
    }

    fn as_fd(&self) -> BorrowedFd<'_> {
        self.kernel.ino.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emit_collapses_only_repeated_modifications_of_this_call() {
        let old = Event::new(EventKind::Modified, "a", false, Origin::Kernel);
        let mut out = vec![old.clone()];
        let mut emit = Emit {
            out: &mut out,
            start: 1,
        };
        emit.push(old.clone());
        emit.push(old.clone());
        emit.push(Event::new(EventKind::Created, "b", false, Origin::Kernel));
        emit.push(Event::new(EventKind::Created, "b", false, Origin::Kernel));
        assert_eq!(out.len(), 4);
    }
}
