//! Watcher configuration: which backend, how to treat symlinks, what to skip.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The mechanism a [`Watcher`](crate::Watcher) uses to learn about changes.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Linux/Android inotify: one kernel watch per directory, events by name.
    Inotify,
    /// BSD/macOS kqueue: one open file descriptor per watched vnode.
    Kqueue,
    /// Periodic rescans diffed against the last snapshot. Works on any
    /// filesystem (NFS, FUSE, `/proc`), at the cost of latency and CPU.
    Poll,
}

impl Backend {
    /// The backend [`Watcher::new`](crate::Watcher::new) uses on this platform.
    pub fn platform_default() -> Backend {
        #[cfg(linux_kernel)]
        {
            Backend::Inotify
        }
        #[cfg(kernel_kqueue)]
        {
            Backend::Kqueue
        }
        #[cfg(not(any(linux_kernel, kernel_kqueue)))]
        {
            Backend::Poll
        }
    }

    /// Whether this build of watch-core can run this backend here.
    pub fn is_available(self) -> bool {
        match self {
            Backend::Inotify => cfg!(linux_kernel),
            Backend::Kqueue => cfg!(has_kqueue),
            Backend::Poll => true,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Inotify => "inotify",
            Backend::Kqueue => "kqueue",
            Backend::Poll => "poll",
        })
    }
}

/// How much of a directory a watch covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecursiveMode {
    /// The directory and everything below it, including directories created
    /// or moved in later.
    Recursive,
    /// A directory's direct entries only, or a single file.
    NonRecursive,
}

/// A predicate telling the walk to skip a path (and never enter it).
pub(crate) type ExcludeFn = Arc<dyn Fn(&Path) -> bool + Send + Sync + 'static>;

/// Options for [`Watcher::with_config`](crate::Watcher::with_config).
///
/// ```
/// use std::time::Duration;
/// use watch_core::{Backend, Config};
///
/// let config = Config::default()
///     .backend(Backend::Poll)
///     .poll_interval(Duration::from_millis(200))
///     .exclude(|path| path.ends_with(".git") || path.ends_with("node_modules"));
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) backend: Option<Backend>,
    pub(crate) follow_symlinks: bool,
    pub(crate) poll_interval: Duration,
    pub(crate) fd_budget: Option<usize>,
    pub(crate) exclude: Option<ExcludeFn>,
    pub(crate) close_notices: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            backend: None,
            follow_symlinks: false,
            poll_interval: Config::DEFAULT_POLL_INTERVAL,
            fd_budget: None,
            exclude: None,
            close_notices: false,
        }
    }
}

impl Config {
    /// Poll interval used when none is set: one second.
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

    /// Use this backend instead of the platform default.
    pub fn backend(mut self, backend: Backend) -> Config {
        self.backend = Some(backend);
        self
    }

    /// In recursive mode, descend into symlinked directories (default: no).
    /// Loops are detected by (device, inode) and reported as skipped.
    pub fn follow_symlinks(mut self, follow: bool) -> Config {
        self.follow_symlinks = follow;
        self
    }

    /// How often the poll backend rescans (default: one second). Zero means
    /// "rescan on every `read`".
    pub fn poll_interval(mut self, interval: Duration) -> Config {
        self.poll_interval = interval;
        self
    }

    /// Most file descriptors the kqueue backend may hold (default: half of
    /// `RLIMIT_NOFILE`). Past the budget it degrades to directory-level
    /// detection and says so (see [`SkipReason::FdBudget`]), and watches
    /// what it left out once descriptors are released. Ignored by the other
    /// backends.
    ///
    /// [`SkipReason::FdBudget`]: crate::SkipReason::FdBudget
    pub fn fd_budget(mut self, budget: usize) -> Config {
        self.fd_budget = Some(budget);
        self
    }

    /// Skip every path for which `predicate` returns true. It is asked during
    /// the walk with the path as the user would see it in an event, so an
    /// excluded directory is never entered, watched or reported.
    pub fn exclude(mut self, predicate: impl Fn(&Path) -> bool + Send + Sync + 'static) -> Config {
        self.exclude = Some(Arc::new(predicate));
        self
    }

    /// Also report [`EventKind::Closed`](crate::EventKind::Closed) notices
    /// when a writer closes a watched file (default: no). A consumer that
    /// acts on saves can then act as soon as the writer is done instead of
    /// waiting for a quiet window. Only the inotify backend reports them;
    /// with kqueue and polling this option changes nothing.
    pub fn close_notices(mut self, on: bool) -> Config {
        self.close_notices = on;
        self
    }

    /// The backend that will be used: the explicit one, or the platform default.
    pub fn selected_backend(&self) -> Backend {
        self.backend.unwrap_or_else(Backend::platform_default)
    }

    #[cfg_attr(not(linux_kernel), allow(dead_code))] // kernel backends only
    pub(crate) fn is_excluded(&self, path: &Path) -> bool {
        self.exclude.as_ref().is_some_and(|f| f(path))
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("backend", &self.backend)
            .field("follow_symlinks", &self.follow_symlinks)
            .field("poll_interval", &self.poll_interval)
            .field("fd_budget", &self.fd_budget)
            .field("exclude", &self.exclude.as_ref().map(|_| "<predicate>"))
            .field("close_notices", &self.close_notices)
            .finish()
    }
}
