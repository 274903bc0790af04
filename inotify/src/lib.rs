//! Safe, zero-copy, never-panicking inotify.
//!
//! ```no_run
//! use inotify::{Event, EventBuffer, Inotify, WatchMask};
//!
//! let inotify = Inotify::init()?;
//! let wd = inotify.add_watch(".", WatchMask::CREATE | WatchMask::DELETE)?;
//! let mut buf = EventBuffer::default();
//! for event in inotify.read(&mut buf)? {
//!     match event? {
//!         Event::Watch(e) if e.wd == wd => println!("{:?} {:?}", e.mask, e.name),
//!         Event::Watch(_) => {}
//!         Event::Overflow => println!("queue overflowed: rescan"),
//!     }
//! }
//! # Ok::<(), inotify::Error>(())
//! ```
//!
//! * [`Inotify`] owns the descriptor (always close-on-exec; blocking or
//!   non-blocking fixed at creation) and lends it through [`AsFd`](std::os::fd::AsFd).
//! * [`Inotify::add_watch`] builds the C path on the stack and maps every
//!   failure to an [`ErrorKind`] that says what to do, naming the limit to
//!   raise (`fs.inotify.max_user_watches`, `fs.inotify.max_user_instances`).
//! * [`Inotify::read`] fills an aligned [`EventBuffer`] with one system call
//!   and returns [`Events`], a borrowing iterator: names are `&OsStr` into the
//!   buffer, unknown mask bits are kept, the queue-overflow record is
//!   [`Event::Overflow`], and a record that does not fit is an error item.
//!   [`Events::from_bytes`] decodes bytes without a system call.
//! * [`WatchDescriptor`]s remember their instance, so descriptors of two
//!   instances never compare equal.
//! * [`DirBuffer`] (Linux, Android) lists a directory with `getdents64(2)`
//!   into one buffer kept across listings, names borrowed from it: the
//!   listing that follows adding a watch on a directory, without the
//!   `fstat` and buffer allocation of `opendir`; [`stat_at`] examines a
//!   listed entry relative to the open directory (`fstatat(2)`), and
//!   [`open_dir_nofollow`] opens only a real directory.
//! * [`Inotify::wait_or_woken`] also returns when an [`EventFd`] (Linux,
//!   Android) is notified from another thread, so a blocked reader can be
//!   told to stop.
//!
//! Man pages: [Linux inotify(7)](https://man7.org/linux/man-pages/man7/inotify.7.html),
//! [FreeBSD inotify(2)](https://man.freebsd.org/cgi/man.cgi?query=inotify&sektion=2).
#![deny(missing_docs)]

mod buffer;
mod cpath;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod dir;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod entry;
mod error;
mod events;
mod instance;
pub mod limits;
mod mask;
mod wake;
mod wd;

pub use buffer::EventBuffer;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use dir::{DirBuffer, DirEntryRef, DirEntryType, open_dir};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use entry::{EntryStat, open_dir_nofollow, stat_at};
pub use error::{Error, ErrorKind, Limit};
pub use events::{Event, Events, WatchEvent};
pub use instance::Inotify;
#[doc(hidden)]
pub use instance::raw;
pub use mask::{EventMask, WatchMask};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use wake::EventFd;
pub use wake::Readiness;
pub use wd::WatchDescriptor;

/// The public types can cross threads: an instance can be read on one
/// thread while another adds watches, and errors can be sent anywhere.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Inotify>();
    send_sync::<Error>();
    send_sync::<EventBuffer>();
    send_sync::<Events<'static>>();
    send_sync::<Event<'static>>();
    send_sync::<WatchDescriptor>();
    #[cfg(any(target_os = "linux", target_os = "android"))]
    send_sync::<DirBuffer>();
    #[cfg(any(target_os = "linux", target_os = "android"))]
    send_sync::<EventFd>();
};
