//! Cross-platform file watcher that never silently loses a change.
//!
//! [`Watcher`] follows the paths it is given *by name* (atomic saves,
//! re-creation, symlink retargeting such as Kubernetes ConfigMap updates,
//! paths that do not exist yet), watches directory trees recursively without
//! missing what is created while it arms watches, recovers from kernel queue
//! overflows by rescanning and reporting the differences, and offers a
//! [`sync`](Watcher::sync) point so callers never need to sleep.
//!
//! Backends: inotify (Linux, Android), kqueue (BSDs, macOS; in progress, the
//! poll backend stands in there until then) and poll (anywhere). The backend
//! interface is documented in the `backend` module source.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backend;
mod config;
mod cookie;
mod debounce;
mod diff;
mod error;
mod event;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod inotify_backend;
mod poll;
mod snapshot;
mod watcher;

pub use config::{Backend, Config, RecursiveMode};
pub use debounce::Debouncer;
pub use error::Error;
pub use event::{Event, EventKind, Origin, SkipReason};
pub use watcher::Watcher;
