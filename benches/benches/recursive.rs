//! Recursive setup and resident memory per watched directory, along a
//! scale curve: trees of 1,000 and 10,000 directories (100,000 with
//! `cargo xtask bench --large`) holding 0 or 10 empty files each
//! (`--quick`: 1,000 directories, 0 and 5 files). Trees are made once and
//! kept under `<target>/bench-trees/`, since a million files take minutes
//! to create.
//!
//! Setup, timed from creating the instance/watcher until every directory is
//! watched (teardown is not timed):
//! - `raw`: the floor, a bare walk (`benches::walk_dirs`: readdir, entry
//!   types, no stat) with one `inotify_add_watch(2)` per directory through
//!   the `inotify` crate's hidden `raw` module (this crate is
//!   `#![forbid(unsafe_code)]`; see the registration bench), keeping a
//!   watch -> path map, as any watcher must to name its events.
//! - `watch-core`: `Watcher::watch(root, Recursive)`.
//! - `notify`: `INotifyWatcher::watch(root, Recursive)`.
//!
//! Each point is timed side by side: rounds of one setup per
//! implementation, the order rotating; the medians of the per-round ratios
//! (and their quartiles, the noise) go to the result file, with each
//! implementation's median time. Criterion also measures the headline point
//! (10,000 directories, 100,000 files), one implementation after the other.
//!
//! Memory: this binary re-runs itself once per implementation and point
//! (selected by the `WATCHFS_RSS_CHILD` environment variable) so that each
//! is measured in a fresh process. The child first watches a small subtree
//! with a watcher it keeps (so code, allocator and one-time set-up are
//! already resident), then reads `VmRSS` from `/proc/self/status` before
//! creating a second watcher and after it watches the whole tree, and
//! prints the delta; the per-watcher constant (notify's thread, for
//! instance) stays in, spread over the tree. That is user-space memory
//! only: the kernel's own inotify marks are not part of any process's
//! resident set, and are the same for all three.
#![forbid(unsafe_code)]

#[cfg(target_os = "linux")]
mod imp {
    use std::collections::HashMap;
    use std::ffi::CString;
    use std::os::fd::AsFd;
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::time::{Duration, Instant};

    use benches::{
        Mode, Point, Results, TempDir, cached_tree, ratio_quartiles, rotating_rounds,
        value_quartiles, vm_rss_kib, walk_dirs,
    };
    use criterion::{BenchmarkId, Criterion, Throughput};
    use inotify::{Inotify, WatchMask};
    use notify_published::Watcher as _;

    pub const CHILD_ENV: &str = "WATCHFS_RSS_CHILD";
    const ROOT_ENV: &str = "WATCHFS_RSS_ROOT";
    const IMPLEMENTATIONS: [&str; 3] = ["raw", "watch-core", "notify"];

    fn dir_mask() -> u32 {
        (WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MODIFY
            | WatchMask::ATTRIB
            | WatchMask::CLOSE_WRITE
            | WatchMask::MOVE
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF)
            .bits()
    }

