//! `cargo xtask soak --minutes N`: a recursive watch under a continuous,
//! bounded mix of filesystem operations, checked for lost changes and for
//! growth of resident memory and open descriptors.
//!
//! The run drives one [`Watcher`] (platform default backend) on a temp tree
//! and, in one thread, alternates batches of operations (create, write,
//! chmod, rename files and directories within and across directories,
//! delete, mkdir, `mkdir -p` with a file, recursive removal) with
//! non-blocking reads, folding every event onto a model of the tree. The
//! tree stays bounded (about [`MAX_FILES`] files and [`MAX_DIRS`]
//! directories). Periodically (first inside the warm-up, then every
//! `--burst-every` seconds) it stops reading during a burst larger than the
//! kernel queue, so overflow recovery is exercised too.
//!
//! Every checkpoint (`--every` seconds) calls `sync`, folds what it returned
//! and compares the model with a fresh scan: each differing path is a lost
//! change. The same events also go through a [`Debouncer`] (pushed as they
//! are read, batches folded as they are released, the rest flushed at the
//! checkpoint) onto a second model, which must match the scan too. It prints events per second, resident memory (`VmRSS`), open
//! descriptors and kernel watches. Then (Linux) a signal probe: while this
//! thread blocks in `Watcher::read`, another delivers SIGUSR1 to it
//! `--signals` times, each time once `/proc/self/task/<tid>/syscall` shows it
//! blocked in `poll`, and then creates a file; the read must return that
//! file's event, with no error and no early empty return.
//!
//! Exit status is non-zero if any change was lost, if a watcher call failed,
//! if a signal probe failed, or if, after the warm-up (the first fifth of
//! the run, at least one checkpoint), resident memory grew by more than
//! [`RSS_TOLERANCE_KIB`] KiB or 25 % (whichever is larger) over its warm-up
//! peak, or the descriptor count grew by more than [`FD_TOLERANCE`] over its
//! warm-up peak, or the kernel watches outnumbered the directories by more
//! than [`WATCH_SLACK`].
#![forbid(unsafe_code)]

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use watch_core::{Debouncer, Event, RecursiveMode, Watcher};

use crate::Result;
use test_support::{TempDir, read_ready};

use crate::tree::{Rng, Tree, fold, max_queued_events, scan};

mod signal;
mod truth;

use signal::SignalProbe;
use truth::Truth;

/// Allowed growth of resident memory after warm-up, in KiB (or 25 %).
pub const RSS_TOLERANCE_KIB: u64 = 8 * 1024;
/// Allowed growth of the open descriptor count after warm-up.
pub const FD_TOLERANCE: usize = 2;
/// Kernel watches allowed beyond one per directory (the root's anchors).
pub const WATCH_SLACK: usize = 4;

/// Most files and directories the tree may hold; past these, operations
/// that add entries turn into ones that remove them.
const MAX_FILES: usize = 2_000;
const MAX_DIRS: usize = 200;
/// Two files in the root that only bursts touch.
const BURST_FILES: [&str; 2] = ["burst-a", "burst-b"];
/// Operations between two non-blocking reads.
const BATCH: usize = 64;
/// Generous: a sync normally takes milliseconds; this only bounds a hang.
const SYNC_TIMEOUT: Duration = Duration::from_secs(120);

const USAGE: &str =
    "usage: cargo xtask soak --minutes N [--every SECS] [--burst-every SECS] [--seed N]
  --minutes N        how long to run (fractions allowed, e.g. 0.5)
  --every SECS       seconds between checkpoints (default: run/12, 2..=10)
  --burst-every SECS seconds between queue-overflowing bursts (default 30; 0 = never)
  --seed N           seed of the operation mix (default: fixed)
  --signals N        signals delivered to a blocked read per checkpoint (default 5; 0 = none)";

