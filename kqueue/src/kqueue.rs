//! The kqueue itself: creation, submitting change batches, waiting, and
//! user events.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::abi::{Abi, Native};
use crate::batch::{Applied, Changes, RawEvent};
use crate::change::Change;
use crate::error::{Error, ErrorKind};
use crate::flags::Token;

use kqueue_sys as sys;

/// The count type of `kevent()`: `size_t` on NetBSD, `int` elsewhere.
#[cfg(target_os = "netbsd")]
type Count = usize;
#[cfg(not(target_os = "netbsd"))]
type Count = core::ffi::c_int;

/// Most changes submitted by one `kevent()` call. libkqueue truncates an
/// event list to 512 entries (`MAX_KEVENT`), which would lose receipts, so
/// there a larger batch takes several calls; the kernels take any number.
#[cfg(not(kernel_kqueue))]
const MAX_CHANGES_PER_CALL: usize = 512;
#[cfg(kernel_kqueue)]
const MAX_CHANGES_PER_CALL: usize = usize::MAX;

/// Longest timeout passed to the kernel, in seconds (about three years).
/// Longer timeouts are clamped: some systems reject huge `timespec` values.
const MAX_TIMEOUT_SECS: u64 = 100_000_000;

/// A kqueue: the kernel event queue, owning its descriptor.
///
/// The descriptor is close-on-exec (`kqueuex(KQUEUE_CLOEXEC)` on FreeBSD,
/// `kqueue1(O_CLOEXEC)` on NetBSD, `FD_CLOEXEC` right after `kqueue()`
/// elsewhere; no BSD or macOS kernel lets a `fork(2)` child inherit a kqueue,
/// so that gap cannot leak it into a child). It is closed when the `Kqueue`
/// is dropped. `Kqueue` is `Send + Sync`: one thread may wait while another
/// submits changes or triggers a user event.
///
/// The descriptor polls readable (poll(2), select(2), another kqueue) when
/// events are pending, on the BSDs and macOS; with libkqueue on Linux it
/// never does, so wait with [`Kqueue::wait`] there.
///
/// Manual pages:
/// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kqueue&sektion=2),
/// [OpenBSD](https://man.openbsd.org/kqueue.2),
/// [NetBSD](https://man.netbsd.org/kqueue.2),
/// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kqueue.2.html).
#[derive(Debug)]
pub struct Kqueue {
    // Shared only with `Weak` handles held by vnode watches, which delete
    // their registration on drop while the kqueue is alive.
    fd: Arc<OwnedFd>,
}

impl Kqueue {
    /// Creates a kqueue (close-on-exec).
    ///
    /// Errors: [`ErrorKind::FdLimit`] / [`ErrorKind::SystemFdLimit`] when no
    /// descriptor is available, [`ErrorKind::OutOfMemory`].
    ///
    /// Manual pages:
    /// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kqueue&sektion=2),
    /// [OpenBSD](https://man.openbsd.org/kqueue.2),
    /// [NetBSD](https://man.netbsd.org/kqueue.2),
    /// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kqueue.2.html).
    pub fn new() -> Result<Kqueue, Error> {
        let fd = create()?;
        Ok(Kqueue { fd: Arc::new(fd) })
    }

    pub(crate) fn weak(&self) -> Weak<OwnedFd> {
        Arc::downgrade(&self.fd)
    }

