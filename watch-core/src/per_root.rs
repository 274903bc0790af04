//! A backend per root: the watcher's own backend for most roots, the poll
//! backend beside it for roots where kernel notifications miss changes.
//!
//! [`PerRootDriver`] wraps the watcher's driver. Until a root is polled it
//! only forwards; once one is, it also owns a [`PollDriver`] and a read
//! waits on the kernel driver no longer than the next scan is due.

use std::collections::HashSet;
use std::fmt;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backend::Driver;
use crate::filesystem::{Filesystem, filesystem_of};
use crate::poll::PollDriver;
use crate::{Backend, Config, Error, Event, EventBuf, RecursiveMode, Waker};

/// Which backend watches one root; see
/// [`Watcher::watch_with`](crate::Watcher::watch_with).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RootBackend {
    /// The watcher's own backend (what [`Watcher::watch`](crate::Watcher::watch) uses).
    #[default]
    Watcher,
    /// The poll backend, at [`Config::poll_interval`], whatever the
    /// watcher's backend is.
    Poll,
    /// The watcher's backend, unless the root lies on a filesystem whose
    /// changes can bypass the local kernel (network, FUSE, 9p, virtiofs;
    /// see [`Filesystem::misses_remote_changes`]): then poll. The
    /// filesystem is looked up once, when the root is added (for a path
    /// that does not exist yet: its nearest existing ancestor).
    Auto,
}

/// The backend a root got, and why; returned by
/// [`Watcher::watch_with`](crate::Watcher::watch_with).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendChoice {
    backend: Backend,
    filesystem: Option<Filesystem>,
    reason: Reason,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Reason {
    /// Asked for explicitly (`RootBackend::Watcher` or `Poll`).
    Requested,
    /// `Auto`, and the filesystem is local.
    Local,
    /// `Auto`, and the filesystem can change behind the kernel's back.
    Remote,
    /// `Auto`, and the watcher already polls.
    AlreadyPolling,
    /// `Auto`, but the filesystem could not be told (the message says why).
    Unknown(String),
}

impl BackendChoice {
    /// The backend watching the root.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The filesystem found for the root, when it was looked up
    /// ([`RootBackend::Auto`]) and could be told.
    pub fn filesystem(&self) -> Option<&Filesystem> {
        self.filesystem.as_ref()
    }

    /// Whether the filesystem was looked up and found to miss remote
    /// changes, so the root is polled for that reason.
    pub fn polls_remote_filesystem(&self) -> bool {
        self.reason == Reason::Remote
    }

    /// `RootBackend::Auto` for `path` on a watcher whose backend is `watcher`.
    pub(crate) fn decide(path: &Path, asked: RootBackend, watcher: Backend) -> BackendChoice {
        let requested = |backend| BackendChoice {
            backend,
            filesystem: None,
            reason: Reason::Requested,
        };
        match asked {
            RootBackend::Watcher => requested(watcher),
            RootBackend::Poll => requested(Backend::Poll),
            RootBackend::Auto if watcher == Backend::Poll => BackendChoice {
                backend: Backend::Poll,
                filesystem: None,
                reason: Reason::AlreadyPolling,
            },
            RootBackend::Auto => match filesystem_of(path) {
                Ok(fs) => BackendChoice::for_filesystem(fs, watcher),
                Err(why) => BackendChoice {
                    backend: watcher,
                    filesystem: None,
                    reason: Reason::Unknown(why),
                },
            },
        }
    }

    /// What `RootBackend::Auto` picks for a root on `fs`.
    pub fn for_filesystem(fs: Filesystem, watcher: Backend) -> BackendChoice {
        let remote = fs.misses_remote_changes();
        BackendChoice {
            backend: if remote { Backend::Poll } else { watcher },
            filesystem: Some(fs),
            reason: if remote {
                Reason::Remote
            } else {
                Reason::Local
            },
        }
    }
}

/// `poll (nfs4 filesystem at /mnt/share: its changes can bypass the local
/// kernel's notifications)`, `inotify (ext4 filesystem at /)`, ...
impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (", self.backend)?;
        match (&self.reason, &self.filesystem) {
            (Reason::Remote, Some(fs)) => write!(
                f,
                "{fs}: changes made elsewhere bypass the local kernel's notifications"
            )?,
            (Reason::Local, Some(fs)) => write!(f, "{fs}")?,
            (Reason::Requested, _) => f.write_str("as requested")?,
            (Reason::AlreadyPolling, _) => f.write_str("the watcher polls every root")?,
            (Reason::Unknown(why), _) => write!(f, "filesystem unknown: {why}")?,
            (_, None) => f.write_str("filesystem unknown")?,
        }
        f.write_str(")")
    }
}

