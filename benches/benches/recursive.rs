//! Recursive setup of a tree (full run: 10,000 directories holding 100,000
//! files; `--quick`: 1,000 and 5,000), and resident memory per watched
//! directory.
//!
//! Setup, timed from creating the instance/watcher until every directory is
//! watched (teardown is not timed):
//! - `raw`: the floor, a bare walk (`benches::walk_dirs`: readdir, entry
//!   types, no stat) with one `inotify_add_watch(2)` per directory through
//!   the `inotify` crate's hidden `raw` module (this crate is
//!   `#![forbid(unsafe_code)]`; see the registration bench), keeping only
//!   the descriptors.
//! - `watch-core`: `Watcher::watch(root, Recursive)`.
//! - `notify`: `INotifyWatcher::watch(root, Recursive)`.
//!
//! The targets are judged on ratios timed side by side (`paired_ratios`),
//! which are also written to the result file.
//!
//! Memory: this binary re-runs itself once per implementation (selected by
//! the `WATCHFS_RSS_CHILD` environment variable) so that each is measured in
//! a fresh process. The child first watches a small subtree with a watcher it
//! keeps (so code, allocator and one-time set-up are already resident), then
//! reads `VmRSS` from `/proc/self/status` before creating a second watcher
//! and after it watches the whole tree, and prints the delta; the per-watcher
//! constant (notify's thread, for instance) stays in, spread over the tree.
//! That is user-space memory only: the kernel's own inotify marks are not
//! part of any process's resident set, and are the same for all three.
#![forbid(unsafe_code)]

#[cfg(target_os = "linux")]
mod imp {
    use std::ffi::CString;
    use std::os::fd::AsFd;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::process::Command;
    use std::time::{Duration, Instant};

    use benches::{Mode, Results, TempDir, tree, vm_rss_kib, walk_dirs};
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
        Raw(#[allow(dead_code)] Inotify, Vec<i32>),
        Core(watch_core::Watcher),
        Notify(#[allow(dead_code)] notify_published::INotifyWatcher),
    }

    impl Watching {
        /// Watches every directory under `root` with `implementation`.
        fn start(implementation: &str, root: &Path) -> Watching {
            match implementation {
                "raw" => {
                    let ino = Inotify::init_nonblocking().expect("inotify_init1");
                    let mut wds = Vec::new();
                    walk_dirs(root, &mut |dir| {
                        let path = CString::new(dir.as_os_str().as_bytes())?;
                        wds.push(inotify::raw::add_watch(ino.as_fd(), &path, dir_mask())?);
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

    /// raw, watch-core and notify set up the tree one after the other,
    /// `rounds` times, the order rotating each round. Returns the medians of
    /// the per-round ratios watch-core / raw and notify / watch-core: side
    /// by side, so a shared, noisy machine disturbs them far less than
    /// medians taken a minute apart.
    fn paired_ratios(root: &Path, rounds: usize) -> (f64, f64) {
        let mut order = IMPLEMENTATIONS;
        let (mut vs_raw, mut notify_vs_core) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let mut took = [0.0; IMPLEMENTATIONS.len()];
            for implementation in order {
                let start = Instant::now();
                let watching = Watching::start(implementation, root);
                let elapsed = start.elapsed().as_secs_f64();
                drop(watching);
                let slot = IMPLEMENTATIONS.iter().position(|i| *i == implementation);
                took[slot.expect("known implementation")] = elapsed;
            }
            let [raw, core, notify] = took;
            vs_raw.push(core / raw);
            notify_vs_core.push(notify / core);
            order.rotate_left(1);
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        (median(vs_raw), median(notify_vs_core))
    }

    pub fn run(c: &mut Criterion) {
        let mode = Mode::current();
        let sizes = mode.sizes();
        let tmp = TempDir::new("recursive").expect("temp dir");
        let dirs = tree(tmp.path(), sizes.tree_dirs, sizes.tree_files).expect("create tree");
        let watched = dirs.len();
        let param = format!("{}dirs-{}files", sizes.tree_dirs, sizes.tree_files);
        let mut results = Results::create("recursive").expect("result file");

        let mut group = c.benchmark_group("recursive_setup");
        group.throughput(Throughput::Elements(watched as u64));
        group.sample_size(10);
        if mode == Mode::Full {
            group.measurement_time(Duration::from_secs(10));
        }
        let core = core_available();
        let implementations: Vec<&str> = IMPLEMENTATIONS
            .into_iter()
            .filter(|i| *i != "watch-core" || core)
            .collect();
        for &implementation in &implementations {
            // Check once, untimed, that every directory ends up watched.
            let check = Watching::start(implementation, tmp.path());
            // watch-core also watches the root's parent (to see the root
            // itself renamed or removed), so it may hold a few more.
            if let Some(n) = check.count() {
                assert!(n >= watched, "{implementation} watched {n} of {watched}");
            }
            drop(check);
            group.bench_function(BenchmarkId::new(implementation, &param), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let watching = Watching::start(implementation, tmp.path());
                        total += start.elapsed();
                        drop(watching);
                    }
                    total
                })
            });
        }
        group.finish();

        if implementations.contains(&"watch-core") {
            let rounds = match mode {
                Mode::Full => 7,
                Mode::Quick => 3,
                Mode::Test => 1,
            };
            let (vs_raw, notify_vs_core) = paired_ratios(tmp.path(), rounds);
            println!(
                "recursive_setup/{param}: paired medians of {rounds} rounds: \
                 watch-core / raw {vs_raw:.3}, notify / watch-core {notify_vs_core:.3}"
            );
            results
                .record(
                    "recursive_setup",
                    "watch-core",
                    &param,
                    "paired_ratio_vs_raw",
                    vs_raw,
                )
                .expect("write result");
            results
                .record(
                    "recursive_setup",
                    "notify",
                    &param,
                    "paired_ratio_vs_watch-core",
                    notify_vs_core,
                )
                .expect("write result");
        }

        let exe = std::env::current_exe().expect("own executable");
        for implementation in implementations {
            let out = Command::new(&exe)
                .env(CHILD_ENV, implementation)
                .env(ROOT_ENV, tmp.path())
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
                "memory/{implementation}/{param}: {kib} KiB resident, {per_dir:.0} B per watched directory"
            );
            results
                .record("memory", implementation, &param, "rss_delta_kib", kib)
                .expect("write result");
            results
                .record(
                    "memory",
                    implementation,
                    &param,
                    "rss_bytes_per_dir",
                    per_dir,
                )
                .expect("write result");
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
