//! Vnode watches: a file or directory opened only to be watched.

use std::fs::{File, OpenOptions};
use std::mem::ManuallyDrop;
use std::os::unix::fs::MetadataExt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Weak;

use crate::change::Change;
use crate::error::{Error, ErrorKind};
use crate::flags::{Token, VnodeEvents};
use crate::batch::Changes;
use crate::kqueue::{Kqueue, delete_quietly};

/// How [`VnodeWatch::open`] opens its path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnodeOptions {
    no_follow: bool,
    directory: bool,
}

impl VnodeOptions {
    /// Follow symbolic links, accept any file type.
    pub const fn new() -> VnodeOptions {
        VnodeOptions { no_follow: false, directory: false }
    }

    /// Do not follow a symbolic link in the last component (`O_NOFOLLOW`):
    /// opening one fails with [`ErrorKind::IsSymlink`].
    pub const fn no_follow(mut self, yes: bool) -> VnodeOptions {
        self.no_follow = yes;
        self
    }

    /// Require a directory (`O_DIRECTORY`): anything else fails with
    /// [`ErrorKind::NotADirectory`].
    pub const fn directory(mut self, yes: bool) -> VnodeOptions {
        self.directory = yes;
        self
    }

    fn custom_flags(self) -> libc::c_int {
        // O_NONBLOCK: opening a FIFO must not wait for a writer.
        #[cfg(target_vendor = "apple")]
        let mut flags = kqueue_sys::O_EVTONLY | libc::O_NONBLOCK;
        #[cfg(not(target_vendor = "apple"))]
        let mut flags = libc::O_NONBLOCK;
        if self.no_follow {
            flags |= libc::O_NOFOLLOW;
        }
        if self.directory {
            flags |= libc::O_DIRECTORY;
        }
        flags
    }
}

/// A file or directory opened only to be watched with `EVFILT_VNODE`.
///
/// The watch opens its path itself (`O_EVTONLY` on Apple systems, so the
/// file does not keep its volume busy; read-only elsewhere; always
/// close-on-exec and non-blocking) and owns the descriptor. Register it with
/// [`VnodeWatch::register`] (in a batch) or [`Kqueue::watch_vnode`] (alone).
/// On drop it deletes its registration (`EV_DELETE`) and then closes the
/// descriptor: libkqueue keeps a knote after its descriptor is closed, and
/// the explicit delete is also correct on the BSDs and macOS.
///
/// The descriptor pins the inode it opened: after the path is renamed over
/// or deleted, events keep coming from the old file. Reopen the path to
/// follow it.
///
/// Manual pages (`EVFILT_VNODE`):
/// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kqueue&sektion=2),
/// [OpenBSD](https://man.openbsd.org/kqueue.2),
/// [NetBSD](https://man.netbsd.org/kqueue.2),
/// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kqueue.2.html).
#[derive(Debug)]
pub struct VnodeWatch {
    // Declared before `fd`: fields drop in order, but `Drop::drop` runs
    // first anyway and deletes the registration while `fd` is open.
    kq: Weak<OwnedFd>,
    fd: OwnedFd,
}

impl VnodeWatch {
    /// Opens `path` for watching with `kq`. The watch is not registered yet.
    ///
    /// Errors: [`ErrorKind::FdLimit`] (naming `RLIMIT_NOFILE` and its value)
    /// or [`ErrorKind::SystemFdLimit`] when no descriptor is left,
    /// [`ErrorKind::NotFound`], [`ErrorKind::PermissionDenied`],
    /// [`ErrorKind::NotADirectory`], [`ErrorKind::IsSymlink`].
    ///
    /// Manual pages:
    /// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=open&sektion=2),
    /// [OpenBSD](https://man.openbsd.org/open.2),
    /// [NetBSD](https://man.netbsd.org/open.2),
    /// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/open.2.html).
    pub fn open(
        kq: &Kqueue,
        path: impl AsRef<Path>,
        options: VnodeOptions,
    ) -> Result<VnodeWatch, Error> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(options.custom_flags())
            .open(path)
            .map_err(|err| open_error(err, path, options))?;
        Ok(VnodeWatch { kq: kq.weak(), fd: File::into(file) })
    }

    /// The registration change for this watch (`EV_ADD | EV_CLEAR`).
    pub fn change(&self, interest: VnodeEvents, token: Token) -> Change {
        Change::vnode(self.fd.as_fd(), interest, token)
    }

    /// The number of hard links of the watched file or directory now
    /// (`fstat(2)` on the watch's descriptor): 0 once it was deleted, even if
    /// its path has been reused since. Tells a deletion from a rename.
    ///
    /// Manual pages:
    /// [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=fstat&sektion=2),
    /// [OpenBSD](https://man.openbsd.org/fstat.2),
    /// [NetBSD](https://man.netbsd.org/fstat.2),
    /// [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/fstat.2.html).
    pub fn link_count(&self) -> Result<u64, Error> {
        // SAFETY: the descriptor is open and owned by `self` for the whole
        // call; `ManuallyDrop` keeps the temporary `File` from closing it.
        let file = ManuallyDrop::new(unsafe { File::from_raw_fd(self.fd.as_raw_fd()) });
        file.metadata()
            .map(|m| m.nlink())
            .map_err(|e| Error::from_io("fstat", e))
    }

    /// Pushes this watch's registration onto `changes`; returns its index.
    pub fn register(&self, changes: &mut Changes, interest: VnodeEvents, token: Token) -> usize {
        changes.push(self.change(interest, token))
    }
}

fn open_error(err: std::io::Error, path: &Path, options: VnodeOptions) -> Error {
    let errno = err.raw_os_error();
    let base = Error::from_io("open", err).with_path(path);
    // O_NOFOLLOW on a symbolic link: ELOOP (POSIX, macOS, OpenBSD, Linux),
    // EMLINK (FreeBSD, DragonFly), EFTYPE (NetBSD).
    let symlink = match errno {
        Some(libc::ELOOP) => true,
        #[cfg(any(kqueue_impl = "freebsd", kqueue_impl = "dragonfly"))]
        Some(libc::EMLINK) => true,
        #[cfg(target_os = "netbsd")]
        Some(libc::EFTYPE) => true,
        _ => false,
    };
    if options.no_follow && symlink {
        base.with_kind(ErrorKind::IsSymlink)
    } else {
        base
    }
}

impl Drop for VnodeWatch {
    fn drop(&mut self) {
        if let Some(kq) = self.kq.upgrade() {
            let change = Change::vnode(self.fd.as_fd(), VnodeEvents::empty(), Token(0));
            delete_quietly(kq.as_fd(), change);
        }
        // `self.fd` is closed when the fields drop, after the delete.
    }
}

impl AsFd for VnodeWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for VnodeWatch {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Kqueue {
    /// Opens `path` and registers it for `interest` with one `kevent()` call.
    ///
    /// To watch many paths, open them with [`VnodeWatch::open`] and register
    /// them in one batch ([`VnodeWatch::register`], [`Kqueue::apply`]).
    pub fn watch_vnode(
        &self,
        path: impl AsRef<Path>,
        options: VnodeOptions,
        interest: VnodeEvents,
        token: Token,
    ) -> Result<VnodeWatch, Error> {
        let path = path.as_ref();
        let watch = VnodeWatch::open(self, path, options)?;
        self.apply_one(watch.change(interest, token))
            .map_err(|e| e.with_path(path))?;
        Ok(watch)
    }
}