/// Options of one run.
#[derive(Clone, Debug, PartialEq)]
struct Options {
    duration: Duration,
    every: Duration,
    burst_every: Option<Duration>,
    seed: u64,
    signals: usize,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut minutes: Option<f64> = None;
    let mut every: Option<f64> = None;
    let mut burst: f64 = 30.0;
    let mut seed: u64 = 0x5eed_50a4;
    let mut signals: f64 = 5.0;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> Result<f64> {
            let v = it
                .next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))?;
            let n: f64 = v
                .parse()
                .map_err(|_| format!("{name}: `{v}` is not a number\n{USAGE}"))?;
            if !n.is_finite() || n < 0.0 {
                return Err(format!("{name}: `{v}` must be a non-negative number").into());
            }
            Ok(n)
        };
        match arg.as_str() {
            "--minutes" => minutes = Some(value("--minutes")?),
            "--every" => every = Some(value("--every")?),
            "--burst-every" => burst = value("--burst-every")?,
            "--seed" => seed = value("--seed")? as u64,
            "--signals" => signals = value("--signals")?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unexpected argument `{other}`\n{USAGE}").into()),
        }
    }
    let minutes = minutes.ok_or_else(|| format!("--minutes is required\n{USAGE}"))?;
    if minutes <= 0.0 {
        return Err("--minutes must be greater than 0".into());
    }
    let duration = Duration::from_secs_f64(minutes * 60.0);
    let every = match every {
        Some(s) if s > 0.0 => Duration::from_secs_f64(s),
        Some(_) => return Err("--every must be greater than 0".into()),
        None => Duration::from_secs_f64((duration.as_secs_f64() / 12.0).clamp(2.0, 10.0)),
    };
    Ok(Options {
        duration,
        every,
        burst_every: (burst > 0.0).then(|| Duration::from_secs_f64(burst)),
        seed,
        signals: signals as usize,
    })
}

/// The CI gate: the 2-minute soak.
pub fn ci(_: &[String]) -> Result {
    main(&["--minutes".into(), "2".into()])
}

/// Entry point of `cargo xtask soak` (`--cli`: see the `storm` module).
pub fn main(args: &[String]) -> Result {
    if args.iter().any(|a| a == "--cli") {
        return crate::storm::main(args);
    }
    let options = parse(args)?;
    let scratch = TempDir::try_new("watchfs-soak")?;
    let report = run(&options, scratch.path())?;
    report.print_summary();
    let problems = report.problems();
    if problems.is_empty() {
        println!("soak: ok");
        Ok(())
    } else {
        Err(problems.join("; ").into())
    }
}

// ------------------------------------------------------------------ the run

/// One checkpoint's figures.
#[derive(Clone, Debug)]
struct Sample {
    at: Duration,
    ops: u64,
    events: u64,
    rss_kib: u64,
    fds: usize,
    watches: usize,
    dirs: usize,
    lost: usize,
    /// Paths the debounced stream got wrong.
    lost_debounced: usize,
}

struct Report {
    samples: Vec<Sample>,
    warmup: Duration,
    overflows: u64,
    bursts: u64,
    lost_examples: Vec<String>,
    /// Signals delivered while the watcher thread was blocked in a read.
    signals: u64,
    /// Probes whose read failed or returned without the probe's event.
    signal_failures: Vec<String>,
}

