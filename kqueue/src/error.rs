//! Typed, actionable errors.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What went wrong, in terms a caller can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `EMFILE`: the process reached its descriptor limit (`RLIMIT_NOFILE`).
    FdLimit,
    /// `ENFILE`: the system-wide open file table is full.
    SystemFdLimit,
    /// `ENOENT`: the path does not exist (or the registration to delete does not).
    NotFound,
    /// `EACCES`/`EPERM`: access was denied.
    PermissionDenied,
    /// `ENOTDIR`: a directory was required.
    NotADirectory,
    /// The path is a symbolic link and following links was disabled.
    IsSymlink,
    /// `EBADF`: a descriptor in a change is not open.
    BadDescriptor,
    /// `EINVAL`: a change or argument is invalid (for example a vnode
    /// registration on a descriptor that is not a file or directory).
    InvalidInput,
    /// `ENOMEM`: the kernel could not allocate a registration.
    OutOfMemory,
    /// `EINTR` where it cannot be retried (the changes were applied, but
    /// their receipts were lost).
    Interrupted,
    /// The event list has no room for an event.
    NoEventSpace,
    /// Any other error; see the source.
    Other,
}

/// An error from this crate: its kind, the path or limit involved, and the
/// underlying OS error.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    op: &'static str,
    path: Option<PathBuf>,
    limit: Option<Limit>,
    source: Option<io::Error>,
}

/// The soft `RLIMIT_NOFILE` at the time of an `EMFILE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Limit {
    Value(u64),
    Unlimited,
    Unknown,
}

impl Error {
    /// An error from an OS error returned by `op` (a syscall name).
    pub(crate) fn from_io(op: &'static str, err: io::Error) -> Error {
        let kind = match err.raw_os_error() {
            Some(libc::EMFILE) => ErrorKind::FdLimit,
            Some(libc::ENFILE) => ErrorKind::SystemFdLimit,
            Some(libc::ENOENT) => ErrorKind::NotFound,
            Some(libc::EACCES | libc::EPERM) => ErrorKind::PermissionDenied,
            Some(libc::ENOTDIR) => ErrorKind::NotADirectory,
            Some(libc::EBADF) => ErrorKind::BadDescriptor,
            Some(libc::EINVAL) => ErrorKind::InvalidInput,
            Some(libc::ENOMEM) => ErrorKind::OutOfMemory,
            Some(libc::EINTR) => ErrorKind::Interrupted,
            _ => ErrorKind::Other,
        };
        let limit = (kind == ErrorKind::FdLimit).then(current_fd_limit);
        Error {
            kind,
            op,
            path: None,
            limit,
            source: Some(err),
        }
    }

    /// An error from an errno value (a change receipt).
    pub(crate) fn from_errno(op: &'static str, errno: i32) -> Error {
        Error::from_io(op, io::Error::from_raw_os_error(errno))
    }

    /// An error without an OS error behind it.
    pub(crate) fn new(kind: ErrorKind, op: &'static str) -> Error {
        Error {
            kind,
            op,
            path: None,
            limit: None,
            source: None,
        }
    }

    pub(crate) fn with_path(mut self, path: &Path) -> Error {
        self.path = Some(path.to_path_buf());
        self
    }

    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Error {
        self.kind = kind;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The path involved, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The OS error number, if there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.as_ref().and_then(io::Error::raw_os_error)
    }

    /// For [`ErrorKind::FdLimit`]: the soft `RLIMIT_NOFILE` when the error
    /// happened (`None` if unlimited or unknown).
    pub fn fd_limit(&self) -> Option<u64> {
        match self.limit {
            Some(Limit::Value(n)) => Some(n),
            _ => None,
        }
    }
}

/// libkqueue on Linux backs each vnode registration with an inotify
/// instance, whose per-user limit also reports `EMFILE`.
#[cfg(userspace_kqueue)]
const LIBKQUEUE_HINT: &str = "; with libkqueue, each vnode registration also holds an inotify \
     instance, limited per user by fs.inotify.max_user_instances (raise it with sysctl)";
#[cfg(not(userspace_kqueue))]
const LIBKQUEUE_HINT: &str = "";

/// The process's soft descriptor limit (`RLIMIT_NOFILE`), or `None` when it
/// is unlimited or cannot be read. A kqueue holds one descriptor per watched
/// file, so watchers size their descriptor budget from it.
///
/// Manual pages: [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=getrlimit&sektion=2),
/// [OpenBSD](https://man.openbsd.org/getrlimit.2),
/// [NetBSD](https://man.netbsd.org/getrlimit.2),
/// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/getrlimit.2.html),
/// [Linux](https://man7.org/linux/man-pages/man2/getrlimit.2.html).
pub fn fd_limit() -> Option<u64> {
    match current_fd_limit() {
        Limit::Value(n) => Some(n),
        Limit::Unlimited | Limit::Unknown => None,
    }
}

