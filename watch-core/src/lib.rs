//! Cross-platform file watcher that never silently loses a change.
//!
//! ```no_run
//! use std::time::Duration;
//! use watch_core::{EventKind, RecursiveMode, Watcher};
//!
//! let mut watcher = Watcher::new()?;
//! watcher.watch("/etc/app/config.yaml", RecursiveMode::NonRecursive)?; // a file, by name
//! watcher.watch("src", RecursiveMode::Recursive)?; // a tree
//! let mut events = Vec::new();
//! loop {
//!     events.clear();
//!     watcher.read(&mut events, Some(Duration::from_secs(1)))?;
//!     for e in &events {
//!         if e.kind == EventKind::Overflow {
//!             eprintln!("events were lost under {}; rescan differences follow", e.path.display());
//!         }
//!         println!("{e}"); // e.g. "created src/main.rs"
//!     }
//! }
//! # Ok::<(), watch_core::Error>(())
//! ```
//!
//! What [`Watcher`] promises:
//! - **Names, not inodes.** A watched path is followed by name: in-place
//!   writes, atomic saves (write a temp file, rename it over), delete and
//!   re-create, symlink swaps anywhere along the path (Kubernetes ConfigMap
//!   `..data` updates), and paths that do not exist yet (reported as
//!   [`Created`](EventKind::Created) when they appear).
//! - **Whole trees.** In recursive mode a new directory is watched before it
//!   is read, so what was created inside it meanwhile is reported too;
//!   renames inside the tree re-path everything below; moving out reports a
//!   removal and releases the watches; excluded directories are never
//!   entered; symlinks are not followed unless asked (then loops are
//!   detected); unreadable directories are skipped and reported.
//! - **No silent loss.** A kernel queue overflow is an
//!   [`Overflow`](EventKind::Overflow) event followed by the differences a
//!   rescan found ([`Origin::Rescan`]); folding the stream onto the tree as
//!   it was gives the tree as it is (see [`Event`]).
//! - **A sync point.** [`Watcher::sync`] returns once every earlier change
//!   can be read, so tests and reload logic never sleep.
//! - **No thread.** Integrate through [`AsFd`](std::os::fd::AsFd) and
//!   non-blocking [`Watcher::read`], or block with a timeout.
//!
//! Backends: inotify (Linux, Android), kqueue (BSDs, macOS; on Linux too
//! with the `libkqueue` feature) and poll (anywhere: NFS, FUSE, `/proc`).
//! [`Debouncer`] coalesces bursts per path.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backend;
mod config;
mod cookie;
mod debounce;
mod debounced;
mod diff;
mod error;
mod event;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod inotify_backend;
#[cfg(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "netbsd",
    target_os = "dragonfly",
    feature = "libkqueue",
))]
mod kqueue_backend;
mod poll;
mod resolve;
mod scan;
mod snapshot;
mod waker;
mod watcher;

pub use config::{Backend, Config, RecursiveMode};
pub use debounce::Debouncer;
pub use debounced::{Batches, DebouncedWatcher};
pub use error::Error;
pub use event::{Event, EventKind, Origin, SkipReason};
pub use waker::Waker;
pub use watcher::{Events, Watcher};
