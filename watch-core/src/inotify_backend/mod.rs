//! The inotify backend (Linux, Android).
//!
//! One non-blocking inotify instance. Every watched directory has one kernel
//! watch, shared by all the roots that need it (a wd maps to a list of
//! [`Use`]s). Each root keeps:
//! - its *anchors*: the directories consulted when its path is resolved by
//!   name ([`resolve`]), so that atomic saves, re-creation, a path appearing
//!   later and symlink swaps along the path (Kubernetes ConfigMaps) are seen
//!   as changes of a consulted name, after which the path is re-resolved;
//!   each anchor remembers the (device, inode) it was armed on and is armed
//!   again when its path leads to another directory;
//! - its *ancestors*: the other real directories along the path, watched
//!   only for `IN_MOVE_SELF`/`IN_DELETE_SELF`/`IN_UNMOUNT` (a rename or
//!   replacement up there re-resolves the path), armed after the tree and
//!   only while no tree directory waits for a watch the limit refused;
//! - for a directory root, its *tree*: one watch per directory (recursive) or
//!   on the root only, and a [`Snapshot`] kept current event by event. The
//!   snapshot dedupes what a scan already reported, gives `is_dir` for
//!   removals, re-paths subtrees on rename, and is the "last known state"
//!   that overflow recovery diffs against.
//!
//! The instance is polled together with the [`Waker`]'s eventfd and
//! `/proc/self/mountinfo` (`POLLPRI` when the mount table changes); a
//! mount placed over or removed from a directory along a root's path or in
//! its tree rescans that root ([`Root::rescan`]), as an overflow does.

mod emit;
mod kernel;
mod mounts;
mod root;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use inotify::{EventBuffer, EventFd, EventMask, Inotify, WatchDescriptor, WatchEvent};

use crate::backend::Driver;
use crate::cookie;
use crate::resolve::Resolved;
use crate::snapshot::Snapshot;
use crate::waker::Wake;
use crate::{Backend, Config, Error, Event, EventKind, Origin, RecursiveMode, Waker};
use emit::Emit;
use kernel::{Kernel, Use, to_error};
use mounts::MountTable;
use root::{Retry, Root};

pub(crate) struct InotifyDriver {
    config: Config,
    kernel: Kernel,
    buf: Option<EventBuffer>,
    roots: Vec<Option<Root>>,
    /// Root path -> its slot in `roots`, so `watch`/`unwatch` cost the same
    /// with one root or ten thousand.
    root_ids: HashMap<PathBuf, usize>,
    /// Empty slots of `roots`, reused before the vector grows.
    free_ids: Vec<usize>,
    cookies_seen: HashSet<OsString>,
    /// Cookies written by the sync in progress; only these are recorded.
    cookies_expected: HashSet<OsString>,
    /// Notified by [`Waker`]s; a blocking read polls it with the instance.
    wake: Arc<EventFd>,
    /// Whether a waker was ever made. Until then a blocking read is one
    /// `read(2)` on the instance, with no `poll(2)` before it.
    wakeable: AtomicBool,
    /// The mount table, polled with the instance; `None` without `/proc`.
    mounts: Option<MountTable>,
    /// A poll saw the mount table change (a poll reports it only once).
    remount_pending: bool,
}

impl Wake for Weak<EventFd> {
    fn wake(&self) -> Result<(), Error> {
        match self.upgrade() {
            Some(fd) => fd.notify().map_err(|e| Error::io(None, io::Error::from(e))),
            None => Ok(()),
        }
    }
}

/// Most reads per `read_events` call while events keep arriving, so a storm
/// cannot keep one call busy forever.
const MAX_READS: usize = 64;

impl InotifyDriver {
    pub(crate) fn boxed(config: Config) -> Result<Box<dyn Driver>, Error> {
        let ino = Inotify::init().map_err(|e| to_error(e, Path::new("")))?;
        let buf = EventBuffer::new(EventBuffer::DEFAULT_LEN)
            .map_err(|e| Error::io(None, io::Error::from(e)))?;
        let wake = EventFd::new().map_err(|e| to_error(e, Path::new("")))?;
        Ok(Box::new(InotifyDriver {
            config,
            kernel: Kernel {
                ino,
                uses: HashMap::new(),
                epoch: 0,
                blocked: BTreeSet::new(),
                freed: false,
            },
            buf: Some(buf),
            roots: Vec::new(),
            root_ids: HashMap::new(),
            free_ids: Vec::new(),
            cookies_seen: HashSet::new(),
            cookies_expected: HashSet::new(),
            wake: Arc::new(wake),
            wakeable: AtomicBool::new(false),
            mounts: MountTable::open(),
            remount_pending: false,
        }))
    }

