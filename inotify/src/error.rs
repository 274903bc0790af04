//! The error type: what went wrong, on which path, and which limit to raise.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What kind of failure an [`Error`] is. Match on this, not on the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The per-user watch limit was reached (`ENOSPC` from `inotify_add_watch`):
    /// raise `fs.inotify.max_user_watches` (FreeBSD: `vfs.inotify.max_user_watches`).
    WatchLimit,
    /// The per-user instance limit was reached (`EMFILE` from `inotify_init1`):
    /// raise `fs.inotify.max_user_instances` (FreeBSD: `vfs.inotify.max_user_instances`).
    InstanceLimit,
    /// The process (`EMFILE`, `RLIMIT_NOFILE`) or the system (`ENFILE`) has no
    /// file descriptor left.
    FdLimit,
    /// The path, or a directory on it, does not exist (`ENOENT`).
    NotFound,
    /// Read permission on the path, or search permission on a directory on
    /// it, is missing (`EACCES`, `EPERM`).
    PermissionDenied,
    /// [`WatchMask::ONLYDIR`](crate::WatchMask::ONLYDIR) was given and the path
    /// is not a directory, or a component of the path is not a directory (`ENOTDIR`).
    NotADirectory,
    /// [`WatchMask::MASK_CREATE`](crate::WatchMask::MASK_CREATE) was given and
    /// this instance already watches the object (`EEXIST`).
    AlreadyWatched,
    /// The path contains a NUL byte; rejected before any system call.
    PathContainsNul,
    /// An [`EventBuffer`](crate::EventBuffer) was asked for fewer bytes than
    /// the kernel needs for one event, or could not be allocated.
    BufferTooSmall,
    /// An event record does not fit in the bytes that were read, or its
    /// fields are impossible (a negative watch descriptor that is not the
    /// overflow record).
    MalformedEvent,
    /// A non-blocking instance has no event queued (`EAGAIN`): wait for
    /// readability and read again.
    WouldBlock,
    /// The watch descriptor belongs to another instance, or the kernel no
    /// longer knows it (`EINVAL` from `inotify_rm_watch`).
    UnknownWatch,
    /// The kernel refused the watch mask (`EINVAL` from `inotify_add_watch`):
    /// no event bit set, or both `MASK_ADD` and `MASK_CREATE`.
    InvalidMask,
    /// Any other failure; [`Error::raw_os_error`] and the source tell more.
    Other,
}

/// Which operation failed; part of the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Init,
    AddWatch,
    RmWatch,
    Read,
    Wait,
    EventFd,
    Notify,
    Reset,
    Buffer,
    Decode,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Init => "inotify_init1",
            Op::AddWatch => "inotify_add_watch",
            Op::RmWatch => "inotify_rm_watch",
            Op::Read => "read from inotify",
            Op::Wait => "poll on inotify",
            Op::EventFd => "eventfd",
            Op::Notify => "write to eventfd",
            Op::Reset => "read from eventfd",
            Op::Buffer => "event buffer",
            Op::Decode => "decode inotify event",
        }
    }
}

/// A system limit that was hit: its name and, when it could be read, its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// The sysctl (or resource limit) to raise, e.g. `fs.inotify.max_user_watches`.
    pub name: &'static str,
    /// Its value when the error happened, if it could be read.
    pub value: Option<u64>,
    /// How to raise it.
    pub hint: &'static str,
}

/// Details that only some errors carry; boxed so that the common
/// [`ErrorKind::WouldBlock`] costs no allocation.
#[derive(Debug)]
enum Detail {
    Path(PathBuf),
    Limit(Limit, Option<PathBuf>),
    Malformed { offset: usize, reason: &'static str },
    Buffer { requested: usize },
    Watch { wd: i32 },
}

/// An inotify failure: a typed [`ErrorKind`], the path involved, the limit to
/// raise, and the underlying [`io::Error`] as [`std::error::Error::source`].
pub struct Error {
    kind: ErrorKind,
    op: Op,
    io: Option<io::Error>,
    detail: Option<Box<Detail>>,
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// True for [`ErrorKind::WouldBlock`]: nothing is queued on a
    /// non-blocking instance.
    pub fn is_would_block(&self) -> bool {
        self.kind == ErrorKind::WouldBlock
    }

    /// The path the failed call was about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self.detail.as_deref() {
            Some(Detail::Path(p)) | Some(Detail::Limit(_, Some(p))) => Some(p),
            _ => None,
        }
    }

    /// The limit that was hit, for [`ErrorKind::WatchLimit`],
    /// [`ErrorKind::InstanceLimit`] and [`ErrorKind::FdLimit`].
    pub fn limit(&self) -> Option<Limit> {
        match self.detail.as_deref() {
            Some(Detail::Limit(l, _)) => Some(*l),
            _ => None,
        }
    }

    /// The `errno` value, if a system call failed.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.io.as_ref().and_then(io::Error::raw_os_error)
    }

    /// Byte offset of a malformed record within the bytes read.
    pub fn offset(&self) -> Option<usize> {
        match self.detail.as_deref() {
            Some(Detail::Malformed { offset, .. }) => Some(*offset),
            _ => None,
        }
    }

    pub(crate) fn os(kind: ErrorKind, op: Op, errno: i32) -> Error {
        Error {
            kind,
            op,
            io: Some(io::Error::from_raw_os_error(errno)),
            detail: None,
        }
    }

    pub(crate) fn with_path(mut self, path: &Path) -> Error {
        self.detail = Some(Box::new(match self.detail.take().map(|d| *d) {
            Some(Detail::Limit(l, _)) => Detail::Limit(l, Some(path.to_path_buf())),
            _ => Detail::Path(path.to_path_buf()),
        }));
        self
    }

    pub(crate) fn with_limit(mut self, limit: Limit) -> Error {
        self.detail = Some(Box::new(Detail::Limit(limit, None)));
        self
    }

    pub(crate) fn path_contains_nul(path: &Path) -> Error {
        Error {
            kind: ErrorKind::PathContainsNul,
            op: Op::AddWatch,
            io: None,
            detail: Some(Box::new(Detail::Path(path.to_path_buf()))),
        }
    }

    pub(crate) fn buffer(requested: usize) -> Error {
        Error {
            kind: ErrorKind::BufferTooSmall,
            op: Op::Buffer,
            io: None,
            detail: Some(Box::new(Detail::Buffer { requested })),
        }
    }

    pub(crate) fn malformed(offset: usize, reason: &'static str) -> Error {
        Error {
            kind: ErrorKind::MalformedEvent,
            op: Op::Decode,
            io: None,
            detail: Some(Box::new(Detail::Malformed { offset, reason })),
        }
    }

    pub(crate) fn foreign_watch(wd: i32) -> Error {
        Error {
            kind: ErrorKind::UnknownWatch,
            op: Op::RmWatch,
            io: None,
            detail: Some(Box::new(Detail::Watch { wd })),
        }
    }

    pub(crate) fn with_wd(mut self, wd: i32) -> Error {
        self.detail = Some(Box::new(Detail::Watch { wd }));
        self
    }
}

