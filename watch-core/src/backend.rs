//! The interface every backend implements (inotify, poll, and kqueue).
//!
//! A backend is a [`Driver`]: it owns its kernel object (or none, for poll),
//! tracks the watched roots, and turns notifications into [`Event`]s. The
//! [`Watcher`](crate::Watcher) owns one boxed driver and a queue of events
//! already produced but not yet handed to the user.
//!
//! Adding a backend (e.g. kqueue in `kqueue_backend/`):
//! 1. implement [`Driver`] on a type in its own module, `cfg`-gated to the
//!    targets that have the kernel API;
//! 2. construct it in `Watcher::with_config` for its [`Backend`] value and
//!    make [`Backend::is_available`] / [`Backend::platform_default`] say so.
//!
//! Shared machinery a driver should reuse rather than rewrite:
//! - [`crate::root_layer`]: for a kernel backend, everything about a watched root
//!   (following its name, its tree of watches, refresh, rescans, cookies,
//!   the roots table). The backend implements `root_layer::WatchTable` (arm a
//!   watch for a role, release it, re-path it) and translates its kernel
//!   records into calls on `root_layer::Root`;
//! - [`crate::scan`]: lstat-based tree scan with excludes, symlink policy,
//!   loop detection and permission-denied reporting; the scan calls a
//!   `visit_dir` hook *before* reading each directory, which is where a kernel
//!   backend arms its watch (so nothing created during the scan is missed);
//! - [`crate::resolve`]: follows a user path by name through symlink chains
//!   and reports which (directory, name) pairs it consulted and every real
//!   directory it walked through with its (device, inode);
//! - [`crate::snapshot`]: the per-root view (relative path -> entry) with
//!   subtree removal and re-pathing;
//! - [`crate::diff`]: turns two snapshots into events (overflow recovery,
//!   polling, a kqueue `NOTE_WRITE` on a directory);
//! - [`crate::cookie`]: the sync cookie names, which drivers must drop.
//!
//! The inotify driver (`inotify_backend/`): `kernel.rs` (instance, watch
//! uses, its `WatchTable`), `translate.rs` (records into root operations,
//! rename pairing), `mounts.rs`, `mod.rs` (reading, overflow recovery,
//! sync). The kqueue driver (`kqueue_backend/`): `fds.rs` (descriptors,
//! budget, its `WatchTable`), `translate.rs` (notes into root operations),
//! `listing.rs` (ordering a listing's differences), `mod.rs` (driver).

use std::os::fd::BorrowedFd;
use std::path::Path;
use std::time::Instant;

use crate::{Backend, Error, Event, EventBuf, RecursiveMode, Waker};

/// One backend's implementation. Every method may be called while events are
/// flowing; none may panic on what the kernel or the filesystem returns.
pub(crate) trait Driver: Send {
    /// Which backend this is.
    fn kind(&self) -> Backend;

    /// Starts watching `path` (as the user named it). A path that does not
    /// exist yet is not an error: its appearance is reported as `Created`.
    /// Notices about skipped subtrees are appended to `out`.
    fn add_root(
        &mut self,
        path: &Path,
        mode: RecursiveMode,
        out: &mut Vec<Event>,
    ) -> Result<(), Error>;

    /// Like `add_root`, on `backend`: the driver's own kind, or (for the
    /// per-root wrapper) poll. Other drivers refuse any other backend.
    fn add_root_on(
        &mut self,
        path: &Path,
        mode: RecursiveMode,
        backend: Backend,
        out: &mut Vec<Event>,
    ) -> Result<(), Error> {
        if backend == self.kind() {
            self.add_root(path, mode, out)
        } else {
            Err(Error::Unsupported {
                backend,
                reason: "a root can use the watcher's own backend or poll",
            })
        }
    }

    /// The backend watching the root `path` (the driver's own kind unless
    /// the per-root wrapper polls it).
    fn root_backend(&self, path: &Path) -> Backend {
        let _ = path;
        self.kind()
    }

    /// Stops watching `path` (exactly as given to `add_root`) and releases
    /// its kernel resources. `Error::NotWatched` if it is not a root.
    fn remove_root(&mut self, path: &Path) -> Result<(), Error>;

    /// Appends available events to `out`. When none is available, waits until
    /// one is, `deadline` passes (`None`: wait forever; a past deadline:
    /// never wait) or a [`Waker`] wakes it (a wake before the call counts;
    /// returning events leaves a wake pending). Cookie files are never
    /// reported.
    fn read_events(&mut self, out: &mut Vec<Event>, deadline: Option<Instant>)
    -> Result<(), Error>;

    /// [`read_events`](Driver::read_events) into an [`EventBuf`]: the same
    /// events. This default reads them as owned events and copies their
    /// paths over; a backend whose events are many (inotify) writes them
    /// into the buffer directly.
    fn read_events_into(
        &mut self,
        out: &mut EventBuf,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        read_owned_into(self, out, deadline)
    }

    /// Returns once every change made before the call has been appended to
    /// `out` (kernel backends: cookie files; poll: a forced scan), or
    /// `Error::SyncTimeout` at `deadline`.
    fn sync(&mut self, out: &mut Vec<Event>, deadline: Instant) -> Result<(), Error>;

    /// Kernel watches or file descriptors currently held.
    fn watch_count(&self) -> usize;

    /// When `read_events` will next look for changes by itself (poll: the
    /// next scan); `None` when the descriptor says it all.
    fn next_scan(&self) -> Option<Instant> {
        None
    }

    /// A handle that ends the current or next `read_events` wait.
    fn waker(&self) -> Waker;

    /// A descriptor that polls readable when `read_events` has something.
    fn as_fd(&self) -> BorrowedFd<'_>;

    /// Told after each `read`/`sync` whether the watcher still queues events
    /// for the user, so a driver whose fd is not a kernel queue (poll) can
    /// keep it readable exactly while that is true.
    fn queued_for_user(&mut self, queued: bool) {
        let _ = queued;
    }
}

/// `driver`'s [`read_events`](Driver::read_events), its events moved into
/// `out` (their paths copied; errors as `read_events` leaves them).
pub(crate) fn read_owned_into<D: Driver + ?Sized>(
    driver: &mut D,
    out: &mut EventBuf,
    deadline: Option<Instant>,
) -> Result<(), Error> {
    let mut events = Vec::new();
    let result = driver.read_events(&mut events, deadline);
    for event in events {
        out.push(event);
    }
    result
}
