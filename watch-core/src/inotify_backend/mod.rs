//! The inotify backend (Linux, Android).
//!
//! One non-blocking inotify instance. Every watched directory has one kernel
//! watch, shared by all the roots that need it (a wd maps to its [`Use`]s:
//! a root and a [`Role`]). The roots themselves (name chain, tree,
//! snapshot, refresh, rescans) are the shared [`crate::root_layer`] layer; this
//! backend implements its `WatchTable` (`kernel.rs`) and translates each
//! record into root operations (`translate.rs`, renames in `moves.rs`): a
//! tree directory's entries appearing, going away or moving (renames
//! paired by cookie), a consulted name changing (anchors), a directory
//! above the path renamed or deleted (ancestors, watched only for
//! `IN_MOVE_SELF`/`IN_DELETE_SELF`/`IN_UNMOUNT`), and the target file's own
//! inode watch.
//!
//! The instance is polled together with the [`Waker`]'s eventfd and
//! `/proc/self/mountinfo` (`POLLPRI` when the mount table changes); a
//! mount placed over or removed from a directory along a root's path or in
//! its tree rescans that root ([`Root::rescan`]), as an overflow does. A
//! read that waits forever on a watcher that never made a waker is one
//! bare `read(2)` instead (see `read_events`): there the mount table is
//! looked at before the wait, not during it.

mod kernel;
mod links;
mod mounts;
mod moves;
#[cfg(test)]
mod tests;
mod translate;
mod wait;

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use inotify::{EventBuffer, EventFd, EventMask, Inotify, WatchEvent};

use crate::backend::Driver;
use crate::cookie;
use crate::event_buf::sink::Sink;
use crate::root_layer::{Emit, Role, Roots, retry_blocked};
use crate::snapshot::listed_since;
use crate::waker::Wake;
use crate::{Backend, Config, Error, Event, EventBuf, EventKind, Origin, RecursiveMode, Waker};
use kernel::{Kernel, Use, Users, Wd, to_error};
use mounts::MountTable;

/// A root as this backend keeps it.
type Root = crate::root_layer::Root<Kernel>;

