//! Cross-platform file watcher that never silently loses a change.
//!
//! ```no_run
//! # use watch_core::{RecursiveMode, Watcher};
//! let mut watcher = Watcher::new()?;
//! watcher.watch("src", RecursiveMode::Recursive)?;
//! for event in watcher.events(None) { println!("{}", event?); } // "created src/main.rs"
//! # Ok::<(), watch_core::Error>(())
//! ```
//!
//! A file is watched by name too (`watch("config.yaml",
//! RecursiveMode::NonRecursive)`), and can be watched before it exists.
//! More complete programs are in `examples/`: `print_tree` (a recursive
//! watch with excludes), `reload_on_change` (a file followed by name,
//! debounced, running a command per save) and `tokio_stream`.
//!
//! What [`Watcher`] promises:
//! - **Names, not inodes.** A watched path is followed by name: in-place
//!   writes, atomic saves (write a temp file, rename it over), delete and
//!   re-create, symlink swaps anywhere along the path (Kubernetes ConfigMap
//!   `..data` updates), a real directory above it renamed away and another
//!   put in its place, a mount placed over or removed from a directory
//!   along it or inside a watched tree (inotify polls
//!   `/proc/self/mountinfo`; poll sees it on its next scan; kqueue does not
//!   notice mounts), and paths that do not exist yet (reported as
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
//!   it was gives the tree as it is (see [`Event`]). Rescans (and the poll
//!   backend) compare the ctime too, which user space cannot set, so a
//!   same-size rewrite whose mtime was put back (`cp -p`, `tar x`,
//!   `rsync -t`, `touch -r`) is still [`Modified`](EventKind::Modified).
//! - **A sync point.** [`Watcher::sync`] returns once every earlier change
//!   can be read, so tests and reload logic never sleep.
//! - **No thread.** Read where you like: block in [`Watcher::read`] or
//!   [`Watcher::events`] (with a timeout, or until a [`Waker`] from another
//!   thread ends the wait), poll the descriptor ([`AsFd`](std::os::fd::AsFd),
//!   [`AsRawFd`](std::os::fd::AsRawFd); see [`Watcher`]'s readiness rule)
//!   from your own event loop, or, with the `tokio` feature, consume an
//!   `AsyncWatcher` stream on your runtime.
//! - **A burst without an allocation per event, if you like.**
//!   [`Watcher::read`] appends to a `Vec<Event>` (each event owned) or to
//!   an [`EventBuf`], one reused buffer that lends each event's path: the
//!   same events; on inotify, a burst of created files is written into it
//!   without allocating.
//! - **Batches in one call.** [`Watcher::debounced`] gives a
//!   [`DebouncedWatcher`], the same interface handing out one coalesced
//!   batch per burst (an editor's save is one batch); the [`Debouncer`]
//!   inside it is public for other loops.
//!
//! Backends: inotify (Linux, Android), kqueue (BSDs, macOS; on Linux too
//! with the `libkqueue` feature) and poll (anywhere: NFS, FUSE, `/proc`).
//! The backend can differ per root: [`Watcher::watch_with`] with
//! [`RootBackend::Auto`] polls roots on network, FUSE and shared
//! filesystems (found from the mount table, see [`filesystem_of`]) and
//! gives the others the watcher's kernel backend.
//!
//! Cargo features: `tokio` (`AsyncWatcher`, `AsyncDebouncedWatcher`:
//! `futures_core::Stream`s over tokio's `AsyncFd`), `libkqueue`.
//!
//! # Coming from notify
//!
//! | notify | watch-core |
//! | --- | --- |
//! | `recommended_watcher(handler)`, `RecommendedWatcher` | [`Watcher::new`] (the platform's best backend, [`Backend::platform_default`]) |
//! | `PollWatcher` | [`Config::backend`]`(`[`Backend::Poll`]`)` |
//! | `watcher.watch(path, RecursiveMode::Recursive)` / `NonRecursive`, `unwatch` | the same: [`Watcher::watch`] with [`RecursiveMode`], [`Watcher::unwatch`]; a file or a missing path is followed by name |
//! | an event handler (closure or channel) called on notify's thread | no thread: [`Watcher::events`] / [`Watcher::read`] on yours, or `AsyncWatcher` on your tokio runtime; a [`Waker`] to stop a blocked loop |
//! | `Config::with_poll_interval` | [`Config::poll_interval`] |
//! | `Config::with_follow_symlinks` | [`Config::follow_symlinks`] (loops are detected and reported) |
//! | `Config::with_compare_contents` | not needed to catch changes: the poll backend compares size, mtime, ctime and inode, which user space cannot put back all at once; `watchfs` compares content before acting |
//! | `Event { kind, paths, attrs }` | [`Event`] `{ kind, path, is_dir, origin }`: one path; a rename carries its old path in [`EventKind::Renamed`] |
//! | `EventKind::Create(_)` | [`EventKind::Created`] |
//! | `EventKind::Modify(ModifyKind::Data(_))` | [`EventKind::Modified`] |
//! | `EventKind::Modify(ModifyKind::Metadata(_))` | [`EventKind::Metadata`] |
//! | `EventKind::Modify(ModifyKind::Name(RenameMode::From / To / Both))` | one [`EventKind::Renamed`]`{ from }` when both ends are watched; a [`Removed`](EventKind::Removed) or [`Created`](EventKind::Created) when one end is outside |
//! | `EventKind::Remove(_)` | [`EventKind::Removed`] (for a directory: everything below it too) |
//! | `EventKind::Access(_)`, `Any`, `Other` | not reported (no open or read noise) |
//! | `Flag::Rescan` / `need_rescan()`: redo the scan yourself | [`EventKind::Overflow`], after which the watcher has rescanned and reports the differences ([`Origin::Rescan`]) |
//! | errors in the event stream | typed [`Error`]s from `watch` and `read`, naming the limit to raise; subtrees that cannot be watched are [`EventKind::Skipped`] notices |
//! | `notify-debouncer-mini` (`new_debouncer(timeout, handler)`) | [`Watcher::debounced`]`(window)`: batches of full events, not path-only |
//! | `notify-debouncer-full` (rename stitching, file-id cache) | the same [`DebouncedWatcher`]: renames are paired by the watcher itself; the [`Debouncer`] folds a burst (a save's steps, a directory created, filled and renamed) into its net difference, one event per path |
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "tokio")]
mod async_watcher;
mod backend;
mod config;
mod cookie;
mod debounce;
mod debounced;
mod diff;
mod error;
mod event;
mod event_buf;
mod fast_hash;
mod filesystem;
#[cfg(linux_kernel)]
mod inotify_backend;
#[cfg(has_kqueue)]
mod kqueue_backend;
mod per_root;
mod poll;
mod resolve;
#[cfg(any(linux_kernel, has_kqueue))]
mod root_layer;
mod scan;
mod snapshot;
mod waker;
mod watcher;

#[cfg(feature = "tokio")]
pub use async_watcher::{AsyncDebouncedWatcher, AsyncWatcher};
pub use config::{Backend, Config, RecursiveMode};
pub use debounce::Debouncer;
pub use debounced::{Batches, DebouncedWatcher};
pub use error::Error;
pub use event::{Event, EventKind, Origin, SkipReason};
pub use event_buf::{EventBuf, EventBufIter, EventRef, EventSink};
pub use filesystem::{Filesystem, MOUNTINFO, MountTable, MountTableError, filesystem_of};
pub use per_root::{BackendChoice, RootBackend};
pub use waker::Waker;
pub use watcher::{Events, Watcher};
