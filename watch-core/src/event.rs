//! What a [`Watcher`](crate::Watcher) reports.

use std::fmt;
use std::path::PathBuf;

/// Where an event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A notification from the kernel (inotify, kqueue).
    Kernel,
    /// A difference found by scanning the tree: the poll backend, the contents
    /// of a newly appeared directory, or the recovery after an overflow.
    Rescan,
}

/// Why part of a watched tree is not being watched.
///
/// Displays as a lowercase phrase that says what to do about it, e.g.
/// `permission denied` or `inotify watch limit reached; raise
/// fs.inotify.max_user_watches with sysctl`; [`Other`](SkipReason::Other)
/// displays its description.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The directory cannot be read or watched with our permissions.
    PermissionDenied,
    /// A followed symlink leads back to a directory already being watched.
    SymlinkLoop,
    /// The kernel watch limit was reached (inotify: raise
    /// `fs.inotify.max_user_watches` with sysctl). The directory is watched,
    /// and what it holds reported as created, once watches are freed (a
    /// watched subtree removed or unwatched) or at a later `sync`.
    WatchLimit,
    /// The file descriptor budget is spent (kqueue). For a directory below
    /// the root: as for [`WatchLimit`](SkipReason::WatchLimit), it is
    /// watched once descriptors are released. For the root: its files past
    /// the budget are watched at directory level only (created, removed,
    /// renamed; their writes are not seen) until descriptors are released
    /// (or a later `sync` finds room): then they get one each again, and a
    /// write made meanwhile is reported as modified. Said once while any
    /// file waits, and again if the budget refuses files after all had one.
    FdBudget,
    /// Any other error, with its description.
    Other(String),
}

/// The kind of change.
///
/// Displays as one lowercase word: `created`, `modified`, `metadata`,
/// `removed`, `renamed`, `overflow`, `skipped` (the `kind` field of
/// `watchfs --json`); the details a variant carries are not part of it.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// `path` appeared (created, moved in, or replaced).
    Created,
    /// The content of `path` changed (for a symlink: its target).
    Modified,
    /// Permissions or ownership of `path` changed.
    Metadata,
    /// `path` (and everything below it) disappeared.
    Removed,
    /// `from` was renamed to `path`; both are inside the watched scope.
    Renamed {
        /// The old path, as the user named it.
        from: PathBuf,
    },
    /// Events were lost for the tree at `path`. The watcher rescanned it; the
    /// differences follow with [`Origin::Rescan`].
    Overflow,
    /// `path` is not watched (and its contents not reported) for `reason`.
    Skipped {
        /// Why the subtree is skipped.
        reason: SkipReason,
    },
    /// A writer closed the file at `path` after writing to it, or a file
    /// was moved in from outside the watched scope (its content arrives
    /// whole): the save is complete. A notice, not a change; only
    /// reported when [`Config::close_notices`](crate::Config::close_notices)
    /// asks for it, and only by backends that can tell (inotify's
    /// `IN_CLOSE_WRITE`; kqueue and polling cannot).
    Closed,
}

