//! The inotify instance: create, watch, unwatch, read, wait.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use inotify_sys as sys;

use crate::buffer::EventBuffer;
use crate::cpath::with_c_path;
use crate::error::{Error, ErrorKind, Op};
use crate::events::Events;
use crate::limits;
use crate::mask::WatchMask;
#[cfg(any(target_os = "linux", target_os = "android"))]
use crate::wake::EventFd;
use crate::wake::Readiness;
use crate::wd::{WatchDescriptor, next_instance_id};

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// An inotify instance: owns its file descriptor (always close-on-exec) and
/// closes it on drop, which also removes all its watches.
///
/// Blocking or non-blocking is chosen at creation ([`Inotify::init`],
/// [`Inotify::init_nonblocking`]) and never changed. The descriptor is
/// readable when events are queued, so it can be registered with epoll, mio
/// or tokio's `AsyncFd` through [`AsFd`]; drain a non-blocking instance with
/// [`Inotify::read`] until [`Error::is_would_block`].
///
/// ```no_run
/// use std::time::Duration;
/// use inotify::{Event, EventBuffer, Inotify, WatchMask};
///
/// let inotify = Inotify::init_nonblocking()?;
/// inotify.add_watch("/etc", WatchMask::CREATE | WatchMask::MOVED_TO | WatchMask::CLOSE_WRITE)?;
/// let mut buf = EventBuffer::default();
/// while inotify.wait(Some(Duration::from_secs(5)))? {
///     // Drain everything that is queued, then wait again.
///     loop {
///         let events = match inotify.read(&mut buf) {
///             Ok(events) => events,
///             Err(e) if e.is_would_block() => break,
///             Err(e) => return Err(e),
///         };
///         for event in events {
///             match event? {
///                 Event::Watch(e) => println!("{:?} {:?}", e.mask, e.name),
///                 Event::Overflow => println!("events were lost; rescan"),
///             }
///         }
///     }
/// }
/// # Ok::<(), inotify::Error>(())
/// ```
///
/// Man pages: [Linux inotify(7)](https://man7.org/linux/man-pages/man7/inotify.7.html),
/// [FreeBSD inotify(2)](https://man.freebsd.org/cgi/man.cgi?query=inotify&sektion=2).
#[derive(Debug)]
pub struct Inotify {
    fd: OwnedFd,
    id: u64,
}

impl Inotify {
    /// Creates an instance whose [`read`](Inotify::read) blocks until an event
    /// is queued: `inotify_init1(IN_CLOEXEC)`.
    ///
    /// Man pages: [Linux inotify_init1(2)](https://man7.org/linux/man-pages/man2/inotify_init1.2.html),
    /// [FreeBSD inotify(2)](https://man.freebsd.org/cgi/man.cgi?query=inotify&sektion=2).
    pub fn init() -> Result<Inotify, Error> {
        Self::init_with(sys::IN_CLOEXEC)
    }

    /// Creates an instance whose [`read`](Inotify::read) fails with
    /// [`ErrorKind::WouldBlock`] when nothing is queued:
    /// `inotify_init1(IN_CLOEXEC | IN_NONBLOCK)`.
    ///
    /// Man pages: [Linux inotify_init1(2)](https://man7.org/linux/man-pages/man2/inotify_init1.2.html),
    /// [FreeBSD inotify(2)](https://man.freebsd.org/cgi/man.cgi?query=inotify&sektion=2).
    pub fn init_nonblocking() -> Result<Inotify, Error> {
        Self::init_with(sys::IN_CLOEXEC | sys::IN_NONBLOCK)
    }

