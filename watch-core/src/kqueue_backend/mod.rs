//! The kqueue backend (FreeBSD, OpenBSD, NetBSD, DragonFly, macOS; Linux
//! through libkqueue with the `libkqueue` feature).
//!
//! kqueue reports changes per open vnode, without names, so:
//! - every watched directory is an open descriptor registered for its notes;
//!   `NOTE_WRITE` on a directory means an entry was added, removed or
//!   renamed, and the directory is listed again and diffed against the
//!   snapshot ([`crate::diff`]), which yields created / removed / renamed
//!   (directories dirtied by the same batch of kernel events are diffed
//!   together, so a rename between them is recognised);
//! - regular files get a descriptor of their own, so that writes and
//!   attribute changes are seen, while the descriptor budget allows
//!   ([`Config::fd_budget`], default half of `RLIMIT_NOFILE`). Files are the
//!   first to go: past three quarters of the budget they are watched at
//!   directory level only (a `Skipped` / `FdBudget` notice for the root,
//!   said once while any of its files waits, and again when the budget
//!   refuses files after all had their descriptor); past the budget,
//!   directories are skipped with the same notice, one per directory.
//!   Running out of descriptors degrades, it never fails: as soon as
//!   descriptors are released (or at the next `sync`), the skipped
//!   directories are watched first (and what they hold reported), then the
//!   waiting files get their descriptor, in path order (a change made to
//!   one meanwhile reported as modified);
//! - a root path is followed by name like on inotify: the directories
//!   consulted when resolving it are watched (anchors), any change there
//!   re-resolves it, and a file root's target has its own descriptor; the
//!   other real directories above it (ancestors) hold a descriptor
//!   registered for `NOTE_DELETE`/`NOTE_RENAME`/`NOTE_REVOKE` only, within
//!   the files' share of the budget and only while none of the root's tree
//!   directories waits for one; an anchor or ancestor whose path now leads
//!   to another directory is opened again there. Mounts are not noticed;
//! - `sync` writes a cookie file in a watched directory and waits for that
//!   directory's note: knotes are activated while the change is being made
//!   and returned in activation order, so everything before it is seen.
//!
//! The kqueue descriptor itself is what [`Driver::as_fd`] returns; it polls
//! readable on the BSDs and macOS (not with libkqueue, whose descriptor
//! never reports readiness to poll(2)).

mod fds;
mod listing;
#[cfg(test)]
mod tests;
mod translate;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use kqueue::{Change, Filter, Kqueue, RawEvent, Token, UserTrigger, VnodeEvents};

use crate::backend::Driver;
use crate::root_layer::{Emit, Role, Roots, retry_blocked, write_cookie};
use crate::waker::Wake;
use crate::{Backend, Config, Error, Event, RecursiveMode, Waker};
use fds::{Armed, Fds};
use translate::{Root, Work};

/// Budget when `RLIMIT_NOFILE` is unlimited or unreadable.
const DEFAULT_BUDGET: usize = 4096;
/// Events read per `kevent()` call.
const EVENTS_PER_READ: usize = 256;
/// Most reads per drain while events keep arriving.
const MAX_READS: usize = 64;
/// The `EVFILT_USER` event that [`Waker`]s fire, and its token (no slot
/// has it: slots are indices).
const WAKE_IDENT: usize = 1;
const WAKE_TOKEN: Token = Token(usize::MAX);

impl Wake for UserTrigger {
    fn wake(&self) -> Result<(), Error> {
        self.fire()
            .map(drop)
            .map_err(|e| Error::io(None, std::io::Error::from(e)))
    }
}

pub(crate) struct KqueueDriver {
    config: Config,
    fds: Fds,
    roots: Roots<Root>,
    buf: Vec<RawEvent>,
    /// Tokens (as filled then) that produced an event since the last `sync` began.
    seen: HashSet<Armed>,
    /// A waker fired and no `read_events` has returned for it yet.
    woken: bool,
}

impl KqueueDriver {
    pub(crate) fn boxed(config: Config) -> Result<Box<dyn Driver>, Error> {
        let kq = Kqueue::new().map_err(|e| match e.kind() {
            kqueue::ErrorKind::FdLimit | kqueue::ErrorKind::SystemFdLimit => {
                Error::FdLimit { path: None }
            }
            _ => Error::io(None, std::io::Error::from(e)),
        })?;
        kq.apply_one(Change::user(WAKE_IDENT, WAKE_TOKEN))
            .map_err(|e| Error::io(None, std::io::Error::from(e)))?;
        let budget = config.fd_budget.unwrap_or_else(|| {
            kqueue::fd_limit()
                .and_then(|n| usize::try_from(n / 2).ok())
                .unwrap_or(DEFAULT_BUDGET)
                .max(8)
        });
        Ok(Box::new(KqueueDriver {
            config,
            fds: Fds {
                kq,
                slots: Vec::new(),
                free: Vec::new(),
                open: 0,
                budget,
                serial: 0,
                blocked: BTreeSet::new(),
                freed: false,
            },
            roots: Roots::default(),
            buf: Vec::with_capacity(EVENTS_PER_READ),
            seen: HashSet::new(),
            woken: false,
        }))
    }