    /// Submits every change of `changes` with one `kevent()` call (with
    /// libkqueue, one call per 512 changes).
    ///
    /// Each change carries `EV_RECEIPT`, so the kernel applies all of them
    /// and writes one receipt per change back into the batch's own storage.
    /// The returned [`Applied`] lists the changes that failed, by index; all
    /// others were applied. When it is dropped the batch is empty again,
    /// ready for reuse (its capacity is kept).
    ///
    /// Errors concern the call as a whole (a bad kqueue descriptor, a batch
    /// longer than the system's count type); the batch is then cleared and
    /// the fate of its changes is unknown, except for
    /// [`ErrorKind::Interrupted`], after which all changes were applied.
    /// (If a later libkqueue call fails, the changes it carried are reported
    /// as failures with that error, and the earlier ones keep their receipts.)
    ///
    /// Manual pages:
    /// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kevent&sektion=2),
    /// [OpenBSD](https://man.openbsd.org/kevent.2),
    /// [NetBSD](https://man.netbsd.org/kevent.2),
    /// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kevent.2.html).
    pub fn apply<'c>(&self, changes: &'c mut Changes) -> Result<Applied<'c>, Error> {
        let n = changes.raw.len();
        let mut receipts = 0;
        let mut tail_errno = None;
        for chunk in changes.raw.chunks_mut(MAX_CHANGES_PER_CALL) {
            match self.apply_chunk(chunk) {
                Ok(got) => {
                    receipts += got;
                    if got < chunk.len() {
                        // Never seen in practice; later changes are not
                        // submitted, and the caller hears about all of them.
                        break;
                    }
                }
                Err(err) if receipts == 0 => {
                    changes.raw.clear();
                    return Err(err);
                }
                Err(err) => {
                    // Earlier calls were applied and have their receipts.
                    tail_errno = Some(err.raw_os_error().unwrap_or(libc::EIO));
                    break;
                }
            }
        }
        debug_assert!(receipts <= n);
        Ok(Applied { changes, receipts, tail_errno })
    }

    /// One `kevent()` call for `chunk`; returns the number of receipts.
    fn apply_chunk(&self, chunk: &mut [RawEvent]) -> Result<usize, Error> {
        let n = chunk.len();
        let count = Count::try_from(n).map_err(|_| Error::new(ErrorKind::InvalidInput, "kevent"))?;
        let list = chunk.as_mut_ptr().cast::<sys::kevent>();
        let zero = timespec(Duration::ZERO);
        // SAFETY: `list` points to `n` initialised kevents (RawEvent is a
        // transparent wrapper) that are both read as the change list and
        // written as the event list; kevent(2) allows the same array for
        // both, and with EV_RECEIPT on every change it writes at most one
        // receipt per change read, never ahead of the changes still unread.
        // The event list is exactly as long as the change list, so no
        // pending event can be stored and the zero timeout never waits.
        let rc = unsafe { sys::kevent(self.fd.as_raw_fd(), list, count, list, count, &zero) };
        if rc < 0 {
            return Err(Error::from_io("kevent", io::Error::last_os_error()));
        }
        Ok(usize::try_from(rc).unwrap_or(0).min(n))
    }

    /// Submits one change and returns its own error, if any.
    ///
    /// Manual pages:
    /// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kevent&sektion=2),
    /// [OpenBSD](https://man.openbsd.org/kevent.2),
    /// [NetBSD](https://man.netbsd.org/kevent.2),
    /// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kevent.2.html).
    pub fn apply_one(&self, change: Change) -> Result<(), Error> {
        let mut changes = Changes::with_capacity(1);
        changes.push(change);
        let applied = self.apply(&mut changes)?;
        let first = applied.failures().next();
        match first {
            Some(failure) => Err(failure.error),
            None => Ok(()),
        }
    }

    /// Fires the user event named `ident`, registered with
    /// [`Change::user`] and `token`, waking a thread blocked in a wait on
    /// this kqueue (see [`Change::trigger`]).
    pub fn trigger(&self, ident: usize, token: Token) -> Result<(), Error> {
        self.apply_one(Change::trigger(ident, token))
    }

    /// A handle that fires the user event named `ident` (registered with
    /// [`Change::user`] and `token`) from any thread, like
    /// [`Kqueue::trigger`], without keeping the kqueue open.
    pub fn user_trigger(&self, ident: usize, token: Token) -> UserTrigger {
        UserTrigger {
            kq: self.weak(),
            ident,
            token,
        }
    }

    /// Waits for events and appends them to `events`, in its spare capacity.
    ///
    /// At most `events.capacity() - events.len()` events are read, with one
    /// `kevent()` call; reserve room first ([`ErrorKind::NoEventSpace`] if
    /// there is none). `timeout`: `None` waits until an event arrives,
    /// `Some(Duration::ZERO)` polls, longer timeouts are clamped to about
    /// three years. A signal (`EINTR`) does not end the wait early: it is
    /// retried with the time remaining. Returns the number of events appended
    /// (0 on timeout).
    ///
    /// Manual pages:
    /// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kevent&sektion=2),
    /// [OpenBSD](https://man.openbsd.org/kevent.2),
    /// [NetBSD](https://man.netbsd.org/kevent.2),
    /// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kevent.2.html).
    pub fn wait(
        &self,
        events: &mut Vec<RawEvent>,
        timeout: Option<Duration>,
    ) -> Result<usize, Error> {
        let spare = events.spare_capacity_mut();
        let n = self.wait_raw(spare, timeout)?;
        let len = events.len();
        // SAFETY: the kernel initialised the first `n` elements of the spare
        // capacity, which directly follow the `len` initialised elements.
        unsafe { events.set_len(len + n) };
        Ok(n)
    }

    /// Waits for events and stores them at the start of `events`; returns how
    /// many were stored. Same rules as [`Kqueue::wait`].
    ///
    /// Manual pages:
    /// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kevent&sektion=2),
    /// [OpenBSD](https://man.openbsd.org/kevent.2),
    /// [NetBSD](https://man.netbsd.org/kevent.2),
    /// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kevent.2.html).
    pub fn wait_slice(
        &self,
        events: &mut [RawEvent],
        timeout: Option<Duration>,
    ) -> Result<usize, Error> {
        // SAFETY: `MaybeUninit<T>` has the layout of `T`; the kernel only
        // writes complete, initialised kevents into it, so the slice stays
        // initialised.
        let uninit = unsafe {
            std::slice::from_raw_parts_mut(
                events.as_mut_ptr().cast::<MaybeUninit<RawEvent>>(),
                events.len(),
            )
        };
        self.wait_raw(uninit, timeout)
    }

    fn wait_raw(
        &self,
        out: &mut [MaybeUninit<RawEvent>],
        timeout: Option<Duration>,
    ) -> Result<usize, Error> {
        if out.is_empty() {
            return Err(Error::new(ErrorKind::NoEventSpace, "kevent"));
        }
        let count = Count::try_from(out.len()).unwrap_or(Count::MAX);
        let list = out.as_mut_ptr().cast::<sys::kevent>();
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut remaining = timeout;
        loop {
            let ts = remaining.map(timespec);
            let ts_ptr = ts.as_ref().map_or(ptr::null(), ptr::from_ref);
            // SAFETY: `list` points to `count` writable kevent slots
            // (`count <= out.len()`), the change list is empty, and `ts_ptr`
            // is null or points to `ts`, which outlives the call.
            let rc = unsafe { sys::kevent(self.fd.as_raw_fd(), ptr::null(), 0, list, count, ts_ptr) };
            if rc >= 0 {
                return Ok(usize::try_from(rc).unwrap_or(0).min(out.len()));
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(Error::from_io("kevent", err));
            }
            // kevent(2): EINTR means no event was returned; wait again for
            // the time left.
            if let Some(deadline) = deadline {
                remaining = Some(deadline.saturating_duration_since(Instant::now()));
            }
        }
    }
}