    fn init_with(flags: libc::c_int) -> Result<Inotify, Error> {
        // SAFETY: inotify_init1 takes no pointers; a non-negative result is a
        // new descriptor that nothing else owns.
        let fd = unsafe { sys::inotify_init1(flags) };
        if fd < 0 {
            return Err(init_error(errno()));
        }
        // SAFETY: `fd` was just returned by inotify_init1, is open, and is
        // owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Inotify {
            fd,
            id: next_instance_id(),
        })
    }

    /// The process-unique id of this instance, carried by every
    /// [`WatchDescriptor`] it makes.
    pub fn instance_id(&self) -> u64 {
        self.id
    }

    /// This instance's descriptor with the kernel's number `raw` (as
    /// [`WatchDescriptor::raw`] gives it): a caller that keeps only the
    /// number (4 bytes against 16) names the watch again with it. Nothing
    /// checks that the kernel knows the number; [`Inotify::rm_watch`] of an
    /// unknown one fails with [`ErrorKind::UnknownWatch`].
    pub fn watch_descriptor(&self, raw: i32) -> WatchDescriptor {
        WatchDescriptor::new(self.id, raw)
    }

    /// Watches `path` for the events in `mask`, or changes the mask of an
    /// existing watch on the same object (the kernel returns the same
    /// descriptor); see [`WatchMask`] for the flags.
    ///
    /// No heap allocation for a path shorter than `PATH_MAX`. A path with a
    /// NUL byte fails with [`ErrorKind::PathContainsNul`] before any system
    /// call. Errors name the path; `ENOSPC` becomes [`ErrorKind::WatchLimit`]
    /// with the current `fs.inotify.max_user_watches`.
    ///
    /// Man pages: [Linux inotify_add_watch(2)](https://man7.org/linux/man-pages/man2/inotify_add_watch.2.html),
    /// [FreeBSD inotify(2)](https://man.freebsd.org/cgi/man.cgi?query=inotify&sektion=2).
    pub fn add_watch<P: AsRef<Path>>(
        &self,
        path: P,
        mask: WatchMask,
    ) -> Result<WatchDescriptor, Error> {
        let path = path.as_ref();
        let fd = self.fd.as_raw_fd();
        let wd = with_c_path(path, |c| {
            // SAFETY: `c` is a valid NUL-terminated string for the duration
            // of the call; `fd` is our open descriptor.
            unsafe { sys::inotify_add_watch(fd, c.as_ptr(), mask.bits()) }
        })?;
        if wd < 0 {
            return Err(add_watch_error(errno()).with_path(path));
        }
        Ok(WatchDescriptor::new(self.id, wd))
    }

    /// Removes a watch. The kernel then queues an event with
    /// [`EventMask::IGNORED`](crate::EventMask::IGNORED) for it.
    ///
    /// A descriptor made by another instance, or one the kernel has already
    /// dropped (after `IGNORED`), fails with [`ErrorKind::UnknownWatch`].
    ///
    /// Man pages: [Linux inotify_rm_watch(2)](https://man7.org/linux/man-pages/man2/inotify_rm_watch.2.html),
    /// [FreeBSD inotify(2)](https://man.freebsd.org/cgi/man.cgi?query=inotify&sektion=2).
    pub fn rm_watch(&self, wd: WatchDescriptor) -> Result<(), Error> {
        if wd.instance_id() != self.id {
            return Err(Error::foreign_watch(wd.raw()));
        }
        raw::rm_watch(self.fd.as_fd(), wd.raw()).map_err(|e| {
            let errno = e.raw_os_error().unwrap_or(0);
            let kind = if errno == libc::EINVAL {
                ErrorKind::UnknownWatch
            } else {
                ErrorKind::Other
            };
            Error::os(kind, Op::RmWatch, errno).with_wd(wd.raw())
        })
    }

    /// Reads as many queued events as fit into `buf` with one `read(2)`,
    /// and returns an iterator over them that borrows `buf`.
    ///
    /// A blocking instance waits for at least one event; a non-blocking one
    /// fails with [`ErrorKind::WouldBlock`] when none is queued (drain it
    /// until then when using edge-triggered readiness). `EINTR` is retried.
    ///
    /// Man page: [Linux inotify(7)](https://man7.org/linux/man-pages/man7/inotify.7.html)
    /// ("Reading events from an inotify file descriptor").
    pub fn read<'b>(&self, buf: &'b mut EventBuffer) -> Result<Events<'b>, Error> {
        let (fd, ptr, cap) = (self.fd.as_raw_fd(), buf.as_mut_ptr(), buf.capacity());
        let n = loop {
            // SAFETY: `ptr` points to `cap` writable bytes of `buf`, which
            // stays mutably borrowed for the call; `fd` is our open descriptor.
            let n = unsafe { libc::read(fd, ptr.cast(), cap) };
            if n >= 0 {
                break n as usize;
            }
            match errno() {
                libc::EINTR => continue,
                e if e == libc::EAGAIN || e == libc::EWOULDBLOCK => {
                    return Err(Error::os(ErrorKind::WouldBlock, Op::Read, e));
                }
                // Cannot happen with an EventBuffer (>= 272 bytes), but map it
                // to what it would mean.
                libc::EINVAL => {
                    return Err(Error::os(ErrorKind::BufferTooSmall, Op::Read, libc::EINVAL));
                }
                e => return Err(Error::os(ErrorKind::Other, Op::Read, e)),
            }
        };
        Ok(Events::new(buf.filled(n), self.id))
    }

    /// Decodes bytes read from this instance's descriptor by other means
    /// (e.g. a `File` made from [`Inotify::as_fd`]), giving descriptors that
    /// compare equal to the ones [`add_watch`](Inotify::add_watch) returned.
    /// See [`Events::from_bytes`].
    pub fn decode<'b>(&self, bytes: &'b [u8]) -> Events<'b> {
        Events::new(bytes, self.id)
    }

    /// Waits until an event is queued or `timeout` passes, with `poll(2)`.
    ///
    /// Returns `Ok(true)` if the descriptor is readable, `Ok(false)` on
    /// timeout. `None` waits forever; `Some(Duration::ZERO)` only checks.
    /// `EINTR` is retried with the remaining time. Works the same on
    /// blocking and non-blocking instances.
    ///
    /// Man pages: [Linux poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html),
    /// [FreeBSD poll(2)](https://man.freebsd.org/cgi/man.cgi?query=poll&sektion=2).
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool, Error> {
        Ok(self.poll(None, None, timeout)?.events)
    }

    /// Like [`wait`](Inotify::wait), and also returns as soon as `wake` is
    /// notified ([`EventFd::notify`], from any thread, before or during the
    /// wait). The [`Readiness`] says which of the two is ready (both false:
    /// timeout); a notification stays pending until [`EventFd::reset`].
    ///
    /// Man pages: [Linux poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html),
    /// [Linux eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn wait_or_woken(
        &self,
        wake: &EventFd,
        timeout: Option<Duration>,
    ) -> Result<Readiness, Error> {
        self.poll(Some(wake.as_fd()), None, timeout)
    }

    /// Like [`wait`](Inotify::wait), and also returns as soon as `wake` (if
    /// given) is notified, or `priority` (if given) reports priority data
    /// (`POLLPRI`) or an error condition (`POLLERR`). That is how
    /// `/proc/self/mountinfo` signals a change of the mount table, which no
    /// inotify event reports: poll it here alongside the instance.
    /// [`Readiness`] says which is ready; `priority` being ready never
    /// makes `events` true.
    ///
    /// Man pages: [Linux poll(2)](https://man7.org/linux/man-pages/man2/poll.2.html),
    /// [Linux proc_pid_mountinfo(5)](https://man7.org/linux/man-pages/man5/proc_pid_mountinfo.5.html).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn wait_for(
        &self,
        wake: Option<&EventFd>,
        priority: Option<BorrowedFd<'_>>,
        timeout: Option<Duration>,
    ) -> Result<Readiness, Error> {
        self.poll(wake.map(AsFd::as_fd), priority, timeout)
    }

    /// `poll(2)` on the instance and, if given, a wake descriptor (readable)
    /// and a priority descriptor (`POLLPRI`).
    fn poll(
        &self,
        other: Option<BorrowedFd<'_>>,
        priority: Option<BorrowedFd<'_>>,
        timeout: Option<Duration>,
    ) -> Result<Readiness, Error> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let pollfd = |fd: Option<BorrowedFd<'_>>, events| libc::pollfd {
            // poll(2) ignores an entry whose descriptor is negative.
            fd: fd.map_or(-1, |fd| fd.as_raw_fd()),
            events,
            revents: 0,
        };
        let mut fds = [
            pollfd(Some(self.fd.as_fd()), libc::POLLIN),
            pollfd(other, libc::POLLIN),
            pollfd(priority, libc::POLLPRI),
        ];
        let count: libc::nfds_t = if priority.is_some() {
            3
        } else if other.is_some() {
            2
        } else {
            1
        };
        loop {
            let ms: libc::c_int = match (timeout, deadline) {
                (None, _) => -1,
                // A timeout too large for an Instant: wait in long slices.
                (Some(_), None) => libc::c_int::MAX,
                (Some(_), Some(d)) => {
                    let left = d.saturating_duration_since(Instant::now());
                    // Round up so that we never return before the deadline.
                    let ms = left.as_nanos().div_ceil(1_000_000);
                    libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
                }
            };
            // SAFETY: `fds` holds three initialised pollfds and `count` is
            // at most 3; poll only writes their `revents`.
            let rc = unsafe { libc::poll(fds.as_mut_ptr(), count, ms) };
            if rc > 0 {
                // Any revents (POLLIN, or POLLERR/POLLHUP/POLLNVAL) means a
                // read returns without blocking: with data or an error.
                return Ok(Readiness {
                    events: fds[0].revents != 0,
                    woken: other.is_some() && fds[1].revents != 0,
                    priority: priority.is_some() && fds[2].revents != 0,
                });
            }
            if rc < 0 {
                let e = errno();
                if e != libc::EINTR {
                    return Err(Error::os(ErrorKind::Other, Op::Wait, e));
                }
            }
            if let Some(d) = deadline
                && Instant::now() >= d
            {
                return Ok(Readiness::default());
            }
        }
    }
}

