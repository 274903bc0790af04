//! Latency: from just before `pwrite(2)` on a file until user code holds
//! the decoded event, with the file's directory watched (`dir`) or the file
//! itself (`file`), with the reader blocked on
//! another thread (as a real consumer is). The writer then spins until the
//! reader posts its arrival time rather than sleeping, so the reader never
//! waits for the writer's CPU; what remains is the wake-up of an idle reader
//! (on an idle 2-core VM, mostly the CPU leaving its idle state) plus each
//! implementation's own read path.
//!
//! - `raw`: a blocking `read(2)` on the inotify descriptor through
//!   `std::fs::File` (safe: the descriptor comes from our `Inotify` via
//!   `OwnedFd`) and the hand-written decode loop. The watch (one
//!   `inotify_add_watch(2)` on the directory or on the file) is set up with
//!   our crate; only the read path is the floor.
//! - `ours`: `Inotify::read` on a blocking instance.
//! - `watch-core`: `Watcher::read(_, None)`, the directory or the file
//!   watched with `Watcher::watch(_, NonRecursive)`.
//! - `notify`: the event handler closure (notify's own thread) is user code.
//!
//! Raw, ours and watch-core all wait in a blocking `read(2)` (watch-core
//! checks readiness with a `poll(2)` that does not wait before it, after
//! handing over the previous event, off the path measured).
//!
//! Criterion's medians come from `iter_custom`, one implementation after
//! the other. The p50/p99 written to the result file come from our own
//! samples, taken afterwards side by side: rounds of one sample per
//! implementation, the order rotating, all implementations alive at once
//! (full run: 20,000 rounds), because wake-up latency depends several-fold
//! on whether the CPUs are busy or idle at that moment. The ratios the
//! targets are judged on are taken block by block (the p50 of each
//! implementation over 200 rounds, a few milliseconds): their median, with
//! the quartiles as the noise, as the other benches' paired ratios.
#![forbid(unsafe_code)]

#[cfg(target_os = "linux")]
mod imp {
    use std::fs::{File, OpenOptions};
    use std::io::Read;
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::FileExt;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use benches::{
        Mode, Results, TempDir, decode_raw, percentile, ratio_quartiles, rotating_rounds,
        value_quartiles,
    };
    use criterion::{BenchmarkId, Criterion};
    use inotify::{Event, EventMask, Inotify, WatchMask};

    const IN_MODIFY: u32 = 0x2;
    /// Generous: a loaded 2-core machine may stall a thread for a while.
    const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

    /// Where a reader posts the instant its event reached user code. The
    /// writer spins on it instead of sleeping: a sleeping writer may share a
    /// CPU with the reader it wakes, which then waits for the writer to block.
    struct Arrival {
        base: Instant,
        at: AtomicU64,
    }

    type Tx = Arc<Arrival>;

    impl Arrival {
        fn new() -> Arrival {
            Arrival {
                base: Instant::now(),
                at: AtomicU64::new(0),
            }
        }

        /// Posts `now` (never fails; shaped like a channel's `send`).
        fn send(&self, now: Instant) -> Result<(), ()> {
            let ns = now.saturating_duration_since(self.base).as_nanos() as u64;
            self.at.store(ns.max(1), Ordering::Release);
            Ok(())
        }

        /// Spins until an instant is posted, takes it; `None` on timeout.
        fn wait(&self, timeout: Duration) -> Option<Instant> {
            let deadline = Instant::now() + timeout;
            let mut spins = 0u32;
            loop {
                let ns = self.at.swap(0, Ordering::Acquire);
                if ns != 0 {
                    return Some(self.base + Duration::from_nanos(ns));
                }
                std::hint::spin_loop();
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(4096) && Instant::now() > deadline {
                    return None;
                }
            }
        }
    }