pub(crate) struct InotifyDriver {
    config: Config,
    kernel: Kernel,
    buf: Option<EventBuffer>,
    roots: Roots<Root>,
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
    /// The uses of the watch an event is for, while it is handled.
    users_buf: Vec<Use>,
    /// Whether some root may hold a rename half (a MOVED_FROM was handled
    /// since [`finish_moves`](Self::finish_moves) last emptied them all):
    /// when not, no root is looked at before a record.
    moves_pending: bool,
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
        Ok(Box::new(InotifyDriver::new(config)?))
    }

    fn new(config: Config) -> Result<InotifyDriver, Error> {
        let ino = Inotify::init().map_err(|e| to_error(e, Path::new("")))?;
        let buf = EventBuffer::new(EventBuffer::DEFAULT_LEN)
            .map_err(|e| Error::io(None, io::Error::from(e)))?;
        let wake = EventFd::new().map_err(|e| to_error(e, Path::new("")))?;
        Ok(InotifyDriver {
            config,
            kernel: Kernel {
                ino,
                uses: Default::default(),
                epoch: 0,
                blocked: BTreeSet::new(),
                freed: false,
                quiet: listed_since(),
                links: Default::default(),
                contents: Default::default(),
                spare_sets: Vec::new(),
            },
            buf: Some(buf),
            roots: Roots::default(),
            cookies_seen: HashSet::new(),
            cookies_expected: HashSet::new(),
            wake: Arc::new(wake),
            wakeable: AtomicBool::new(false),
            mounts: MountTable::open(),
            remount_pending: false,
            users_buf: Vec::new(),
            moves_pending: false,
        })
    }

    /// Reads and translates one batch of events. Without `block`, only if
    /// one is ready (`Ok(false)` if not); with it, waits for one. (The
    /// instance is blocking, so a blocking `read` costs one system call, the
    /// same as a raw read loop; readiness is checked with `poll(2)` first
    /// everywhere else.)
    fn read_batch(&mut self, out: &mut Emit<'_>, block: bool) -> Result<bool, Error> {
        if !block {
            let before = listed_since();
            let ready = self.ready(Some(Duration::ZERO))?;
            if self.remount_pending {
                self.remounted(out);
            }
            if !ready.events {
                self.kernel.quiet = before;
                return Ok(false);
            }
        }
        let mut buf = self.buf.take().unwrap_or_default();
        let result = match self.kernel.ino.read(&mut buf) {
            Ok(events) => {
                // The creation of a file every root of its watch announced,
                // if it was the record just handled: (watch, name).
                let mut announced = None;
                for event in events {
                    // Matched in place: the record is not copied again.
                    match &event {
                        Ok(inotify::Event::Watch(ev)) => {
                            let fresh = announced
                                .take()
                                .is_some_and(|(wd, name)| wd == ev.wd && ev.name == Some(name));
                            if self.handle(ev, fresh, out) {
                                announced = ev.name.map(|name| (ev.wd, name));
                            }
                        }
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
    /// rename halves left the tree, and unverified entries can be rescanned;
    /// then directories the watch limit refused are tried again.
    fn caught_up(&mut self, out: &mut Emit<'_>) {
        self.finish_moves(out);
        for root in self.roots.iter_mut() {
            root.settle(&mut self.kernel, &self.config, out);
            if root.state.unmounted {
                rescan(root, &mut self.kernel, &self.config, out);
            }
            // Every change before the queue was last seen empty is handled.
            if !root.dirty && root.state.moves.is_empty() {
                root.snapshot.confirm(self.kernel.quiet);
            }
        }
        retry_blocked(&mut self.kernel, &mut self.roots, &self.config, out);
    }

    /// Whether some root waits for the rest of a rename or has unverified
    /// entries, i.e. needs to see the queue empty before its view is final.
    fn unsettled(&self) -> bool {
        self.roots
            .iter()
            .any(|r| !r.state.moves.is_empty() || r.dirty || r.state.unmounted)
    }

    /// [`Driver::read_events`] into either sink.
    fn read_into(&mut self, mut emit: Emit<'_>, deadline: Option<Instant>) -> Result<(), Error> {
        // With a waker, a blocking read polls the instance with its eventfd
        // and the mount table before reading (one more system call per
        // wake-up; on two idle cores the poll added about 15% to a wake-up's
        // latency).
        // Without one, a read that waits forever is a bare `read(2)`, as
        // fast as a raw read loop; the mount table is then looked at (with
        // the instance, without waiting) each time `drain` runs: at the
        // start of every `read` and `sync` and after each batch, so a
        // mount change alone does not end such a wait (the next event or
        // call reports it). A read with a deadline polls it too.
        let polled =
            self.wakeable.load(Ordering::Relaxed) || (self.mounts.is_some() && deadline.is_some());
        loop {
            self.drain(&mut emit)?;
            if emit.appended() {
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
                if emit.appended() && !self.unsettled() {
                    return Ok(());
                }
                continue;
            }
            match deadline {
                None => {
                    self.read_batch(&mut emit, true)?;
                    if emit.appended() && !self.unsettled() {
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

    /// Reads and translates what is queued without blocking (up to
    /// [`MAX_READS`] batches, or until something was emitted and no root is
    /// unsettled).
    fn drain(&mut self, out: &mut Emit<'_>) -> Result<(), Error> {
        for _ in 0..MAX_READS {
            if !self.read_batch(out, false)? {
                self.caught_up(out);
                return Ok(());
            }
            if out.appended() && !self.unsettled() {
                return Ok(());
            }
        }
        Ok(())
    }

    fn finish_moves(&mut self, out: &mut Emit<'_>) {
        // Most records come with no rename half waiting anywhere: then not
        // one root is looked at (each record would otherwise cost a look
        // at every root, as each IN_IGNORED of an unwatched root did).
        if !self.moves_pending {
            return;
        }
        self.moves_pending = false;
        for root in self.roots.iter_mut() {
            // Looked at here, before nearly every record: most times no
            // rename half waits, and no call is made.
            if !root.state.moves.is_empty() {
                root.finish_moves(&mut self.kernel, out);
            }
        }
    }

    /// Translates one record for every use of its watch. `fresh`: the
    /// record just handled was the creation of the same name on the same
    /// watch, announced by every root using it (see
    /// [`Root::tree_event`]); returns whether this record is such a
    /// creation.
    fn handle(&mut self, ev: &WatchEvent<'_>, fresh: bool, out: &mut Emit<'_>) -> bool {
        // A MOVED_TO follows its MOVED_FROM directly; anything else means
        // the entry left the watched scope.
        let pairs = ev.mask.contains(EventMask::MOVED_TO)
            && self.moves_pending
            && self
                .roots
                .iter()
                .any(|r| r.state.moves.iter().any(|(c, _, _)| *c == ev.cookie));
        if !pairs {
            self.finish_moves(out);
        }
        // A root may keep this record's rename half (see `tree_event`).
        self.moves_pending |= ev.mask.contains(EventMask::MOVED_FROM);
        if let Some(name) = ev.name
            && cookie::is_cookie(name)
        {
            if ev.mask.contains(EventMask::CREATE) && self.cookies_expected.contains(name) {
                self.cookies_seen.insert(name.to_os_string());
            }
            return false;
        }
        if ev.mask.contains(EventMask::IGNORED) {
            self.forget(ev.wd.into(), out);
            return false;
        }
        // The two records of each file a burst creates in a directory with
        // one use: handled with the use borrowed in place, as neither arms
        // nor releases a watch.
        if let Some(Users::One(user)) = self.kernel.uses.get(&ev.wd.into())
            && let Some((id, dir)) = user.tree()
            && let Some(root) = self.roots.get_mut(id)
            && let Some(announced) =
                root.tree_burst(&self.kernel, &self.config, dir, ev, fresh, out)
        {
            return announced;
        }
        // The uses are copied (handling may arm and release watches) into
        // a buffer kept across events: one event, no allocation for them.
        let mut users = std::mem::take(&mut self.users_buf);
        match self.kernel.uses.get(&ev.wd.into()) {
            Some(uses) => uses.copy_into(&mut users),
            None => {
                self.users_buf = users;
                return false;
            }
        }
        let mut announced = !users.is_empty();
        // Borrowed in place (not drained): the buffer is cleared once after.
        for Use { root: id, role } in &users {
            let Some(root) = self.roots.get_mut(*id) else {
                announced = false;
                continue;
            };
            let (k, config) = (&mut self.kernel, &self.config);
            match role {
                Role::Tree(rel) => {
                    announced &= root.tree_event(k, config, rel, ev, fresh, out);
                    continue;
                }
                Role::Anchor(dir) => root.anchor_event(k, config, dir, ev, out),
                Role::Ancestor(_) => {
                    // A directory above the path moved or went away: the
                    // name may lead elsewhere now. (Its entries' events,
                    // there when another use watches it fully, do not matter.)
                    if ev.name.is_none()
                        && ev.mask.intersects(
                            EventMask::MOVE_SELF | EventMask::DELETE_SELF | EventMask::UNMOUNT,
                        )
                    {
                        root.refresh(k, config, false, out);
                    }
                }
                Role::Target => {
                    let written = ev
                        .mask
                        .intersects(EventMask::MODIFY | EventMask::CLOSE_WRITE);
                    let look = ev
                        .mask
                        .intersects(EventMask::CLOSE_WRITE | EventMask::ATTRIB);
                    root.target_event(k, config, written, look, out);
                    if config.close_notices && ev.mask.contains(EventMask::CLOSE_WRITE) {
                        root.closed(out);
                    }
                }
                Role::File(_) => {}
            }
            announced = false;
        }
        users.clear();
        self.users_buf = users;
        announced
    }

    /// The kernel dropped a watch (its directory is gone or unmounted).
    fn forget(&mut self, wd: Wd, out: &mut Emit<'_>) {
        let Some(users) = self.kernel.uses.remove(&wd) else {
            return;
        };
        self.kernel.links.released(wd);
        self.kernel.contents.remove(&wd);
        self.kernel.freed = true;
        for Use { root: id, role } in users {
            let Some(r) = self.roots.get_mut(id) else {
                continue;
            };
            match role {
                Role::Tree(rel) => {
                    if r.dirs.get(&rel) == Some(&wd) {
                        r.dirs.remove(&rel);
                    }
                    if !rel.as_os_str().is_empty() {
                        continue;
                    }
                }
                Role::Anchor(dir) => r.anchors.retain(|l| !(*l.dir == *dir && l.handle == wd)),
                Role::Ancestor(dir) => r.ancestors.retain(|l| !(*l.dir == *dir && l.handle == wd)),
                Role::Target => {
                    if r.target.is_some_and(|(_, _, w)| w == wd) {
                        r.target = None;
                    }
                }
                Role::File(_) => continue,
            }
            r.refresh(&mut self.kernel, &self.config, false, out);
        }
    }

    /// Queue overflow: say so for every root, rescan, re-arm, report the
    /// differences from the last known state.
    fn recover(&mut self, out: &mut Emit<'_>) {
        for root in self.roots.iter() {
            let is_dir = root.root_entry().is_some_and(|e| e.is_dir());
            out.out.push(Event::new(
                EventKind::Overflow,
                root.path.clone(),
                is_dir,
                Origin::Kernel,
            ));
        }
        for root in self.roots.iter_mut() {
            rescan(root, &mut self.kernel, &self.config, out);
        }
    }
}

impl Driver for InotifyDriver {
    fn kind(&self) -> Backend {
        Backend::Inotify
    }

    fn add_root(&mut self, p: &Path, m: RecursiveMode, out: &mut Vec<Event>) -> Result<(), Error> {
        self.roots.watch(&mut self.kernel, &self.config, p, m, out)
    }

    fn remove_root(&mut self, path: &Path) -> Result<(), Error> {
        self.roots.unwatch(&mut self.kernel, path)
    }

    fn read_events(
        &mut self,
        out: &mut Vec<Event>,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        self.read_into(Emit::new(out), deadline)
    }

    fn read_events_into(
        &mut self,
        out: &mut EventBuf,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        self.read_into(Emit::new(Sink::Buf(out)), deadline)
    }

    fn sync(&mut self, out: &mut Vec<Event>, deadline: Instant) -> Result<(), Error> {
        let mut emit = Emit::new(out);
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

/// Rescans `root` from its path (after lost events or a mount change),
/// forgetting rename halves and any unmount seen below it.
fn rescan(root: &mut Root, k: &mut Kernel, config: &Config, out: &mut Emit<'_>) {
    root.state.moves.clear();
    root.state.unmounted = false;
    root.rescan(k, config, out);
}