fn init_error(errno: i32) -> Error {
    match errno {
        libc::EMFILE => {
            if process_fd_table_full() {
                Error::os(ErrorKind::FdLimit, Op::Init, errno)
                    .with_limit(limits::process_fd_limit())
            } else {
                Error::os(ErrorKind::InstanceLimit, Op::Init, errno)
                    .with_limit(limits::instance_limit())
            }
        }
        libc::ENFILE => {
            Error::os(ErrorKind::FdLimit, Op::Init, errno).with_limit(limits::system_fd_limit())
        }
        e => Error::os(ErrorKind::Other, Op::Init, e),
    }
}

/// `EMFILE` from inotify_init1 means either the per-user instance limit or
/// the per-process descriptor limit; tell them apart by asking for one more
/// descriptor of another kind.
fn process_fd_table_full() -> bool {
    // SAFETY: the path is a NUL-terminated literal; a returned descriptor is
    // closed right away.
    let fd = unsafe {
        libc::open(
            c"/".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_DIRECTORY,
        )
    };
    if fd >= 0 {
        // SAFETY: `fd` was just opened and is owned by nobody else.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
        false
    } else {
        errno() == libc::EMFILE
    }
}

fn add_watch_error(errno: i32) -> Error {
    let kind = match errno {
        libc::ENOSPC => {
            return Error::os(ErrorKind::WatchLimit, Op::AddWatch, errno)
                .with_limit(limits::watch_limit());
        }
        libc::ENOENT => ErrorKind::NotFound,
        libc::EACCES | libc::EPERM => ErrorKind::PermissionDenied,
        libc::ENOTDIR => ErrorKind::NotADirectory,
        libc::EEXIST => ErrorKind::AlreadyWatched,
        libc::EINVAL => ErrorKind::InvalidMask,
        _ => ErrorKind::Other,
    };
    Error::os(kind, Op::AddWatch, errno)
}