    /// What a rig watches: the written file's directory, or the file itself.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Target {
        Dir,
        File,
    }

    impl Target {
        fn label(self) -> &'static str {
            match self {
                Target::Dir => "dir",
                Target::File => "file",
            }
        }
    }

    /// One file written in a directory, the directory or the file watched,
    /// one reader that sends the instant its event reached user code.
    struct Rig {
        file: File,
        arrived: Tx,
        stop: Arc<AtomicBool>,
        reader: Option<JoinHandle<()>>,
        /// A watcher that must live as long as the rig (notify's).
        keep: Option<Box<dyn Send>>,
        _dir: TempDir,
    }

    impl Rig {
        /// Creates the directory and file, then `start`s the reader with
        /// the path to watch (the directory or the file), the stop flag and
        /// the sender.
        fn new(
            target: Target,
            start: impl FnOnce(
                &Path,
                Arc<AtomicBool>,
                Tx,
            ) -> (Option<JoinHandle<()>>, Option<Box<dyn Send>>),
        ) -> Rig {
            let dir = TempDir::new("latency").expect("temp dir");
            let path: PathBuf = dir.path().join("watched.txt");
            let file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)
                .expect("create watched file");
            let stop = Arc::new(AtomicBool::new(false));
            let arrived = Arc::new(Arrival::new());
            let tx = arrived.clone();
            let watched = match target {
                Target::Dir => dir.path(),
                Target::File => path.as_path(),
            };
            let (reader, keep) = start(watched, stop.clone(), tx);
            Rig {
                file,
                arrived,
                stop,
                reader,
                keep,
                _dir: dir,
            }
        }

        /// One write, one event: the time between.
        fn sample(&mut self) -> Duration {
            let start = Instant::now();
            self.file.write_at(b"x", 0).expect("write");
            let arrived = self
                .arrived
                .wait(EVENT_TIMEOUT)
                .expect("the modify event never reached the reader");
            arrived.saturating_duration_since(start)
        }
    }

    impl Drop for Rig {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            // One more event wakes a reader blocked in read.
            let _ = self.file.write_at(b"y", 0);
            if let Some(reader) = self.reader.take() {
                let _ = reader.join();
            }
            self.keep.take();
        }
    }

    fn raw(watched: &Path, stop: Arc<AtomicBool>, tx: Tx) -> Option<JoinHandle<()>> {
        let ino = Inotify::init().expect("inotify_init1");
        ino.add_watch(watched, WatchMask::MODIFY)
            .expect("add_watch");
        let mut fd = File::from(OwnedFd::from(ino));
        Some(std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok(len) = fd.read(&mut buf) else { return };
                let mut modified = false;
                decode_raw(&buf[..len], |e| modified |= e.mask & IN_MODIFY != 0);
                if modified {
                    let now = Instant::now();
                    if stop.load(Ordering::SeqCst) || tx.send(now).is_err() {
                        return;
                    }
                }
            }
        }))
    }

    fn ours(watched: &Path, stop: Arc<AtomicBool>, tx: Tx) -> Option<JoinHandle<()>> {
        let ino = Inotify::init().expect("inotify_init1");
        ino.add_watch(watched, WatchMask::MODIFY)
            .expect("add_watch");
        Some(std::thread::spawn(move || {
            let mut buf = inotify::EventBuffer::default();
            loop {
                let Ok(events) = ino.read(&mut buf) else {
                    return;
                };
                let modified = events.into_iter().any(
                    |e| matches!(e, Ok(Event::Watch(w)) if w.mask.contains(EventMask::MODIFY)),
                );
                if modified {
                    let now = Instant::now();
                    if stop.load(Ordering::SeqCst) || tx.send(now).is_err() {
                        return;
                    }
                }
            }
        }))
    }

    fn watch_core(watched: &Path, stop: Arc<AtomicBool>, tx: Tx) -> Option<JoinHandle<()>> {
        use watch_core::{EventKind, RecursiveMode};
        let mut w = core_watcher().expect("watch-core watcher");
        w.watch(watched, RecursiveMode::NonRecursive)
            .expect("watch");
        Some(std::thread::spawn(move || {
            let mut out = Vec::new();
            loop {
                if w.read(&mut out, None).is_err() {
                    return;
                }
                let modified = out.iter().any(|e| e.kind == EventKind::Modified);
                out.clear();
                if modified {
                    let now = Instant::now();
                    if stop.load(Ordering::SeqCst) || tx.send(now).is_err() {
                        return;
                    }
                }
            }
        }))
    }

    fn notify(watched: &Path, tx: Tx) -> Box<dyn Send> {
        use notify_published::{
            Config, EventKind, INotifyWatcher, RecursiveMode, Watcher as _, event::ModifyKind,
        };
        let handler = move |res: notify_published::Result<notify_published::Event>| {
            if let Ok(e) = res
                && matches!(
                    e.kind,
                    EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any)
                )
            {
                let _ = tx.send(Instant::now());
            }
        };
        let mut w = INotifyWatcher::new(handler, Config::default()).expect("notify watcher");
        w.watch(watched, RecursiveMode::NonRecursive)
            .expect("watch");
        Box::new(w)
    }

    type MakeRig = fn(Target) -> Rig;

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
        let mut results = Results::create("latency").expect("result file");
        let mut group = c.benchmark_group("latency");
        let rigs: [(&str, MakeRig); 4] = [
            ("raw", |t| Rig::new(t, |w, s, tx| (raw(w, s, tx), None))),
            ("ours", |t| Rig::new(t, |w, s, tx| (ours(w, s, tx), None))),
            ("watch-core", |t| {
                Rig::new(t, |w, s, tx| (watch_core(w, s, tx), None))
            }),
            ("notify", |t| {
                Rig::new(t, |w, _, tx| (None, Some(notify(w, tx))))
            }),
        ];
        let core = core_available();
        let rigs: Vec<(&str, Target, MakeRig)> = [Target::Dir, Target::File]
            .into_iter()
            .flat_map(|target| rigs.map(|(name, make)| (name, target, make)))
            .filter(|(name, _, _)| *name != "watch-core" || core)
            .collect();
        for (name, target, make) in &rigs {
            let mut rig = make(*target);
            group.bench_function(BenchmarkId::new(*name, target.label()), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| rig.sample()).sum())
            });
        }
        group.finish();

        // Our own samples, side by side: rounds of one sample per rig, the
        // order rotating (`rotating_rounds`), every rig alive at once, so
        // that every implementation sees the same machine: a busy or an
        // idle CPU changes wake-up times several-fold, and the machine
        // changes from one moment to the next.
        let (rounds, block) = match Mode::current() {
            Mode::Full => (20_000, 200),
            Mode::Quick => (1_500, 50),
            Mode::Test => (10, 10),
        };
        let mut live: Vec<Rig> = rigs.iter().map(|(_, target, make)| make(*target)).collect();
        let times = rotating_rounds(live.len(), rounds, |i| live[i].sample().as_nanos() as f64);
        drop(live);
        // A block's p50 per rig: the ratios are taken between rigs of one
        // block (a few milliseconds of the same machine), then their median
        // and quartiles over the blocks.
        let blocks: Vec<Vec<f64>> = times
            .chunks(block)
            .map(|b| (0..rigs.len()).map(|i| block_p50(b, i)).collect())
            .collect();
        for (i, (name, target, _)) in rigs.iter().enumerate() {
            let mut samples: Vec<u64> = times.iter().map(|r| r[i] as u64).collect();
            samples.sort_unstable();
            let p50 = percentile(&samples, 50.0).unwrap_or_default();
            let p99 = percentile(&samples, 99.0).unwrap_or_default();
            let mut line = format!(
                "latency/{name}/{}: p50 {p50} ns, p99 {p99} ns ({} interleaved samples)",
                target.label(),
                samples.len()
            );
            let figures = [
                ("p50_ns", p50 as f64),
                ("p99_ns", p99 as f64),
                ("samples", samples.len() as f64),
            ];
            for (metric, value) in figures {
                results
                    .record("latency", name, target.label(), metric, value)
                    .expect("write result");
            }
            for reference in ["raw", "notify"] {
                let Some(r) = rigs
                    .iter()
                    .position(|(n, t, _)| *n == reference && t == target)
                else {
                    continue;
                };
                if r == i {
                    continue;
                }
                let q = ratio_quartiles(&blocks, i, r).expect("blocks > 0");
                line.push_str(&format!(
                    "; p50 / {reference} {:.2}x ({:.2}-{:.2}) over {} blocks",
                    q[1],
                    q[0],
                    q[2],
                    blocks.len()
                ));
                results
                    .record_paired("latency", name, target.label(), reference, q)
                    .expect("write result");
            }
            println!("{line}");
        }
    }

    /// The median of rig `i`'s samples in a block of rounds.
    fn block_p50(rounds: &[Vec<f64>], i: usize) -> f64 {
        value_quartiles(rounds, i).map_or(f64::NAN, |q| q[1])
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
    eprintln!("latency: the inotify comparisons run on Linux only");
}