/// Converts a timeout, clamped to [`MAX_TIMEOUT_SECS`].
fn timespec(d: Duration) -> sys::timespec {
    let (secs, nanos) = if d.as_secs() >= MAX_TIMEOUT_SECS {
        (MAX_TIMEOUT_SECS, 0)
    } else {
        (d.as_secs(), d.subsec_nanos())
    };
    sys::timespec {
        // Both values fit: secs < 10^8 and nanos < 10^9.
        tv_sec: secs as libc::time_t,
        tv_nsec: nanos as libc::c_long,
    }
}

/// Creates the kqueue descriptor, close-on-exec.
fn create() -> Result<OwnedFd, Error> {
    #[cfg(target_os = "freebsd")]
    let fd = sys::kqueuex(sys::KQUEUE_CLOEXEC);
    #[cfg(target_os = "netbsd")]
    let fd = sys::kqueue1(libc::O_CLOEXEC);
    #[cfg(not(any(target_os = "freebsd", target_os = "netbsd")))]
    let fd = sys::kqueue();
    if fd < 0 {
        return Err(Error::from_io("kqueue", io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a descriptor that was just created and is owned by
    // nothing else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    #[cfg(not(any(target_os = "freebsd", target_os = "netbsd")))]
    set_cloexec(owned.as_fd())?;
    Ok(owned)
}

#[cfg(not(any(target_os = "freebsd", target_os = "netbsd")))]
fn set_cloexec(fd: BorrowedFd<'_>) -> Result<(), Error> {
    // SAFETY: F_GETFD takes no argument and only reads descriptor flags of
    // an open descriptor.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    if flags < 0 {
        return Err(Error::from_io("fcntl", io::Error::last_os_error()));
    }
    // SAFETY: F_SETFD takes an int argument and only sets descriptor flags.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flags | libc::FD_CLOEXEC) };
    if rc < 0 {
        return Err(Error::from_io("fcntl", io::Error::last_os_error()));
    }
    Ok(())
}

/// Deletes one registration, ignoring errors (used on drop).
pub(crate) fn delete_quietly(kq: BorrowedFd<'_>, change: Change) {
    let k = Native::encode(&change.to_delete());
    let zero = timespec(Duration::ZERO);
    // SAFETY: one readable kevent, no event list, a valid timeout.
    let _ = unsafe { sys::kevent(kq.as_raw_fd(), &k, 1, ptr::null_mut(), 0, &zero) };
}

impl AsFd for Kqueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Kqueue {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl From<OwnedFd> for Kqueue {
    /// Takes ownership of a kqueue descriptor (it is not checked to be one:
    /// calls on another kind of descriptor fail with an error).
    fn from(fd: OwnedFd) -> Kqueue {
        Kqueue { fd: Arc::new(fd) }
    }
}

impl From<Kqueue> for OwnedFd {
    /// Releases the descriptor. Vnode watches opened from this kqueue no
    /// longer delete their registration when dropped (closing their
    /// descriptor still removes it on the BSDs and macOS).
    fn from(kq: Kqueue) -> OwnedFd {
        let mut fd = kq.fd;
        loop {
            // Watches and triggers only hold `Weak` handles; a strong one
            // exists only while a watch's drop submits its `EV_DELETE` or a
            // trigger fires, which ends soon.
            match Arc::try_unwrap(fd) {
                Ok(owned) => return owned,
                Err(shared) => {
                    fd = shared;
                    std::thread::yield_now();
                }
            }
        }
    }
}

/// Fires one user event (`EVFILT_USER`) of a [`Kqueue`]: made by
/// [`Kqueue::user_trigger`], cheap to clone, `Send + Sync`, so that any
/// thread can wake one blocked in [`Kqueue::wait`].
///
/// It does not keep the kqueue open: once the kqueue is dropped,
/// [`fire`](UserTrigger::fire) has nothing to wake and returns `Ok(false)`.
///
/// Manual pages (`EVFILT_USER`, `NOTE_TRIGGER`):
/// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kevent&sektion=2),
/// [OpenBSD](https://man.openbsd.org/kevent.2),
/// [NetBSD](https://man.netbsd.org/kevent.2),
/// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kevent.2.html).
#[derive(Clone, Debug)]
pub struct UserTrigger {
    kq: Weak<OwnedFd>,
    ident: usize,
    token: Token,
}

impl UserTrigger {
    /// Fires the user event (`NOTE_TRIGGER`); returns `Ok(false)`, doing
    /// nothing, when the kqueue is gone. Errors as [`Kqueue::trigger`]'s
    /// (e.g. [`ErrorKind::NotFound`] when the event was never registered).
    pub fn fire(&self) -> Result<bool, Error> {
        let Some(fd) = self.kq.upgrade() else {
            return Ok(false);
        };
        // A strong handle for the length of one kevent() call; if the
        // kqueue is dropped meanwhile, this one closes it.
        Kqueue { fd }.trigger(self.ident, self.token)?;
        Ok(true)
    }
}
