//! The public [`Watcher`]: one backend driver plus the queue of events that
//! were produced (by `watch` or `sync`) but not yet read.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::backend::Driver;
use crate::event_buf::sink::Sink;
use crate::per_root::PerRootDriver;
use crate::{
    Backend, BackendChoice, Config, DebouncedWatcher, Error, Event, EventSink, RecursiveMode,
    RootBackend, Waker,
};

/// Watches files and directories and reports their changes as [`Event`]s.
///
/// No thread is started: events are produced when [`read`](Watcher::read) or
/// [`sync`](Watcher::sync) is called. For an event loop, poll the descriptor
/// from [`AsFd`] / [`AsRawFd`] by the readiness rule below.
///
/// # Readiness
/// The descriptor ([`AsFd`], [`AsRawFd`]) polls readable when
/// [`read`](Watcher::read) may have events, and only then is it worth
/// calling `read` with `Some(Duration::ZERO)`:
/// - **inotify, kqueue**: it is the kernel queue itself, readable while
///   notifications are pending. Events found by [`watch`](Watcher::watch)
///   (skip notices) or during [`sync`](Watcher::sync) are queued inside the
///   watcher and do not make it readable, so after it polls readable, and
///   after `watch` or `sync`, call `read` with `Some(Duration::ZERO)` until
///   it returns 0. A notification may turn out to be nothing to report (a
///   sync cookie, a change outside the watched scope): `read` then returns
///   0 and the descriptor is no longer readable.
/// - **poll**: it is a pipe, readable exactly while such an internal queue
///   is non-empty; changes are only found by scanning, which `read` does
///   when [`Config::poll_interval`] has elapsed, so an event loop must also
///   wake up at [`next_scan`](Watcher::next_scan).
/// - **kqueue on Linux** (the `libkqueue` feature): libkqueue's descriptor
///   never polls readable; block in `read` instead.
///
/// A [`Waker`] does not make the descriptor readable, and a
/// [`DebouncedWatcher`] holds events back until
/// its [`next_deadline`](crate::DebouncedWatcher::next_deadline) too.
/// `AsyncWatcher` (feature `tokio`) follows these rules for you.
///
/// It is the same open descriptor for the watcher's whole life, owned and
/// closed by the watcher. Use it only to wait for readability: reading
/// from it or changing its flags breaks the watcher.
///
/// ```no_run
/// use std::time::Duration;
/// use watch_core::{RecursiveMode, Watcher};
///
/// let mut watcher = Watcher::new()?;
/// watcher.watch("config.toml", RecursiveMode::NonRecursive)?;
/// let mut events = Vec::new();
/// loop {
///     events.clear();
///     watcher.read(&mut events, None)?;
///     for event in &events {
///         println!("{event}"); // e.g. "modified config.toml"
///     }
/// }
/// # Ok::<(), watch_core::Error>(())
/// ```
pub struct Watcher {
    driver: Box<dyn Driver>,
    queued: VecDeque<Event>,
}

impl Watcher {
    /// A watcher on the platform's default backend
    /// ([`Backend::platform_default`]).
    pub fn new() -> Result<Watcher, Error> {
        Watcher::with_config(Config::default())
    }

    /// A watcher with explicit options and backend.
    pub fn with_config(config: Config) -> Result<Watcher, Error> {
        let driver = make_driver(config)?;
        Ok(Watcher {
            driver,
            queued: VecDeque::new(),
        })
    }

    /// Starts watching `path`. The path need not exist yet: its appearance is
    /// reported as [`Created`](crate::EventKind::Created). A file path is
    /// followed by name across atomic saves, re-creation and symlink
    /// retargeting. Watching a path again replaces its mode. Subtrees that
    /// cannot be watched are reported as
    /// [`Skipped`](crate::EventKind::Skipped) events by the next `read`.
    ///
    /// Overlapping watches are independent: a change under two watched paths
    /// is reported once for each.
    ///
    /// Event paths start with `path` exactly as given; a relative path is
    /// looked up from the current directory each time, so do not change
    /// directory while watching relative paths.
    ///
    /// Errors: [`Error::WatchLimit`] / [`Error::FdLimit`] /
    /// [`Error::PermissionDenied`] when `path` itself (or the directory
    /// followed for it) cannot be watched; a subtree that cannot be watched
    /// is skipped and reported, never an error.
    pub fn watch<P: AsRef<Path>>(&mut self, path: P, mode: RecursiveMode) -> Result<(), Error> {
        let path = path.as_ref();
        check_path(path)?;
        let mut notices = Vec::new();
        let result = self.driver.add_root(path, mode, &mut notices);
        self.enqueue(notices);
        result
    }

