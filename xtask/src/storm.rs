//! `cargo xtask soak --cli --ops N --seed S [--stop] [--overflow]`: the
//! command-line tool under a seeded storm, judged by its output alone.
//!
//! Runs `watchfs -r --json TREE` (the debug build, built first) on a temp
//! tree, waits for "watches established" on its stderr, then performs `N`
//! operations from a bounded mix as fast as it can: files created, appended
//! to, chmodded, removed, renamed (also over an existing file, also twice in
//! a row: a -> b -> c), saved atomically (temp file renamed over); directories
//! created, created as `mkdir -p` chains with a file, created, filled and
//! renamed at once, renamed (also over an empty directory), removed
//! recursively; files and filled directories moved in from outside (also
//! over an existing file) and moved out; symlinks created and removed.
//!
//! Then it creates a cookie file and waits for its event (everything before
//! it has then been printed), stops `watchfs`, folds the JSON lines onto the
//! tree as it was when the watches were established, and compares the result
//! with a walk of the tree: every path missing from the fold or extra in it
//! is a failure, and so is a file written during the storm without an event
//! naming it (by any name it had since) printed after its last write.
//!
//! `--stop` stops `watchfs` with SIGSTOP for the middle third of the storm
//! (SIGCONT after). `--overflow` stops it while more changes than the kernel
//! queue holds (`fs.inotify.max_queued_events`) happen, and requires the
//! output to report the overflow.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Result;
use crate::tree::{self, Rng, Tree, max_queued_events, scan};
use test_support::TempDir;

use crate::workspace;

const USAGE: &str = "usage: cargo xtask soak --cli [--ops N] [--seed N] [--stop] [--overflow] [--trace] [--replays N] [--release] | --cli --ci [--release]
  --ops N      operations in the storm (default 20000)
  --seed N     seed of the operation mix (default: fixed)
  --stop       SIGSTOP watchfs during the middle third of the storm
  --overflow   SIGSTOP watchfs while more changes than the kernel queue holds happen
  --trace      also check an in-process watcher's debounced batches against its raw events
  --replays N  with --trace: replay its raw events N times with other batch boundaries (default 10)
  --release    run the optimised build of watchfs (built first) instead of the debug one
  --ci         the set meant for CI: seeds 1 and 2, seed 3 with --stop, seed 4 with --overflow";

/// Most files and directories the tree may hold; past these, operations
/// that add entries turn into ones that remove them.
const MAX_FILES: usize = 2_000;
const MAX_DIRS: usize = 400;
/// Generous bounds that only catch a hang.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(60);
const COOKIE_TIMEOUT: Duration = Duration::from_secs(120);

/// Options of one storm.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    ops: usize,
    seed: u64,
    stop: bool,
    overflow: bool,
    /// Also run a watcher and a debouncer in this process, and check each
    /// of its batches against the raw events it folds (to tell a loss in
    /// the watcher from one in the debouncer).
    trace: bool,
    /// With `trace`: how many times the raw log is replayed with other
    /// batch boundaries.
    replays: u64,
    /// Run the release build of `watchfs` (faster, so it keeps up with the
    /// storm more often: other interleavings of reads and changes).
    release: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        ops: 20_000,
        seed: 0x5707_3a11,
        stop: false,
        overflow: false,
        trace: false,
        replays: 10,
        release: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<u64> {
            let v = it
                .next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))?;
            v.parse()
                .map_err(|_| format!("{name}: `{v}` is not a non-negative integer\n{USAGE}").into())
        };
        match arg.as_str() {
            "--cli" => {}
            "--ops" => options.ops = number("--ops")? as usize,
            "--seed" => options.seed = number("--seed")?,
            "--stop" => options.stop = true,
            "--overflow" => options.overflow = true,
            "--trace" => options.trace = true,
            "--replays" => {
                options.replays = number("--replays")?;
                options.trace = true;
            }
            "--release" => options.release = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unexpected argument `{other}`\n{USAGE}").into()),
        }
    }
    Ok(options)
}

/// Entry point of `cargo xtask soak --cli`.
pub fn main(args: &[String]) -> Result {
    if args.iter().any(|a| a == "--ci") {
        return ci(args);
    }
    let options = parse(args)?;
    let binary = build_watchfs(options.release)?;
    let report = run(&binary, &options)?;
    report.print();
    report.verdict(&options)
}

/// `--ci`, the `soak-cli` step of `cargo xtask ci`: four storms, at seeds 1
/// and 2, 3 with watchfs stopped, 4 with a forced overflow (`--release`:
/// with the optimised build of watchfs).
pub fn ci(args: &[String]) -> Result {
    let release = args.iter().any(|a| a == "--release");
    if let Some(other) = args
        .iter()
        .find(|a| !["--cli", "--ci", "--release"].contains(&a.as_str()))
    {
        return Err(format!("--ci takes no `{other}`\n{USAGE}").into());
    }
    let binary = build_watchfs(release)?;
    let runs = [
        (1, false, false),
        (2, false, false),
        (3, true, false),
        (4, false, true),
    ];
    for (seed, stop, overflow) in runs {
        let options = Options {
            ops: 20_000,
            seed,
            stop,
            overflow,
            trace: false,
            replays: 0,
            release,
        };
        let report = run(&binary, &options)?;
        report.print();
        report.verdict(&options)?;
    }
    Ok(())
}

