//! Storm: a burst of N file creations (full run 20,000, more than the default
//! `fs.inotify.max_queued_events` of 16,384 records, so the kernel queue
//! overflows; `--quick` 500) lands in a watched directory while user code
//! is busy elsewhere, then user code drains it.
//!
//! Per storm: a fresh directory and watcher (not timed); the burst, made by
//! this thread while no consumer reads (not timed; notify's own reader
//! thread is held at its first handler call so it cannot drain early); then
//! the drain, timed until user code knows it has everything it will get:
//! - `raw`: non-blocking `read(2)` + the hand-written decode loop until
//!   `EAGAIN`.
//! - `ours`: `Inotify::read` on a non-blocking instance until would-block.
//! - `watch-core`: `read` until empty, then `sync` (a cookie round trip, and
//!   the rescan that reconciles an overflow), then `read` until empty.
//! - `notify`: release its thread, receive from the channel handed to it as
//!   the event handler (notify's documented pattern) until a cookie file's
//!   creation arrives: notify offers no sync point, so the burst ends with a
//!   cookie, and whenever 20 ms pass without an event (the first cookie was
//!   dropped by an overflow) another is created; the kernel queues in order.
//!
//! A second series, `drain` (full run 5,000 files, `--quick` 500), is a
//! burst small enough for every kernel queue (raw's two records per file,
//! notify's three with `IN_OPEN`): it measures the drain rate alone, so
//! watch-core's drain ends when `read` returns nothing more, without `sync`.
//!
//! User code reads into buffers made once per series and reused, as a
//! program reuses them: raw's byte buffer; watch-core's `Vec` of events
//! (`watch-core`, each event's path owned) or its `EventBuf`
//! (`watch-core-buf`, cleared before each read, paths lent from it, so
//! that, as in raw's loop, no event of the burst allocates).
//! Each side learns a created file's name the cheapest way its records
//! allow: raw from the record, watch-core from the bytes after the event
//! path's last `/`.
//!
//! Storms and bursts run in rounds of one per implementation, the order
//! rotating. Reported per implementation (median of the rounds): drain
//! time, events per second delivered to user code (every event, not only
//! creations), the drain time against raw's per round (quartiles), and the
//! changes lost: files whose creation user code never learned of (for
//! watch-core, rescan reports count as learned). A file create is slow on a
//! loaded disk, so the storms run outside criterion's sampling loop (which
//! would need ten or more per implementation); the figures go to the result
//! file that `cargo xtask bench` summarises.
#![forbid(unsafe_code)]

#[cfg(target_os = "linux")]
mod imp {
    use std::ffi::OsStr;
    use std::fs::File;
    use std::io::{ErrorKind, Read};
    use std::os::fd::OwnedFd;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::{self, RecvTimeoutError};
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::{Duration, Instant};

    use benches::{
        Mode, Results, TempDir, decode_raw, quartiles, ratio_quartiles, rotating_rounds,
        value_quartiles,
    };
    use inotify::{Event, EventMask, Inotify, WatchMask};

    const IN_CREATE: u32 = 0x100;
    const IN_Q_OVERFLOW: u32 = 0x4000;
    /// Generous bound for a loaded machine; reaching it fails the bench.
    const GIVE_UP: Duration = Duration::from_secs(120);
    const IMPLEMENTATIONS: [&str; 5] = ["raw", "ours", "watch-core", "watch-core-buf", "notify"];

    fn dir_mask() -> WatchMask {
        WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MODIFY
            | WatchMask::ATTRIB
            | WatchMask::CLOSE_WRITE
            | WatchMask::MOVE
    }

    /// What one storm delivered to user code.
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
                delivered: 0,
                overflows: 0,
                cookie: false,
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

    /// Creates `f0`..`f{n-1}` in `dir`.
    fn burst(dir: &Path, n: usize) {
        for i in 0..n {
            File::create(dir.join(format!("f{i}"))).expect("create file");
        }
    }

    /// Holds notify's reader thread at its first handler call until opened.
    #[derive(Default)]
    struct Gate {
        open: AtomicBool,
        lock: Mutex<bool>,
        opened: Condvar,
    }

    impl Gate {
        fn wait(&self) {
            if self.open.load(Ordering::Acquire) {
                return;
            }
            let mut open = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            while !*open {
                open = self.opened.wait(open).unwrap_or_else(|e| e.into_inner());
            }
        }

        fn open(&self) {
            *self.lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
            self.open.store(true, Ordering::Release);
            self.opened.notify_all();
        }
    }

    /// The buffers user code reads into, made once per series and reused
    /// by every storm, as a program reuses them from one read to the next:
    /// raw's byte buffer for `read(2)`, watch-core's `Vec` of events (which
    /// keeps its capacity when drained). Neither side's buffer is allocated
    /// or grown inside the timed drain, except in the series' first round.
    struct Buffers {
        raw: Vec<u8>,
        events: Vec<watch_core::Event>,
        lent: watch_core::EventBuf,
    }