    /// Like [`watch`](Watcher::watch), with a backend chosen for this root:
    /// the watcher's own, [poll](RootBackend::Poll), or
    /// [chosen by filesystem](RootBackend::Auto) (poll for NFS, SMB, 9p,
    /// FUSE and the like, where kernel notifications miss changes made
    /// elsewhere). Returns which backend the root got and why; its
    /// `Display` is a short phrase for a log line.
    ///
    /// Polled roots are rescanned every [`Config::poll_interval`]; their
    /// events have [`Origin::Rescan`](crate::Origin::Rescan). [`read`](Watcher::read)
    /// and [`sync`](Watcher::sync) cover every root, whatever its backend;
    /// the descriptor from [`AsFd`] is the watcher's own backend's, so an
    /// event loop with polled roots must also wake up at the poll interval.
    ///
    /// ```no_run
    /// use watch_core::{RecursiveMode, RootBackend, Watcher};
    ///
    /// let mut watcher = Watcher::new()?;
    /// let choice = watcher.watch_with("/mnt/share/conf", RecursiveMode::Recursive, RootBackend::Auto)?;
    /// eprintln!("/mnt/share/conf: {choice}"); // e.g. "poll (nfs4 filesystem at /mnt/share: ...)"
    /// # Ok::<(), watch_core::Error>(())
    /// ```
    pub fn watch_with<P: AsRef<Path>>(
        &mut self,
        path: P,
        mode: RecursiveMode,
        backend: RootBackend,
    ) -> Result<BackendChoice, Error> {
        let path = path.as_ref();
        check_path(path)?;
        let choice = BackendChoice::decide(path, backend, self.driver.kind());
        let mut notices = Vec::new();
        let result = self
            .driver
            .add_root_on(path, mode, choice.backend(), &mut notices);
        self.enqueue(notices);
        result.map(|()| choice)
    }

    /// The backend watching the root `path` (as given to `watch` or
    /// `watch_with`); the watcher's own backend for a path that is not a
    /// polled root.
    pub fn root_backend<P: AsRef<Path>>(&self, path: P) -> Backend {
        self.driver.root_backend(path.as_ref())
    }

    /// Stops watching `path` (as given to [`watch`](Watcher::watch)).
    /// Events already queued for it are still delivered.
    pub fn unwatch<P: AsRef<Path>>(&mut self, path: P) -> Result<(), Error> {
        self.driver.remove_root(path.as_ref())
    }