/// Builds `watchfs` (the release build with `release`); returns its path.
fn build_watchfs(release: bool) -> Result<PathBuf> {
    let root = workspace::root();
    let mut cargo = workspace::cargo();
    cargo.args(["build", "--quiet", "-p", "watchfs"]);
    if release {
        cargo.arg("--release");
    }
    workspace::run(cargo.current_dir(&root))?;
    let profile = if release { "release" } else { "debug" };
    Ok(workspace::target_dir(&root).join(profile).join("watchfs"))
}

// ------------------------------------------------------------------ the run

/// What one storm measured.
struct Report {
    options: Options,
    ops: usize,
    lines: usize,
    overflows: usize,
    storm: Duration,
    drained: Duration,
    missing: Vec<PathBuf>,
    extra: Vec<PathBuf>,
    unreported: Vec<PathBuf>,
    written: usize,
    files: usize,
}

impl Report {
    fn print(&self) {
        let o = &self.options;
        println!(
            "soak --cli: seed {} {}{}: {} operations in {:.1} s, output complete {:.1} s later; \
             {} events printed, {} overflows; {} paths missing, {} extra; \
             {} of {} files written during the storm (of {} at the end) without an event \
             after their last write",
            o.seed,
            if o.stop { "(SIGSTOP) " } else { "" },
            if o.overflow { "(overflow) " } else { "" },
            self.ops,
            self.storm.as_secs_f64(),
            self.drained.as_secs_f64(),
            self.lines,
            self.overflows,
            self.missing.len(),
            self.extra.len(),
            self.unreported.len(),
            self.written,
            self.files,
        );
        let show = |what: &str, paths: &[PathBuf]| {
            for p in paths.iter().take(5) {
                println!("  {what}: {}", p.display());
            }
        };
        show("missing", &self.missing);
        show("extra", &self.extra);
        show("no event after its last write", &self.unreported);
    }

    fn verdict(&self, options: &Options) -> Result {
        let mut problems = Vec::new();
        if !self.missing.is_empty() || !self.extra.is_empty() {
            problems.push(format!(
                "the folded output differs from the tree: {} missing, {} extra",
                self.missing.len(),
                self.extra.len()
            ));
        }
        if !self.unreported.is_empty() {
            problems.push(format!(
                "{} files have no event after their last write",
                self.unreported.len()
            ));
        }
        if options.overflow && self.overflows == 0 {
            problems.push("no overflow was reported although one was forced".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("soak --cli seed {}: {}", options.seed, problems.join("; ")).into())
        }
    }
}

/// Lines of a child's output, each with when it was read.
type Lines = Arc<Mutex<Vec<(Instant, String)>>>;

fn collect(
    stream: impl std::io::Read + Send + 'static,
    lines: Lines,
    tell: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(tell) = &tell {
                let _ = tell.send(line.clone());
            }
            if let Ok(mut lines) = lines.lock() {
                lines.push((Instant::now(), line));
            }
        }
    });
}

/// `watchfs`, stopped and reaped on drop.
struct Watchfs(Child);

impl Watchfs {
    fn signal(&self, name: &str) -> Result {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.0.id().to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill -{name} {}: {status}", self.0.id()).into())
        }
    }
}

impl Watchfs {
    /// Waits until the kernel shows the process stopped (state `T`).
    fn wait_stopped(&self) -> Result {
        let stat = format!("/proc/{}/stat", self.0.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = fs::read_to_string(&stat)?;
            // The state follows the parenthesised command name.
            let state = text
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            if state == Some("T") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("watchfs did not stop on SIGSTOP".into());
            }
            std::thread::yield_now();
        }
    }
}

