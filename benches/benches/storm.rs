//! Storm: a writer thread creates N files (full run 20,000, more than the
//! default `max_queued_events` of 16,384; `--quick` 5,000) as fast as it can
//! in a watched directory, while user code consumes events.
//!
//! Timed from starting the writer until user code knows it has seen all it
//! will ever see:
//! - `raw`, `ours`, `notify`: after its N files the writer creates cookie
//!   files, one every 100 ms, until the consumer reports seeing one; the
//!   kernel queues in order, so every event before the cookie has been
//!   delivered or dropped by an overflow.
//! - `watch-core`: read until the writer is done, then `sync` (its own
//!   cookie) and drain: any overflow has been reconciled by a rescan.
//!
//! Criterion's throughput is files per second end to end. The result file
//! also gets events per second delivered to user code (every event counts,
//! not only creations), the changes lost (files whose creation user code
//! never saw, for watch-core including rescan reports) and overflows seen.
//! Each iteration uses a fresh directory and watcher (not timed).
#![forbid(unsafe_code)]

#[cfg(target_os = "linux")]
mod imp {
    use std::ffi::OsStr;
    use std::fs::File;
    use std::io::{self, Read};
    use std::os::fd::OwnedFd;
    use std::os::unix::ffi::OsStrExt;
    use std::path::PathBuf;
    use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
    use std::thread::{self, JoinHandle};
    use std::time::{Duration, Instant};

    use benches::{Mode, Results, TempDir, decode_raw};
    use criterion::{BenchmarkId, Criterion, Throughput};
    use inotify::{Event, EventMask, Inotify, WatchMask};

    const IN_CREATE: u32 = 0x100;
    const IN_Q_OVERFLOW: u32 = 0x4000;
    const COOKIE_EVERY: Duration = Duration::from_millis(100);
    /// Generous bound for a loaded machine; reaching it fails the bench.
    const GIVE_UP: Duration = Duration::from_secs(120);

    fn dir_mask() -> WatchMask {
        WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MODIFY
            | WatchMask::ATTRIB
            | WatchMask::CLOSE_WRITE
            | WatchMask::MOVE
    }

    /// What one storm delivered.
    #[derive(Default)]
    struct Tally {
        seen: Vec<bool>,
        delivered: u64,
        overflows: u64,
        cookie: bool,
    }

    impl Tally {
        fn new(n: usize) -> Tally {
            Tally {
                seen: vec![false; n],
                ..Tally::default()
            }
        }

        /// Counts one delivered event; `created` is the name of a created entry.
        fn event(&mut self, created: Option<&OsStr>) {
            self.delivered += 1;
            let Some(name) = created else { return };
            let name = name.as_bytes();
            if name.starts_with(b"cookie-") {
                self.cookie = true;
            } else if let Some(i) = name
                .strip_prefix(b"f")
                .and_then(|digits| std::str::from_utf8(digits).ok())
                .and_then(|digits| digits.parse::<usize>().ok())
                .filter(|&i| i < self.seen.len())
            {
                self.seen[i] = true;
            }
        }

        fn lost(&self) -> u64 {
            self.seen.iter().filter(|s| !**s).count() as u64
        }
    }

    /// Creates `f0`..`f{n-1}` in `dir`, then, if `cookies` is given, a
    /// cookie file every [`COOKIE_EVERY`] until told to stop.
    fn writer(dir: PathBuf, n: usize, cookies: Option<Receiver<()>>) -> JoinHandle<io::Result<()>> {
        thread::spawn(move || {
            for i in 0..n {
                File::create(dir.join(format!("f{i}")))?;
            }
            let Some(stop) = cookies else { return Ok(()) };
            let start = Instant::now();
            for k in 0.. {
                File::create(dir.join(format!("cookie-{k}")))?;
                match stop.recv_timeout(COOKIE_EVERY) {
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                    Err(RecvTimeoutError::Timeout) if start.elapsed() > GIVE_UP => break,
                    Err(RecvTimeoutError::Timeout) => {}
                }
            }
            Err(io::Error::other("the consumer never saw a cookie"))
        })
    }