impl AsFd for Inotify {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Inotify {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl IntoRawFd for Inotify {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl From<Inotify> for OwnedFd {
    fn from(inotify: Inotify) -> OwnedFd {
        inotify.fd
    }
}

impl From<OwnedFd> for Inotify {
    /// Adopts a descriptor that must come from `inotify_init1` (for instance
    /// one returned by `OwnedFd::from(Inotify)`). It gets a new instance id,
    /// so descriptors made before the conversion no longer match.
    fn from(fd: OwnedFd) -> Inotify {
        Inotify {
            fd,
            id: next_instance_id(),
        }
    }
}

/// Bare system calls, one each, without path conversion, error mapping or
/// instance bookkeeping.
///
/// Not part of the API, for benches only: it is the floor that
/// [`Inotify::add_watch`] and [`Inotify::rm_watch`] are measured against.
#[doc(hidden)]
pub mod raw {
    use super::*;
    use std::ffi::CStr;

    /// Exactly one `inotify_add_watch(2)`.
    pub fn add_watch(fd: BorrowedFd<'_>, path: &CStr, mask: u32) -> std::io::Result<i32> {
        // SAFETY: `path` is NUL-terminated and outlives the call; a bad `fd`
        // is reported by the kernel as EBADF/EINVAL.
        let wd = unsafe { sys::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) };
        if wd < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(wd)
        }
    }