    /// Appends events to `out` and returns how many were appended.
    ///
    /// `out` is a `Vec<Event>`, whose events are owned, or an
    /// [`EventBuf`](crate::EventBuf), which lends each event's path from
    /// one buffer kept from one read to the next: the same events; on
    /// inotify, a burst of created files without an allocation per event
    /// (the faster way to drain one).
    ///
    /// `None` blocks until at least one event is available;
    /// `Some(Duration::ZERO)` never blocks; `Some(t)` waits at most `t`.
    /// A [`Waker`] ends the wait early (then 0 may be returned).
    /// If an error is returned, events appended before it stay in `out`.
    pub fn read<S: EventSink>(
        &mut self,
        out: &mut S,
        timeout: Option<Duration>,
    ) -> Result<usize, Error> {
        let mut out = out.sink();
        let before = out.len();
        if !self.queued.is_empty() {
            for event in self.queued.drain(..) {
                out.push(event);
            }
            self.driver.queued_for_user(false);
            return Ok(out.len() - before);
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let deadline = match timeout {
            Some(_) if deadline.is_none() => None, // too far away: forever
            _ => deadline,
        };
        let result = match &mut out {
            Sink::Vec(out) => self.driver.read_events(out, deadline),
            Sink::Buf(out) => self.driver.read_events_into(out, deadline),
        };
        self.driver.queued_for_user(false);
        result.map(|()| out.len() - before)
    }

    /// Returns once every change made before the call is ready to be read.
    ///
    /// Kernel backends create and remove a uniquely named hidden directory
    /// (a *cookie*, `.watchfs-cookie.*`) in a watched root directory (for a
    /// file, in the directory watched for it) and wait for its event: the
    /// kernel delivers one queue in order, so everything before the cookie
    /// has then been seen. If events were lost meanwhile (overflow), the
    /// rescan runs and a fresh cookie is written. Where no watched directory
    /// can hold a cookie (read-only, no write permission), `sync` only
    /// processes what is already queued. The poll backend rescans.
    ///
    /// Events seen meanwhile are kept for the next [`read`](Watcher::read).
    /// Cookies (also other watchers') are never reported.
    /// [`Error::SyncTimeout`] if the cookie did not arrive within `timeout`.
    pub fn sync(&mut self, timeout: Duration) -> Result<(), Error> {
        let start = Instant::now();
        let deadline = start
            .checked_add(timeout)
            .unwrap_or(start + Duration::from_secs(86_400 * 365));
        let mut seen = Vec::new();
        let result = self.driver.sync(&mut seen, deadline);
        self.enqueue(seen);
        match result {
            Err(Error::SyncTimeout { .. }) => Err(Error::SyncTimeout {
                waited: start.elapsed(),
            }),
            other => other,
        }
    }

    /// When `read` will next scan for changes by itself: the poll backend,
    /// whose descriptor cannot announce them (see the readiness rule above).
    /// `None` for the kernel backends.
    pub fn next_scan(&self) -> Option<Instant> {
        self.driver.next_scan()
    }

    /// An iterator over events: each step returns a queued event or reads
    /// more with `timeout` (as [`read`](Watcher::read) does), and the
    /// iteration ends when a read returns none: on timeout, or when a
    /// [`Waker`] wakes it. An error is yielded once and ends it too.
    ///
    /// `events(None)` is the common read loop (it ends only when woken);
    /// `events(Some(Duration::ZERO))` drains what is ready without
    /// blocking.
    ///
    /// ```no_run
    /// use watch_core::{RecursiveMode, Watcher};
    ///
    /// let mut watcher = Watcher::new()?;
    /// watcher.watch("src", RecursiveMode::Recursive)?;
    /// for event in watcher.events(None) {
    ///     println!("{}", event?);
    /// }
    /// # Ok::<(), watch_core::Error>(())
    /// ```
    pub fn events(&mut self, timeout: Option<Duration>) -> Events<'_> {
        Events {
            watcher: self,
            timeout,
            pending: Vec::new().into_iter(),
            error: None,
            done: false,
        }
    }

    /// This watcher with a [`Debouncer`](crate::Debouncer) of window
    /// `quiet`: its `read` hands out one coalesced batch per burst. See
    /// [`DebouncedWatcher`].
    pub fn debounced(self, quiet: Duration) -> DebouncedWatcher {
        DebouncedWatcher::new(self, crate::Debouncer::new(quiet))
    }

    /// A handle that makes a blocked or future [`read`](Watcher::read)
    /// return promptly, from any thread; see [`Waker`].
    pub fn waker(&self) -> Waker {
        self.driver.waker()
    }

    /// Kernel watches (inotify) or file descriptors (kqueue) currently held;
    /// zero for the poll backend.
    pub fn watch_count(&self) -> usize {
        self.driver.watch_count()
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.driver.kind()
    }

    fn enqueue(&mut self, events: Vec<Event>) {
        if !events.is_empty() {
            self.queued.extend(events);
            self.driver.queued_for_user(true);
        }
    }
}

/// The descriptor to poll for readability; see [`Watcher`]'s readiness rule.
impl AsFd for Watcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.driver.as_fd()
    }
}

/// The descriptor to poll for readability; see [`Watcher`]'s readiness rule.
impl AsRawFd for Watcher {
    fn as_raw_fd(&self) -> RawFd {
        self.driver.as_fd().as_raw_fd()
    }
}

/// Iterator over a watcher's events, from [`Watcher::events`].
#[derive(Debug)]
pub struct Events<'w> {
    watcher: &'w mut Watcher,
    timeout: Option<Duration>,
    pending: std::vec::IntoIter<Event>,
    /// Yielded after the events read before it.
    error: Option<Error>,
    done: bool,
}

