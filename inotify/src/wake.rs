//! An eventfd, so that another thread can end a wait on an instance.

#[cfg(any(target_os = "linux", target_os = "android"))]
pub use eventfd::EventFd;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod eventfd {
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

    use crate::error::{Error, ErrorKind, Op};
    use crate::limits;

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    /// A kernel counter that polls readable while it is non-zero
    /// (`eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`): [`notify`](EventFd::notify)
    /// from any thread ends an [`Inotify::wait_or_woken`](crate::Inotify::wait_or_woken)
    /// on another, and [`reset`](EventFd::reset) consumes the notifications.
    ///
    /// Owns its descriptor (close-on-exec, closed on drop); `Send + Sync`, so it
    /// can be shared through an `Arc`. Linux and Android only.
    ///
    /// Man page: [Linux eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html).
    #[derive(Debug)]
    pub struct EventFd {
        fd: OwnedFd,
    }

    impl EventFd {
        /// Creates a counter at zero: `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`.
        ///
        /// Errors: [`ErrorKind::FdLimit`] (with the limit to raise) when no
        /// descriptor is left.
        ///
        /// Man page: [Linux eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html).
        pub fn new() -> Result<EventFd, Error> {
            // SAFETY: eventfd takes no pointers; a non-negative result is a new
            // descriptor that nothing else owns.
            let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
            if fd < 0 {
                let e = errno();
                return Err(match e {
                    libc::EMFILE => Error::os(ErrorKind::FdLimit, Op::EventFd, e)
                        .with_limit(limits::process_fd_limit()),
                    libc::ENFILE => Error::os(ErrorKind::FdLimit, Op::EventFd, e)
                        .with_limit(limits::system_fd_limit()),
                    e => Error::os(ErrorKind::Other, Op::EventFd, e),
                });
            }
            // SAFETY: `fd` was just returned by eventfd, is open, and is owned by
            // nobody else.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            Ok(EventFd { fd })
        }

        /// Adds one to the counter, making the descriptor readable; never
        /// blocks. A counter already at its maximum (`EAGAIN`) is readable
        /// anyway, so that is success too. `EINTR` is retried.
        ///
        /// Man page: [Linux eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html).
        pub fn notify(&self) -> Result<(), Error> {
            let one: u64 = 1;
            loop {
                // SAFETY: the buffer is the 8 bytes of `one`, which outlives the
                // call; eventfd(2) requires exactly an 8-byte write.
                let n = unsafe {
                    libc::write(
                        self.fd.as_raw_fd(),
                        std::ptr::from_ref(&one).cast(),
                        size_of::<u64>(),
                    )
                };
                if n >= 0 {
                    return Ok(());
                }
                match errno() {
                    libc::EINTR => continue,
                    e if e == libc::EAGAIN || e == libc::EWOULDBLOCK => return Ok(()),
                    e => return Err(Error::os(ErrorKind::Other, Op::Notify, e)),
                }
            }
        }

        /// Sets the counter back to zero, so the descriptor is no longer
        /// readable; returns whether it was non-zero. Never blocks.
        ///
        /// Man page: [Linux eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html).
        pub fn reset(&self) -> Result<bool, Error> {
            let mut value: u64 = 0;
            loop {
                // SAFETY: the buffer is the 8 writable bytes of `value`, which
                // outlives the call; eventfd(2) requires exactly an 8-byte read.
                let n = unsafe {
                    libc::read(
                        self.fd.as_raw_fd(),
                        std::ptr::from_mut(&mut value).cast(),
                        size_of::<u64>(),
                    )
                };
                if n >= 0 {
                    return Ok(true);
                }
                match errno() {
                    libc::EINTR => continue,
                    e if e == libc::EAGAIN || e == libc::EWOULDBLOCK => return Ok(false),
                    e => return Err(Error::os(ErrorKind::Other, Op::Reset, e)),
                }
            }
        }
    }

    impl AsFd for EventFd {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.fd.as_fd()
        }
    }

    impl AsRawFd for EventFd {
        fn as_raw_fd(&self) -> RawFd {
            self.fd.as_raw_fd()
        }
    }
}

/// What ended an [`Inotify::wait_or_woken`](crate::Inotify::wait_or_woken)
/// or an [`Inotify::wait_for`](crate::Inotify::wait_for): every flag is
/// false on timeout, and several can be true.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Events are queued on the instance.
    pub events: bool,
    /// The [`EventFd`](crate::EventFd) was notified (and not yet reset).
    pub woken: bool,
    /// The descriptor watched for priority data reported `POLLPRI` or
    /// `POLLERR`: for `/proc/self/mountinfo`, the mount table changed.
    pub priority: bool,
}