    /// One storm with `implementation`: elapsed time and tally.
    fn storm(implementation: &str, n: usize) -> (Duration, Tally) {
        let tmp = TempDir::new("storm").expect("temp dir");
        let dir = tmp.path().to_path_buf();
        let mut tally = Tally::new(n);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let elapsed = match implementation {
            "raw" => {
                let ino = Inotify::init().expect("inotify_init1");
                ino.add_watch(&dir, dir_mask()).expect("add_watch");
                let mut fd = File::from(OwnedFd::from(ino));
                let mut buf = vec![0u8; 64 * 1024];
                let start = Instant::now();
                let w = writer(dir.clone(), n, Some(stop_rx));
                while !tally.cookie {
                    let len = fd.read(&mut buf).expect("read");
                    decode_raw(&buf[..len], |e| {
                        if e.mask & IN_Q_OVERFLOW != 0 {
                            tally.overflows += 1;
                        }
                        let created = e.mask & IN_CREATE != 0;
                        tally.event(created.then(|| OsStr::from_bytes(e.name)));
                    });
                }
                let elapsed = start.elapsed();
                finish(stop_tx, w);
                elapsed
            }
            "ours" => {
                let ino = Inotify::init().expect("inotify_init1");
                ino.add_watch(&dir, dir_mask()).expect("add_watch");
                let mut buf = inotify::EventBuffer::default();
                let start = Instant::now();
                let w = writer(dir.clone(), n, Some(stop_rx));
                while !tally.cookie {
                    for event in ino.read(&mut buf).expect("read") {
                        match event.expect("well-formed record") {
                            Event::Watch(e) => {
                                let created = e.mask.contains(EventMask::CREATE);
                                tally.event(if created { e.name } else { None });
                            }
                            Event::Overflow => {
                                tally.overflows += 1;
                                tally.event(None);
                            }
                        }
                    }
                }
                let elapsed = start.elapsed();
                finish(stop_tx, w);
                elapsed
            }
            "watch-core" => {
                use watch_core::{EventKind, RecursiveMode};
                let mut w = core_watcher().expect("watch-core watcher");
                w.watch(&dir, RecursiveMode::NonRecursive).expect("watch");
                let mut out = Vec::new();
                let consume = |out: &mut Vec<watch_core::Event>, tally: &mut Tally| {
                    for e in out.drain(..) {
                        match e.kind {
                            EventKind::Created => tally.event(e.path.file_name()),
                            EventKind::Overflow => {
                                tally.overflows += 1;
                                tally.event(None);
                            }
                            _ => tally.event(None),
                        }
                    }
                };
                let start = Instant::now();
                let writing = writer(dir.clone(), n, None);
                while !writing.is_finished() {
                    w.read(&mut out, Some(Duration::from_millis(20)))
                        .expect("read");
                    consume(&mut out, &mut tally);
                }
                w.sync(GIVE_UP).expect("sync");
                while w.read(&mut out, Some(Duration::ZERO)).expect("read") > 0 {
                    consume(&mut out, &mut tally);
                }
                let elapsed = start.elapsed();
                writing
                    .join()
                    .expect("writer thread")
                    .expect("create files");
                elapsed
            }
            "notify" => {
                use notify_published::{
                    Config, EventKind, INotifyWatcher, RecursiveMode, Watcher as _,
                };
                let (tx, rx): (Sender<notify_published::Result<notify_published::Event>>, _) =
                    mpsc::channel();
                let mut w = INotifyWatcher::new(tx, Config::default()).expect("notify watcher");
                w.watch(&dir, RecursiveMode::NonRecursive).expect("watch");
                let start = Instant::now();
                let writing = writer(dir.clone(), n, Some(stop_rx));
                while !tally.cookie {
                    let e = rx
                        .recv_timeout(GIVE_UP)
                        .expect("notify stopped delivering")
                        .expect("notify error");
                    if e.need_rescan() {
                        tally.overflows += 1;
                    }
                    if matches!(e.kind, EventKind::Create(_)) {
                        for path in &e.paths {
                            tally.event(path.file_name());
                        }
                    } else {
                        tally.event(None);
                    }
                }
                let elapsed = start.elapsed();
                finish(stop_tx, writing);
                drop(w);
                elapsed
            }
            other => panic!("unknown implementation {other}"),
        };
        drop(tmp);
        (elapsed, tally)
    }

    fn finish(stop: Sender<()>, writer: JoinHandle<io::Result<()>>) {
        // The writer may already have stopped on its own; that is fine.
        let _ = stop.send(());
        writer.join().expect("writer thread").expect("create files");
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
        let n = Mode::current().sizes().storm_files;
        let mut results = Results::create("storm").expect("result file");
        let mut group = c.benchmark_group("storm");
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(10);
        let core = core_available();
        for implementation in ["raw", "ours", "watch-core", "notify"] {
            if implementation == "watch-core" && !core {
                continue;
            }
            let (mut busy, mut delivered, mut lost, mut overflows, mut storms) =
                (Duration::ZERO, 0, 0, 0, 0);
            group.bench_function(BenchmarkId::new(implementation, n), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let (elapsed, tally) = storm(implementation, n);
                        total += elapsed;
                        delivered += tally.delivered;
                        lost += tally.lost();
                        overflows += tally.overflows;
                        storms += 1;
                    }
                    busy += total;
                    total
                })
            });
            let param = n.to_string();
            let per_sec = delivered as f64 / busy.as_secs_f64();
            let figures = [
                ("events_per_sec", per_sec),
                ("lost", lost as f64),
                ("created", (storms * n) as f64),
                ("overflows", overflows as f64),
                ("storms", storms as f64),
            ];
            for (metric, value) in figures {
                results
                    .record("storm", implementation, &param, metric, value)
                    .expect("write result");
            }
            println!(
                "storm/{implementation}/{n}: {per_sec:.0} events/s delivered, \
                 {lost} of {} creations lost, {overflows} overflows",
                storms * n
            );
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
    eprintln!("storm: the inotify comparisons run on Linux only");
}
