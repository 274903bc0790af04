//! Registration: add then remove a watch on each of N directories.
//!
//! Implementations, all on one instance kept across iterations:
//! - `raw`: the syscall floor, `inotify_add_watch(2)` / `inotify_rm_watch(2)`
//!   on paths converted to C strings before timing. This crate is
//!   `#![forbid(unsafe_code)]` and `inotify-sys` may hold no logic, so the
//!   floor comes from the `inotify` crate's hidden `raw` module: one bare
//!   system call per function, no path conversion, no error mapping, no
//!   instance bookkeeping. Our public `add_watch` cannot be its own floor:
//!   it is the thing measured.
//! - `ours`: `inotify::Inotify::add_watch` / `rm_watch` (path to C string,
//!   typed errors, instance-tagged descriptors).
//! - `watch-core`: `Watcher::watch(_, NonRecursive)` / `unwatch`.
//! - `inotify-published`, `notify`: the peer crates.
//!
//! Besides criterion's medians, every implementation is timed side by side
//! with `raw` in rotating rounds (see `paired_ratios`); the targets are
//! judged on those ratios. Only the add and remove calls are timed;
//! the `IN_IGNORED` records the removals queue are drained between
//! iterations, untimed, so the kernel queue never fills (a full queue would
//! make later removals cheaper).
#![forbid(unsafe_code)]