    /// A watched tree; dropping it removes every watch.
    enum Watching {
        Raw(#[allow(dead_code)] Inotify, HashMap<i32, PathBuf>),
        Core(watch_core::Watcher),
        Notify(#[allow(dead_code)] notify_published::INotifyWatcher),
    }

    impl Watching {
        /// Watches every directory under `root` with `implementation`.
        fn start(implementation: &str, root: &Path) -> Watching {
            match implementation {
                "raw" => {
                    let ino = Inotify::init_nonblocking().expect("inotify_init1");
                    let mut wds = HashMap::new();
                    walk_dirs(root, &mut |dir| {
                        let path = CString::new(dir.as_os_str().as_bytes())?;
                        let wd = inotify::raw::add_watch(ino.as_fd(), &path, dir_mask())?;
                        wds.insert(wd, dir.to_path_buf());
                        Ok(())
                    })
                    .expect("walk and add_watch");
                    Watching::Raw(ino, wds)
                }
                "watch-core" => {
                    use watch_core::RecursiveMode;
                    let mut w = core_watcher().expect("watch-core watcher");
                    w.watch(root, RecursiveMode::Recursive).expect("watch");
                    Watching::Core(w)
                }
                "notify" => {
                    use notify_published::{Config, INotifyWatcher, RecursiveMode};
                    let mut w = INotifyWatcher::new(
                        |_: notify_published::Result<notify_published::Event>| {},
                        Config::default(),
                    )
                    .expect("notify watcher");
                    w.watch(root, RecursiveMode::Recursive).expect("watch");
                    Watching::Notify(w)
                }
                other => panic!("unknown implementation {other}"),
            }
        }

        /// Watches held, where the implementation says.
        fn count(&self) -> Option<usize> {
            match self {
                Watching::Raw(_, wds) => Some(wds.len()),
                Watching::Core(w) => Some(w.watch_count()),
                Watching::Notify(_) => None,
            }
        }
    }

    /// The child side of the memory measurement; prints `<delta KiB> <watches>`.
    pub fn rss_child(implementation: &str) {
        let root = std::env::var_os(ROOT_ENV).expect("WATCHFS_RSS_ROOT");
        let root = Path::new(&root);
        // Watch a small subtree first and keep it: code pages, allocator
        // arenas and lazily set-up statics are then already resident, so
        // the delta below is what the full tree costs.
        let warm_up = Watching::start(implementation, &warm_up_root(root));
        let before = vm_rss_kib().expect("VmRSS");
        let watching = Watching::start(implementation, root);
        let after = vm_rss_kib().expect("VmRSS");
        let count = watching.count().map_or(-1, |n| n as i64);
        println!("{} {count}", after.saturating_sub(before));
        // Exit without tearing down: nothing more to measure.
        std::mem::forget((warm_up, watching));
    }

    /// The tree's first grandchild directory (about 1% of a full tree).
    fn warm_up_root(root: &Path) -> std::path::PathBuf {
        let small = root.join("d0").join("d0");
        if small.is_dir() {
            small
        } else {
            root.to_path_buf()
        }
    }

    /// watch-core on its inotify backend.
    fn core_watcher() -> Result<watch_core::Watcher, watch_core::Error> {
        use watch_core::{Backend, Config, Watcher};
        Watcher::with_config(Config::default().backend(Backend::Inotify))
    }

    /// Whether watch-core can be measured here; if not, says why once and
    /// its rows are left out.
    fn core_available() -> bool {
        core_watcher()
            .map_err(|e| eprintln!("watch-core left out of this run: {e}"))
            .is_ok()
    }

    /// Where the scale curve's trees are: kept under the target directory
    /// between runs, except in test mode (a temp dir, removed on drop).
    enum Trees {
        Kept(PathBuf),
        Temp(TempDir),
    }

    impl Trees {
        fn new(mode: Mode) -> Trees {
            match mode {
                Mode::Test => Trees::Temp(TempDir::new("recursive").expect("temp dir")),
                _ => Trees::Kept(benches::results::target_dir().join("bench-trees")),
            }
        }

        /// The tree of `point`, made if it is not there yet.
        fn get(&self, point: Point) -> PathBuf {
            let cache = match self {
                Trees::Kept(dir) => dir.as_path(),
                Trees::Temp(tmp) => tmp.path(),
            };
            let clock = Instant::now();
            let root = cached_tree(cache, point).expect("create tree");
            if clock.elapsed() > Duration::from_secs(1) {
                println!(
                    "scale/{}: tree made in {:.1} s (kept for later runs)",
                    point.label(),
                    clock.elapsed().as_secs_f64()
                );
            }
            root
        }
    }

    /// Side-by-side rounds per point: fewer for big trees, where one setup
    /// takes seconds and the noise is relatively smaller.
    fn rounds(mode: Mode, point: Point) -> usize {
        match mode {
            Mode::Test => 1,
            Mode::Quick => 3,
            Mode::Full if point.dirs >= 100_000 => 3,
            Mode::Full if point.dirs >= 10_000 => 7,
            Mode::Full => 15,
        }
    }

    /// One point of the curve: setup timed side by side, then memory.
    fn scale_point(
        mode: Mode,
        root: &Path,
        point: Point,
        implementations: &[&str],
        results: &mut Results,
    ) {
        let watched = point.dirs + 1;
        let param = point.label();
        let rounds = rounds(mode, point);
        let times = rotating_rounds(implementations.len(), rounds, |i| {
            let start = Instant::now();
            let watching = Watching::start(implementations[i], root);
            let elapsed = start.elapsed().as_secs_f64();
            // watch-core also watches the root's parent (to see the root
            // itself renamed or removed), so it may hold a few more.
            if let Some(n) = watching.count() {
                assert!(
                    n >= watched,
                    "{} watched {n} of {watched}",
                    implementations[i]
                );
            }
            drop(watching);
            elapsed
        });
        let mut line = format!("scale/{param}: medians of {rounds} side-by-side rounds:");
        for (i, implementation) in implementations.iter().enumerate() {
            let [_, median, _] = value_quartiles(&times, i).expect("rounds > 0");
            line.push_str(&format!(" {implementation} {:.1} ms", median * 1e3));
            results
                .record("scale", implementation, &param, "setup_ns", median * 1e9)
                .expect("write result");
            results
                .record("scale", implementation, &param, "rounds", rounds as f64)
                .expect("write result");
            for (r, reference) in implementations.iter().enumerate().take(i) {
                let q = ratio_quartiles(&times, i, r).expect("rounds > 0");
                line.push_str(&format!(" ({implementation} / {reference} {:.2}x)", q[1]));
                results
                    .record_paired("scale", implementation, &param, reference, q)
                    .expect("write result");
            }
        }
        println!("{line}");

        let exe = std::env::current_exe().expect("own executable");
        for implementation in implementations {
            let out = Command::new(&exe)
                .env(CHILD_ENV, implementation)
                .env(ROOT_ENV, root)
                .output()
                .expect("run the memory probe");
            assert!(
                out.status.success(),
                "memory probe for {implementation} failed"
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let kib: f64 = text
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .expect("memory probe output");
            let per_dir = kib * 1024.0 / watched as f64;
            println!(
                "scale/{param}/{implementation}: {kib} KiB resident, {per_dir:.0} B per watched directory"
            );
            results
                .record("scale", implementation, &param, "rss_delta_kib", kib)
                .expect("write result");
            results
                .record(
                    "scale",
                    implementation,
                    &param,
                    "rss_bytes_per_dir",
                    per_dir,
                )
                .expect("write result");
        }
    }

    pub fn run(c: &mut Criterion) {
        let mode = Mode::current();
        let headline = mode.sizes().headline;
        let points = mode.scale_points().unwrap_or_else(|e| panic!("{e}"));
        let trees = Trees::new(mode);
        let mut results = Results::create("recursive").expect("result file");
        let core = core_available();
        let implementations: Vec<&str> = IMPLEMENTATIONS
            .into_iter()
            .filter(|i| *i != "watch-core" || core)
            .collect();

        if points.contains(&headline) {
            let root = trees.get(headline);
            let mut group = c.benchmark_group("recursive_setup");
            group.throughput(Throughput::Elements(headline.dirs as u64 + 1));
            group.sample_size(10);
            if mode == Mode::Full {
                group.measurement_time(Duration::from_secs(10));
            }
            for &implementation in &implementations {
                group.bench_function(BenchmarkId::new(implementation, headline.label()), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let start = Instant::now();
                            let watching = Watching::start(implementation, &root);
                            total += start.elapsed();
                            drop(watching);
                        }
                        total
                    })
                });
            }
            group.finish();
        }

        for point in points {
            let root = trees.get(point);
            scale_point(mode, &root, point, &implementations, &mut results);
        }
    }
}

fn main() {
    #[cfg(target_os = "linux")]
    {
        if let Ok(implementation) = std::env::var(imp::CHILD_ENV) {
            imp::rss_child(&implementation);
            return;
        }
        let mut c = benches::criterion();
        imp::run(&mut c);
        c.final_summary();
    }
    #[cfg(not(target_os = "linux"))]
    eprintln!("recursive: the inotify comparisons run on Linux only");
}