    fn root_index(&self, path: &Path) -> Option<usize> {
        self.root_ids.get(path).copied()
    }

    /// Reads and translates one batch of events. Without `block`, only if
    /// one is ready (`Ok(false)` if not); with it, waits for one. (The
    /// instance is blocking, so a blocking `read` costs one system call, the
    /// same as a raw read loop; readiness is checked with `poll(2)` first
    /// everywhere else.)
    fn read_batch(&mut self, out: &mut Emit<'_>, block: bool) -> Result<bool, Error> {
        if !block {
            let ready = self.ready(Some(Duration::ZERO))?;
            if self.remount_pending {
                self.remounted(out);
            }
            if !ready.events {
                return Ok(false);
            }
        }
        let mut buf = self.buf.take().unwrap_or_default();
        let result = match self.kernel.ino.read(&mut buf) {
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
                Ok(true)
            }
            Err(e) if e.is_would_block() => Ok(false),
            Err(e) => Err(Error::io(None, io::Error::from(e))),
        };
        self.buf = Some(buf);
        result
    }

    /// Nothing more is queued, so every path we hold is current: unpaired
    /// rename halves left the tree, and unverified entries can be rescanned.
    fn caught_up(&mut self, out: &mut Emit<'_>) {
        self.finish_moves(out);
        for root in self.roots.iter_mut().flatten() {
            root.settle(&mut self.kernel, &self.config, out);
            if root.unmounted {
                root.rescan(&mut self.kernel, &self.config, out);
            }
        }
        self.retry_blocked(out);
    }

    /// Once a watch was freed, watches the directories the limit refused,
    /// in path order, until the limit refuses one again (so a full table
    /// costs one failed `inotify_add_watch`). What a directory holds then
    /// is reported as created (origin Rescan), like a new directory's.
    fn retry_blocked(&mut self, out: &mut Emit<'_>) {
        if !std::mem::take(&mut self.kernel.freed) || self.kernel.blocked.is_empty() {
            return;
        }
        let mut blocked = std::mem::take(&mut self.kernel.blocked).into_iter();
        while let Some((id, rel)) = blocked.next() {
            let Some(root) = self.roots.get_mut(id).and_then(Option::as_mut) else {
                continue;
            };
            if root.retry_blocked(&mut self.kernel, &self.config, &rel, out) == Retry::Limit {
                self.kernel.blocked.insert((id, rel));
                self.kernel.blocked.extend(blocked);
                break;
            }
        }
    }

    /// Whether some root waits for the rest of a rename or has unverified
    /// entries, i.e. needs to see the queue empty before its view is final.
    fn unsettled(&self) -> bool {
        self.roots
            .iter()
            .flatten()
            .any(|r| !r.moves.is_empty() || r.dirty || r.unmounted)
    }

    /// Reads and translates what is queued without blocking (up to
    /// [`MAX_READS`] batches, or until something was emitted and no root is
    /// unsettled).
    fn drain(&mut self, out: &mut Emit<'_>) -> Result<(), Error> {
        for _ in 0..MAX_READS {
            if !self.read_batch(out, false)? {
                self.caught_up(out);
                return Ok(());
            }
            if out.out.len() > out.start && !self.unsettled() {
                return Ok(());
            }
        }
        Ok(())
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
            if ev.mask.contains(EventMask::CREATE) && self.cookies_expected.contains(name) {
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
                Use::Ancestor { root, .. } => {
                    // A directory above the path moved or went away: the
                    // name may lead elsewhere now. (Its entries' events,
                    // there when another use watches it fully, do not matter.)
                    if ev.name.is_none()
                        && ev.mask.intersects(
                            EventMask::MOVE_SELF | EventMask::DELETE_SELF | EventMask::UNMOUNT,
                        )
                        && let Some(r) = self.roots.get_mut(root).and_then(Option::as_mut)
                    {
                        r.refresh(&mut self.kernel, &self.config, None, out);
                    }
                    continue;
                }
                Use::Target { root } => {
                    if let Some(r) = self.roots.get_mut(root).and_then(Option::as_mut) {
                        let written = ev
                            .mask
                            .intersects(EventMask::MODIFY | EventMask::CLOSE_WRITE);
                        r.refresh(&mut self.kernel, &self.config, Some(written), out);
                        if self.config.close_notices && ev.mask.contains(EventMask::CLOSE_WRITE) {
                            r.closed(out);
                        }
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
        self.kernel.freed = true;
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
                        r.anchors.retain(|l| !(l.dir == dir && l.wd == wd));
                        r.refresh(&mut self.kernel, &self.config, None, out);
                    }
                }
                Use::Ancestor { root, dir } => {
                    if let Some(r) = self.roots.get_mut(root).and_then(Option::as_mut) {
                        r.ancestors.retain(|l| !(l.dir == dir && l.wd == wd));
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
        for root in self.roots.iter().flatten() {
            let is_dir = root.root_entry().is_some_and(|e| e.is_dir());
            out.out.push(Event::new(
                EventKind::Overflow,
                root.path.clone(),
                is_dir,
                Origin::Kernel,
            ));
        }
        for root in self.roots.iter_mut().flatten() {
            root.rescan(&mut self.kernel, &self.config, out);
        }
    }

    /// The mount table changed: every root whose path, or a directory along
    /// it or inside its tree, had a mount placed on it or removed is
    /// rescanned from its path (its watches are on what the path led to
    /// before), and the differences are reported with origin Rescan.
    fn remounted(&mut self, out: &mut Emit<'_>) {
        self.remount_pending = false;
        let Some(table) = self.mounts.as_mut() else {
            return;
        };
        let points = table.changes();
        if points.is_empty() {
            return;
        }
        for root in self.roots.iter_mut().flatten() {
            // Where the path leads now, by physical path (mount points are
            // physical): the path itself, or the directory that would hold it.
            let here = std::fs::canonicalize(&root.path).ok().or_else(|| {
                let (dir, _) = root.resolved.last()?;
                std::fs::canonicalize(dir).ok()
            });
            let hit = here.is_none_or(|here| points.iter().any(|p| mounts::affects(p, &here)));
            if hit {
                root.rescan(&mut self.kernel, &self.config, out);
            }
        }
    }

    /// Polls the instance, the waker and the mount table; remembers a mount
    /// table change, which a poll reports only once.
    fn ready(&mut self, timeout: Option<Duration>) -> Result<inotify::Readiness, Error> {
        let ready = self
            .kernel
            .ino
            .wait_for(
                Some(&self.wake),
                self.mounts.as_ref().map(MountTable::as_fd),
                timeout,
            )
            .map_err(|e| Error::io(None, io::Error::from(e)))?;
        self.remount_pending |= ready.priority;
        Ok(ready)
    }

    /// Writes one sync cookie and expects it. One is enough: the
    /// kernel queues all of an instance's events in one ordered queue, so
    /// the cookie's event comes after every event of every root caused
    /// before it. Tried in each root's own directory (the watched directory,
    /// or the one watched for a file), then in the other watched
    /// directories. None if no watched directory can hold one (read-only,
    /// no permission, vanished): sync then only drains what is queued.
    fn write_cookie(&mut self) -> Result<(), Error> {
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
                .flat_map(|r| r.anchors.iter().map(|l| l.dir.clone())),
        );
        let mut first_error = None;
        for dir in dirs {
            let name = cookie::fresh_name();
            match cookie::touch(&dir, &name) {
                Ok(_) => {
                    self.cookies_expected.insert(name);
                    return Ok(());
                }
                Err(e) if cookie::is_unwritable(&e) => {}
                Err(e) => {
                    first_error.get_or_insert(Error::io(dir, e));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Writes a cookie and processes events until one of this sync's
    /// cookies is seen: each was written after the call began, so seeing
    /// any of them means every earlier change has been processed. When the
    /// watches move meanwhile (overflow rescan, a swapped symlink) a cookie
    /// may have gone unseen, so another one is written.
    fn sync_inner(&mut self, out: &mut Emit<'_>, deadline: Instant) -> Result<(), Error> {
        // Watches may have been freed where we cannot see it (another
        // process, a raised limit): try the blocked directories again.
        self.kernel.freed = true;
        let mut epoch = self.kernel.epoch;
        self.write_cookie()?;
        loop {
            self.drain(out)?;
            if !self.cookies_seen.is_empty() || self.cookies_expected.is_empty() {
                // Everything before the cookie is processed: paths are current.
                self.caught_up(out);
                return Ok(());
            }
            if self.kernel.epoch != epoch {
                epoch = self.kernel.epoch;
                self.write_cookie()?;
                continue;
            }
            if !self.wait(Some(deadline))? {
                return Err(Error::SyncTimeout {
                    waited: Default::default(),
                });
            }
        }
    }

    /// Like [`wait`](Self::wait), also ending when woken: `None` on timeout
    /// or wake-up (which is consumed), else whether events are queued (if
    /// not, the mount table changed).
    fn wait_or_woken(&mut self, deadline: Option<Instant>) -> Result<Option<bool>, Error> {
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let ready = self.ready(timeout)?;
        if ready.woken {
            self.wake
                .reset()
                .map_err(|e| Error::io(None, io::Error::from(e)))?;
            return Ok(None);
        }
        Ok((ready.events || ready.priority).then_some(ready.events))
    }

    /// Waits until events are queued or the mount table changed: `false` on
    /// timeout.
    fn wait(&mut self, deadline: Option<Instant>) -> Result<bool, Error> {
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
        let ready = self.ready(timeout)?;
        Ok(ready.events || ready.priority)
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
        let id = self.free_ids.pop().unwrap_or(self.roots.len());
        let mut root = Root {
            id,
            path: path.to_path_buf(),
            mode,
            resolved: Resolved::default(),
            anchors: Vec::new(),
            ancestors: Vec::new(),
            dirs: BTreeMap::new(),
            snapshot: Snapshot::default(),
            moves: Vec::new(),
            dirty: false,
            unmounted: false,
            fresh: Vec::new(),
            target: None,
        };
        match root.rebuild(&mut self.kernel, &self.config, out, false) {
            Ok(snap) => {
                root.snapshot = snap;
                self.root_ids.insert(root.path.clone(), id);
                if id == self.roots.len() {
                    self.roots.push(Some(root));
                } else {
                    self.roots[id] = Some(root);
                }
                Ok(())
            }
            Err(e) => {
                root.release(&mut self.kernel);
                if id < self.roots.len() {
                    self.free_ids.push(id);
                }
                Err(e)
            }
        }
    }

    fn remove_root(&mut self, path: &Path) -> Result<(), Error> {
        let Some(i) = self.root_ids.remove(path) else {
            return Err(Error::NotWatched {
                path: path.to_path_buf(),
            });
        };
        if let Some(mut root) = self.roots[i].take() {
            root.release(&mut self.kernel);
        }
        self.free_ids.push(i);
        Ok(())
    }

    fn read_events(
        &mut self,
        out: &mut Vec<Event>,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let start = out.len();
        let mut emit = Emit { out, start };
        // With a waker or the mount table to watch too, a blocking read
        // polls first (one more system call per wake-up).
        let polled = self.wakeable.load(Ordering::Relaxed) || self.mounts.is_some();
        loop {
            self.drain(&mut emit)?;
            if emit.out.len() > start {
                return Ok(());
            }
            if polled {
                if deadline.is_some_and(|d| d <= Instant::now()) {
                    // A read that cannot wait leaves a pending wake-up to
                    // the next read that can (which it is meant to end).
                    return Ok(());
                }
                match self.wait_or_woken(deadline)? {
                    None => return Ok(()),
                    // Only the mount table: `drain` rescans what it affects.
                    Some(false) => continue,
                    Some(true) => {}
                }
                if self.remount_pending {
                    continue;
                }
                // Readable: this read does not block.
                self.read_batch(&mut emit, true)?;
                if emit.out.len() > start && !self.unsettled() {
                    return Ok(());
                }
                continue;
            }
            match deadline {
                None => {
                    self.read_batch(&mut emit, true)?;
                    if emit.out.len() > start && !self.unsettled() {
                        return Ok(());
                    }
                }
                Some(_) => {
                    if !self.wait(deadline)? {
                        return Ok(());
                    }
                }
            }
        }
    }

    fn sync(&mut self, out: &mut Vec<Event>, deadline: Instant) -> Result<(), Error> {
        let start = out.len();
        let mut emit = Emit { out, start };
        let result = self.sync_inner(&mut emit, deadline);
        self.cookies_expected.clear();
        self.cookies_seen.clear();
        result
    }

    fn watch_count(&self) -> usize {
        self.kernel.uses.len()
    }

    fn waker(&self) -> Waker {
        self.wakeable.store(true, Ordering::Relaxed);
        Waker::new(Arc::new(Arc::downgrade(&self.wake)))
    }

    fn as_fd(&self) -> BorrowedFd<'_> {
        self.kernel.ino.as_fd()
    }
}
