//! Fixtures shared by the workspace's tests, its model tests, the soak and
//! the storms, so each exists once:
//!
//! - [`TempDir`]: a fresh canonical directory, removed on drop (even after
//!   a test took permissions away);
//! - [`tree`]: a model of a tree (path → is a directory), a walk of the real
//!   one, and the create / remove / rename steps that fold events onto it;
//! - [`Rng`]: a small seeded generator, so a failing run replays;
//! - [`child`]: running one test again in a child process under a forced
//!   fault, and asking `/proc` what a process or thread is doing;
//! - `watcher` (feature `watch-core`): reading a `Watcher` until nothing is
//!   ready, and folding its events onto a [`tree::Tree`].
//!
//! Not published: the published crates list it as a path-only
//! dev-dependency, which packaging drops.
#![forbid(unsafe_code)]

pub mod child;
mod rng;
mod temp;
pub mod tree;
#[cfg(feature = "watch-core")]
pub mod watcher;

pub use rng::Rng;
pub use temp::{TempDir, make_writable};
pub use tree::{Tree, scan};
#[cfg(feature = "watch-core")]
pub use watcher::{drain, fold, read_ready, sync_and_drain};