fn write_path(f: &mut fmt::Formatter<'_>, path: Option<&Path>) -> fmt::Result {
    match path {
        Some(p) => write!(f, "{}: ", p.display()),
        None => Ok(()),
    }
}

fn write_limit(f: &mut fmt::Formatter<'_>, limit: &Limit) -> fmt::Result {
    match limit.value {
        Some(v) => write!(f, "{}={}", limit.name, v),
        None => write!(f, "{}=unknown", limit.name),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_path(f, self.path())?;
        match (self.kind, self.detail.as_deref()) {
            (ErrorKind::WatchLimit, Some(Detail::Limit(l, _))) => {
                f.write_str("inotify watch limit reached (")?;
                write_limit(f, l)?;
                write!(f, "); {}", l.hint)
            }
            (ErrorKind::InstanceLimit, Some(Detail::Limit(l, _))) => {
                f.write_str("inotify instance limit reached (")?;
                write_limit(f, l)?;
                write!(f, "); {}", l.hint)
            }
            (ErrorKind::FdLimit, Some(Detail::Limit(l, _))) => {
                f.write_str("out of file descriptors (")?;
                write_limit(f, l)?;
                write!(f, "); {}", l.hint)
            }
            (ErrorKind::NotFound, _) => f.write_str("no such file or directory"),
            (ErrorKind::PermissionDenied, _) => f.write_str(
                "permission denied (watching needs read permission on the path \
                 and search permission on its directories)",
            ),
            (ErrorKind::NotADirectory, _) => f.write_str(
                "not a directory (ONLYDIR was requested, or a path component is not a directory)",
            ),
            (ErrorKind::AlreadyWatched, _) => f.write_str(
                "already watched by this inotify instance (MASK_CREATE was requested; \
                 drop it to update the existing watch)",
            ),
            (ErrorKind::PathContainsNul, _) => {
                f.write_str("path contains a NUL byte, which no system call accepts")
            }
            (ErrorKind::BufferTooSmall, Some(Detail::Buffer { requested })) => write!(
                f,
                "an inotify event buffer of {requested} bytes is too small or could not be \
                 allocated; it needs at least {} bytes",
                crate::EventBuffer::MIN_LEN
            ),
            (ErrorKind::MalformedEvent, Some(Detail::Malformed { offset, reason })) => {
                write!(
                    f,
                    "malformed inotify event record at byte {offset}: {reason}"
                )
            }
            (ErrorKind::WouldBlock, _) => {
                f.write_str("no inotify event is queued yet (non-blocking instance)")
            }
            (ErrorKind::UnknownWatch, Some(Detail::Watch { wd })) => write!(
                f,
                "watch descriptor {wd} is not a live watch of this inotify instance"
            ),
            (ErrorKind::InvalidMask, _) => f.write_str(
                "invalid watch mask (it needs at least one event bit, and MASK_ADD \
                 excludes MASK_CREATE)",
            ),
            _ => match &self.io {
                Some(e) => write!(f, "{} failed: {e}", self.op.name()),
                None => write!(f, "{} failed", self.op.name()),
            },
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("op", &self.op)
            .field("io", &self.io)
            .field("detail", &self.detail)
            .field("message", &format_args!("{self}"))
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<Error> for io::Error {
    /// Keeps the typed error as the payload, under the closest `io::ErrorKind`.
    fn from(err: Error) -> io::Error {
        let kind = match err.kind {
            ErrorKind::WouldBlock => io::ErrorKind::WouldBlock,
            ErrorKind::NotFound => io::ErrorKind::NotFound,
            ErrorKind::PermissionDenied => io::ErrorKind::PermissionDenied,
            ErrorKind::NotADirectory => io::ErrorKind::NotADirectory,
            ErrorKind::AlreadyWatched => io::ErrorKind::AlreadyExists,
            ErrorKind::PathContainsNul
            | ErrorKind::BufferTooSmall
            | ErrorKind::InvalidMask
            | ErrorKind::UnknownWatch => io::ErrorKind::InvalidInput,
            ErrorKind::MalformedEvent => io::ErrorKind::InvalidData,
            ErrorKind::WatchLimit => io::ErrorKind::StorageFull,
            _ => err
                .io
                .as_ref()
                .map(io::Error::kind)
                .unwrap_or(io::ErrorKind::Other),
        };
        io::Error::new(kind, err)
    }
}