    impl Buffers {
        fn new() -> Buffers {
            Buffers {
                raw: vec![0u8; 64 * 1024],
                events: Vec::new(),
                lent: watch_core::EventBuf::new(),
            }
        }
    }

    /// The last name of `path`, as bytes after its last `/`: what raw's side
    /// gets from the record, without `Path::file_name`'s component parsing
    /// (every path here is the watched directory joined with one name).
    fn last_name(path: &Path) -> &OsStr {
        let bytes = path.as_os_str().as_bytes();
        OsStr::from_bytes(bytes.rsplit(|&b| b == b'/').next().unwrap_or(bytes))
    }

    /// One storm of `n` creations with `implementation`: drain time and
    /// tally. With `timed_sync`, watch-core's drain includes a `sync` (which
    /// reconciles an overflow); without, it ends when `read` has nothing
    /// more, and whatever it had not delivered by then counts as lost.
    fn storm(
        implementation: &str,
        n: usize,
        timed_sync: bool,
        buffers: &mut Buffers,
    ) -> (Duration, Tally) {
        let tmp = TempDir::new("storm").expect("temp dir");
        let dir = tmp.path();
        let mut tally = Tally::new(n);
        let elapsed = match implementation {
            "raw" => {
                let ino = Inotify::init_nonblocking().expect("inotify_init1");
                ino.add_watch(dir, dir_mask()).expect("add_watch");
                let mut fd = File::from(OwnedFd::from(ino));
                let buf = &mut buffers.raw;
                burst(dir, n);
                let start = Instant::now();
                loop {
                    let len = match fd.read(buf) {
                        Ok(len) => len,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => panic!("read: {e}"),
                    };
                    decode_raw(&buf[..len], |e| {
                        if e.mask & IN_Q_OVERFLOW != 0 {
                            tally.overflows += 1;
                        }
                        let created = e.mask & IN_CREATE != 0;
                        tally.event(created.then(|| OsStr::from_bytes(e.name)));
                    });
                }
                start.elapsed()
            }
            "ours" => {
                let ino = Inotify::init_nonblocking().expect("inotify_init1");
                ino.add_watch(dir, dir_mask()).expect("add_watch");
                let mut buf = inotify::EventBuffer::default();
                burst(dir, n);
                let start = Instant::now();
                loop {
                    let events = match ino.read(&mut buf) {
                        Ok(events) => events,
                        Err(e) if e.is_would_block() => break,
                        Err(e) => panic!("read: {e}"),
                    };
                    for event in events {
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
                start.elapsed()
            }
            "watch-core" => {
                let out = &mut buffers.events;
                time_core(dir, n, timed_sync, &mut tally, |w, tally| {
                    while w.read(out, Some(Duration::ZERO)).expect("read") > 0 {
                        for e in out.drain(..) {
                            tally_core(tally, &e.kind, &e.path);
                        }
                    }
                })
            }
            "watch-core-buf" => {
                let out = &mut buffers.lent;
                time_core(dir, n, timed_sync, &mut tally, |w, tally| {
                    loop {
                        out.clear();
                        if w.read(out, Some(Duration::ZERO)).expect("read") == 0 {
                            break;
                        }
                        for e in out.iter() {
                            tally_core(tally, e.kind, e.path);
                        }
                    }
                })
            }
            "notify" => {
                use notify_published::{
                    Config, EventKind, INotifyWatcher, RecursiveMode, Watcher as _,
                };
                let gate = Arc::new(Gate::default());
                let (tx, rx) = mpsc::channel();
                let held = gate.clone();
                let handler = move |res: notify_published::Result<notify_published::Event>| {
                    held.wait();
                    // A closed channel only means the storm is over.
                    let _ = tx.send(res);
                };
                let mut w = INotifyWatcher::new(handler, Config::default()).expect("watcher");
                w.watch(dir, RecursiveMode::NonRecursive).expect("watch");
                burst(dir, n);
                // The burst's last file is the first cookie: without an
                // overflow it arrives right after the burst's own events.
                File::create(dir.join("cookie-0")).expect("cookie");
                let start = Instant::now();
                gate.open();
                let mut cookies = 1;
                while !tally.cookie {
                    match rx.recv_timeout(Duration::from_millis(20)) {
                        Ok(res) => {
                            let e = res.expect("notify error");
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
                        Err(RecvTimeoutError::Timeout) => {
                            assert!(start.elapsed() < GIVE_UP, "notify never delivered a cookie");
                            File::create(dir.join(format!("cookie-{cookies}"))).expect("cookie");
                            cookies += 1;
                        }
                        Err(RecvTimeoutError::Disconnected) => panic!("notify stopped"),
                    }
                }
                let elapsed = start.elapsed();
                drop(w);
                elapsed
            }
            other => panic!("unknown implementation {other}"),
        };
        (elapsed, tally)
    }

    /// watch-core's drain of a burst of `n` creations in `dir`, timed:
    /// `drain` reads until `read` has nothing more (then, with
    /// `timed_sync`, a `sync` and `drain` again).
    fn time_core(
        dir: &Path,
        n: usize,
        timed_sync: bool,
        tally: &mut Tally,
        mut drain: impl FnMut(&mut watch_core::Watcher, &mut Tally),
    ) -> Duration {
        let mut w = core_watcher().expect("watch-core watcher");
        w.watch(dir, watch_core::RecursiveMode::NonRecursive)
            .expect("watch");
        burst(dir, n);
        let start = Instant::now();
        drain(&mut w, tally);
        if timed_sync {
            w.sync(GIVE_UP).expect("sync");
            drain(&mut w, tally);
        }
        start.elapsed()
    }

    /// Counts one event watch-core delivered.
    fn tally_core(tally: &mut Tally, kind: &watch_core::EventKind, path: &Path) {
        use watch_core::EventKind;
        match kind {
            EventKind::Created => tally.event(Some(last_name(path))),
            EventKind::Overflow => {
                tally.overflows += 1;
                tally.event(None);
            }
            _ => tally.event(None),
        }
    }

    /// watch-core on its inotify backend.
    fn core_watcher() -> Result<watch_core::Watcher, watch_core::Error> {
        use watch_core::{Backend, Config, Watcher};
        Watcher::with_config(Config::default().backend(Backend::Inotify))
    }

    /// Bursts of `n` creations, `rounds` per implementation, the order
    /// rotating each round; records the medians (drain time, events per
    /// second) and totals (lost, overflows) under `group`, and the drain
    /// time of each implementation against raw's, timed side by side.
    fn series(
        group: &str,
        n: usize,
        rounds: usize,
        timed_sync: bool,
        implementations: &[&str],
        results: &mut Results,
    ) {
        let mut tallies: Vec<Vec<Tally>> = implementations.iter().map(|_| Vec::new()).collect();
        let mut rates: Vec<Vec<f64>> = implementations.iter().map(|_| Vec::new()).collect();
        let mut buffers = Buffers::new();
        let times = rotating_rounds(implementations.len(), rounds, |i| {
            let (elapsed, tally) = storm(implementations[i], n, timed_sync, &mut buffers);
            rates[i].push(tally.delivered as f64 / elapsed.as_secs_f64());
            tallies[i].push(tally);
            elapsed.as_secs_f64()
        });
        let param = n.to_string();
        let raw = implementations.iter().position(|i| *i == "raw");
        for (i, implementation) in implementations.iter().enumerate() {
            let [_, drain, _] = value_quartiles(&times, i).expect("rounds > 0");
            let [_, rate, _] = quartiles(&mut rates[i]).expect("rounds > 0");
            let lost: u64 = tallies[i].iter().map(Tally::lost).sum();
            let overflows: u64 = tallies[i].iter().map(|t| t.overflows).sum();
            let created = (rounds * n) as u64;
            println!(
                "{group}/{implementation}/{n}: drain {:.2} ms, {rate:.0} events/s to user code, \
                 {lost} of {created} creations lost, {overflows} overflows ({rounds} rounds)",
                drain * 1e3
            );
            let figures = [
                ("drain_ns", drain * 1e9),
                ("events_per_sec", rate),
                ("lost", lost as f64),
                ("created", created as f64),
                ("overflows", overflows as f64),
                ("storms", rounds as f64),
            ];
            for (metric, value) in figures {
                results
                    .record(group, implementation, &param, metric, value)
                    .expect("write result");
            }
            if let Some(raw) = raw.filter(|raw| *raw != i) {
                let q = ratio_quartiles(&times, i, raw).expect("rounds > 0");
                results
                    .record_paired(group, implementation, &param, "raw", q)
                    .expect("write result");
            }
        }
    }

    pub fn run() {
        let mode = Mode::current();
        let sizes = mode.sizes();
        // Drain bursts are short (a few ms each): 15 rounds give a median
        // that 7 did not (one run's quartiles spread from 0.55x to 0.78x).
        let (storms, drains) = match mode {
            Mode::Full => (3, 15),
            Mode::Quick => (2, 3),
            Mode::Test => (1, 1),
        };
        let core = core_watcher()
            .map_err(|e| eprintln!("watch-core left out of this run: {e}"))
            .is_ok();
        let implementations: Vec<&str> = IMPLEMENTATIONS
            .into_iter()
            .filter(|i| !i.starts_with("watch-core") || core)
            .collect();
        let mut results = Results::create("storm").expect("result file");
        series(
            "storm",
            sizes.storm_files,
            storms,
            true,
            &implementations,
            &mut results,
        );
        series(
            "drain",
            sizes.drain_files,
            drains,
            false,
            &implementations,
            &mut results,
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once
    // on tiny sizes (see `benches::Mode`). No criterion options apply here.
    #[cfg(target_os = "linux")]
    imp::run();
    #[cfg(not(target_os = "linux"))]
    eprintln!("storm: the inotify comparisons run on Linux only");
}
