//! How big and how long a run is: full, quick (CI smoke) or test mode.

use std::time::Duration;

use criterion::Criterion;

/// The environment variable that selects the quick set (`cargo xtask bench --quick`).
pub const QUICK_ENV: &str = "WATCHFS_BENCH_QUICK";

/// Which set of sizes a bench binary runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `cargo bench`: the sizes named in the issue.
    Full,
    /// `cargo xtask bench --quick`: small sizes and short times, for CI.
    Quick,
    /// `cargo test --benches`: each bench runs once on tiny fixtures.
    Test,
}

impl Mode {
    /// Reads the mode from the command line (criterion gets `--bench` only
    /// from `cargo bench`) and from [`QUICK_ENV`].
    pub fn current() -> Mode {
        if !std::env::args().any(|a| a == "--bench") {
            Mode::Test
        } else if std::env::var_os(QUICK_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
            Mode::Quick
        } else {
            Mode::Full
        }
    }

    /// The fixture sizes for this mode.
    pub fn sizes(self) -> Sizes {
        match self {
            Mode::Full => Sizes {
                registration: &[1_000, 10_000],
                tree_dirs: 10_000,
                tree_files: 100_000,
                storm_files: 20_000,
            },
            Mode::Quick => Sizes {
                registration: &[1_000],
                tree_dirs: 1_000,
                tree_files: 5_000,
                storm_files: 500,
            },
            Mode::Test => Sizes {
                registration: &[50],
                tree_dirs: 50,
                tree_files: 100,
                storm_files: 200,
            },
        }
    }
}

/// Fixture sizes, per [`Mode`].
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Numbers of directories to add and remove watches on.
    pub registration: &'static [usize],
    /// Directories in the recursive-setup tree (the root not counted).
    pub tree_dirs: usize,
    /// Files spread over the recursive-setup tree.
    pub tree_files: usize,
    /// Files created per storm.
    pub storm_files: usize,
}

/// A `Criterion` configured for the current mode, then from the command
/// line (so `--warm-up-time`, `--measurement-time`, `--noplot` still win).
pub fn criterion() -> Criterion {
    let c = Criterion::default();
    let c = match Mode::current() {
        Mode::Full => c
            .warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(5)),
        Mode::Quick | Mode::Test => c
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(800))
            .sample_size(10),
    };
    c.configure_from_args()
}
