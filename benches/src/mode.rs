//! How big and how long a run is: full, quick (CI smoke) or test mode.

use std::time::Duration;

use criterion::Criterion;

/// The environment variable that selects the quick set (`cargo xtask bench --quick`).
pub const QUICK_ENV: &str = "WATCHFS_BENCH_QUICK";

/// Set (to anything but `0`) to add the 100,000-directory points to a full
/// run's scale curve (`cargo xtask bench --large`).
pub const LARGE_ENV: &str = "WATCHFS_BENCH_LARGE";

/// A comma-separated list of scale points, `DIRSxFILES_PER_DIR` (for
/// example `10000x10,10000x0`), measured instead of the mode's own
/// (`cargo xtask bench --points`).
pub const POINTS_ENV: &str = "WATCHFS_BENCH_POINTS";

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

    /// The points of the scale curve: [`POINTS_ENV`] if set, else the
    /// mode's own (a full run adds 100,000 directories with [`LARGE_ENV`]).
    pub fn scale_points(self) -> Result<Vec<Point>, String> {
        if let Some(list) = std::env::var_os(POINTS_ENV).filter(|v| !v.is_empty()) {
            let list = list
                .into_string()
                .map_err(|_| format!("{POINTS_ENV} is not UTF-8"))?;
            return list.split(',').map(Point::parse).collect();
        }
        let mut points = match self {
            Mode::Full => vec![
                Point::new(1_000, 0),
                Point::new(1_000, 10),
                Point::new(10_000, 0),
                Point::new(10_000, 10),
            ],
            Mode::Quick => vec![Point::new(1_000, 0), Point::new(1_000, 5)],
            Mode::Test => vec![Point::new(50, 0), Point::new(50, 2)],
        };
        if self == Mode::Full
            && std::env::var_os(LARGE_ENV).is_some_and(|v| !v.is_empty() && v != "0")
        {
            points.extend([Point::new(100_000, 0), Point::new(100_000, 10)]);
        }
        Ok(points)
    }

    /// The fixture sizes for this mode.
    pub fn sizes(self) -> Sizes {
        match self {
            Mode::Full => Sizes {
                registration: &[1_000, 10_000],
                headline: Point::new(10_000, 10),
                storm_files: 20_000,
                drain_files: 5_000,
            },
            Mode::Quick => Sizes {
                registration: &[1_000],
                headline: Point::new(1_000, 5),
                storm_files: 500,
                drain_files: 500,
            },
            Mode::Test => Sizes {
                registration: &[50],
                headline: Point::new(50, 2),
                storm_files: 200,
                drain_files: 100,
            },
        }
    }
}

/// Fixture sizes, per [`Mode`].
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Numbers of directories to add and remove watches on.
    pub registration: &'static [usize],
    /// The scale point criterion also measures recursive setup on (the
    /// issue's 10,000 directories holding 100,000 files in a full run).
    pub headline: Point,
    /// Files created per storm (a full run overflows the kernel queue).
    pub storm_files: usize,
    /// Files created per drain burst: few enough that no implementation's
    /// kernel queue overflows (each file queues two or three records).
    pub drain_files: usize,
}

/// One point of the scale curve: a tree of `dirs` directories (the root
/// not counted) holding `files_per_dir` empty files each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Point {
    /// Directories below the root.
    pub dirs: usize,
    /// Files in each of them.
    pub files_per_dir: usize,
}

impl Point {
    /// The point of `dirs` directories holding `files_per_dir` files each.
    pub const fn new(dirs: usize, files_per_dir: usize) -> Point {
        Point {
            dirs,
            files_per_dir,
        }
    }

    /// Parses `DIRSxFILES_PER_DIR`, as [`Point::label`] writes it.
    pub fn parse(text: &str) -> Result<Point, String> {
        let bad =
            || format!("bad scale point `{text}`: expected DIRSxFILES_PER_DIR, e.g. 10000x10");
        let (dirs, files) = text.trim().split_once('x').ok_or_else(bad)?;
        let dirs = dirs.parse().map_err(|_| bad())?;
        let files_per_dir = files.parse().map_err(|_| bad())?;
        if dirs == 0 {
            return Err(bad());
        }
        Ok(Point::new(dirs, files_per_dir))
    }

    /// `DIRSxFILES_PER_DIR`: the point's name in results and on the command line.
    pub fn label(self) -> String {
        format!("{}x{}", self.dirs, self.files_per_dir)
    }

    /// Files in the whole tree.
    pub fn files(self) -> usize {
        self.dirs * self.files_per_dir
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_round_trip_through_their_label() {
        let p = Point::parse("10000x10").unwrap();
        assert_eq!(p, Point::new(10_000, 10));
        assert_eq!(p.label(), "10000x10");
        assert_eq!(p.files(), 100_000);
        assert_eq!(Point::parse(" 1000x0").unwrap(), Point::new(1_000, 0));
        for bad in ["", "10000", "x10", "10000x", "0x10", "ax1", "10000x10x1"] {
            assert!(Point::parse(bad).is_err(), "{bad}");
        }
    }
}