    /// Exactly one `inotify_rm_watch(2)`.
    pub fn rm_watch(fd: BorrowedFd<'_>, wd: i32) -> std::io::Result<()> {
        #[cfg(target_os = "android")]
        let wd = wd as u32;
        // SAFETY: no pointers; the kernel validates `fd` and `wd`.
        let rc = unsafe { sys::inotify_rm_watch(fd.as_raw_fd(), wd) };
        if rc < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_names_the_watch_limit_and_its_value() {
        let err = add_watch_error(libc::ENOSPC).with_path(Path::new("some/dir"));
        assert_eq!(err.kind(), ErrorKind::WatchLimit);
        let limit = err.limit().unwrap();
        assert_eq!(limit.name, "fs.inotify.max_user_watches");
        let current: u64 = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(limit.value, Some(current));
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("fs.inotify.max_user_watches={current}")),
            "{msg}"
        );
        assert!(msg.contains("some/dir"), "{msg}");
        assert!(msg.contains("sysctl"), "{msg}");
        assert_eq!(err.path(), Some(Path::new("some/dir")));
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
    }

    #[test]
    fn emfile_at_init_names_the_instance_limit() {
        // With descriptors to spare, EMFILE can only be the instance limit.
        let err = init_error(libc::EMFILE);
        assert_eq!(err.kind(), ErrorKind::InstanceLimit);
        let limit = err.limit().unwrap();
        assert_eq!(limit.name, "fs.inotify.max_user_instances");
        let current: u64 = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_instances")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(limit.value, Some(current));
        assert!(err.to_string().contains("fs.inotify.max_user_instances="));
    }

    #[test]
    fn enfile_is_the_system_fd_limit() {
        let err = init_error(libc::ENFILE);
        assert_eq!(err.kind(), ErrorKind::FdLimit);
        assert_eq!(err.limit().unwrap().name, "fs.file-max");
    }

    #[test]
    fn errno_mapping_for_add_watch() {
        for (errno, kind) in [
            (libc::ENOENT, ErrorKind::NotFound),
            (libc::EACCES, ErrorKind::PermissionDenied),
            (libc::EPERM, ErrorKind::PermissionDenied),
            (libc::ENOTDIR, ErrorKind::NotADirectory),
            (libc::EEXIST, ErrorKind::AlreadyWatched),
            (libc::EINVAL, ErrorKind::InvalidMask),
            (libc::ENOMEM, ErrorKind::Other),
        ] {
            let err = add_watch_error(errno).with_path(Path::new("p"));
            assert_eq!(err.kind(), kind, "errno {errno}");
            assert_eq!(err.raw_os_error(), Some(errno));
            assert!(std::error::Error::source(&err).is_some());
            assert!(err.to_string().starts_with("p: "), "{err}");
        }
    }

    #[test]
    fn converts_to_io_error_keeping_the_payload() {
        let err = add_watch_error(libc::ENOENT).with_path(Path::new("gone"));
        let io: std::io::Error = err.into();
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        let inner = io.get_ref().unwrap().downcast_ref::<Error>().unwrap();
        assert_eq!(inner.kind(), ErrorKind::NotFound);
        let wb: std::io::Error = Error::os(ErrorKind::WouldBlock, Op::Read, libc::EAGAIN).into();
        assert_eq!(wb.kind(), std::io::ErrorKind::WouldBlock);
    }
}