fn run(options: &Options, base: &Path) -> Result<Report> {
    let root = base.join("tree");
    fs::create_dir(&root)?;
    let mut truth = Truth::new(&root);
    let mut rng = Rng(options.seed | 1);
    for name in BURST_FILES {
        fs::write(root.join(name), b"")?;
    }
    // Start with some depth, so renames move subtrees from the beginning.
    for i in 0..20 {
        truth.mkdir(&root.join(format!("seed{i}")));
        truth.create(&root.join(format!("seed{i}/file")));
    }

    let mut watcher = Watcher::new()?;
    watcher.watch(&root, RecursiveMode::Recursive)?;
    let mut model = scan(&root);
    let mut debounced = Debounced::new(model.clone());
    let mut events: Vec<Event> = Vec::new();
    watcher.sync(SYNC_TIMEOUT)?;
    read_ready(&mut watcher, &mut events)?;
    fold(&mut model, &events);
    debounced.feed(&events);
    events.clear();

    let queue = max_queued_events();
    let start = Instant::now();
    let mut next_checkpoint = options.every;
    let warmup = (options.duration / 5).max(options.every);
    // The first burst falls inside the warm-up, so that the memory it needs
    // once is part of the baseline and only growth after it counts.
    let mut next_burst = options.burst_every.map(|every| every.min(warmup / 2));
    let mut report = Report {
        samples: Vec::new(),
        warmup,
        overflows: 0,
        bursts: 0,
        lost_examples: Vec::new(),
        signals: 0,
        signal_failures: Vec::new(),
    };
    let probe = SignalProbe::install(options.signals)?;
    let (mut ops, mut seen) = (0u64, 0u64);
    println!(
        "soak: {:.1} s on {} ({} backend), checkpoint every {:.1} s, warm-up {:.1} s",
        options.duration.as_secs_f64(),
        root.display(),
        watcher.backend(),
        options.every.as_secs_f64(),
        report.warmup.as_secs_f64()
    );
    loop {
        let now = start.elapsed();
        if let Some(at) = next_burst
            && now >= at
        {
            // More events than the kernel queue holds, with nobody reading.
            ops += truth.burst(&mut rng, queue + queue / 4);
            report.bursts += 1;
            next_burst = options.burst_every.map(|every| at + every);
        }
        for _ in 0..BATCH {
            truth.step(&mut rng);
            ops += 1;
        }
        seen += read_ready(&mut watcher, &mut events)? as u64;
        report.overflows += fold(&mut model, &events);
        debounced.feed(&events);
        events.clear();

        let now = start.elapsed();
        let done = now >= options.duration;
        if now >= next_checkpoint || done {
            watcher.sync(SYNC_TIMEOUT)?;
            seen += read_ready(&mut watcher, &mut events)? as u64;
            report.overflows += fold(&mut model, &events);
            debounced.feed(&events);
            debounced.flush();
            events.clear();
            let real = scan(&root);
            let lost = differences(&model, &real, &mut report.lost_examples);
            let lost_debounced = differences(&debounced.model, &real, &mut report.lost_examples);
            if lost_debounced > 0 {
                debounced.model = real.clone();
            }
            if lost > 0 {
                // Count each loss once: continue from the real tree.
                model = real;
            }
            let sample = Sample {
                at: now,
                ops,
                events: seen,
                rss_kib: resident_kib().unwrap_or(0),
                fds: open_fds(),
                watches: watcher.watch_count(),
                dirs: 1 + model.values().filter(|d| **d).count(),
                lost,
                lost_debounced,
            };
            sample.print(report.samples.last());
            report.samples.push(sample);
            let name = format!("signal-probe-{}", report.samples.len());
            match probe.run(&mut watcher, &root.join(name), &mut events) {
                Ok(delivered) => report.signals += delivered,
                Err(e) => {
                    println!("soak: signal probe failed: {e}");
                    report.signal_failures.push(e);
                }
            }
            seen += events.len() as u64;
            report.overflows += fold(&mut model, &events);
            debounced.feed(&events);
            events.clear();
            next_checkpoint = now + options.every;
        }
        if done {
            break;
        }
    }
    drop(watcher);
    drop(probe);
    Ok(report)
}

/// The same events through a debouncer (100 ms, as `watchfs` uses), its
/// batches folded onto their own model.
struct Debounced {
    debouncer: Debouncer,
    model: Tree,
    batch: Vec<Event>,
}

impl Debounced {
    fn new(model: Tree) -> Debounced {
        Debounced {
            debouncer: Debouncer::new(Duration::from_millis(100)),
            model,
            batch: Vec::new(),
        }
    }

    /// Pushes `events` (read now) and folds a batch if one is due.
    fn feed(&mut self, events: &[Event]) {
        let now = Instant::now();
        for event in events {
            self.debouncer.push(event.clone(), now);
        }
        self.debouncer.drain_ready(now, &mut self.batch);
        fold(&mut self.model, &self.batch);
        self.batch.clear();
    }

    /// Releases and folds everything pending.
    fn flush(&mut self) {
        self.debouncer.flush(&mut self.batch);
        fold(&mut self.model, &self.batch);
        self.batch.clear();
    }
}

