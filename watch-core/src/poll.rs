//! The poll backend: periodic rescans diffed against the last snapshot.
//!
//! No kernel notifications, so it works on any filesystem (NFS, FUSE,
//! `/proc`). Changes are found when `read` runs after the poll interval has
//! elapsed, or by `sync`, which always rescans. Every event has
//! [`Origin::Rescan`]. Between two scans, changes coalesce (a file created
//! and removed in between is never seen).

use std::collections::HashSet;
use std::io::{PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::Driver;
use crate::diff::diff;
use crate::scan::{ScanOptions, scan_root};
use crate::snapshot::Snapshot;
use crate::waker::Flag;
use crate::{Backend, Config, Error, Event, EventKind, Origin, RecursiveMode, SkipReason, Waker};

/// Shortest wait between scans in a blocking read, so a zero interval does
/// not spin.
const MIN_WAIT: Duration = Duration::from_millis(10);

struct PollRoot {
    path: PathBuf,
    mode: RecursiveMode,
    snapshot: Snapshot,
    /// Paths last reported as skipped, so each is reported once.
    skipped: HashSet<PathBuf>,
}

pub(crate) struct PollDriver {
    config: Config,
    roots: Vec<PollRoot>,
    next_scan: Instant,
    /// Readable exactly while the watcher queues events for the user.
    ready: (PipeReader, PipeWriter),
    signaled: bool,
    wake: Arc<Flag>,
}

impl PollDriver {
    pub(crate) fn boxed(config: Config) -> Result<Box<dyn Driver>, Error> {
        Ok(Box::new(PollDriver::new(config)?))
    }

    pub(crate) fn new(config: Config) -> Result<PollDriver, Error> {
        let ready = std::io::pipe().map_err(|e| Error::io(None, e))?;
        Ok(PollDriver {
            config,
            roots: Vec::new(),
            next_scan: Instant::now(),
            ready,
            signaled: false,
            wake: Arc::default(),
        })
    }

    /// Whether no root is polled.
    pub(crate) fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    fn scan(config: &Config, root: &mut PollRoot, out: &mut Vec<Event>) -> Snapshot {
        let opts = ScanOptions {
            recursive: root.mode == RecursiveMode::Recursive,
            follow_symlinks: config.follow_symlinks,
            exclude: config.exclude.as_ref(),
            // Every scan is diffed against the last one, and a listed
            // file's rule compares its ctime with our clock: on a network
            // filesystem (what polling is chosen for) the server's clock
            // sets the ctime, and may lag ours. So polling keeps exact
            // per-file metadata.
            exact: true,
        };
        let mut notices = Vec::new();
        let (_, snap) = scan_root(&root.path, &opts, &mut |_, _, _| Ok(()), &mut notices);
        let now: HashSet<PathBuf> = notices.iter().map(|e| e.path.clone()).collect();
        out.extend(
            notices
                .into_iter()
                .filter(|e| !root.skipped.contains(&e.path)),
        );
        root.skipped = now;
        snap
    }

    fn scan_all(&mut self, out: &mut Vec<Event>) {
        for root in &mut self.roots {
            let snap = PollDriver::scan(&self.config, root, out);
            out.extend(diff(&root.path, &root.snapshot, &snap, Origin::Rescan));
            root.snapshot = snap;
        }
        self.next_scan = Instant::now() + self.config.poll_interval;
    }
}

impl Driver for PollDriver {
    fn kind(&self) -> Backend {
        Backend::Poll
    }

    fn add_root(
        &mut self,
        path: &Path,
        mode: RecursiveMode,
        out: &mut Vec<Event>,
    ) -> Result<(), Error> {
        self.roots.retain(|r| r.path != path);
        let mut root = PollRoot {
            path: path.to_path_buf(),
            mode,
            snapshot: Snapshot::default(),
            skipped: HashSet::new(),
        };
        // What a kernel backend could not watch is an error here too: a
        // path whose lookup is denied, a root directory that cannot be read.
        let denied = || Error::PermissionDenied {
            path: path.to_path_buf(),
        };
        if std::fs::symlink_metadata(path)
            .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
        {
            return Err(denied());
        }
        let mut notices = Vec::new();
        root.snapshot = PollDriver::scan(&self.config, &mut root, &mut notices);
        let unreadable = EventKind::Skipped {
            reason: SkipReason::PermissionDenied,
        };
        if notices
            .iter()
            .any(|e| e.path == path && e.kind == unreadable)
        {
            return Err(denied());
        }
        out.extend(notices);
        if self.roots.is_empty() {
            // The only root was just scanned: the next scan is an interval
            // away, not due at once.
            self.next_scan = Instant::now() + self.config.poll_interval;
        }
        self.roots.push(root);
        Ok(())
    }

    fn remove_root(&mut self, path: &Path) -> Result<(), Error> {
        let before = self.roots.len();
        self.roots.retain(|r| r.path != path);
        if self.roots.len() == before {
            return Err(Error::NotWatched {
                path: path.to_path_buf(),
            });
        }
        Ok(())
    }

    fn read_events(
        &mut self,
        out: &mut Vec<Event>,
        deadline: Option<Instant>,
    ) -> Result<(), Error> {
        let before = out.len();
        loop {
            let now = Instant::now();
            if now >= self.next_scan {
                self.scan_all(out);
            }
            if out.len() > before {
                return Ok(());
            }
            let now = Instant::now();
            let wake = match deadline {
                Some(d) if d <= now => return Ok(()),
                Some(d) => d.min(self.next_scan),
                None => self.next_scan,
            };
            if self
                .wake
                .sleep(wake.saturating_duration_since(now).max(MIN_WAIT))
            {
                return Ok(());
            }
        }
    }

    fn sync(&mut self, out: &mut Vec<Event>, _deadline: Instant) -> Result<(), Error> {
        self.scan_all(out);
        Ok(())
    }

    fn watch_count(&self) -> usize {
        0
    }

    fn next_scan(&self) -> Option<Instant> {
        Some(self.next_scan)
    }

    fn waker(&self) -> Waker {
        Waker::new(self.wake.clone())
    }

    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ready.0.as_fd()
    }

    fn queued_for_user(&mut self, queued: bool) {
        // One byte in the pipe while events are queued; a failed write or
        // read leaves the flag unchanged, so the pipe never holds two.
        if queued && !self.signaled {
            self.signaled = self.ready.1.write_all(&[1]).is_ok();
        } else if !queued && self.signaled {
            let mut byte = [0u8; 1];
            self.signaled = self.ready.0.read_exact(&mut byte).is_err();
        }
    }
}