/// The watcher's driver plus, once a root asks for it, a poll driver.
pub(crate) struct PerRootDriver {
    primary: Box<dyn Driver>,
    config: Config,
    poll: Option<PollDriver>,
    /// Roots held by `poll` (when the primary is not itself poll).
    polled: HashSet<PathBuf>,
}

impl PerRootDriver {
    pub(crate) fn boxed(primary: Box<dyn Driver>, config: Config) -> Box<dyn Driver> {
        Box::new(PerRootDriver {
            primary,
            config,
            poll: None,
            polled: HashSet::new(),
        })
    }

    fn active_poll(&mut self) -> Option<&mut PollDriver> {
        self.poll.as_mut().filter(|p| !p.is_empty())
    }
}

impl Driver for PerRootDriver {
    fn kind(&self) -> Backend {
        self.primary.kind()
    }

    fn add_root(
        &mut self,
        path: &Path,
        mode: RecursiveMode,
        out: &mut Vec<Event>,
    ) -> Result<(), Error> {
        if !self.polled.is_empty()
            && self.polled.remove(path)
            && let Some(poll) = self.poll.as_mut()
        {
            let _ = poll.remove_root(path);
        }
        self.primary.add_root(path, mode, out)
    }

    fn add_root_on(
        &mut self,
        path: &Path,
        mode: RecursiveMode,
        backend: Backend,
        out: &mut Vec<Event>,
    ) -> Result<(), Error> {
        if backend == self.primary.kind() {
            return self.add_root(path, mode, out);
        }
        if backend != Backend::Poll {
            return Err(Error::Unsupported {
                backend,
                reason: "a root can use the watcher's own backend or poll",
            });
        }
        let poll = match &mut self.poll {
            Some(poll) => poll,
            None => self.poll.insert(PollDriver::new(self.config.clone())?),
        };
        poll.add_root(path, mode, out)?;
        if !self.polled.contains(path) {
            // Watched before by the kernel backend: that watch ends now.
            let _ = self.primary.remove_root(path);
            self.polled.insert(path.to_path_buf());
        }
        Ok(())
    }

    fn root_backend(&self, path: &Path) -> Backend {
        if self.polled.contains(path) {
            Backend::Poll
        } else {
            self.primary.kind()
        }
    }

    fn remove_root(&mut self, path: &Path) -> Result<(), Error> {
        if !self.polled.is_empty() && self.polled.remove(path) {
            return match self.poll.as_mut() {
                Some(poll) => poll.remove_root(path),
                None => Err(Error::NotWatched {
                    path: path.to_path_buf(),
                }),
            };
        }
        self.primary.remove_root(path)
    }

    fn read_events(
        &mut self,
        out: &mut Vec<Event>,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        if self.active_poll().is_none() {
            return self.primary.read_events(out, deadline);
        }
        let before = out.len();
        loop {
            let next_scan = self.next_scan();
            let wake = match (deadline, next_scan) {
                (Some(d), Some(s)) => Some(d.min(s)),
                (d, s) => d.or(s),
            };
            self.primary.read_events(out, wake)?;
            let woken = out.len() == before && wake.is_some_and(|w| Instant::now() < w);
            if let Some(poll) = self.poll.as_mut() {
                // A past deadline: scans if due, never waits.
                poll.read_events(out, Some(Instant::now()))?;
            }
            // Returning early with nothing means a Waker ended the wait.
            if woken || out.len() > before || deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(());
            }
        }
    }

    fn read_events_into(
        &mut self,
        out: &mut EventBuf,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        if self.active_poll().is_none() {
            return self.primary.read_events_into(out, deadline);
        }
        crate::backend::read_owned_into(self, out, deadline)
    }

    fn sync(&mut self, out: &mut Vec<Event>, deadline: Instant) -> Result<(), Error> {
        self.primary.sync(out, deadline)?;
        match self.active_poll() {
            Some(poll) => poll.sync(out, deadline),
            None => Ok(()),
        }
    }

    fn watch_count(&self) -> usize {
        self.primary.watch_count()
    }

    fn next_scan(&self) -> Option<Instant> {
        let polled = self
            .poll
            .as_ref()
            .filter(|p| !p.is_empty())
            .and_then(Driver::next_scan);
        match (self.primary.next_scan(), polled) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn waker(&self) -> Waker {
        self.primary.waker()
    }

    fn as_fd(&self) -> BorrowedFd<'_> {
        self.primary.as_fd()
    }

    fn queued_for_user(&mut self, queued: bool) {
        self.primary.queued_for_user(queued);
    }
}