impl Drop for Watchfs {
    fn drop(&mut self) {
        let _ = self.signal("CONT");
        let _ = self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(binary: &Path, options: &Options) -> Result<Report> {
    let scratch = TempDir::try_new("watchfs-storm")?;
    let root = scratch.path().join("tree");
    let outside = scratch.path().join("outside");
    fs::create_dir(&root)?;
    fs::create_dir(&outside)?;
    let mut storm = Storm::new(&root, &outside, options.seed);
    storm.seed_tree();

    let mut child = Command::new(binary)
        .args(["-r", "--json"])
        .arg(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let watchfs = Watchfs(child);
    let out: Lines = Arc::default();
    let err: Lines = Arc::default();
    let (tell, told) = mpsc::channel();
    collect(stdout, Arc::clone(&out), None);
    collect(stderr, Arc::clone(&err), Some(tell));
    let established = Instant::now() + ESTABLISH_TIMEOUT;
    loop {
        let left = established.saturating_duration_since(Instant::now());
        match told.recv_timeout(left) {
            Ok(line) if line.contains("watches established") => break,
            Ok(_) => {}
            Err(_) => return Err("watchfs did not establish its watches".into()),
        }
    }
    let initial = scan(&root);

    let queue = max_queued_events();
    let cookie = root.join(".storm-cookie");
    let tracer = if options.trace {
        let tracer = Tracer::new(&root, options.replays)?;
        let cookie = cookie.clone();
        Some(std::thread::spawn(move || tracer.run(&cookie)))
    } else {
        None
    };
    let start = Instant::now();
    for i in 0..options.ops {
        if options.stop && i == options.ops / 3 {
            watchfs.signal("STOP")?;
        }
        if options.stop && i == 2 * options.ops / 3 {
            watchfs.signal("CONT")?;
        }
        if options.overflow && i == options.ops / 2 {
            watchfs.signal("STOP")?;
            watchfs.wait_stopped()?;
            storm.burst(queue + queue / 4);
            watchfs.signal("CONT")?;
        }
        storm.step();
    }
    let storm_time = start.elapsed();

    // Everything before the cookie is printed once the cookie is. A second
    // cookie, written once the first is printed, also flushes what the
    // watcher reports only on its next read after a quiet queue.
    fs::write(&cookie, b"")?;
    if let Some(tracer) = tracer {
        tracer.join().map_err(|_| "the tracer panicked")??;
    }
    wait_for_path(&out, &cookie)?;
    let second = root.join(".storm-cookie-2");
    fs::write(&second, b"")?;
    let printed = wait_for_path(&out, &second)?;
    let drained = start.elapsed() - storm_time;
    drop(watchfs);
    fs::remove_file(&cookie)?;
    fs::remove_file(&second)?;

    let mut events = Vec::with_capacity(printed.len());
    for (at, line) in &printed {
        let event = Printed::parse(line).ok_or_else(|| format!("not an event: {line}"))?;
        events.push((*at, event));
    }
    let mut folded = initial;
    let mut odd = Vec::new();
    for (i, (_, event)) in events.iter().enumerate() {
        if let Some(what) = event.odd(&folded, &root) {
            odd.push((i, what));
        }
        event.fold(&mut folded);
    }
    folded.remove(&cookie);
    folded.remove(&second);
    let real = scan(&root);
    // Clues for a failure: events that do not fit the tree they apply to,
    // with their batch.
    let differs = real.iter().any(|(p, d)| folded.get(p) != Some(d))
        || folded.iter().any(|(p, d)| real.get(p) != Some(d));
    if differs {
        for (i, what) in odd.iter().take(3) {
            println!("  odd event: {what}");
            let batch = &events[*i].1.batch;
            for (_, e) in events.iter().filter(|(_, e)| e.batch == *batch) {
                println!("    {}", e.show(&root));
            }
        }
    }
    let missing = real
        .iter()
        .filter(|(p, d)| folded.get(*p) != Some(d))
        .map(|(p, _)| p.clone())
        .collect();
    let extra = folded
        .iter()
        .filter(|(p, d)| real.get(*p) != Some(d))
        .map(|(p, _)| p.clone())
        .collect();
    // Path (as the output, folded, names it at the end) -> when the last
    // event telling a consumer to look at its content was read.
    let mut told: BTreeMap<PathBuf, Instant> = BTreeMap::new();
    for (at, e) in &events {
        e.fold_times(&mut told, *at);
    }
    let mut unreported = Vec::new();
    let mut written = 0;
    for file in &storm.files {
        let Some(write) = &file.write else { continue };
        written += 1;
        if told.get(&file.path).is_none_or(|at| *at < write.at) {
            unreported.push(file.path.clone());
        }
    }
    Ok(Report {
        options: options.clone(),
        ops: options.ops,
        lines: events.len(),
        overflows: events.iter().filter(|(_, e)| e.kind == "overflow").count(),
        storm: storm_time,
        drained,
        missing,
        extra,
        unreported,
        written,
        files: storm.files.len(),
    })
}

/// Waits until a line of `out` names `path`; returns every line so far.
fn wait_for_path(out: &Lines, path: &Path) -> Result<Vec<(Instant, String)>> {
    let text = path.to_string_lossy().into_owned();
    let deadline = Instant::now() + COOKIE_TIMEOUT;
    let mut looked = 0;
    loop {
        {
            let lines = out.lock().map_err(|_| "output lock poisoned")?;
            let found = lines[looked..].iter().any(|(_, l)| {
                serde_json::from_str::<serde_json::Value>(l)
                    .is_ok_and(|v| v["path"].as_str() == Some(&text))
            });
            looked = lines.len();
            if found {
                return Ok(lines.clone());
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "watchfs did not report {} within two minutes",
                path.display()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ------------------------------------------------------------ the tracer

/// A watcher and a debouncer in this process, each batch checked against
/// the raw events it came from.
struct Tracer {
    watcher: watch_core::Watcher,
    debouncer: watch_core::Debouncer,
    raw: Vec<watch_core::Event>,
    raw_tree: Tree,
    released: Tree,
    root: PathBuf,
    /// Every raw event, for replays with other batch boundaries.
    log: Vec<watch_core::Event>,
    start: Tree,
    replays: u64,
    /// Creations the watcher reported of a path below which it had
    /// reported paths and not removed them. A created object holds
    /// nothing yet (a rename can replace only an empty directory), so such
    /// a creation is a directory's creation told again (as a creation
    /// record read late can be, see scenario 25), with all below it: the
    /// stream still folds, but it costs the reader a second report, so
    /// the trace says how many there were, and shows the first.
    repeated: usize,
    first_repeated: Option<watch_core::Event>,
}

impl Tracer {
    fn new(root: &Path, replays: u64) -> Result<Tracer> {
        let mut watcher = watch_core::Watcher::new()?;
        watcher.watch(root, watch_core::RecursiveMode::Recursive)?;
        let tree = scan(root);
        Ok(Tracer {
            watcher,
            debouncer: watch_core::Debouncer::new(Duration::from_millis(100)),
            raw: Vec::new(),
            raw_tree: tree.clone(),
            released: tree.clone(),
            root: root.to_path_buf(),
            log: Vec::new(),
            start: tree,
            replays,
            repeated: 0,
            first_repeated: None,
        })
    }

    fn printed(e: &watch_core::Event) -> Printed {
        Printed {
            kind: e.kind.to_string(),
            path: e.path.clone(),
            from: match &e.kind {
                watch_core::EventKind::Renamed { from } => Some(from.clone()),
                _ => None,
            },
            is_dir: e.is_dir,
            batch: String::new(),
        }
    }

    /// Reads and debounces like `watchfs` does (blocking reads until the
    /// next deadline), checking each batch, until `cookie` is reported;
    /// then replays the raw log with other batch boundaries.
    fn run(mut self, cookie: &Path) -> Result<(), String> {
        self.follow(cookie).map_err(|e| e.to_string())
    }

    fn follow(&mut self, cookie: &Path) -> Result {
        let mut events = Vec::new();
        let mut batch = Vec::new();
        loop {
            let timeout = self
                .debouncer
                .next_deadline()
                .map_or(Duration::from_millis(200), |d| {
                    d.saturating_duration_since(Instant::now())
                });
            events.clear();
            self.watcher.read(&mut events, Some(timeout))?;
            let now = Instant::now();
            let mut done = false;
            for e in events.drain(..) {
                done |= e.path == cookie;
                if e.kind == watch_core::EventKind::Created
                    && tree::holds_below(&self.raw_tree, &e.path)
                {
                    self.repeated += 1;
                    self.first_repeated.get_or_insert_with(|| e.clone());
                }
                Self::printed(&e).fold(&mut self.raw_tree);
                self.raw.push(e.clone());
                self.log.push(e.clone());
                self.debouncer.push(e, now);
            }
            batch.clear();
            if done {
                self.debouncer.flush(&mut batch);
            } else {
                self.debouncer.drain_ready(Instant::now(), &mut batch);
            }
            if !batch.is_empty() {
                self.check(&batch)?;
            }
            if done {
                break;
            }
        }
        // What the watcher reports after the cookie (a sync flushes it).
        self.watcher.sync(Duration::from_secs(120))?;
        events.clear();
        while self.watcher.read(&mut events, Some(Duration::ZERO))? > 0 {}
        let late = events.len();
        for e in &events {
            Self::printed(e).fold(&mut self.raw_tree);
        }
        let mut real = scan(&self.root);
        real.remove(cookie);
        self.raw_tree.remove(cookie);
        if self.raw_tree != real {
            let missing: Vec<&PathBuf> = real
                .keys()
                .filter(|p| !self.raw_tree.contains_key(*p))
                .collect();
            for p in missing.iter().take(3) {
                println!("  the raw stream misses {}", p.display());
                for e in self.log.iter().filter(|e| p.starts_with(&e.path)).take(12) {
                    println!("    {e}");
                }
            }
            let extra = self
                .raw_tree
                .keys()
                .filter(|p| !real.contains_key(*p))
                .count();
            return Err(format!(
                "trace: the raw events fold to a different tree: {} missing, {extra} extra \
                 ({late} events after the cookie)",
                missing.len()
            )
            .into());
        }
        if let Some(first) = &self.first_repeated {
            println!(
                "trace: {} creations were reported at a path below which the raw events held \
                 paths (a creation told again, and what is below it again); the first, with \
                 what was reported at and above its path:",
                self.repeated
            );
            let at = |e: &watch_core::Event| {
                first.path.starts_with(&e.path)
                    || matches!(&e.kind, watch_core::EventKind::Renamed { from } if first.path.starts_with(from))
            };
            for e in self.log.iter().filter(|e| at(e)).take(30) {
                println!("    {e} ({:?})", e.origin);
            }
        }
        if late > 0 {
            println!("trace: {late} raw events came after the cookie");
        }
        println!("trace: every batch folded like its raw events; the raw events fold to the tree");
        self.replay(self.replays)
    }

    fn check(&mut self, batch: &[watch_core::Event]) -> Result {
        let before = self.released.clone();
        for e in batch {
            Self::printed(e).fold(&mut self.released);
        }
        let result = if self.released == self.raw_tree {
            Ok(())
        } else {
            let root = self.root.display().to_string();
            let short = |e: &watch_core::Event| e.to_string().replace(&root, "");
            println!("trace: a batch does not fold like its raw events");
            // The part of the tree before the batch that its raw events
            // can reach: enough to replay the batch as a test case.
            let named: Vec<&Path> = self
                .raw
                .iter()
                .flat_map(|e| {
                    let from = match &e.kind {
                        watch_core::EventKind::Renamed { from } => Some(from.as_path()),
                        _ => None,
                    };
                    std::iter::once(e.path.as_path()).chain(from)
                })
                .collect();
            for (p, d) in &before {
                if named.iter().any(|n| n.starts_with(p) || p.starts_with(n)) {
                    let p = p.display().to_string().replace(&root, "");
                    println!("  base  {p}{}", if *d { " (dir)" } else { "" });
                }
            }
            for e in &self.raw {
                println!(
                    "  raw   {}{}",
                    short(e),
                    if e.is_dir { " (dir)" } else { "" }
                );
            }
            for e in batch {
                println!(
                    "  batch {}{}",
                    short(e),
                    if e.is_dir { " (dir)" } else { "" }
                );
            }
            Err("the in-process debouncer lost or invented a path".into())
        };
        self.released = self.raw_tree.clone();
        self.raw.clear();
        result
    }

    /// Pushes the whole raw log again `times` times, with random gaps (so
    /// batches end elsewhere), checking every batch.
    fn replay(&mut self, times: u64) -> Result {
        let quiet = Duration::from_millis(100);
        for round in 1..=times {
            let mut rng = Rng(round.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
            let mut debouncer = watch_core::Debouncer::new(quiet);
            let mut now = Instant::now();
            self.raw_tree = self.start.clone();
            self.released = self.start.clone();
            self.raw.clear();
            let log = std::mem::take(&mut self.log);
            let mut batch = Vec::new();
            for e in &log {
                // Rounds differ in how often a batch ends early: some
                // batches are a few events, some hundreds.
                let odds = [100, 400, 1000][(round % 3) as usize];
                now += Duration::from_millis(match rng.below(odds) {
                    0 => 150,
                    1..10 => 30,
                    _ => 0,
                });
                batch.clear();
                if debouncer.drain_ready(now, &mut batch) > 0 {
                    self.check(&batch)
                        .map_err(|e| format!("replay {round}: {e}"))?;
                }
                Self::printed(e).fold(&mut self.raw_tree);
                self.raw.push(e.clone());
                debouncer.push(e.clone(), now);
            }
            batch.clear();
            debouncer.flush(&mut batch);
            self.check(&batch)
                .map_err(|e| format!("replay {round}: {e}"))?;
            self.log = log;
        }
        println!("trace: {times} replays with other batch boundaries folded like the raw events");
        Ok(())
    }
}

// ------------------------------------------------------------ the output

/// One JSON line of `watchfs --json`.
#[derive(Debug)]
struct Printed {
    kind: String,
    path: PathBuf,
    from: Option<PathBuf>,
    is_dir: bool,
    /// When its batch was printed: the lines of one batch share it.
    batch: String,
}

impl Printed {
    fn parse(line: &str) -> Option<Printed> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        Some(Printed {
            kind: v["kind"].as_str()?.to_string(),
            path: PathBuf::from(v["path"].as_str()?),
            from: v["from"].as_str().map(PathBuf::from),
            is_dir: v["is_dir"].as_bool()?,
            batch: v["time"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// Folds the event onto a map of when each path was last named as
    /// changed (`at`: when the event was read): renames carry the times of
    /// everything below them, removals and replacements drop them.
    fn fold_times(&self, told: &mut BTreeMap<PathBuf, Instant>, at: Instant) {
        let take = |told: &mut BTreeMap<PathBuf, Instant>, path: &Path| {
            let keys: Vec<PathBuf> = told
                .range(path.to_path_buf()..)
                .take_while(|(p, _)| p.starts_with(path))
                .map(|(p, _)| p.clone())
                .collect();
            keys.into_iter()
                .filter_map(|p| told.remove(&p).map(|t| (p, t)))
                .collect::<Vec<_>>()
        };
        match self.kind.as_str() {
            "created" => {
                take(told, &self.path);
                told.insert(self.path.clone(), at);
            }
            "removed" => {
                take(told, &self.path);
            }
            "renamed" => {
                let Some(from) = &self.from else { return };
                let moved = take(told, from);
                take(told, &self.path);
                for (p, t) in moved {
                    let rest = p.strip_prefix(from).unwrap_or(&p);
                    told.insert(rejoin(&self.path, rest), t);
                }
                told.insert(self.path.clone(), at);
            }
            "modified" => {
                told.insert(self.path.clone(), at);
            }
            _ => {}
        }
    }

    /// The event, with paths relative to `root`.
    fn show(&self, root: &Path) -> String {
        let short = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
        match &self.from {
            Some(from) => format!("{} {} -> {}", self.kind, short(from), short(&self.path)),
            None => format!(
                "{} {}{}",
                self.kind,
                short(&self.path),
                if self.is_dir { "/" } else { "" }
            ),
        }
    }

    /// Why the event does not fit `tree` (before it is applied), if it
    /// does not: a rename from a path that is not there, or a path whose
    /// parent is not there.
    fn odd(&self, tree: &Tree, root: &Path) -> Option<String> {
        if let Some(from) = &self.from
            && !tree.contains_key(from)
        {
            return Some(format!("{} renames a missing path", self.show(root)));
        }
        let parent = self.path.parent()?;
        let exists = matches!(
            self.kind.as_str(),
            "created" | "renamed" | "modified" | "metadata"
        );
        (exists && parent != root && tree.get(parent) != Some(&true))
            .then(|| format!("{}: its parent is missing", self.show(root)))
    }

    /// Applies the event as `watch_core::Event` documents.
    fn fold(&self, tree: &mut Tree) {
        match self.kind.as_str() {
            "created" => tree::create(tree, &self.path, self.is_dir),
            "removed" => tree::remove_subtree(tree, &self.path),
            "renamed" => {
                let Some(from) = &self.from else { return };
                tree::rename(tree, from, &self.path, self.is_dir);
            }
            "modified" | "metadata" => {
                tree.entry(self.path.clone()).or_insert(self.is_dir);
            }
            _ => {}
        }
    }
}

fn rejoin(base: &Path, rest: &Path) -> PathBuf {
    if rest.as_os_str().is_empty() {
        base.to_path_buf()
    } else {
        base.join(rest)
    }
}

// ------------------------------------------------------------ the storm

/// The last write of a file.
struct Write {
    at: Instant,
}

/// A file (or symlink) the storm made or knows.
struct File {
    path: PathBuf,
    /// `None` for symlinks and for files not written during the storm.
    write: Option<Write>,
}

/// What the storm did to the tree, to pick targets without scanning.
struct Storm {
    root: PathBuf,
    outside: PathBuf,
    rng: Rng,
    dirs: Vec<PathBuf>,
    files: Vec<File>,
    serial: u64,
}

impl Storm {
    fn new(root: &Path, outside: &Path, seed: u64) -> Storm {
        Storm {
            root: root.to_path_buf(),
            outside: outside.to_path_buf(),
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            dirs: vec![root.to_path_buf()],
            files: Vec::new(),
            serial: 0,
        }
    }

    /// A starting tree with some depth, before the watches.
    fn seed_tree(&mut self) {
        for i in 0..20 {
            let dir = self.root.join(format!("seed{i}"));
            if fs::create_dir(&dir).is_ok() {
                self.dirs.push(dir.clone());
                let file = dir.join("file");
                if fs::write(&file, b"seed").is_ok() {
                    self.files.push(File {
                        path: file,
                        write: None,
                    });
                }
            }
        }
        for name in ["burst-a", "burst-b"] {
            let _ = fs::write(self.root.join(name), b"");
        }
    }

    fn name(&mut self, prefix: &str) -> String {
        self.serial += 1;
        format!("{prefix}{}", self.serial)
    }

    fn any_dir(&mut self) -> PathBuf {
        let i = self.rng.below(self.dirs.len());
        self.dirs[i].clone()
    }

    fn any_file(&mut self) -> Option<usize> {
        (!self.files.is_empty()).then(|| self.rng.below(self.files.len()))
    }

    fn wrote(&mut self, path: &Path) {
        let write = Some(Write { at: Instant::now() });
        match self.files.iter_mut().find(|f| f.path == path) {
            Some(file) => file.write = write,
            None => self.files.push(File {
                path: path.to_path_buf(),
                write,
            }),
        }
    }

    fn write_file(&mut self, path: &Path, append: bool) {
        let done = if append {
            fs::OpenOptions::new()
                .append(true)
                .open(path)
                .and_then(|mut h| std::io::Write::write_all(&mut h, b"+"))
        } else {
            fs::write(path, b"storm")
        };
        if done.is_ok() {
            self.wrote(path);
        }
    }

    /// Forgets `path` and everything below it.
    fn forget(&mut self, path: &Path) {
        self.dirs.retain(|p| !p.starts_with(path));
        self.files.retain(|f| !f.path.starts_with(path));
    }

    /// Re-paths everything below `from` to below `to` (what was at `to` is
    /// replaced).
    fn repath(&mut self, from: &Path, to: &Path) {
        self.files.retain(|f| f.path != to);
        self.dirs.retain(|p| p != to);
        for p in self.dirs.iter_mut() {
            if let Ok(rest) = p.strip_prefix(from) {
                *p = rejoin(to, rest);
            }
        }
        for f in self.files.iter_mut() {
            if let Ok(rest) = f.path.strip_prefix(from) {
                f.path = rejoin(to, rest);
            }
        }
    }

    fn rename(&mut self, from: &Path, to: &Path) -> bool {
        if fs::rename(from, to).is_ok() {
            self.repath(from, to);
            true
        } else {
            false
        }
    }

    /// One operation from the bounded mix. Failures (a racing choice) are
    /// fine: the output must report whatever really happened.
    fn step(&mut self) {
        let full_files = self.files.len() >= MAX_FILES;
        let full_dirs = self.dirs.len() >= MAX_DIRS;
        let roll = self.rng.below(100);
        match roll {
            0..18 if !full_files => {
                let p = self.any_dir().join(self.name("f"));
                self.write_file(&p, false);
            }
            0..36 if !self.files.is_empty() => {
                if let Some(i) = self.any_file() {
                    let p = self.files[i].path.clone();
                    if self.files[i].write.is_some() || !is_symlink(&p) {
                        self.write_file(&p, true);
                    }
                }
            }
            36..40 => {
                if let Some(i) = self.any_file() {
                    let mode = 0o600 | (self.rng.below(8) as u32) << 3;
                    let _ =
                        fs::set_permissions(&self.files[i].path, fs::Permissions::from_mode(mode));
                }
            }
            40..48 => {
                if let Some(i) = self.any_file() {
                    let f = self.files.swap_remove(i);
                    let _ = fs::remove_file(f.path);
                }
            }
            48..56 => {
                // A file renamed, sometimes over another file.
                if let Some(i) = self.any_file() {
                    let from = self.files[i].path.clone();
                    let to = match self.any_file() {
                        Some(j) if self.rng.below(3) == 0 => self.files[j].path.clone(),
                        _ => self.any_dir().join(self.name("r")),
                    };
                    if from != to {
                        self.rename(&from, &to);
                    }
                }
            }
            56..59 => {
                // a -> b -> c
                if let Some(i) = self.any_file() {
                    let a = self.files[i].path.clone();
                    let b = self.any_dir().join(self.name("b"));
                    let c = self.any_dir().join(self.name("c"));
                    if self.rename(&a, &b) {
                        self.rename(&b, &c);
                    }
                }
            }
            59..64 if !full_files => {
                // Atomic save over an existing file.
                if let Some(i) = self.any_file() {
                    let target = self.files[i].path.clone();
                    if let Some(dir) = target.parent() {
                        let tmp = dir.join(format!(".{}.tmp", self.name("s")));
                        self.write_file(&tmp, false);
                        self.rename(&tmp, &target);
                    }
                }
            }
            64..69 if !full_dirs => {
                let p = self.any_dir().join(self.name("d"));
                if fs::create_dir(&p).is_ok() {
                    self.dirs.push(p);
                }
            }
            69..72 if !full_dirs && !full_files => {
                // mkdir -p a/b/c && echo > a/b/c/f
                let top = self.any_dir().join(self.name("p"));
                let deep = top.join("b").join("c");
                if fs::create_dir_all(&deep).is_ok() {
                    self.dirs.extend([top.clone(), top.join("b"), deep.clone()]);
                    self.write_file(&deep.join("f"), false);
                }
            }
            72..75 if !full_dirs && !full_files => {
                // A directory created, filled and renamed at once.
                let a = self.any_dir().join(self.name("n"));
                if fs::create_dir_all(a.join("b")).is_ok() {
                    self.dirs.extend([a.clone(), a.join("b")]);
                    self.write_file(&a.join("b").join("f"), false);
                    let c = self.any_dir().join(self.name("m"));
                    if !c.starts_with(&a) {
                        self.rename(&a, &c);
                    }
                }
            }
            75..80 if self.dirs.len() > 1 => {
                // A directory renamed, sometimes over an empty directory.
                let i = 1 + self.rng.below(self.dirs.len() - 1);
                let from = self.dirs[i].clone();
                let to = if self.rng.below(4) == 0 {
                    let empty = self.any_dir().join(self.name("e"));
                    if fs::create_dir(&empty).is_ok() {
                        self.dirs.push(empty.clone());
                    }
                    empty
                } else {
                    self.any_dir().join(self.name("m"))
                };
                if !to.starts_with(&from) {
                    self.rename(&from, &to);
                }
            }
            80 if self.dirs.len() > 1 => {
                let i = 1 + self.rng.below(self.dirs.len() - 1);
                let victim = self.dirs[i].clone();
                if fs::remove_dir_all(&victim).is_ok() {
                    self.forget(&victim);
                }
            }
            82..87 if !full_files && !full_dirs => {
                // Moved in from outside: a file (sometimes over another) or
                // a filled directory.
                let name = self.name("in");
                let staged = self.outside.join(name);
                if self.rng.below(2) == 0 {
                    if fs::write(&staged, b"in").is_ok() {
                        let to = match self.any_file() {
                            Some(j) if self.rng.below(3) == 0 => self.files[j].path.clone(),
                            _ => self.any_dir().join(self.name("i")),
                        };
                        if fs::rename(&staged, &to).is_ok() {
                            self.files.retain(|f| f.path != to);
                            self.wrote(&to);
                        }
                    }
                } else if fs::create_dir_all(staged.join("sub")).is_ok()
                    && fs::write(staged.join("f"), b"f").is_ok()
                    && fs::write(staged.join("sub/g"), b"g").is_ok()
                {
                    let to = self.any_dir().join(self.name("i"));
                    if fs::rename(&staged, &to).is_ok() {
                        self.dirs.extend([to.clone(), to.join("sub")]);
                        self.wrote(&to.join("f"));
                        self.wrote(&to.join("sub/g"));
                    }
                }
            }
            87..92 => {
                // Moved out: a file or a directory.
                let name = self.name("out");
                let out = self.outside.join(name);
                // Mostly files: a directory takes its whole subtree along.
                if self.rng.below(4) != 0 || self.dirs.len() == 1 {
                    if let Some(i) = self.any_file() {
                        let from = self.files[i].path.clone();
                        if fs::rename(&from, &out).is_ok() {
                            self.forget(&from);
                        }
                    }
                } else {
                    let i = 1 + self.rng.below(self.dirs.len() - 1);
                    let from = self.dirs[i].clone();
                    if fs::rename(&from, &out).is_ok() {
                        self.forget(&from);
                    }
                }
                let _ = fs::remove_dir_all(&out).or_else(|_| fs::remove_file(&out));
            }
            92..96 if !full_files => {
                let p = self.any_dir().join(self.name("l"));
                if std::os::unix::fs::symlink("target-of-link", &p).is_ok() {
                    self.files.push(File {
                        path: p,
                        write: None,
                    });
                }
            }
            _ if full_dirs && self.dirs.len() > 1 => {
                // Too many directories for the preferred operation: remove
                // one (a subtree).
                let i = 1 + self.rng.below(self.dirs.len() - 1);
                let victim = self.dirs[i].clone();
                if fs::remove_dir_all(&victim).is_ok() {
                    self.forget(&victim);
                }
            }
            _ if full_files => {
                if let Some(f) = self.files.pop() {
                    let _ = fs::remove_file(f.path);
                }
            }
            _ => {
                // The preferred operation is not possible now: a new file.
                let p = self.any_dir().join(self.name("f"));
                self.write_file(&p, false);
            }
        }
    }

    /// `n` chmods of two files in the root (alternating, so the kernel
    /// cannot merge them), with an operation from the mix every 64th.
    fn burst(&mut self, n: usize) {
        let targets = [self.root.join("burst-a"), self.root.join("burst-b")];
        for i in 0..n {
            if i % 64 == 63 {
                self.step();
            } else {
                let mode = 0o600 | ((i as u32) & 0o070);
                let _ = fs::set_permissions(&targets[i % 2], fs::Permissions::from_mode(mode));
            }
        }
    }
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_symlink())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_options() {
        let o = parse(&args("--cli")).unwrap();
        assert_eq!(
            (o.ops, o.stop, o.overflow, o.release),
            (20_000, false, false, false)
        );
        assert!(parse(&args("--cli --release")).unwrap().release);
        let o = parse(&args("--cli --ops 100000 --seed 7 --stop --overflow")).unwrap();
        assert_eq!(
            (o.ops, o.seed, o.stop, o.overflow),
            (100_000, 7, true, true)
        );
        for bad in ["--ops", "--ops x", "--seed -1", "--nope"] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn output_lines_fold_as_events_document() {
        let lines = [
            r#"{"kind":"created","path":"/r/a","from":null,"is_dir":true}"#,
            r#"{"kind":"created","path":"/r/a/f","from":null,"is_dir":false}"#,
            r#"{"kind":"renamed","path":"/r/b","from":"/r/a","is_dir":true}"#,
            r#"{"kind":"created","path":"/r/x","from":null,"is_dir":false}"#,
            r#"{"kind":"removed","path":"/r/x","from":null,"is_dir":false}"#,
            r#"{"kind":"overflow","path":"/r","from":null,"is_dir":true}"#,
        ];
        let mut tree = Tree::new();
        for line in lines {
            Printed::parse(line).unwrap().fold(&mut tree);
        }
        let want: Tree = [
            (PathBuf::from("/r/b"), true),
            (PathBuf::from("/r/b/f"), false),
        ]
        .into_iter()
        .collect();
        assert_eq!(tree, want);
        assert!(Printed::parse("watchfs: not json").is_none());
    }

    #[test]
    fn a_loss_or_an_invention_fails_the_verdict() {
        let report = |missing: usize, extra: usize, overflows: usize| Report {
            options: parse(&args("--cli --overflow")).unwrap(),
            ops: 1,
            lines: 1,
            overflows,
            storm: Duration::ZERO,
            drained: Duration::ZERO,
            missing: vec![PathBuf::from("m"); missing],
            extra: vec![PathBuf::from("e"); extra],
            unreported: Vec::new(),
            written: 0,
            files: 0,
        };
        let options = parse(&args("--cli --overflow")).unwrap();
        assert!(report(0, 0, 1).verdict(&options).is_ok());
        assert!(report(1, 0, 1).verdict(&options).is_err());
        assert!(report(0, 1, 1).verdict(&options).is_err());
        assert!(report(0, 0, 0).verdict(&options).is_err());
    }
}