impl Iterator for Events<'_> {
    type Item = Result<Event, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(event) = self.pending.next() {
            return Some(Ok(event));
        }
        if let Some(error) = self.error.take() {
            return Some(Err(error));
        }
        if self.done {
            return None;
        }
        let mut events = Vec::new();
        let result = self.watcher.read(&mut events, self.timeout);
        self.pending = events.into_iter();
        match result {
            Ok(0) => self.done = true,
            Ok(_) => {}
            Err(error) => {
                self.done = true;
                self.error = Some(error);
            }
        }
        self.next()
    }
}

impl std::iter::FusedIterator for Events<'_> {}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("backend", &self.driver.kind())
            .field("watch_count", &self.driver.watch_count())
            .field("queued", &self.queued.len())
            .finish()
    }
}

fn check_path(path: &Path) -> Result<(), Error> {
    if path.as_os_str().is_empty() {
        return Err(Error::InvalidPath {
            path: path.to_path_buf(),
            reason: "the path is empty",
        });
    }
    if path.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(Error::InvalidPath {
            path: path.to_path_buf(),
            reason: "the path contains a NUL byte",
        });
    }
    // Such a path can never exist, so waiting for it to appear would wait
    // forever; the kernel refuses it with ENAMETOOLONG.
    if path.as_os_str().len() >= PATH_MAX {
        return Err(Error::InvalidPath {
            path: path.to_path_buf(),
            reason: PATH_TOO_LONG,
        });
    }
    // The names between separators, as bytes (parsing `components` cost
    // more than the rest of the checks together); a path no longer than
    // NAME_MAX has no name longer than that.
    let bytes = path.as_os_str().as_encoded_bytes();
    if bytes.len() > NAME_MAX
        && bytes
            .split(|&b| b == b'/')
            .any(|name| name.len() > NAME_MAX)
    {
        return Err(Error::InvalidPath {
            path: path.to_path_buf(),
            reason: "a name in the path is longer than NAME_MAX (255 bytes)",
        });
    }
    Ok(())
}

/// The longest name of a directory entry, in bytes, on every supported
/// system (`NAME_MAX`, or `MAXNAMLEN` on the BSDs).
const NAME_MAX: usize = 255;

/// The size of the longest path a system call accepts, counting its NUL.
#[cfg(target_vendor = "apple")]
const PATH_MAX: usize = 1024;
#[cfg(target_vendor = "apple")]
const PATH_TOO_LONG: &str = "the path is longer than PATH_MAX (1023 bytes)";
#[cfg(not(target_vendor = "apple"))]
const PATH_MAX: usize = 4096;
#[cfg(not(target_vendor = "apple"))]
const PATH_TOO_LONG: &str = "the path is longer than PATH_MAX (4095 bytes)";

fn make_driver(config: Config) -> Result<Box<dyn Driver>, Error> {
    let primary = make_primary(config.clone())?;
    Ok(PerRootDriver::boxed(primary, config))
}

fn make_primary(config: Config) -> Result<Box<dyn Driver>, Error> {
    match config.selected_backend() {
        #[cfg(linux_kernel)]
        Backend::Inotify => crate::inotify_backend::InotifyDriver::boxed(config),
        #[cfg(has_kqueue)]
        Backend::Kqueue => crate::kqueue_backend::KqueueDriver::boxed(config),
        Backend::Poll => crate::poll::PollDriver::boxed(config),
        #[allow(unreachable_patterns)]
        backend => Err(Error::Unsupported {
            backend,
            reason: "not implemented for this target yet",
        }),
    }
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn paths_that_can_never_exist_are_refused_before_any_system_call() {
        let long_name = Path::new("/x").join("n".repeat(NAME_MAX + 1));
        let long_path = Path::new("/").join("d/".repeat(PATH_MAX / 2));
        for path in [&long_name, &long_path] {
            assert!(
                matches!(check_path(path), Err(Error::InvalidPath { .. })),
                "{} bytes accepted",
                path.as_os_str().len()
            );
        }
        let longest_name = Path::new("/x").join("n".repeat(NAME_MAX));
        check_path(&longest_name).unwrap();
        let longest_path = "/".repeat(PATH_MAX - 1);
        check_path(Path::new(&longest_path)).unwrap();
    }
}