/// One change to a watched path.
///
/// # Folding events
/// The stream is designed so that applying it, in order, to the tree as it
/// was when `watch` returned reproduces the tree as it is now (after a
/// [`sync`](crate::Watcher::sync)):
/// - [`Created`](EventKind::Created): `path` exists now; if something was
///   there before, it was replaced. A new directory's contents follow as
///   their own `Created` events.
/// - [`Removed`](EventKind::Removed): `path` and everything below it are gone.
/// - [`Renamed`](EventKind::Renamed): what was at `from` (with everything
///   below it) is now at `path`, replacing whatever was there.
/// - [`Modified`](EventKind::Modified) / [`Metadata`](EventKind::Metadata):
///   the content / the permissions or ownership of `path` changed.
/// - [`Overflow`](EventKind::Overflow): the kernel dropped events for the
///   tree at `path`; the watcher rescanned it, and the differences follow as
///   events with [`Origin::Rescan`].
/// - [`Skipped`](EventKind::Skipped): a notice, not a change.
/// - [`Closed`](EventKind::Closed) (opt-in): a notice, not a change; it
///   folds to nothing. The content change it completes was reported by its
///   own `Modified` or `Created`.
///
/// A watched *file* (not a directory) that is replaced by another file
/// (atomic save, symlink swap) is reported as `Modified`: its name now
/// means new content.
///
/// New fields may be added: build an event with [`Event::new`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The path as the user named it: the watched path joined with the names
    /// below it.
    pub path: PathBuf,
    /// Whether `path` is (or, for `Removed`, was) a directory.
    pub is_dir: bool,
    /// Kernel notification or rescan.
    pub origin: Origin,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that width and alignment (`{:<8}`) apply.
        f.pad(match self {
            EventKind::Created => "created",
            EventKind::Modified => "modified",
            EventKind::Metadata => "metadata",
            EventKind::Removed => "removed",
            EventKind::Renamed { .. } => "renamed",
            EventKind::Overflow => "overflow",
            EventKind::Skipped { .. } => "skipped",
            EventKind::Closed => "closed",
        })
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            SkipReason::PermissionDenied => "permission denied",
            SkipReason::SymlinkLoop => "symlink loop",
            SkipReason::WatchLimit => {
                "inotify watch limit reached; raise fs.inotify.max_user_watches with sysctl"
            }
            SkipReason::FdBudget => {
                "file descriptor budget spent; changes below are seen per directory only"
            }
            SkipReason::Other(description) => description,
        })
    }
}

/// `kind path`, or `renamed from -> path`, as `watchfs` prints it.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            EventKind::Renamed { from } => write!(
                f,
                "{} {} -> {}",
                self.kind,
                from.display(),
                self.path.display()
            ),
            EventKind::Skipped { reason } => {
                write!(f, "{} {}: {reason}", self.kind, self.path.display())
            }
            kind => write!(f, "{kind} {}", self.path.display()),
        }
    }
}

impl Event {
    /// Builds an event.
    pub fn new(kind: EventKind, path: impl Into<PathBuf>, is_dir: bool, origin: Origin) -> Event {
        Event {
            kind,
            path: path.into(),
            is_dir,
            origin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_display_as_one_lowercase_word() {
        let kinds = [
            (EventKind::Created, "created"),
            (EventKind::Modified, "modified"),
            (EventKind::Metadata, "metadata"),
            (EventKind::Removed, "removed"),
            (EventKind::Renamed { from: "a".into() }, "renamed"),
            (EventKind::Overflow, "overflow"),
            (
                EventKind::Skipped {
                    reason: SkipReason::SymlinkLoop,
                },
                "skipped",
            ),
            (EventKind::Closed, "closed"),
        ];
        for (kind, word) in kinds {
            assert_eq!(kind.to_string(), word);
        }
        assert_eq!(format!("{:<8}|", EventKind::Removed), "removed |");
    }

    #[test]
    fn skip_reasons_display_lowercase_and_say_what_to_do() {
        assert_eq!(
            SkipReason::PermissionDenied.to_string(),
            "permission denied"
        );
        assert_eq!(SkipReason::SymlinkLoop.to_string(), "symlink loop");
        assert!(
            SkipReason::WatchLimit
                .to_string()
                .contains("raise fs.inotify.max_user_watches")
        );
        assert!(
            SkipReason::FdBudget
                .to_string()
                .starts_with("file descriptor budget")
        );
        assert_eq!(SkipReason::Other("gone".into()).to_string(), "gone");
    }

    #[test]
    fn events_display_kind_then_path() {
        let e = Event::new(EventKind::Created, "d/f", false, Origin::Kernel);
        assert_eq!(e.to_string(), "created d/f");
        let e = Event::new(
            EventKind::Renamed { from: "d/a".into() },
            "d/b",
            false,
            Origin::Kernel,
        );
        assert_eq!(e.to_string(), "renamed d/a -> d/b");
        let e = Event::new(
            EventKind::Skipped {
                reason: SkipReason::PermissionDenied,
            },
            "d/secret",
            true,
            Origin::Rescan,
        );
        assert_eq!(e.to_string(), "skipped d/secret: permission denied");
    }
}