    /// Waits up to `timeout` for events and handles them; returns whether
    /// there were any.
    fn read_once(
        &mut self,
        timeout: Option<Duration>,
        out: &mut Vec<Event>,
    ) -> Result<bool, Error> {
        self.buf.clear();
        let n = self
            .fds
            .kq
            .wait(&mut self.buf, timeout)
            .map_err(|e| Error::io(None, std::io::Error::from(e)))?;
        if n == 0 {
            return Ok(false);
        }
        let mut work: HashMap<usize, Work> = HashMap::new();
        for ev in self.buf.iter().map(RawEvent::decode) {
            if ev.filter() == Filter::User && ev.token() == WAKE_TOKEN {
                self.woken = true;
                continue;
            }
            let token = ev.token().0;
            let Some(Some(slot)) = self.fds.slots.get(token) else {
                continue; // released since
            };
            self.seen.insert((token, slot.serial));
            let Some(notes) = ev.vnode() else { continue };
            let w = work.entry(slot.root).or_default();
            let wrote = notes.intersects(VnodeEvents::WRITE | VnodeEvents::EXTEND);
            let attrib = notes.contains(VnodeEvents::ATTRIB);
            let gone = notes.intersects(VnodeEvents::DELETE | VnodeEvents::RENAME)
                || notes.bits() & 0x40 != 0; // NOTE_REVOKE where it exists
            match &slot.role {
                Role::Anchor(_) | Role::Ancestor(_) => {
                    w.refresh.get_or_insert(false);
                }
                Role::Target => {
                    let target = w.target.get_or_insert(false);
                    *target |= wrote;
                }
                Role::Tree(rel) => {
                    if wrote || notes.contains(VnodeEvents::LINK) {
                        w.dirty.insert(rel.to_path_buf());
                    }
                    if attrib {
                        w.attrib.insert((token, slot.serial));
                    }
                    if gone {
                        match rel.parent() {
                            Some(parent) => {
                                w.dirty.insert(parent.to_path_buf());
                            }
                            None => {
                                w.refresh.get_or_insert(false);
                            }
                        }
                    }
                }
                Role::File(rel) => {
                    if wrote {
                        w.written.insert((token, slot.serial));
                    }
                    if attrib {
                        w.attrib.insert((token, slot.serial));
                    }
                    if gone || notes.contains(VnodeEvents::LINK) {
                        w.dirty
                            .insert(rel.parent().unwrap_or(Path::new("")).to_path_buf());
                    }
                }
            }
        }
        let mut ids: Vec<usize> = work.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(w) = work.remove(&id) else { continue };
            if let Some(root) = self.roots.get_mut(id) {
                root.apply(&mut self.fds, &self.config, w, &mut Emit::new(&mut *out));
            }
        }
        Ok(true)
    }

    /// Handles everything already queued, without waiting; then, with
    /// every path current, retries what the budget refused.
    fn drain(&mut self, out: &mut Vec<Event>) -> Result<(), Error> {
        for _ in 0..MAX_READS {
            if !self.read_once(Some(Duration::ZERO), out)? {
                break;
            }
        }
        let out = &mut Emit::new(&mut *out);
        for root in self.roots.iter_mut() {
            root.settle(&mut self.fds, &self.config, out);
        }
        retry_blocked(&mut self.fds, &mut self.roots, &self.config, out);
        Ok(())
    }

    /// Writes one sync cookie; returns the token (as filled now) of the
    /// directory that sees it.
    fn write_cookie(&self) -> Result<Option<Armed>, Error> {
        Ok(write_cookie(&self.roots)?.and_then(|(_, token)| self.fds.armed(token)))
    }
}

impl Driver for KqueueDriver {
    fn kind(&self) -> Backend {
        Backend::Kqueue
    }

    fn remove_root(&mut self, path: &Path) -> Result<(), Error> {
        self.roots.unwatch(&mut self.fds, path)
    }

    fn add_root(&mut self, p: &Path, m: RecursiveMode, out: &mut Vec<Event>) -> Result<(), Error> {
        self.roots.watch(&mut self.fds, &self.config, p, m, out)
    }

    fn read_events(
        &mut self,
        out: &mut Vec<Event>,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let start = out.len();
        loop {
            self.drain(out)?;
            if out.len() > start {
                return Ok(());
            }
            // A read that may not wait leaves a wake for one that would.
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        return Ok(());
                    }
                    Some(d - now)
                }
            };
            if std::mem::take(&mut self.woken) {
                return Ok(());
            }
            // kevent() returning nothing before the deadline (libkqueue
            // does, after a note it filters out) is no timeout: the loop
            // waits again for what is left.
            self.read_once(timeout, out)?;
            if out.len() > start || std::mem::take(&mut self.woken) {
                return Ok(());
            }
        }
    }

    /// Writes a cookie and handles events until its directory's note is
    /// seen. When that descriptor is released meanwhile (its path now leads
    /// elsewhere: a swapped symlink, a replaced root), the cookie may have
    /// gone where nothing sees it, so another one is written.
    fn sync(&mut self, out: &mut Vec<Event>, deadline: Instant) -> Result<(), Error> {
        self.seen.clear();
        // Descriptors may have been freed where the budget cannot see it
        // (closed elsewhere in the process, a raised limit): try again.
        self.fds.freed = true;
        let mut cookie = self.write_cookie()?;
        loop {
            self.drain(out)?;
            let Some((token, serial)) = cookie else {
                return Ok(());
            };
            if self.seen.contains(&(token, serial)) {
                return Ok(());
            }
            let now = Instant::now();
            if deadline <= now {
                return Err(Error::SyncTimeout {
                    waited: Duration::default(),
                });
            }
            if self.fds.armed(token) != Some((token, serial)) {
                cookie = self.write_cookie()?;
            } else {
                // No event is no timeout yet: libkqueue's kevent() can
                // return none early. The deadline is checked above.
                self.read_once(Some(deadline - now), out)?;
            }
        }
    }

    fn watch_count(&self) -> usize {
        self.fds.open
    }

    fn waker(&self) -> Waker {
        Waker::new(std::sync::Arc::new(
            self.fds.kq.user_trigger(WAKE_IDENT, WAKE_TOKEN),
        ))
    }

    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fds.kq.as_fd()
    }
}