/// The soft `RLIMIT_NOFILE`.
fn current_fd_limit() -> Limit {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `rl` is a valid, writable `rlimit` for the duration of the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
    if rc != 0 {
        Limit::Unknown
    } else if rl.rlim_cur == libc::RLIM_INFINITY {
        Limit::Unlimited
    } else {
        // rlim_t is u64 on most systems but i64 on FreeBSD and DragonFly.
        #[allow(clippy::unnecessary_fallible_conversions, clippy::useless_conversion)]
        let value = u64::try_from(rl.rlim_cur);
        value.map_or(Limit::Unknown, Limit::Value)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.op)?;
        if let Some(path) = &self.path {
            write!(f, " {}", path.display())?;
        }
        f.write_str(": ")?;
        match self.kind {
            ErrorKind::FdLimit => {
                f.write_str("too many open files: the process limit RLIMIT_NOFILE is ")?;
                match self.limit {
                    Some(Limit::Value(n)) => write!(f, "{n}")?,
                    Some(Limit::Unlimited) => f.write_str("unlimited")?,
                    _ => f.write_str("unknown")?,
                }
                f.write_str(
                    " (kqueue holds one descriptor per watched file); raise it with \
                     `ulimit -n` or setrlimit(RLIMIT_NOFILE), or watch fewer files",
                )?;
                f.write_str(LIBKQUEUE_HINT)
            }
            ErrorKind::SystemFdLimit => f.write_str(
                "the system-wide open file table is full (ENFILE); raise kern.maxfiles \
                 (BSD, macOS) or fs.file-max (Linux), or close files",
            ),
            ErrorKind::IsSymlink => {
                f.write_str("the path is a symbolic link and following links was disabled")
            }
            ErrorKind::NoEventSpace => {
                f.write_str("the event list has no spare capacity; reserve room before waiting")
            }
            ErrorKind::Interrupted => f.write_str(
                "interrupted by a signal after the changes were applied; their receipts were lost",
            ),
            _ => match &self.source {
                Some(err) => write!(f, "{err}"),
                None => write!(f, "{:?}", self.kind),
            },
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match err.kind {
            ErrorKind::NotFound => io::ErrorKind::NotFound,
            ErrorKind::PermissionDenied => io::ErrorKind::PermissionDenied,
            ErrorKind::InvalidInput | ErrorKind::NoEventSpace => io::ErrorKind::InvalidInput,
            ErrorKind::Interrupted => io::ErrorKind::Interrupted,
            ErrorKind::OutOfMemory => io::ErrorKind::OutOfMemory,
            _ => err
                .source
                .as_ref()
                .map_or(io::ErrorKind::Other, io::Error::kind),
        };
        io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emfile_names_the_limit_and_its_value() {
        let err = Error::from_errno("open", libc::EMFILE).with_path(Path::new("a/b"));
        assert_eq!(err.kind(), ErrorKind::FdLimit);
        let msg = err.to_string();
        assert!(msg.contains("RLIMIT_NOFILE"), "{msg}");
        assert!(msg.contains("a/b"), "{msg}");
        match current_fd_limit() {
            Limit::Value(n) => {
                assert_eq!(err.fd_limit(), Some(n));
                assert!(msg.contains(&n.to_string()), "{msg}");
            }
            Limit::Unlimited => assert!(msg.contains("unlimited"), "{msg}"),
            Limit::Unknown => assert!(msg.contains("unknown"), "{msg}"),
        }
    }

    #[test]
    fn enfile_is_a_system_limit() {
        let err = Error::from_errno("kqueue", libc::ENFILE);
        assert_eq!(err.kind(), ErrorKind::SystemFdLimit);
        assert!(err.to_string().contains("system-wide"));
        assert_eq!(err.raw_os_error(), Some(libc::ENFILE));
    }

    #[test]
    fn errno_values_map_to_kinds() {
        for (errno, kind) in [
            (libc::ENOENT, ErrorKind::NotFound),
            (libc::EACCES, ErrorKind::PermissionDenied),
            (libc::ENOTDIR, ErrorKind::NotADirectory),
            (libc::EBADF, ErrorKind::BadDescriptor),
            (libc::EINVAL, ErrorKind::InvalidInput),
            (libc::EIO, ErrorKind::Other),
        ] {
            assert_eq!(Error::from_errno("kevent", errno).kind(), kind);
        }
    }
}
