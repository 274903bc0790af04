//! Safe wrapper over kqueue, the BSD/macOS kernel event notification
//! interface (and libkqueue on Linux with the `libkqueue` feature).
//!
//! - [`Kqueue`] owns a close-on-exec kqueue descriptor.
//! - [`Changes`] is a batch of [`Change`]s submitted with one `kevent()`
//!   call; every change carries `EV_RECEIPT`, so [`Kqueue::apply`] reports
//!   each failing change with its index and applies all others.
//! - [`Kqueue::wait`] reads events into caller-owned storage (a `Vec`'s
//!   spare capacity, or a slice with [`Kqueue::wait_slice`]); a [`RawEvent`]
//!   decodes into an [`Event`] by copying fields, with every flag bit kept
//!   and unknown filters as [`Filter::Unknown`].
//! - A [`Token`] travels in `udata`, so an event maps back to its owner in
//!   O(1).
//! - [`mount_of`] tells which filesystem holds a path (`statfs(2)`;
//!   macOS and the BSDs only), for watchers that poll network and FUSE
//!   filesystems.
//! - [`VnodeWatch`] opens a path itself, owns the descriptor and deletes its
//!   registration before closing it on drop.
//!
//! On targets without kqueue (Linux without the `libkqueue` feature) only the
//! host-independent vocabulary ([`Change`], [`Event`], [`Filter`], the flag
//! types) is compiled.
//!
//! Manual pages:
//! [FreeBSD](https://man.freebsd.org/cgi/man.cgi?query=kqueue&sektion=2),
//! [OpenBSD](https://man.openbsd.org/kqueue.2),
//! [NetBSD](https://man.netbsd.org/kqueue.2),
//! [macOS](https://developer.apple.com/library/archive/documentation/System/Conceptual/ManPages_iPhoneOS/man2/kqueue.2.html).
#![deny(missing_docs)]
// Without a native kqueue the encoders exist only for the unit tests, and
// the crate documentation names items that are not compiled.
#![cfg_attr(not(has_kqueue), allow(dead_code, rustdoc::broken_intra_doc_links))]

/// Applies the "this target has a kqueue" cfg to each item.
macro_rules! native {
    ($($item:item)*) => {
        $(
            #[cfg(has_kqueue)]
            $item
        )*
    };
}

mod abi;
mod change;
mod error;
mod event;
mod flags;
#[doc(hidden)]
pub mod layouts;

pub use change::Change;
pub use error::{Error, ErrorKind, fd_limit};
pub use event::Event;
pub use flags::{EventFlags, Filter, Token, VnodeEvents};

/// Applies the "this is a BSD or macOS kernel" cfg (not libkqueue) to each item.
macro_rules! bsd_kernel {
    ($($item:item)*) => {
        $(
            #[cfg(kernel_kqueue)]
            $item
        )*
    };
}

bsd_kernel! {
    mod mount;

    pub use mount::{Mount, mount_of};
}

native! {
    mod batch;
    mod kqueue;
    mod vnode;

    pub use batch::{Applied, ChangeFailure, Changes, RawEvent};
    pub use kqueue::{Kqueue, UserTrigger};
    pub use vnode::{VnodeOptions, VnodeWatch};
}
