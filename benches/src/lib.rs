//! Shared fixtures for the watchfs benchmarks.
//!
//! The bench targets in `benches/` measure our crates against the raw
//! syscall floor and against peer crates. This library holds only what they
//! share and what is itself part of a floor: temp trees, the prepared event
//! buffer and the hand-written decode loop, percentiles, the resident-memory
//! probe, and the result file that `cargo xtask bench` reads.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod fixture;
pub mod mode;
pub mod paired;
pub mod raw_events;
pub mod results;
pub mod stats;

pub use fixture::{TempDir, cached_tree, flat_dirs, tree, walk_dirs};
pub use mode::{Mode, Point, Sizes, criterion};
pub use paired::{ratio_quartiles, rotating_rounds, value_quartiles};
pub use raw_events::{PreparedEvents, RawEvent, decode_raw, prepared_events};
pub use results::Results;
pub use stats::{percentile, quartiles, vm_rss_kib};