impl Sample {
    fn print(&self, previous: Option<&Sample>) {
        let (t0, e0) = previous.map_or((Duration::ZERO, 0), |p| (p.at, p.events));
        let secs = (self.at - t0).as_secs_f64().max(1e-9);
        println!(
            "soak: t={:>7.1}s ops={:>9} events={:>9} ({:>8.0}/s) rss={:>7.1} MiB fds={:>3} watches={:>4} dirs={:>4} lost={} (debounced {})",
            self.at.as_secs_f64(),
            self.ops,
            self.events,
            (self.events - e0) as f64 / secs,
            self.rss_kib as f64 / 1024.0,
            self.fds,
            self.watches,
            self.dirs,
            self.lost,
            self.lost_debounced
        );
    }
}

impl Report {
    fn warm(&self) -> (Vec<&Sample>, Vec<&Sample>) {
        let (warm, steady): (Vec<&Sample>, Vec<&Sample>) =
            self.samples.iter().partition(|s| s.at <= self.warmup);
        if warm.is_empty() {
            // At least one checkpoint is warm-up.
            let (first, rest) = self
                .samples
                .split_first()
                .map_or((vec![], vec![]), |(f, r)| (vec![f], r.iter().collect()));
            return (first, rest);
        }
        (warm, steady)
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let lost: usize = self.samples.iter().map(|s| s.lost).sum();
        let lost_debounced: usize = self.samples.iter().map(|s| s.lost_debounced).sum();
        if lost > 0 || lost_debounced > 0 {
            out.push(format!(
                "{lost} lost changes in the raw stream, {lost_debounced} in the debounced one, e.g. {}",
                self.lost_examples.join(", ")
            ));
        }
        if !self.signal_failures.is_empty() {
            out.push(format!(
                "signal probe failed {} times, e.g. {}",
                self.signal_failures.len(),
                self.signal_failures[0]
            ));
        }
        let (warm, steady) = self.warm();
        let rss_base = warm.iter().map(|s| s.rss_kib).max().unwrap_or(0);
        let rss_max = steady.iter().map(|s| s.rss_kib).max().unwrap_or(rss_base);
        let rss_allowed = rss_base + RSS_TOLERANCE_KIB.max(rss_base / 4);
        if rss_max > rss_allowed {
            out.push(format!(
                "resident memory grew from {rss_base} KiB (warm-up peak) to {rss_max} KiB (allowed {rss_allowed})"
            ));
        }
        let fd_base = warm.iter().map(|s| s.fds).max().unwrap_or(0);
        let fd_max = steady.iter().map(|s| s.fds).max().unwrap_or(fd_base);
        if fd_max > fd_base + FD_TOLERANCE {
            out.push(format!(
                "open descriptors grew from {fd_base} (warm-up peak) to {fd_max}"
            ));
        }
        for s in &self.samples {
            if s.watches > s.dirs + WATCH_SLACK {
                out.push(format!(
                    "{} kernel watches for {} directories at {:.1} s (leaked watches)",
                    s.watches,
                    s.dirs,
                    s.at.as_secs_f64()
                ));
                break;
            }
        }
        out
    }

    fn print_summary(&self) {
        let Some(last) = self.samples.last() else {
            return;
        };
        let (warm, steady) = self.warm();
        let rss_base = warm.iter().map(|s| s.rss_kib).max().unwrap_or(0);
        let rss_max = steady.iter().map(|s| s.rss_kib).max().unwrap_or(rss_base);
        let fd_base = warm.iter().map(|s| s.fds).max().unwrap_or(0);
        let fd_max = steady.iter().map(|s| s.fds).max().unwrap_or(fd_base);
        let lost: usize = self.samples.iter().map(|s| s.lost).sum();
        let lost_debounced: usize = self.samples.iter().map(|s| s.lost_debounced).sum();
        println!(
            "soak summary: {:.1} s, {} operations, {} events ({:.0}/s), {} bursts, {} overflows recovered, \
             {} checkpoints, lost changes {lost} (debounced {lost_debounced}), {} signals delivered to a blocked read ({} probe failures), \
             rss {:.1} MiB after warm-up -> max {:.1} MiB, fds {fd_base} -> max {fd_max}",
            last.at.as_secs_f64(),
            last.ops,
            last.events,
            last.events as f64 / last.at.as_secs_f64().max(1e-9),
            self.bursts,
            self.overflows,
            self.samples.len(),
            self.signals,
            self.signal_failures.len(),
            rss_base as f64 / 1024.0,
            rss_max as f64 / 1024.0,
        );
    }
}

