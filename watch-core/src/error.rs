//! Typed errors a user can act on.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::Backend;

/// Why a watcher operation failed.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// The backend cannot run on this platform or in this build.
    Unsupported {
        /// The backend asked for.
        backend: Backend,
        /// Why it is not available.
        reason: &'static str,
    },
    /// The per-user inotify watch limit (`fs.inotify.max_user_watches`) is reached.
    WatchLimit {
        /// The directory that could not be watched.
        path: PathBuf,
        /// The current limit, when it could be read.
        limit: Option<u64>,
    },
    /// The per-user inotify instance limit (`fs.inotify.max_user_instances`) is reached.
    InstanceLimit {
        /// The current limit, when it could be read.
        limit: Option<u64>,
    },
    /// The process ran out of file descriptors (`RLIMIT_NOFILE`).
    FdLimit {
        /// The path being opened, if any.
        path: Option<PathBuf>,
    },
    /// Permission denied while watching or reading `path`.
    PermissionDenied {
        /// The path that could not be accessed.
        path: PathBuf,
    },
    /// `unwatch` was called for a path that is not watched.
    NotWatched {
        /// The path given to `unwatch`.
        path: PathBuf,
    },
    /// The path cannot be watched as given (empty, or contains a NUL byte).
    InvalidPath {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `sync` did not see its cookie events within the timeout.
    SyncTimeout {
        /// How long it waited.
        waited: Duration,
    },
    /// Any other I/O error, with the path involved when there is one.
    Io {
        /// The path involved, if any.
        path: Option<PathBuf>,
        /// The underlying error.
        source: io::Error,
    },
}

impl Error {
    /// The closest [`io::ErrorKind`]: for [`Error::Io`] the kind of its
    /// source (kept from the layer below, e.g. `NotFound` or
    /// `PermissionDenied` from the `inotify` crate), otherwise the kind that
    /// fits the variant (`WatchLimit`: `StorageFull`, `NotWatched`:
    /// `NotFound`, `InvalidPath`: `InvalidInput`, `SyncTimeout`: `TimedOut`,
    /// `Unsupported`: `Unsupported`; the descriptor and instance limits:
    /// `Other`).
    pub fn io_kind(&self) -> io::ErrorKind {
        match self {
            Error::Unsupported { .. } => io::ErrorKind::Unsupported,
            Error::WatchLimit { .. } => io::ErrorKind::StorageFull,
            Error::InstanceLimit { .. } | Error::FdLimit { .. } => io::ErrorKind::Other,
            Error::PermissionDenied { .. } => io::ErrorKind::PermissionDenied,
            Error::NotWatched { .. } => io::ErrorKind::NotFound,
            Error::InvalidPath { .. } => io::ErrorKind::InvalidInput,
            Error::SyncTimeout { .. } => io::ErrorKind::TimedOut,
            Error::Io { source, .. } => source.kind(),
        }
    }

    pub(crate) fn io(path: impl Into<Option<PathBuf>>, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unsupported { backend, reason } => {
                write!(
                    f,
                    "the {backend} backend is not available: {reason}; use Backend::Poll or the platform default"
                )
            }
            Error::WatchLimit { path, limit } => {
                write!(
                    f,
                    "inotify watch limit reached while watching {}",
                    path.display()
                )?;
                if let Some(limit) = limit {
                    write!(f, " (fs.inotify.max_user_watches={limit})")?;
                }
                f.write_str("; raise it with `sysctl fs.inotify.max_user_watches=<n>` or exclude large directories")
            }
            Error::InstanceLimit { limit } => {
                f.write_str("inotify instance limit reached")?;
                if let Some(limit) = limit {
                    write!(f, " (fs.inotify.max_user_instances={limit})")?;
                }
                f.write_str("; raise it with `sysctl fs.inotify.max_user_instances=<n>` or share one watcher")
            }
            Error::FdLimit { path } => {
                f.write_str("out of file descriptors")?;
                if let Some(path) = path {
                    write!(f, " while opening {}", path.display())?;
                }
                f.write_str("; raise RLIMIT_NOFILE (`ulimit -n`) or lower the watcher's fd budget")
            }
            Error::PermissionDenied { path } => {
                write!(
                    f,
                    "permission denied: {} (grant read and search permission, or exclude it)",
                    path.display()
                )
            }
            Error::NotWatched { path } => write!(f, "{} is not watched", path.display()),
            Error::InvalidPath { path, reason } => {
                write!(f, "cannot watch {:?}: {reason}", path.as_os_str())
            }
            Error::SyncTimeout { waited } => {
                write!(
                    f,
                    "sync timed out after {waited:?} waiting for cookie events; the event queue may be stalled"
                )
            }
            Error::Io {
                path: Some(path),
                source,
            } => write!(f, "{}: {source}", path.display()),
            Error::Io { path: None, source } => write!(f, "{source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    /// Keeps the typed error as the payload, under [`Error::io_kind`].
    fn from(err: Error) -> io::Error {
        io::Error::new(err.io_kind(), err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_keep_the_kind_of_what_they_wrap() {
        let cases = [
            (
                Error::io(None, io::Error::from(io::ErrorKind::NotFound)),
                io::ErrorKind::NotFound,
            ),
            (
                Error::PermissionDenied { path: "p".into() },
                io::ErrorKind::PermissionDenied,
            ),
            (
                Error::NotWatched { path: "p".into() },
                io::ErrorKind::NotFound,
            ),
            (
                Error::InvalidPath {
                    path: "".into(),
                    reason: "the path is empty",
                },
                io::ErrorKind::InvalidInput,
            ),
            (
                Error::SyncTimeout {
                    waited: Duration::from_secs(1),
                },
                io::ErrorKind::TimedOut,
            ),
        ];
        for (err, kind) in cases {
            assert_eq!(err.io_kind(), kind, "{err}");
            let message = err.to_string();
            let io_err = io::Error::from(err);
            assert_eq!(io_err.kind(), kind);
            // The typed error travels inside, message and all.
            assert_eq!(io_err.to_string(), message);
            assert!(io_err.into_inner().unwrap().downcast::<Error>().is_ok());
        }
    }
}