#[cfg(target_os = "linux")]
mod imp {
    use std::ffi::CString;
    use std::os::fd::AsFd;
    use std::os::unix::ffi::OsStrExt;
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use benches::{Mode, Results, TempDir, flat_dirs, ratio_quartiles, rotating_rounds};
    use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime};
    use inotify::{EventBuffer, Inotify, WatchMask};
    use notify_published::Watcher as _;

    /// The mask a directory watcher typically asks for.
    fn dir_mask() -> WatchMask {
        WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MODIFY
            | WatchMask::ATTRIB
            | WatchMask::CLOSE_WRITE
            | WatchMask::MOVE
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF
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

    pub fn run(c: &mut Criterion) {
        let mode = Mode::current();
        let core = core_available();
        let mut results = Results::create("registration").expect("result file");
        for &n in mode.sizes().registration {
            let tmp = TempDir::new("registration").expect("create temp dir");
            let dirs = flat_dirs(tmp.path(), n).expect("create directories");
            let mut group = c.benchmark_group("registration");
            group.throughput(Throughput::Elements(n as u64));
            if mode == Mode::Full && n >= 10_000 {
                group
                    .sample_size(10)
                    .measurement_time(Duration::from_secs(8));
            }
            raw(&mut group, &dirs);
            ours(&mut group, &dirs);
            if core {
                watch_core(&mut group, &dirs);
            }
            published(&mut group, &dirs);
            notify(&mut group, &dirs);
            group.finish();

            let rounds = match mode {
                Mode::Full => 30,
                Mode::Quick => 10,
                Mode::Test => 1,
            };
            paired_ratios(&dirs, rounds, core, &mut results);
        }
    }

    /// Times `iters` runs of `once`, running `between` untimed after each.
    fn timed(iters: u64, mut once: impl FnMut(), mut between: impl FnMut()) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            once();
            total += start.elapsed();
            between();
        }
        total
    }

    fn drain_ours(ino: &Inotify, buf: &mut EventBuffer) {
        loop {
            match ino.read(buf) {
                Ok(events) => events.for_each(drop),
                Err(e) if e.is_would_block() => return,
                Err(e) => panic!("draining the queue: {e}"),
            }
        }
    }

    fn c_paths(dirs: &[PathBuf]) -> Vec<CString> {
        dirs.iter()
            .map(|d| CString::new(d.as_os_str().as_bytes()).expect("temp path without NUL"))
            .collect()
    }

    /// The floor: add then remove every watch with bare system calls.
    fn raw_round(ino: &Inotify, paths: &[CString], wds: &mut Vec<i32>) {
        let mask = dir_mask().bits();
        for path in paths {
            let wd = inotify::raw::add_watch(ino.as_fd(), path, mask);
            wds.push(wd.expect("inotify_add_watch"));
        }
        for wd in wds.drain(..) {
            inotify::raw::rm_watch(ino.as_fd(), wd).expect("inotify_rm_watch");
        }
    }

    /// Ours: add then remove every watch through the public API.
    fn ours_round(ino: &Inotify, dirs: &[PathBuf], wds: &mut Vec<inotify::WatchDescriptor>) {
        for dir in dirs {
            wds.push(ino.add_watch(dir, dir_mask()).expect("add_watch"));
        }
        for wd in wds.drain(..) {
            ino.rm_watch(wd).expect("rm_watch");
        }
    }

    fn raw(group: &mut BenchmarkGroup<'_, WallTime>, dirs: &[PathBuf]) {
        let paths = c_paths(dirs);
        let ino = Inotify::init_nonblocking().expect("inotify_init1");
        let mut buf = EventBuffer::default();
        let mut wds = Vec::with_capacity(dirs.len());
        group.bench_function(BenchmarkId::new("raw", dirs.len()), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    || raw_round(&ino, &paths, &mut wds),
                    || drain_ours(&ino, &mut buf),
                )
            })
        });
    }

    fn ours(group: &mut BenchmarkGroup<'_, WallTime>, dirs: &[PathBuf]) {
        let ino = Inotify::init_nonblocking().expect("inotify_init1");
        let mut buf = EventBuffer::default();
        let mut wds = Vec::with_capacity(dirs.len());
        group.bench_function(BenchmarkId::new("ours", dirs.len()), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    || ours_round(&ino, dirs, &mut wds),
                    || drain_ours(&ino, &mut buf),
                )
            })
        });
    }

    /// Every implementation against the floor, side by side: `rounds`
    /// rounds of one add+remove pass each, the order rotating each round
    /// (see `benches::rotating_rounds`). Records the quartiles of the
    /// per-round ratios to raw, which a shared, noisy machine disturbs far
    /// less than medians taken seconds apart.
    fn paired_ratios(dirs: &[PathBuf], rounds: usize, core: bool, results: &mut Results) {
        use inotify_published as peer;
        let paths = c_paths(dirs);
        let ino = Inotify::init_nonblocking().expect("inotify_init1");
        let mut buf = EventBuffer::default();
        let mut peer_ino = peer::Inotify::init().expect("inotify_init1");
        let peer_mask = peer::WatchMask::from_bits_truncate(dir_mask().bits());
        let mut peer_buf = vec![0u8; 64 * 1024];
        let (mut raw_wds, mut our_wds, mut peer_wds) = (Vec::new(), Vec::new(), Vec::new());
        let mut core_watcher = core.then(|| core_watcher().expect("watch-core watcher"));
        let mut core_out = Vec::new();
        let mut notify_watcher = notify_published::INotifyWatcher::new(
            |_: notify_published::Result<notify_published::Event>| {},
            notify_published::Config::default(),
        )
        .expect("notify watcher");
        let mut implementations = vec!["raw", "ours", "inotify-published", "notify"];
        if core {
            implementations.push("watch-core");
        }
        let times = rotating_rounds(implementations.len(), rounds, |i| {
            let start = Instant::now();
            match implementations[i] {
                "raw" => raw_round(&ino, &paths, &mut raw_wds),
                "ours" => ours_round(&ino, dirs, &mut our_wds),
                "inotify-published" => {
                    let mut watches = peer_ino.watches();
                    for dir in dirs {
                        peer_wds.push(watches.add(dir, peer_mask).expect("add"));
                    }
                    for wd in peer_wds.drain(..) {
                        watches.remove(wd).expect("remove");
                    }
                }
                "notify" => notify_round(&mut notify_watcher, dirs),
                _ => {
                    let w = core_watcher.as_mut().expect("watch-core watcher");
                    core_round(w, dirs);
                }
            }
            let elapsed = start.elapsed().as_secs_f64();
            drain_ours(&ino, &mut buf);
            while let Ok(events) = peer_ino.read_events(&mut peer_buf) {
                events.for_each(drop);
            }
            if let Some(w) = core_watcher.as_mut() {
                drain_core(w, &mut core_out);
            }
            elapsed
        });
        let n = dirs.len().to_string();
        let mut line = format!("registration/{n}: paired medians of {rounds} rounds:");
        for (i, implementation) in implementations.iter().enumerate().skip(1) {
            let q = ratio_quartiles(&times, i, 0).expect("rounds > 0");
            line.push_str(&format!(" {implementation} / raw {:.3}", q[1]));
            results
                .record_paired("registration", implementation, &n, "raw", q)
                .expect("write result");
        }
        println!("{line}");
    }

    /// watch-core: watch then unwatch every directory as a root of its own.
    fn core_round(w: &mut watch_core::Watcher, dirs: &[PathBuf]) {
        use watch_core::RecursiveMode;
        for dir in dirs {
            w.watch(dir, RecursiveMode::NonRecursive).expect("watch");
        }
        for dir in dirs {
            w.unwatch(dir).expect("unwatch");
        }
    }

    /// Reads whatever watch-core has queued, without blocking.
    fn drain_core(w: &mut watch_core::Watcher, out: &mut Vec<watch_core::Event>) {
        while w.read(out, Some(Duration::ZERO)).expect("read") > 0 {
            out.clear();
        }
    }

    /// notify: watch then unwatch every directory (its thread drains).
    fn notify_round(w: &mut notify_published::INotifyWatcher, dirs: &[PathBuf]) {
        use notify_published::RecursiveMode;
        for dir in dirs {
            w.watch(dir, RecursiveMode::NonRecursive).expect("watch");
        }
        for dir in dirs {
            w.unwatch(dir).expect("unwatch");
        }
    }

    fn watch_core(group: &mut BenchmarkGroup<'_, WallTime>, dirs: &[PathBuf]) {
        let w = std::cell::RefCell::new(core_watcher().expect("watch-core watcher"));
        let mut out = Vec::new();
        group.bench_function(BenchmarkId::new("watch-core", dirs.len()), |b| {
            b.iter_custom(|iters| {
                timed(
                    iters,
                    || core_round(&mut w.borrow_mut(), dirs),
                    || drain_core(&mut w.borrow_mut(), &mut out),
                )
            })
        });
    }

    fn published(group: &mut BenchmarkGroup<'_, WallTime>, dirs: &[PathBuf]) {
        use inotify_published as peer;
        let mask = peer::WatchMask::from_bits_truncate(dir_mask().bits());
        let mut ino = peer::Inotify::init().expect("inotify_init1");
        let mut buf = vec![0u8; 64 * 1024];
        let mut wds = Vec::with_capacity(dirs.len());
        group.bench_function(BenchmarkId::new("inotify-published", dirs.len()), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let mut watches = ino.watches();
                    for dir in dirs {
                        wds.push(watches.add(dir, mask).expect("add"));
                    }
                    for wd in wds.drain(..) {
                        watches.remove(wd).expect("remove");
                    }
                    total += start.elapsed();
                    // `init` makes a non-blocking instance: read until empty.
                    while let Ok(events) = ino.read_events(&mut buf) {
                        events.for_each(drop);
                    }
                }
                total
            })
        });
    }

    fn notify(group: &mut BenchmarkGroup<'_, WallTime>, dirs: &[PathBuf]) {
        use notify_published::{Config, INotifyWatcher};
        // notify drains the queue on its own thread; the handler drops events.
        let mut w = INotifyWatcher::new(
            |_: notify_published::Result<notify_published::Event>| {},
            Config::default(),
        )
        .expect("notify watcher");
        group.bench_function(BenchmarkId::new("notify", dirs.len()), |b| {
            b.iter_custom(|iters| timed(iters, || notify_round(&mut w, dirs), || {}))
        });
    }
}

fn main() {
    #[cfg(target_os = "linux")]
    {
        let mut c = benches::criterion();
        imp::run(&mut c);
        c.final_summary();
    }
    #[cfg(not(target_os = "linux"))]
    eprintln!("registration: the inotify comparisons run on Linux only");
}
