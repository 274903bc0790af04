//! Latency: from just before `pwrite(2)` on a file in a watched directory
//! until user code holds the decoded event, with the reader blocked on
//! another thread (as a real consumer is).
//!
//! - `raw`: a blocking `read(2)` on the inotify descriptor through
//!   `std::fs::File` (safe: the descriptor comes from our `Inotify` via
//!   `OwnedFd`) and the hand-written decode loop. The watch is set up with
//!   our crate; only the read path is the floor.
//! - `ours`: `Inotify::read` on a blocking instance.
//! - `watch-core`: `Watcher::read(_, None)`.
//! - `notify`: the event handler closure (notify's own thread) is user code.
//!
//! Criterion's median comes from `iter_custom`; every single sample is also
//! kept and the p50/p99 written to the result file are computed from those
//! (warm-up samples included: they are the same operation).
#![forbid(unsafe_code)]

#[cfg(target_os = "linux")]
mod imp {
    use std::fs::{File, OpenOptions};
    use std::io::Read;
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::FileExt;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::{Receiver, Sender, channel};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use benches::{Results, TempDir, decode_raw, percentile};
    use criterion::Criterion;
    use inotify::{Event, EventMask, Inotify, WatchMask};

    const IN_MODIFY: u32 = 0x2;
    /// Generous: a loaded 2-core machine may stall a thread for a while.
    const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

    /// One watched directory, one file written in it, one reader that sends
    /// the instant its event reached user code.
    struct Rig {
        file: File,
        arrived: Receiver<Instant>,
        stop: Arc<AtomicBool>,
        reader: Option<JoinHandle<()>>,
        /// A watcher that must live as long as the rig (notify's).
        keep: Option<Box<dyn Send>>,
        _dir: TempDir,
    }

    impl Rig {
        /// Creates the directory and file, then `start`s the reader with
        /// the directory to watch, the stop flag and the sender.
        fn new(
            start: impl FnOnce(
                &Path,
                Arc<AtomicBool>,
                Sender<Instant>,
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
            let (tx, arrived) = channel();
            let (reader, keep) = start(dir.path(), stop.clone(), tx);
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
                .recv_timeout(EVENT_TIMEOUT)
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

    fn raw(dir: &Path, stop: Arc<AtomicBool>, tx: Sender<Instant>) -> Option<JoinHandle<()>> {
        let ino = Inotify::init().expect("inotify_init1");
        ino.add_watch(dir, WatchMask::MODIFY).expect("add_watch");
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

    fn ours(dir: &Path, stop: Arc<AtomicBool>, tx: Sender<Instant>) -> Option<JoinHandle<()>> {
        let ino = Inotify::init().expect("inotify_init1");
        ino.add_watch(dir, WatchMask::MODIFY).expect("add_watch");
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

    fn watch_core(
        dir: &Path,
        stop: Arc<AtomicBool>,
        tx: Sender<Instant>,
    ) -> Option<JoinHandle<()>> {
        use watch_core::{EventKind, RecursiveMode};
        let mut w = core_watcher().expect("watch-core watcher");
        w.watch(dir, RecursiveMode::NonRecursive).expect("watch");
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

    fn notify(dir: &Path, tx: Sender<Instant>) -> Box<dyn Send> {
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
                // A closed channel only means the rig is being dropped.
                let _ = tx.send(Instant::now());
            }
        };
        let mut w = INotifyWatcher::new(handler, Config::default()).expect("notify watcher");
        w.watch(dir, RecursiveMode::NonRecursive).expect("watch");
        Box::new(w)
    }

    type MakeRig = fn() -> Rig;

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
            ("raw", || Rig::new(|d, s, tx| (raw(d, s, tx), None))),
            ("ours", || Rig::new(|d, s, tx| (ours(d, s, tx), None))),
            ("watch-core", || {
                Rig::new(|d, s, tx| (watch_core(d, s, tx), None))
            }),
            ("notify", || {
                Rig::new(|d, _, tx| (None, Some(notify(d, tx))))
            }),
        ];
        let core = core_available();
        for (name, make) in rigs {
            if name == "watch-core" && !core {
                continue;
            }
            let mut rig = make();
            let mut samples: Vec<u64> = Vec::new();
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let d = rig.sample();
                        samples.push(d.as_nanos() as u64);
                        total += d;
                    }
                    total
                })
            });
            drop(rig);
            samples.sort_unstable();
            for (metric, p) in [("p50_ns", 50.0), ("p99_ns", 99.0)] {
                if let Some(v) = percentile(&samples, p) {
                    results
                        .record("latency", name, "", metric, v as f64)
                        .expect("write result");
                }
            }
            results
                .record("latency", name, "", "samples", samples.len() as f64)
                .expect("write result");
        }
        group.finish();
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