// ------------------------------------------------------------ model and scan

/// Paths whose presence or type differs; keeps a few examples.
fn differences(model: &Tree, real: &Tree, examples: &mut Vec<String>) -> usize {
    let mut n = 0;
    let mut note = |what: &str, p: &Path| {
        n += 1;
        if examples.len() < 5 {
            examples.push(format!("{what} {}", p.display()));
        }
    };
    for (p, d) in model {
        if real.get(p) != Some(d) {
            note("reported but absent:", p);
        }
    }
    for (p, d) in real {
        if model.get(p) != Some(d) {
            note("present but unreported:", p);
        }
    }
    n
}

// ----------------------------------------------------------- process figures

/// `VmRSS` of this process in KiB, from `/proc/self/status`.
fn resident_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Open descriptors of this process (minus the one listing them).
fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").map_or(0, |d| d.count().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use watch_core::EventKind;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_fractional_minutes_and_defaults() {
        let o = parse(&args("--minutes 0.5")).unwrap();
        assert_eq!(o.duration, Duration::from_secs(30));
        assert_eq!(o.every, Duration::from_secs_f64(2.5));
        assert_eq!(o.burst_every, Some(Duration::from_secs(30)));
        let o = parse(&args("--minutes 2 --every 5 --burst-every 0 --seed 7")).unwrap();
        assert_eq!(o.every, Duration::from_secs(5));
        assert_eq!(o.burst_every, None);
        assert_eq!(o.seed, 7);
    }

    #[test]
    fn rejects_bad_arguments() {
        for bad in [
            "",
            "--minutes",
            "--minutes x",
            "--minutes 0",
            "--minutes -1",
            "--minutes 1 --nope",
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn fold_applies_created_removed_renamed() {
        let p = |s: &str| PathBuf::from(s);
        let mut tree = Tree::new();
        let ev = |kind, path: &str, is_dir| {
            Event::new(kind, p(path), is_dir, watch_core::Origin::Kernel)
        };
        let overflows = fold(
            &mut tree,
            &[
                ev(EventKind::Created, "/r/a", true),
                ev(EventKind::Created, "/r/a/f", false),
                ev(EventKind::Created, "/r/ab", false),
                ev(EventKind::Renamed { from: p("/r/a") }, "/r/b", true),
                ev(EventKind::Overflow, "/r", true),
                ev(EventKind::Removed, "/r/ab", false),
            ],
        );
        let want: Tree = [(p("/r/b"), true), (p("/r/b/f"), false)]
            .into_iter()
            .collect();
        assert_eq!(tree, want);
        assert_eq!(overflows, 1);
        let mut examples = Vec::new();
        assert_eq!(differences(&tree, &Tree::new(), &mut examples), 2);
        assert_eq!(examples.len(), 2);
    }

    #[test]
    fn growth_beyond_tolerance_is_a_problem() {
        let sample = |at: u64, rss_kib: u64, fds: usize, lost: usize| Sample {
            at: Duration::from_secs(at),
            ops: 0,
            events: 0,
            rss_kib,
            fds,
            watches: 1,
            dirs: 1,
            lost,
            lost_debounced: 0,
        };
        let report = |samples| Report {
            samples,
            warmup: Duration::from_secs(10),
            overflows: 0,
            bursts: 0,
            lost_examples: vec![],
            signals: 0,
            signal_failures: vec![],
        };
        let flat = report(vec![sample(5, 40_000, 5, 0), sample(20, 41_000, 6, 0)]);
        assert!(flat.problems().is_empty(), "{:?}", flat.problems());
        let leaky = report(vec![sample(5, 40_000, 5, 0), sample(20, 60_000, 9, 1)]);
        assert_eq!(leaky.problems().len(), 3, "{:?}", leaky.problems());
    }
}
